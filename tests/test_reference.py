"""Posterior agreement with Stan on real data (tests/data/*.json, copied from
../shared/reference: same data preparation, model and priors).

A posterior mean agrees when |mean_fg - mean_ref| <= 4 sqrt(mcse_fg^2 + mcse_ref^2)
(the reference's own criterion). Posterior sds are compared the same way; Stan's
MCSE of the sd is not recorded, so it is taken as ours scaled by sqrt(ESS_fg / ESS_ref).
"""
import json
from pathlib import Path

import numpy as np
import pytest

import fastgibbs as fg
from fastgibbs import diagnostics

from stats import assert_means_match_reference, assert_sds_match_reference

DATA = Path(__file__).parent / "data"
IG = fg.InvGamma(0.001, 0.001)


def _reference(name):
    params = json.loads((DATA / f"{name}.json").read_text())["parameters"]
    return {RENAME.get(k, k): v for k, v in params.items()}


def _hsb82():
    data = fg.datasets.load("hsb82")
    data["catholic"] = (data["sector"] == "Catholic").astype(float)
    return data


SLEEP_PRIORS = {"Intercept": fg.Normal(0, 1000), "Days": fg.Normal(0, 1000), "sigma": IG}

MODELS = {
    "nes2000": ("real_ideo ~ 1 + partyid7 + (1 | state)", lambda: fg.datasets.load("nes2000"),
                {"partyid7": fg.Normal(0, 1), "Intercept": fg.Normal(0, 10), "sigma": IG,
                 "1|state": IG}),
    "hsb82": ("mAch ~ 1 + ses + meanses + catholic + (1 | school)", _hsb82,
              {"Intercept": fg.Normal(0, 10), "ses": fg.Normal(0, 10),
               "meanses": fg.Normal(0, 10), "catholic": fg.Normal(0, 10), "sigma": IG,
               "1|school": IG}),
    "sleepstudy_uncorrelated": (
        "Reaction ~ 1 + Days + (1 + Days || Subject)", lambda: fg.datasets.load("sleepstudy"),
        {**SLEEP_PRIORS, "1|Subject": IG, "Days|Subject": IG}),
    "sleepstudy_correlated": (
        "Reaction ~ 1 + Days + (1 + Days | Subject)", lambda: fg.datasets.load("sleepstudy"),
        {**SLEEP_PRIORS, "1 + Days|Subject": fg.InvWishart(4, [600, 36])}),
}

# the reference's own key for the correlation, and ours
RENAME = {"corr(1|Subject, Days|Subject) (name it per the library convention)":
          "1|Subject~Days|Subject_corr"}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request):
    formula, load, priors = MODELS[request.param]
    fit = fg.fit(formula, load(), priors=priors, chains=4, warmup=1000, draws=4000, seed=20261125)
    return fit, _reference(request.param)


@pytest.mark.statistical
def test_posterior_means_match_stan(fitted):
    fit, ref = fitted
    assert_means_match_reference(fit, ref)


@pytest.mark.statistical
def test_posterior_sds_match_stan(fitted):
    fit, ref = fitted
    assert_sds_match_reference(fit, ref)


def test_converged(fitted):
    fit, _ = fitted
    table = fit.summary()
    assert table["r_hat"].max() < 1.01
    assert table["ess_bulk"].min() > 1000


@pytest.mark.parametrize("name", ["sleepstudy_uncorrelated", "sleepstudy_correlated"])
def test_close_to_lme4_on_a_well_identified_model(name):
    """lme4's ML estimates are within two posterior sds for sleepstudy."""
    formula, load, priors = MODELS[name]
    fit = fg.fit(formula, load(), priors=priors, chains=2, warmup=500, draws=1000, seed=3)
    for par, r in _reference(name).items():
        if "lme4_ml_estimate" in r:
            x = fit.draws(par)
            assert abs(x.mean() - r["lme4_ml_estimate"]) < 2 * x.std(), par
