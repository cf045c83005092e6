"""Benchmarks of the binomial (Polya-Gamma) and varying-slope samplers.

Run:  python benchmarks/bench_models.py        (results recorded in benchmarks/RESULTS.md)

1. Contraception bernoulli `use ~ age + age2 + urban + livch + (1 | district)`,
   4 chains x (1000 + 4000): min bulk-ESS/s over all parameters, and where a sweep's
   time goes (Polya-Gamma draws + weighted statistics vs the Gaussian steps).
2. sleepstudy `(1 + Days || Subject)` and `(1 + Days | Subject)`, 4 x (1000 + 4000).
3. Scaling with a correlated varying slope: p = 10, J = 1,000, q = 2, N = 1e4..1e6.
"""
import time

import numpy as np
import pandas as pd

import fastgibbs as fg

from sweeps import kernel_for, time_sweeps

IG = fg.InvGamma(0.001, 0.001)


def contraception():
    data = fg.datasets.load("contraception")
    data["age2"] = data["age"] ** 2
    return data


def bench_contraception(repeats=3):
    formula = "use ~ age + age2 + urban + livch + (1 | district)"
    data = contraception()
    design = fg.Model(formula, data, family="bernoulli").design
    priors = {n: fg.Normal(0, 10) for n in design.fixed_names}
    priors["1|district"] = IG
    rows = []
    for seed in range(1, repeats + 1):
        t0 = time.perf_counter()
        fit = fg.fit(formula, data, family="bernoulli", priors=priors, chains=4, warmup=1000,
                     draws=4000, seed=seed)
        table = fit.summary()
        wall = time.perf_counter() - t0
        rows.append((wall, fit.timing["sampling"], table["ess_bulk"].min(),
                     table["ess_bulk"].idxmin(), fit.n_cells))
    print("## Contraception (bernoulli), 4 chains x (1000 + 4000), 2 cores\n")
    print("| run | fit wall s | sampling s | min bulk-ESS (param) | min-ESS/s sampling | cells |")
    print("|---|---|---|---|---|---|")
    for i, (wall, s, m, who, cells) in enumerate(rows):
        print(f"| {i + 1} | {wall:.2f} | {s:.2f} | {m:.0f} ({who}) | {m / s:,.0f} | {cells} |")
    # where the time goes, one chain on one core: full sweeps vs Gaussian steps alone
    model = fg.Model(formula, data, family="bernoulli", priors=priors)
    kernel, bg = kernel_for(model)
    full = time_sweeps(kernel, bg, 4000)
    # the Polya-Gamma draws alone: one PG(n_i, eta_i) per cell at the current eta
    from fastgibbs import _polyagamma
    problem = model.problem
    eta = np.ascontiguousarray(kernel.linear_predictor() + problem.cells["offset"])
    out = np.empty(problem.n_cells)
    h = np.ascontiguousarray(problem.cells["n"], dtype=float)
    t0 = time.perf_counter()
    for _ in range(200):
        _polyagamma.fill(out, h, eta, bg)
    pg = (time.perf_counter() - t0) / 200
    print(f"\nOne chain, one core: {full * 1e6:.0f} us per sweep, of which the "
          f"{problem.n_cells} Polya-Gamma draws take {pg * 1e6:.0f} us ({100 * pg / full:.0f}%); "
          "the rest is the weighted statistics refill (O(cells p^2)) and the Gaussian steps.\n")


def bench_sleepstudy(repeats=3):
    data = fg.datasets.load("sleepstudy")
    base = {"Intercept": fg.Normal(0, 1000), "Days": fg.Normal(0, 1000), "sigma": IG}
    cases = [("Reaction ~ 1 + Days + (1 + Days || Subject)",
              {**base, "1|Subject": IG, "Days|Subject": IG}),
             ("Reaction ~ 1 + Days + (1 + Days | Subject)",
              {**base, "1 + Days|Subject": fg.InvWishart(4, [600, 36])})]
    print("## sleepstudy, 4 chains x (1000 + 4000), 2 cores\n")
    print("| formula | fit wall s (median) | sampling s (median) | min bulk-ESS (param) | min-ESS/s |")
    print("|---|---|---|---|---|")
    for formula, priors in cases:
        res = []
        for seed in range(1, repeats + 1):
            t0 = time.perf_counter()
            fit = fg.fit(formula, data, priors=priors, chains=4, warmup=1000, draws=4000,
                         seed=seed)
            table = fit.summary()
            res.append((time.perf_counter() - t0, fit.timing["sampling"],
                        table["ess_bulk"].min(), table["ess_bulk"].idxmin()))
        wall, samp = np.median([r[0] for r in res]), np.median([r[1] for r in res])
        worst = min(res, key=lambda r: r[2] / r[1])
        print(f"| `{formula}` | {wall:.3f} | {samp:.3f} | {worst[2]:.0f} ({worst[3]}) | "
              f"{worst[2] / worst[1]:,.0f} (worst of {repeats}) |")
    print()


def slope_data(n_obs, n_groups=1000, p=10, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(n_groups, size=n_obs)
    X = rng.normal(size=(n_obs, p - 1))
    u0 = rng.normal(0, 0.5, n_groups)
    u1 = rng.normal(0, 0.3, n_groups)
    y = 1.0 + X @ rng.normal(size=p - 1) + u0[g] + u1[g] * X[:, 0] + rng.normal(size=n_obs)
    data = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, p)])
    data["g"] = g
    data["y"] = y
    return "y ~ " + " + ".join(data.columns[: p - 1]) + " + (1 + x1 | g)", data


def bench_slope_scaling(sizes=(10 ** 4, 10 ** 5, 10 ** 6)):
    print("## Scaling with a correlated varying slope: p = 10, J = 1,000, q = 2\n")
    print("| N | design + statistics s | time per sweep (us) |")
    print("|---|---|---|")
    for n in sizes:
        formula, data = slope_data(n)
        t0 = time.perf_counter()
        model = fg.Model(formula, data)
        setup = time.perf_counter() - t0
        kernel, bg = kernel_for(model, seed=1)
        print(f"| {n:.0e} | {setup:.2f} | {time_sweeps(kernel, bg, 2000, warm=10) * 1e6:.0f} |")
    print()


if __name__ == "__main__":
    import os
    print(f"fastgibbs {fg.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}\n")
    bench_contraception()
    bench_sleepstudy()
    bench_slope_scaling()
