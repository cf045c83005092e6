"""Prior arguments and prior keys: what is refused, and how (issue 11)."""
import re

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg

SLEEP = "Reaction ~ Days + (1 + Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return fg.datasets.load("sleepstudy")


@pytest.mark.parametrize("make,message", [
    (lambda: fg.Normal(0, 0.0), r"Normal sigma must be positive and finite"),
    (lambda: fg.Normal(0, float("inf")), r"Normal sigma must be positive and finite"),
    (lambda: fg.Normal(10 ** 400, 1), r"Normal mu must be finite"),
    (lambda: fg.Normal(float("nan"), 1), r"Normal mu must be finite"),
    (lambda: fg.InvGamma(1e300, 1e-300), r"InvGamma\(1e\+300, 1e-300\) cannot be represented"),
    (lambda: fg.InvGamma(1, float("inf")), r"InvGamma scale must be positive and finite"),
    (lambda: fg.HalfCauchy(0), r"HalfCauchy scale must be positive"),
    (lambda: fg.InvWishart(3, [1e-320, 1.0]), r"InvWishart scale: every diagonal entry"),
    (lambda: fg.InvWishart(3, []), r"InvWishart scale must be a finite square matrix"),
])
def test_priors_that_cannot_be_represented_are_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: fg.Normal(True, 1), lambda: fg.Normal("0", 1),
                                  lambda: fg.InvGamma(None, 1), lambda: fg.HalfCauchy([1.0]),
                                  lambda: fg.InvWishart(3, [["a", "b"]])])
def test_non_numbers_are_type_errors(make):
    with pytest.raises(TypeError, match="must be a"):
        make()


@pytest.mark.parametrize("cast", [np.float32, np.float64, np.int64, np.int8, float, int])
def test_numpy_scalars_are_accepted_as_python_floats(cast):
    priors = [fg.Normal(cast(0), cast(2)), fg.InvGamma(cast(1), cast(2)), fg.HalfCauchy(cast(3)),
              fg.InvWishart(cast(3), [cast(1), cast(2)])]
    assert [type(p.mu) for p in priors[:1]] == [float]
    assert priors[0] == fg.Normal(0.0, 2.0) and priors[1] == fg.InvGamma(1.0, 2.0)
    assert priors[2] == fg.HalfCauchy(3.0) and type(priors[3].df) is float


def test_extremes_inside_the_limits_are_kept():
    assert fg.Normal(1e150, 1e154).sigma == 1e154
    assert fg.HalfCauchy(1e-150).scale == 1e-150
    assert fg.InvGamma(1e-300, 1e-300).shape == 1e-300


@pytest.mark.parametrize("priors", [
    {"partyid7": fg.Normal(0, 1e-300)},        # precision 1e600 on the data's scale
    {"partyid7": fg.Normal(1e300, 1e-100)},
    {"1|state": fg.HalfCauchy(1e-155)},
    {"sigma": fg.HalfCauchy(1e200)},
])
def test_priors_that_cannot_be_represented_on_the_data_scale_are_refused(priors):
    """The sampler works on the data's own scale (y and x standardised): a prior that
    leaves double precision there is refused when the model is built."""
    with pytest.raises(ValueError, match="data's scale|internal scale"):
        fg.Model("real_ideo ~ partyid7 + (1|state)", fg.datasets.load("nes2000"),
                 priors=priors)


def test_a_slope_prior_beyond_the_likelihood_is_named():
    """A slope's prior that puts the linear predictor out of reach names that slope: the
    intercept (checked first) was blamed with its default prior, which the user never
    gave."""
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(5, 1, 50), "y": rng.integers(0, 2, 50)})
    with pytest.raises(ValueError, match=r"prior Normal\(1e\+07, 1\) of 'x' holds it"):
        fg.Model("y ~ x", data.assign(y=data.x + rng.normal(size=50)),
                 priors={"x": fg.Normal(1e7, 1)})
    # 300 on the logit scale alone, but 1,500 at mean(x) = 5, where the sampler centres x
    with pytest.raises(ValueError, match=r"priors of 'x' and 'Intercept' hold the linear "
                                         r"predictor at the predictors' means .*beyond 700"):
        fg.Model("y ~ x", data, family="bernoulli", priors={"x": fg.Normal(300, 1)})
    with pytest.raises(ValueError, match=r"prior Normal\(3000, 1\) of 'Intercept' holds it"):
        fg.Model("y ~ x", data, family="bernoulli", priors={"Intercept": fg.Normal(3000, 1)})


def test_prior_keys_are_matched_whatever_their_whitespace(sleep):
    wanted = {"1 + Days|Subject": fg.InvWishart(3, [1000.0, 100.0]), "Days": fg.Normal(0, 10),
              "sigma": fg.HalfCauchy(20.0)}
    written = {"1 + Days | Subject": wanted["1 + Days|Subject"], " Days ": wanted["Days"],
               "sigma\t": wanted["sigma"]}
    model = fg.Model(SLEEP, sleep, priors=written)
    for key, prior in wanted.items():
        assert model.priors[key] == prior
    nes = fg.Model("real_ideo ~ partyid7 + (1|state)", fg.datasets.load("nes2000"),
                   priors={"1 | state ": fg.InvGamma(1, 1)})
    assert nes.priors["1|state"] == fg.InvGamma(1, 1)


def test_unknown_and_duplicate_prior_keys_are_refused(sleep):
    with pytest.raises(ValueError, match=r"unknown prior key 'Dayz'; valid keys: Intercept, Days"):
        fg.Model(SLEEP, sleep, priors={"Dayz": fg.Normal(0, 1)})
    with pytest.raises(ValueError, match="two prior keys name 'Days'"):
        fg.Model(SLEEP, sleep, priors={"Days": fg.Normal(0, 1), " Days": fg.Normal(0, 2)})
    with pytest.raises(TypeError, match="prior keys must be strings"):
        fg.Model(SLEEP, sleep, priors={1: fg.Normal(0, 1)})


def test_keys_that_differ_only_in_whitespace_are_ambiguous():
    from fastgibbs.priors import normalise_keys
    valid = {"g[a b]": None, "g[ab]": None}
    assert normalise_keys({"g[a b]": 1}, valid) == {"g[a b]": 1}
    with pytest.raises(ValueError, match="ambiguous"):
        normalise_keys({"g[a  b]": 1}, valid)


def test_matrix_priors_keep_their_own_copy_of_the_scale():
    """InvWishart and HuangWand kept the caller's float array itself: changing it after
    (a loop filling one array) changed every prior made from it."""
    S, made = np.eye(2), []
    for s in (1.0, 2.0):
        S[0, 0] = s
        made.append(fg.InvWishart(3, S))
    assert [p.scale[0, 0] for p in made] == [1.0, 2.0]
    A, half_t = np.array([1.0, 2.0]), []
    for a in (1.0, 5.0):
        A[0] = a
        half_t.append(fg.HuangWand(2, A))
    assert [p.scale[0] for p in half_t] == [1.0, 5.0]
    with pytest.raises(ValueError, match="read-only"):
        made[0].scale[0, 0] = -1.0


def test_a_prior_on_a_dropped_aliased_column_says_so():
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x": rng.normal(size=30)})
    data["x2"], data["y"] = 2 * data["x"], data["x"] + rng.normal(size=30)
    with pytest.warns(UserWarning, match="x2"):
        with pytest.raises(ValueError, match=r"'x2', which was dropped as aliased.*Valid "
                                             r"keys: Intercept, x, sigma"):
            fg.Model("y ~ x + x2", data, priors={"x2": fg.Normal(0, 1)})


@pytest.fixture
def counts():
    rng = np.random.default_rng(3)
    x = rng.normal(size=120)
    return pd.DataFrame({"x": x, "y": rng.poisson(np.exp(1.0 + 0.3 * x)),
                         "z": x + rng.standard_t(4, size=x.size)})


@pytest.mark.parametrize("family, formula, key, prior, where", [
    # mean 2e14: alpha stuck at exp(30) = 1.07e13 (its posterior follows the prior there,
    # where the likelihood is the Poisson's)
    ("negativebinomial", "y ~ x", "alpha", fg.Gamma(2.0, 1e-14), "above exp"),
    ("negativebinomial", "y ~ x", "alpha", fg.Gamma(1.0, 1e20), "below exp"),
    ("t", "z ~ x", "nu", fg.Gamma(1.0, 1e-14), "above exp"),
    ("t", "z ~ x", "nu", fg.Gamma(1.0, 1e16), "below exp"),
])
def test_dispersion_priors_beyond_the_samplers_range_are_refused(counts, family, formula,
                                                                  key, prior, where):
    """log alpha and log nu are slice-sampled in [-30, 30]: a prior whose posterior
    would be cut off there is refused before sampling, naming the key and the prior."""
    with pytest.raises(ValueError, match=rf"prior {re.escape(str(prior))} on '{key}' "
                                         rf"puts a fraction .* {where}.*\[-30, 30\]"):
        fg.Model(formula, counts, family=family, priors={key: prior})


@pytest.mark.parametrize("family, formula, priors", [
    ("negativebinomial", "y ~ x", None),                        # Gamma(0.01, 0.01)
    ("negativebinomial", "y ~ x", {"alpha": fg.Gamma(0.001, 0.001)}),
    ("t", "z ~ x", None),                                       # Gamma(2, 0.1)
    ("t", "z ~ x", {"nu": 1e20}),                               # fixed: not sampled
])
def test_common_dispersion_priors_are_kept(counts, family, formula, priors):
    """Gamma(0.01, 0.01) has 71% of its mass below exp(-30), but the likelihood of a
    single positive count (which vanishes like alpha there) leaves 7e-16: kept."""
    fg.Model(formula, counts, family=family, priors=priors)


def test_the_quick_concentration_check_never_accepts_a_prior_the_quantiles_refuse(monkeypatch):
    """InvGamma priors are checked against STRONG_SD_RANGE by two bounds that need no
    scipy.special (~80 ms to import) before the exact quantiles: over shapes 1e-6..1e6
    and scales 1e-300..1e300 (the kernel's scale), every prior the bounds accept is one
    the quantiles accept, and the priors users write are decided by the bounds."""
    from fastgibbs.samplers import problem

    def refused(a, b):
        try:
            problem._check_concentration(fg.InvGamma(a, 1.0), b, "1|g")
        except ValueError as err:
            assert "double precision" in str(err)
            return True
        return False

    # InvGamma(0.001, 0.001) and InvGamma(1, 1) for data sds 1e-3 ... 1e4, InvGamma(2, 0.5)
    for y_scale in (1e-3, 1.0, 1.4, 1e4):
        for a, scale in ((0.001, 0.001), (1.0, 1.0), (2.0, 0.5), (0.01, 0.01)):
            assert problem._surely_reaches_range(a, scale / y_scale ** 2), (a, scale, y_scale)
    quick = {(a, b): problem._surely_reaches_range(a, b)
             for a in np.geomspace(1e-6, 1e6, 49) for b in np.geomspace(1e-300, 1e300, 601)}
    monkeypatch.setattr(problem, "_surely_reaches_range", lambda a, b: False)
    exact = {key: refused(*key) for key in quick}
    assert not any(quick[key] and exact[key] for key in quick)
    assert sum(exact.values()) > 1000 and sum(quick.values()) > 100
