"""Microseconds per sweep of a model's kernel (sampling only, one chain, one core), for
several builds measured in alternation. ``--model nes`` (default): the NES model of
bench_table.py (476 rows, 44 states), the cost that bounds `fg.study` and the NES
end-to-end row; ``--model contraception``: bench_table's Contraception bernoulli
``(1 | district)`` (1,934 rows, 60 districts, Polya-Gamma augmentation);
``--model students``: bench_table's students in schools in districts (31,000 rows,
2,410 schools in 131 districts, a nested chain of two scalar levels).

Run:  python benchmarks/bench_small_sweep.py old=/path/to/old/src new=src [--rounds 3]
          [--batches 15] [--model nes|contraception|students]

Each round runs every tree once, in a fresh process with ``PYTHONPATH`` set to the
tree's ``src`` (a built checkout), so a loaded machine's drift hits every tree alike.
A run times ``--batches`` batches of sweeps (NES: 30,000 each after 10,000 to settle;
students: 300 after 100) of one kernel and prints the minimum and the median
microseconds per sweep; the summary gives each tree's minimum and median over its runs
and the load average at the end.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import sys, time
sys.path.insert(0, {bench!r})
import numpy as np
import fastgibbs as fg
from fastgibbs import _core
from fastgibbs.samplers.chain import initial_state
import bench_table
formula, data, family, priors = bench_table.{model}()
problem = fg.Model(formula, data, priors=priors, **({{"family": family}} if family else {{}})).problem
rng = np.random.Generator(np.random.PCG64(1))
kernel = _core.Kernel(problem, initial_state(problem, rng))
none = np.empty((0, problem.row_width))
rows = np.empty(({chunk}, problem.row_width))
kernel.run(rng.bit_generator, none, rows)
times = []
for _ in range({batches}):
    t0 = time.perf_counter()
    for _ in range(3):
        kernel.run(rng.bit_generator, none, rows)
    times.append((time.perf_counter() - t0) / (3 * {chunk}) * 1e6)
print("us/sweep min %.3f median %.3f" % (min(times), float(np.median(times))))
"""


# sweeps per kernel.run call (three calls per batch, one to settle) by model
CHUNK = {"nes": 10000, "students": 100, "contraception": 1000}


def one_run(src, batches, model="nes"):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), batches=batches,
                        model=model, chunk=CHUNK[model])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd="/").stdout
    found = re.search(r"min ([0-9.]+) median ([0-9.]+)", out)
    return float(found.group(1)), float(found.group(2))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", help="name=path/to/src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--model", choices=sorted(CHUNK), default="nes")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.trees)
    print(f"# {args.model} kernel sweep, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {os.getloadavg()[0]:.2f}")
    runs = {name: [] for name in trees}
    for r in range(args.rounds):
        for name, src in trees.items():
            low, mid = one_run(src, args.batches, args.model)
            runs[name].append((low, mid))
            print(f"round {r + 1} {name}: min {low:.2f} us, median {mid:.2f} us", flush=True)
    for name, values in runs.items():
        values = np.array(values)
        print(f"{name}: min over runs {values[:, 0].min():.2f} us/sweep, median of run "
              f"medians {np.median(values[:, 1]):.2f} us/sweep")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
