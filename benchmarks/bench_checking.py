"""Model checking on NES (issue 16 targets): PSIS-LOO against exact leave-one-out by
refits on a random subset of rows, and the time of leave-one-state-out cross-validation.

    PYTHONPATH=src python benchmarks/bench_checking.py [--rows 40] [--n-jobs 1]

Prints the elpd of each method with its standard error and wall-clock times. The
PSIS-LOO and exact values on the chosen rows are compared through the pointwise
differences: sum(d_i) with se sqrt(n var(d_i)), as az.compare compares models.
"""
import argparse
import time
import warnings

import numpy as np

import fastgibbs as fg

FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = fg.datasets.load("nes2000")
    model = fg.Model(FORMULA, data)
    t0 = time.perf_counter()
    fit = model.sample(seed=args.seed)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loo = fit.loo()
    t_loo = time.perf_counter() - t0
    k = loo.pareto_k.values
    print(f"NES {fit.nobs} rows, {fit.ngrps['state']} states; fit 4 x 1000 draws {t_fit:.2f} s")
    print(f"PSIS-LOO: elpd_loo {loo.elpd_loo:.2f} (se {loo.se:.2f}), p_loo {loo.p_loo:.2f}, "
          f"max Pareto k {k.max():.2f}, {len(caught)} warnings, {t_loo:.2f} s")

    rng = np.random.default_rng(args.seed)
    chosen = np.sort(rng.choice(fit.nobs, args.rows, replace=False))
    folds = np.full(fit.nobs, np.nan)
    folds[chosen] = np.arange(args.rows)
    exact = fg.cv(model, folds=folds, seed=args.seed, n_jobs=args.n_jobs)
    d = exact.kfold_i.to_numpy() - loo.loo_i.values[chosen]
    print(f"exact LOO on {args.rows} rows by {args.rows} refits ({exact.time:.2f} s): "
          f"elpd {exact.elpd_kfold:.2f}; PSIS-LOO on the same rows "
          f"{loo.loo_i.values[chosen].sum():.2f}; difference {d.sum():.3f} "
          f"(se {np.sqrt(len(d) * d.var()):.3f}), largest |d_i| {np.abs(d).max():.3f}")

    cpu = time.process_time()
    res = fg.cv(model, by="state", seed=args.seed, n_jobs=args.n_jobs)
    cpu = time.process_time() - cpu
    print(f"leave-one-state-out: {res.n_folds} refits of 4 x 1000 draws in {res.time:.2f} s "
          f"wall, {cpu:.2f} s CPU (n_jobs={args.n_jobs}): elpd_kfold {res.elpd_kfold:.2f} (se {res.se:.2f}), "
          f"p_kfold {res.p_kfold:.2f}")
    res = fg.cv(model, by="state", joint=True, seed=args.seed, n_jobs=args.n_jobs)
    print(f"leave-one-state-out, states scored jointly: elpd {res.elpd_kfold:.2f} "
          f"(se {res.se:.2f}), {res.time:.2f} s")
    res = fg.cv(model, folds=10, seed=args.seed, n_jobs=args.n_jobs)
    print(f"10-fold: elpd_kfold {res.elpd_kfold:.2f} (se {res.se:.2f}), {res.time:.2f} s")


if __name__ == "__main__":
    main()
