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


@pytest.mark.skipif(not _kinds.BOUNDS_CHECKED, reason="needs the bounds-checked build "
                    "(an out-of-range index would corrupt memory in a release build)")
def test_out_of_range_ancestor_in_a_raw_pointer_path_is_caught():
    """The nested chain's scalar-level paths index through raw pointers, which the bounds
    checks do not see; the checked build tests their ranges itself (check_span). A
    corrupted ancestor index (each school's district + 10) must be reported there, not
    written past the district arrays."""
    import dataclasses

    rng = np.random.default_rng(3)
    a = np.repeat(np.arange(3), 8)
    b = a * 10 + np.tile(np.repeat(np.arange(2), 4), 3)
    data = pd.DataFrame({"y": rng.normal(size=a.size), "x": rng.normal(size=a.size),
                         "a": a.astype(str), "b": b.astype(str)})
    problem = fg.Model("y ~ x + (1 | a/b)", data).problem
    problem = dataclasses.replace(problem, cell_col=problem.cell_col + 10)
    kernel = _core.Kernel(problem, initial_state(problem, np.random.default_rng(0)))
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda info: seen.append(info.exc_value)
    try:
        kernel.run(np.random.PCG64(0), np.empty((0, problem.row_width)),
                   np.empty((1, problem.row_width)))
    except IndexError as err:
        seen.append(err)
    finally:
        sys.unraisablehook = old
    assert seen and isinstance(seen[0], IndexError)
    assert "raw range" in str(seen[0])
