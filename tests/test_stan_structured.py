"""Agreement with Stan for structured terms on real data (issue 15): the NES
presidential vote 1952-2000 with a first-order random walk over election years, and
the same data by state with an ICAR over the contiguous United States. References by
benchmarks/stan/make_structured_nes_references.R (rstan 2.21, same priors, same
binomial cells, which it wrote to tests/data/stan/<name>_cells.csv).

Each posterior mean within 4 combined Monte Carlo standard errors of Stan's, each sd
within 4 combined MCSE of the sd (tests/stats.py).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg

from stats import assert_means_match_reference, assert_sds_match_reference

STAN = Path(__file__).parent / "data" / "stan"
HC = fg.HalfCauchy(1.0)


def adjacency():
    return pd.read_csv(STAN / "us_states_adjacency.csv", comment="#")


def test_us_states_adjacency_is_knuths_contiguous_usa():
    from scipy.sparse.csgraph import connected_components
    edges = adjacency()
    prior = fg.ICAR(list(zip(edges["state_a"], edges["state_b"])))
    assert len(prior.levels) == 49 and len(prior.adjacency) == 107
    assert "DC" in prior.levels and "AK" not in prior.levels and "HI" not in prior.levels
    from fastgibbs.gmrf import adjacency_matrix
    assert connected_components(adjacency_matrix(prior), directed=False)[0] == 1
    nb = prior.neighbours()
    assert nb["ME"] == ["NH"] and nb["CO"] == ["KS", "NE", "NM", "OK", "UT", "WY"]
    assert "CO" not in nb["AZ"] and "UT" not in nb["NM"]          # Four Corners: a point
    codes = dict(zip(edges["state_a"], edges["icpsr_a"])) | dict(zip(edges["state_b"],
                                                                      edges["icpsr_b"]))
    assert codes["NY"] == 13 and codes["CA"] == 71 and len(set(codes.values())) == 49


def _fit(name, formula, priors, draws):
    data = pd.read_csv(STAN / f"{name}_cells.csv")
    if "year" in data:
        data["state"] = data["state"].astype(str)
    ref = json.loads((STAN / f"{name}.json").read_text())
    fit = fg.fit(formula, data, family="binomial", priors=priors, chains=4, warmup=300,
                 draws=draws, seed=20261201)
    return fit, ref


def _fixed(*names):
    return {n: fg.Normal(0, 5) for n in names}


@pytest.fixture(scope="module")
def nes_icar():
    edges = adjacency()
    icar = fg.ICAR(list(zip(edges["state_a"], edges["state_b"])), sd=HC)
    return _fit("nes_icar", "p(rep, n) ~ income + (1 | state)",
                {**_fixed("Intercept", "income"), "1|state": icar}, draws=1000)


@pytest.mark.statistical
def test_nes_icar_agrees_with_stan(nes_icar):
    fit, ref = nes_icar
    assert set(ref["parameters"]) <= set(fit.names)
    assert {"1|state[VT]", "1|state[MT]"} <= set(ref["parameters"])   # no data: from the field
    assert_means_match_reference(fit, ref["parameters"])
    assert_sds_match_reference(fit, ref["parameters"])


@pytest.fixture(scope="module")
def nes_rw1():
    return _fit("nes_rw1", "p(rep, n) ~ income + (1 | state) + (1 | year)",
                {**_fixed("Intercept", "income"), "1|state": HC,
                 "1|year": fg.RandomWalk(order=1, sd=HC)}, draws=1000)


@pytest.mark.statistical
def test_nes_random_walk_agrees_with_stan(nes_rw1):
    fit, ref = nes_rw1
    assert set(ref["parameters"]) <= set(fit.names)
    assert_means_match_reference(fit, ref["parameters"])
    assert_sds_match_reference(fit, ref["parameters"])
    assert fit.summary(list(ref["parameters"]))["r_hat"].max() < 1.01
