"""Throughput of the Polya-Gamma sampler, fastgibbs against the `polyagamma` package.

Run:  python benchmarks/bench_polyagamma.py [--n 2000000] [--repeats 5]

Prints a markdown table of million draws per second (best of --repeats) for
h = 1 with z in {0, 1, 5}, and h = 10 and 100, in two layouts:

* scalar z: one (h, z) for the whole vector (fastgibbs reuses the z set-up);
* varying z: a different z for every draw (z + U(-0.01, 0.01)), as in a Gibbs sweep.

Both libraries draw from the same kind of bit generator (PCG64) in the same process.
`polyagamma` is optional; its columns are left empty when it is not installed. Its
default method is approximate for h >= 8 (saddle point / normal) and biased for
1 < h < 8 (zoj613/polyagamma#133); fastgibbs is exact for h < 50.
"""
import argparse
import time

import numpy as np

from fastgibbs.polyagamma import random_polyagamma

try:
    import polyagamma as _pg
except ImportError:   # optional comparison
    _pg = None

CASES = [(1, 0.0), (1, 1.0), (1, 5.0), (10, 1.0), (100, 1.0)]


def best_rate(func, n, repeats):
    """Draws per second of the fastest of `repeats` calls (after one warm-up)."""
    func()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return n / best


def measure(n, repeats):
    rows = []
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, n)
    for h, z in CASES:
        bitgen = np.random.PCG64(1)
        z_vec = z + jitter
        h_vec = np.full(n, float(h))
        row = {
            "h": h, "z": z,
            "ours": best_rate(lambda: random_polyagamma(h, z, size=n, random_state=bitgen),
                              n, repeats),
            "ours_vz": best_rate(lambda: random_polyagamma(h_vec, z_vec, random_state=bitgen),
                                 n, repeats),
        }
        if _pg is not None:
            row["pkg"] = best_rate(
                lambda: _pg.random_polyagamma(h, z, size=n, random_state=bitgen), n, repeats)
            row["pkg_vz"] = best_rate(
                lambda: _pg.random_polyagamma(h_vec, z_vec, random_state=bitgen), n, repeats)
        rows.append(row)
    return rows


def to_markdown(rows):
    def fmt(row, key):
        return f"{row[key] / 1e6:.1f}" if key in row else "n/a"

    version = getattr(_pg, "__version__", "not installed") if _pg else "not installed"
    lines = [
        f"Million draws per second (best of runs); polyagamma {version}.",
        "",
        "| h | z | fastgibbs, scalar z | polyagamma, scalar z | fastgibbs, varying z "
        "| polyagamma, varying z |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['h']} | {row['z']:g} | {fmt(row, 'ours')} | {fmt(row, 'pkg')} "
                     f"| {fmt(row, 'ours_vz')} | {fmt(row, 'pkg_vz')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="draws per call")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(to_markdown(measure(args.n, args.repeats)))
