"""No silent wrong answers from scales, priors or responses (issue 11, items 4-7 and
10): answers do not depend on where x and y sit, data-scaled defaults follow the
response being fitted, and what cannot be sampled is refused before sampling."""
import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg


@pytest.fixture
def data():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(8), 15)
    x = rng.normal(size=g.size)
    y = 1.0 + 2.0 * x + rng.normal(0, 1.0, 8)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


KW = dict(chains=2, warmup=300, draws=600, seed=4)


@pytest.mark.parametrize("shift", [1e7, 1e8, -1e12])
def test_shifting_x_leaves_the_slope(data, shift):
    """The slope is the same however far x sits from 0 (it was 2.1475 instead of 2.0623
    at x + 1e7, and x + 1e8 was refused as collinear): predictors are centred inside
    the sampler. A flat intercept prior makes the two models the same model (the
    default intercept prior widens with |mean(x)| / sd(x)); the same seed then gives
    the same chain up to the rounding of x + shift (relative 1e-9 in X'X), which the
    chain carries along to about 1e-5."""
    flat = {"Intercept": fg.Normal(0, 1e15)}
    base = fg.fit("y ~ x + (1 | g)", data, priors=flat, **KW)
    moved = fg.fit("y ~ x + (1 | g)", data.assign(x=data["x"] + shift), priors=flat, **KW)
    np.testing.assert_allclose(moved.draws("x"), base.draws("x"), rtol=1e-4)
    np.testing.assert_allclose(moved.draws("1|g_sigma"), base.draws("1|g_sigma"), rtol=1e-4)
    np.testing.assert_allclose(moved.draws("Intercept") + shift * moved.draws("x"),
                               base.draws("Intercept"), rtol=1e-4, atol=abs(shift) * 1e-14)


@pytest.mark.parametrize("scale", [1e-120, 1e-6, 1e154])
def test_rescaling_y_rescales_the_answer(data, scale):
    """y * c gives beta * c, sds * c: the default priors and the kernel's internal
    scale follow y (1e154 would overflow y'y without it)."""
    base = fg.fit("y ~ x + (1 | g)", data, **KW)
    scaled = fg.fit("y ~ x + (1 | g)", data.assign(y=data["y"] * scale), **KW)
    for name in ("Intercept", "x", "sigma", "1|g_sigma", "1|g[3]"):
        np.testing.assert_allclose(scaled.draws(name), base.draws(name) * scale, rtol=1e-8)
    assert np.isfinite(scaled.draws()).all()


def test_no_intercept_with_a_far_response(data):
    """'0 + x' with y + 1e9: no intercept to absorb the shift, y is scaled, not shifted.
    The groups take the intercept's place: lme4 (ML) puts their sd at 1.0e9, the slope
    at 1.864 (the within-group slope) and sigma at 0.91. A second, minor mode (the slope
    near 1e9 / mean(x) ~ 1.9e8, sigma ~ 1.9e8, the groups small: log likelihood 2,100
    below) held 22 of 40 chains started at sigma ~ y's root mean square; this test
    asserted it. Every chain must find the main mode."""
    far = data.assign(y=data["y"] + 1e9, x=data["x"] + 5.0)
    for seed in range(3):
        fit = fg.fit("y ~ 0 + x + (1 | g)", far, priors={"x": fg.Normal(0, 1e12)},
                     **dict(KW, chains=4, seed=seed))
        assert np.isfinite(fit.draws()).all()
        slope = fit.draws("x")                                   # (chains, draws)
        assert np.all(np.abs(slope.mean(axis=1) - 1.864) < 0.3), slope.mean(axis=1)
        assert np.all(fit.draws("sigma").mean(axis=1) < 2.0)
        assert np.all(fit.draws("1|g_sigma").mean(axis=1) > 3e8)


@pytest.fixture
def cells():
    rng = np.random.default_rng(5)
    level = np.repeat(np.array(["a", "b", "c"]), [20, 30, 25])
    effect = {"a": 0.0, "b": 1.5, "c": -2.0}
    y = 1000.0 + np.array([effect[v] for v in level]) + rng.normal(size=level.size)
    return pd.DataFrame({"y": y, "cat": level, "x": rng.normal(size=level.size),
                         "g": rng.choice(["p", "q", "r", "s", "t"], level.size)})


def test_cell_means_get_the_intercepts_default(cells):
    """'0 + cat' codes one indicator per level, each coefficient a level's mean: their
    default is the intercept's, centred at mean(y). Each got the slope's
    Normal(0, 2.5 sd(y) / sd(column)) before, which with y near 1000 gave level means
    near 1 and sigma near 1000."""
    fit = fg.fit("y ~ 0 + cat", cells, **KW)
    means = cells.groupby("cat")["y"].mean()
    for level, mean in means.items():
        draws = fit.draws(f"cat[{level}]")
        assert abs(draws.mean() - mean) < 3 * draws.std()
    assert fit.draws("sigma").mean() < 1.5
    # the same prior as the intercept of 'y ~ 1'
    model = fg.Model("y ~ 0 + cat + x", cells)
    assert model.priors["cat[a]"] == model.priors["cat[c]"]
    assert model.priors["cat[a]"].mu == pytest.approx(cells["y"].mean())
    intercept = fg.Model("y ~ 1 + x", cells).priors["Intercept"]
    assert model.priors["cat[b]"] == intercept
    # interactions with a number are slopes, centred at 0
    slopes = fg.Model("y ~ 0 + cat:x", cells).priors
    assert all(slopes[f"cat[{v}]:x"].mu == 0 for v in "abc")
    assert fg.Model("y ~ 0 + cat + cat:x", cells).priors["cat[a]:x"].mu == 0


@pytest.mark.parametrize("formula", ["y ~ 0 + cat", "y ~ 0 + cat + x",
                                     "y ~ 0 + cat + (1 | g)"])
def test_shifting_y_shifts_the_cell_means(cells, formula):
    """y + c shifts every level's mean by c and leaves the rest: the default priors
    follow the response's location. Without an intercept y is scaled, not centred, so
    the two chains differ: posterior means agree within 4 combined MCSE."""
    base = fg.fit(formula, cells, **KW).summary()
    moved = fg.fit(formula, cells.assign(y=cells["y"] + 250.0), **KW).summary()
    shift = np.where(base.index.str.startswith("cat["), 250.0, 0.0)
    z = (moved["mean"] - shift - base["mean"]) / np.hypot(moved["mcse_mean"],
                                                        base["mcse_mean"])
    assert np.abs(z).max() < 4.0, z.sort_values()


def test_refit_follows_the_new_response(data):
    """Model.refit(y + 1e4) gives what fg.fit gives on that response (issue 11.4)."""
    model = fg.Model("y ~ x + (1 | g)", data)
    y = data["y"].to_numpy() + 1e4
    refit = model.refit(y, **KW)
    direct = fg.fit("y ~ x + (1 | g)", data.assign(y=y), **KW)
    np.testing.assert_allclose(refit.draws(), direct.draws(), rtol=1e-9)
    assert abs(refit.fixef()["Intercept"] - 1e4 - 1.0) < 2.0
    assert refit.draws("1|g_sigma").mean() < 5.0
    # explicit priors stay as given
    tight = fg.Model("y ~ x + (1 | g)", data, priors={"x": fg.Normal(0, 0.01)})
    assert tight.refit(y, **KW).draws("x").std() < 0.05


def test_constant_response_is_refused(data):
    with pytest.raises(ValueError, match="constant"):
        fg.fit("y ~ x + (1 | g)", data.assign(y=3.0), **KW)


def test_exactly_fitted_response_is_refused(data):
    with pytest.raises(ValueError, match="fitted exactly"):
        fg.fit("y ~ x + (1 | g)", data.assign(y=2 * data["x"] + 1), **KW)


def test_constant_response_in_a_study_is_a_failed_row(data):
    model = fg.Model("y ~ x + (1 | g)", data)
    sims = [{"y": np.full(len(data), 2.0)}, {"y": data["y"].to_numpy()}]
    df = fg.study(model, sims, sample_kwargs=dict(chains=1, warmup=50, draws=50), seed=1,
                  progress=False)
    errors = df.groupby("dataset")["error"].first()
    assert "constant" in errors[0]
    assert errors[1] is None


@pytest.mark.parametrize("make,match", [
    (lambda: {"1|g": fg.InvGamma(1e300, 1e-300)}, "cannot be represented"),
    (lambda: {"1|g": fg.HalfCauchy(1e-155)}, "HalfCauchy"),
    (lambda: {"sigma": fg.HalfCauchy(1e200)}, "HalfCauchy"),
])
def test_unrepresentable_priors_are_refused_before_sampling(data, make, match):
    """Refused when the prior is made (its square is not a double) ..."""
    with pytest.raises(ValueError, match=match):
        fg.Model("y ~ x + (1 | g)", data, priors=make())


@pytest.mark.parametrize("scale,prior", [(1e-100, fg.HalfCauchy(1e60)),
                                         (1e100, fg.HalfCauchy(1e-60))])
def test_priors_that_leave_the_range_on_the_data_scale_are_refused(data, scale, prior):
    """... or when the model is built: the sampler works on the data's scale (sd(y) = 1
    inside), where HalfCauchy(1e60) for y of 1e-100 becomes 1e160, whose square
    overflows."""
    with pytest.raises(ValueError, match="internal scale"):
        fg.Model("y ~ x + (1 | g)", data.assign(y=data["y"] * scale), priors={"1|g": prior})


def test_half_cauchy_auxiliary_starts_on_its_scale(data):
    """With warmup=0 the first draws already sit at the data's scale (y * 1e-6): the
    auxiliary of a half-Cauchy prior starts near 1/A^2, not A^2."""
    small = data.assign(y=data["y"] * 1e-6)
    fit = fg.fit("y ~ x + (1 | g)", small, chains=2, warmup=0, draws=20, seed=1)
    first = fit.draws("sigma")[:, :3]
    assert np.all((first > 1e-8) & (first < 1e-4))


def test_simulate_validates_given_parameters(data):
    model = fg.Model("y ~ x + (1 | g)", data)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="sigma"):
            model.simulate(params={"sigma": bad})
    with pytest.raises(ValueError, match="corr"):
        fg.Model("y ~ x + (1 + x | g)", data).simulate(params={"1|g~x|g_corr": 1.5})


def test_simulate_keeps_each_given_sd_of_a_block(data):
    """A given sd of a block of several terms was ignored unless every sd of the block
    was given: the sd (and the params reported) came from the prior instead."""
    model = fg.Model("y ~ x + (x || g)", data)
    sims = model.simulate(params={"1|g_sigma": 1e-9}, n=2, seed=1)
    for sim in sims:
        assert sim["params"]["1|g_sigma"] == 1e-9
        effects = [v for k, v in sim["params"].items() if k.startswith("1|g[")]
        assert np.max(np.abs(effects)) < 1e-7
        assert sim["params"]["x|g_sigma"] > 0          # the other drawn from its prior
    # none given: the same draws as before
    np.testing.assert_array_equal(model.simulate(n=1, seed=2)[0]["y"],
                                  model.simulate(n=1, seed=2)[0]["y"])
    correlated = fg.Model("y ~ x + (x | g)", data)
    with pytest.raises(ValueError, match=r"not every sd and correlation of the correlated "
                                         r"term '1 \+ x\|g'"):
        correlated.simulate(params={"1|g_sigma": 1e-9})
    three = fg.Model("y ~ x + (x + z | g)", data.assign(z=data["x"] ** 2))
    corr = {"1|g~x|g_corr": 0.9, "1|g~z|g_corr": 0.9, "x|g~z|g_corr": -0.9}
    sds = {"1|g_sigma": 1.0, "x|g_sigma": 1.0, "z|g_sigma": 1.0}
    with pytest.raises(ValueError, match="do not form a correlation matrix"):
        three.simulate(params={**sds, **corr})


def test_simulating_from_a_prior_too_vague_to_draw_from_names_it(data):
    """InvGamma(0.001, 0.001) draws a variance of 1/0 = inf in about half of all draws
    (its gamma variate underflows): a ValueError naming the parameter, not a
    ZeroDivisionError or a dataset of inf; params= for it works."""
    vague = fg.InvGamma(0.001, 0.001)
    model = fg.Model("y ~ x + (1 | g)", data, priors={"1|g": vague, "sigma": vague})
    with pytest.raises(ValueError, match="too diffuse.*params="):
        model.simulate(n=20, seed=3)
    sims = model.simulate(n=20, seed=3, params={"1|g_sigma": 0.5, "sigma": 1.0})
    assert all(np.all(np.isfinite(s["y"])) for s in sims)


def test_huge_trials_are_refused():
    data = pd.DataFrame({"s": [1.0, 2, 3, 4], "n": [5.0, 5, 1e20, 5], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match="2\\*\\*53"):
        fg.Model("p(s, n) ~ x", data, family="binomial")


def test_binomial_with_a_01_response_suggests_bernoulli():
    data = pd.DataFrame({"y": [0, 1, 1, 0], "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(TypeError, match="bernoulli"):
        fg.Model("y ~ x", data, family="binomial")


def test_draws_times_thin_overflow_is_refused(data):
    with pytest.raises(ValueError, match="thin"):
        fg.fit("y ~ x + (1 | g)", data, draws=10, thin=2 ** 62)


@pytest.mark.parametrize("family, formula", [("gaussian", "y ~ x + w + (1 | g)"),
                                             ("cumulative", "y ~ x + w + (1 | g)"),
                                             ("gaussian", "y ~ 0 + (1 | g)"),
                                             ("cumulative", "y ~ 1 + (1 | g)")])
def test_kernel_rows_are_its_state_on_the_users_scale(data, family, formula):
    """The kernel writes each row on the user's scale: beta = T beta~ + t, sigma, sds and
    effects times the data's scales, cumulative thresholds moved from the centred
    predictors to x = 0; checked against the kernel's own state after each sweep."""
    from fastgibbs import _core
    from fastgibbs.samplers.chain import initial_state

    frame = data.assign(y=data.y * 1e3 + 5e4, x=data.x * 0.01 - 300.0,
                        w=np.arange(len(data)) % 3 * 2.5 + 7.0)
    if family == "cumulative":
        frame["y"] = pd.cut(data.y, [-np.inf, 0.0, 1.0, 2.5, np.inf], labels=False)
    problem = fg.Model(formula, frame, family=family).problem
    tf, p = problem.transform, problem.n_fixed
    kernel = _core.Kernel(problem, initial_state(problem, np.random.default_rng(1)))
    bg = np.random.Generator(np.random.PCG64(2)).bit_generator
    row, nothing = np.empty((1, problem.row_width)), np.empty((0, problem.row_width))
    for _ in range(5):
        kernel.run(bg, nothing, row)
        state = kernel.state()
        beta = tf.beta_to_user(state["beta"])
        np.testing.assert_allclose(row[0, :p], beta, rtol=1e-13,
                                   atol=1e-13 * np.abs(beta).max(initial=0.0))
        rest = [np.sqrt(state["sigma"][:1])] if problem.has_sigma else []
        thresholds = state["disp"][:problem.n_disp] + (beta @ tf.x_center if p else 0.0)
        rest += [thresholds, np.sqrt(state["tau2"]), state["u"]]
        expected = np.concatenate(rest) * np.where(np.isnan(problem.row_scale), 1.0,
                                                   problem.row_scale)[p:]
        np.testing.assert_allclose(row[0, p:], expected, rtol=1e-13)
        assert problem.transform.y_scale != 1.0 or family == "cumulative"


def test_a_refit_checks_the_new_response_for_an_exact_fit(data):
    """A refit reuses the exact-fit check's factorisation of [X Z]'W[X Z] (it does not
    depend on y) and still refuses a response the model fits exactly, by the fixed
    effects alone or with the groups, and accepts an ordinary one; a refit's internal
    scaling equals a fresh model's."""
    model = fg.Model("y ~ x + (1 | g)", data)
    with pytest.raises(ValueError, match="fitted exactly by the fixed and group effects"):
        model.refit(2 * data["x"].to_numpy() + 1, **KW)
    groups = data["g"].astype("category").cat.codes.to_numpy()
    with pytest.raises(ValueError, match="fitted exactly"):
        model.refit(1e3 + 0.5 * data["x"].to_numpy() + groups * 1e-2, **KW)
    y = 1e3 + data["y"].to_numpy() * 1e-2
    fresh = fg.Model("y ~ x + (1 | g)", data.assign(y=y))
    assert model.refit(y, **KW).draws().tolist() == fresh.sample(**KW).draws().tolist()


@pytest.mark.parametrize("level", [5.0, 30.0])
def test_an_exact_fit_without_an_intercept_is_refused_away_from_zero(data, level):
    """Without an intercept the check's sums are not centred: a response some sds from 0
    fitted exactly must still be refused (the check declines to decide only ~300 sds
    out, where the sums' rounding swamps it)."""
    groups = data["g"].astype("category").cat.codes.to_numpy()
    y = level + 2 * data["x"].to_numpy() + 0.3 * groups
    with pytest.raises(ValueError, match="fitted exactly"):
        fg.fit("y ~ 0 + x + (1 | g)", data.assign(y=y), **KW)


@pytest.mark.parametrize("level", [1e3, 1e6])
@pytest.mark.parametrize("family", ["gaussian", "t"])
def test_an_exact_fit_far_from_zero_is_refused_and_a_near_one_is_not(data, level, family):
    """Beyond ~300 sds from 0 without an intercept the check's sums cannot decide (their
    rounding, a few eps * y'Wy, swamps 1e-10 of the spread), and an exact fit was
    sampled: y = 1000 + 0.5 x + u_g under 0 + x + (1 | g) gave sigma down to 1e-64
    (the lstsq check before 4ce9cb3 refused it, but also refused y with noise 1e-3 sd at
    1e6 by its rounding). There the residual of the least-squares coefficients is
    computed from the rows: the exact fit is refused, fitted and refitted, and the noisy
    response is not."""
    groups = data["g"].astype("category").cat.codes.to_numpy()
    y = level + 0.5 * data["x"].to_numpy() + 0.3 * groups
    with pytest.raises(ValueError, match="fitted exactly"):
        fg.Model("y ~ 0 + x + (1 | g)", data.assign(y=y), family=family)
    noisy = y + 1e-3 * np.random.default_rng(1).normal(size=len(y))
    model = fg.Model("y ~ 0 + x + (1 | g)", data.assign(y=noisy), family=family)
    if family == "gaussian":
        with pytest.raises(ValueError, match="fitted exactly"):
            model.refit(y, **KW)
