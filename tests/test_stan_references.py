"""Agreement with Stan on real data for the GLMM families (references made by
benchmarks/stan/make_references.R, same priors, stored in tests/data/stan/):

- cbpp with herd and observation-level effects (binomial; issue 10's overdispersion
  model, which crashed the interpreter before the kernel's pair-cell map was fixed);
- grouseticks, Poisson with three factors: BROOD within LOCATION, crossed with the
  observation-level INDEX;
- epil, negative binomial with repeated counts per subject.

Each posterior mean within 4 combined Monte Carlo standard errors of Stan's (the
criterion of ../shared/reference/README.md), each sd within 4 combined MCSE of the sd.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import fastgibbs as fg

from stats import assert_means_match_reference, assert_sds_match_reference

STAN = Path(__file__).parent / "data" / "stan"


def _cbpp():
    data = fg.datasets.load("cbpp")
    data["obs"] = [str(i + 1) for i in range(len(data))]
    return data


MODELS = {
    "cbpp_olre": ("p(incidence, size) ~ period + (1 | herd) + (1 | obs)", _cbpp, "binomial"),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                    lambda: fg.datasets.load("grouseticks"), "poisson"),
    "epil": ("y ~ lbase * trt + lage + V4 + (1 | subject)", lambda: fg.datasets.load("epil"),
             "negativebinomial"),
}


def _priors(model):
    out = {name: fg.Normal(0, 5) for name in model.design.fixed_names}
    for block in model.design.blocks:
        out.update({term: fg.HalfCauchy(1.0) for term in block.terms})
    if "alpha" in model.names:
        out["alpha"] = fg.Gamma(0.01, 0.01)
    return out


@pytest.fixture(scope="module", params=[m for m in MODELS if (STAN / f"{m}.json").exists()])
def fitted(request):
    formula, load, family = MODELS[request.param]
    ref = json.loads((STAN / f"{request.param}.json").read_text())
    data = load()
    model = fg.Model(formula, data, family=family)
    model = fg.Model(formula, data, family=family, priors=_priors(model))
    fit = model.sample(chains=4, warmup=1000, draws=4000, seed=20261201)
    return request.param, fit, ref


@pytest.mark.statistical
def test_posterior_means_match_stan(fitted):
    name, fit, ref = fitted
    assert_means_match_reference(fit, ref["parameters"])


@pytest.mark.statistical
def test_posterior_sds_match_stan(fitted):
    name, fit, ref = fitted
    assert_sds_match_reference(fit, ref["parameters"])


def test_converged(fitted):
    name, fit, ref = fitted
    table = fit.summary(list(ref["parameters"]))
    assert table["r_hat"].max() < 1.01, table
    if "mh_acceptance" in fit.sampler:
        assert fit.sampler["mh_acceptance"] > 0.8
