"""Per-sweep CPU time of two (or more) builds of fastgibbs, measured in alternation.

Run:  python benchmarks/compare_trees.py old=/path/to/old/src new=src
          [--rounds 3] [--structures rw1,rw2,ar1,icar] [-- extra bench_rw1_sweep.py args]

Each round runs ``bench_rw1_sweep.py --repeats 1`` once per tree and structure, in a
fresh process with ``PYTHONPATH`` set to the tree's ``src`` (a built checkout), so a
loaded machine's drift hits every tree alike. Prints the CPU ms per sweep of every run,
the median per tree and structure, and the load average before and after. ICAR runs
fewer sweeps (``--short 150 --long 250``): its sweep costs tens of ms.
"""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).with_name("bench_rw1_sweep.py")
SWEEPS = {"icar": ["--short", "150", "--long", "250"]}


def one_run(src, structure, extra):
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    out = subprocess.run([sys.executable, str(BENCH), "--repeats", "1", "--structure",
                          structure] + SWEEPS.get(structure, []) + extra,
                         env=env, capture_output=True, text=True, check=True,
                         cwd="/").stdout
    return float(re.search(r"CPU:\s+median ([0-9.]+)", out).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", help="name=path/to/src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--structures", default="rw1,rw2,ar1,icar")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    trees = dict(t.split("=", 1) for t in args.trees)
    structures = args.structures.split(",")
    runs = {(s, name): [] for s in structures for name in trees}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for s in structures:
            for name, src in trees.items():
                runs[s, name].append(one_run(src, s, extra))
                print(f"round {r + 1} {s:5s} {name:6s} {runs[s, name][-1]:.3f} ms", flush=True)
    load_after = os.getloadavg()
    print("\n| structure | " + " | ".join(f"{n} CPU ms per sweep (runs; median)" for n in trees)
          + " |")
    print("|---|" + "---|" * len(trees))
    for s in structures:
        cells = [", ".join(f"{v:.3f}" for v in runs[s, n]) + f"; **{np.median(runs[s, n]):.3f}**"
                 for n in trees]
        print(f"| {s.upper()} | " + " | ".join(cells) + " |")
    print("\nload average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after: " + ", ".join(f"{v:.2f}" for v in load_after))


if __name__ == "__main__":
    main()
