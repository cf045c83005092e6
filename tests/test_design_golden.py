"""The same formula means the same model as in lme4: designs compared with lme4's
``lFormula``/``glFormula`` on formulas from lme4's own tests, help pages and vignettes.

The golden files come from tests/data/make_lme4_golden.R (lme4 1.1-31; versions in
tests/data/lme4_golden/VERSIONS.txt); each case records the lme4 source file and line.
Compared per case: row count, response (and binomial trials), fixed-effect design X
(equal columns, or an equal column space where our documented coding differs), the
varying-coefficient columns Z with their grouping levels, the covariance blocks, the
columns dropped as aliased, and the offset (once offsets exist).
"""
import gzip
import json
from pathlib import Path
import warnings

import numpy as np
import pandas as pd
import pytest

from fastgibbs.design import build_design
from fastgibbs.families import FAMILY_NAMES
from fastgibbs.formula import FormulaError

GOLDEN = Path(__file__).parent / "data" / "lme4_golden"
CASES = {case["id"]: case for case in json.loads((GOLDEN / "cases.json").read_text())}

# How each case compares with lme4 when it is not column-for-column equal.
SPACE = "equal column space"
EXPECTED = {
    "bacteria_contrasts": (SPACE, "the test sets contrasts(trt) <- contr.sdif(3) on the R "
                                  "factor; a DataFrame has no contrasts, so trt is treatment "
                                  "coded"),
    "sleep_ns": (SPACE, "ns() is coded by formulae's natural cubic spline basis cr() at R's "
                        "knots: same spline space, other basis columns"),
    "penicillin_duplicate": ("refused", "(1|plate) + (1|plate): two variances of the same "
                                        "column are not identifiable"),
}
ASSERT_TOL = dict(rtol=1e-9, atol=1e-9)


def _load(name):
    """An exported R data frame with R's column types (factor levels, ordered)."""
    meta = json.loads((GOLDEN / "data" / f"{name}.json").read_text())
    with gzip.open(GOLDEN / "data" / f"{name}.csv.gz", "rt") as fh:
        raw = pd.read_csv(fh, dtype=str, keep_default_na=False)
    frame = {}
    for column in meta["columns"]:
        kind = meta["types"][column]
        values = raw[column]
        if kind["type"] in ("factor", "ordered"):
            frame[column] = pd.Categorical(values, categories=kind["levels"],
                                           ordered=kind["type"] == "ordered")
        elif kind["type"] == "logical":
            frame[column] = values == "TRUE"
        elif kind["type"] == "character":
            frame[column] = values.astype(object)
        elif kind["type"] == "integer":
            frame[column] = values.astype(np.int64)
        else:
            frame[column] = values.astype(float)
    return pd.DataFrame(frame)


def _csv(case, part):
    with gzip.open(GOLDEN / f"{case}_{part}.csv.gz", "rt") as fh:
        return pd.read_csv(fh, dtype={"level": str, "factor": str, "column": str})


def _build(case):
    family = case["family"]
    if family == "binomial" and not case["formula"].startswith("cbind"):
        family = "bernoulli"
    assert family in FAMILY_NAMES, family
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # one-observation-per-level, dropped columns
        return build_design(case["formula"], _load(case["data"]), family=family)


def _key(variables):
    return frozenset(variables.split(":")) if isinstance(variables, str) else frozenset(variables)


def _level(label):
    """A level label with its parts sorted: lme4 names the levels of (1 | a/b) 'b:a'."""
    return ":".join(sorted(str(label).split(":")))


def _our_columns(design):
    """[(factor key, block index, column name, values (n,), level per row)]."""
    out = []
    for b, block in enumerate(design.blocks):
        levels = np.array([_level(lv) for lv in block.levels], dtype=object)[block.group]
        for c, name in enumerate(block.columns):
            out.append((_key(block.variables), b, name, block.Z[:, c], levels))
    return out


def _lme4_columns(case, n_obs):
    """[(factor key, term index, column name, values (n,), level per row or None)]."""
    z = _csv(case["id"], "Z")
    out = []
    for k, term in enumerate(case["terms"], start=1):
        for column in term["columns"]:
            rows = z[(z["term"] == k) & (z["column"] == column)]
            values = np.zeros(n_obs)
            levels = np.full(n_obs, None, dtype=object)
            values[rows["row"].to_numpy() - 1] = rows["value"].to_numpy(dtype=float)
            levels[rows["row"].to_numpy() - 1] = [_level(lv) for lv in rows["level"]]
            out.append((_key(term["factor"]), k, column, values, levels))
    return out


def _match(ours, theirs):
    """{their index: our index} pairing equal columns of the same factor."""
    used, pairs = set(), {}
    for t, (factor, _, _, values, levels) in enumerate(theirs):
        known = levels != None  # noqa: E711 (elementwise)
        for o, (f2, _, _, v2, l2) in enumerate(ours):
            if o in used or f2 != factor:
                continue
            if np.allclose(v2, values, **ASSERT_TOL) and all(
                    a == b for a, b in zip(l2[known], levels[known])):
                used.add(o)
                pairs[t] = o
                break
    return pairs


def _cases(kind=None):
    return sorted(c for c in CASES if EXPECTED.get(c, ("equal",))[0] == kind
                  or (kind is None and c not in EXPECTED))


def test_suite_is_from_lme4_and_large_enough():
    assert len(CASES) >= 40
    for case in CASES.values():
        path, line = case["source"].rsplit(":", 1)
        assert path.startswith(("man/", "tests/", "vignettes/")) and int(line) > 0
    refused = {EXPECTED[c][1].split(":")[0] for c in _cases("refused")}
    assert len(refused) <= 2


@pytest.mark.parametrize("name", _cases() + _cases(SPACE))
def test_same_rows_and_response(name):
    case = CASES[name]
    design = _build(case)
    golden = _csv(name, "y")
    assert design.n_obs == case["n_obs"]
    np.testing.assert_allclose(design.y, golden["y"].to_numpy(dtype=float), **ASSERT_TOL)
    if "trials" in golden:
        np.testing.assert_allclose(design.trials, golden["trials"].to_numpy(dtype=float))


@pytest.mark.parametrize("name", _cases())
def test_fixed_design_equals_lme4(name):
    case = CASES[name]
    design = _build(case)
    golden = _csv(name, "X").to_numpy(dtype=float).reshape(case["n_obs"], -1)
    assert design.X.shape == golden.shape, (design.fixed_names, case["fixed"])
    # the same columns in lme4's order (names are spelled the Python way: sector[Public])
    for c in range(golden.shape[1]):
        assert np.allclose(design.X[:, c], golden[:, c], **ASSERT_TOL), (
            f"column {c} is {design.fixed_names[c]!r}, lme4's is {case['fixed'][c]!r}; "
            f"ours {list(design.fixed_names)}")
    assert len(design.dropped_fixed) == len(case["dropped"])


@pytest.mark.parametrize("name", _cases(SPACE))
def test_fixed_design_spans_lme4s(name):
    case = CASES[name]
    design = _build(case)
    golden = _csv(name, "X").to_numpy(dtype=float).reshape(case["n_obs"], -1)
    rank = np.linalg.matrix_rank
    assert rank(design.X) == rank(golden) == rank(np.column_stack([design.X, golden]))


@pytest.mark.parametrize("name", _cases() + _cases(SPACE))
def test_group_design_equals_lme4(name):
    case = CASES[name]
    design = _build(case)
    ours = _our_columns(design)
    theirs = _lme4_columns(case, design.n_obs)
    pairs = _match(ours, theirs)
    missing = [theirs[t][2] + "|" + ":".join(sorted(theirs[t][0])) for t in range(len(theirs))
               if t not in pairs]
    assert not missing, f"lme4 columns without an equal column here: {missing}"
    assert len(ours) == len(theirs)
    # blocks: an lme4 term with several columns is one correlated block here; its
    # one-column terms on a factor share that factor's block of independent variances
    for k, term in enumerate(case["terms"], start=1):
        blocks = {ours[pairs[t]][1] for t in range(len(theirs)) if theirs[t][1] == k}
        assert len(blocks) == 1
        block = design.blocks[blocks.pop()]
        if len(term["columns"]) > 1:
            assert block.correlated and block.n_re == len(term["columns"])
        else:
            assert not block.correlated
        assert block.n_groups == term["n_levels"]


@pytest.mark.parametrize("name", _cases("refused"))
def test_refused_with_the_construct_named(name):
    case = CASES[name]
    with pytest.raises(FormulaError, match="twice"):
        _build(case)


@pytest.mark.parametrize("name", sorted(c for c in CASES if CASES[c]["has_offset"]))
def test_offset_equals_lme4(name):
    """offset() terms enter with coefficient 1, as lme4's offset (not as a column)."""
    design = _build(CASES[name])
    golden = _csv(name, "y")
    np.testing.assert_allclose(design.offset, golden["offset"].to_numpy(dtype=float),
                               **ASSERT_TOL)


def test_the_suite_has_an_offset_case():
    assert any(CASES[c]["has_offset"] for c in CASES)
