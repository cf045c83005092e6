"""Design matrices equal lme4's (golden files from tests/data/make_lme4_golden.R:
getME(m, "X") and the entries of getME(m, "Zt"), lme4 1.1-x)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.design import build_design

GOLDEN = Path(__file__).parent / "data" / "lme4_golden"


def _hsb():
    return fg.datasets.load("hsb82").head(600)


CASES = {
    "sleep_corr": ("Reaction ~ Days + (Days | Subject)", lambda: fg.datasets.load("sleepstudy")),
    "sleep_uncorr": ("Reaction ~ Days + (Days || Subject)", lambda: fg.datasets.load("sleepstudy")),
    "cbpp_period": ("incidence ~ period + (1 | herd)", lambda: fg.datasets.load("cbpp")),
    "scots_crossed": ("attain ~ verbal + sex + (1 | primary) + (1 | second)",
                      lambda: fg.datasets.load("scotssec")),
    "hsb_nested": ("mAch ~ ses * sector + (1 | school/minrty)", _hsb),
}


def _our_z(design):
    """{(variables frozenset, level tuple, column): dense column over rows}"""
    out = {}
    for block in design.blocks:
        for j, level in enumerate(block.levels):
            rows = block.group == j
            for c, col in enumerate(block.columns):
                name = "(Intercept)" if col == "1" else col
                values = np.where(rows, block.Z[:, c], 0.0)
                key = (frozenset(block.variables), tuple(sorted(level.split(":"))), name)
                out[key] = out.get(key, 0.0) + values
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_fixed_design_equals_lme4(case):
    formula, load = CASES[case]
    design = build_design(formula, load())
    golden = pd.read_csv(GOLDEN / f"{case}_X.csv")
    assert design.X.shape == golden.shape
    np.testing.assert_allclose(design.X, golden.to_numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_group_design_equals_lme4(case):
    formula, load = CASES[case]
    design = build_design(formula, load())
    golden = pd.read_csv(GOLDEN / f"{case}_Z.csv", dtype={"level": str})
    ours = _our_z(design)
    theirs = {}
    for (factor, level, column), rows in golden.groupby(["factor", "level", "column"]):
        key = (frozenset(factor.split(":")), tuple(sorted(level.split(":"))), column)
        dense = np.zeros(design.n_obs)
        dense[rows["row"].to_numpy() - 1] = rows["value"].to_numpy()
        theirs[key] = dense
    # lme4 keeps every (term, level, column) with a non-zero entry: same keys and values
    nonzero = {k for k, v in ours.items() if np.any(v != 0)}
    assert nonzero == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-12)
