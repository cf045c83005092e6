"""Fitting from Parquet files larger than a chunk (issue 17): time and peak memory.

Run:  python benchmarks/bench_streaming.py --rows 10000000 [--dir /tmp/fg_stream]
      python benchmarks/bench_streaming.py --rows 100000000 --dir /work/tmp/fg_stream
      (the issue's 10^8 rows: 8.8 GB of files, written in about 4 minutes)

1. Writes a synthetic Parquet dataset of ``--rows`` rows (p = 10 covariates, 10,000
   groups nested in 100 regions) to ``--dir`` in files of ``--rows-per-file`` rows,
   generated chunk by chunk (the whole dataset is never in memory). The issue's
   target is 10^8 rows; the default is 10^7 on a shared machine.
2. In a fresh process each (so that ru_maxrss is the step's own peak; the step's CPU
   seconds, user + system, and the load average before and after are printed too,
   since the machine may be shared):
   - one plain pass, ``dd.read_parquet(dir).sum().compute()``;
   - ``fg.fit("y ~ x1 + ... + x10 + (1 | region) + (1 | group)", dir)``: the three
     streaming passes (design) and the sampling, peak RSS.
3. On the first file (``--check-rows`` rows) the streamed fit against the pandas fit
   of the same rows: the largest relative difference of the kernel's statistics and
   the largest absolute difference of the draws (same seed).
Prints a markdown table; recorded output: benchmarks/RESULTS.md (streaming section).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

P = 10
N_GROUPS = 10_000
N_REGIONS = 100
FORMULA = "y ~ " + " + ".join(f"x{m}" for m in range(1, P + 1)) + \
    " + (1 | region) + (1 | group)"


def write_dataset(directory, rows, rows_per_file, chunk=1_000_000, seed=1):
    """Synthetic data in Parquet files of ``rows_per_file`` rows (row groups of
    ``chunk`` rows), written chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=P)
    u_region = rng.normal(0, 1.0, N_REGIONS)
    u_group = rng.normal(0, 0.5, N_GROUPS)
    written, index = 0, 0
    while written < rows:
        n_file = min(rows_per_file, rows - written)
        path = os.path.join(directory, f"part{index:04d}.parquet")
        with pq.ParquetWriter(path, _schema()) as writer:
            done = 0
            while done < n_file:
                n = min(chunk, n_file - done)
                X = rng.normal(size=(n, P))
                group = rng.integers(0, N_GROUPS, n)
                region = group // (N_GROUPS // N_REGIONS)
                y = 2.0 + X @ beta + u_region[region] + u_group[group] + rng.normal(size=n)
                columns = {f"x{m + 1}": X[:, m] for m in range(P)}
                columns.update(group=group, region=region, y=y)
                writer.write_table(pa.table(columns, schema=_schema()))
                done += n
        written += n_file
        index += 1


def _schema():
    import pyarrow as pa
    fields = [pa.field(f"x{m}", pa.float64()) for m in range(1, P + 1)]
    fields += [pa.field("group", pa.int64()), pa.field("region", pa.int64()),
               pa.field("y", pa.float64())]
    return pa.schema(fields)


def _peak_rss_mib():
    """Peak RSS of this process and of any it started (MiB)."""
    import resource
    return max(resource.getrusage(who).ru_maxrss for who in
               (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024.0


def _cpu_seconds():
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_plain(directory):
    import dask.dataframe as dd
    t0, c0 = time.perf_counter(), _cpu_seconds()
    dd.read_parquet(directory).sum().compute()
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu_seconds() - c0,
            "peak_rss_mib": _peak_rss_mib()}


def child_fit(directory, chains, warmup, draws):
    import fastgibbs as fg
    t0, c0 = time.perf_counter(), _cpu_seconds()
    model = fg.Model(FORMULA, directory)
    t1, c1 = time.perf_counter(), _cpu_seconds()
    design_rss = _peak_rss_mib()
    fit = model.sample(chains=chains, warmup=warmup, draws=draws, seed=1)
    t2 = time.perf_counter()
    return {"design_seconds": t1 - t0, "design_cpu_seconds": c1 - c0,
            "sampling_seconds": t2 - t1, "n_obs": fit.n_obs,
            "design_peak_rss_mib": design_rss, "peak_rss_mib": _peak_rss_mib()}


def child_check(path, chains, warmup, draws):
    import pandas as pd
    import fastgibbs as fg
    frame = pd.read_parquet(path)
    memory = fg.Model(FORMULA, frame)
    streamed = fg.Model(FORMULA, path)
    worst = 0.0
    for key in ("xtx", "xty", "ztz", "ztx", "zty", "cell_val"):
        a, b = getattr(memory.problem, key), getattr(streamed.problem, key)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(a))))
    args = dict(chains=chains, warmup=warmup, draws=draws, seed=1)
    diff = float(np.max(np.abs(memory.sample(**args).draws_array
                               - streamed.sample(**args).draws_array)))
    return {"rows": len(frame), "stat_rel_diff": worst, "draw_abs_diff": diff}


def _run_child(*args):
    before = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = (before, os.getloadavg()[0])
    print(f"{args[0]}: {result}", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rows-per-file", type=int, default=10_000_000)
    parser.add_argument("--check-rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/tmp/fg_stream")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="reuse files in --dir")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        kind, *rest = json.loads(a.child)
        result = {"plain": child_plain, "fit": child_fit, "check": child_check}[kind](*rest)
        print(json.dumps(result))
        return
    data_dir = os.path.join(a.dir, "data")
    if not a.keep:
        t0 = time.perf_counter()
        write_dataset(data_dir, a.rows, a.rows_per_file)
        print(f"wrote {a.rows:,} rows in {time.perf_counter() - t0:.0f} s")
    size = sum(os.path.getsize(os.path.join(data_dir, f)) for f in os.listdir(data_dir))
    plain = _run_child("plain", data_dir)
    fitted = _run_child("fit", data_dir, a.chains, a.warmup, a.draws)
    check_dir = os.path.join(a.dir, "check")
    if not a.keep or not os.path.exists(check_dir):
        write_dataset(check_dir, a.check_rows, a.check_rows, seed=2)
    check = _run_child("check", os.path.join(check_dir, "part0000.parquet"), 2, 100, 100)
    print(f"\n{FORMULA}\n")
    print("| rows | files (MiB) | plain pass (s) | streamed design (s) | ratio | "
          "plain CPU (s) | design CPU (s) | CPU ratio | "
          f"sampling {a.chains}x({a.warmup}+{a.draws}) (s) | peak RSS fit (MiB) | "
          "peak RSS plain (MiB) | load avg plain / fit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {fitted['n_obs']:,} | {size / 2 ** 20:,.0f} | {plain['seconds']:.1f} | "
          f"{fitted['design_seconds']:.1f} | "
          f"{fitted['design_seconds'] / plain['seconds']:.2f} | "
          f"{plain['cpu_seconds']:.1f} | {fitted['design_cpu_seconds']:.1f} | "
          f"{fitted['design_cpu_seconds'] / plain['cpu_seconds']:.2f} | "
          f"{fitted['sampling_seconds']:.1f} | {fitted['peak_rss_mib']:,.0f} | "
          f"{plain['peak_rss_mib']:,.0f} | "
          f"{plain['load'][0]:.1f}-{plain['load'][1]:.1f} / "
          f"{fitted['load'][0]:.1f}-{fitted['load'][1]:.1f} |")
    print(f"\nstreamed vs pandas on {check['rows']:,} rows: statistics agree to "
          f"{check['stat_rel_diff']:.1e} relative, draws to {check['draw_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
