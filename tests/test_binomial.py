"""Bernoulli and binomial multilevel models (Polya-Gamma augmentation)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.design import build_design

from stats import assert_means_match_reference, assert_sds_match_reference

DATA = Path(__file__).parent / "data"
IG = fg.InvGamma(0.001, 0.001)


def _contraception():
    data = fg.datasets.load("contraception")
    data["age2"] = data["age"] ** 2
    return data


# our parameter names for the reference's (which encodes dummies by hand)
CONTRACEPTION_NAMES = {"urbanY": "urban[Y]", "livch1": "livch[1]", "livch2": "livch[2]",
                       "livch3p": "livch[3+]"}
CBPP_NAMES = {"period2": "period[2]", "period3": "period[3]", "period4": "period[4]"}

MODELS = {
    "contraception": ("use ~ age + age2 + urban + livch + (1 | district)", _contraception,
                      "bernoulli", CONTRACEPTION_NAMES),
    "cbpp": ("p(incidence, size) ~ period + (1 | herd)", lambda: fg.datasets.load("cbpp"),
             "binomial", CBPP_NAMES),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request):
    formula, load, family, names = MODELS[request.param]
    ref = json.loads((DATA / f"{request.param}.json").read_text())["parameters"]
    ref = {names.get(k, k): v for k, v in ref.items()}
    data = load()
    design = build_design(formula, data, family=family)
    priors = {n: fg.Normal(0, 10) for n in design.fixed_names}
    priors.update({t: IG for b in design.blocks for t in b.terms})
    fit = fg.fit(formula, data, family=family, priors=priors, chains=4, warmup=1000,
                 draws=3000, seed=20261125)
    return fit, ref


@pytest.mark.statistical
def test_posterior_means_match_stan(fitted):
    fit, ref = fitted
    assert_means_match_reference(fit, ref)


@pytest.mark.statistical
def test_posterior_sds_match_stan(fitted):
    fit, ref = fitted
    assert_sds_match_reference(fit, ref)


def test_no_sigma_and_cells_reported(fitted):
    fit, _ = fitted
    assert "sigma" not in fit.names
    assert fit.n_cells <= fit.n_obs
    assert f"in {fit.n_cells} cells" in str(fit)


def test_collapsing_rows_changes_nothing():
    """Bernoulli rows and the same data as binomial cells give bit-identical draws."""
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(6), 20)
    x = np.tile([0.0, 1.0], 60)
    y = (rng.random(120) < 1 / (1 + np.exp(-(x - 0.5 + 0.5 * rng.normal(size=6)[g])))).astype(int)
    rows = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    cells = rows.groupby(["g", "x"], as_index=False).agg(s=("y", "sum"), n=("y", "size"))
    a = fg.fit("y ~ x + (1 | g)", rows, family="bernoulli", chains=2, draws=200, warmup=50, seed=9)
    b = fg.fit("p(s, n) ~ x + (1 | g)", cells, family="binomial", chains=2, draws=200, warmup=50,
               seed=9)
    assert a.n_cells == 12 == b.n_cells
    np.testing.assert_array_equal(a.draws(), b.draws())


def test_response_forms_agree():
    """0/1 numbers, booleans and a two-level categorical give the same fit."""
    data = _contraception().iloc[:300]
    data["use01"] = (data["use"] == "Y").astype(int)
    data["usebool"] = data["use"] == "Y"
    fits = [fg.fit(f"{resp} ~ age + (1 | district)", data, family="bernoulli", chains=1,
                   warmup=20, draws=50, seed=1) for resp in ("use", "use01", "usebool")]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].draws(), other.draws())
    chosen = fg.fit("use[N] ~ age + (1 | district)", data, family="bernoulli", chains=1,
                    warmup=20, draws=50, seed=1)
    assert chosen.fixef()["Intercept"] * fits[0].fixef()["Intercept"] < 0


@pytest.fixture
def small():
    return pd.DataFrame({"y": [0.0, 1, 1, 0, 1, 0], "n": [2.0, 3, 1, 4, 2, 2],
                         "x": [0.1, 0.5, -0.3, 0.2, 0.9, -1.0], "g": list("aabbcc")})


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_bernoulli_response_outside_01(small, bad):
    small.loc[0, "y"] = bad
    with pytest.raises(ValueError, match="0/1"):
        fg.fit("y ~ x + (1 | g)", small, family="bernoulli", chains=1, draws=5)


def test_successes_exceed_trials(small):
    small.loc[0, "y"] = 5
    with pytest.raises(ValueError, match="greater than 'trials'|exceed trials"):
        fg.fit("p(y, n) ~ x + (1 | g)", small, family="binomial", chains=1, draws=5)


@pytest.mark.parametrize("bad", [-1, 0, 2.5])
def test_bad_trials(small, bad):
    small.loc[1, "n"] = bad
    small.loc[1, "y"] = 0
    with pytest.raises(ValueError, match="trials"):
        fg.fit("p(y, n) ~ x + (1 | g)", small, family="binomial", chains=1, draws=5)


def test_rows_without_trials_are_counted_in_the_message(small):
    small.loc[[1, 4], "n"] = 0
    small.loc[[1, 4], "y"] = 0
    with pytest.raises(ValueError, match=r"found 2 row\(s\) with 0 trials \(no information: "
                                         r"drop them\)"):
        fg.fit("cbind(y, n - y) ~ x + (1 | g)", small, family="binomial", chains=1, draws=5)


def test_binomial_needs_p_response(small):
    with pytest.raises(TypeError, match=r"p\(successes, trials\)"):
        fg.fit("y ~ x + (1 | g)", small, family="binomial", chains=1, draws=5)


def test_one_class_warns(small):
    small["y"] = 0
    with pytest.warns(UserWarning, match="one outcome"):
        fg.fit("y ~ x + (1 | g)", small, family="bernoulli", chains=1, draws=5)


@pytest.mark.parametrize("values", [
    pd.Categorical(["a"] * 40, categories=["a", "b"]),     # b, the event, never occurs
    pd.Categorical(["b"] * 40, categories=["a", "b"]),
    np.array(["no"] * 40),
])
def test_a_response_of_one_level_is_refused(values):
    """One level of a text or categorical response was coded as 1 whichever it was: a
    Categorical of categories [a, b] holding only a (no events) was fitted as all
    events. Refused, as streamed data are; y[level] ~ ... still picks the event."""
    data = pd.DataFrame({"y": values, "x": np.linspace(-1, 1, 40)})
    with pytest.raises(ValueError, match=r"'y' must have two levels, got 1.*y\[level\]"):
        fg.Model("y ~ x", data, family="bernoulli")
    with pytest.warns(UserWarning, match="one outcome"):
        model = fg.Model("y[b] ~ x", data.assign(y=data["y"].astype(str)), family="bernoulli")
    assert model.design.y.mean() == float(np.asarray(values)[0] == "b")


def test_perfect_separation_gives_finite_draws_from_the_prior():
    """y = 1 exactly when x > 0: the likelihood pushes the slope to infinity; the
    proper prior must keep the draws finite (here Normal(0, 2.5 / sd(x)) by default)."""
    x = np.linspace(-1, 1, 40)
    data = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": np.tile(list("abcd"), 10)})
    fit = fg.fit("y ~ x + (1 | g)", data, family="bernoulli", chains=2, warmup=200, draws=500,
                 seed=3)
    slope = fit.draws("x")
    assert np.isfinite(fit.draws()).all()
    # pulled far out by the data, but bounded by the prior sd (2.5 / sd(x) = 4.3)
    assert 2 < slope.mean() < 6 * 4.3


def test_predict_bernoulli_and_binomial():
    cbpp = fg.datasets.load("cbpp")
    fit = fg.fit("p(incidence, size) ~ period + (1 | herd)", cbpp, family="binomial",
                 chains=2, warmup=200, draws=400, seed=5)
    new = pd.DataFrame({"period": ["1", "4"], "herd": ["1", "new herd"], "size": [20, 20]})
    pred = fit.predict(new, seed=1, summary=False)
    assert pred.shape == (800, 2)
    assert np.all((pred >= 0) & (pred <= 20)) and np.all(pred == np.round(pred))
    # period 4 has the lowest incidence: fewer predicted cases than period 1 in herd 1
    assert pred[:, 1].mean() < pred[:, 0].mean()
    with pytest.raises(ValueError, match="'size'"):
        fit.predict(new.drop(columns="size"))
    data = _contraception().iloc[:400]
    bern = fg.fit("use ~ age + (1 | district)", data, family="bernoulli", chains=2, warmup=100,
                  draws=200, seed=2)
    out = bern.predict(data.iloc[:5], seed=0)
    assert ((out["mean"] >= 0) & (out["mean"] <= 1)).all()
