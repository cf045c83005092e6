"""Benchmark of fastgibbs.study on the NES 2000 model (issue 7).

Run:  PYTHONPATH=src python benchmarks/bench_study.py [--fits 1000] [--coverage 500]
      [--n-jobs 2] [--quick]
Prints markdown; the recorded output and its discussion are in
benchmarks/STUDY_RESULTS.md.

Model: ``real_ideo ~ 1 + partyid7 + (1 | state)`` on ``fg.datasets.load("nes2000")``
(476 rows, 44 states, 48 parameters), default priors.

1. Throughput: ``--fits`` datasets simulated from the model with the fixed effects,
   sigma and the state sd at their posterior means from one fit of the real data
   (state effects redrawn per dataset), each fitted with 4 chains x (1000 warmup +
   1000 draws) by ``fg.study`` with the default statistics (mean, sd, 90% interval,
   coverage, worst R-hat and min bulk ESS over all 48 parameters) on the default
   thread pool. Reported: wall time, fits per second, per-fit time in the sampler
   and outside it, and the peak RSS (VmHWM) after 100 and after all fits.
   Baseline: the chains alone (``run_chain`` x 4, same seeds) one fit at a
   time, i.e. the fastest the sampler can go with nothing else.
2. Coverage: ``--coverage`` datasets as above; per parameter, the fraction of 90%
   intervals that contain the truth against the binomial band
   0.9 +- z sd, z = Phi^-1(1 - 0.05 / (2 m)) for m = 48 parameters. Twice: with the
   fixed truth above (frequentist coverage at one realistic truth), and with every
   parameter drawn from the prior (where exact Bayesian calibration holds).
3. ``--sbc``: the slow-tier SBC cases of tests/test_sbc.py (1,000 simulations each)
   and the planted bug, with their smallest p-values and run times.
"""
import argparse
import os
import platform
import resource
import time

import numpy as np
from scipy.stats import norm

import fastgibbs as fg
from fastgibbs.chains import chain_seeds
from fastgibbs.priors import resolve_priors
from fastgibbs.samplers.chain import run_chain
from fastgibbs.samplers.problem import build_problem
from fastgibbs.study import DefaultStats

FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"
SAMPLE = {"chains": 4, "warmup": 1000, "draws": 1000}


def status_kb(field):
    """A field of /proc/self/status in kB (VmRSS: now, VmHWM: peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_seconds():
    """User + system CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def truth(model):
    """Fixed effects and sds at their posterior means on the real data."""
    fit = model.sample(seed=1, **SAMPLE)
    means = fit.summary()["mean"]
    keep = list(model.design.fixed_names) + ["sigma", "1|state_sigma"]
    return {name: float(means[name]) for name in keep}


def bench_throughput(model, params, n_fits, n_jobs, stats=None):
    marks = {}

    def datasets():
        for i, d in enumerate(model.simulate(params=params, n=n_fits, seed=2)):
            if i == 100:
                marks["hwm_100"] = status_kb("VmHWM")
                marks["rss_100"] = status_kb("VmRSS")
            yield d

    hwm_start = status_kb("VmHWM")
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    frame = fg.study(model, datasets(), sample_kwargs=SAMPLE, seed=3, n_jobs=n_jobs,
                     progress=False, stats=stats)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    timing = frame.attrs["timing"]
    per_fit = frame.drop_duplicates("dataset")
    return {
        "wall": wall, "fits": n_fits, "failed": frame.attrs["n_failed"], "cpu": cpu,
        "load": os.getloadavg()[0],
        "fits_per_s": n_fits / wall,
        "sampling_ms": 1e3 * timing["sampling_mean"],
        "worker_ms": 1e3 * timing["worker_mean"],
        "overhead_worker_ms": 1e3 * timing["overhead_worker_mean"],
        "overhead_total_ms": 1e3 * timing["overhead_total_mean"],
        "hwm_start": hwm_start, "hwm_100": marks.get("hwm_100"), "rss_100": marks.get("rss_100"),
        "hwm_end": status_kb("VmHWM"), "rss_end": status_kb("VmRSS"),
        "frame_mb": frame.memory_usage(deep=True).sum() / 2**20,
        "rhat_max": float(per_fit["rhat_max"].max()) if "rhat_max" in per_fit else np.nan,
        "rhat_median": float(per_fit["rhat_max"].median()) if "rhat_max" in per_fit else np.nan,
        "ess_min_median": float(per_fit["ess_bulk_min"].median())
        if "ess_bulk_min" in per_fit else np.nan,
        "ess_min_min": float(per_fit["ess_bulk_min"].min())
        if "ess_bulk_min" in per_fit else np.nan,
    }


def bench_kernel_only(model, params, n_fits):
    """The 4 chains of each fit, back to back in this thread: no study machinery."""
    sims = model.simulate(params=params, n=n_fits, seed=4)
    t0 = time.perf_counter()
    for i, d in enumerate(sims):
        design = model.response_design(d["y"])
        problem = build_problem(design, resolve_priors(design, model.user_priors),
                                reuse=model.problem)
        for s in chain_seeds(i, SAMPLE["chains"])[1]:
            run_chain(problem, s, SAMPLE["warmup"], SAMPLE["draws"])
    return (time.perf_counter() - t0) / n_fits


def bench_coverage(model, params, n_datasets, n_jobs):
    """Coverage by parameter; ``params=None`` draws every parameter from the prior."""
    frame = fg.study(model, model.simulate(params=params, n=n_datasets, seed=5),
                     sample_kwargs=SAMPLE, seed=6, n_jobs=n_jobs, progress=False)
    coverage = frame.groupby("parameter", sort=False)["covered"].mean()
    m = len(coverage)
    z = norm.ppf(1 - 0.05 / (2 * m))
    half = z * np.sqrt(0.9 * 0.1 / n_datasets)
    return coverage, half, frame.attrs["n_failed"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", type=int, default=1000)
    parser.add_argument("--coverage", type=int, default=500)
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="200 fits, 100 datasets")
    parser.add_argument("--sbc", action="store_true", help="also run the SBC cases")
    args = parser.parse_args()
    if args.quick:
        args.fits, args.coverage = 200, 100

    nes = fg.datasets.load("nes2000")
    model = fg.Model(FORMULA, nes)
    params = truth(model)
    print(f"# fastgibbs.study on NES 2000 ({time.strftime('%Y-%m-%d')})\n")
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, numpy {np.__version__}; "
          f"load average at start {os.getloadavg()[0]:.2f}\n")
    print(f"model: `{FORMULA}`, {model.n_obs} rows, {len(model.names)} parameters; "
          f"4 chains x (1000 warmup + 1000 draws); truth: "
          + ", ".join(f"{k} = {v:.3g}" for k, v in params.items()) + "\n")

    kernel = bench_kernel_only(model, params, 50)
    r = bench_throughput(model, params, args.fits, args.n_jobs)
    print("## Throughput\n")
    print("| quantity | value |\n|---|---|")
    print(f"| fits | {r['fits']} ({r['failed']} failed) on {args.n_jobs} worker threads |")
    print(f"| wall time | {r['wall']:.1f} s |")
    print(f"| fits per second | {r['fits_per_s']:.1f} |")
    print(f"| CPU time of this process per fit (all threads) | {1e3 * r['cpu'] / r['fits']:.1f} ms "
          f"(= {r['fits'] / r['cpu']:.1f} fits per CPU-second) |")
    print(f"| load average (1 min) at the end | {r['load']:.2f} |")
    print(f"| chains alone, one fit at a time in one thread | {1e3 * kernel:.1f} ms per fit "
          f"({1 / kernel:.1f} fits/s per core) |")
    print(f"| per fit on its worker: sampling / whole unit | {r['sampling_ms']:.1f} / "
          f"{r['worker_ms']:.1f} ms |")
    print(f"| per-fit overhead on the worker (refit set-up, Fit, statistics) | "
          f"{r['overhead_worker_ms']:.1f} ms |")
    print(f"| per-fit overhead in total (wall x workers / fits - sampling) | "
          f"{r['overhead_total_ms']:.1f} ms |")
    print(f"| peak RSS (VmHWM) before / after 100 fits / after {r['fits']} fits | "
          f"{r['hwm_start'] / 1024:.0f} / {r['hwm_100'] / 1024:.0f} / "
          f"{r['hwm_end'] / 1024:.0f} MB |")
    print(f"| RSS after 100 / {r['fits']} fits | {r['rss_100'] / 1024:.0f} / "
          f"{r['rss_end'] / 1024:.0f} MB |")
    print(f"| result DataFrame | {r['frame_mb']:.1f} MB |")
    print(f"| worst R-hat per fit: median / max over fits | {r['rhat_median']:.4f} / "
          f"{r['rhat_max']:.4f} |")
    print(f"| min bulk ESS per fit: median / min over fits | {r['ess_min_median']:.0f} / "
          f"{r['ess_min_min']:.0f} |\n")
    lean = bench_throughput(model, params, args.fits, args.n_jobs,
                            stats=DefaultStats(diagnostics=False))
    print(f"Without the per-fit R-hat and ESS (`stats=DefaultStats(diagnostics=False)`): "
          f"{lean['fits_per_s']:.1f} fits/s, {1e3 * lean['cpu'] / lean['fits']:.1f} ms CPU per "
          f"fit, load average {lean['load']:.2f} at the end.\n")

    cases = (("fixed truth above", params), ("truth drawn from the prior", None))
    for label, truth_params in cases if args.coverage > 0 else ():
        coverage, half, failed = bench_coverage(model, truth_params, args.coverage, args.n_jobs)
        lo, hi = 0.9 - half, 0.9 + half
        print(f"## Coverage of 90% intervals, {label}: {args.coverage} datasets "
              f"({failed} failed)\n")
        print(f"band 0.9 +- {half:.3f} = [{lo:.3f}, {hi:.3f}] (Bonferroni over "
              f"{len(coverage)} parameters, family-wise 95%)\n")
        print("| parameter | coverage | inside |\n|---|---|---|")
        groups = [n for n in coverage.index if "[" in n]
        for name in [n for n in coverage.index if n not in groups]:
            inside = "yes" if lo <= coverage[name] <= hi else "NO"
            print(f"| {name} | {coverage[name]:.3f} | {inside} |")
        g = coverage[groups]
        inside = int(((g >= lo) & (g <= hi)).sum())
        print(f"| {len(groups)} state effects: min / mean / max | {g.min():.3f} / "
              f"{g.mean():.3f} / {g.max():.3f} | {inside} of {len(groups)} |\n")
    if args.sbc:
        bench_sbc(args.n_jobs)


def bench_sbc(n_jobs):
    """The slow-tier SBC cases and the planted bug of tests/test_sbc.py."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from test_sbc import INFORMATIVE, _slow_case

    print("## SBC (tests/test_sbc.py slow tier: 1,000 simulations, family-wise alpha 0.01)\n")
    print("| model | quantities | L | verdict | smallest p (quantity) | Bonferroni threshold "
          "| max share of fits with ESS < L | time |\n|---|---|---|---|---|---|---|---|")

    def row(label, result, seconds):
        worst = result.table["p_value"].idxmin()
        print(f"| {label} | {result.n_tests} | {result.max_rank} | "
              f"{'pass' if result.passed else 'FAIL'} | {result.table.loc[worst, 'p_value']:.2g} "
              f"({worst}) | {result.level:.2g} | {result.table['ess_below_L'].max():.2f} | "
              f"{seconds:.0f} s |")

    for kind in ("intercept", "crossed", "nested", "slopes", "bernoulli"):
        formula, data, family, priors, sample_kwargs, thin = _slow_case(kind)
        model = fg.Model(formula, data, family=family, priors=priors)
        t0 = time.perf_counter()
        result = fg.sbc(model, n_sims=1000, seed=11, sample_kwargs=sample_kwargs, thin=thin,
                        n_jobs=n_jobs)
        row(f"{kind}: `{formula}` ({family})", result, time.perf_counter() - t0)
    formula, data = "y ~ 1 + x + (1 | g)", _slow_case("intercept")[1]
    right = fg.Model(formula, data, priors=INFORMATIVE)
    wrong = fg.Model(formula, data, priors=dict(INFORMATIVE, **{"1|g": fg.HalfCauchy(0.25)}))
    t0 = time.perf_counter()
    result = fg.sbc(wrong, datasets=right.simulate(n=200, seed=5), seed=1, n_jobs=n_jobs)
    row("planted bug: simulator HalfCauchy(1), sampler HalfCauchy(0.25) on the group sd "
        "(200 sims)", result, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
