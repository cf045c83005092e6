"""pytest-benchmark suite: time per sweep of the kernels by model class and size.

Not collected by the default test run (testpaths = tests). Run:
    python -m pytest benchmarks/test_bench_kernels.py -o addopts="" -p no:cacheprovider
"""
import numpy as np
import pytest

import fastgibbs as fg

from bench_gaussian import crossed_data, nested_data
from sweeps import kernel_for

SWEEPS = 200


def _kernel(formula, data, family="gaussian"):
    return kernel_for(fg.Model(formula, data, family=family))


CASES = {
    "nested_N1e4_J1000_p10": lambda: nested_data(10 ** 4),
    "nested_N1e5_J1000_p10": lambda: nested_data(10 ** 5),
    "nested_N1e4_J100_p3": lambda: nested_data(10 ** 4, n_groups=100, p=3),
    "crossed_N1e4_1000x1000": lambda: crossed_data(10 ** 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sweeps(benchmark, case):
    kernel, bg = _kernel(*CASES[case]())
    out = np.empty((SWEEPS, kernel.row_width))
    none = np.empty((0, kernel.row_width))
    benchmark.extra_info["sweeps_per_call"] = SWEEPS
    benchmark(kernel.run, bg, none, out)
