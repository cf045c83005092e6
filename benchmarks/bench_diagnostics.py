"""Time of the full summary (R-hat, bulk/tail ESS, MCSE, quantiles) on 10^4 parameters
x 4 chains x 1,000 draws. Run: python benchmarks/bench_diagnostics.py"""
import time

import numpy as np

from fastgibbs import diagnostics


def main(repeats=3):
    rng = np.random.default_rng(0)
    # AR(1) chains with phi = 0.5: realistic autocorrelation
    eps = rng.standard_normal((4, 1000, 10_000))
    x = np.empty_like(eps)
    x[:, 0] = eps[:, 0]
    for t in range(1, 1000):
        x[:, t] = 0.5 * x[:, t - 1] + eps[:, t]
    times = {}
    for name, fn in [("summarize", lambda: diagnostics.summarize(x)),
                     ("ess_bulk", lambda: diagnostics.ess_bulk(x)),
                     ("rhat", lambda: diagnostics.rhat(x))]:
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    print("| function on (4, 1000, 10000) | best of 3, s |")
    print("|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t:.2f} |")


if __name__ == "__main__":
    main()
