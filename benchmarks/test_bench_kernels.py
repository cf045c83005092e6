"""pytest-benchmark suite: time per sweep of the kernels by model class and size.

Not collected by the default test run (testpaths = tests). Run:
    python -m pytest benchmarks/test_bench_kernels.py -o addopts="" -p no:cacheprovider
"""
import numpy as np
import pytest

from fastgibbs.design import build_design
from fastgibbs.priors import resolve_priors
from fastgibbs.samplers.gaussian import gaussian_problem, initial_state, run_sweeps

from bench_gaussian import crossed_data, nested_data

SWEEPS = 200


def _problem(formula, data):
    design = build_design(formula, data)
    problem = gaussian_problem(design, resolve_priors(design, None))
    rng = np.random.default_rng(0)
    return problem, initial_state(problem, rng), rng.bit_generator


CASES = {
    "nested_N1e4_J1000_p10": lambda: nested_data(10 ** 4),
    "nested_N1e5_J1000_p10": lambda: nested_data(10 ** 5),
    "nested_N1e4_J100_p3": lambda: nested_data(10 ** 4, n_groups=100, p=3),
    "crossed_N1e4_1000x1000": lambda: crossed_data(10 ** 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sweeps(benchmark, case):
    problem, state, bg = _problem(*CASES[case]())
    benchmark.extra_info["sweeps_per_call"] = SWEEPS
    benchmark(run_sweeps, problem, state, bg, SWEEPS, 1)
