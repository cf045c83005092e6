"""Simulation-based calibration of structured terms (issue 15): datasets drawn from
the prior with the fields drawn by fastgibbs.gmrf.draw_field (N(0, sd^2 Q^+) per series
or component, written from the precision, not from the kernel's envelope sampler),
each fitted, every parameter's rank uniform (fastgibbs.sbc; Bonferroni over the
quantities, family-wise ALPHA). Small versions here (100 datasets); the slow tier runs
500 per model."""
import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg

EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e")]    # f: an island


def _rw1_model():
    rng = np.random.default_rng(1)
    t = np.repeat([2000, 2001, 2002, 2004, 2005, 2006, 2008, 2009], 3)   # unequal gaps
    data = pd.DataFrame({"t": t, "x": rng.normal(size=t.size), "y": rng.normal(size=t.size)})
    priors = {"Intercept": fg.Normal(0, 1), "x": fg.Normal(0, 1), "sigma": fg.HalfCauchy(1.0),
              "1|t": fg.RandomWalk(order=1, sd=fg.HalfCauchy(0.5))}
    return fg.Model("y ~ 1 + x + (1 | t)", data, priors=priors)


def _icar_model():
    rng = np.random.default_rng(2)
    area = np.repeat(list("abcdef"), 4)
    data = pd.DataFrame({"area": area, "x": rng.normal(size=area.size),
                         "y": rng.poisson(3.0, area.size)})
    priors = {"Intercept": fg.Normal(1.0, 0.5), "x": fg.Normal(0, 0.5),
              "1|area": fg.ICAR(EDGES, levels=list("abcdef"), sd=fg.InvGamma(3.0, 0.5))}
    return fg.Model("y ~ 1 + x + (1 | area)", data, family="poisson", priors=priors)


MODELS = {"rw1 gaussian": _rw1_model, "icar poisson": _icar_model}


@pytest.mark.statistical
@pytest.mark.parametrize("name", sorted(MODELS))
def test_small_sbc_of_structured_terms(name):
    model = MODELS[name]()
    result = fg.sbc(model, n_sims=100, seed=1,
                    sample_kwargs={"chains": 2, "warmup": 200, "draws": 400}, thin=8)
    assert result.passed, str(result)


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("name", sorted(MODELS))
def test_sbc_of_structured_terms(name):
    model = MODELS[name]()
    result = fg.sbc(model, n_sims=500, seed=11,
                    sample_kwargs={"chains": 2, "warmup": 500, "draws": 2000}, thin=20)
    assert result.passed, str(result)


def test_simulated_fields_have_the_prior_covariance():
    """The prior draws themselves: over many simulations, the ICAR effects of the
    component a-e have covariance sd^2 (c L)^+ (L the Laplacian written here, c the
    Sorbye-Rue scale: the geometric mean of diag(L^+)); the island f has variance sd^2."""
    from fastgibbs.gmrf import draw_field
    model = _icar_model()
    structure = model.design.structures["1|area"]
    levels = list(next(b for b in model.design.blocks if "1|area" in b.terms).levels)
    assert levels == list("abcdef")
    rng = np.random.default_rng(3)
    u = np.array([draw_field(structure, 1.0, None, rng) for _ in range(1500)])
    A = np.zeros((5, 5))
    for a, b in EDGES:
        i, j = "abcde".index(a), "abcde".index(b)
        A[i, j] = A[j, i] = 1
    L = np.diag(A.sum(1)) - A
    Lp = np.linalg.pinv(L)
    cov = Lp / np.exp(np.mean(np.log(np.diag(Lp))))
    np.testing.assert_allclose(u[:, :5].sum(axis=1), 0.0, atol=1e-9)
    est = np.cov(u[:, :5].T)
    # se of a sample covariance of Gaussians: sqrt((s_ii s_jj + s_ij^2) / n)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / len(u))
    from stats import assert_z
    assert_z(est, cov, se, "ICAR prior covariance")
    assert_z(u[:, 5].var(), 1.0, np.sqrt(2 / len(u)), "island variance")
