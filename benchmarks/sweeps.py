"""Helpers shared by the benchmark scripts: time the kernel's sweeps alone, and time a
complete fit as a user waits for it.

Sampling-only figures (``time_sweeps``) drive the kernel directly, one chain on one
core; end-to-end figures (``end_to_end``) time ``fg.fit(...)`` + ``fit.summary()``.
"""
import time

import numpy as np

import fastgibbs as fg
from fastgibbs import _core
from fastgibbs.samplers.chain import initial_state


def kernel_for(model, seed=0):
    """A kernel for ``model`` (an ``fg.Model``) at dispersed initial values, and its bit
    generator."""
    rng = np.random.default_rng(seed)
    kernel = _core.Kernel(model.problem, initial_state(model.problem, rng))
    kernel.mh_correct = True
    return kernel, rng.bit_generator


def time_sweeps(kernel, bit_generator, n_sweeps, warm=100):
    """Seconds per sweep (after ``warm`` sweeps to leave the initial values), variance
    steps included, nothing stored."""
    width = kernel.row_width
    kernel.run(bit_generator, np.empty((warm, width)), np.empty((0, width)))
    out = np.empty((n_sweeps, width))
    t0 = time.perf_counter()
    kernel.run(bit_generator, np.empty((0, width)), out)
    return (time.perf_counter() - t0) / n_sweeps


def end_to_end(formula, data, **kwargs):
    """One complete fit as a user runs it: wall seconds of ``fg.fit`` + ``summary()``,
    with the fit, its table, and the smallest bulk ESS over all parameters."""
    t0 = time.perf_counter()
    fit = fg.fit(formula, data, **kwargs)
    table = fit.summary()
    wall = time.perf_counter() - t0
    return {"wall": wall, "fit": fit, "table": table,
            "sampling": fit.timing["sampling"],
            "min_ess": float(table["ess_bulk"].min()),
            "min_ess_param": str(table["ess_bulk"].idxmin()),
            "max_rhat": float(table["r_hat"].max())}


def ess_per_draw(fit, table=None):
    """Bulk ESS per kept draw of every group sd and sigma: {name: ESS/draw}."""
    table = fit.summary() if table is None else table
    n = fit.n_chains * fit.n_draws
    names = [n_ for n_ in table.index if n_.endswith("_sigma") or n_ == "sigma"
             or n_.endswith("_alpha") or n_ == "alpha" or "corr(" in n_ or "_corr" in n_]
    return {name: float(table.loc[name, "ess_bulk"]) / n for name in names}


def speed_probe(repeats=3):
    """Seconds of a fixed pure-Python loop (best of ``repeats``): a machine-load probe."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        s = 0
        for i in range(300_000):
            s += i * i
        best = min(best, time.perf_counter() - t0)
    return best
