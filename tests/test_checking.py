"""Model checking: pointwise log-likelihoods against scipy densities, LOO through ArviZ,
predictions of three kinds against an independent computation of eta from the draws,
posterior predictive draws against the families' closed-form moments, residuals,
posterior predictive statistics and plots, and exact cross-validation by refits."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logsumexp

import fastgibbs as fg
from stats import assert_z

FAMILIES = ["gaussian", "bernoulli", "binomial", "poisson", "negativebinomial"]
KW = dict(chains=2, warmup=150, draws=250, seed=11)


def simulate(family, n=240, n_groups=12, seed=0):
    """Data with a covariate x, groups g (labels 'g1'..'g12'), an exposure for counts
    and trials for binomial."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    x = rng.normal(size=n)
    u = 0.5 * rng.normal(size=n_groups)
    eta = 0.3 + 0.6 * x + u[g]
    data = pd.DataFrame({"x": x, "g": [f"g{k + 1}" for k in g]})
    if family == "gaussian":
        data["y"] = eta + rng.normal(size=n)
    elif family == "bernoulli":
        data["y"] = (rng.random(n) < expit(eta)).astype(float)
    elif family == "binomial":
        data["n"] = rng.integers(1, 8, n)
        data["y"] = rng.binomial(data["n"], expit(eta))
    else:
        data["logexp"] = np.log(rng.uniform(0.5, 2.0, n))
        mu = np.exp(eta + data["logexp"])
        if family == "poisson":
            data["y"] = rng.poisson(mu)
        else:
            data["y"] = rng.poisson(rng.gamma(3.0, mu / 3.0))
    return data


def formula(family):
    lhs = "p(y, n)" if family == "binomial" else "y"
    off = " + offset(logexp)" if family in ("poisson", "negativebinomial") else ""
    return f"{lhs} ~ x + (1 | g){off}"


@pytest.fixture(scope="module")
def fits():
    out = {}
    for family in FAMILIES:
        data = simulate(family)
        out[family] = (fg.fit(formula(family), data, family=family, **KW), data)
    return out


def eta_from_draws(fit, data, groups=True):
    """(S, n) linear predictor computed directly from the named draws."""
    S = fit.n_chains * fit.n_draws
    eta = fit.draws("Intercept").reshape(S)[:, None] + \
        fit.draws("x").reshape(S)[:, None] * data["x"].to_numpy()[None, :]
    if groups:
        levels = list(fit.blocks[0].levels)
        pos = np.array([levels.index(v) for v in data["g"]])
        eta = eta + fit.draws("1|g").reshape(S, -1)[:, pos]
    if "logexp" in data:
        eta = eta + data["logexp"].to_numpy()
    return eta


def scipy_logpdf(family, fit, data, eta):
    S = eta.shape[0]
    y = data["y"].to_numpy(float)
    if family == "gaussian":
        return stats.norm.logpdf(y, eta, fit.draws("sigma").reshape(S, 1))
    if family == "bernoulli":
        return stats.bernoulli.logpmf(y, expit(eta))
    if family == "binomial":
        return stats.binom.logpmf(y, data["n"].to_numpy(), expit(eta))
    if family == "poisson":
        return stats.poisson.logpmf(y, np.exp(eta))
    alpha = fit.draws("alpha").reshape(S, 1)
    return stats.nbinom.logpmf(y, alpha, alpha / (alpha + np.exp(eta)))


def closed_form_moments(family, fit, data, eta):
    """E[y | eta] and Var[y | eta] (S, n), written out here."""
    S = eta.shape[0]
    if family == "gaussian":
        return eta, np.broadcast_to(fit.draws("sigma").reshape(S, 1) ** 2, eta.shape)
    if family in ("bernoulli", "binomial"):
        n = data["n"].to_numpy() if family == "binomial" else 1.0
        p = expit(eta)
        return n * p, n * p * (1 - p)
    mu = np.exp(eta)
    if family == "poisson":
        return mu, mu
    return mu, mu + mu ** 2 / fit.draws("alpha").reshape(S, 1)


# ---- log-likelihood ------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_log_likelihood_equals_scipy_density_at_every_draw(fits, family):
    fit, data = fits[family]
    ll = fit.log_likelihood()
    assert ll.shape == (fit.n_chains, fit.n_draws, len(data))
    expected = scipy_logpdf(family, fit, data, eta_from_draws(fit, data))
    np.testing.assert_allclose(ll.reshape(-1, len(data)), expected, rtol=1e-9, atol=1e-9)
    # the same rows given as newdata (no new levels) give the same values
    np.testing.assert_allclose(fit.log_likelihood(newdata=data), ll, rtol=1e-12)


def test_log_likelihood_per_cell_is_the_binomial_pmf_of_the_cell_totals():
    rng = np.random.default_rng(3)
    n = 300
    data = pd.DataFrame({"a": rng.choice(["p", "q", "r"], n), "g": rng.integers(0, 5, n)})
    data["y"] = (rng.random(n) < 0.4).astype(float)
    fit = fg.fit("y ~ a + (1 | g)", data, family="bernoulli", **KW)
    cells = fit.log_likelihood(pointwise="cell")
    key = data["a"] + "/" + data["g"].astype(str)
    first = ~key.duplicated()
    assert cells.shape[-1] == first.sum() == key.nunique()
    S = fit.n_chains * fit.n_draws
    rows_ll = fit.log_likelihood().reshape(S, n)
    for c, label in enumerate(key[first]):           # cells numbered by their first row
        members = (key == label).to_numpy()
        t, m = data["y"][members].sum(), members.sum()
        row = np.flatnonzero(members)[0]
        p = np.exp(rows_ll[:, row])                   # row log-lik of a 1 or a 0
        p = p if data["y"].iloc[row] == 1 else 1 - p
        np.testing.assert_allclose(cells.reshape(S, -1)[:, c], stats.binom.logpmf(t, m, p),
                                   rtol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = fit.loo(pointwise="cell")
    assert loo.n_data_points == cells.shape[-1]
    with pytest.raises(NotImplementedError, match="per cell"):
        fg.fit("y ~ x", simulate("gaussian"), chains=1, warmup=20, draws=20,
               seed=1).log_likelihood(pointwise="cell")
    few = fg.fit("y ~ x", simulate("gaussian"), chains=2, warmup=5, draws=2, seed=1)
    with pytest.raises(ValueError, match="PSIS-LOO needs at least 25 posterior draws.*has 4"):
        few.loo()
    with pytest.raises(ValueError, match="pointwise"):
        fit.log_likelihood(pointwise="rows")


def test_weighted_rows_contribute_weight_times_log_density():
    data = simulate("gaussian", n=120)
    data["w"] = np.random.default_rng(1).integers(1, 4, len(data)).astype(float)
    fit = fg.fit("y ~ x + (1 | g)", data, weights="w", **KW)
    expected = scipy_logpdf("gaussian", fit, data, eta_from_draws(fit, data))
    np.testing.assert_allclose(fit.log_likelihood().reshape(expected.shape),
                               expected * data["w"].to_numpy(), rtol=1e-9)



def test_newdata_rows_are_weighted_as_the_fitted_ones(tmp_path):
    """log_likelihood(newdata=data) dropped the weights: a loaded fit scored the data it
    was fitted to (README's advice) as if every row counted once (sleepstudy with
    weights 1-3: rows off by up to 15.8)."""
    data = simulate("gaussian", n=120)
    data["w"] = np.random.default_rng(1).integers(1, 4, len(data)).astype(float)
    fit = fg.fit("y ~ x + (1 | g)", data, weights="w", **KW)
    expected = fit.log_likelihood()
    np.testing.assert_array_equal(fit.log_likelihood(newdata=data), expected)
    loaded = fg.load(fit.save(tmp_path / "weighted"))
    np.testing.assert_allclose(loaded.log_likelihood(newdata=data), expected, rtol=1e-12)
    once = loaded.log_likelihood(newdata=data, weights=np.ones(len(data)))
    np.testing.assert_allclose(once * data["w"].to_numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="weighted by the column 'w'.*newdata lacks"):
        loaded.log_likelihood(newdata=data.drop(columns="w"))
    by_array = fg.fit("y ~ x + (1 | g)", data, weights=data["w"].to_numpy(), **KW)
    with pytest.raises(ValueError, match="weights array: pass weights="):
        by_array.log_likelihood(newdata=data)
    np.testing.assert_array_equal(by_array.log_likelihood(newdata=data, weights="w"),
                                  by_array.log_likelihood())
    with pytest.raises(ValueError, match="weights= goes with newdata"):
        fit.log_likelihood(weights="w")

# ---- ArviZ groups and LOO --------------------------------------------------------------

def test_to_arviz_groups_make_az_loo_waic_and_compare_work(fits):
    az = pytest.importorskip("arviz")
    fit, data = fits["poisson"]
    idata = fit.to_arviz(seed=2)
    assert {"log_likelihood", "posterior_predictive", "observed_data"} <= set(idata.groups())
    np.testing.assert_array_equal(idata.log_likelihood["y"].values, fit.log_likelihood())
    assert idata.posterior_predictive["y"].shape == (fit.n_chains, fit.n_draws, len(data))
    assert idata.posterior_predictive["y"].dims[-1] == idata.observed_data["y"].dims[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # a Pareto k above 0.63 (500 draws)
        loo = fit.loo()
        direct = az.loo(idata)
        waic = az.waic(idata).elpd_waic
    assert loo.elpd_loo == pytest.approx(direct.elpd_loo, rel=1e-12)
    assert loo.se == pytest.approx(direct.se, rel=1e-12)
    # elpd_loo <= lppd, and lppd written out from the draws
    lppd = float(np.sum(logsumexp(fit.log_likelihood().reshape(-1, len(data)), axis=0)
                        - np.log(fit.n_chains * fit.n_draws)))
    assert loo.elpd_loo < lppd
    assert loo.p_loo == pytest.approx(lppd - loo.elpd_loo, rel=1e-9)
    assert np.isfinite(waic)
    pooled = fg.fit("y ~ x + offset(logexp)", data, family="poisson", **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({"groups": idata, "pooled": pooled.to_arviz()})
    assert set(table.index) == {"groups", "pooled"}
    cell = fits["binomial"][0].to_arviz(pointwise="cell", posterior_predictive=False)
    assert cell.log_likelihood["p(y, n)" if "p(y, n)" in cell.log_likelihood else
                               list(cell.log_likelihood.data_vars)[0]].dims[-1] == "cell_id"
    with pytest.raises(TypeError, match="log_likelihood"):
        fit.to_arviz(log_likelihood="yes")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = az.plot_ppc(idata, num_pp_samples=10, random_seed=1)
    assert len(np.atleast_1d(ax)[0].get_lines()) >= 11       # 10 replicates + observed
    plt.close("all")


def test_loo_warns_naming_rows_with_high_pareto_k():
    pytest.importorskip("arviz")
    rng = np.random.default_rng(4)
    n = 40                               # one row per group: each group effect is
    data = pd.DataFrame({"id": np.arange(n)})   # shaped by its own row alone
    data["y"] = rng.poisson(np.exp(1.0 + 1.0 * rng.normal(size=n)))
    fit = fg.fit("y ~ 1 + (1 | id)", data, family="poisson", **KW)
    with pytest.warns(UserWarning, match=r"Pareto k exceeds") as record:
        loo = fit.loo()
    k = loo.pareto_k.values
    high = int(np.sum(k > loo.good_k))
    message = str(record[0].message)
    assert f"for {high} of {n} rows" in message and "fg.cv" in message
    assert f"worst row {int(np.argmax(k))} (k = {k.max():.2f})" in message


def test_a_loaded_fit_needs_its_data_for_log_likelihood(fits, tmp_path):
    fit, data = fits["gaussian"]
    path = tmp_path / "f.fit"
    fit.save(path)
    loaded = fg.load(path)
    assert "log_likelihood" not in loaded.to_arviz().groups()
    with pytest.raises(ValueError, match="fg.load"):
        loaded.to_arviz(log_likelihood=True)
    np.testing.assert_allclose(loaded.log_likelihood(newdata=data), fit.log_likelihood(),
                               rtol=1e-12)



def _labelled_data(seed=3, n=90):
    """x, groups g, a yes/no response yb and an ordinal r in 1..5 (all five occur)."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x": rng.normal(size=n), "g": np.repeat(list("abcdef"), n // 6)})
    data["yb"] = np.where(rng.random(n) < expit(data.x), "yes", "no")
    data["r"] = np.r_[1, 2, 3, 4, 5, np.clip(np.round(1.5 * data.x[5:] + 3), 1, 5)].astype(int)
    return data


@pytest.mark.parametrize("response, link", [("yb", "logit"), ("yb", "probit"),
                                            ("ordered", "logit")])
def test_newdata_with_one_level_of_a_two_level_response_is_scored_as_fitted(response, link):
    """Rows of one level alone are that level, not the event (formulae codes a
    one-level column as all ones), and a level the fit lacks is refused."""
    data = _labelled_data()
    if response == "ordered":    # R's order: the second category is the event
        data["yb"] = pd.Categorical(data.yb, categories=["yes", "no"], ordered=True)
    fit = fg.fit("yb ~ x + (1 | g)", data, family="bernoulli", link=link,
                 chains=2, warmup=50, draws=50, seed=1)
    fitted = fit.log_likelihood()
    for level in ("no", "yes"):
        rows = np.flatnonzero(np.asarray(data.yb) == level)
        np.testing.assert_array_equal(fit.log_likelihood(newdata=data.iloc[rows]),
                                      fitted[..., rows])
    other = data.iloc[:3].assign(yb="maybe")
    with pytest.raises(ValueError, match=r"level\(s\) \['maybe'\] that the fit does not have"):
        fit.log_likelihood(newdata=other)



def test_bernoulli_levels_belong_to_each_fit():
    """A family object reused across fits keeps no levels from an earlier response; a
    Categorical of int categories (R's factor of 0/1) is a two-level response too."""
    data = _labelled_data()
    data["y01"] = (data.yb == "yes").astype(int)
    family = fg.families.get_family("bernoulli")
    first = fg.fit("yb ~ x + (1 | g)", data, family=family, chains=2, warmup=20, draws=20)
    second = fg.fit("y01 ~ x + (1 | g)", data, family=family, chains=2, warmup=20, draws=20)
    assert first.family_options == {"levels": ["no", "yes"]}
    assert second.family_options == {}
    np.testing.assert_array_equal(second.log_likelihood(newdata=data.iloc[:5]),
                                  second.log_likelihood()[..., :5])
    data["yc"] = pd.Categorical(data.y01, categories=[1, 0])
    fit = fg.fit("yc ~ x + (1 | g)", data, family="bernoulli", chains=2, warmup=20, draws=20)
    assert fit.family_options == {"levels": ["1", "0"]}     # event: the second category
    rows = np.flatnonzero(data.y01 == 0)
    np.testing.assert_array_equal(fit.log_likelihood(newdata=data.iloc[rows]),
                                  fit.log_likelihood()[..., rows])

def test_newdata_of_an_ordinal_response_is_numbered_by_the_fitted_categories(tmp_path):
    """A subset holding only some categories keeps the fit's numbering (integers and an
    ordered Categorical, before and after saving); unknown categories are refused."""
    data = _labelled_data()
    data["ro"] = pd.Categorical(data.r.map(dict(zip(range(1, 6), "abcde"))),
                                categories=list("abcde"), ordered=True)
    for response in ("r", "ro"):
        fit = fg.fit(f"{response} ~ x + (1 | g)", data, family="cumulative",
                     chains=2, warmup=50, draws=50, seed=1)
        fit.save(tmp_path / "f.fit")
        loaded = fg.load(tmp_path / "f.fit")
        fitted = fit.log_likelihood()
        for keep in (data.r >= 2, data.r == 3, data.r.isin([1, 3])):
            rows = np.flatnonzero(keep)
            subset = data.iloc[rows]
            if response == "ro":
                subset = subset.assign(ro=subset.ro.cat.remove_unused_categories())
            for model in (fit, loaded):
                np.testing.assert_array_equal(model.log_likelihood(newdata=subset),
                                              fitted[..., rows])
        other = data.iloc[:2].assign(**{response: 7 if response == "r" else "z"})
        if response == "ro":
            other["ro"] = pd.Categorical(other.ro, categories=["z"], ordered=True)
        with pytest.raises(ValueError, match="that the fit does not have"):
            fit.log_likelihood(newdata=other)


# ---- predictions -------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_predict_link_and_mean_equal_eta_and_the_inverse_link(fits, family):
    fit, data = fits[family]
    eta = eta_from_draws(fit, data)
    mean, _ = closed_form_moments(family, fit, data, eta)
    np.testing.assert_allclose(fit.predict(kind="link", summary=False), eta, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(fit.predict(data, kind="mean", summary=False), mean,
                               rtol=1e-10, atol=1e-12)
    fitted = fit.fitted()
    np.testing.assert_allclose(fitted["mean"], mean.mean(axis=0), rtol=1e-10)
    assert list(fitted.index) == list(data.index)
    np.testing.assert_allclose(fit.predict(kind="link", include=None, summary=False),
                               eta_from_draws(fit, data, groups=False), rtol=1e-10, atol=1e-12)


def test_the_link_of_new_binomial_rows_needs_no_trials(fits):
    fit, data = fits["binomial"]
    eta = fit.predict(data.drop(columns=["y", "n"]), kind="link", summary=False)
    np.testing.assert_allclose(eta, eta_from_draws(fit, data), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="trials column 'n'"):
        fit.predict(data.drop(columns=["y", "n"]), kind="mean")


@pytest.mark.parametrize("family", FAMILIES)
def test_posterior_predictive_draws_have_the_family_mean_and_variance(fits, family):
    fit, data = fits[family]
    mean, var = closed_form_moments(family, fit, data, eta_from_draws(fit, data))
    y_rep = fit.predict(kind="response", summary=False, seed=3)
    if family in ("bernoulli", "binomial", "poisson", "negativebinomial"):
        assert np.all(y_rep == np.round(y_rep)) and np.all(y_rep >= 0)
    # given the draw, y_rep is independent across draws and rows with these moments:
    # z has mean 0 and variance 1
    z = ((y_rep - mean) / np.sqrt(var)).ravel()
    z = z[np.isfinite(z)]
    assert_z(z.mean(), 0.0, 1.0 / np.sqrt(z.size), f"{family} mean")
    assert_z(np.mean(z ** 2), 1.0, np.std(z ** 2) / np.sqrt(z.size), f"{family} variance")


def test_predict_with_seed_is_reproducible_and_summaries_have_quantiles(fits):
    fit, data = fits["bernoulli"]
    a = fit.predict(seed=5, summary=False)
    np.testing.assert_array_equal(a, fit.predict(seed=5, summary=False))
    table = fit.predict(kind="mean", probs=(0.1, 0.9))
    assert list(table.columns) == ["mean", "sd", "10%", "90%"]
    # probabilities, not 0/1 outcomes
    assert table["10%"].between(0, 1).all() and (table["10%"] > 0).all()
    assert fit.predict(kind="mean", ndraws=7, summary=False).shape == (7, len(data))
    with pytest.raises(ValueError, match="kind"):
        fit.predict(kind="probability")
    with pytest.raises(ValueError, match="ndraws"):
        fit.predict(ndraws=0)


def test_include_chooses_group_terms_by_factor_term_or_formula():
    data = fg.datasets.load("sleepstudy")
    data["night"] = (data["Days"] % 3).astype(str)
    fit = fg.fit("Reaction ~ Days + (1 + Days | Subject) + (1 | night)", data, **KW)
    S = fit.n_chains * fit.n_draws
    subj = [list(b.levels) for b in fit.blocks if b.factor == "Subject"][0]
    pos = np.array([subj.index(str(v)) for v in data["Subject"]])
    base = fit.draws("Intercept").reshape(S, 1) + \
        fit.draws("Days").reshape(S, 1) * data["Days"].to_numpy()
    u0 = fit.draws("1|Subject").reshape(S, -1)[:, pos]
    u1 = fit.draws("Days|Subject").reshape(S, -1)[:, pos] * data["Days"].to_numpy()

    def link(include):
        return fit.predict(kind="link", include=include, summary=False)

    np.testing.assert_allclose(link(None), base, rtol=1e-10)
    np.testing.assert_allclose(link("Subject"), base + u0 + u1, rtol=1e-10)
    np.testing.assert_allclose(link("~ (1 | Subject)"), base + u0, rtol=1e-10)
    np.testing.assert_allclose(link("Days|Subject"), base + u1, rtol=1e-10)
    np.testing.assert_allclose(link(["1|Subject", "Days|Subject"]), base + u0 + u1,
                               rtol=1e-10)
    # population-level predictions need no grouping column
    no_groups = data.drop(columns=["Subject", "night"])
    np.testing.assert_allclose(fit.predict(no_groups, kind="link", include=None,
                                           summary=False), base, rtol=1e-10)
    with pytest.raises(ValueError, match="lacks grouping column"):
        fit.predict(no_groups.drop(columns=[]), include="Subject")
    with pytest.raises(ValueError, match="'school', which is not a grouping factor"):
        fit.predict(include="~ (1 | school)")
    with pytest.raises(ValueError, match="give include or include_group"):
        fit.predict(include=None, include_group=True)


def test_a_new_level_gets_one_fresh_effect_per_draw_from_the_group_distribution(fits):
    fit, data = fits["gaussian"]
    new = pd.DataFrame({"x": [0.0, 0.0, 1.0], "g": ["new", "new", "g1"]})
    eta = fit.predict(new, kind="link", summary=False, seed=1)
    S = fit.n_chains * fit.n_draws
    fixed = fit.draws("Intercept").reshape(S)
    np.testing.assert_array_equal(eta[:, 0], eta[:, 1])     # shared by the level's rows
    z = (eta[:, 0] - fixed) / fit.draws("1|g_sigma").reshape(S)
    assert_z(z.mean(), 0.0, 1 / np.sqrt(S), "new level mean")
    assert_z(np.mean(z ** 2), 1.0, np.sqrt(2 / S), "new level variance")


def test_residuals_raw_and_pearson(fits):
    fit, data = fits["negativebinomial"]
    mean, var = closed_form_moments("negativebinomial", fit, data, eta_from_draws(fit, data))
    raw = data["y"].to_numpy() - mean
    np.testing.assert_allclose(fit.residuals(summary=False), raw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.residuals("pearson", summary=False), raw / np.sqrt(var),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.residuals()["mean"], raw.mean(axis=0), rtol=1e-9)
    with pytest.raises(ValueError, match="kind"):
        fit.residuals("deviance")


def test_fitted_rows_keep_the_labels_of_the_data_after_dropping_missing_rows():
    data = simulate("gaussian", n=60)
    data.index = [f"r{i}" for i in range(60)]
    data.loc["r3", "x"] = np.nan
    fit = fg.fit("y ~ x + (1 | g)", data, na_action="drop", chains=1, warmup=30, draws=30,
                 seed=2)
    assert fit.nobs == 59
    assert fit.ngrps["g"] == data["g"].nunique()
    assert "r3" not in fit.fitted().index and list(fit.fitted().index[:3]) == ["r0", "r1", "r2"]
    assert fit.log_likelihood().shape[-1] == 59


# ---- posterior predictive statistics and plots --------------------------------------------

def test_ppc_stat_per_group_matches_a_direct_computation(fits):
    fit, data = fits["gaussian"]
    table = fit.ppc_stat("sd", group="g", seed=4)
    assert table.index.name == "g" and len(table) == data["g"].nunique()
    assert list(table.index[:3]) == ["g1", "g2", "g3"] and table.index[-1] == "g12"
    for level, row in table.iterrows():
        y = data.loc[data["g"] == level, "y"]
        assert row["n"] == len(y)
        assert row["observed"] == pytest.approx(y.std(ddof=1), rel=1e-12)
    assert table["p_value"].between(0, 1).all()
    overall = fit.ppc_stat(lambda a: np.quantile(a, 0.9, axis=1), seed=4)
    assert overall.index.tolist() == ["all"]
    assert overall["observed"].iloc[0] == pytest.approx(np.quantile(data["y"], 0.9))
    # the p-value is the share of replicated statistics at least the observed one
    y_rep = fit.predict(kind="response", summary=False, seed=9)
    t_rep = y_rep.max(axis=1)
    table = fit.ppc_stat("max", seed=9)
    assert table["mean"].iloc[0] == pytest.approx(t_rep.mean(), abs=4 * t_rep.std() / 10)
    with pytest.raises(ValueError, match="stat"):
        fit.ppc_stat("kurtosis")
    with pytest.raises(ValueError, match="neither a grouping factor"):
        fit.ppc_stat(group="county")


def test_ppc_per_area_leaves_out_areas_without_data(plt):
    """An ICAR field's factor has areas without data: ppc_stat gave them rows of NaN
    (n = 0) and the stat plot counted them, "0 of 6 p-values outside", with 3 areas
    holding data; the density and hist plots already left them out."""
    rng = np.random.default_rng(6)
    areas = list("abcdef")
    data = pd.DataFrame({"area": rng.choice(list("ace"), 40), "y": rng.poisson(2, 40)})
    fit = fg.fit("y ~ 1 + (1 | area)", data, family="poisson", chains=1, warmup=50, draws=100,
                 seed=1, priors={"1|area": fg.ICAR([(a, b) for a, b in zip(areas, areas[1:])])})
    assert list(fit.levels["1|area"]) == areas
    table = fit.ppc_stat("mean", group="area", seed=1)
    assert list(table.index) == ["a", "c", "e"] and table["n"].sum() == 40
    assert np.isfinite(table.to_numpy(dtype=float)).all()
    fig = fit.plot_ppc(kind="stat", group="area", seed=1)
    assert "of 3 p-values" in fig.axes[0].get_title()


@pytest.fixture
def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def _gids(ax):
    return [a.get_gid() for a in ax.get_children() if a.get_gid()]


def test_plot_ppc_density_overlays_replicates_on_the_observed_density(fits, plt):
    fit, _ = fits["gaussian"]
    fig = fit.plot_ppc(ndraws=20, seed=1)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert sum(line.get_gid() == "replicated" for line in lines) == 20
    assert sum(line.get_gid() == "observed" for line in lines) == 1
    assert ax.get_xlabel() == "y" and "20 replicated datasets" in ax.get_title()
    assert not plt.get_fignums()                    # no pyplot figure left open
    fig = fit.plot_ppc(group="g", ndraws=5, seed=1)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles[:3] == ["g = g1", "g = g2", "g = g3"]      # natural order
    assert "g = g10" in titles


def test_plot_ppc_hist_shows_shares_of_counts_and_proportions(fits, plt):
    fit, data = fits["poisson"]
    fig = fit.plot_ppc(ndraws=100, seed=1)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_gid() == "observed"]
    heights = np.array([b.get_height() for b in bars])
    assert heights.sum() == pytest.approx(1.0)
    top = len(bars) - 1
    y = data["y"].to_numpy()
    assert heights[0] == pytest.approx(np.mean(y == 0))
    assert heights[-1] == pytest.approx(np.mean(y >= top))
    assert ax.get_ylabel() == "share of rows"
    fit, data = fits["binomial"]
    ax = fit.plot_ppc(ndraws=50, seed=1, bins=5).axes[0]
    assert len([p for p in ax.patches if p.get_gid() == "observed"]) == 5
    assert ax.get_xlabel() == "y / n"
    with pytest.raises(ValueError, match="kind"):
        fit.plot_ppc(kind="violin")


def test_plot_ppc_stat_marks_the_observed_statistic_and_its_p_value(fits, plt):
    fit, _ = fits["gaussian"]
    fig = fit.plot_ppc(kind="stat", stat="sd", seed=2)
    ax = fig.axes[0]
    p = fit.ppc_stat("sd", seed=2)["p_value"].iloc[0]
    assert f"= {p:.3f}" in [t.get_text() for t in ax.texts if t.get_gid() == "p_value"][0]
    assert any(line.get_gid() == "observed" for line in ax.get_lines())
    fig = fit.plot_ppc(kind="stat", stat="sd", group="g", seed=2)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "g1" and labels[0] == "g12"        # first level on top
    assert fig.axes[1].get_ylabel() == "p-value"
    assert "per g" in ax.get_title()


# ---- exact cross-validation ---------------------------------------------------------------

def _logmeanexp(a):
    return logsumexp(a, axis=0) - np.log(a.shape[0])


def test_cv_by_group_equals_refits_without_each_group():
    """Leave-one-group-out by fg.cv (weight-0 refits through study) against fits to the
    other groups' rows alone scored on the held-out rows as new data (a new level)."""
    data = simulate("gaussian", n=90, n_groups=5, seed=7)
    model = fg.Model("y ~ x + (1 | g)", data)
    kw = dict(chains=2, warmup=300, draws=1500)
    res = fg.cv(model, by="g", sample_kwargs=kw, seed=1)
    assert res.n_folds == 5 and res.n_data_points == len(data)
    assert res.method == "leave-one-group-out"
    elpd, mcse = [], []
    for level in sorted(data["g"].unique()):
        held = data["g"] == level
        fit = fg.fit("y ~ x + (1 | g)", data[~held], seed=2, **kw)
        ll = fit.log_likelihood(newdata=data[held], seed=3).reshape(-1, held.sum())
        elpd.append(_logmeanexp(ll))
        # MC error of log mean exp: sd of the densities over their mean, over sqrt(ESS)
        dens = np.exp(ll - ll.max(axis=0))
        ess = fit.n_chains * fit.n_draws / 4           # conservative: autocorrelation
        mcse.append(dens.std(axis=0) / dens.mean(axis=0) / np.sqrt(ess))
    elpd = np.concatenate(elpd)
    mcse = np.concatenate(mcse)
    order = np.argsort(np.concatenate([np.flatnonzero(data["g"] == lv)
                                       for lv in sorted(data["g"].unique())]))
    elpd, mcse = elpd[order], mcse[order]
    ours = res.kfold_i.reindex(data.index).to_numpy()
    # both are MC estimates (cv's error is as large): compare with sqrt(2) mcse
    assert_z(ours, elpd, np.sqrt(2) * mcse, "cv vs refits by hand")
    assert res.elpd_kfold == pytest.approx(ours.sum())
    assert res.se == pytest.approx(np.sqrt(len(ours) * np.var(ours)))


def test_psis_loo_agrees_with_exact_leave_one_out_on_nes_rows():
    """PSIS-LOO's loo_i against exact leave-one-out by refits (fg.cv with one fold per
    chosen row). With every Pareto k below 0.5 the PSIS error is small; both are Monte
    Carlo estimates. Bound 0.05 per row (benchmarks/bench_checking.py: largest
    difference 0.012 over 40 rows, total 0.04 with se 0.03)."""
    pytest.importorskip("arviz")
    nes = fg.datasets.load("nes2000")
    model = fg.Model("real_ideo ~ 1 + partyid7 + (1 | state)", nes)
    fit = model.sample(seed=1)
    loo = fit.loo()
    chosen = np.array([0, 57, 123, 200, 311, 420])
    assert np.all(loo.pareto_k.values[chosen] < 0.5)
    folds = np.full(fit.nobs, np.nan)
    folds[chosen] = np.arange(len(chosen))
    exact = fg.cv(model, folds=folds, seed=2)
    assert list(exact.kfold_i.index) == list(nes.index[chosen])
    np.testing.assert_allclose(exact.kfold_i.to_numpy(), loo.loo_i.values[chosen], atol=0.05)


def test_cv_k_fold_is_reproducible_and_checks_its_arguments():
    data = simulate("bernoulli", n=80, n_groups=6, seed=2)
    model = fg.Model("y ~ x + (1 | g)", data, family="bernoulli")
    kw = dict(chains=2, warmup=300, draws=400)
    a = fg.cv(model, folds=4, sample_kwargs=kw, seed=3)
    b = fg.cv(model, folds=4, sample_kwargs=kw, seed=3)
    assert a.elpd_kfold == b.elpd_kfold and a.n_folds == 4
    assert np.all(np.bincount(a.folds.astype(int)) == 20)
    joint = fg.cv(model, folds=np.where(np.arange(80) < 10, np.arange(80) % 2, np.nan),
                  joint=True, sample_kwargs=kw, seed=3)
    assert joint.n_data_points == 2 and joint.method == "custom-fold"
    assert "elpd_kfold" in str(a) and not a.warning
    with pytest.warns(RuntimeWarning, match="R-hat over the fits"):
        short = fg.cv(model, folds=2, sample_kwargs=dict(chains=4, warmup=0, draws=4),
                      seed=3)
    assert short.warning and short.rhat_max > 1.05
    with pytest.raises(ValueError, match="between 2"):
        fg.cv(model, folds=1)
    with pytest.raises(ValueError, match="neither a grouping factor"):
        fg.cv(model, by="school")
    with pytest.raises(ValueError, match="shape"):
        fg.cv(model, folds=np.zeros(3))
    with pytest.raises(TypeError, match="fold numbers.*pass its name as by="):
        fg.cv(model, folds=np.where(np.arange(80) < 40, "north", "south"))  # numpy's error
    with pytest.raises(TypeError, match="Model"):
        fg.cv(fg.fit("y ~ x", data, family="bernoulli", chains=1, warmup=10, draws=10))


def test_cv_grouped_folds_deal_only_groups_with_rows():
    """An ICAR field has areas without data (levels of its factor without rows):
    folds=5 grouped by area dealt those too, so some folds held nothing out and the
    '5-fold' cross-validation silently had 3 or 4 folds; folds=10 was accepted with
    5 areas holding data."""
    rng = np.random.default_rng(5)
    areas = list("abcdefghij")
    data = pd.DataFrame({"area": rng.choice(list("acegi"), 50), "y": rng.normal(size=50)})
    model = fg.Model("y ~ 1 + (1 | area)", data, priors={
        "1|area": fg.ICAR([(areas[i], areas[i + 1]) for i in range(9)])})
    assert len(model.design.blocks[0].levels) == 10
    for seed in range(4):
        folds, method = _fold_labels(model, folds=5, by="area", seed=seed)
        assert len(np.unique(folds)) == 5 and method == "5-fold grouped by 'area'"
        assert all(len(np.unique(folds[data["area"] == a])) == 1 for a in "acegi")
    with pytest.raises(ValueError, match=r"number of groups of 'area' \(5\)"):
        _fold_labels(model, folds=10, by="area")
    folds, _ = _fold_labels(model, by="area")               # leave one area out
    assert len(np.unique(folds)) == 5


def _fold_labels(*args, **kwargs):
    from fastgibbs.cv import fold_labels
    return fold_labels(*args, **kwargs)


# ---- every cell of the model matrix ----------------------------------------------------

def _matrix_cells():
    import matrix
    return [c for c in matrix.fitted_cells() if c[0] in FAMILIES]


def eta_by_labels(fit, data):
    """(S, n) eta written out from the parameter names: fixed effects times their
    columns, and per group term its draws at the row's level (the levels' labels are
    the grouping columns' values joined by ':') times 1 or its column."""
    S = fit.n_chains * fit.n_draws
    eta = np.zeros((S, len(data)))
    for name in fit.fixed_names:
        column = 1.0 if name == "Intercept" else data[name].to_numpy(float)
        eta += fit.draws(name).reshape(S, 1) * column
    for block in fit.blocks:
        key = data[list(block.variables)].astype(str).agg(":".join, axis=1)
        pos = key.map({lvl: j for j, lvl in enumerate(block.levels)}).to_numpy()
        for term, column in zip(block.terms, block.columns):
            value = 1.0 if column == "1" else data[column].to_numpy(float)
            eta += fit.draws(term).reshape(S, -1)[:, pos] * value
    return eta


@pytest.mark.parametrize("family,structure", _matrix_cells())
def test_link_and_log_likelihood_in_every_matrix_cell(family, structure):
    import matrix
    data = matrix.load_reference_dataset(family, structure)
    fit = fg.fit(matrix.formula(family, structure), data, family=family, chains=1,
                 warmup=20, draws=30, seed=3)
    eta = eta_by_labels(fit, data)
    np.testing.assert_allclose(fit.predict(kind="link", summary=False), eta, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(fit.predict(data, kind="link", summary=False), eta,
                               rtol=1e-9, atol=1e-9)
    if family == "binomial":
        data = data.rename(columns={"s": "y"})
    expected = scipy_logpdf(family, fit, data, eta)
    np.testing.assert_allclose(fit.log_likelihood().reshape(expected.shape), expected,
                               rtol=1e-9, atol=1e-9)


def test_binomial_variance_does_not_underflow_where_p_rounds_to_one():
    from fastgibbs.families import get_family
    family = get_family("bernoulli")
    eta = np.array([-40.0, 0.0, 40.0])
    np.testing.assert_allclose(family.variance(eta, {}), expit(eta) * expit(-eta), rtol=1e-12)
    assert np.all(family.variance(eta, {}) > 0)


@pytest.mark.filterwarnings("ignore:worst R-hat")      # short runs: sameness is the point
def test_cv_gives_the_same_result_on_a_process_pool():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    data = simulate("poisson", n=60, n_groups=4, seed=5)
    model = fg.Model(formula("poisson"), data, family="poisson")
    kw = dict(chains=2, warmup=100, draws=100)
    here = fg.cv(model, by="g", sample_kwargs=kw, seed=4, n_jobs=1)
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        there = fg.cv(model, by="g", sample_kwargs=kw, seed=4, executor=pool)
    pd.testing.assert_series_equal(here.kfold_i, there.kfold_i)
    assert here.p_kfold == there.p_kfold


@pytest.mark.parametrize("family", FAMILIES)
def test_a_weight_of_zero_is_fitting_without_the_row(family):
    """The premise of fg.cv: Model.refit with some weights 0 samples the posterior of
    the other rows. Posterior means against a fit to those rows alone (which has no
    level g1: its rows are all held out), within Monte Carlo error."""
    data = simulate(family, n=160, n_groups=6, seed=8)
    held = (data["g"] == "g1").to_numpy() | (np.arange(len(data)) % 7 == 0)
    model = fg.Model(formula(family), data, family=family)
    kw = dict(chains=4, warmup=400, draws=1000)
    weighted = model.refit(model.design.y, weights=(~held).astype(float), seed=1, **kw)
    alone = fg.fit(formula(family), data[~held], family=family, seed=2, **kw)
    names = ["Intercept", "x", "1|g_sigma", "1|g[g2]"] + \
        {"gaussian": ["sigma"], "negativebinomial": ["alpha"]}.get(family, [])
    a, b = weighted.summary().loc[names], alone.summary().loc[names]
    assert_z(a["mean"], b["mean"], np.hypot(a["mcse_mean"], b["mcse_mean"]), family)
    with pytest.raises(ValueError, match="weights must have shape"):
        model.refit(model.design.y, weights=np.ones(3))
    with pytest.raises(ValueError, match="every weight is 0"):
        model.refit(model.design.y, weights=np.zeros(len(data)))


def test_cv_folds_given_as_a_series_are_read_by_their_labels():
    """folds= as a pandas Series is aligned on the fitted rows' labels (as weights= and
    Model.refit's y); one with other labels is refused instead of read by position."""
    from fastgibbs.cv import fold_labels
    data = simulate("bernoulli", n=40, n_groups=4, seed=5)
    data.index = np.random.default_rng(1).permutation(40) + 500
    model = fg.Model("y ~ x + (1 | g)", data, family="bernoulli")
    folds = pd.Series(np.arange(40) % 3, index=data.index, dtype=float)
    expected, _ = fold_labels(model, folds.to_numpy())
    shuffled, method = fold_labels(model, folds.sample(frac=1.0, random_state=2))
    np.testing.assert_array_equal(shuffled, expected)
    assert method == "custom-fold"
    with pytest.raises(ValueError, match="folds is a Series whose index"):
        fold_labels(model, folds.reset_index(drop=True))
