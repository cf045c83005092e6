"""The matrix half-t prior of Huang & Wand (2013) for correlated group terms
(fg.HuangWand, the default of ``(1 + x | g)``).

Checks: validation of its arguments; the default (half-t(2) sds with the scales of
``||``); draws from the prior (the simulator of Model.simulate) against the exact
half-t and uniform-correlation marginals; Geweke joint-distribution tests of the
kernel's inverse-Wishart + auxiliary step on the correlated-slopes structure of the
model matrix (gaussian and bernoulli), with a planted bug for power; agreement with
the plain reference sampler on the gaussian correlated-slopes dataset; saved fits and
printing; and the issue-14 example (``|`` and ``||`` agree on sleepstudy).
"""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.priors import default_priors, resolve_priors
from fastgibbs.simulate import _draw_huang_wand

import matrix
from geweke import QUICK, Geweke, assert_geweke
from stats import z_threshold
from test_model_matrix import _geweke_design


# ---- the prior object ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"nu": 0}, "HuangWand nu"), ({"nu": -1.0}, "HuangWand nu"),
    ({"nu": float("inf")}, "HuangWand nu"), ({"nu": float("nan")}, "HuangWand nu"),
    ({"scale": 0.0}, "HuangWand scale"), ({"scale": [1.0, -2.0]}, "HuangWand scale"),
    ({"scale": [1.0, np.inf]}, "HuangWand scale"), ({"scale": [[1.0, 2.0]]}, "HuangWand scale"),
    ({"scale": []}, "HuangWand scale"),
    # beyond nu = 100 the sampler barely moves (sleepstudy: sds 3x off at 1e5)
    ({"nu": 101.0}, r"HuangWand nu must be at most 100.*\(x \|\| g\)"), ({"nu": 1e8}, "at most 100"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fg.HuangWand(**kwargs)


@pytest.mark.parametrize("kwargs", [{"nu": "2"}, {"nu": True}, {"scale": "1"},
                                    {"scale": ["a", "b"]}])
def test_wrong_types_are_type_errors(kwargs):
    with pytest.raises(TypeError, match="HuangWand"):
        fg.HuangWand(**kwargs)


def _sleep_design(bar="|"):
    data = fg.datasets.load("sleepstudy")
    return build_design(f"Reaction ~ Days + (1 + Days {bar} Subject)", data)


def test_default_for_correlated_terms_uses_the_scales_of_double_bar():
    corr, diag = default_priors(_sleep_design("|")), default_priors(_sleep_design("||"))
    prior = corr["1 + Days|Subject"]
    assert isinstance(prior, fg.HuangWand) and prior.nu == 2.0
    np.testing.assert_allclose(prior.scale, [diag["1|Subject"].scale, diag["Days|Subject"].scale])


def test_user_priors_scale_defaults_and_inverse_wishart():
    design = _sleep_design()
    key = "1 + Days|Subject"
    default = default_priors(design)[key]
    assert resolve_priors(design, {key: fg.HuangWand(nu=4)})[key] == \
        fg.HuangWand(nu=4, scale=default.scale)
    assert resolve_priors(design, {key: fg.HuangWand(scale=3.0)})[key] == \
        fg.HuangWand(nu=2, scale=[3.0, 3.0])
    iw = fg.InvWishart(3, [1.0, 2.0])
    assert resolve_priors(design, {key: iw})[key] is iw
    with pytest.raises(ValueError, match=r"HuangWand scale for '1 \+ Days\|Subject'"):
        resolve_priors(design, {key: fg.HuangWand(scale=[1.0, 2.0, 3.0])})
    with pytest.raises(TypeError, match="fg.HuangWand or fg.InvWishart"):
        resolve_priors(design, {key: fg.HalfCauchy(1.0)})


def test_printing():
    prior = fg.HuangWand(nu=2, scale=[56.17207, 19.5566])
    assert repr(prior) == "HuangWand(nu=2.0, scale=[56.17207, 19.5566])"
    assert str(prior) == "HuangWand(nu=2, scale=[56.17, 19.56])"
    assert repr(fg.HuangWand()) == "HuangWand(nu=2.0)"
    assert eval(repr(prior), {"HuangWand": fg.HuangWand}) == prior


# ---- draws from the prior -----------------------------------------------------------
@pytest.mark.parametrize("nu", [2.0, 5.0])
def test_prior_draws_have_half_t_sds_and_uniform_correlations(nu):
    """Huang & Wand (2013) eq. 3: sqrt(Sigma_cc) ~ half-t(nu, A_c); at nu = 2 each
    correlation ~ U(-1, 1). KS tests at level 1e-4 (fixed seed) on 6000 draws."""
    rng = np.random.default_rng(7)
    prior = fg.HuangWand(nu=nu, scale=[0.5, 3.0, 20.0])
    cov = np.array([_draw_huang_wand(prior, rng) for _ in range(6000)])
    sds = np.sqrt(np.einsum("nii->ni", cov))
    for c, A in enumerate(prior.scale):
        p = sps.kstest(sds[:, c] / A, lambda x: 2 * sps.t.cdf(x, nu) - 1).pvalue
        assert p > 1e-4, (c, p)
    if nu == 2.0:
        corr = cov[:, 0, 1] / (sds[:, 0] * sds[:, 1])
        assert sps.kstest(corr, sps.uniform(-1, 2).cdf).pvalue > 1e-4


def test_model_simulate_draws_from_the_prior():
    """Model.simulate's parameters come from the HuangWand prior: the median sd is
    A_c times the half-t(2) median, 0.8165 (within 4 binomial sds on 600 draws)."""
    data = fg.datasets.load("sleepstudy")
    model = fg.Model("Reaction ~ Days + (1 + Days | Subject)", data,
                     priors={"1 + Days|Subject": fg.HuangWand(nu=2, scale=[10.0, 2.0])})
    sims = model.simulate(n=600, seed=3)
    median = sps.t.ppf(0.75, 2)
    for name, A in (("1|Subject_sigma", 10.0), ("Days|Subject_sigma", 2.0)):
        below = np.mean([s["params"][name] < A * median for s in sims])
        assert abs(below - 0.5) < 4 * 0.5 / np.sqrt(600), (name, below)
    corr = [s["params"]["1|Subject~Days|Subject_corr"] for s in sims]
    assert -1 < min(corr) and max(corr) < 1


# ---- the kernel: Geweke ---------------------------------------------------------------
def _hw_priors(design, **hw):
    priors = matrix.geweke_priors(design)
    key = design.blocks[0].covariance_key
    priors[key] = fg.HuangWand(**dict({"nu": 4.0, "scale": [0.8, 0.5]}, **hw))
    return priors, key


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_geweke_correlated_slopes(family):
    design = _geweke_design(family, "corr_slope_crossed")
    assert design.blocks[0].correlated
    priors, _ = _hw_priors(design)
    n = 3000 if QUICK else 6000
    assert_geweke(Geweke(design, priors).z_scores(n=n), f"{family} HuangWand")


@pytest.mark.slow
@pytest.mark.statistical
def test_geweke_default_nu_2():
    """nu = 2 (the default): heavier sd tails, so a longer chain."""
    design = _geweke_design("gaussian", "corr_slope_crossed")
    priors, _ = _hw_priors(design, nu=2.0)
    n = 6000 if QUICK else 20000
    assert_geweke(Geweke(design, priors).z_scores(n=n), "gaussian HuangWand nu=2")


@pytest.mark.statistical
def test_geweke_catches_a_planted_bug():
    """The kernel told scales 4 times too small for the slope: the test must fail."""
    design = _geweke_design("gaussian", "corr_slope_crossed")
    priors, key = _hw_priors(design)
    wrong = dict(priors, **{key: fg.HuangWand(nu=4.0, scale=[0.8, 0.125])})
    z = Geweke(design, priors, kernel_priors=wrong).z_scores(n=3000)
    assert np.max(np.abs(z)) > z_threshold(len(z)), np.round(z, 2)


# ---- fits -------------------------------------------------------------------------------
def test_saved_fit_round_trip(tmp_path):
    data = fg.datasets.load("sleepstudy")
    fit = fg.fit("Reaction ~ Days + (1 + Days | Subject)", data, chains=2, warmup=200,
                 draws=200, seed=5)
    prior = fit.priors["1 + Days|Subject"]
    assert isinstance(prior, fg.HuangWand)
    loaded = fg.load(fit.save(tmp_path / "sleep"))
    assert loaded.priors == fit.priors
    np.testing.assert_array_equal(loaded.draws(), fit.draws())


def test_double_bar_and_bar_agree_on_sleepstudy():
    """Issue 14: with the old InvWishart(3, diag(s^2)) default the Days sd was 7.8
    with | against 6.5 with ||; the Huang-Wand default brings them together. Both
    posterior means within 0.35 (about 4 MCSE of their difference at these draws)."""
    data = fg.datasets.load("sleepstudy")
    sd = {}
    for bar in ("|", "||"):
        fit = fg.fit(f"Reaction ~ Days + (1 + Days {bar} Subject)", data, chains=2,
                     warmup=500, draws=1000, seed=11)
        sd[bar] = float(fit.draws("Days|Subject_sigma").mean())
    assert abs(sd["|"] - sd["||"]) < 0.35, sd


# ---- the kernel: agreement with the reference sampler -------------------------------
HW_REFERENCES = Path(__file__).parent / "data" / "huang_wand_references.json"


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_agrees_with_reference_on_correlated_slopes(family):
    """The correlated-slopes datasets of the model matrix under HuangWand(2, [1, 0.7]):
    every posterior mean and sd within the Bonferroni z-limit of the plain
    random-walk Metropolis reference (tests/make_huang_wand_references.py, whose log
    density integrates the auxiliaries out), standard errors from both MCSEs."""
    from make_huang_wand_references import STRUCTURE, priors

    ref = json.loads(HW_REFERENCES.read_text())[f"{family}:{STRUCTURE}"]["parameters"]
    data = matrix.load_reference_dataset(family, STRUCTURE)
    formula = matrix.formula(family, STRUCTURE)
    design = build_design(formula, data, **matrix.family_kwargs(family))
    fit = fg.fit(formula, data, priors=priors(design), **matrix.family_kwargs(family),
                 chains=4, warmup=1000, draws=1500 if QUICK else 4000, seed=20261201)
    names = list(ref)
    assert names == list(fit.names)
    x = np.stack([fit.draws(n) for n in names], axis=-1)
    mean, sd = x.mean(axis=(0, 1)), x.reshape(-1, len(names)).std(axis=0)
    se_mean = np.hypot(diagnostics.mcse_mean(x), [ref[n]["mcse_mean"] for n in names])
    se_sd = np.hypot(diagnostics.mcse_sd(x), [ref[n]["mcse_sd"] for n in names])
    z = np.concatenate([(mean - [ref[n]["mean"] for n in names]) / se_mean,
                        (sd - [ref[n]["sd"] for n in names]) / se_sd])
    worst = int(np.argmax(np.abs(z)))
    assert np.abs(z).max() < z_threshold(len(z)), ((names * 2)[worst], z[worst])
