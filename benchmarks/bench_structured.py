"""Time per sweep of structured group terms (issue 15; fastgibbs.gmrf).

Run:  PYTHONPATH=src python benchmarks/bench_structured.py [--quick]

Gaussian `y ~ 1 + x + (1 | t)`, two rows per level; the structured effects are drawn
jointly with beta by an envelope Cholesky factorisation (banded for time: O(T) per
sweep; an areal field costs O(sum of squared envelope row lengths) after reverse
Cuthill-McKee ordering: an s x s grid has envelope rows of about s, so O(s^4) = O(n^2)).
Prints a markdown table: structure, levels, rows, ms per sweep (sampling time of one
chain of 1,000 sweeps, 200 kept, divided by 1,000; median of 3 repeats).
"""
import argparse
import time

import numpy as np
import pandas as pd

import fastgibbs as fg


def time_data(T, rng):
    t = np.repeat(np.arange(T), 2)
    path = np.cumsum(rng.normal(0, 0.1, T))
    x = rng.normal(size=t.size)
    return pd.DataFrame({"t": t, "x": x, "y": 1 + 0.5 * x + path[t] + rng.normal(size=t.size)})


def grid(side):
    """Areas 'r_c' of a side x side grid with rook neighbours (edge list)."""
    name = lambda r, c: f"{r}_{c}"
    edges = [(name(r, c), name(r, c + 1)) for r in range(side) for c in range(side - 1)]
    edges += [(name(r, c), name(r + 1, c)) for r in range(side - 1) for c in range(side)]
    return [name(r, c) for r in range(side) for c in range(side)], edges


def per_sweep(formula, data, priors, sweeps=1000, repeats=3):
    out = []
    for seed in range(repeats):
        fit = fg.fit(formula, data, priors=priors, chains=1, warmup=sweeps - 200, draws=200,
                     seed=seed, progress=False)
        out.append(fit.timing["sampling"] / sweeps)
    return 1e3 * float(np.median(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    print("| structure | levels | rows | ms per sweep |")
    print("|---|---|---|---|")
    for T in sizes:
        data = time_data(T, rng)
        for label, prior in (("RW1", fg.RandomWalk(order=1)), ("RW2", fg.RandomWalk(order=2)),
                             ("AR1", fg.AR1())):
            ms = per_sweep("y ~ 1 + x + (1 | t)", data, {"1|t": prior},
                           sweeps=300 if T > 10_000 else 1000)
            print(f"| {label} | {T:,} | {len(data):,} | {ms:.3f} |", flush=True)
    for side in ((10, 30) if args.quick else (10, 30, 70)):
        areas, edges = grid(side)
        area = np.repeat(areas, 2)
        x = rng.normal(size=area.size)
        data = pd.DataFrame({"area": area, "x": x, "y": x + rng.normal(size=area.size)})
        ms = per_sweep("y ~ 1 + x + (1 | area)", data,
                       {"1|area": fg.ICAR(edges, levels=areas)}, sweeps=300)
        print(f"| ICAR grid {side}x{side} | {side * side:,} | {len(data):,} | {ms:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
