"""Min bulk ESS per second of the ordinal (cumulative probit) wine model against Stan.

Run:  PYTHONPATH=src python benchmarks/bench_wine_cumulative.py

fastgibbs: ``rating ~ temp + contact + (1 | judge)`` on ordinal::wine with the priors of
the Stan reference (tests/data/stan/wine_cumulative.json, made by
benchmarks/stan/make_wine_reference.R): 4 chains x (1000 warmup + 5000 draws), the
same as Stan's. Min bulk ESS over every parameter (fixed effects, thresholds, the
judge sd and the 9 judge effects; Stan's also covers its non-centred z_u), divided by
the sampling time (warmup included) of the whole fit, and by the whole fit with its
design (fastgibbs) or by the slowest chain's time x 2 (Stan: 4 chains on 2 cores; its
wall time includes starting the R workers). Prints a markdown table.
"""
import json
from pathlib import Path
import time

import numpy as np

import fastgibbs as fg

ROOT = Path(__file__).resolve().parent.parent
PRIORS = {"temp[warm]": fg.Normal(0, 5), "contact[yes]": fg.Normal(0, 5),
          "threshold": fg.Normal(0, 5), "1|judge": fg.HalfCauchy(1.0)}


def main():
    wine = fg.datasets.load("wine")
    rows = []
    for seed in (1, 2, 3):
        t0 = time.perf_counter()
        fit = fg.fit("rating ~ temp + contact + (1 | judge)", wine, family="cumulative",
                     priors=PRIORS, chains=4, warmup=1000, draws=5000, seed=seed)
        total = time.perf_counter() - t0
        ess = fit.summary()["ess_bulk"]
        rows.append((ess.min(), ess.idxmin(), fit.timing["sampling"], total))
    stan = json.loads((ROOT / "tests/data/stan/wine_cumulative.json").read_text())
    stan_seconds = 2 * stan["sampling_seconds_max_chain"]
    print("| sampler | min bulk ESS | (parameter) | sampling s | min ESS/s (sampling) "
          "| whole fit s | min ESS/s (whole) |")
    print("|---|---|---|---|---|---|---|")
    for ess, name, sampling, total in rows:
        print(f"| fastgibbs | {ess:.0f} | {name} | {sampling:.2f} | {ess / sampling:.0f} "
              f"| {total:.2f} | {ess / total:.0f} |")
    print(f"| rstan 2.21 | {stan['min_bulk_ess']:.0f} | (all, incl. z_u) | {stan_seconds:.2f} "
          f"(2 x slowest chain) | {stan['min_bulk_ess'] / stan_seconds:.0f} "
          f"| {stan['sampling_seconds_wall']:.1f} (wall) | {stan['min_ess_per_second']:.0f} |")
    best = np.median([ess / sampling for ess, _, sampling, _ in rows])
    print(f"\nmedian fastgibbs min ESS/s (sampling) / Stan's (2 x slowest chain): "
          f"{best / (stan['min_bulk_ess'] / stan_seconds):.1f}x")


if __name__ == "__main__":
    main()
