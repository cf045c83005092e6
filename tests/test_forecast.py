"""predict for new levels of structured terms (fastgibbs.forecast): new times of
random walks and AR(1) paths, new series of by= terms, new areas of ICAR / BYM2.

Given each posterior draw, the new effects have a closed-form Gaussian conditional
(written here from the definitions, not from fastgibbs.gmrf): RW1 continues the walk
(u* - u_T ~ N(0, sd^2 d)) and is a Brownian bridge between fitted times; RW2
continues the last slope; AR1 u* | u_T ~ N(rho^d u_T, sd^2 (1 - rho^2d)); ICAR given
neighbours N(mean, sd^2 / (c m)). The standardised new effects must be iid N(0, 1)
over the draws: their mean, variance and correlations are checked with z-scores
(tests/stats.py; the noise is fresh per draw, so the draws are independent).
"""
import re

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg

from stats import assert_z

YEARS = np.arange(2000, 2012)


def _series_data(seed=1, by=False, years=YEARS):
    rng = np.random.default_rng(seed)
    rows = []
    for state in (["a", "b"] if by else ["a"]):
        path = np.cumsum(rng.normal(0, 0.3, len(years)))
        for i, year in enumerate(years):
            for _ in range(4):
                rows.append((state, year, path[i] + rng.normal()))
    return pd.DataFrame(rows, columns=["state", "year", "y"])


def _effects(fit, term, newdata, seed=3, neighbours=None):
    """(S, n) new effects: eta (link, with the term only) minus the Intercept."""
    eta = fit.predict(newdata, kind="link", summary=False, seed=seed, include=term,
                      neighbours=neighbours)
    return eta - fit.draws("Intercept").reshape(-1)[:, None]


def _fitted(fit, term, label):
    j = list(fit.levels[term]).index(label)
    return fit.draws(term).reshape(fit.n_chains * fit.n_draws, -1)[:, j]


def _assert_standard_normal(z, label):
    """Columns of z (S, m) iid N(0, 1): means, variances and pairwise correlations."""
    S, m = z.shape
    est = [z.mean(axis=0), z.var(axis=0)]
    truth = [np.zeros(m), np.ones(m)]
    se = [np.full(m, 1 / np.sqrt(S)), np.full(m, np.sqrt(2 / S))]
    if m > 1:
        iu = np.triu_indices(m, 1)
        est.append(np.corrcoef(z.T)[iu])
        truth.append(np.zeros(len(iu[0])))
        se.append(np.full(len(iu[0]), 1 / np.sqrt(S)))
    assert_z(np.concatenate(est), np.concatenate(truth), np.concatenate(se), label)


@pytest.fixture(scope="module")
def rw1_fit():
    return fg.fit("y ~ 1 + (1 | year)", _series_data(), chains=2, warmup=200, draws=1000,
                  seed=1, priors={"1|year": fg.RandomWalk(order=1)})


def test_rw1_forecast_and_bridge_match_closed_form(rw1_fit):
    fit, term = rw1_fit, "1|year"
    new = pd.DataFrame({"year": [2012.0, 2015.0, 2005.25, 1998.0]})
    u = _effects(fit, term, new)
    sd = fit.draws(term + "_sigma").reshape(-1)
    last, u5, u6, first = (_fitted(fit, term, lbl) for lbl in ("2011", "2005", "2006", "2000"))
    z = np.column_stack([
        (u[:, 0] - last) / sd,                                 # one step after 2011
        (u[:, 1] - u[:, 0]) / (sd * np.sqrt(3.0)),             # 2012 -> 2015, jointly
        (u[:, 2] - (0.75 * u5 + 0.25 * u6)) / (sd * np.sqrt(0.25 * 0.75)),   # bridge
        (u[:, 3] - first) / (sd * np.sqrt(2.0)),               # two steps before 2000
    ])
    _assert_standard_normal(z, "RW1 forecast / bridge")
    # the forecast interval widens with the horizon; the fitted rows are unchanged
    s = fit.predict(new, kind="link", seed=3)
    assert s["sd"].iloc[1] > s["sd"].iloc[0]
    old = fit.predict(pd.DataFrame({"year": [2011]}), kind="link", summary=False)
    np.testing.assert_allclose(old[:, 0], fit.draws("Intercept").reshape(-1) + last)


@pytest.fixture(scope="module")
def rw2_fit():
    return fg.fit("y ~ 1 + (1 | year)", _series_data(2), chains=2, warmup=200, draws=1000,
                  seed=2, priors={"1|year": fg.RandomWalk(order=2)})


def test_rw2_continues_the_slope(rw2_fit):
    fit, term = rw2_fit, "1|year"
    u = _effects(fit, term, pd.DataFrame({"year": [2012]}))[:, 0]
    sd = fit.draws(term + "_sigma").reshape(-1)
    a, b = _fitted(fit, term, "2010"), _fitted(fit, term, "2011")
    # (u* - u_T) - (u_T - u_{T-1}) ~ N(0, sd^2 (1 + 1) / 2)
    _assert_standard_normal(((u - b - (b - a)) / sd)[:, None], "RW2 forecast")


def test_rw2_new_time_has_the_same_law_whatever_else_newdata_asks(rw2_fit):
    """A new time's forecast depended on the other new times of newdata: the walk was
    drawn on the union of the fitted and new times, whose divided differences change
    when a time is added (2014 alone had variance sd^2 (9 * 4 / 2 = 18) around the
    continued slope, with 2012 and 2013 asked too 1 + 4 + 9 = 14). Now the walk runs
    on whole steps from the last time whatever is asked: u_{T+k} - u_T - k s =
    sum_i (k - i + 1) e_i, e_i iid N(0, sd^2), linear between the steps and between
    fitted times."""
    fit, term = rw2_fit, "1|year"
    sd = fit.draws(term + "_sigma").reshape(-1)
    a, b = _fitted(fit, term, "2010"), _fitted(fit, term, "2011")
    f0, f1 = _fitted(fit, term, "2000"), _fitted(fit, term, "2001")
    x5, x6 = _fitted(fit, term, "2005"), _fitted(fit, term, "2006")
    s = b - a

    def z_2014(u):
        return (u - b - 3 * s) / (sd * np.sqrt(1 + 4 + 9))

    cases = [[2014], [2014, 2012, 2013], [2014, 2013, 2017, 2005.5, 1998, 2016.5],
             [2014, 2014.5, 2013.5], [2014, 2014, 2012.25]]
    for i, years in enumerate(cases):
        u = _effects(fit, term, pd.DataFrame({"year": years}), seed=10 + i)
        _assert_standard_normal(z_2014(u[:, 0])[:, None], f"RW2 2014 with {years[1:]}")
    # jointly: the three steps of 2012-2014 are the walk's iid innovations
    u = _effects(fit, term, pd.DataFrame({"year": [2012, 2013, 2014]}), seed=20)
    e = np.column_stack([u[:, 0] - 2 * b + a, u[:, 1] - 2 * u[:, 0] + b,
                         u[:, 2] - 2 * u[:, 1] + u[:, 0]]) / sd[:, None]
    _assert_standard_normal(e, "RW2 joint steps")
    # between whole steps: linear; half way from 2013 to 2014 is
    # 2.5 e_1 + 1.5 e_2 + 0.5 e_3; two steps before 2000 mirrors the forecast
    for others in ([], [2013, 2014, 1999]):
        u = _effects(fit, term, pd.DataFrame({"year": [2013.5, 1998] + others}), seed=30)
        _assert_standard_normal(np.column_stack([
            (u[:, 0] - b - 2.5 * s) / (sd * np.sqrt(2.5 ** 2 + 1.5 ** 2 + 0.5 ** 2)),
            (u[:, 1] - f0 + 2 * (f1 - f0)) / (sd * np.sqrt(1 + 4))]), f"RW2 with {others}")
    # between fitted times: the linear interpolation of the path, however asked
    for years in ([2005.25], [2005.25, 2005.5, 2013]):
        u = _effects(fit, term, pd.DataFrame({"year": years}), seed=40)
        np.testing.assert_allclose(u[:, 0], 0.75 * x5 + 0.25 * x6, rtol=1e-12, atol=1e-12)


def test_rw2_by_series_after_an_uneven_last_gap():
    """A series of a by= term whose last gap is 1.5 steps: the first step after it has
    variance sd^2 (1.5 + 1) / 2 (the fitted precision's row at the last time) around
    the last slope; 2014, half way between the first two steps, is
    0.5 (x_1 + x_2) = T + 1.5 s + 1.5 e_1 + 0.5 e_2. The same alone, with the other
    series' new times, or with other times of its own."""
    years = np.r_[YEARS, 2012.5]
    fit = fg.fit("y ~ 1 + (1 | state:year)", _series_data(6, by=True, years=years), chains=2,
                 warmup=200, draws=1000, seed=6,
                 priors={"1|state:year": fg.RandomWalk(order=2, by="state")})
    term = "1|state:year"
    sd = fit.draws(term + "_sigma").reshape(-1)
    a, b = _fitted(fit, term, "a:2011"), _fitted(fit, term, "a:2012.5")
    s = (b - a) / 1.5
    v1 = (1.5 + 1) / 2
    for i, extra in enumerate([([], []), (["b", "b", "a"], [2014, 2013.5, 2016.5]),
                               (["a", "c", "c", "c"], [2013.5, 2013.5, 2014, 2015])]):
        new = pd.DataFrame({"state": ["a"] + extra[0], "year": [2014] + extra[1]})
        u = _effects(fit, term, new, seed=70 + i)[:, 0]
        z = (u - b - 1.5 * s) / (sd * np.sqrt(1.5 ** 2 * v1 + 0.5 ** 2))
        _assert_standard_normal(z[:, None], f"RW2 by state, 2014 with {extra}")
    # jointly: e_1 from 2013.5, then e_2 from 2014
    u = _effects(fit, term, pd.DataFrame({"state": "a", "year": [2013.5, 2014]}), seed=80)
    e1 = u[:, 0] - b - s
    e2 = 2 * (u[:, 1] - b - 1.5 * s - 1.5 * e1)
    _assert_standard_normal(np.column_stack([e1 / np.sqrt(v1), e2]) / sd[:, None],
                            "RW2 by state, joint")


def test_rw1_new_time_has_the_same_law_whatever_else_newdata_asks(rw1_fit):
    """Brownian motion: 2015 is N(u_T, 4 sd^2) alone or with other new times."""
    fit, term = rw1_fit, "1|year"
    sd = fit.draws(term + "_sigma").reshape(-1)
    last = _fitted(fit, term, "2011")
    for i, years in enumerate([[2015], [2015, 2012, 2013.5, 2005.25, 1998, 2020]]):
        u = _effects(fit, term, pd.DataFrame({"year": years}), seed=50 + i)
        _assert_standard_normal(((u[:, 0] - last) / (2 * sd))[:, None], f"RW1 with {years}")


@pytest.fixture(scope="module")
def ar1_fit():
    # 2012.5 makes the gaps unequal fractions of a step, so the fit has rho > 0 (an OU
    # process); with whole steps only, rho < 0 draws refuse half-step forecasts
    years = np.r_[YEARS, 2012.5]
    return fg.fit("y ~ 1 + (1 | year)", _series_data(3, years=years), chains=2, warmup=200,
                  draws=1000, seed=3, priors={"1|year": fg.AR1()})


def test_ar1_new_time_has_the_same_law_whatever_else_newdata_asks(ar1_fit):
    """The OU process is Markov: 2014.5 is N(rho^2 u_T, sd^2 (1 - rho^4)) given the
    last fitted time 2012.5, alone or with other new times."""
    fit, term = ar1_fit, "1|year"
    sd = fit.draws(term + "_sigma").reshape(-1)
    r2 = fit.draws(term + "_rho").reshape(-1) ** 2
    last = _fitted(fit, term, "2012.5")
    for i, years in enumerate([[2014.5], [2014.5, 2013.5, 2016, 2003.5, 1998]]):
        u = _effects(fit, term, pd.DataFrame({"year": years}), seed=60 + i)
        z = (u[:, 0] - r2 * last) / (sd * np.sqrt(1 - r2 ** 2))
        _assert_standard_normal(z[:, None], f"AR1 with {years}")


def test_ar1_forecast_reverts_with_rho(ar1_fit):
    fit, term = ar1_fit, "1|year"
    u = _effects(fit, term, pd.DataFrame({"year": [2014.5, 2003.5]}))
    sd = fit.draws(term + "_sigma").reshape(-1)
    rho = fit.draws(term + "_rho").reshape(-1)
    assert rho.min() > 0
    last = _fitted(fit, term, "2012.5")
    r2 = rho ** 2
    z0 = (u[:, 0] - r2 * last) / (sd * np.sqrt(1 - r2 ** 2))
    # OU bridge between 2003 and 2004, half a step from each
    x3, x4 = _fitted(fit, term, "2003"), _fitted(fit, term, "2004")
    r = np.sqrt(rho)
    mean = (r * (1 - r ** 2) * x3 + r * (1 - r ** 2) * x4) / (1 - r ** 4)
    var = (1 - r ** 2) ** 2 / (1 - r ** 4)
    z1 = (u[:, 1] - mean) / (sd * np.sqrt(var))
    _assert_standard_normal(np.column_stack([z0, z1]), "AR1 forecast / bridge")


def test_by_series_new_time_and_new_series():
    data = _series_data(4, by=True)
    fit = fg.fit("y ~ 1 + (1 | state:year)", data, chains=2, warmup=200, draws=1000, seed=4,
                 priors={"1|state:year": fg.RandomWalk(order=1, by="state")})
    term = "1|state:year"
    new = pd.DataFrame({"state": ["b", "c", "c", "c"], "year": [2012, 2000, 2001, 2003]})
    u = _effects(fit, term, new)
    sd = fit.draws(term + "_sigma").reshape(-1)
    last_b = _fitted(fit, term, "b:2011")
    # a new state's walk is constrained to sum to zero, its steps are still N(0, sd^2 d)
    np.testing.assert_allclose(u[:, 1:].sum(axis=1), 0.0, atol=1e-9)
    z = np.column_stack([(u[:, 0] - last_b) / sd, (u[:, 2] - u[:, 1]) / sd])
    _assert_standard_normal(z, "RW1 by state")


# ----------------------------------------------------------------------------------
# Areas
# ----------------------------------------------------------------------------------
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e"),
         ("g", "h"), ("h", "k"), ("g", "k")]        # g, h, k: a component without data


def _area_data(seed=5):
    rng = np.random.default_rng(seed)
    effect = dict(zip("abcde", [0.5, 0.3, -0.1, -0.3, -0.4]))
    area = np.repeat(list("abcde"), 10)
    return pd.DataFrame({"area": area, "y": [effect[a] for a in area] + rng.normal(size=50)})


@pytest.fixture(scope="module")
def icar_fit():
    return fg.fit("y ~ 1 + (1 | area)", _area_data(), chains=2, warmup=200, draws=1000,
                  seed=5, priors={"1|area": fg.ICAR(EDGES, sd=fg.HalfCauchy(1.0))})


def test_icar_new_area_given_neighbours_and_unknown_area(icar_fit):
    fit, term = icar_fit, "1|area"
    record = fit.structures[term]
    scale = dict(zip(fit.levels[term], record["scale"]))
    assert scale["a"] == scale["e"] and scale["a"] != 1.0
    new = pd.DataFrame({"area": ["x", "zz"]})
    u = _effects(fit, term, new, neighbours={"area": {"x": ["a", "e"]}})
    sd = fit.draws(term + "_sigma").reshape(-1)
    mean = (_fitted(fit, term, "a") + _fitted(fit, term, "e")) / 2
    z = np.column_stack([(u[:, 0] - mean) / (sd / np.sqrt(2 * scale["a"])),
                         u[:, 1] / sd])                    # zz: unknown, as an island
    _assert_standard_normal(z, "ICAR new areas")


def test_log_likelihood_of_a_new_area_given_neighbours(icar_fit):
    """log_likelihood(newdata, neighbours=...) scores a new area from the field given
    its neighbours, as predict draws it: at the same seed it is the normal log density
    of y around predict's eta (without neighbours= the area is an island)."""
    from scipy.stats import norm
    fit = icar_fit
    new = pd.DataFrame({"area": ["x", "x", "zz"], "y": [0.5, -1.0, 0.2]})
    neighbours = {"area": {"x": ["a", "e"]}}
    ll = fit.log_likelihood(new, seed=4, neighbours=neighbours).reshape(-1, 3)
    eta = fit.predict(new, kind="link", summary=False, seed=4, neighbours=neighbours)
    sigma = fit.draws("sigma").reshape(-1, 1)
    np.testing.assert_allclose(ll, norm.logpdf(new["y"].to_numpy(), eta, sigma), rtol=1e-12)
    island = fit.log_likelihood(new, seed=4).reshape(-1, 3)
    assert not np.allclose(island[:, 0], ll[:, 0])


def test_icar_component_without_data_from_the_prior(icar_fit):
    fit, term = icar_fit, "1|area"
    assert sorted(fit.structures[term]["dropped"]) == ["g", "h", "k"]
    u = _effects(fit, term, pd.DataFrame({"area": ["g", "h", "k"]}))
    sd = fit.draws(term + "_sigma").reshape(-1)
    np.testing.assert_allclose(u.sum(axis=1), 0.0, atol=1e-9)    # the component sums to 0
    # a triangle: Laplacian 3I - 11', scaled so the marginal variances are 1: under the
    # constraint u ~ sd^2 c^-1 L^+ with L^+ = (I - 11'/3) / 3 and c = 2/9, so each
    # u_i / sd has variance 1 and the pairs correlation -1/2
    z = u / sd[:, None]
    S = len(sd)
    assert_z(z.var(axis=0), 1.0, np.sqrt(2 / S), "ICAR prior component variance")
    assert_z(np.corrcoef(z.T)[0, 1], -0.5, 2 / np.sqrt(S), "ICAR prior component corr")


def test_bym2_new_areas():
    fit = fg.fit("y ~ 1 + (1 | area)", _area_data(6), chains=1, warmup=200, draws=1000,
                 seed=6, priors={"1|area": fg.BYM2(EDGES, sd=fg.HalfCauchy(1.0))})
    term = "1|area"
    with pytest.raises(ValueError, match="BYM2.*spatial part"):
        fit.predict(pd.DataFrame({"area": ["x"]}), neighbours={"1|area": {"x": ["a"]}})
    u = _effects(fit, term, pd.DataFrame({"area": ["x", "g"]}))
    sd = fit.draws(term + "_sigma").reshape(-1)
    # total effect of an unknown area N(0, sd^2); of g (triangle, marginal variance 1
    # in the scaled field) also sd^2 in total
    _assert_standard_normal(u / sd[:, None], "BYM2 new areas")


# ----------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------
def test_bad_new_levels(rw1_fit, icar_fit):
    with pytest.raises(ValueError, match="lacks the time column|year"):
        rw1_fit.predict(pd.DataFrame({"yr": [2012]}))
    with pytest.raises(ValueError, match="was numeric in the fit but is datetime"):
        rw1_fit.predict(pd.DataFrame({"year": pd.to_datetime(["2012-01-01"])}))
    with pytest.raises(ValueError, match="not ICAR/BYM2 terms"):
        rw1_fit.predict(pd.DataFrame({"year": [2012]}), neighbours={"year": {"x": ["a"]}})
    with pytest.raises(ValueError, match="not areas of the fitted field"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}), neighbours={"area": {"x": ["q"]}})
    with pytest.raises(ValueError, match="not areas of the fitted field"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}), neighbours={"area": {"x": ["g"]}})
    with pytest.raises(ValueError, match="not new areas of newdata"):
        icar_fit.predict(pd.DataFrame({"area": ["a"]}), neighbours={"area": {"a": ["b"]}})
    with pytest.raises(ValueError, match="non-empty list"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}), neighbours={"area": {"x": []}})
    with pytest.raises(TypeError, match="list of areas"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}), neighbours={"area": {"x": "a"}})
    with pytest.raises(TypeError, match="must be a dict"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}), neighbours=["a"])
    # by term and by factor at once: one was silently ignored
    with pytest.raises(ValueError, match="names both '1\\|area' and its factor 'area'"):
        icar_fit.predict(pd.DataFrame({"area": ["x"]}),
                         neighbours={"area": {"x": ["a"]}, "1|area": {"x": ["b"]}})


def test_neighbours_of_a_term_that_include_leaves_out_are_refused(icar_fit):
    """neighbours= for an area term that include= leaves out of the prediction was
    ignored without a word; now a ValueError naming the key and the term."""
    new = pd.DataFrame({"area": ["x"]})
    for include, key in ((None, "area"), ([], "1|area")):
        with pytest.raises(ValueError, match=f"neighbours= names '{re.escape(key)}', but "
                                             "include= leaves its term '1\\|area' out"):
            icar_fit.predict(new, include=include, neighbours={key: {"x": ["a"]}})
    # included (by factor or term): drawn given the neighbours, as before
    for include in ("all", "area", "1|area"):
        icar_fit.predict(new, include=include, neighbours={"area": {"x": ["a"]}}, ndraws=5)


def test_saved_fit_forecasts(rw1_fit, rw2_fit, tmp_path):
    new = pd.DataFrame({"year": [2013, 2016.5, 2005.25, 1997, 2013]})
    for fit in (rw1_fit, rw2_fit):
        path = tmp_path / "fit.fgz"
        fit.save(path)
        loaded = fg.load(path)
        eta = fit.predict(new, kind="link", summary=False, seed=1)
        np.testing.assert_allclose(loaded.predict(new, kind="link", summary=False, seed=1), eta)
        np.testing.assert_array_equal(eta[:, 0], eta[:, 4])    # a time asked twice: one draw


def test_neighbours_without_newdata_are_refused(icar_fit):
    """predict() and log_likelihood() of the fitted rows ignored neighbours= without a
    word (the fitted rows have no new areas); now a ValueError, as offset= is."""
    with pytest.raises(ValueError, match="neighbours= goes with newdata"):
        icar_fit.predict(neighbours={"area": {"x": ["a"]}})
    with pytest.raises(ValueError, match="neighbours= goes with newdata"):
        icar_fit.log_likelihood(neighbours={"area": {"x": ["a"]}})
