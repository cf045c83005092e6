"""The bounds-checked build (FASTGIBBS_CYTHON_DEBUG=1, the second tier of .ci/run):
it is really the one under test, and an index out of range fails loudly there."""
import os
import sys

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import _core, _kinds
from fastgibbs.samplers.chain import initial_state

EXPECTED = os.environ.get("FASTGIBBS_EXPECT_BOUNDS_CHECK") == "1"


def test_build_is_the_expected_one():
    assert _kinds.BOUNDS_CHECKED == EXPECTED


@pytest.mark.skipif(not _kinds.BOUNDS_CHECKED, reason="needs the bounds-checked build "
                    "(an out-of-range index would corrupt memory in a release build)")
def test_out_of_range_index_is_caught():
    """A corrupted group index makes the kernel read past an array: the checked build
    reports an IndexError (raised, or unraisable from a noexcept helper)."""
    data = pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "x": np.arange(6.0), "g": list("aabbcc")})
    model = fg.Model("y ~ x + (1 | g)", data, family="bernoulli")
    cells = dict(model.problem.cells, group=model.problem.cells["group"] + 10)
    import dataclasses
    problem = dataclasses.replace(model.problem, cells=cells)
    kernel = _core.Kernel(problem, initial_state(problem, np.random.default_rng(0)))
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda info: seen.append(info.exc_type)
    try:
        with pytest.raises(IndexError):
            kernel.run(np.random.PCG64(0), np.empty((0, problem.row_width)),
                       np.empty((1, problem.row_width)))
            if seen:
                raise seen[0]("out of range index reported as unraisable")
    finally:
        sys.unraisablehook = old
