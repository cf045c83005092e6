"""Count families, offsets and weights: exact posteriors where they exist (grid
quadrature), equivalences that must hold exactly, and bad input.

The model matrix (test_model_matrix.py) checks every family x structure against
Geweke tests and the reference sampler; here are the checks that need no sampler:
a model with two fixed effects has a posterior that a 2-D grid integrates exactly."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.priors import resolve_priors
from fastgibbs.samplers.problem import build_problem

from stats import assert_z


def _grid_moments(log_post, grid_a, grid_b):
    """Posterior mean and sd of (a, b) from a log density on a 2-D grid."""
    A, B = np.meshgrid(grid_a, grid_b, indexing="ij")
    lp = log_post(A, B)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = np.array([(w * A).sum(), (w * B).sum()])
    sd = np.sqrt(np.array([(w * (A - mean[0]) ** 2).sum(), (w * (B - mean[1]) ** 2).sum()]))
    return mean, sd


def _check(fit, names, mean, sd, label):
    x = np.stack([fit.draws(n) for n in names], axis=-1)
    assert_z(x.mean(axis=(0, 1)), mean, diagnostics.mcse_mean(x), f"{label} means")
    assert_z(x.reshape(-1, len(names)).std(axis=0), sd, diagnostics.mcse_sd(x), f"{label} sds")


@pytest.mark.statistical
@pytest.mark.parametrize("scale", ["large", "mostly_zero"])
def test_poisson_posterior_is_exact(scale):
    """Poisson regression with a normal prior: the posterior of (Intercept, x) by
    quadrature, where counts are in the thousands and where most are 0."""
    rng = np.random.default_rng(3)
    n = 25 if scale == "large" else 80
    x = rng.normal(size=n)
    level = 7.5 if scale == "large" else -2.5          # mean count ~1800 or ~0.08
    y = rng.poisson(np.exp(level + 0.3 * x))
    data = pd.DataFrame({"y": y, "x": x})
    priors = {"Intercept": fg.Normal(0, 10), "x": fg.Normal(0, 2)}
    fit = fg.fit("y ~ x", data, family="poisson", priors=priors, chains=4, warmup=500,
                 draws=3000, seed=5)
    assert fit.sampler["mh_acceptance"] > 0.5

    def log_post(a, b):
        eta = a[..., None] + b[..., None] * x
        return (y * eta - np.exp(eta)).sum(-1) - a ** 2 / 200 - b ** 2 / 8

    est = np.array([fit.draws("Intercept").mean(), fit.draws("x").mean()])
    half = 8 * np.array([fit.draws("Intercept").std(), fit.draws("x").std()])
    mean, sd = _grid_moments(log_post, np.linspace(est[0] - half[0], est[0] + half[0], 401),
                             np.linspace(est[1] - half[1], est[1] + half[1], 401))
    _check(fit, ["Intercept", "x"], mean, sd, f"poisson {scale}")


def _one_count(big, seed=0):
    """60 rows with x ~ N(0, 1): one count ``big`` (at x = 0.13), every other count 0.
    Far from any Poisson fit: y ~ x puts the count's mean near the average rate, so its
    latent -log Gamma(big, 1) error sits 20-40 sds into a tail of its normal mixture."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x": rng.normal(size=60), "cnt": 0})
    data.loc[0, "cnt"] = big
    return data


def test_mh_acceptance_message_threshold():
    from fastgibbs.results import MH_ACCEPTANCE_WARN, mh_acceptance_message
    assert mh_acceptance_message({}) is None
    assert mh_acceptance_message(None) is None
    assert mh_acceptance_message({"mh_acceptance": 0.999}) is None
    assert mh_acceptance_message({"mh_acceptance": MH_ACCEPTANCE_WARN}) is None
    message = mh_acceptance_message({"mh_acceptance": 0.0123})
    assert "0.0123" in message and "(1 | obs)" in message and "negativebinomial" in message
    # the warning's own text does not hold the rate: a loop of refits warns once
    assert mh_acceptance_message({"mh_acceptance": 0.01}, rate_in_text=False) \
        == mh_acceptance_message({"mh_acceptance": 0.5}, rate_in_text=False)


def test_poisson_low_acceptance_warns():
    """A Poisson fit whose Metropolis-Hastings correction rejects most proposals (one
    count of 30 among 59 zeros, y ~ x: acceptance 0.027, R-hat 2.25, bulk ESS 3; the
    exact posterior mean of the intercept is -0.73, the chains sit near -0.38) warns
    after sampling (pointing at fit.sampler), in its printout and in diagnose() (naming
    the rate), with the remedies."""
    data = _one_count(30)
    with pytest.warns(RuntimeWarning, match=r"acceptance is low \(fit.sampler\['mh_acceptance'\]\) "
                      r"\(below 0\.8") as caught:
        fit = fg.fit("cnt ~ x", data, family="poisson", chains=2, warmup=500, draws=500,
                     seed=1)
    assert fit.sampler["mh_acceptance"] < 0.1
    message = next(str(w.message) for w in caught if "acceptance" in str(w.message))
    assert "(1 | obs)" in message and 'family="negativebinomial"' in message
    assert caught[0].filename == __file__          # points at the caller's fg.fit
    printed = str(fit)
    assert f"Metropolis-Hastings acceptance is {fit.sampler['mh_acceptance']:.3g}" in printed
    assert "(1 | obs)" in fit.diagnose()


def test_poisson_good_acceptance_does_not_warn():
    """Counts drawn from the model itself keep acceptance >= 0.99: no warning."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=80)
    data = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(0.5 + 0.4 * x))})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fg.fit("y ~ x", data, family="poisson", chains=2, warmup=300, draws=300, seed=1)
    assert fit.sampler["mh_acceptance"] > 0.99
    assert not [w for w in caught if "acceptance" in str(w.message)]
    assert "acceptance" not in str(fit)


@pytest.mark.statistical
def test_negative_binomial_posterior_is_exact():
    """NB2 with an intercept and alpha: the posterior of (Intercept, log alpha) by
    quadrature (the kernel draws alpha by slice sampling, the intercept through
    Polya-Gamma augmentation)."""
    rng = np.random.default_rng(8)
    n = 60
    mu, alpha = np.exp(1.2), 2.0
    y = rng.poisson(rng.gamma(alpha, mu / alpha, n))
    data = pd.DataFrame({"y": y})
    priors = {"Intercept": fg.Normal(0, 5), "alpha": fg.Gamma(2.0, 0.5)}
    fit = fg.fit("y ~ 1", data, family="negativebinomial", priors=priors, chains=4,
                 warmup=500, draws=3000, seed=6)

    def log_post(b0, la):
        a = np.exp(la)
        den = np.logaddexp(la[..., None], b0[..., None])
        ll = (gammaln(y + a[..., None]) - gammaln(a[..., None]) + a[..., None] * (la[..., None] - den)
              + y * (b0[..., None] - den)).sum(-1)
        return ll - b0 ** 2 / 50 + (2.0 - 1) * la - 0.5 * a + la     # Gamma prior, Jacobian

    draws = np.stack([fit.draws("Intercept"), np.log(fit.draws("alpha"))], axis=-1)
    est, spread = draws.mean(axis=(0, 1)), 8 * draws.reshape(-1, 2).std(axis=0)
    mean, sd = _grid_moments(log_post, np.linspace(est[0] - spread[0], est[0] + spread[0], 301),
                             np.linspace(est[1] - spread[1], est[1] + spread[1], 301))
    assert_z(draws.mean(axis=(0, 1)), mean, diagnostics.mcse_mean(draws), "NB means")
    assert_z(draws.reshape(-1, 2).std(axis=0), sd, diagnostics.mcse_sd(draws), "NB sds")


# ---- offsets ------------------------------------------------------------------------
@pytest.fixture
def counts():
    rng = np.random.default_rng(2)
    n = 90
    g = np.repeat(np.arange(9), 10)
    exposure = rng.uniform(0.5, 4.0, n)
    x = rng.normal(size=n)
    y = rng.poisson(exposure * np.exp(0.2 + 0.4 * x + 0.3 * rng.normal(size=9)[g]))
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "exposure": exposure,
                         "logexp": np.log(exposure)})


def test_offset_spellings_give_the_same_fit(counts):
    kw = dict(family="poisson", chains=2, warmup=100, draws=200, seed=4)
    a = fg.fit("y ~ x + offset(np.log(exposure)) + (1 | g)", counts, **kw)
    b = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, **kw)
    c = fg.fit("y ~ x + (1 | g)", counts, offset="logexp", **kw)
    d = fg.fit("y ~ x + (1 | g)", counts, offset=counts["logexp"].to_numpy(), **kw)
    for other in (b, c, d):
        np.testing.assert_allclose(a.draws(), other.draws(), rtol=1e-12, atol=1e-12)
    assert "offset(np.log(exposure))" not in a.names       # not a free coefficient


def test_offset_has_coefficient_one(counts):
    """Doubling every exposure multiplies every rate by 2: the intercept moves by
    log 2 and nothing else changes (the offset is not estimated)."""
    kw = dict(family="poisson", chains=2, warmup=200, draws=400, seed=4)
    fit = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, **kw)
    shifted = counts.assign(logexp=counts["logexp"] + np.log(2.0))
    fit2 = fg.fit("y ~ x + offset(logexp) + (1 | g)", shifted, **kw)
    np.testing.assert_allclose(fit2.draws("Intercept"), fit.draws("Intercept") - np.log(2.0),
                               atol=1e-9)
    np.testing.assert_allclose(fit2.draws("x"), fit.draws("x"), atol=1e-9)


def test_gaussian_offset_is_subtracted_from_y():
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10)})
    data["y"] = 1 + data["x"] + data["z"] + rng.normal(size=40)
    data["y_minus_z"] = data["y"] - data["z"]
    kw = dict(chains=2, warmup=50, draws=100, seed=3)
    a = fg.fit("y ~ x + offset(z) + (1 | g)", data, **kw)
    b = fg.fit("y_minus_z ~ x + (1 | g)", data, **kw)
    np.testing.assert_allclose(a.draws(), b.draws(), rtol=1e-10, atol=1e-10)


def test_predict_uses_the_offset_of_new_data(counts):
    fit = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, family="poisson", chains=2,
                 warmup=200, draws=300, seed=1)
    new = pd.DataFrame({"x": [0.0, 0.0], "g": ["0", "0"], "logexp": [0.0, np.log(10.0)]})
    pred = fit.predict(new, seed=0)
    ratio = pred["mean"].iloc[1] / pred["mean"].iloc[0]
    assert 8 < ratio < 12                                  # ten times the exposure
    with pytest.raises(ValueError, match="logexp"):
        fit.predict(new.drop(columns="logexp"))


def test_offset_array_must_be_given_again_to_predict(counts):
    fit = fg.fit("y ~ x + (1 | g)", counts, family="poisson", chains=1, warmup=50, draws=50,
                 offset=counts["logexp"].to_numpy(), seed=1)
    new = counts.iloc[:3]
    with pytest.raises(ValueError, match="offset="):
        fit.predict(new)
    assert fit.predict(new, offset=np.zeros(3), seed=0).shape[0] == 3


# ---- weights ------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson", "negativebinomial"])
def test_frequency_weights_equal_repeated_rows(family):
    """A row with weight 2 is the row twice: identical statistics, cells and priors."""
    rng = np.random.default_rng(7)
    n = 30
    data = pd.DataFrame({"x": rng.normal(size=n), "g": np.repeat(list("abc"), 10)})
    data["y"] = rng.poisson(2, n) if family != "gaussian" else rng.normal(size=n)
    if family == "bernoulli":
        data["y"] = (data["y"] > 1).astype(int)
    w = rng.integers(0, 3, n)
    repeated = data.loc[np.repeat(np.arange(n), w)].reset_index(drop=True)
    weighted = build_design("y ~ x + (1 | g)", data, family=family, weights=w.astype(float))
    plain = build_design("y ~ x + (1 | g)", repeated, family=family)
    a = build_problem(weighted, resolve_priors(weighted, None))
    b = build_problem(plain, resolve_priors(plain, None))
    for field in ("n_obs", "yty", "xtx", "xty", "ztz", "ztx", "zty", "cell_val", "prior_prec",
                  "prior_h", "vc_b"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-10,
                                   atol=1e-12, err_msg=field)
    if a.cells is not None:
        for key in ("X", "y", "n", "offset"):
            order_a = np.lexsort(np.column_stack([a.cells["X"], a.cells["y"]]).T)
            order_b = np.lexsort(np.column_stack([b.cells["X"], b.cells["y"]]).T)
            np.testing.assert_allclose(np.asarray(a.cells[key])[order_a],
                                       np.asarray(b.cells[key])[order_b], rtol=1e-12,
                                       err_msg=key)


def test_weights_by_column_name():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7], "x": [0.0, 1, 2, 3, 4, 6],
                         "g": list("aabbcc"), "w": [1, 2, 1, 2, 1, 1]})
    design = build_design("y ~ x + (1 | g)", data, weights="w")
    np.testing.assert_array_equal(design.weights, data["w"])



def test_weights_and_offset_series_are_read_by_their_labels():
    """A Series is aligned on the data's index, as pandas aligns; one whose labels are
    not the data's rows is refused rather than read by position."""
    data = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7], "x": [0.0, 1, 2, 3, 4, 6],
                         "g": list("aabbcc"), "w": [1, 2, 1, 2, 1, 1]}, index=[5, 3, 9, 1, 0, 2])
    shuffled = data["w"].sample(frac=1.0, random_state=1)
    design = build_design("y ~ x + (1 | g)", data, weights=shuffled, offset=shuffled * 0.1)
    np.testing.assert_array_equal(design.weights, data["w"])
    np.testing.assert_allclose(design.offset, data["w"] * 0.1)
    with pytest.raises(ValueError, match="weights is a Series whose index is not the data's"):
        build_design("y ~ x + (1 | g)", data, weights=data["w"].reset_index(drop=True))
    positional = build_design("y ~ x + (1 | g)", data, weights=data["w"].to_numpy())
    np.testing.assert_array_equal(positional.weights, data["w"])

# ---- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("family", ["poisson", "negativebinomial"])
@pytest.mark.parametrize("bad,match", [(-1, "negative"), (1.5, "non-integer"),
                                       (np.inf, "non-finite"), (2.0 ** 60, "2\\*\\*53")])
def test_bad_counts_are_named(family, bad, match):
    data = pd.DataFrame({"y": [0.0, 1, 2, 3], "x": [0.1, 0.2, 0.3, 0.4]})
    data.loc[2, "y"] = bad
    with pytest.raises(ValueError, match=f"'y'.*{match}|{match}.*'y'"):
        build_design("y ~ x", data, family=family)


def test_all_zero_counts_warn():
    data = pd.DataFrame({"y": [0, 0, 0, 0], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.warns(UserWarning, match="0 everywhere"):
        build_design("y ~ x", data, family="poisson")


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_bad_offsets_are_refused(bad):
    data = pd.DataFrame({"y": [0, 1, 2, 3], "x": [0.1, 0.2, 0.3, 0.4],
                         "e": [1.0, 2.0, 3.0, 4.0]})
    off = np.log(data["e"].to_numpy())
    off[1] = bad
    with pytest.raises(ValueError, match="offset"):
        build_design("y ~ x", data, family="poisson", offset=off)
    data.loc[1, "e"] = 0.0                                # log(0) = -inf in a formula term
    with pytest.raises(ValueError, match="offset"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_design("y ~ x + offset(np.log(e))", data, family="poisson")


def test_missing_offset_column_is_a_missing_value():
    data = pd.DataFrame({"y": [0, 1, 2, 3], "x": [0.1, 0.2, 0.3, 0.4],
                         "off": [0.0, np.nan, 0.0, 0.0]})
    with pytest.raises(ValueError, match="'off'.*missing"):
        build_design("y ~ x", data, family="poisson", offset="off")


@pytest.mark.parametrize("bad,match", [([1, -1, 1, 1], "negative"), ([1, np.nan, 1, 1], "non-finite"),
                                       ([0, 0, 0, 0], "every weight is 0"),
                                       ([1, 1, 1], "3 values for 4 rows")])
def test_bad_weights_are_refused(bad, match):
    data = pd.DataFrame({"y": [0.5, 1, 2, 3], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match=match):
        build_design("y ~ x", data, weights=np.array(bad, dtype=float))


def test_absurdly_large_weights_are_named_when_the_sampler_stops():
    """Weights of 1e16 make the group effects' precision swamp the fixed effects' one in
    the joint draw (their difference is lost to rounding): the sampler stops, and says
    that the weights may be why instead of blaming only collinear predictors."""
    from fastgibbs.samplers.chain import SamplerError
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60),
                         "g": np.repeat(list("abcdef"), 10)})
    with pytest.raises(SamplerError, match="weights so large"):
        fg.fit("y ~ x + (1 | g)", data, weights=np.full(60, 1e16), chains=1, warmup=50,
               draws=50, seed=0)


def test_unknown_family_is_named():
    data = pd.DataFrame({"y": [0, 1, 2, 3], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match="family must be one of"):
        build_design("y ~ x", data, family="weibull")


# ---- the answers follow the family --------------------------------------------------
def test_icc_and_names_of_count_families(counts):
    for family, dispersion in (("poisson", []), ("negativebinomial", ["alpha"])):
        fit = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, family=family, chains=2,
                     warmup=200, draws=300, seed=2)
        assert [n for n in fit.names if n in ("sigma", "alpha")] == dispersion
        icc = fit.icc(offset=float(np.log(2.0)))
        assert 0 < icc.loc["g", "icc"] < 1
        assert f"Family: {family}" in str(fit)


def test_icc_of_a_log_link_model_with_an_offset_needs_the_offset(counts, tmp_path):
    """The ICC of a count model, tau^2 / (tau^2 + log(1 + 1/lambda [+ 1/alpha])), used
    lambda = exp(Intercept + tau^2 / 2) whatever the offset: the ICC of a row of
    exposure 1, without a word. lambda is the mean count of a row with a given offset,
    so a model with an offset needs icc(offset=...), and is refused without it (also
    once saved and loaded); offset= is refused where it means nothing."""
    for family in ("poisson", "negativebinomial"):
        fit = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, family=family, chains=1,
                     warmup=100, draws=200, seed=3)
        fit.save(tmp_path / "f.fgz")
        for f in (fit, fg.load(tmp_path / "f.fgz")):
            with pytest.raises(ValueError, match=r"icc: this .* model has an offset "
                               r"\(logexp\).*icc\(offset=np.log\(exposure\)\)"):
                f.icc()
            tau2 = f.draws("1|g_sigma").reshape(-1) ** 2
            b0 = f.draws("Intercept").reshape(-1)
            for c in (np.log(0.5), np.log(4.0)):
                extra = 1 / f.draws("alpha").reshape(-1) if family != "poisson" else 0.0
                resid = np.log1p(np.exp(-(b0 + c + tau2 / 2)) + extra)
                icc = f.icc(offset=c)
                assert icc.loc["g", "icc"] == pytest.approx(np.mean(tau2 / (tau2 + resid)),
                                                            rel=1e-12)
            # a longer exposure: more counts, less Poisson noise, a larger ICC
            assert f.icc(offset=np.log(4.0)).loc["g", "icc"] > \
                f.icc(offset=np.log(0.5)).loc["g", "icc"]
    with pytest.raises(ValueError, match="mean offset is"):
        fit.icc()                                 # fitted in this session: its mean offset
    plain = fg.fit("y ~ x + (1 | g)", counts, family="poisson", chains=1, warmup=50,
                   draws=50, seed=3)
    assert 0 < plain.icc().loc["g", "icc"] < 1
    with pytest.raises(ValueError, match="fitted without an offset"):
        plain.icc(offset=1.0)
    gauss = fg.fit("logexp ~ x + offset(x) + (1 | g)", counts, chains=1, warmup=50, draws=50,
                   seed=3)
    assert 0 < gauss.icc().loc["g", "icc"] < 1
    with pytest.raises(ValueError, match="identity-link model does not depend"):
        gauss.icc(offset=1.0)
    with pytest.raises(ValueError, match="finite number"):
        fit.icc(offset=float("nan"))


def test_text_offsets_are_refused(counts):
    """A text column of one value was coded as one indicator column of 1s and taken as
    the offset: offset='o' with o = '0.5' (numbers stored as text) gave an offset of 1."""
    data = counts.assign(o="0.5")
    for kw, formula in (({"offset": "o"}, "y ~ x + (1 | g)"),
                        ({}, "y ~ x + offset(o) + (1 | g)"),
                        ({}, "y ~ x + offset(o:logexp) + (1 | g)")):
        with pytest.raises(TypeError, match="offset 'o.*' must be numeric.*categories"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")          # numbers stored as text
                build_design(formula, data, family="poisson", **kw)
    fit = fg.fit("y ~ x + offset(logexp) + (1 | g)", counts, family="poisson", chains=1,
                 warmup=10, draws=10, seed=1)
    with pytest.raises(TypeError, match="offset 'logexp' must be numeric"):
        fit.predict(counts.assign(logexp="0.5").head(3), kind="link")


def test_missing_values_and_duplicate_names_in_offset_columns(counts):
    """The columns of offset(...) terms are checked as the formula's own: a missing
    value was reported by formulae without the column ("'data' contains 1 incomplete
    rows") and na_action='drop' did not drop its row; a duplicated column name raised
    AttributeError (found by tests/test_fuzz.py)."""
    data = counts.copy()
    data.loc[data.index[3], "logexp"] = np.nan
    formula = "y ~ x + offset(np.log(np.exp(logexp))) + (1 | g)"
    with pytest.raises(ValueError, match=r"missing values in column\(s\) 'logexp' \(1 missing\)"):
        build_design(formula, data, family="poisson")
    design = build_design(formula, data, family="poisson", na_action="drop")
    assert design.n_dropped == 1 and design.n_obs == len(data) - 1
    complete = build_design(formula, data.drop(index=data.index[3]), family="poisson")
    np.testing.assert_array_equal(design.offset, complete.offset)
    twice = pd.concat([counts, counts[["logexp"]]], axis=1)
    with pytest.raises(ValueError, match="several columns named 'logexp'"):
        build_design("y ~ x + offset(logexp) + (1 | g)", twice, family="poisson")


@pytest.mark.parametrize("expr", ["scale(logexp)", "center(logexp)", "poly(logexp, 1)"])
def test_offsets_with_stateful_transforms_are_refused(counts, expr):
    """An offset is evaluated again on newdata with nothing of the fitted data kept:
    offset(scale(x)) was scaled by newdata's own mean and sd in predict (two rows: -0.71
    and 0.71 whatever x; one row: NaN)."""
    with pytest.raises(fg.FormulaError, match=r"offset\(.*\) uses (scale|center|poly)\(\)"):
        build_design(f"y ~ x + offset({expr}) + (1 | g)", counts, family="poisson")


def test_missing_values_in_offset_columns_of_newdata_are_named(counts):
    """predict on newdata with a missing value in an offset's column said formulae's
    "cannot evaluate 0 + I(log(exposure) + 0) on data: 'data' contains 1 incomplete
    rows" (a FormulaError, the offset as rewritten, no column); now it names the column
    as the fixed part's check does."""
    new = counts.iloc[:3].copy()
    new.loc[new.index[1], ["exposure", "logexp"]] = np.nan
    kw = dict(family="poisson", chains=1, warmup=10, draws=10, seed=1)
    for formula, extra in [("y ~ x + offset(log(exposure) + 0) + (1 | g)", {}),
                           ("y ~ x + offset(np.log(exposure)) + (1 | g)", {}),
                           ("y ~ x + (1 | g)", {"offset": "logexp"})]:
        fit = fg.fit(formula, counts, **kw, **extra)
        column = "logexp" if extra else "exposure"
        with pytest.raises(ValueError, match=rf"missing values in the offset column\(s\) \['{column}'\]"):
            fit.predict(new)
