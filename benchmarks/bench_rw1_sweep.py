"""Cost per sweep of a random walk of order 1 over T = 10,000 times (issue 15 target:
below 1 ms per sweep), and of the other structures at the same size.

Run:  PYTHONPATH=src python benchmarks/bench_rw1_sweep.py [--T 10000] [--repeats 5]
          [--structure rw1|rw2|ar1|icar|iid] [--short 200] [--long 1200] [--kernel]

Gaussian ``y ~ 1 + x + (1 | t)`` with two rows per time (20,000 rows), RW1 prior on
``1|t`` (or RW2, AR1, none: ``iid``), one chain; ``icar``: ``y ~ 1 + x + (1 | area)``
over a square grid of about T areas with rook neighbours (side = round(sqrt T)), two
rows per area. The fixed cost of a fit (building the problem, starting the chain) is
removed by difference: per sweep = (time of a fit with ``--long`` sweeps - time of a
fit with ``--short`` sweeps) / (long - short), both with 100 kept draws; what remains
is the sweep, writing its row of draws (fresh memory: page faults) and their
back-transform. ``--kernel``: the kernel alone instead (``Kernel.run`` of long - short
sweeps into a preallocated array already written once, after 100 sweeps from the
chain's initial state): the sweep and the writing of its row, without page faults or
Python. CPU time is ``time.process_time`` (all threads of the process), wall time
``time.perf_counter``; the median over ``--repeats`` is printed with the load average
before and after, since the machine may be shared. benchmarks/compare_trees.py runs
this script on two builds in alternation.
"""
import argparse
import os
import time

import numpy as np
import pandas as pd

import fastgibbs as fg


def data(T, seed=1):
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(T), 2)
    path = np.cumsum(rng.normal(0, 0.1, T))
    x = rng.normal(size=t.size)
    return pd.DataFrame({"t": t, "x": x, "y": 1 + 0.5 * x + path[t] + rng.normal(size=t.size)})


def grid_data(T, seed=1):
    """A side x side grid of areas 'r_c' (side = round(sqrt T)), rook neighbours."""
    side = int(round(np.sqrt(T)))
    name = lambda r, c: f"{r}_{c}"
    edges = [(name(r, c), name(r, c + 1)) for r in range(side) for c in range(side - 1)]
    edges += [(name(r, c), name(r + 1, c)) for r in range(side - 1) for c in range(side)]
    areas = [name(r, c) for r in range(side) for c in range(side)]
    rng = np.random.default_rng(seed)
    area = np.repeat(areas, 2)
    x = rng.normal(size=area.size)
    frame = pd.DataFrame({"area": area, "x": x, "y": x + rng.normal(size=area.size)})
    return frame, areas, edges


def model_of(structure, T):
    if structure == "icar":
        frame, areas, edges = grid_data(T)
        return fg.Model("y ~ 1 + x + (1 | area)", frame,
                        priors={"1|area": fg.ICAR(edges, levels=areas)}), len(areas)
    prior = {"rw1": fg.RandomWalk(order=1), "rw2": fg.RandomWalk(order=2), "ar1": fg.AR1(),
             "iid": None}[structure]
    return fg.Model("y ~ 1 + x + (1 | t)", data(T),
                    priors={"1|t": prior} if prior is not None else None), T


def timed(model, sweeps, seed):
    c0, w0 = time.process_time(), time.perf_counter()
    model.sample(chains=1, warmup=sweeps - 100, draws=100, seed=seed, progress=False)
    return time.process_time() - c0, time.perf_counter() - w0


def timed_kernel(model, sweeps, seed):
    """CPU and wall seconds of kernel.run over ``sweeps`` sweeps (see --kernel)."""
    from fastgibbs import _core
    from fastgibbs.samplers.chain import initial_state
    rng = np.random.Generator(np.random.PCG64(seed))
    kernel = _core.Kernel(model.problem, initial_state(model.problem, rng))
    out = np.zeros((sweeps, model.problem.row_width))
    none = np.zeros((0, model.problem.row_width))
    kernel.run(rng.bit_generator, out[:100], none)
    kernel.run(rng.bit_generator, out, none)             # touch every page of out
    c0, w0 = time.process_time(), time.perf_counter()
    kernel.run(rng.bit_generator, out, none)
    return time.process_time() - c0, time.perf_counter() - w0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--T", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--structure", default="rw1", choices=["rw1", "rw2", "ar1", "icar", "iid"])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=1200)
    parser.add_argument("--kernel", action="store_true", help="time Kernel.run alone")
    args = parser.parse_args()
    model, levels = model_of(args.structure, args.T)
    timed(model, args.short, 0)                             # warm caches
    load_before = os.getloadavg()
    cpu, wall = [], []
    for r in range(args.repeats):
        if args.kernel:
            c, w = timed_kernel(model, args.long - args.short, r)
            cpu.append(c / (args.long - args.short) * 1e3)
            wall.append(w / (args.long - args.short) * 1e3)
            continue
        c_short, w_short = timed(model, args.short, r)
        c_long, w_long = timed(model, args.long, r)
        cpu.append((c_long - c_short) / (args.long - args.short) * 1e3)
        wall.append((w_long - w_short) / (args.long - args.short) * 1e3)
    load_after = os.getloadavg()
    print(f"{args.structure.upper()}, {levels:,} levels, {2 * levels:,} rows, gaussian, 1 chain"
          + (", Kernel.run alone" if args.kernel else ", fit difference"))
    print(f"ms per sweep, CPU:  median {np.median(cpu):.3f}  (runs: "
          + ", ".join(f"{v:.3f}" for v in cpu) + ")")
    print(f"ms per sweep, wall: median {np.median(wall):.3f}  (runs: "
          + ", ".join(f"{v:.3f}" for v in wall) + ")")
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after: " + ", ".join(f"{v:.2f}" for v in load_after))
    print(f"os.cpu_count() = {os.cpu_count()}")


if __name__ == "__main__":
    main()
