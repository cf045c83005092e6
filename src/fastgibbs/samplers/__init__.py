"""From a design to draws: the kernel's input (problem.py) and one chain (chain.py)."""
