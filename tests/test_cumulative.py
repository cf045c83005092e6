"""The cumulative (ordinal probit) family, ``family="cumulative"``.

- wine (ordinal::wine, ``rating ~ temp + contact + (1 | judge)``): every posterior mean
  within 2 posterior sds of ordinal::clmm's maximum likelihood estimate, and every
  posterior mean and sd within 4 combined Monte Carlo standard errors of Stan's
  (references: benchmarks/stan/make_wine_reference.R, same priors);
- a Geweke test with predictors far from 0 (the kernel's thresholds sit at the
  centred predictors, coupled to beta in the prior) and a planted bug (power);
- a small SBC in the default tier;
- the response (ordered Categorical or integers), names, predict's category
  probabilities, summary/fixef, saved files;
- bad input: one category, gaps, unused or unordered categories, a logit link, fixed
  effects spanning the thresholds, fractional weights, a threshold prior of the
  wrong type.
The model matrix (tests/test_model_matrix.py, label ``cumulative``) holds its Geweke
tests and reference comparisons on every random-effect structure.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.design import build_design

from geweke import Geweke, assert_geweke
from stats import (assert_means_match_reference, assert_sds_match_reference, z_threshold)

DATA = Path(__file__).parent / "data"
FORMULA = "rating ~ temp + contact + (1 | judge)"
PRIORS = {"temp[warm]": fg.Normal(0, 5), "contact[yes]": fg.Normal(0, 5),
          "threshold": fg.Normal(0, 5), "1|judge": fg.HalfCauchy(1.0)}


def _wine():
    return fg.datasets.load("wine")


@pytest.fixture(scope="module")
def wine_fit():
    return fg.fit(FORMULA, _wine(), family="cumulative", priors=PRIORS, chains=4,
                  warmup=1000, draws=5000, seed=20261201)


# ---- wine: maximum likelihood and Stan --------------------------------------------------
@pytest.mark.statistical
def test_wine_agrees_with_clmm(wine_fit):
    ml = json.loads((DATA / "wine_clmm.json").read_text())
    for name, estimate in ml["estimates"].items():
        draws = wine_fit.draws(name).ravel()
        assert abs(draws.mean() - estimate) < 2 * draws.std(), name
    sd = wine_fit.draws("1|judge_sigma").ravel()
    assert abs(np.median(sd) - ml["judge_sd"]) < 2 * sd.std()


@pytest.mark.statistical
def test_wine_agrees_with_stan(wine_fit):
    ref = json.loads((DATA / "stan" / "wine_cumulative.json").read_text())["parameters"]
    assert set(ref) <= set(wine_fit.names)
    assert_means_match_reference(wine_fit, ref)
    assert_sds_match_reference(wine_fit, ref)
    assert wine_fit.summary(list(ref))["r_hat"].max() < 1.01


def test_wine_fit_reads_like_a_fit(wine_fit):
    assert list(wine_fit.fixed_names) == ["temp[warm]", "contact[yes]"]     # no intercept
    thresholds = [f"threshold[{k}]" for k in range(1, 5)]
    assert [n for n in wine_fit.names if n.startswith("threshold")] == thresholds
    draws = np.stack([wine_fit.draws(n) for n in thresholds], axis=-1)
    assert np.all(np.diff(draws, axis=-1) > 0)                           # ordered
    assert list(wine_fit.fixef().index) == ["temp[warm]", "contact[yes]"]
    text = str(wine_fit)
    assert "threshold[4]" in text and "Family: cumulative" in text
    assert "Intercept" not in wine_fit.names


def test_predict_gives_category_probabilities(wine_fit):
    data = _wine()
    probs = wine_fit.predict(data.iloc[:5], kind="mean")
    assert probs.shape == (5, 5) and list(probs.columns) == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    draws = wine_fit.predict(data.iloc[:5], kind="mean", summary=False, ndraws=100)
    assert draws.shape == (100, 5, 5)
    np.testing.assert_allclose(draws.mean(axis=0), wine_fit.predict(
        data.iloc[:5], kind="mean", ndraws=100).to_numpy())
    # warm, with contact: higher ratings than cold without
    new = pd.DataFrame({"temp": ["cold", "warm"], "contact": ["no", "yes"]})
    p = wine_fit.predict(new, kind="mean", include=None).to_numpy()
    assert p[0] @ np.arange(1, 6) < p[1] @ np.arange(1, 6)
    y = wine_fit.predict(data.iloc[:5], summary=False, seed=1, ndraws=50)   # categories
    assert set(np.unique(y)) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_saved_fit_round_trip(wine_fit, tmp_path):
    path = tmp_path / "wine.fgfit"
    wine_fit.save(path)
    again = fg.load(path)
    assert again.family == "cumulative" and again.names == wine_fit.names
    assert again.family_object().categories == ("1", "2", "3", "4", "5")
    np.testing.assert_array_equal(again.draws("threshold[2]"), wine_fit.draws("threshold[2]"))
    new = pd.DataFrame({"temp": ["warm"], "contact": ["yes"], "judge": ["3"]})
    np.testing.assert_allclose(again.predict(new, kind="mean"), wine_fit.predict(new, kind="mean"))


# ---- the response ------------------------------------------------------------------------
def _frame(y, n_per=6, seed=0):
    rng = np.random.default_rng(seed)
    n = len(y)
    return pd.DataFrame({"y": y, "x": rng.normal(size=n),
                         "g": np.repeat(np.arange(n // n_per + 1), n_per)[:n].astype(str)})


def test_ordered_categorical_keeps_its_labels():
    levels = ["low", "mid", "high"]
    y = pd.Categorical(np.array(levels)[np.arange(24) % 3], categories=levels, ordered=True)
    design = build_design("y ~ x + (1 | g)", _frame(y), family="cumulative")
    assert design.family.categories == tuple(levels)
    assert design.family.dispersion == ("threshold[1]", "threshold[2]")
    np.testing.assert_array_equal(design.y[:3], [1.0, 2.0, 3.0])
    assert list(design.fixed_names) == ["x"]


def test_integer_codes_start_at_their_lowest():
    design = build_design("y ~ x", _frame(3 + np.arange(20) % 4), family="cumulative")
    assert design.family.categories == ("3", "4", "5", "6")
    assert design.y.min() == 1 and design.y.max() == 4


@pytest.mark.parametrize("y, error, match", [
    (np.full(20, 2), ValueError, r"'y' has a single category"),
    (np.arange(20) % 2 * 2, ValueError, r"'y' has gaps: no observations of \[1\]"),
    (np.arange(20) % 3 + 0.5, ValueError, r"'y' must hold integer categories"),
    (pd.Categorical(np.arange(20) % 2, categories=[0, 1, 2], ordered=True), ValueError,
     r"'y' has no observations in category \['2'\]"),
    (pd.Categorical(np.arange(20) % 2), TypeError, r"'y' is an unordered Categorical"),
    (np.array(["a", "b"] * 10), TypeError, r"'y' must be ordered"),
    (np.where(np.arange(20) < 10, 1.0, np.inf), ValueError, r"'y' has 10 non-finite"),
])
def test_bad_responses(y, error, match):
    with pytest.raises(error, match=match):
        fg.Model("y ~ x", _frame(y), family="cumulative")


def test_bad_models():
    data = _frame(1 + np.arange(24) % 3)
    data["f"] = np.array(["a", "b"] * 12)
    with pytest.raises(ValueError, match="cumulative family is sampled with the probit link"):
        fg.Model("y ~ x", data, family="cumulative", link="logit")
    with pytest.raises(ValueError, match="add up to a constant"):
        fg.Model("y ~ 0 + f", data, family="cumulative")
    with pytest.raises(ValueError, match="weights must be whole numbers"):
        fg.Model("y ~ x", data, family="cumulative", weights=np.full(24, 0.5))
    with pytest.raises(TypeError, match="prior for the thresholds 'threshold' must be fg.Normal"):
        fg.Model("y ~ x", data, family="cumulative", priors={"threshold": fg.HalfCauchy(1)})
    with pytest.raises(ValueError, match="one observation per level"):
        data["obs"] = np.arange(24).astype(str)
        fg.Model("y ~ x + (1 | obs)", data, family="cumulative")


@pytest.mark.parametrize("sd", [1e-200, 1e-160, 1e160, 1e300])
def test_threshold_prior_beyond_doubles_is_refused(sd):
    # its precision 1 / sd^2 is no double: ZeroDivisionError, LinAlgError or OverflowError
    data = _frame(1 + np.arange(24) % 3)
    with pytest.raises(ValueError, match="Normal.*of 'threshold' cannot be represented"):
        fg.Model("y ~ x", data, family="cumulative", priors={"threshold": fg.Normal(0, sd)})
    fg.Model("y ~ x", data, family="cumulative", priors={"threshold": fg.Normal(0, 1e150)})


def test_threshold_prior_beyond_the_likelihood_is_refused():
    """Normal(1e10, 1) on the thresholds gave draws near 6e8 after 50 sweeps, silently
    (no likelihood can be evaluated there); refused as far fixed-effect priors are. A
    prior far from 0 that predictors far from 0 explain is kept."""
    data = _frame(1 + np.arange(24) % 3)
    for mu in (1e10, 50.0):
        with pytest.raises(ValueError, match="of 'threshold' holds the thresholds .* beyond 37"):
            fg.Model("y ~ x", data, family="cumulative",
                     priors={"threshold": fg.Normal(mu, 1)})
    fg.Model("y ~ x", data, family="cumulative", priors={"threshold": fg.Normal(30, 1)})
    fg.Model("y ~ x", data.assign(x=2000 + data["x"]), family="cumulative",
             priors={"threshold": fg.Normal(200, 5), "x": fg.Normal(0.1, 0.01)})


# ---- Geweke with predictors far from 0, planted bug, SBC -----------------------------------
def _shifted_design():
    rng = np.random.default_rng(3)
    data = _frame(1 + np.arange(18) % 3, n_per=6, seed=3)
    data["x"] = 2.0 + 0.5 * rng.normal(size=18)            # thresholds at x = 0 far off
    return build_design("y ~ x + (1 | g)", data, family="cumulative")


PRIORS_GEWEKE = {"x": fg.Normal(0.3, 0.5), "threshold": fg.Normal(0.5, 1.0),
                 "1|g": fg.InvGamma(4.0, 0.9)}


@pytest.mark.statistical
def test_geweke_with_predictors_far_from_zero():
    design = _shifted_design()
    z = Geweke(design, PRIORS_GEWEKE).z_scores(n=5000)
    assert_geweke(z, "cumulative, x around 2")


@pytest.mark.statistical
def test_geweke_catches_a_planted_threshold_prior():
    design = _shifted_design()
    wrong = dict(PRIORS_GEWEKE, threshold=fg.Normal(0.9, 1.0))
    z = Geweke(design, PRIORS_GEWEKE, kernel_priors=wrong).z_scores(n=5000)
    assert np.max(np.abs(z)) > z_threshold(len(z)), np.round(z, 2)


@pytest.mark.statistical
@pytest.mark.parametrize("categories", [2, 3])
def test_geweke_where_the_thresholds_prior_moves_the_groups(categories):
    """The translation move (Kernel.cumulative_shift) draws a shift a of every group's
    intercept and every threshold from a Gaussian of precision (K - 1) s^2 / t^2 +
    J / sd^2 (t: the thresholds' prior sd). Where the groups' part J / sd^2 swamps the
    thresholds' (the other Geweke designs: a small group sd, t = 1), a wrong threshold
    count there, K - 2 for K - 1, passed them all; here a tight threshold prior
    (t = 0.3), three groups and a wide group sd make the thresholds' part dominate
    (that bug: max |z| 29 at 10,000 sweeps with two thresholds, a non-finite draw with
    one). Two categories: the smallest K, one threshold."""
    data = _frame(1 + np.arange(18) % categories, n_per=6, seed=5)
    design = build_design("y ~ x + (1 | g)", data, family="cumulative")
    priors = {"x": fg.Normal(0.0, 0.7), "threshold": fg.Normal(0.0, 0.3),
              "1|g": fg.InvGamma(4.0, 9.0)}
    z = Geweke(design, priors).z_scores(n=10000)
    assert_geweke(z, f"cumulative, {categories} categories, tight thresholds, wide group sd")


@pytest.mark.statistical
def test_small_sbc():
    data = _frame(1 + np.arange(30) % 4, n_per=6, seed=4)
    model = fg.Model("y ~ x + (1 | g)", data, family="cumulative",
                     priors={"x": fg.Normal(0, 1), "threshold": fg.Normal(0, 1.5),
                             "1|g": fg.HalfCauchy(0.5)})
    result = fg.sbc(model, n_sims=60, seed=7, thin=10,
                    sample_kwargs={"chains": 2, "warmup": 200, "draws": 300})
    assert result.passed, str(result)
