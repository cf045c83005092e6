"""Structured group terms (fastgibbs.structured, fastgibbs.gmrf): random walks, AR(1),
ICAR, BYM2.

- Exact: with the variances (and rho) held fixed, (beta, u) | y is Gaussian; with an
  intrinsic prior it is that Gaussian conditioned on the sum-to-zero constraints. The
  prior precisions come from their textbook definitions (tests/structured_prior.py:
  Rue & Held 2005 ch. 3; AR(1) from its covariance rho^|t - s|); the test solves the
  dense algebra on [X Z] and compares the kernel's draws with the closed-form mean and
  covariance.
- Geweke (2004): geweke.StructuredGeweke, whose prior draws of the structured effects
  come from tests/structured_prior.py (dense algebra on the constraint space,
  independent of the kernel's envelope factorisation and kriging), as the model
  matrix's.
- Bad input: clear errors before sampling.
"""
import datetime
import json
from pathlib import Path
import warnings

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.gmrf import attach_structures
from fastgibbs.priors import Normal, resolve_priors
from fastgibbs.samplers.chain import run_chain
from fastgibbs.samplers.problem import build_problem

import matrix
import structured_prior
from geweke import StructuredGeweke, assert_geweke
from stats import assert_means_match_reference, assert_sds_match_reference, assert_z

YEARS = np.array([1950, 1952, 1956, 1958, 1960, 1966, 1970, 1972])   # unit 2: whole steps
# areas: a-f one component (with a cycle), g-h a pair, i an island, j in the big
# component without data
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e"), ("e", "f"),
         ("f", "j"), ("g", "h")]
AREAS = list("abcdefghij")
DATA_AREAS = list("abcdefghi")


# ----------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------
def time_data(rng, per=3, response="gaussian", states=1):
    year = np.tile(np.repeat(YEARS, per), states)
    data = pd.DataFrame({"year": year, "x": rng.normal(size=year.size),
                         "state": np.repeat(list("PQR")[:states], per * len(YEARS)),
                         "g": rng.integers(0, 3, year.size).astype(str)})
    data["y"] = rng.normal(size=year.size)
    return matrix.placeholder_response(data, response, rng)


def area_data(rng, per=3, response="gaussian"):
    area = np.repeat(DATA_AREAS, per)
    data = pd.DataFrame({"area": area, "x": rng.normal(size=area.size),
                         "g": rng.integers(0, 3, area.size).astype(str)})
    data["y"] = rng.normal(size=area.size)
    return matrix.placeholder_response(data, response, rng)


def prior_of(kind):
    return {"rw1": fg.RandomWalk(order=1), "rw2": fg.RandomWalk(order=2),
            "ar1": fg.AR1(rho=fg.Beta(3.0, 2.0)), "icar": fg.ICAR(EDGES, levels=AREAS),
            "ar1_by": fg.AR1(by="state", rho=fg.Beta(3.0, 2.0)),
            # steps of 2/3, 4/3, 2: not whole, so rho is restricted to (0, 1)
            "ar1_frac": fg.AR1(rho=fg.Beta(3.0, 2.0), unit=3.0),
            "rw1_by": fg.RandomWalk(order=1, by="state"),
            "rw2_by": fg.RandomWalk(order=2, by="state"),
            "bym2": fg.BYM2(EDGES, levels=AREAS, phi=fg.Beta(2.0, 2.0))}[kind]


def structured_design(kind, family, rng, per=3, beside=False):
    """A design with one structured term (kind: rw1, rw2, ar1, icar, bym2, or rw1_by /
    rw2_by / ar1_by: one series per state of (1 | state:year)); ``beside``: plus (1 | g)."""
    time = kind.split("_")[0] in ("rw1", "rw2", "ar1")
    if time:
        data = time_data(rng, per, family, states=2 if kind.endswith("_by") else 1)
    else:
        data = area_data(rng, per, family)
    term = ("1|state:year" if kind.endswith("_by") else "1|year") if time else "1|area"
    lhs = matrix.response_lhs(family)
    rhs = f"1 + x + ({term.replace('|', ' | ')})" + (" + (1 | g)" if beside else "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(f"{lhs} ~ {rhs}", data, family=family)
    return design, term


# ----------------------------------------------------------------------------------
# Exact conditional posterior of (beta, u) given the variances
# ----------------------------------------------------------------------------------
@pytest.mark.statistical
# rw2_by: two RW2 series in one block (the pentadiagonal draw across series starts)
@pytest.mark.parametrize("kind", ["rw1", "rw2", "ar1", "icar", "rw2_by"])
def test_location_draws_match_exact_gaussian(kind, rng):
    design, term = structured_design(kind, "gaussian", rng)
    y = design.X @ np.array([1.0, 0.5]) + rng.normal(size=design.n_obs)
    design.y[:] = y
    user = {"x": Normal(0, 3), "Intercept": Normal(1, 5), term: prior_of(kind)}
    priors = resolve_priors(design, user)
    design = attach_structures(design, priors)
    problem = build_problem(design, priors, scaling=(0.0, 1.0))
    sigma2, sd, rho = 0.8, 0.9, 0.6
    Q, cons = structured_prior.precision(design, term, priors[term], rho)
    block = design.blocks[0]
    p, J = design.n_fixed, block.n_groups
    # dense posterior of (beta, u): W = [X Z]
    Z = np.zeros((design.n_obs, J))
    Z[np.arange(design.n_obs), block.group] = 1.0
    W = np.hstack([design.X, Z])
    prec = np.zeros((p + J, p + J))
    prec[:p, :p] = np.diag([1 / 25.0, 1 / 9.0])
    prec[p:, p:] = Q / sd ** 2
    C = W.T @ W / sigma2 + prec
    r = W.T @ y / sigma2
    r[0] += 1.0 / 25.0
    S = np.linalg.inv(C)
    mean = S @ r
    if len(cons):                                        # condition on A u = 0
        A = np.hstack([np.zeros((len(cons), p)), cons])
        K = S @ A.T @ np.linalg.inv(A @ S @ A.T)
        mean = mean - K @ (A @ mean)
        S = S - K @ A @ S

    zs = problem.transform.z_scale[0][0]
    draws = []
    for seed in np.random.SeedSequence(17).spawn(4):
        state = {"beta": np.zeros(p), "u": np.zeros(problem.n_u),
                 "tau2": np.array([sd ** 2 * zs ** 2]), "vc_xi": np.ones(1),
                 "sigma": np.array([sigma2, 1.0]), "re_cov": np.array([sd ** 2 * zs ** 2]),
                 "struct_par": np.array([rho] if kind == "ar1" else []),
                 "struct_aux": np.zeros(0)}
        _, d, _ = run_chain(problem, seed, 50, 4000, state=state, update_variances=False)
        draws.append(d)
    draws = np.stack(draws)
    location = np.concatenate([draws[:, :, :p], draws[:, :, p + 1 + problem.n_hyper:]], axis=2)
    assert location.shape[2] == p + J
    est = location.mean(axis=(0, 1))
    assert_z(est, mean, diagnostics.mcse_mean(location), f"{kind} posterior mean")
    var_hat = location.reshape(-1, p + J).var(axis=0)
    ess = diagnostics.ess_sd(location)
    assert_z(var_hat, np.diag(S), np.diag(S) * np.sqrt(2.0 / ess), f"{kind} posterior var")
    # neighbouring effects' covariance (the structure) and the constraint itself
    a, b = location[..., p], location[..., p + 1]
    prod = (a - mean[p]) * (b - mean[p + 1])
    assert_z(prod.mean(), S[p, p + 1], diagnostics.mcse_mean(prod), f"{kind} cov(u_1, u_2)")
    if len(cons):
        flat = location.reshape(-1, p + J)[:, p:]
        assert np.max(np.abs(flat @ cons.T)) < 1e-8


# ----------------------------------------------------------------------------------
# Geweke
# ----------------------------------------------------------------------------------
GEWEKE_CELLS = [("gaussian", "rw1"), ("gaussian", "rw2"), ("gaussian", "ar1"),
                ("gaussian", "icar"), ("gaussian", "bym2"),
                ("bernoulli", "rw1"), ("bernoulli", "icar"), ("binomial", "ar1"),
                ("poisson", "rw1"), ("poisson", "icar"), ("negativebinomial", "rw1"),
                ("gaussian", "ar1_by"), ("bernoulli", "rw1_by"),
                ("gaussian", "icar+g"), ("poisson", "rw1+g"),
                ("gaussian", "ar1_frac"), ("poisson", "bym2"), ("bernoulli", "bym2"),
                ("binomial", "rw2")]


@pytest.mark.statistical
@pytest.mark.parametrize("family,kind", GEWEKE_CELLS)
def test_geweke(family, kind):
    rng = np.random.default_rng(GEWEKE_CELLS.index((family, kind)))
    beside = kind.endswith("+g")
    kind = kind.removesuffix("+g")
    design, term = structured_design(kind, family, rng, per=2, beside=beside)
    priors = matrix.geweke_priors(design)
    priors[term] = prior_of(kind).with_sd(priors[term])
    z = StructuredGeweke(design, priors).z_scores()
    assert_geweke(z, f"{family} x {kind}")


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("cell_seed", [1, 7, 8, 14])
def test_geweke_poisson_rw1_beside_g_at_length(cell_seed):
    """poisson x rw1+g, the cell whose 10,000-sweep test failed at some seeds: its
    successive chain mixes slowly (min ESS 30-160 per 10,000 sweeps, on the log sds and
    the squared effects), so at that length the z of the right-skewed moments (u^2,
    u0 u1) are heavy-tailed and mostly negative (pooled over 16 seeds, u_0^2 gave
    z = -4.1). A bias would grow the z-scores with the length (x 2.45 at 60,000
    sweeps); instead they stay O(1) and change sign (seed 1: u_0^2 from -3.8 to +1.0;
    seed 7: -2.5 to -2.25), and every seed here passes at 60,000 sweeps."""
    rng = np.random.default_rng(cell_seed)
    design, term = structured_design("rw1", "poisson", rng, per=2, beside=True)
    priors = matrix.geweke_priors(design)
    priors[term] = prior_of("rw1").with_sd(priors[term])
    z = StructuredGeweke(design, priors).z_scores(n=60000)
    assert_geweke(z, f"poisson x rw1+g, seed {cell_seed}, 60,000 sweeps")


# the kernel told another structure than the simulator's: Geweke must notice
PLANTED = {
    "rw1 told order 2": ("gaussian", "rw1", fg.RandomWalk(order=2)),
    "icar told other neighbours": ("gaussian", "icar",
                                   fg.ICAR([("a", "e"), ("b", "f")] + EDGES[2:], levels=AREAS)),
    "ar1 told another rho prior": ("gaussian", "ar1", fg.AR1(rho=fg.Beta(1.0, 1.0))),
}


@pytest.mark.statistical
@pytest.mark.parametrize("case", sorted(PLANTED))
def test_geweke_catches_a_planted_bug(case):
    family, kind, told = PLANTED[case]
    rng = np.random.default_rng(5)
    design, term = structured_design(kind, family, rng, per=2)
    priors = matrix.geweke_priors(design)
    sd = priors[term]
    priors[term] = prior_of(kind).with_sd(sd)
    kernel_priors = {**priors, term: told.with_sd(sd)}
    # 10,000 sweeps in every tier: at the quick tier's 3,000, "rw1 told order 2" gives
    # max |z| 3.2-5.6 against a limit of 4.5 over seeds (6.9-8.4 at 10,000)
    z = StructuredGeweke(design, priors, kernel_priors).z_scores(n=10000)
    with pytest.raises(AssertionError):
        assert_geweke(z, case)


# ----------------------------------------------------------------------------------
# Bad input, refused before sampling; the API around a structured fit
# ----------------------------------------------------------------------------------
def _small(rng):
    return pd.DataFrame({"year": np.repeat([2000, 2001, 2003, 2004], 3),
                         "x": rng.normal(size=12), "y": rng.normal(size=12),
                         "area": np.repeat(list("abcd"), 3), "s": np.tile(list("PQ"), 6)})


BAD = {
    "unknown level": ("y ~ x + (1 | area)", lambda: {"1|area": fg.ICAR([("a", "b"), ("b", "c")])},
                      ValueError, "not areas of the adjacency"),
    "text time": ("y ~ x + (1 | area)", lambda: {"1|area": fg.RandomWalk()},
                  TypeError, "must be numeric or datetime"),
    "slope": ("y ~ x + (0 + x | year)", lambda: {"x|year": fg.RandomWalk()},
              ValueError, "structured slopes are not supported"),
    "with a slope": ("y ~ x + (1 + x || year)", lambda: {"1|year": fg.AR1()},
                     ValueError, "only term varying by"),
    "on a fixed effect": ("y ~ x + (1 | year)", lambda: {"x": fg.RandomWalk()},
                          TypeError, "fg.Normal"),
    "by without interaction": ("y ~ x + (1 | year)", lambda: {"1|year": fg.AR1(by="s")},
                               ValueError, "interaction term"),
    "rw2 too short": ("y ~ x + (1 | s:year)", lambda: {"1|s:year": fg.RandomWalk(order=2, by="s")},
                      ValueError, "fewer than 3 time points"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_before_sampling(case, rng):
    formula, priors, error, match = BAD[case]
    data = _small(rng)
    if case == "rw2 too short":
        data["year"] = np.where(data["s"] == "P", data["year"], 1990)   # Q has one time
    with pytest.raises(error, match=match):
        fg.Model(formula, data, priors=priors())


@pytest.mark.parametrize("order,gap", [(2, 1e-7), (1, 1e-11)])
def test_random_walk_over_almost_equal_times_is_refused(rng, order, gap):
    """Two times far closer than the others (a timestamp a second off in daily data)
    make a random walk's precision singular in double precision: the sampler stopped
    mid-run with "a group sd collapsed to 0 or exploded". Refused before sampling,
    naming the times; a gap of 1e-4 steps still fits."""
    data = pd.DataFrame({"t": np.repeat([0, 1, 1 + gap, 2, 3, 4], 3), "y": rng.normal(size=18)})
    with pytest.raises(ValueError, match=r"times 1 and 1\.0+1 are 1\.0e\+\d\d times closer"):
        fg.Model("y ~ 1 + (1 | t)", data, priors={"1|t": fg.RandomWalk(order=order)})
    data["t"] = np.repeat([0, 1, 1 + 1e-4, 2, 3, 4], 3)
    fit = fg.fit("y ~ 1 + (1 | t)", data, priors={"1|t": fg.RandomWalk(order=order)},
                 chains=1, warmup=100, draws=100, seed=1)
    assert np.isfinite(fit.draws_array).all()


def test_bad_adjacency():
    square = np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="not symmetric"):
        fg.ICAR(square, levels=list("abc"))
    with pytest.raises(ValueError, match="needs levels="):
        fg.ICAR(square)
    with pytest.raises(ValueError, match="not symmetric"):
        fg.ICAR({"a": ["b"], "b": [], "c": []})
    with pytest.raises(ValueError, match="joins an area to itself"):
        fg.ICAR([("a", "a")])
    with pytest.raises(TypeError, match="levels= must be a list of area labels"):
        fg.ICAR(square + square.T, levels="abc")         # was read as areas a, b, c
    with pytest.raises(TypeError, match="levels= must be a list of area labels"):
        fg.ICAR([("a", "b")], levels="abcd")             # was the areas a, b, c, d
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        fg.RandomWalk(order=3)
    with pytest.raises(TypeError, match="fg.Beta"):
        fg.AR1(rho=0.5)
    # the three forms name the same graph
    matrix_form = fg.ICAR(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), levels=list("abc"))
    assert matrix_form.adjacency == fg.ICAR([("b", "a"), ("c", "b")]).adjacency \
        == fg.ICAR({"a": ["b"], "b": ["a", "c"], "c": ["b"]}).adjacency


def test_fit_islands_save_load_and_predict(rng, tmp_path):
    data = _small(rng)
    island = fg.ICAR({"a": ["b"], "b": ["a", "c"], "c": ["b"], "d": []}, sd=fg.HalfCauchy(1.0))
    fit = fg.fit("y ~ x + (1 | area)", data, priors={"1|area": island}, chains=2,
                 warmup=100, draws=100, seed=3)
    u = np.stack([fit.draws(f"1|area[{a}]").ravel() for a in "abc"], axis=1)
    assert np.max(np.abs(u.sum(axis=1))) < 1e-8         # the component sums to zero
    assert np.std(fit.draws("1|area[d]")) > 0             # the island is free
    fit.save(tmp_path / "icar.fg")
    back = fg.load(tmp_path / "icar.fg")
    assert back.priors["1|area"] == fit.priors["1|area"]
    assert back.structures["1|area"]["kind"] == "icar"
    assert np.array_equal(back.draws_array, fit.draws_array)
    assert fit.predict(data.head(3)).shape[0] == 3
    # a new area: predicted (tests/test_forecast.py checks the draws), after save/load too
    assert back.predict(pd.DataFrame({"area": ["z"], "x": [0.0]}), seed=1).shape[0] == 1
    ar = fg.fit("y ~ x + (1 | year)", data, priors={"1|year": fg.AR1()}, chains=1,
                warmup=100, draws=100, seed=3)
    rho = ar.draws("1|year_rho")
    assert np.all(np.abs(rho) < 1) and np.std(rho) > 0


def test_ar1_on_decimal_times_is_the_ar1_on_their_steps(rng):
    """Times 0.0, 0.1, ..., 2.9 are whole steps of 0.1, but their float gaps are a
    rounding error off 0.1 (0.09999999999999998, 0.10000000000000003): the kernel must
    use whole steps, as for the times 0..29 (rho^0.9999999999999998 is NaN for rho < 0,
    which kept rho > 0: a posterior mean of 0.04 where the data have rho = -0.9)."""
    x = np.zeros(30)
    for i in range(1, 30):
        x[i] = -0.9 * x[i - 1] + 0.5 * rng.normal()
    data = pd.DataFrame({"step": np.repeat(np.arange(30), 3),
                         "y": np.repeat(x, 3) + 0.3 * rng.normal(size=90)})
    data["t"] = data["step"] * 0.1
    assert len(np.unique(np.diff(np.unique(data["t"])))) > 1
    fits = [fg.fit(f"y ~ 1 + (1 | {time})", data, priors={f"1|{time}": fg.AR1()}, chains=1,
                   warmup=100, draws=200, seed=1) for time in ("step", "t")]
    assert fits[1].structures["1|t"]["whole_steps"]
    np.testing.assert_array_equal(fits[1].draws_array, fits[0].draws_array)
    assert fits[1].draws("1|t_rho").mean() < -0.5


def test_numbers_in_an_object_column_are_times(rng):
    """An object column of numbers (as after astype(object) or a concat) was refused as
    "must be numeric (got values such as 2000)"; it is numeric. A column mixing numbers
    and text is refused naming the text."""
    data = _small(rng)
    fits = [fg.fit("y ~ x + (1 | year)", frame, priors={"1|year": fg.RandomWalk()}, chains=1,
                   warmup=20, draws=20, seed=1)
            for frame in (data, data.assign(year=data["year"].astype(object)))]
    np.testing.assert_array_equal(fits[1].draws_array, fits[0].draws_array)
    new = pd.DataFrame({"year": pd.Series([2006, 2007], dtype=object), "x": 0.0})
    np.testing.assert_array_equal(fits[1].predict(new, kind="link", summary=False, seed=2),
                                  fits[0].predict(new.astype({"year": int}), kind="link",
                                                  summary=False, seed=2))
    with pytest.raises(TypeError, match="got values such as 'x'"):
        fits[0].predict(new.assign(year=pd.Series([2006, "x"], dtype=object)))


def test_ar1_on_datetimes_by_the_minute_or_second_has_whole_steps(rng):
    """Datetimes are days since 1970, rounded at 1e-16 of 2e4 days: a minute is then 5e-9
    of a step off a whole one, a second 3e-7, beyond the old relative tolerance 1e-9, so
    equally spaced minutes counted as unequal gaps and AR(1)'s rho was silently
    restricted to (0, 1). They are whole steps, as the minutes 0, 1, 2, ..."""
    x = np.zeros(40)
    for i in range(1, 40):
        x[i] = -0.8 * x[i - 1] + 0.5 * rng.normal()
    y = np.repeat(x, 2) + 0.3 * rng.normal(size=80)
    for freq in ("min", "s"):
        data = pd.DataFrame({"t": pd.date_range("2021-03-01", periods=40, freq=freq).repeat(2),
                             "step": np.repeat(np.arange(40), 2), "y": y})
        fits = [fg.fit(f"y ~ 1 + (1 | {t})", data, priors={f"1|{t}": fg.AR1()}, chains=1,
                       warmup=100, draws=100, seed=1) for t in ("t", "step")]
        assert fits[0].structures["1|t"]["whole_steps"]
        np.testing.assert_array_equal(fits[0].draws_array, fits[1].draws_array)
        assert fits[0].draws("1|t_rho").mean() < -0.3
        later = pd.date_range("2021-03-01", periods=42, freq=freq)[-1:]   # 2 steps on
        u = fits[0].predict(pd.DataFrame({"t": later}), kind="link", summary=False, seed=1)
        assert np.isfinite(u).all()


def test_datetimes_past_2262_and_with_time_zones_are_ordered_in_days(rng):
    """pandas' datetimes are in microseconds: times after 2262 (beyond nanoseconds) were
    cast to nanoseconds and wrapped to 1686, silently putting 2270 before 2230 on the
    walk; time-zone aware times raised a RecursionError. They are days since 1970 (tz:
    the time elapsed, in UTC)."""
    years = range(2230, 2300, 10)
    data = pd.DataFrame({"t": pd.to_datetime([f"{y}-01-01" for y in years]).repeat(3),
                         "y": rng.normal(size=21)})
    fit = fg.fit("y ~ 1 + (1 | t)", data, priors={"1|t": fg.RandomWalk()}, chains=1,
                 warmup=20, draws=20, seed=1)
    days = [(datetime.date(y, 1, 1) - datetime.date(1970, 1, 1)).days for y in years]
    assert fit.structures["1|t"]["time"] == days        # the plot: test_structured_plots
    # hourly across the end of summer time in Paris (25 October 2020, 02:00-03:00 twice):
    # the time elapsed, as the same hours in UTC
    utc = pd.date_range("2020-10-24 22:00", periods=8, freq="h").repeat(2)
    data = pd.DataFrame({"t": utc.tz_localize("UTC").tz_convert("Europe/Paris"), "utc": utc,
                         "y": rng.normal(size=16)})
    fits = [fg.fit(f"y ~ 1 + (1 | {t})", data, priors={f"1|{t}": fg.AR1()}, chains=1,
                   warmup=20, draws=20, seed=1) for t in ("t", "utc")]
    assert fits[0].structures["1|t"]["time"] == fits[1].structures["1|utc"]["time"]
    assert fits[0].structures["1|t"]["whole_steps"]
    np.testing.assert_array_equal(fits[0].draws_array, fits[1].draws_array)
    new = fits[0].predict(pd.DataFrame({"t": pd.to_datetime(["2020-10-25 08:00"])
                                        .tz_localize("Europe/Paris")}), kind="link", seed=1)
    assert np.isfinite(new["mean"]).all()


def test_the_same_instant_in_another_time_zone_is_the_fitted_time(rng):
    """Aware times are fitted as the time elapsed in UTC but labelled in their own zone:
    the same instants predicted in UTC or New York were new levels, and predict raised
    "a new level ... has the time of a fitted level". They are the fitted levels: the
    same draws as in the fitted zone (also per series of a by= term)."""
    utc = pd.date_range("2020-10-24 22:00", periods=8, freq="h")
    paris = utc.tz_localize("UTC").tz_convert("Europe/Paris")
    data = pd.DataFrame({"t": paris.repeat(2), "s": np.tile(["a", "b"], 8),
                         "y": rng.normal(size=16)})
    for formula, key, prior in (("y ~ 1 + (1 | t)", "1|t", fg.AR1()),
                                ("y ~ 1 + (1 | s:t)", "1|s:t", fg.RandomWalk(by="s"))):
        fit = fg.fit(formula, data, priors={key: prior}, chains=1, warmup=30, draws=30,
                     seed=1)
        rows = data.iloc[[0, 5, 9, 14]]
        fitted = fit.predict(rows, kind="link", summary=False, seed=2)
        for zone in ("UTC", "America/New_York"):
            moved = rows.assign(t=rows["t"].dt.tz_convert(zone))
            np.testing.assert_array_equal(
                fit.predict(moved, kind="link", summary=False, seed=2), fitted)
        # a new instant is still a new time, forecast from the path
        later = rows.iloc[:1].assign(t=pd.Timestamp("2020-10-25 09:00", tz="UTC"))
        assert np.isfinite(fit.predict(later, kind="link", summary=False, seed=2)).all()


def test_naive_and_time_zone_aware_times_do_not_mix(rng, tmp_path):
    """Naive times predicted against a fit on time-zone aware times were read as UTC
    without a word (23:00 naive became the fitted level of 23:00 UTC, midnight in
    Paris), and aware times against a naive fit were converted to UTC; a column mixing
    both read the naive ones as UTC. pandas refuses to compare them: so does predict,
    with a ValueError naming the column and saying how to convert it (also for a fit
    saved and loaded)."""
    utc = pd.date_range("2020-10-24 22:00", periods=8, freq="h")
    paris = utc.tz_localize("UTC").tz_convert("Europe/Paris")
    data = pd.DataFrame({"t": paris.repeat(2), "naive": utc.repeat(2), "y": rng.normal(size=16)})
    aware = fg.fit("y ~ 1 + (1 | t)", data, priors={"1|t": fg.RandomWalk(order=2)}, chains=1,
                   warmup=20, draws=20, seed=1)
    naive = fg.fit("y ~ 1 + (1 | naive)", data, priors={"1|naive": fg.AR1()}, chains=1,
                   warmup=20, draws=20, seed=1)
    aware.save(tmp_path / "aware.fgz")
    for fit in (aware, fg.load(tmp_path / "aware.fgz")):
        for when in ("2020-10-24 23:00", "2020-10-25 09:00"):     # fitted instant, new
            with pytest.raises(ValueError, match=r"'t' was time-zone aware in the fit but "
                               r"is naive here.*tz_localize"):
                fit.predict(pd.DataFrame({"t": pd.to_datetime([when])}), seed=1)
        assert np.isfinite(fit.predict(pd.DataFrame({"t": pd.to_datetime(
            ["2020-10-25 09:00"]).tz_localize("UTC")}), seed=1)["mean"]).all()
    with pytest.raises(ValueError, match=r"'naive' was naive \(no time zone\) in the fit but "
                       r"is time-zone aware here.*tz_convert\(None\)"):
        naive.predict(pd.DataFrame({"naive": pd.to_datetime(["2020-10-25 09:00"])
                                    .tz_localize("UTC")}), seed=1)
    assert np.isfinite(naive.predict(pd.DataFrame({"naive": pd.to_datetime(
        ["2020-10-25 09:00"])}), seed=1)["mean"]).all()
    mixed = data.assign(t=pd.Series([pd.Timestamp("2020-10-24 22:00")] + list(data["t"][1:]),
                                    dtype=object))
    with pytest.raises(ValueError, match="'t' mixes time-zone aware and naive times"):
        fg.fit("y ~ 1 + (1 | t)", mixed, priors={"1|t": fg.AR1()}, chains=1, warmup=20,
               draws=20, seed=1)


@pytest.mark.parametrize("unit", [pd.Timedelta(days=7), datetime.timedelta(weeks=1),
                                  np.timedelta64(7, "D"), np.timedelta64(168, "h")])
def test_a_time_span_unit_is_a_number_of_days(rng, unit):
    """RandomWalk(unit=pd.Timedelta(...)) was refused ("must be a number"), and an
    np.timedelta64 was read as its count whatever its unit: a time span is converted
    to days, the unit of a datetime time column, and fits as that number of days."""
    data = pd.DataFrame({"t": pd.date_range("2021-01-04", periods=12, freq="14D").repeat(2),
                         "y": rng.normal(size=24)})
    assert fg.RandomWalk(unit=unit).unit == 7.0 and fg.AR1(unit=unit).unit == 7.0
    fits = [fg.fit("y ~ 1 + (1 | t)", data, priors={"1|t": fg.RandomWalk(unit=u)}, chains=1,
                   warmup=50, draws=50, seed=1) for u in (unit, 7.0)]
    assert fits[0].structures["1|t"]["unit"] == 7.0
    np.testing.assert_array_equal(fits[0].draws_array, fits[1].draws_array)
    assert fg.RandomWalk(unit=pd.Timedelta(hours=6)).unit == 0.25


def test_a_time_span_unit_on_a_numeric_time_column_is_refused(rng):
    """A time span is converted to days, a datetime column's unit: on a column of
    numbers (years) RandomWalk(unit=pd.Timedelta("7D")) was read as 7 years, silently."""
    data = pd.DataFrame({"year": np.repeat(np.arange(2000, 2012), 2), "y": rng.normal(size=24)})
    for prior in (fg.RandomWalk(unit=pd.Timedelta("7D")), fg.AR1(unit=np.timedelta64(7, "D"))):
        with pytest.raises(ValueError, match="unit= is a time span .* holds numbers"):
            fg.fit("y ~ 1 + (1 | year)", data, priors={"1|year": prior}, chains=1, draws=5)
    fg.fit("y ~ 1 + (1 | year)", data, priors={"1|year": fg.RandomWalk(unit=2)}, chains=1,
           warmup=5, draws=5)
    assert fg.RandomWalk(unit=7) == fg.RandomWalk(unit=pd.Timedelta("7D"))


@pytest.mark.parametrize("unit, error, message", [
    (pd.Timedelta(0), ValueError, "positive time span"),
    (-pd.Timedelta(days=1), ValueError, "positive time span"),
    (np.timedelta64("NaT"), ValueError, "positive time span"),
    (np.timedelta64(1, "M"), ValueError, "no fixed length in days"),
    (np.timedelta64(3), ValueError, "no fixed length in days"),
    ("7D", TypeError, "a number .* or a time span"),
    (pd.NaT, TypeError, "a number .* or a time span"),
])
def test_bad_time_span_units_are_refused(unit, error, message):
    with pytest.raises(error, match=f"RandomWalk unit .*{message}"):
        fg.RandomWalk(unit=unit)


def test_icc_of_a_random_walk_is_refused(rng):
    """A random walk's sd is that of a step: icc divided its square by the total as if
    it were the variance of the effects (0.08 on 40 years where the same data give
    0.54 with an AR(1) or independent effects). AR(1)'s sd is the effects' sd."""
    data = pd.DataFrame({"year": np.repeat(np.arange(1990, 2000), 3), "y": rng.normal(size=30)})
    for prior in (fg.RandomWalk(), fg.RandomWalk(order=2)):
        fit = fg.fit("y ~ 1 + (1 | year)", data, priors={"1|year": prior}, chains=1,
                     warmup=20, draws=20, seed=1)
        with pytest.raises(ValueError, match="'1\\|year' is a random walk"):
            fit.icc()
    fit = fg.fit("y ~ 1 + (1 | year)", data, priors={"1|year": fg.AR1()}, chains=1,
                 warmup=20, draws=20, seed=1)
    assert 0 < fit.icc().loc["year", "icc"] < 1


def test_one_observation_per_time_is_a_gaussian_time_series(rng):
    """lme4's refusal of one observation per level in a gaussian model (the variance
    would be confounded with sigma) does not apply to a smoothed term: a random walk
    plus noise is the local-level model. BYM2's independent part would be, so it is
    still refused."""
    data = pd.DataFrame({"year": np.arange(1990, 2020), "area": list("abcdef") * 5})
    data["y"] = np.cumsum(rng.normal(0, 0.3, 30)) + rng.normal(size=30)
    fit = fg.fit("y ~ 1 + (1 | year)", data, priors={"1|year": fg.RandomWalk()}, chains=1,
                 warmup=100, draws=100, seed=1)
    assert fit.draws("1|year_sigma").std() > 0
    with pytest.raises(ValueError, match="one observation per level"):
        fg.Model("y ~ 1 + (1 | year)", data, priors={"1|year": fg.BYM2([(1990, 1991)],
                                                                        levels=range(1990, 2020))})
    with pytest.raises(ValueError, match="one observation per level"):
        fg.Model("y ~ 1 + (1 | year)", data)


class _CountingGenerator:
    """A numpy Generator that fails after ``limit`` Beta draws (a rejection loop)."""

    def __init__(self, seed, limit=1000):
        self.rng, self.left = np.random.default_rng(seed), limit

    def beta(self, *args):
        self.left -= 1
        assert self.left > 0, "rejection sampling did not end"
        return self.rng.beta(*args)

    def __getattr__(self, name):
        return getattr(self.rng, name)


@pytest.mark.parametrize("a,b", [(1.0, 200.0), (2.0, 3000.0), (3.0, 2.0)])
def test_simulated_rho_of_an_ar1_on_unequal_gaps_is_its_truncated_prior(a, b):
    """On unequal gaps rho is restricted to (0, 1); Model.simulate drew it by rejection,
    which never ended for a prior mostly below 0 (Beta(1, 200): P(rho > 0) = 6e-61)."""
    from scipy import stats
    from fastgibbs.gmrf import draw_rho
    prior = fg.AR1(rho=fg.Beta(a, b))
    gen = _CountingGenerator(1)
    rho = np.array([draw_rho(prior, False, gen) for _ in range(500)])
    assert np.all((rho > 0) & (rho < 1))
    tail = stats.beta.sf(0.5, a, b)
    if tail > 0:                # Kolmogorov-Smirnov against the truncated Beta
        p = stats.kstest((1 + rho) / 2, lambda v: 1 - stats.beta.sf(v, a, b) / tail).pvalue
    else:                       # beyond double precision: the exponential edge, rate b - a
        p = stats.kstest(rho, "expon", args=(0, 1 / (b - a))).pvalue
    assert p > 1e-3
    data = pd.DataFrame({"t": np.repeat([0, 1, 2.5, 3, 4.2], 3), "y": np.arange(15.0)})
    model = fg.Model("y ~ 1 + (1 | t)", data, priors={"1|t": prior})
    assert not model.design.structures["1|t"].whole_steps
    assert 0 < model.simulate(n=1, seed=1)[0]["params"]["1|t_rho"] < 1


def test_model_refit_checking_and_simulate(rng):
    """Model.refit keeps the structures; log-likelihood based checks work; simulating
    draws the structured fields from their priors (RW2: sum zero, no trend)."""
    data = pd.DataFrame({"year": np.repeat(np.arange(2000, 2010), 3), "x": rng.normal(size=30),
                         "area": np.tile(list("abc"), 10), "y": rng.normal(size=30)})
    model = fg.Model("y ~ x + (1 | year) + (1 | area)", data,
                     priors={"1|year": fg.RandomWalk(order=2),
                             "1|area": fg.BYM2([("a", "b"), ("b", "c")])})
    again = model.refit(rng.normal(size=30), chains=1, warmup=100, draws=100, seed=1)
    assert set(again.structures) == {"1|year", "1|area"}
    phi = again.draws("1|area_phi")
    assert np.all((phi > 0) & (phi < 1))
    assert np.isfinite(again.log_likelihood()).all()
    sims = model.simulate(n=3, seed=1)
    years = np.arange(2000, 2010)
    for sim in sims:
        p = sim["params"]
        u = np.array([p[f"1|year[{y}]"] for y in years])
        assert abs(u.sum()) < 1e-9 and abs(u @ (years - years.mean())) < 1e-9
        assert 0 < p["1|area_phi"] < 1 and np.isfinite(sim["y"]).all()
    with pytest.raises(ValueError, match="give all of them or none"):
        model.simulate(params={"1|year[2000]": 0.5}, seed=1)
    with pytest.raises(ValueError, match="phi"):
        model.simulate(params={"1|area_phi": 1.5}, seed=1)


# ----------------------------------------------------------------------------------
# Agreement with Stan (benchmarks/stan/make_structured_references.R)
# ----------------------------------------------------------------------------------
STAN = Path(__file__).parent / "data" / "stan"
GRID = [("a", "b"), ("b", "c"), ("d", "e"), ("e", "f"), ("g", "h"), ("h", "i"),
        ("a", "d"), ("d", "g"), ("b", "e"), ("e", "h"), ("c", "f"), ("f", "i")]   # 3 x 3


def make_reference_data(seed=2026):
    """The committed dataset of the Stan reference: two rows per (year, area) with
    unequally spaced years, a random-walk path and smooth area effects."""
    rng = np.random.default_rng(seed)
    years = np.array([1950, 1954, 1958, 1962, 1970, 1974, 1978, 1986, 1990, 1994])
    areas = list("abcdefghi")
    path = np.cumsum(rng.normal(0, 0.4, len(years)))
    area_effect = dict(zip(areas, [0.6, 0.4, 0.1, 0.3, 0.0, -0.3, -0.1, -0.4, -0.6]))
    rows = [(yr, ar) for yr in years for ar in areas for _ in range(2)]
    data = pd.DataFrame(rows, columns=["year", "area"])
    data["x"] = rng.normal(size=len(data)).round(4)
    step = dict(zip(years, path))
    data["y"] = (0.5 + 0.8 * data["x"] + data["year"].map(step) + data["area"].map(area_effect)
                 + rng.normal(size=len(data))).round(4)
    return data


def _reference_model():
    data = pd.read_csv(STAN / "structured_gaussian.csv")
    edges = pd.read_csv(STAN / "structured_gaussian_edges.csv")
    sd = fg.HalfCauchy(1.0)
    priors = {"Intercept": fg.Normal(0, 5), "x": fg.Normal(0, 5), "sigma": sd,
              "1|year": fg.RandomWalk(order=1, sd=sd),
              "1|area": fg.ICAR(list(zip(edges["from"], edges["to"])), sd=sd)}
    return data, edges, priors


@pytest.fixture(scope="module")
def reference_fit():
    data, _, priors = _reference_model()
    return fg.fit("y ~ 1 + x + (1 | year) + (1 | area)", data, priors=priors, chains=4,
                  warmup=1000, draws=5000, seed=11)


@pytest.mark.statistical
def test_rw1_and_icar_agree_with_stan(reference_fit):
    """Posterior means within 4 combined MCSE of rstan's (the project's criterion).
    The sds are checked against the exact quadrature below instead: rstan's sd of
    1|area[b] is 0.1633 where quadrature gives 0.1676 (ours 0.167-0.169 over seeds),
    further than its MCSE allows."""
    reference = json.loads((STAN / "structured_gaussian.json").read_text())["parameters"]
    assert set(reference) <= set(reference_fit.names)
    assert_means_match_reference(reference_fit, reference)


def _quadrature(data, edges):
    """Exact posterior moments of the reference model by quadrature over (log sigma,
    log sd_year, log sd_area) on a grid: given them, (beta, u) is Gaussian, with u on
    the constraint space through an orthonormal basis B (u = B v, v's prior precision
    B'QB / sd^2), so p(y | sds) and the conditional moments are closed form (dense
    algebra, Q built here from the definitions). Returns {name: (mean, sd)}."""
    from scipy.linalg import null_space
    years = np.sort(data["year"].unique())
    areas = sorted(set(edges["from"]) | set(edges["to"]))
    Qt, _ = structured_prior.rw_precision(years / np.median(np.diff(years)), 1)
    ix = {a: i for i, a in enumerate(areas)}
    A = np.zeros((len(areas), len(areas)))
    for a, b in zip(edges["from"], edges["to"]):
        A[ix[a], ix[b]] = A[ix[b], ix[a]] = 1
    L = np.diag(A.sum(1)) - A
    Qa = np.exp(np.mean(np.log(np.diag(np.linalg.pinv(L))))) * L
    Bt, Ba = null_space(np.ones((1, len(years)))), null_space(np.ones((1, len(areas))))
    n = len(data)
    Zt = np.zeros((n, len(years)))
    Zt[np.arange(n), np.searchsorted(years, data["year"])] = 1
    Za = np.zeros((n, len(areas)))
    Za[np.arange(n), [ix[a] for a in data["area"]]] = 1
    W = np.hstack([np.column_stack([np.ones(n), data["x"]]), Zt @ Bt, Za @ Ba])
    y = data["y"].to_numpy()
    WtW, Wty, yty = W.T @ W, W.T @ y, y @ y
    Pt, Pa = Bt.T @ Qt @ Bt, Ba.T @ Qa @ Ba
    k1, nt, na = 2 + len(Pt), len(Pt), len(Pa)
    const = np.linalg.slogdet(Pt)[1] + np.linalg.slogdet(Pa)[1]
    grid = np.stack(np.meshgrid(np.linspace(np.log(0.75), np.log(1.3), 36),
                                np.linspace(-9.0, 0.5, 70), np.linspace(-4.0, 1.0, 50),
                                indexing="ij"), -1).reshape(-1, 3)
    U = np.hstack([np.zeros((len(years), 2)), Bt, np.zeros((len(years), na))])
    U = np.vstack([U, np.hstack([np.zeros((len(areas), k1)), Ba])])   # w -> (ut, ua)
    logpost, means, variances = [], [], []
    for chunk in np.array_split(grid, 40):
        s2, st2, sa2 = np.exp(2 * chunk).T
        C = WtW[None] / s2[:, None, None]
        C[:, 0, 0] += 1 / 25.0
        C[:, 1, 1] += 1 / 25.0
        C[:, 2:k1, 2:k1] += Pt[None] / st2[:, None, None]
        C[:, k1:, k1:] += Pa[None] / sa2[:, None, None]
        r = Wty[None] / s2[:, None]
        Ci = np.linalg.inv(C)
        m = np.einsum("nij,nj->ni", Ci, r)
        logdet_c = np.linalg.slogdet(C)[1]
        loglik = (-0.5 * yty / s2 + 0.5 * (r * m).sum(1) - 0.5 * logdet_c
                  + 0.5 * (const - nt * np.log(st2) - na * np.log(sa2)) - n * chunk[:, 0])
        # half-Cauchy(1) on each sd, as a density of its log
        logprior = (np.log(2 / np.pi) - np.log1p(np.exp(2 * chunk)) + chunk).sum(1)
        logpost.append(loglik + logprior)
        moments = np.column_stack([m[:, :2], m @ U.T])
        means.append(np.column_stack([np.exp(chunk), moments]))
        var_u = np.einsum("ij,njk,ik->ni", U, Ci, U)
        variances.append(np.column_stack([np.zeros((len(chunk), 3)), Ci[:, 0, 0], Ci[:, 1, 1],
                                          var_u]))
    logpost = np.concatenate(logpost)
    w = np.exp(logpost - logpost.max())
    w /= w.sum()
    means, variances = np.concatenate(means), np.concatenate(variances)
    mean = w @ means
    sd = np.sqrt(w @ variances + w @ (means - mean) ** 2)
    names = (["sigma", "1|year_sigma", "1|area_sigma", "Intercept", "x"]
             + [f"1|year[{v}]" for v in years] + [f"1|area[{a}]" for a in areas])
    return {name: (mean[i], sd[i]) for i, name in enumerate(names)}


@pytest.mark.statistical
def test_rw1_and_icar_match_exact_quadrature(reference_fit):
    """Every posterior mean and sd of the reference model (sigma, both sds, beta, every
    effect) against exact quadrature, z-tests on our MCSE."""
    data, edges, _ = _reference_model()
    exact = _quadrature(data, edges)
    names = list(exact)
    draws = [reference_fit.draws(n) for n in names]
    est = np.array([d.mean() for d in draws])
    se = np.array([diagnostics.mcse_mean(d) for d in draws])
    truth = np.array([exact[n][0] for n in names])
    assert_z(est, truth, se, "posterior means vs quadrature")
    sds = np.array([d.std() for d in draws])
    se_sd = np.array([diagnostics.mcse_sd(d) for d in draws])
    assert_z(sds, [exact[n][1] for n in names], se_sd, "posterior sds vs quadrature")


def _graph(edges, n):
    from scipy.sparse import coo_matrix
    e = np.array(edges)
    rows, cols = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    A = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    A.data[:] = 1.0
    return A


def test_icar_scale_factor_is_the_geometric_mean_of_the_pseudo_inverse_diagonal():
    """gmrf.scale_factor (grounded Laplacian, banded Takahashi recursions) equals the
    Sorbye-Rue scale from a dense pseudo-inverse, exp(mean(log(diag(L^+)))), on paths,
    rings, a star (bandwidth n/2 in any order), a complete graph, grids and random
    connected graphs, in shuffled area orders."""
    from fastgibbs.gmrf import laplacian, scale_factor
    rng = np.random.default_rng(5)
    grid = np.arange(30 * 31).reshape(30, 31)
    graphs = [_graph([(0, 1)], 2), _graph([(i, i + 1) for i in range(9)], 10),
              _graph([(i, (i + 1) % 12) for i in range(12)], 12),
              _graph([(0, i) for i in range(1, 40)], 40),
              _graph([(i, j) for i in range(8) for j in range(i)], 8),
              _graph(list(zip(grid[:, :-1].ravel(), grid[:, 1:].ravel()))
                     + list(zip(grid[:-1].ravel(), grid[1:].ravel())), grid.size)]
    for n in (15, 60, 150):
        edges = [(i, int(rng.integers(0, i))) for i in range(1, n)]           # a tree
        edges += [tuple(int(v) for v in rng.integers(0, n, 2)) for _ in range(n // 2)]
        graphs.append(_graph([(a, b) for a, b in edges if a != b], n))
    for A in graphs:
        shuffle = rng.permutation(A.shape[0])
        A = A[shuffle][:, shuffle]
        expected = np.exp(np.mean(np.log(np.diag(np.linalg.pinv(laplacian(A).toarray())))))
        assert scale_factor(A) == pytest.approx(expected, rel=1e-11)
