"""The Student-t family (``family="t"``): y = eta + sigma e, e ~ t_nu, sampled as a
scale mixture of normals (weights lambda ~ Gamma) with nu by slice sampling.

- Geweke joint-distribution tests of the kernel with nu fixed, and a planted bug (a
  wrong prior on nu) that they must catch; the Geweke tests with nu estimated on
  every random-effect structure, and the agreement with the reference sampler, are
  the t cells of the model matrix (tests/matrix.py, tests/test_model_matrix.py);
- robustness: with planted outliers the t fit recovers the slope that the gaussian
  fit misses (both fits seeded; the truth must be inside the t fit's 95% interval and
  outside the gaussian fit's);
- bad input: nu <= 0, nu of the wrong type, a prior key of nu's that is not a Gamma.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.design import build_design

import matrix
from geweke import QUICK, Geweke, assert_geweke
from stats import z_threshold


def _design(structure, seed, family=None):
    rng = np.random.default_rng(700 + seed)
    data = matrix.layout(matrix.STRUCTURES[structure][1], 3, rng)
    data = matrix.placeholder_response(data, "t", rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_design(matrix.formula("t", structure), data,
                            family=family if family is not None else "t")


@pytest.mark.statistical
def test_geweke_with_nu_fixed():
    from fastgibbs.families import get_family
    design = _design("crossed2", 20, family=get_family("t", nu=3.0))
    assert design.family.dispersion == ("sigma",)
    priors = {k: v for k, v in matrix.geweke_priors(design).items() if k != "nu"}
    assert_geweke(Geweke(design, priors).z_scores(), "t (nu = 3) x crossed2")


@pytest.mark.statistical
def test_geweke_catches_a_planted_bug():
    design = _design("one_factor", 0)
    priors = matrix.geweke_priors(design)
    wrong = dict(priors, nu=fg.Gamma(8.0, 1.0))
    z = Geweke(design, priors, kernel_priors=wrong).z_scores()
    assert np.max(np.abs(z)) > z_threshold(len(z)), np.round(z, 2)


def _outlier_data():
    rng = np.random.default_rng(14)
    n, J = 300, 15
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + 0.5 * rng.normal(size=J)[g] + 0.3 * rng.normal(size=n)
    # 5% gross outliers at large x, pulling a least-squares slope down
    bad = np.argsort(x)[-15:]
    y[bad] -= 8.0
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


@pytest.mark.statistical
def test_outliers_pull_the_gaussian_slope_but_not_the_t_slope():
    data = _outlier_data()
    kw = dict(chains=2, warmup=500, draws=1000, seed=3)
    t = fg.fit("y ~ x + (1 | g)", data, family="t", **kw)
    gauss = fg.fit("y ~ x + (1 | g)", data, **kw)
    lo_t, hi_t = np.quantile(t.draws("x"), [0.025, 0.975])
    lo_g, hi_g = np.quantile(gauss.draws("x"), [0.025, 0.975])
    assert lo_t < 0.5 < hi_t, (lo_t, hi_t)
    assert hi_g < 0.5, (lo_g, hi_g)
    assert t.draws("nu").mean() < 5          # heavy tails detected
    assert t.summary()["r_hat"].max() < 1.05


def test_fixed_nu_is_not_sampled_and_is_kept():
    data = _outlier_data().iloc[:80]
    fit = fg.fit("y ~ x + (1 | g)", data, family="t", priors={"nu": 4},
                 chains=1, warmup=100, draws=100, seed=1)
    assert "nu" not in fit.names and "sigma" in fit.names
    assert fit.family_options == {"nu": 4.0}
    assert fit.family_object().nu == 4.0
    assert "t" in str(fit)


def test_fixed_nu_key_may_carry_whitespace_as_every_prior_key():
    # " nu" was read as a prior on nu and refused: "must be fg.Gamma ... got 4"
    data = _outlier_data().iloc[:50]
    for key in (" nu", "nu ", " n u "):
        model = fg.Model("y ~ x + (1 | g)", data, family="t", priors={key: 4})
        assert model.family.nu == 4.0 and "nu" not in model.names


@pytest.mark.parametrize("nu,error,match", [
    (0, ValueError, "nu"), (-2.0, ValueError, "nu"), (float("inf"), ValueError, "nu"),
    (True, TypeError, "nu"), ("4", TypeError, "nu"),
])
def test_bad_nu(nu, error, match):
    data = _outlier_data().iloc[:50]
    with pytest.raises(error, match=match):
        fg.Model("y ~ x + (1 | g)", data, family="t", priors={"nu": nu})


def test_one_observation_per_level_is_refused_as_for_gaussian():
    data = _outlier_data().iloc[:40].reset_index(drop=True)
    data["obs"] = [f"o{i}" for i in range(len(data))]
    with pytest.raises(ValueError, match="one observation per level"):
        fg.Model("y ~ x + (1 | obs)", data, family="t")


def test_fractional_weights_are_refused():
    data = _outlier_data().iloc[:40]
    with pytest.raises(ValueError, match="whole numbers"):
        fg.Model("y ~ x + (1 | g)", data, family="t", weights=np.full(40, 0.5))


def test_model_checking_uses_the_t_density():
    from scipy import stats
    data = _outlier_data().iloc[:60]
    fit = fg.fit("y ~ x + (1 | g)", data, family="t", chains=1, warmup=100, draws=50, seed=4)
    eta = fit.predict(kind="link", summary=False)
    sigma, nu = fit.draws("sigma").reshape(-1, 1), fit.draws("nu").reshape(-1, 1)
    np.testing.assert_allclose(
        fit.log_likelihood().reshape(eta.shape),
        stats.t.logpdf(data["y"].to_numpy(), nu, loc=eta, scale=sigma), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.predict(data, kind="mean", summary=False), eta)
    var = fit.family_object().variance(eta, {"sigma": sigma, "nu": nu})
    np.testing.assert_allclose(var, np.broadcast_to(
        np.where(nu > 2, sigma ** 2 * nu / (nu - 2), np.inf), eta.shape))
