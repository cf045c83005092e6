"""Time of the full summary (R-hat, bulk/tail ESS, MCSE, quantiles).

Two shapes: the NES example's (48 parameters x 4 chains x 4,000 draws: 40 AR(1)
chains with phi = 0.1 and 8 with phi = 0.6, as a fitted model's effects and sds mix)
and a large one (10^4 parameters x 4 x 1,000, phi = 0.5).  Wall time is what a user
waits for (blocks run on all cores); CPU time sums the threads.

Run: PYTHONPATH=src python benchmarks/bench_diagnostics.py [--repeats 30]
"""
import argparse
import time

import numpy as np

from fastgibbs import diagnostics


def ar1(rng, phi, chains, draws):
    """(chains, draws, P) stationary AR(1) chains with unit variance, phi of shape (P,)."""
    eps = rng.standard_normal((chains, draws, len(phi)))
    x = np.empty_like(eps)
    x[:, 0] = eps[:, 0]
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * eps[:, t]
    return x


def timed(fn, repeats):
    """Best wall and best CPU time of ``repeats`` calls, in seconds."""
    fn()
    wall, cpu = np.inf, np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    small = ar1(rng, np.r_[np.full(40, 0.1), np.full(8, 0.6)], 4, 4000)
    large = ar1(rng, np.full(10_000, 0.5), 4, 1000)
    rows = [("summarize (4, 4000, 48)", lambda: diagnostics.summarize(small), args.repeats),
            ("summarize (4, 1000, 10000)", lambda: diagnostics.summarize(large), 3),
            ("ess_bulk (4, 1000, 10000)", lambda: diagnostics.ess_bulk(large), 3),
            ("rhat (4, 1000, 10000)", lambda: diagnostics.rhat(large), 3)]
    print("| function on draws (chains, draws, parameters) | best wall, ms | best CPU, ms |")
    print("|---|---|---|")
    for name, fn, repeats in rows:
        wall, cpu = timed(fn, repeats)
        print(f"| {name} | {wall * 1e3:.1f} | {cpu * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main()
