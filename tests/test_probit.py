"""The probit link for bernoulli responses (``family="bernoulli", link="probit"``),
sampled by truncated-normal augmentation (Albert & Chib 1993).

- agreement with Stan on contraception (reference: benchmarks/stan/make_references.R,
  ``contraception_probit``; same priors): every posterior mean and sd within 4
  combined Monte Carlo standard errors (tests/stats.py);
- the link is kept with the fit (summary, predict, icc, saved files);
- bad input: a probit link on a family that has none, an unknown link, fractional
  weights (each observation has its own latent variable).
The model matrix (tests/test_model_matrix.py, label ``probit``) holds its Geweke tests
and the reference comparisons on every random-effect structure.
"""
import json
from pathlib import Path
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

import fastgibbs as fg

from stats import assert_means_match_reference, assert_sds_match_reference

STAN = Path(__file__).parent / "data" / "stan" / "contraception_probit.json"
FORMULA = "use ~ age + age2 + urban + livch + (1 | district)"


def _contraception():
    data = fg.datasets.load("contraception")
    data["age2"] = data["age"] ** 2
    return data


def _priors(model):
    out = {name: fg.Normal(0, 5) for name in model.design.fixed_names}
    out["1|district"] = fg.HalfCauchy(1.0)
    return out


@pytest.fixture(scope="module")
def contraception_fit():
    data = _contraception()
    model = fg.Model(FORMULA, data, family="bernoulli", link="probit")
    model = fg.Model(FORMULA, data, family="bernoulli", link="probit", priors=_priors(model))
    return model.sample(chains=4, warmup=1000, draws=4000, seed=20261201)


@pytest.mark.statistical
def test_contraception_agrees_with_stan(contraception_fit):
    ref = json.loads(STAN.read_text())["parameters"]
    assert set(ref) <= set(contraception_fit.names)
    assert_means_match_reference(contraception_fit, ref)
    assert_sds_match_reference(contraception_fit, ref)
    assert contraception_fit.summary(list(ref))["r_hat"].max() < 1.01


def _small():
    rng = np.random.default_rng(5)
    n, J = 200, 10
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.8 * x + 0.6 * rng.normal(size=J)[g]
    y = (rng.random(n) < ndtr(eta)).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def test_link_is_kept_with_the_fit(tmp_path):
    data = _small()
    fit = fg.fit("y ~ x + (1 | g)", data, family="bernoulli", link="probit", chains=2,
                 warmup=200, draws=200, seed=1)
    assert fit.family == "bernoulli" and fit.family_options == {"link": "probit"}
    assert fit.family_object().link == "probit"
    assert "(probit link)" in str(fit)
    # predictions are 0/1 draws with P(y = 1) = Phi(eta): their means follow Phi at
    # the posterior mean of eta (up to Jensen's gap and Monte Carlo error)
    draws = fit.predict(data, summary=False)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    beta = fit.fixef()
    u = fit.ranef()["g"]["Intercept"]
    eta = beta["Intercept"] + beta["x"] * data["x"] + u.loc[data["g"]].to_numpy()
    assert np.mean(np.abs(draws.mean(axis=0) - ndtr(eta))) < 0.05
    icc = fit.icc()
    assert 0 < float(np.mean(np.asarray(icc))) < 1
    path = tmp_path / "probit.fgfit"
    fit.save(path)
    again = fg.load(path)
    assert again.family_options == {"link": "probit"}
    np.testing.assert_array_equal(again.draws("x"), fit.draws("x"))


def test_probit_differs_from_logit_by_about_1_6():
    """The same data under both links: logit coefficients are about 1.6-1.8 times the
    probit ones (the logistic sd is pi / sqrt(3) = 1.81)."""
    data = _small()
    kw = dict(chains=2, warmup=300, draws=500, seed=2)
    probit = fg.fit("y ~ x + (1 | g)", data, family="bernoulli", link="probit", **kw)
    logit = fg.fit("y ~ x + (1 | g)", data, family="bernoulli", **kw)
    ratio = logit.fixef()["x"] / probit.fixef()["x"]
    assert 1.4 < ratio < 2.0, ratio


@pytest.mark.parametrize("family,link,match", [
    ("poisson", "probit", "not available for the poisson family"),
    ("gaussian", "probit", "not available for the gaussian family"),
    ("binomial", "probit", "family='bernoulli'"),
    ("bernoulli", "cloglog", "links: logit, probit"),
])
def test_probit_link_on_a_family_without_one(family, link, match):
    data = _small()
    data["n"] = 3
    lhs = "p(y, n)" if family == "binomial" else "y"
    with pytest.raises(ValueError, match=match):
        fg.fit(f"{lhs} ~ x + (1 | g)", data, family=family, link=link)


def test_link_must_be_a_string():
    with pytest.raises(TypeError, match="link"):
        fg.Model("y ~ x + (1 | g)", _small(), family="bernoulli", link=1)


def test_fractional_weights_are_refused():
    data = _small()
    with pytest.raises(ValueError, match="whole numbers"):
        fg.Model("y ~ x + (1 | g)", data, family="bernoulli", link="probit",
                 weights=np.full(len(data), 1.5))


def test_integer_weights_count_rows():
    """Weight 2 on every row is the data set twice: the same cells, trials doubled."""
    data = _small()
    twice = pd.concat([data, data], ignore_index=True)
    kw = dict(family="bernoulli", link="probit")
    a = fg.Model("y ~ x + (1 | g)", data, weights=np.full(len(data), 2.0), **kw)
    b = fg.Model("y ~ x + (1 | g)", twice, **kw)
    np.testing.assert_array_equal(a.problem.cells["n"], b.problem.cells["n"])
    np.testing.assert_array_equal(a.problem.cells["y"], b.problem.cells["y"])


def test_model_checking_uses_the_probit_link():
    """log-likelihood, predicted means and Pearson variances of a probit fit follow
    Phi (scipy), not the logistic function."""
    from scipy import stats
    data = _small()
    fit = fg.fit("y ~ x + (1 | g)", data, family="bernoulli", link="probit", chains=1,
                 warmup=100, draws=50, seed=4)
    eta = fit.predict(kind="link", summary=False)              # (draws, rows)
    y = data["y"].to_numpy()
    np.testing.assert_allclose(fit.log_likelihood().reshape(eta.shape),
                               stats.bernoulli.logpmf(y, ndtr(eta)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.predict(data, kind="mean", summary=False), ndtr(eta),
                               rtol=1e-10, atol=1e-12)
    family = fit.family_object()
    np.testing.assert_allclose(family.variance(eta, {}), ndtr(eta) * ndtr(-eta), rtol=1e-9)


def test_streamed_data_fit_as_in_memory(tmp_path):
    """Probit rows streamed from Parquet collapse to the in-memory cells (issue 17):
    the same draws, and the fit keeps the link (tests/test_streaming.py has more)."""
    path = tmp_path / "rows.parquet"
    data = _small()
    data.to_parquet(path, row_group_size=50)
    args = dict(family="bernoulli", link="probit", chains=1, warmup=50, draws=50, seed=2)
    streamed = fg.fit("y ~ x + (1 | g)", str(path), **args)
    memory = fg.fit("y ~ x + (1 | g)", data, **args)
    assert streamed.family_object().link == "probit"
    np.testing.assert_allclose(streamed.draws_array, memory.draws_array, rtol=0, atol=1e-8)


def test_weights_that_mean_many_latent_draws_warn_before_sampling():
    """The probit samplers draw one truncated normal per unit of weight and sweep: a
    total weight of 2e7 (about a second per sweep) warns when the model is built."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.integers(0, 2, 40), "x": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10)})
    with pytest.warns(RuntimeWarning, match="one truncated normal per unit of weight.*2e"):
        fg.Model("y ~ x + (1 | g)", data, family="bernoulli", link="probit",
                 weights=np.full(40, 5e5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.Model("y ~ x + (1 | g)", data, family="bernoulli", link="probit",
                 weights=np.full(40, 5e4))


def test_streamed_weights_that_mean_many_latent_draws_warn(tmp_path):
    """The same warning when the rows are streamed from Parquet (the cells' weights
    hold the rows' weights summed); it was given for data in memory only."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.integers(0, 2, 40), "x": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10), "w": np.full(40, 5e5)})
    data.to_parquet(tmp_path / "heavy.parquet", row_group_size=15)
    with pytest.warns(RuntimeWarning, match="one truncated normal per unit of weight.*2e"):
        fg.Model("y ~ x + (1 | g)", str(tmp_path / "heavy.parquet"), family="bernoulli",
                 link="probit", weights="w")
    data.assign(w=5e4).to_parquet(tmp_path / "light.parquet", row_group_size=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.Model("y ~ x + (1 | g)", str(tmp_path / "light.parquet"), family="bernoulli",
                 link="probit", weights="w")
