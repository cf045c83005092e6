"""Coming from lme4: R spellings, R's coding of factors, lme4's blocks and its handling
of aliased columns; formula terms are used or refused, never ignored; group labels
are unique; column problems are reported by name (issues 11 and 18)."""
import json
from pathlib import Path
import warnings

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs.coding import contr_poly
from fastgibbs.design import build_design, evaluate_new_data
from fastgibbs.formula import parse_formula

GOLDEN = Path(__file__).parent / "data" / "lme4_golden"


@pytest.fixture
def data(rng):
    n = 120
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.normal(size=n) + 3,
        "g": np.repeat(list("abcdefghijkl"), 10), "h": np.tile(list("pqrs"), 30),
        "s": rng.integers(0, 6, n), "n": np.full(n, 6),
    })


def _design(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return build_design(formula, data, **kw)


def _fit(formula, data, **kw):
    kw.setdefault("chains", 1)
    kw.setdefault("warmup", 5)
    kw.setdefault("draws", 5)
    kw.setdefault("seed", 1)
    return fg.fit(formula, data, **kw)


# ---- 18.2 / 18.3: R's coding of factors ---------------------------------------------

def test_categorical_reference_is_its_first_category(data):
    data["f"] = pd.Categorical(np.resize(["mid", "low", "high"], len(data)),
                               categories=["mid", "low", "high"])
    d = _design("y ~ f + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "f[low]", "f[high]")


def test_strings_keep_sorted_order(data):
    data["f"] = np.resize(["mid", "low", "high"], len(data))
    assert _design("y ~ f + (1 | g)", data).fixed_names == ("Intercept", "f[low]", "f[mid]")


@pytest.mark.parametrize("ordered", [False, True])
def test_unused_categories_are_dropped(data, ordered):
    data["f"] = pd.Categorical(np.resize(["b", "c", "d"], len(data)),
                               categories=["a", "b", "c", "d"], ordered=ordered)
    d = _design("y ~ f + (1 | g)", data)
    assert d.n_fixed == 3 and not any("[a]" in n for n in d.fixed_names)


def test_contr_poly_equals_r():
    # R: contr.poly(4)
    expected = np.array([[-0.6708203932, 0.5, -0.2236067977],
                         [-0.2236067977, -0.5, 0.6708203932],
                         [0.2236067977, -0.5, -0.6708203932],
                         [0.6708203932, 0.5, 0.2236067977]])
    matrix, labels = contr_poly(4)
    np.testing.assert_allclose(matrix, expected, atol=1e-10)
    assert labels == [".L", ".Q", ".C"]
    assert contr_poly(6)[1] == [".L", ".Q", ".C", "^4", "^5"]


def test_ordered_categorical_gets_polynomial_contrasts(data):
    levels = ["low", "mid", "high"]
    data["o"] = pd.Categorical(np.resize(levels, len(data)), categories=levels, ordered=True)
    d = _design("y ~ o + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "o[.L]", "o[.Q]")
    codes = data["o"].cat.codes.to_numpy()
    np.testing.assert_allclose(d.X[:, 1:], contr_poly(3)[0][codes], atol=1e-12)


def test_treatment_coding_of_an_ordered_factor_on_request(data):
    levels = ["low", "mid", "high"]
    data["o"] = pd.Categorical(np.resize(levels, len(data)), categories=levels, ordered=True)
    for spelling in ("C(o, Treatment)", "C(o, contr.treatment)"):
        d = _design(f"y ~ {spelling} + (1 | g)", data)
        assert d.fixed_names[1:] == (f"{spelling}[mid]", f"{spelling}[high]")


def test_ordered_factor_predicts_with_its_coding(data):
    levels = ["low", "mid", "high"]
    data["o"] = pd.Categorical(np.resize(levels, len(data)), categories=levels, ordered=True)
    fit = _fit("y ~ o + (1 | g)", data)
    new = pd.DataFrame({"o": ["high", "low"], "g": ["a", "b"]})
    assert np.isfinite(fit.predict(new, include_group=False)["mean"]).all()


# ---- 18.4: scale() ------------------------------------------------------------------

def test_scale_divides_by_the_sample_sd(data):
    d = _design("y ~ scale(x) + (1 | g)", data)
    x = data["x"].to_numpy()
    np.testing.assert_allclose(d.X[:, 1], (x - x.mean()) / x.std(ddof=1), rtol=1e-12)
    assert d.fixed_names == ("Intercept", "scale(x)")


def test_scale_uses_the_fitted_mean_and_sd_for_new_data(data):
    fit = _fit("y ~ scale(x) + (1 | g)", data)
    new = data.head(3)
    X, _, _ = evaluate_new_data(fit, new)
    x = data["x"].to_numpy()
    np.testing.assert_allclose(X[:, 1], (new["x"] - x.mean()) / x.std(ddof=1), rtol=1e-12)


# ---- 18.5: R spellings --------------------------------------------------------------

def test_power_of_a_sum_is_all_interactions(data):
    d = _design("y ~ (x + z + s)^2 + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x", "z", "s", "x:z", "x:s", "z:s")


def test_caret_inside_I_is_a_power(data):
    d = _design("y ~ I(x^2) + (1 | g)", data)
    np.testing.assert_allclose(d.X[:, 1], data["x"] ** 2)


@pytest.mark.parametrize("r,numpy", [("log(z)", np.log), ("exp(x)", np.exp),
                                     ("sqrt(z)", np.sqrt), ("log10(z)", np.log10),
                                     ("log(z, 2)", np.log2), ("abs(x)", np.abs)])
def test_r_math_functions_without_np(data, r, numpy):
    d = _design(f"y ~ {r} + (1 | g)", data)
    col = "z" if "z" in r else "x"
    np.testing.assert_allclose(d.X[:, 1], numpy(data[col]), rtol=1e-12)


def test_log_response(data):
    data["y"] = np.exp(data["y"])
    d = _design("log(y) ~ x + (1 | g)", data)
    np.testing.assert_allclose(d.y, np.log(data["y"]))


def test_factor_of_numbers_orders_levels_numerically(data):
    data["s"] = np.resize([10, 9, 2], len(data))
    d = _design("y ~ factor(s) + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "factor(s)[9]", "factor(s)[10]")


def test_true_false_and_raw_polynomials(data):
    d = _design("y ~ poly(x, 2, raw=TRUE) + (1 | g)", data)
    np.testing.assert_allclose(d.X[:, 2], data["x"] ** 2)


def test_dummy_is_an_indicator(data):
    d = _design("y ~ x + (0 + dummy(h, 'p') | g)", data)
    np.testing.assert_array_equal(d.blocks[0].Z[:, 0], (data["h"] == "p").astype(float))


def test_dummy_codes_new_data_by_the_fitted_levels(data):
    """dummy(h) without levels took its levels from new data: rows holding two of the
    four levels gave two columns (an IndexError in predict; under a bar, columns named
    as the fitted ones but of other levels)."""
    fit = _fit("y ~ 0 + x + dummy(h) + (0 + dummy(h) | g)", data)
    new = data[data["h"].isin(["q", "s"])].head(4)
    X, groups, _ = evaluate_new_data(fit, new)
    rows = data.index.get_indexer(new.index)
    np.testing.assert_array_equal(X, fit.design.X[rows])
    np.testing.assert_array_equal(groups[0][0], fit.design.blocks[0].Z[rows])


def test_as_numeric_of_a_factor_uses_the_fitted_codes(data):
    """as.numeric(f) of a Categorical coded new rows by their own categories: rows of
    levels 'r' and 's' (codes 3 and 4 in fitting) got 1 and 2 when newdata's
    Categorical held those two categories only."""
    data["f"] = pd.Categorical(data["h"])
    fit = _fit("y ~ as.numeric(f) + (1 | g)", data)
    np.testing.assert_array_equal(fit.design.X[:4, 1], [1, 2, 3, 4])
    new = pd.DataFrame({"f": pd.Categorical(["s", "r"]), "g": ["a", "a"]})
    X, _, _ = evaluate_new_data(fit, new)
    np.testing.assert_array_equal(X[:, 1], [4, 3])
    new["f"] = pd.Categorical(["s", "r"], categories=["s", "r", "q", "p"])
    np.testing.assert_array_equal(evaluate_new_data(fit, new)[0][:, 1], [4, 3])
    with pytest.raises(ValueError, match=r"levels \(t\) are not among the fitted"):
        evaluate_new_data(fit, pd.DataFrame({"f": ["t"], "g": ["a"]}))


@pytest.mark.parametrize("value", [None, np.nan])
def test_missing_values_in_newdata_are_refused(data, value):
    """A missing value in a True/False column of newdata was read as False (None) or
    True (NaN), silently; a missing category was called an unseen level."""
    data["b"] = data["x"] > 0
    data["f"] = pd.Categorical(data["h"])
    fit = _fit("y ~ b + f + (1 | g)", data)
    new = data.head(3).astype({"b": object})
    new.loc[new.index[1], "b"] = value
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['b'\]"):
        fit.predict(new, seed=1)
    new = data.head(3).copy()
    new.loc[new.index[1], "f"] = None
    with pytest.raises(ValueError, match=r"missing values in column\(s\) \['f'\]"):
        fit.predict(new, seed=1)


def test_reference_level_by_relevel_or_factor_levels(data):
    """R's two ways to choose a reference level, relevel(h, "r") and factor(h, levels =
    c(...)), were refused as unknown functions ('relevel', 'c')."""
    d = _design("y ~ relevel(h, 'r') + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "relevel(h, 'r')[p]", "relevel(h, 'r')[q]",
                             "relevel(h, 'r')[s]")
    levels = _design("y ~ factor(h, levels = c('r', 's', 'q', 'p')) + (1 | g)", data)
    np.testing.assert_array_equal(levels.X[:, 1:], (data["h"].to_numpy()[:, None]
                                                    == np.array(["s", "q", "p"])))
    fit = _fit("y ~ x + relevel(h, 'r') + (0 + factor(h, levels = c('s', 'r', 'q', 'p')) | g)",
               data)
    new = data[data["h"].isin(["p", "s"])].head(4)           # without the reference r
    X, groups, _ = evaluate_new_data(fit, new)
    rows = data.index.get_indexer(new.index)
    np.testing.assert_array_equal(X, fit.design.X[rows])
    np.testing.assert_array_equal(groups[0][0], fit.design.blocks[0].Z[rows])
    with pytest.raises(fg.FormulaError, match="'zz' is not a level"):
        _design("y ~ relevel(h, 'zz') + (1 | g)", data)
    with pytest.raises(fg.FormulaError, match=r"value\(s\) s are not among the levels"):
        _design("y ~ factor(h, levels = c('p', 'q', 'r')) + (1 | g)", data)


@pytest.mark.parametrize("contrast", ["Helmert", "contr.helmert"])
def test_an_unknown_contrast_is_named_as_a_contrast(data, contrast):
    """C(h, Helmert) said "column 'Helmert' used in the formula is not in data"."""
    with pytest.raises(fg.FormulaError, match=f"unknown contrast '{contrast}' in C"):
        _design(f"y ~ C(h, {contrast}) + (1 | g)", data)
    with pytest.raises(fg.FormulaError, match=f"unknown contrast '{contrast}' in C"):
        _design(f"y ~ x + (0 + C(h, {contrast}) | g)", data)


def test_in_operator_is_nesting(data):
    assert _design("y ~ x %in% z + (1 | g)", data).fixed_names == ("Intercept", "x:z")


def test_nesting_slash_of_a_categorical_is_written_out(data):
    """y ~ h/x is R's h + h:x (it was refused: formulae mislabelled h's columns; see
    test_nesting_of_a_categorical_in_the_fixed_part_is_r_s_h_plus_h_x)."""
    expected = ("Intercept", "h[q]", "h[r]", "h[s]", "h[p]:x", "h[q]:x", "h[r]:x", "h[s]:x")
    assert _design("y ~ h/x + (1 | g)", data).fixed_names == expected
    assert _design("y ~ h + h:x + (1 | g)", data).fixed_names == expected
    assert _design("y ~ x/z + (1 | g)", data).fixed_names == ("Intercept", "x", "x:z")
    assert _design("y ~ I(x/z) + (1 | g)", data).fixed_names == ("Intercept", "I(x / z)")


def test_dot_is_every_other_column(data):
    d = _design("y ~ . - g - h + (1 | g)", data.drop(columns=["n"]))
    assert d.fixed_names == ("Intercept", "x", "z", "s")


@pytest.mark.parametrize("response,trials", [("cbind(s, n - s)", "p(s, n)"),
                                             ("s | trials(n)", "p(s, n)"),
                                             ("cbind(s, f)", "p(s, s + (f))")])
def test_binomial_responses_of_lme4_and_brms(data, response, trials):
    data["f"] = data["n"] - data["s"]
    d = _design(f"{response} ~ x + (1 | g)", data, family="binomial")
    assert d.response == trials
    np.testing.assert_array_equal(d.y, data["s"])
    np.testing.assert_array_equal(d.trials, data["n"])


def test_unsupported_brms_addition_is_named(data):
    with pytest.raises(fg.FormulaError, match=r"trials\(\).*weights\(\)"):
        _design("y | weights(n) ~ x + (1 | g)", data)


def test_unknown_function_is_named_with_the_python_spelling(data):
    with pytest.raises(fg.FormulaError, match=r"unknown function 'foo'.*np\."):
        _design("y ~ foo(x) + (1 | g)", data)



def test_a_ratio_response_points_to_cbind(data):
    """glmer's s/n ~ ... with weights = n: formulae cannot read a ratio as a response."""
    with pytest.raises(fg.FormulaError, match=r"response 'y/x' is a ratio.*cbind.*I\(y/x\)"):
        parse_formula("y/x ~ h + (1 | g)")
    assert parse_formula("I(y/x) ~ h + (1 | g)").response == "I(y/x)"

def test_lme4_covariance_structures_are_refused_by_name(data):
    with pytest.raises(fg.FormulaError, match=r"cs\(\).*\(x \| g\).*\(x \|\| g\)"):
        _design("y ~ x + cs(1 + x | g)", data)


@pytest.mark.parametrize("lme4_2,lme4_1", [("us(x | g)", "(x | g)"), ("diag(x | g)", "(x || g)")])
def test_lme4_2_unstructured_and_diagonal(data, lme4_2, lme4_1):
    a, b = _design(f"y ~ x + {lme4_2}", data), _design(f"y ~ x + {lme4_1}", data)
    assert [(k.columns, k.correlated) for k in a.blocks] == \
        [(k.columns, k.correlated) for k in b.blocks]


def test_ns_spans_the_natural_spline_space(data):
    d = _design("y ~ ns(x, 3) + (1 | g)", data)
    assert d.n_fixed == 4
    # the natural cubic splines with R's knots contain the linear functions of x
    coef, *_ = np.linalg.lstsq(d.X, data["x"].to_numpy(), rcond=None)
    np.testing.assert_allclose(d.X @ coef, data["x"], atol=1e-8)


# ---- 18.6: aliased fixed effects ----------------------------------------------------

def test_aliased_columns_dropped_with_a_warning_as_lme4(data):
    data["x2"] = 2 * data["x"] + 1
    with pytest.warns(UserWarning, match=r"rank deficient.*\['x2'\]"):
        d = build_design("y ~ x + x2 + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x") and d.dropped_fixed == ("x2",)


def test_aliased_columns_refused_on_request(data):
    data["x2"] = 2 * data["x"] + 1
    with pytest.raises(ValueError, match=r"collinear.*'x2'.*rank_deficient='drop'"):
        build_design("y ~ x + x2 + (1 | g)", data, rank_deficient="error")
    with pytest.raises(ValueError, match="rank_deficient"):
        build_design("y ~ x + (1 | g)", data, rank_deficient="maybe")


def test_empty_interaction_cells_are_dropped_and_predict_works(data):
    data["a"] = np.resize(["u", "v"], len(data))
    data["b"] = np.where(data["a"] == "u", np.resize(["k", "k", "l", "l"], len(data)), "k")
    with pytest.warns(UserWarning, match=r"a\[v\]:b\[l\]"):
        fit = _fit("y ~ a * b + (1 | g)", data, rank_deficient="drop")
    assert "a[v]:b[l]" not in fit.fixed_names
    assert fit.predict(data.head(4))["mean"].notna().all()


def test_far_from_zero_predictor_is_not_aliased_with_the_intercept(data):
    data["x"] = data["x"] + 1e8
    assert _design("y ~ x + (1 | g)", data).fixed_names == ("Intercept", "x")


@pytest.mark.parametrize("scale", [1e155, 1e-170])
def test_predictor_at_an_extreme_scale_is_kept(data, scale):
    """x * 1e155 (its Gram matrix overflowed) and x * 1e-170 (it underflowed to 0) were
    dropped as aliased: the rank rule is scale-invariant. The sampler works on the
    scaled column, so the draws are the unscaled fit's divided by the scale."""
    far = data.assign(x=data["x"] * scale)
    assert _design("y ~ x + (1 | g)", far).fixed_names == ("Intercept", "x")
    base = _fit("y ~ x + (1 | g)", data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = _fit("y ~ x + (1 | g)", far)
    assert fit.fixed_names == ("Intercept", "x")
    np.testing.assert_allclose(fit.draws("x") * scale, base.draws("x"), rtol=1e-8)
    np.testing.assert_allclose(fit.draws("Intercept"), base.draws("Intercept"), rtol=1e-8)
    # so are the posterior sds (np.std's squares overflowed or underflowed)
    np.testing.assert_allclose(fit.se_fixef()["x"] * scale, base.se_fixef()["x"], rtol=1e-8)
    np.testing.assert_allclose(fit.summary().loc["x", "sd"] * scale,
                               base.summary().loc["x", "sd"], rtol=1e-8)


@pytest.mark.parametrize("x_scale,x2", [
    (1e150, lambda x: x), (1e150, lambda x: -2 * x + 1), (1.0, lambda x: x * 1e150),
    (1e-170, lambda x: 3 * x), (1e150, lambda x: x * 1e-300)])
def test_aliased_columns_at_extreme_scales_are_still_dropped(data, x_scale, x2):
    data["x"] = data["x"] * x_scale
    data["x2"] = x2(data["x"])
    with pytest.warns(UserWarning, match=r"rank deficient.*\['x2'\]"):
        d = build_design("y ~ x + x2 + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x") and d.dropped_fixed == ("x2",)
    with pytest.raises(ValueError, match=r"collinear.*'x'.*'x2'"):
        build_design("y ~ x + x2 + (1 | g)", data, rank_deficient="error")



@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("x2", [lambda x: 2 * x, lambda x: 3 * x - 7])
def test_aliased_columns_far_from_zero_are_dropped(x2, seed):
    """Columns near 1e8 whose spread is tiny beside their size: scaled by their largest
    value and centred they have norms ~1e-7, and the Cholesky shortcut must give the
    residuals themselves (its diagonal), not their square roots, which sent an exact
    duplicate past the shortcut as independent."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"g": rng.integers(0, 10, 200), "y": rng.normal(size=200),
                         "x": 1e8 + rng.normal(size=200)})
    data["x2"] = x2(data["x"])
    with pytest.warns(UserWarning, match=r"rank deficient.*\['x2'\]"):
        d = build_design("y ~ x + x2 + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x")
    with pytest.raises(ValueError, match="collinear"):
        build_design("y ~ x + x2 + (1 | g)", data, rank_deficient="error")

def test_all_zero_column_is_dropped(data):
    data["zero"] = 0.0
    with pytest.warns(UserWarning, match=r"rank deficient.*\['zero'\]"):
        d = build_design("y ~ x + zero + (1 | g)", data)
    assert d.fixed_names == ("Intercept", "x") and d.dropped_fixed == ("zero",)
    with pytest.raises(ValueError, match=r"\['zero'\] are all zero"):
        build_design("y ~ x + zero + (1 | g)", data, rank_deficient="error")


# ---- 18.7: several blocks per factor ------------------------------------------------

def test_correlated_and_diagonal_blocks_on_one_factor(data):
    data["w"] = (data["h"] == "p").astype(float)
    d = _design("y ~ x + (x | g) + (0 + w | g)", data)
    assert [(b.factor, b.columns, b.correlated) for b in d.blocks] == \
        [("g", ("1", "x"), True), ("g", ("w",), False)]
    fit = _fit("y ~ x + (x | g) + (0 + w | g)", data)
    assert {"1|g_sigma", "x|g_sigma", "w|g_sigma", "1|g~x|g_corr"} <= set(fit.names)
    assert "1 + x|g" in fit.priors and "w|g" in fit.priors
    assert list(fit.ranef()["g"].columns) == ["Intercept", "x", "w"]
    assert fit.predict(data.head(3))["mean"].notna().all()


def test_two_correlated_blocks_on_one_factor(data):
    d = _design("y ~ x + (1 + x | g) + (0 + h | g)", data)
    assert [b.columns for b in d.blocks] == [("1", "x"), ("h[p]", "h[q]", "h[r]", "h[s]")]
    assert all(b.correlated for b in d.blocks)


def test_double_bar_expands_as_lme4(data):
    # lme4's expandDoubleVerts: (1 + x + h || g) = (1 | g) + (0 + x | g) + (0 + h | g)
    d = _design("y ~ x + (1 + x + h || g)", data)
    assert [(b.columns, b.correlated) for b in d.blocks] == \
        [(("1", "x"), False), (("h[p]", "h[q]", "h[r]", "h[s]"), True)]


def test_the_same_column_twice_on_a_factor_is_refused(data):
    with pytest.raises(fg.FormulaError, match=r"'x' varies by 'g' twice"):
        _design("y ~ x + (x | g) + (0 + x | g)", data)



@pytest.mark.parametrize("bar", ["(1 | g/g)", "(1 | g:g)", "(1 | g/h/g)"])
def test_a_factor_nested_in_or_crossed_with_itself_is_refused(data, bar):
    with pytest.raises(fg.FormulaError, match=r"repeats 'g'"):
        _design(f"y ~ x + {bar}", data)

def test_one_column_bars_predict(rng):
    # the merged block's lhs used to be evaluated as '1 + 0 + Days' for new data
    sleep = fg.datasets.load("sleepstudy")
    fit = _fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep)
    assert fit.predict(sleep.head(3))["mean"].notna().all()


def test_several_blocks_fit_matches_lme4():
    """Orthodont, lme4's test-methods.R:491: fixed effects within two posterior sds of
    lme4's REML estimates (tests/data/lme4_golden/lme4_fits.json), the anchor-fit rule
    of the style guide: a model-agreement tolerance, not a Monte Carlo one (the
    posterior sds are 10x the Monte Carlo errors of these means at this run length)."""
    import test_design_golden as golden
    reference = json.loads((GOLDEN / "lme4_fits.json").read_text())["orthodont_nsex_block"]
    ortho = golden._load("Orthodont")
    fit = fg.fit("distance ~ age + (age|Subject) + (0 + nsex|Subject)", ortho, chains=4,
                 warmup=500, draws=1000, seed=18)
    table = fit.summary(["Intercept", "age"])
    for name, r_name in (("Intercept", "(Intercept)"), ("age", "age")):
        assert abs(table.loc[name, "mean"] - reference["fixef"][r_name]) \
            < 2 * table.loc[name, "sd"]
    assert table["r_hat"].max() < 1.01


# ---- 18.8 and 11.3: group labels ----------------------------------------------------

def test_integral_float_groups_are_labelled_as_r_prints_them(data):
    data["g"] = np.repeat(np.arange(12.0), 10)
    d = _design("y ~ x + (1 | g)", data)
    assert list(d.blocks[0].levels[:3]) == ["0", "1", "2"]
    fit = _fit("y ~ x + (1 | g)", data)
    assert "1|g[0]" in fit.names
    new = pd.DataFrame({"x": [0.0], "g": [3]})      # an int finds the float group 3.0
    assert fit.predict(new, seed=1)["sd"].iloc[0] < 5 * fit.predict(
        data.head(1), seed=1)["sd"].iloc[0]


def test_values_that_print_the_same_are_refused(data):
    data["g"] = pd.Series([1] * 60 + ["1"] * 60, dtype=object)
    data.loc[:9, "g"] = 2
    with pytest.raises(ValueError, match=r"grouping column 'g'.*\[1, '1'\]"):
        _design("y ~ x + (1 | g)", data)


def test_combinations_that_print_the_same_are_refused(data):
    data["a"] = np.where(np.arange(len(data)) < 60, "x:y", "x")
    data["b"] = np.where(np.arange(len(data)) < 60, "z", "y:z")
    with pytest.raises(ValueError, match=r"'a:b'.*'x:y:z'.*':'"):
        _design("y ~ x + (1 | a:b)", data)


# ---- 11.1: every term used or refused -----------------------------------------------

def test_bare_bar_is_read_as_lme4_reads_it(data):
    d = _design("y ~ 1 | g", data)
    assert d.fixed_names == ("Intercept",) and [b.factor for b in d.blocks] == ["g"]


def test_bare_bar_with_a_slope_warns_and_varies(data):
    with pytest.warns(UserWarning, match=r"y ~ x \+ \(x \| g\)"):
        d = build_design("y ~ x | g", data)
    assert d.fixed_names == ("Intercept",) and d.blocks[0].columns == ("1", "x")


@pytest.mark.parametrize("formula", ["y ~ (1 | g) - 1", "y ~ 0 + (1 | g)", "y ~ -1 + (1 | g)"])
def test_no_intercept_around_group_terms(data, formula):
    d = _design(formula, data)
    assert d.fixed_names == () and [b.factor for b in d.blocks] == ["g"]


def test_double_parentheses_keep_the_group_term(data):
    d = _design("y ~ x + ((1 | g))", data)
    assert [b.factor for b in d.blocks] == ["g"]


@pytest.mark.parametrize("formula,message", [
    ("y ~ x == 1 + (1 | g)", r"'==' .*I\("),
    ("y ~ x + (x + (1 | h) | g)", "another group term"),
    ("y ~ (x + (1 | g))", r"'\|' outside a group term"),
    ("y ~ x + (1 | g):z", r"'\|' outside a group term"),
    ("y ~ x + (1 | g) | h", "another group term"),
    ("y ~ x + (1 | g*h)", "column name"),
    ("y ~ x - (1 | g)", "cannot be subtracted"),
])
def test_terms_that_would_be_ignored_are_refused(data, formula, message):
    with pytest.raises(fg.FormulaError, match=message):
        _design(formula, data)


def test_every_parsed_term_reaches_the_design(data):
    for formula in ("y ~ x + z + (1 | g) + (0 + x | h)", "y ~ x * z + ((1 | g/h))"):
        parsed = parse_formula(formula)
        d = _design(formula, data)
        assert len(parsed.groups) == sum(len(b.lhs) for b in d.blocks)


# ---- 11: errors a user can act on ---------------------------------------------------

def test_text_in_a_numeric_column(data):
    data["x"] = data["x"].astype(object)
    data.loc[4, "x"] = "oops"
    with pytest.raises(TypeError, match=r"column 'x' mixes value types.*pd.to_numeric"):
        _design("y ~ x + (1 | g)", data)


def test_none_in_a_numeric_column_is_missing(data):
    data["x"] = data["x"].astype(object)
    data.loc[4, "x"] = None
    with pytest.raises(ValueError, match=r"'x' \(1 missing\)"):
        _design("y ~ x + (1 | g)", data)
    assert build_design("y ~ x + (1 | g)", data, na_action="drop").n_obs == len(data) - 1


def test_dates_are_refused_with_a_fix(data):
    data["t"] = pd.date_range("2020-01-01", periods=len(data))
    with pytest.raises(TypeError, match=r"column 't' holds datetime.*days"):
        _design("y ~ t + (1 | g)", data)


def test_duplicate_column_names(data):
    data = pd.concat([data, data[["x"]]], axis=1)
    with pytest.raises(ValueError, match=r"several columns named 'x'"):
        _design("y ~ x + (1 | g)", data)


def test_single_level_categorical_predictor(data):
    data["b"] = "k"
    with pytest.raises(ValueError, match=r"column 'b' has the single value 'k'"):
        _design("y ~ x * b + (1 | g)", data)


def test_numbers_stored_as_text_warn(data):
    data["x"] = data["x"].round(3).astype(str)
    with pytest.warns(UserWarning, match=r"'x' holds numbers stored as text.*pd.to_numeric"):
        build_design("y ~ x + (1 | g)", data)
    _design("y ~ factor(x) + (1 | g)", data)        # asked for: no warning


def test_aliased_columns_match_the_sequential_rule(rng):
    """A column is dropped iff it lies in the span of the kept columns before it, also
    after an earlier aliased column (a plain QR would misjudge those)."""
    from fastgibbs.design import _independent_columns
    for _ in range(30):
        n, p = rng.integers(5, 40), rng.integers(2, 9)
        X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
        for c in rng.choice(np.arange(1, p), size=rng.integers(0, p), replace=True):
            X[:, c] = X[:, :c] @ rng.normal(size=c) * rng.integers(0, 2, size=1)
        expected = []
        for c in range(p):
            if np.linalg.matrix_rank(X[:, expected + [c]], tol=1e-9 * np.linalg.norm(X)) \
                    > len(expected):
                expected.append(c)
        assert _independent_columns(X, [str(c) for c in range(p)], "drop") == expected


def test_as_numeric_reads_numbers_stored_as_text(data):
    data["t"] = data["x"].round(3).astype(str)
    d = _design("y ~ as.numeric(t) + (1 | g)", data)
    np.testing.assert_allclose(d.X[:, 1], data["x"].round(3))


def test_new_data_with_one_level_is_coded_with_the_fitted_levels(data):
    data["w"] = pd.Categorical(np.resize(["u", "v", "w"], len(data)))
    fit = _fit("y ~ w + (0 + w | g)", data)
    new = data[data["w"] == "v"].head(2)     # one level only: no single-level refusal
    assert fit.predict(new, seed=1)["mean"].notna().all()


@pytest.mark.parametrize("response", ["cbind(incidence, size - incidence)",
                                      "incidence | trials(size)"])
def test_binomial_predict_finds_the_trials_of_lme4_and_brms_responses(response):
    cbpp = fg.datasets.load("cbpp")
    fit = _fit(f"{response} ~ period + (1 | herd)", cbpp, family="binomial")
    pred = fit.predict(cbpp.head(2), seed=1)
    assert (pred["mean"] <= cbpp["size"].head(2).to_numpy()).all()


def test_bad_function_arguments_are_a_formula_error(data):
    with pytest.raises(fg.FormulaError, match=r"poly\(x, degre=2\).*degre"):
        _design("y ~ poly(x, degre=2) + (1 | g)", data)


@pytest.mark.parametrize("gap, kept", [(1e-2, True), (1e-5, True), (1e-6, True),
                                       (1e-9, False), (0.0, False)])
def test_nearly_aliased_columns_are_judged_by_qr_not_the_gram_matrix(rng, gap, kept):
    """The rank check reads distances from the Gram matrix only where they are far above
    its rounding (sqrt(eps) of a norm); a column 1e-5 or 1e-6 of its norm from the span
    of the others is kept and one 1e-9 away is aliased (RANK_TOLERANCE 1e-7), as QR
    decides, also when the Gram matrix's Cholesky factor cannot tell them apart."""
    from fastgibbs.design import _independent_columns
    n = 2000
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    noise = rng.normal(size=n)
    noise -= noise.mean() + X[:, 1:] @ np.linalg.lstsq(X[:, 1:] - X[:, 1:].mean(0),
                                                        noise - noise.mean(), rcond=None)[0]
    x4 = X[:, 1] - 2 * X[:, 3]
    x4 = x4 + gap * np.linalg.norm(x4 - x4.mean()) * noise / np.linalg.norm(noise)
    X = np.column_stack([X, x4])
    keep = _independent_columns(X, [str(c) for c in range(5)], "drop")
    assert keep == ([0, 1, 2, 3, 4] if kept else [0, 1, 2, 3])


# ---- a grouping factor written factor(g) ---------------------------------------------

def test_factor_of_a_grouping_column_is_the_column_named_as_lme4_names_it(tmp_path):
    """(1 | factor(g)) groups by g, as lme4 does (it names the term "factor(g)"); it was
    refused. Fitted, predicted (new levels as for (1 | g)), saved and loaded.

    lme4 1.1.31, with Subject an integer column (lme4 evaluates factor(Subject) in the
    formula's environment; with data = it cannot find Subject):
        s <- read.csv("sleepstudy.csv"); Reaction <- s$Reaction; Days <- s$Days
        Subject <- s$Subject; m <- lmer(Reaction ~ Days + (1 | factor(Subject)))
        fixef(m): 251.40510 10.46729; VarCorr: factor(Subject) 37.12383, Residual 30.99123
        names(ranef(m)): "factor(Subject)"
    """
    sleep = fg.datasets.load("sleepstudy")
    sleep["Subject"] = sleep["Subject"].astype(int)
    args = dict(chains=2, warmup=300, draws=500, seed=4)
    fit = fg.fit("Reaction ~ Days + (1 | factor(Subject))", sleep,
                 priors={"1|factor(Subject)": fg.HalfCauchy(100)}, **args)
    plain = fg.fit("Reaction ~ Days + (1 | Subject)", sleep,
                   priors={"1|Subject": fg.HalfCauchy(100)}, **args)
    np.testing.assert_array_equal(fit.draws_array, plain.draws_array)
    assert fit.names[:5] == ("Intercept", "Days", "sigma", "1|factor(Subject)_sigma",
                             "1|factor(Subject)[308]")
    assert list(fit.ranef()) == ["factor(Subject)"] == list(fit.coef())
    assert list(fit.ranef()["factor(Subject)"].index) == list(plain.ranef()["Subject"].index)
    assert fit.VarCorr().index[0][0] == "factor(Subject)"
    fixef, se = fit.fixef(), fit.se_fixef()
    assert abs(fixef["Intercept"] - 251.40510) < 0.5 * se["Intercept"]
    assert abs(fixef["Days"] - 10.46729) < 0.3
    assert 30 < np.median(fit.draws("1|factor(Subject)_sigma")) < 50     # REML 37.1
    assert abs(np.median(fit.draws("sigma")) - 30.99) < 2
    # new data: the fitted labels, a new level as for (1 | Subject)
    new = sleep.iloc[[0, 15, 30]].copy()
    new.loc[new.index[2], "Subject"] = 999
    for model in (fit, fg.load(_saved(fit, tmp_path))):
        np.testing.assert_allclose(model.predict(new, kind="mean", seed=2),
                                   plain.predict(new, kind="mean", seed=2))
    with pytest.raises(ValueError, match="1|factor.Subject."):
        fg.fit("Reaction ~ Days + (1 | factor(Subject))", sleep,
               priors={"1|Subject": fg.HalfCauchy(100)}, chains=1, warmup=5, draws=5)


def _saved(fit, tmp_path):
    path = tmp_path / "fit.fg"
    fit.save(path)
    return path


def test_factor_of_a_grouping_column_in_slopes_nesting_and_refusals(data):
    data["s2"] = data["s"] * 2.0                      # floats: labels as R prints them
    d = _design("y ~ x + (x | factor(g)) + (1 | factor(s2)/h)", data)
    assert [b.factor for b in d.blocks] == ["factor(g)", "factor(s2)", "factor(s2):h"]
    assert d.blocks[0].terms == ("1|factor(g)", "x|factor(g)")
    assert d.blocks[2].levels[0] == "0:p"
    plain = _design("y ~ x + (x | g) + (1 | s2/h)", data)
    for a, b in zip(d.blocks, plain.blocks):
        np.testing.assert_array_equal(a.group, b.group)
        np.testing.assert_array_equal(a.levels, b.levels)
    assert _design("y ~ (1 | as.factor(g))", data).blocks[0].factor == "as.factor(g)"
    with pytest.raises(fg.formula.FormulaError, match="written two ways"):
        _design("y ~ (1 | g) + (0 + x | factor(g))", data)
    with pytest.raises(fg.formula.FormulaError, match=r"column name or factor\(column\)"):
        _design("y ~ (1 | factor(g, levels = c('a')))", data)
    with pytest.raises(fg.formula.FormulaError, match="repeats"):
        _design("y ~ (1 | g/factor(g))", data)


# ---- True/False columns: R's logical, a factor with levels FALSE, TRUE -----------------

def test_bool_column_is_coded_as_r_codes_a_logical(tmp_path):
    """A bool column in the fixed part is R's logical, coded as a factor: y ~ 0 + b + x
    has the columns bFALSE and bTRUE in R (fastgibbs: b[False], b[True]); it was one
    0/1 column, a model without b = False's own mean. y ~ b is R's bTRUE (b[True]), and
    b:x without b has both slopes.

    lme4 1.1.31 (s <- read.csv("sleepstudy.csv"); s$b <- s$Days >= 5):
        fixef(lmer(Reaction ~ 0 + b + Days + (1 | Subject), s))
            bFALSE 252.469352  bTRUE 258.322709  Days 9.580414
        fixef(lmer(Reaction ~ b + Days + (1 | Subject), s))
            (Intercept) 252.469352  bTRUE 5.853357  Days 9.580414
        fixef(lmer(Reaction ~ b:Days + (1 | Subject), s))
            (Intercept) 254.486826  bFALSE:Days 8.464167  bTRUE:Days 10.159114
    """
    sleep = fg.datasets.load("sleepstudy")
    sleep["b"] = sleep["Days"] >= 5
    args = dict(chains=2, warmup=300, draws=600, seed=5)
    cases = {"Reaction ~ 0 + b + Days + (1 | Subject)":
             {"b[False]": 252.469352, "b[True]": 258.322709, "Days": 9.580414},
             "Reaction ~ b + Days + (1 | Subject)":
             {"Intercept": 252.469352, "b[True]": 5.853357, "Days": 9.580414},
             "Reaction ~ b:Days + (1 | Subject)":
             {"Intercept": 254.486826, "b[False]:Days": 8.464167, "b[True]:Days": 10.159114}}
    new = sleep.iloc[[0, 9, 19]].copy()
    for formula, lme4 in cases.items():
        fit = fg.fit(formula, sleep, **args)
        assert tuple(fit.fixed_names) == tuple(lme4), formula
        fixef, se = fit.fixef(), fit.se_fixef()
        for name, value in lme4.items():
            assert abs(fixef[name] - value) < 0.5 * se[name], (formula, name)
        # new data: bool or object True/False, one value only, and a saved fit
        expected = fit.predict(new, kind="mean", seed=1)
        loaded = fg.load(_saved(fit, tmp_path))
        for model in (fit, loaded):
            for rows in (new, new.assign(b=new["b"].astype(object))):
                pd.testing.assert_frame_equal(model.predict(rows, kind="mean", seed=1),
                                              expected)
            pd.testing.assert_frame_equal(model.predict(new.iloc[1:], kind="mean", seed=1),
                                          fit.predict(new, kind="mean", seed=1).iloc[1:])
    X = fg.Model("Reaction ~ 0 + b + Days + (1 | Subject)", sleep).design.X
    np.testing.assert_array_equal(X[:, :2], np.column_stack([~sleep.b, sleep.b]))


def test_bool_column_of_one_value_and_bool_slopes(data):
    data["b"] = True
    with pytest.raises(ValueError, match="column 'b' has the single value True"):
        _design("y ~ b + (1 | g)", data)
    data["b"] = data["x"] > 0
    d = _design("y ~ x + (b | g)", data)
    assert d.blocks[0].columns == ("1", "b[True]")
    assert _design("y ~ I(b * 1) + (1 | g)", data).fixed_names == ("Intercept", "I(b * 1)")


def test_newdata_of_another_type_is_refused_naming_the_column_and_the_type(data, tmp_path):
    """C(s) fitted on integers and given the text "2" in newdata said only "The levels
    (2, ...) in 'C(s)' are not present in the original data set"; the message names
    the column, the type fitted and the conversion. Also text fitted, numbers given;
    in a group term's columns; for a loaded fit."""
    data["s"] = data["s"] % 3 + 1
    new = data.head(3).copy()
    cases = [("y ~ C(s) + x + (1 | g)", "s", ["2", "1", "3"],
              r"column 's' holds text \('2', '1', '3', \.\.\.\) where the fitted data had "
              r"numbers: .*pd\.to_numeric\(newdata\['s'\]\)"),
             ("y ~ h + x + (1 | g)", "h", [2, 1, 3],
              r"column 'h' holds numbers .* fitted data had text: .*\.astype\(str\)"),
             ("y ~ x + (0 + C(s) | g)", "s", ["2", "1", "3"],
              r"column 's' holds text .* fitted data had numbers")]
    for formula, column, values, message in cases:
        fit = _fit(formula, data)
        for model in (fit, fg.load(_saved(fit, tmp_path))):
            with pytest.raises(ValueError, match=message):
                model.predict(new.assign(**{column: values}))
            model.predict(new)                       # the fitted type: fine


def test_true_false_and_numbers_swapped_in_newdata_are_refused(data, tmp_path):
    """A True/False predictor given 0/1 in newdata was coded as True on every row (a
    silent wrong prediction), and a numeric predictor given True/False as 1/0; R
    refuses both (its model frame checks the classes), and so do we, naming the
    column. Numbers of another dtype (int for float) stay fine."""
    data["b"] = data["x"] > 0
    new = data.head(4).copy()
    new["b"] = [False, True, False, True]
    for formula in ("y ~ x + b + (1 | g)", "y ~ x + (0 + b | g)"):
        fit = _fit(formula, data)
        for model in (fit, fg.load(_saved(fit, tmp_path))):
            expected = model.predict(new, kind="mean", seed=1)
            assert expected["mean"].iloc[0] != expected["mean"].iloc[1]
            with pytest.raises(ValueError, match=r"column 'b' holds numbers \(0, 1, \.\.\.\) "
                               r"where the fitted data had True/False values: .*astype\(bool\)"):
                model.predict(new.assign(b=new["b"].astype(int)))
            with pytest.raises(ValueError, match=r"column 'x' holds True/False values .* fitted "
                               r"data had numbers: .*newdata\['x'\]\.astype\(float\)"):
                model.predict(new.assign(x=new["x"] > 0))
            rounded = new.assign(x=new["x"].round().astype(int))
            pd.testing.assert_frame_equal(
                model.predict(rounded, kind="mean", seed=1),
                model.predict(rounded.assign(x=rounded["x"].astype(float)), kind="mean", seed=1))


# ---- nesting h/x in the fixed part ----------------------------------------------------

def test_nesting_of_a_categorical_in_the_fixed_part_is_r_s_h_plus_h_x(tmp_path):
    """h/x is R's h + h:x; it was refused (formulae labels h's contrast columns by all
    of h's levels and codes new rows with one column too many). Columns named as R's
    model.matrix names them (h1 is h[1]), estimates as lme4's, new rows and a saved fit.

    R 4.2 / lme4 1.1.31 (s <- read.csv("sleepstudy.csv"); s$h <- as.character(s$Days %/% 4)):
        colnames(model.matrix(~ h/Days, s)): (Intercept) h1 h2 h0:Days h1:Days h2:Days
        colnames(model.matrix(~ 0 + h/Days, s)): h0 h1 h2 h0:Days h1:Days h2:Days
        colnames(model.matrix(~ h/log(Days + 1), s)):
            (Intercept) h1 h2 h0:log(Days + 1) h1:log(Days + 1) h2:log(Days + 1)
        colnames(model.matrix(~ h/k, s)) (k <- ifelse(Days %% 2 == 0, "e", "o")):
            (Intercept) h1 h2 h0:ko h1:ko h2:ko
        fixef(lmer(Reaction ~ h/Days + (1 | Subject), s)): 255.39235389 -0.04798056
            -32.53658167 7.98867611 9.39632833 14.22171667 (se 10.7 19.5 88.9 3.29 3.29 10.4)
    """
    sleep = fg.datasets.load("sleepstudy")
    sleep["h"] = pd.Categorical((sleep["Days"] // 4).astype(str))
    sleep["k"] = np.where(sleep["Days"] % 2 == 0, "e", "o")
    r_names = {"h/Days": ("Intercept", "h[1]", "h[2]", "h[0]:Days", "h[1]:Days", "h[2]:Days"),
               "0 + h/Days": ("h[0]", "h[1]", "h[2]", "h[0]:Days", "h[1]:Days", "h[2]:Days"),
               "h/log(Days + 1)": ("Intercept", "h[1]", "h[2]", "h[0]:log(Days + 1)",
                                   "h[1]:log(Days + 1)", "h[2]:log(Days + 1)"),
               "h/k": ("Intercept", "h[1]", "h[2]", "h[0]:k[o]", "h[1]:k[o]", "h[2]:k[o]")}
    for rhs, names in r_names.items():
        design = fg.Model(f"Reaction ~ {rhs} + (1 | Subject)", sleep).design
        assert design.fixed_names == names, rhs
        written_out = "0 + h + h:Days" if rhs.startswith("0") else rhs.replace("/", " + h:")
        np.testing.assert_array_equal(
            design.X, fg.Model(f"Reaction ~ {written_out} + (1 | Subject)", sleep).design.X)
    fit = fg.fit("Reaction ~ h/Days + (1 | Subject)", sleep, chains=2, warmup=300,
                 draws=1000, seed=2)
    lme4 = [255.39235389, -0.04798056, -32.53658167, 7.98867611, 9.39632833, 14.22171667]
    np.testing.assert_array_less(np.abs(fit.fixef().to_numpy() - lme4),
                                 0.25 * fit.se_fixef().to_numpy())
    new = sleep.iloc[[0, 5, 9]]
    X = np.array([[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 5, 0], [1, 0, 1, 0, 0, 9]], dtype=float)
    np.testing.assert_allclose(fit.predict(new, kind="link", include_group=False,
                                           summary=False).mean(axis=0),
                               X @ fit.fixef().to_numpy(), rtol=1e-10)
    loaded = fg.load(_saved(fit, tmp_path))
    pd.testing.assert_frame_equal(loaded.predict(new.iloc[[2]], kind="mean", seed=1),
                                  fit.predict(new, kind="mean", seed=1).iloc[[2]])


def test_offset_and_trials_expressions_are_arithmetic():
    """offset(log(a) + log(b)) is one column, the sum, in R; formulae read the operators
    as terms ("must be one numeric column"; offset(x/2) as nesting), and predict of a
    binomial fit with cbind(successes, failures) columns failed the same way on its
    trials successes + failures."""
    sleep = fg.datasets.load("sleepstudy")
    sleep["e"] = np.exp(sleep["Days"] / 10)
    sleep["b"] = sleep["Days"] >= 5                 # 0/1 in an offset, as in R
    days = sleep["Days"].to_numpy(dtype=float)
    for expr, expected in {"log(e) + log(e)": days / 5, "Days/2": days / 2,
                           "Days * 2": 2 * days, "-Days": -days,
                           "b": (days >= 5).astype(float)}.items():
        design = fg.Model(f"Reaction ~ Days + offset({expr}) + (1 | Subject)", sleep).design
        np.testing.assert_allclose(design.offset, expected, rtol=1e-12, err_msg=expr)
    cbpp = fg.datasets.load("cbpp")
    cbpp["f"] = cbpp["size"] - cbpp["incidence"]
    fit = _fit("cbind(incidence, f) ~ period + (1 | herd)", cbpp, family="binomial")
    same = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                family="binomial")
    np.testing.assert_allclose(fit.predict(cbpp.head(3), kind="mean", seed=1),
                               same.predict(cbpp.head(3), kind="mean", seed=1))


def test_newdata_level_of_a_categorical_predictor_not_fitted_is_named(data, tmp_path):
    """A level only newdata has: formulae said "The levels (t) in 'C(h, Poly)' are not
    present in the original data set" (an ordered h shows its internal spelling); the
    message names the column, the new level and the fitted ones."""
    data["o"] = pd.Categorical(data["h"], ordered=True)
    new = data.head(2).copy()
    for formula, column in [("y ~ h + (1 | g)", "h"), ("y ~ o/x + (1 | g)", "o"),
                            ("y ~ x + (0 + h | g)", "h")]:
        fit = _fit(formula, data)
        rows = new.assign(**{column: ["t", "p"]})
        for model in (fit, fg.load(_saved(fit, tmp_path))):
            with pytest.raises(ValueError, match=rf"newdata column '{column}' has level\(s\) t "
                                                 r"that the fitted data do not have \(levels "
                                                 r"p, q, r, s\)"):
                model.predict(rows)
