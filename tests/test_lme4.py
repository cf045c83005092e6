"""lme4-style answers: fixef, ranef, coef, VarCorr, icc, predict, and the printout."""
import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg


@pytest.fixture(scope="module")
def sleep_fit():
    return fg.fit("Reaction ~ Days + (1 + Days | Subject)", fg.datasets.load("sleepstudy"),
                  chains=2, warmup=300, draws=600, seed=11)


@pytest.fixture(scope="module")
def nes_fit():
    return fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", fg.datasets.load("nes2000"),
                  chains=2, warmup=300, draws=600, seed=11)


def test_fixef_and_se_are_posterior_means_and_sds(sleep_fit):
    d = sleep_fit.draws("Days")
    assert sleep_fit.fixef()["Days"] == pytest.approx(d.mean())
    assert sleep_fit.se_fixef()["Days"] == pytest.approx(d.std())
    assert list(sleep_fit.fixef().index) == ["Intercept", "Days"]


def test_ranef_tables_by_factor(sleep_fit):
    ranef = sleep_fit.ranef()["Subject"]
    assert list(ranef.columns) == ["Intercept", "Days"]
    assert ranef.index[0] == "308" and len(ranef) == 18
    d = sleep_fit.draws("Days|Subject")
    np.testing.assert_allclose(ranef["Days"], d.reshape(-1, 18).mean(axis=0))
    np.testing.assert_allclose(sleep_fit.se_ranef()["Subject"]["Days"], d.reshape(-1, 18).std(axis=0))


def test_coef_is_fixef_plus_ranef(sleep_fit):
    coef = sleep_fit.coef()["Subject"]
    expected = sleep_fit.ranef()["Subject"] + sleep_fit.fixef()
    np.testing.assert_allclose(coef, expected[coef.columns])


def test_coef_keeps_fixed_effects_that_do_not_vary(nes_fit):
    coef = nes_fit.coef()["state"]
    assert list(coef.columns) == ["Intercept", "partyid7"]
    assert coef["partyid7"].nunique() == 1



def test_coef_keeps_group_effects_without_a_fixed_effect():
    """lme4's coef: a column that varies by group but has no fixed effect (beta 0)
    comes first, its values the group effects themselves."""
    sleep = fg.datasets.load("sleepstudy")
    fit = fg.fit("Reaction ~ 1 + (Days | Subject)", sleep, chains=2, warmup=100, draws=100,
                 seed=1)
    coef, ranef = fit.coef()["Subject"], fit.ranef()["Subject"]
    assert list(coef.columns) == ["Days", "Intercept"]
    np.testing.assert_allclose(coef["Days"], ranef["Days"])
    np.testing.assert_allclose(coef["Intercept"], ranef["Intercept"] + fit.fixef()["Intercept"])


def test_summary_refuses_repeated_or_bad_probs_and_empty_pars(sleep_fit):
    with pytest.raises(ValueError, match="same quantile column twice"):
        sleep_fit.summary(probs=(0.5, 0.5), quantile_mcse=True)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        sleep_fit.summary(probs=(0.5, 2))
    with pytest.raises(ValueError, match="selects no parameters"):
        sleep_fit.summary(pars=[])
    assert list(sleep_fit.summary(probs=0.5).columns[3:4]) == ["50%"]

def test_varcorr(sleep_fit):
    vc = sleep_fit.VarCorr()
    assert vc.loc[("Subject", "Days"), "Std.Dev."] == pytest.approx(
        sleep_fit.draws("Days|Subject_sigma").mean())
    assert vc.loc[("Subject", "Days"), "Corr Intercept"] == pytest.approx(
        sleep_fit.draws("1|Subject~Days|Subject_corr").mean())
    assert ("Residual", "") in vc.index
    lo, hi = vc.loc[("Subject", "Intercept"), ["Std.Dev. 2.5%", "Std.Dev. 97.5%"]]
    assert lo < vc.loc[("Subject", "Intercept"), "Std.Dev."] < hi


def test_icc_gaussian(nes_fit):
    icc = nes_fit.icc()
    tau = nes_fit.draws("1|state_sigma").ravel()
    sigma = nes_fit.draws("sigma").ravel()
    assert icc.loc["state", "icc"] == pytest.approx(np.mean(tau ** 2 / (tau ** 2 + sigma ** 2)))
    assert 0 < icc.loc["state", "2.5%"] < icc.loc["state", "icc"] < icc.loc["state", "97.5%"] < 1


def test_predict_known_new_and_population_levels(sleep_fit):
    new = pd.DataFrame({"Days": [0.0, 9.0, 9.0], "Subject": ["308", "308", "not-seen"]})
    pred = sleep_fit.predict(new, seed=1)
    assert list(pred.columns) == ["mean", "sd", "2.5%", "50%", "97.5%"]
    coef = sleep_fit.coef()["Subject"].loc["308"]
    # known level: centred on that subject's line (within a few MC errors)
    assert pred.loc[1, "mean"] == pytest.approx(coef["Intercept"] + 9 * coef["Days"], abs=3.0)
    # a new level carries the group variation as well: wider than a known level
    assert pred.loc[2, "sd"] > pred.loc[1, "sd"]
    population = sleep_fit.predict(new, include_group=False, seed=1)
    fixef = sleep_fit.fixef()
    assert population.loc[2, "mean"] == pytest.approx(fixef["Intercept"] + 9 * fixef["Days"], abs=3.0)
    draws = sleep_fit.predict(new, summary=False, seed=1)
    assert draws.shape == (2 * 600, 3)


def test_population_predictions_need_no_grouping_columns(sleep_fit):
    with_groups = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["308", "new"]})
    without = with_groups[["Days"]]
    np.testing.assert_array_equal(
        sleep_fit.predict(without, include_group=False, summary=False, seed=3),
        sleep_fit.predict(with_groups, include_group=False, summary=False, seed=3))
    with pytest.raises(ValueError, match="Subject"):
        sleep_fit.predict(without)                       # group effects need the column


@pytest.mark.parametrize("kwargs,error,message", [
    ({"newdata": "head0"}, ValueError, "newdata has no rows"),
    ({"probs": (1.5,)}, ValueError, r"probs must be probabilities in \[0, 1\]"),
    ({"seed": -1}, ValueError, "seed must be"),
    ({"include_group": "no"}, TypeError, "include_group must be True or False"),
    ({"summary": None}, TypeError, "summary must be True or False"),
    ({"newdata": "text_days"}, ValueError, "cannot evaluate the fixed effects on newdata"),
])
def test_predict_arguments_are_checked(sleep_fit, kwargs, error, message):
    data = fg.datasets.load("sleepstudy")
    frames = {"head0": data.head(0), "text_days": data.head(2).assign(Days=["a", "b"])}
    kwargs = {"newdata": data.head(2), **kwargs}
    kwargs["newdata"] = frames.get(kwargs["newdata"], kwargs["newdata"]) \
        if isinstance(kwargs["newdata"], str) else kwargs["newdata"]
    with pytest.raises(error, match=message):
        sleep_fit.predict(**kwargs)


def test_predict_takes_a_generator_as_seed(sleep_fit):
    new = fg.datasets.load("sleepstudy").head(3)
    np.testing.assert_array_equal(
        sleep_fit.predict(new, summary=False, seed=np.random.default_rng(5)),
        sleep_fit.predict(new, summary=False, seed=5))


def test_predict_defaults_to_fitted_data(nes_fit):
    assert len(nes_fit.predict(seed=0)) == nes_fit.n_obs


def test_predict_bad_newdata(sleep_fit):
    with pytest.raises(ValueError, match="Subject"):
        sleep_fit.predict(pd.DataFrame({"Days": [1.0]}))
    with pytest.raises(ValueError, match="Days"):
        sleep_fit.predict(pd.DataFrame({"Subject": ["308"]}))



def test_predict_names_a_column_only_a_slope_reads():
    """A column read only by a group term's left-hand side, missing from newdata, was a
    bare KeyError('w') from inside formulae."""
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=60), "w": rng.choice(list("pqr"), 60),
                         "g": np.repeat(list("abcdef"), 10), "y": rng.normal(size=60)})
    fit = fg.fit("y ~ x + (0 + w | g)", data, chains=1, warmup=5, draws=5, seed=1)
    with pytest.raises(ValueError, match=r"newdata lacks column 'w'.*\(0 \+ w \| g\)"):
        fit.predict(pd.DataFrame({"x": [1.0], "g": ["a"]}), seed=1)
    assert len(fit.predict(pd.DataFrame({"x": [1.0]}), include=None)) == 1

def test_print_reads_like_lme4(sleep_fit):
    text = str(sleep_fit)
    for piece in ["Formula: Reaction ~ Days + (1 + Days | Subject)", "Family: gaussian",
                  "180 observations", "Subject, 18", "Random effects", "Residual",
                  "Corr Intercept", "Fixed effects", "Estimate", "Est.Error", "l-95% CI",
                  "Sampler: 2 chains x (300 warmup + 600 draws)", "worst R-hat"]:
        assert piece in text, piece


def test_varcorr_variance_is_the_square_of_the_sd(sleep_fit, nes_fit):
    for fit in (sleep_fit, nes_fit):
        vc = fit.VarCorr()
        np.testing.assert_allclose(vc["Variance"], vc["Std.Dev."] ** 2, rtol=1e-15)


def test_print_says_what_the_random_effects_table_shows(nes_fit):
    text = str(nes_fit)
    assert "Std.Dev.: posterior mean of the sd, with its 95% interval" in text
    assert "Variance = Std.Dev.^2" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    variance, sd = float(rows["state"][2]), float(rows["state"][3])
    assert variance == pytest.approx(sd ** 2, rel=1e-3)       # both printed to 4 digits


def test_print_interval_headers_name_the_interval_level(nes_fit):
    text = str(nes_fit)
    assert "l-95% CI" in text and "u-95% CI" in text
    assert "2.5% CI" not in text and "97.5% CI" not in text


@pytest.mark.parametrize("which", ["sleep", "nes"])
def test_print_shows_each_parameter_once(sleep_fit, nes_fit, which):
    fit = {"sleep": sleep_fit, "nes": nes_fit}[which]
    labels = [line.split()[0] for line in str(fit).splitlines() if line.strip()]
    for name in fit.fixed_names + ("1|Subject~Days|Subject_corr",) * (which == "sleep"):
        assert labels.count(name) == 1, name


def test_exam_varying_slopes_converge():
    fit = fg.fit("normexam ~ standLRT + schavg + (standLRT | school)", fg.datasets.load("exam"),
                 chains=4, warmup=500, draws=1000, seed=2)
    assert fit.summary()["r_hat"].max() < 1.01
    assert fit.n_groups == {"school": 65}


def test_summary_with_quantile_mcse(nes_fit):
    from fastgibbs import diagnostics
    table = nes_fit.summary(quantile_mcse=True)
    assert list(table.columns) == ["mean", "mcse_mean", "sd", "2.5%", "50%", "97.5%",
                                   "mcse_2.5%", "mcse_50%", "mcse_97.5%", "ess_bulk",
                                   "ess_tail", "r_hat"]
    d = nes_fit.draws("sigma")
    assert table.loc["sigma", "mcse_97.5%"] == pytest.approx(diagnostics.mcse_quantile(d, 0.975))
    assert "mcse_50%" not in nes_fit.summary().columns
