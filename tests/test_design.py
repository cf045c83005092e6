"""Formula evaluation and input validation: every bad input fails before sampling with
an error that names the culprit."""
import warnings

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.design import build_design


@pytest.fixture
def data(rng):
    n = 60
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.normal(size=n),
        "g": np.repeat(list("abcdef"), 10), "h": np.tile(list("pqrs"), 15),
        "sector": np.tile(["Public", "Catholic", "Other"], 20),
    })


def _fit(formula, data, **kw):
    kw.setdefault("chains", 1)
    kw.setdefault("warmup", 5)
    kw.setdefault("draws", 5)
    return fg.fit(formula, data, **kw)


# ---- what the design contains -------------------------------------------------------

def test_names_follow_bambi_convention(data):
    d = build_design("y ~ x + sector + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x", "sector[Other]", "sector[Public]")
    fit = _fit("y ~ x + sector + (1 | g)", data)
    assert fit.names[:6] == ("Intercept", "x", "sector[Other]", "sector[Public]", "sigma",
                             "1|g_sigma")
    assert fit.names[6] == "1|g[a]"
    assert fit.draws("1|g").shape == (1, 5, 6)


def test_nested_factor_expands_like_lme4(data):
    d = build_design("y ~ 1 + (1 | g/h)", data)
    assert [b.factor for b in d.blocks] == ["g", "g:h"]
    assert d.blocks[1].n_groups == len(data.groupby(["g", "h"]))
    assert d.blocks[1].levels[0] == "a:p"


def test_crossed_and_interaction_factor(data):
    d = build_design("y ~ x + (1 | g) + (1 | h) + (1 | g:h)", data)
    assert [b.factor for b in d.blocks] == ["g", "h", "g:h"]


def test_independent_slopes_merge_into_one_block(data):
    d = build_design("y ~ x + (x || g)", data)
    assert len(d.blocks) == 1
    assert d.blocks[0].terms == ("1|g", "x|g")
    np.testing.assert_array_equal(d.blocks[0].Z[:, 1], data["x"])


def test_transforms_and_interactions(data):
    d = build_design("y ~ x * z + I(x**2) + np.exp(z) + (1 | g)", data)
    assert "x:z" in d.fixed_names and "I(x ** 2)" in d.fixed_names
    np.testing.assert_allclose(d.X[:, d.fixed_names.index("I(x ** 2)")], data["x"] ** 2)


def test_group_level_predictor_is_an_ordinary_column(data):
    data["gmean"] = data.groupby("g")["x"].transform("mean")
    d = build_design("y ~ x + gmean + (1 | g)", data)
    assert "gmean" in d.fixed_names


# ---- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_predictor(data, bad):
    data.loc[3, "x"] = bad
    with pytest.raises(ValueError, match="'x'"):
        _fit("y ~ x + (1 | g)", data)


def test_nonfinite_response(data):
    data.loc[3, "y"] = np.inf
    with pytest.raises(ValueError, match="'y'"):
        _fit("y ~ x + (1 | g)", data)


def test_missing_values_raise_with_count_unless_dropped(data):
    data.loc[[1, 2], "x"] = np.nan
    data.loc[5, "g"] = None
    with pytest.raises(ValueError, match=r"'g' \(1 missing\).*'x' \(2 missing\)"):
        _fit("y ~ x + (1 | g)", data)
    fit = _fit("y ~ x + (1 | g)", data, na_action="drop")
    assert fit.n_obs == len(data) - 3 and fit.n_dropped == 3
    assert "3 rows with missing values dropped" in str(fit)


def test_missing_column(data):
    with pytest.raises(ValueError, match="'nope'"):
        _fit("y ~ nope + (1 | g)", data)
    with pytest.raises(ValueError, match="'grp'"):
        _fit("y ~ x + (1 | grp)", data)


def test_non_numeric_response(data):
    with pytest.raises(TypeError, match="'sector'"):
        _fit("sector ~ x + (1 | g)", data)


def test_single_level_grouping_factor(data):
    data["one"] = "only"
    with pytest.raises(ValueError, match="'one'.*single level"):
        _fit("y ~ x + (1 | one)", data)


def test_observation_level_effect_refused_for_gaussian(data):
    """As lme4 ('number of levels of each grouping factor must be < number of
    observations'): its variance cannot be told apart from sigma."""
    data["row"] = np.arange(len(data)).astype(str)
    with pytest.raises(ValueError, match="'row' has one observation per level"):
        build_design("y ~ x + (1 | row)", data)


def test_observation_level_effect_allowed_for_counts(data):
    data["row"] = np.arange(len(data)).astype(str)
    data["count"] = np.round(np.exp(data["y"] - data["y"].min())).astype(int)
    design = build_design("count ~ x + (1 | g) + (1 | row)", data, family="poisson")
    assert [b.factor for b in design.blocks] == ["g", "row"]


def test_observation_level_effect_refused_for_binary_responses(data):
    """Binary data cannot be overdispersed: the variance would rest on its prior."""
    data["row"] = np.arange(len(data)).astype(str)
    data["b"] = (data["y"] > data["y"].median()).astype(int)
    with pytest.raises(ValueError, match="'row' has one observation per level.*binary"):
        build_design("b ~ x + (1 | g) + (1 | row)", data, family="bernoulli")


def test_collinear_fixed_effects_named(data):
    data["x2"] = 2 * data["x"] + 1
    with pytest.raises(ValueError, match=r"collinear.*'x'.*'x2'"):
        _fit("y ~ x + x2 + (1 | g)", data, rank_deficient="error")


@pytest.mark.parametrize("make", [lambda: fg.Normal(0, 0), lambda: fg.Normal(0, -1),
                                  lambda: fg.InvGamma(0, 1), lambda: fg.InvGamma(1, -2),
                                  lambda: fg.HalfCauchy(0), lambda: fg.InvGamma(np.inf, 1)])
def test_prior_with_nonpositive_parameter(make):
    with pytest.raises(ValueError, match="positive"):
        make()


def test_unknown_prior_key(data):
    with pytest.raises(ValueError, match="unknown prior key 'slope'.*Intercept"):
        _fit("y ~ x + (1 | g)", data, priors={"slope": fg.Normal(0, 1)})


def test_wrong_prior_type(data):
    with pytest.raises(TypeError, match="'x'"):
        _fit("y ~ x + (1 | g)", data, priors={"x": fg.InvGamma(1, 1)})
    with pytest.raises(TypeError, match="'1\\|g'"):
        _fit("y ~ x + (1 | g)", data, priors={"1|g": fg.Normal(0, 1)})


@pytest.mark.parametrize("arg,value", [("chains", 0), ("draws", 0), ("chains", 1.5),
                                       ("warmup", -1), ("thin", 0), ("n_jobs", 0)])
def test_bad_counts(data, arg, value):
    with pytest.raises(ValueError, match=arg):
        _fit("y ~ x + (1 | g)", data, **{arg: value})


@pytest.mark.parametrize("formula", ["y ~ x +", "y x", "~ x", "y ~ (1 | )", "y ~ (x | g",
                                     "y ~ x + (1 | g + h)"])
def test_unparsable_formula(data, formula):
    with pytest.raises(fg.FormulaError):
        _fit(formula, data)


def test_formula_error_is_a_value_error():
    assert issubclass(fg.FormulaError, ValueError)


def test_data_must_be_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        fg.fit("y ~ 1", {"y": [1, 2]})


def test_unknown_family_and_backend(data):
    with pytest.raises(ValueError, match="family"):
        _fit("y ~ x + (1 | g)", data, family="weibull")
    with pytest.raises(ValueError, match="backend"):
        _fit("y ~ x + (1 | g)", data, backend="gpu")


def test_extreme_but_valid_data_give_finite_draws(data, rng):
    """Tiny residual noise and huge offsets: finite draws, no NaN."""
    data["y"] = 1e6 + data["x"] * 1e-3 + np.repeat(np.arange(6), 10) * 1e-4 \
        + 1e-7 * rng.normal(size=len(data))
    for seed in range(5):
        fit = _fit("y ~ x + (1 | g)", data, draws=50, seed=seed)
        assert np.isfinite(fit.draws()).all()


def test_a_response_fitted_exactly_by_groups_is_refused(data):
    """No residual at all once the group means are in: sigma would collapse to 0
    (issue 11.5); refused before sampling, naming the cause."""
    data["y"] = 1e6 + data["x"] * 1e-3 + np.repeat(np.arange(6), 10) * 1e-4
    with pytest.raises(ValueError, match="fitted exactly by the fixed and group effects"):
        _fit("y ~ x + (1 | g)", data, draws=50)


def test_errors_of_a_right_hand_side_show_no_placeholder_response():
    """A group term's (or streamed data's) columns are evaluated with an internal
    placeholder response, which error messages showed: 'cannot evaluate
    fastgibbs_lhs_response ~ 1 + c on data'."""
    data = pd.DataFrame({"x": np.arange(20.0), "y": np.sin(np.arange(20.0)), "c": "b",
                         "g": list("ab") * 10})
    with pytest.raises(fg.FormulaError, match=r"cannot evaluate 1 \+ c on data: column 'c' "
                                              r"has the single value") as err:
        fg.Model("y ~ x + (1 + c | g)", data)
    assert "fastgibbs_lhs_response" not in str(err.value)
