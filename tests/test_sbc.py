"""Simulation-based calibration: the ECDF test itself, then SBC of the samplers.

SBC verdicts use the family-wise level of each call (``alpha``, Bonferroni over the
quantities); with the fixed seeds below every outcome is deterministic. The slow
tier runs 1,000 simulations per model (``pytest -m slow``).
"""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import fastgibbs as fg
from fastgibbs.sbc import (_band_limits, _counts, _stay_probability, _tables, ecdf_band,
                           ecdf_uniformity_test)

from stats import ALPHA


# ----------------------------------------------------------------------------------
# The ECDF uniformity test
# ----------------------------------------------------------------------------------
def _gamma(ranks, max_rank):
    _, g = _tables(len(ranks), max_rank + 1)
    return g[np.arange(max_rank), _counts(np.asarray(ranks), max_rank)].min()


@pytest.mark.parametrize("n, max_rank", [(3, 2), (4, 3), (5, 4), (6, 2), (7, 1)])
def test_p_values_are_exact_by_enumeration(n, max_rank):
    """P(gamma' <= gamma) from the recursion equals the enumeration of all rank sets."""
    every = np.array([_gamma(r, max_rank)
                      for r in itertools.product(range(max_rank + 1), repeat=n)])
    for gamma in np.unique(every):
        lo, hi = _band_limits(_tables(n, max_rank + 1)[1], gamma)
        assert 1.0 - _stay_probability(n, lo, hi) == pytest.approx(np.mean(every <= gamma),
                                                                   abs=1e-12)


def test_band_has_its_level_for_uniform_ranks(rng):
    """Uniform ranks leave the 1 - level band at rate <= level (and not far below:
    the band is simultaneous, not Bonferroni over the points)."""
    n, max_rank, level, reps = 100, 49, 0.05, 4000
    z, lower, upper = ecdf_band(n, max_rank, level)
    ecdf = np.array([_counts(rng.integers(0, max_rank + 1, n), max_rank) / n
                     for _ in range(reps)])
    outside = np.mean(((ecdf < lower - 1e-12) | (ecdf > upper + 1e-12)).any(axis=1))
    assert binom.ppf(ALPHA / 2, reps, 0.035) / reps <= outside
    assert outside <= binom.isf(ALPHA / 2, reps, level) / reps


def test_test_rejects_exactly_outside_the_band(rng):
    n, max_rank, level = 60, 19, 0.05
    z, lower, upper = ecdf_band(n, max_rank, level)
    for _ in range(200):
        ranks = np.minimum(rng.integers(0, max_rank + 1, n) + rng.integers(0, 3, n), max_rank)
        ecdf = _counts(ranks, max_rank) / n
        inside = bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12)))
        assert inside == (ecdf_uniformity_test(ranks, max_rank)[0] > level)


@pytest.mark.parametrize("shape", ["cup", "shift"])
def test_non_uniform_ranks_are_rejected(rng, shape):
    u = rng.beta(0.5, 0.5, 1000) if shape == "cup" else rng.beta(1.6, 1.0, 1000)
    ranks = np.floor(u * 101).astype(int)
    assert ecdf_uniformity_test(ranks, 100)[0] < 1e-4


def test_rank_checks():
    with pytest.raises(ValueError, match="integers"):
        ecdf_uniformity_test([0, 1.5], 3)
    with pytest.raises(ValueError, match="integers"):
        ecdf_uniformity_test([0, 4], 3)
    with pytest.raises(ValueError, match="no ranks"):
        ecdf_uniformity_test([np.nan], 3)


# ----------------------------------------------------------------------------------
# SBC of the samplers
# ----------------------------------------------------------------------------------
INFORMATIVE = {"Intercept": fg.Normal(0, 2), "x": fg.Normal(0, 1),
               "sigma": fg.HalfCauchy(1.0), "1|g": fg.HalfCauchy(1.0)}


def _frame(n_groups, per_group, seed=7, **factors):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size),
                         "y": rng.normal(size=g.size)})
    for name, values in factors.items():
        data[name] = np.asarray(values)[: g.size].astype(str)
    return data


@pytest.fixture(scope="module")
def intercept_model():
    return fg.Model("y ~ 1 + x + (1 | g)", _frame(8, 5), priors=INFORMATIVE)


def test_small_sbc_passes(intercept_model):
    result = fg.sbc(intercept_model, n_sims=100, seed=1,
                    sample_kwargs={"chains": 2, "warmup": 300, "draws": 600}, thin=12)
    assert result.max_rank == 100
    assert result.ranks.shape == (100, len(intercept_model.names) + 1)
    assert list(result.table.index[-1:]) == ["log_lik"]
    assert result.passed, str(result)
    assert "PASS" in str(result) and "Bonferroni" in str(result)


def test_default_priors_stay_those_the_simulations_come_from():
    """Each SBC fit refits the model; a refit recomputes data-scaled default priors from
    its y, so a correct sampler failed SBC on a model with default priors (y ~ 1 + x on
    5 rows: sigma's p-value 6e-9 with 1,500 simulations, 6e-4 with 600). The fits now
    keep the model's priors, from which the simulations are drawn."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x": rng.normal(size=5)})
    data["y"] = 3 + data["x"] + rng.normal(size=5)
    model = fg.Model("y ~ 1 + x", data)
    result = fg.sbc(model, n_sims=600, thin=4, seed=5, n_jobs=1,
                    sample_kwargs={"chains": 2, "warmup": 200, "draws": 400})
    assert result.passed, str(result)
    assert model.user_priors is None                  # the caller's model is unchanged


def test_planted_bug_is_caught(intercept_model):
    """The simulator's group-sd prior is HalfCauchy(1); the sampler is given
    HalfCauchy(0.25), as if the kernel received the wrong prior scale."""
    sims = intercept_model.simulate(n=200, seed=5)
    wrong = fg.Model("y ~ 1 + x + (1 | g)", intercept_model.data,
                     priors=dict(INFORMATIVE, **{"1|g": fg.HalfCauchy(0.25)}))
    result = fg.sbc(wrong, datasets=sims, seed=1)
    assert not result.passed
    assert not result.table.loc["1|g_sigma", "passed"]
    assert result.table.loc["1|g_sigma", "p_value"] < 1e-3
    assert "FAIL" in str(result)


def test_failed_fits_fail_the_check(intercept_model):
    sims = intercept_model.simulate(n=20, seed=2)
    sims[3] = {"y": np.full(intercept_model.n_obs, np.nan), "params": sims[3]["params"]}
    result = fg.sbc(intercept_model, datasets=sims, seed=1,
                    sample_kwargs={"chains": 1, "warmup": 100, "draws": 200}, thin=10)
    assert list(result.errors.index) == [3] and not result.passed
    assert result.ranks.loc[3].isna().all() and result.ranks.drop(index=3).notna().all().all()


def test_plot_draws_one_panel_per_quantity(intercept_model):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = fg.sbc(intercept_model, n_sims=30, seed=3,
                    sample_kwargs={"chains": 1, "warmup": 100, "draws": 200}, thin=10)
    fig = result.plot(["sigma", "log_lik"])
    assert sum(ax.get_visible() for ax in fig.axes) == 2
    fig = result.plot(max_panels=4)
    assert sum(ax.get_visible() for ax in fig.axes) == 4
    assert plt.get_fignums() == []        # made without pyplot: nothing left open
    with pytest.raises(KeyError):
        result.plot(["nope"])


@pytest.mark.parametrize("kwargs", [{"thin": 0}, {"alpha": 1.5}, {"n_sims": 0},
                                    {"sample_kwargs": {"thin": 2}},
                                    {"thin": 50, "sample_kwargs": {"draws": 20}}])
def test_bad_arguments(intercept_model, kwargs):
    with pytest.raises(ValueError):
        fg.sbc(intercept_model, **kwargs)


def _slow_case(kind):
    """(formula, data, family, priors, sample_kwargs, thin) of each SBC model."""
    long = {"chains": 2, "warmup": 500, "draws": 4000}
    if kind == "intercept":
        return "y ~ 1 + x + (1 | g)", _frame(8, 5), "gaussian", None, None, 20
    if kind == "crossed":
        data = _frame(6, 6, b=np.tile(np.arange(5), 8))
        return "y ~ 1 + x + (1 | g) + (1 | b)", data, "gaussian", None, long, 80
    if kind == "nested":
        data = _frame(4, 12, b=np.repeat(np.arange(12), 4))
        return "y ~ 1 + x + (1 | g/b)", data, "gaussian", None, long, 80
    if kind == "slopes":
        return "y ~ 1 + x + (1 + x | g)", _frame(10, 6), "gaussian", None, None, 20
    data = _frame(10, 10)
    data["y"] = (np.arange(len(data)) % 2).astype(float)
    priors = {"Intercept": fg.Normal(0, 1), "x": fg.Normal(0, 1), "1|g": fg.HalfCauchy(0.5)}
    return "y ~ 1 + x + (1 | g)", data, "bernoulli", priors, None, 20


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("kind", ["intercept", "crossed", "nested", "slopes", "bernoulli"])
def test_sbc_passes(kind):
    formula, data, family, priors, sample_kwargs, thin = _slow_case(kind)
    model = fg.Model(formula, data, family=family, priors=priors)
    result = fg.sbc(model, n_sims=1000, seed=11, sample_kwargs=sample_kwargs, thin=thin)
    assert result.passed, str(result)


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["poisson", "negativebinomial"])
def test_small_sbc_of_the_count_families(family):
    """SBC for the count families (issue 13): 100 datasets from the prior of a varying-
    intercept model with a slope, fitted each, every parameter's rank uniform. (A
    half-Cauchy group sd would put some simulated means beyond exp(34), see
    test_simulated_counts_too_large_to_draw_are_refused.)"""
    data = _frame(8, 5)
    data["y"] = np.random.default_rng(3).poisson(3.0, len(data))     # replaced per dataset
    priors = {"Intercept": fg.Normal(1.0, 0.5), "x": fg.Normal(0, 0.5),
              "1|g": fg.InvGamma(3.0, 0.5)}
    if family == "negativebinomial":
        priors["alpha"] = fg.Gamma(4.0, 1.0)
    model = fg.Model("y ~ 1 + x + (1 | g)", data, family=family, priors=priors)
    result = fg.sbc(model, n_sims=100, seed=1,
                    sample_kwargs={"chains": 2, "warmup": 300, "draws": 600}, thin=12)
    assert result.passed, str(result)


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["probit", "t"])
def test_small_sbc_of_probit_and_t(family):
    """SBC for the probit link and the Student-t family (issue 14): 100 datasets from
    the prior of a varying-intercept model with a slope, fitted each, every
    parameter's rank uniform (t: nu estimated, under a light-tailed Gamma(8, 2))."""
    data = _frame(10, 6) if family == "probit" else _frame(8, 5)
    priors = {"Intercept": fg.Normal(0.0, 0.7), "x": fg.Normal(0, 0.7),
              "1|g": fg.InvGamma(3.0, 0.5)}
    if family == "probit":
        data["y"] = (np.arange(len(data)) % 2).astype(float)      # replaced per dataset
        kwargs = {"family": "bernoulli", "link": "probit"}
    else:
        priors.update(sigma=fg.InvGamma(4.0, 3.0), nu=fg.Gamma(8.0, 2.0))
        kwargs = {"family": "t"}
    model = fg.Model("y ~ 1 + x + (1 | g)", data, priors=priors, **kwargs)
    result = fg.sbc(model, n_sims=100, seed=2,
                    sample_kwargs={"chains": 2, "warmup": 300, "draws": 600}, thin=12)
    assert result.passed, str(result)


def test_simulated_counts_too_large_to_draw_are_refused():
    data = _frame(8, 5)
    data["y"] = np.random.default_rng(3).poisson(3.0, len(data))
    model = fg.Model("y ~ 1 + x + (1 | g)", data, family="poisson")
    with pytest.raises(ValueError, match="too large to draw.*params="):
        model.simulate(params={"Intercept": 40.0, "x": 0.0, "1|g_sigma": 0.1})


@pytest.mark.statistical
def test_small_sbc_of_the_huang_wand_prior():
    """SBC for the matrix half-t prior (issue 14), the default of correlated terms: 100
    datasets from the prior of a gaussian model with a correlated intercept and slope,
    every parameter's rank uniform (both sds, the correlation, the effects)."""
    data = _frame(8, 6)
    priors = {"Intercept": fg.Normal(0.0, 0.7), "x": fg.Normal(0, 0.7),
              "sigma": fg.InvGamma(4.0, 3.0),
              "1 + x|g": fg.HuangWand(nu=2.0, scale=[0.7, 0.5])}
    model = fg.Model("y ~ 1 + x + (1 + x | g)", data, priors=priors)
    result = fg.sbc(model, n_sims=100, seed=3,
                    sample_kwargs={"chains": 2, "warmup": 300, "draws": 600}, thin=12)
    assert result.passed, str(result)
