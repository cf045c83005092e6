"""Benchmarks of the Gaussian multilevel sampler (issue: Gaussian core).

Run:  python benchmarks/bench_gaussian.py [--quick]
Prints markdown tables; the recorded output lives in benchmarks/RESULTS.md.

1. NES 2000 `real_ideo ~ 1 + partyid7 + (1 | state)`, 4 chains x (1000 + 4000):
   wall time of a complete fg.fit (design + sampling + summary), sampling time,
   min bulk-ESS over ALL parameters, min-ESS/s, ESS per draw by parameter class;
   thread vs process backend; interweaving (ASIS) vs plain centred Gibbs.
2. Scaling: nested synthetic data, p = 10, J = 1,000, N = 1e4, 1e5, 1e6: setup
   (design + sufficient statistics) and time per sweep, and a complete fg.fit at 1e6.
3. Crossed synthetic data, N = 1e5, two factors of 1,000 levels: time per sweep and
   min-ESS/s.
"""
import argparse
import time

import numpy as np
import pandas as pd

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.priors import resolve_priors
from fastgibbs.samplers.problem import build_problem

from sweeps import kernel_for, time_sweeps

NES_PRIORS = {"partyid7": fg.Normal(0, 1), "Intercept": fg.Normal(0, 10),
              "sigma": fg.InvGamma(0.001, 0.001), "1|state": fg.InvGamma(0.001, 0.001)}


def ess_by_class(fit):
    """min and median bulk-ESS per draw for fixed effects, sds, group effects."""
    table = fit.summary()
    n = fit.n_chains * fit.n_draws
    classes = {
        "fixed": list(fit.fixed_names),
        "sigma (residual)": ["sigma"],
        "group sds": [t + "_sigma" for t in fit.term_index],
        "group effects": [fit.names[i] for ix in fit.term_index.values() for i in ix],
    }
    return {k: (table.loc[v, "ess_bulk"].min() / n, table.loc[v, "ess_bulk"].median() / n)
            for k, v in classes.items() if v}


def bench_nes(repeats):
    nes = fg.datasets.load("nes2000")
    rows = []
    for backend in ("thread", "process"):
        for interweave in (True, False):
            if backend == "process" and not interweave:
                continue
            walls, samp, mins = [], [], []
            for r in range(repeats):
                t0 = time.perf_counter()
                fit = fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", nes, priors=NES_PRIORS,
                             chains=4, warmup=1000, draws=4000, seed=r + 1, backend=backend,
                             interweave=interweave)
                table = fit.summary()
                walls.append(time.perf_counter() - t0)
                samp.append(fit.timing["sampling"])
                mins.append((table["ess_bulk"].min(), table["ess_bulk"].idxmin()))
            best = int(np.argmin(walls))
            rows.append((backend, "ASIS" if interweave else "centred", np.median(walls),
                         np.median(samp), mins[best][0], mins[best][1],
                         mins[best][0] / samp[best], ess_by_class(fit)))
    print("## NES 2000, 4 chains x (1000 warmup + 4000 draws), 2 cores\n")
    print("| backend | variance steps | fit wall s (median) | sampling s | min bulk-ESS (param) "
          "| min-ESS/s sampling | min-ESS/s end to end |")
    print("|---|---|---|---|---|---|---|")
    for b, v, wall, s, m, who, rate, _ in rows:
        print(f"| {b} | {v} | {wall:.3f} | {s:.3f} | {m:.0f} ({who}) | {rate:,.0f} | {m / wall:,.0f} |")
    print("\nESS per draw (min / median) by parameter class, thread backend with ASIS:\n")
    print("| class | min | median |")
    print("|---|---|---|")
    for k, (lo, med) in rows[0][7].items():
        print(f"| {k} | {lo:.3f} | {med:.3f} |")
    print()


def nested_data(n_obs, n_groups=1000, p=10, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(n_groups, size=n_obs)
    X = rng.normal(size=(n_obs, p - 1))
    beta = rng.normal(size=p - 1)
    y = 1.0 + X @ beta + rng.normal(0, 0.5, n_groups)[g] + rng.normal(size=n_obs)
    data = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, p)])
    data["g"] = g
    data["y"] = y
    formula = "y ~ " + " + ".join(data.columns[: p - 1]) + " + (1 | g)"
    return formula, data


def crossed_data(n_obs, n_levels=1000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(n_levels, size=n_obs)
    b = rng.integers(n_levels, size=n_obs)
    x = rng.normal(size=n_obs)
    y = 1 + 0.5 * x + rng.normal(0, 0.7, n_levels)[a] + rng.normal(0, 0.4, n_levels)[b] \
        + rng.normal(size=n_obs)
    return "y ~ x + (1 | a) + (1 | b)", pd.DataFrame({"y": y, "x": x, "a": a, "b": b})


def time_per_sweep(formula, data, n_sweeps):
    t0 = time.perf_counter()
    design = build_design(formula, data)
    t1 = time.perf_counter()
    build_problem(design, resolve_priors(design, None))
    t2 = time.perf_counter()
    kernel, bg = kernel_for(fg.Model(formula, data), seed=1)
    return t1 - t0, t2 - t1, time_sweeps(kernel, bg, n_sweeps, warm=10)


def bench_scaling(sizes, full_fit_at):
    print("## Scaling, nested: p = 10, J = 1,000 groups\n")
    print("| N | design s | sufficient stats s | time per sweep (us) |")
    print("|---|---|---|---|")
    for n in sizes:
        formula, data = nested_data(n)
        d, s, sweep = time_per_sweep(formula, data, 2000)
        print(f"| {n:.0e} | {d:.3f} | {s:.3f} | {sweep * 1e6:.1f} |")
    if full_fit_at:
        formula, data = nested_data(full_fit_at)
        t0 = time.perf_counter()
        fit = fg.fit(formula, data, chains=4, warmup=1000, draws=1000, seed=1)
        table = fit.summary()
        wall = time.perf_counter() - t0
        print(f"\nComplete fg.fit at N = {full_fit_at:.0e} from a DataFrame, 4 chains x "
              f"(1000 + 1000), with summary: {wall:.2f} s wall (design {fit.timing['design']:.2f} s, "
              f"sampling {fit.timing['sampling']:.2f} s); max R-hat {table['r_hat'].max():.4f}, "
              f"min bulk-ESS {table['ess_bulk'].min():.0f}. lme4's lmer took 21 s here.\n")


def bench_crossed(n_obs):
    formula, data = crossed_data(n_obs)
    d, s, sweep = time_per_sweep(formula, data, 500)
    fit = fg.fit(formula, data, chains=4, warmup=500, draws=1000, seed=1)
    table = fit.summary()
    print(f"## Crossed: N = {n_obs:.0e}, (1 | a) + (1 | b), 1,000 levels each\n")
    print(f"design {d:.2f} s, sufficient stats {s:.2f} s, {sweep * 1e6:.0f} us per sweep; "
          f"4 chains x (500 + 1000): sampling {fit.timing['sampling']:.2f} s, min bulk-ESS "
          f"{table['ess_bulk'].min():.0f} ({table['ess_bulk'].idxmin()}), min-ESS/s "
          f"{table['ess_bulk'].min() / fit.timing['sampling']:,.0f}, max R-hat "
          f"{table['r_hat'].max():.4f}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 1 repeat")
    args = parser.parse_args()
    import os
    print(f"fastgibbs {fg.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}\n")
    bench_nes(1 if args.quick else 5)
    bench_scaling([10 ** 4, 10 ** 5] if args.quick else [10 ** 4, 10 ** 5, 10 ** 6],
                  None if args.quick else 10 ** 6)
    bench_crossed(10 ** 4 if args.quick else 10 ** 5)


if __name__ == "__main__":
    main()
