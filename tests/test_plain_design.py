"""Sums of numeric columns are coded without formulae (fastgibbs.plain_design): the
columns, names, saved record, predictions and draws must equal formulae's, and every
other term must still go to formulae."""
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import design as design_module
from fastgibbs import fixed_design, formula
from fastgibbs.coding import evaluate_terms
from fastgibbs.design import build_design
from fastgibbs.plain_design import PlainTerms, plain_columns, plain_fixed


@pytest.fixture
def formulae_only(monkeypatch):
    """Every formula read and coded by formulae, as before plain_design."""
    for module in (formula, fixed_design):
        monkeypatch.setattr(module, "plain_summands", lambda text: None)
    monkeypatch.setattr(design_module, "plain_fixed", lambda *args: None)
    monkeypatch.setattr(design_module, "plain_columns", lambda *args: None)


def numeric_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "z": rng.integers(-5, 5, n),                                # int64
        "w": rng.integers(0, 200, n).astype(np.uint8),
        "v": rng.normal(size=n).astype(np.float32),
        "big": rng.integers(2**60, 2**62, n),                       # not exact in float
        "g": rng.integers(0, max(2, n // 3), n).astype(str),
    })


RHS = ["x", "1 + x", "0 + x", "x + z", "1 + x + z + w + v + big", "0 + z + x", "1",
       "v + x", "big"]


@pytest.mark.parametrize("n", [1, 2, 3, 50])
@pytest.mark.parametrize("rhs", RHS)
def test_plain_columns_equal_formulae_columns_and_record(rhs, n):
    data = numeric_frame(n)
    X, names, terms = plain_columns(rhs, data)
    _, X_ref, names_ref, terms_ref = evaluate_terms("y", rhs, data, keep={"y"})
    assert isinstance(terms, PlainTerms)
    np.testing.assert_array_equal(X, X_ref)
    assert X.flags.f_contiguous and X.dtype == np.float64
    assert names == names_ref
    assert terms.all_names == terms_ref.all_names and terms.columns == terms_ref.columns
    np.testing.assert_array_equal(terms.keep, terms_ref.keep)
    assert fixed_design._terms_record(terms) == fixed_design._terms_record(terms_ref)
    new = numeric_frame(7, seed=1)
    new["z"] = new["z"].astype(float)       # numbers of another dtype are still numbers
    np.testing.assert_array_equal(terms.evaluate(new), terms_ref.evaluate(new))
    kept = terms.keep_only([len(names) - 1])
    np.testing.assert_array_equal(kept.evaluate(new), terms_ref.keep_only([len(names) - 1])
                                  .evaluate(new))
    assert not terms.cell_means().any() and terms.unusable_without_record() is None


@pytest.mark.parametrize("rhs, why", [
    ("x:z", "an interaction"), ("x * z", "a product"), ("log(x)", "a call"),
    ("x + x", "a repeated term"), ("b", "True/False values"), ("g", "text"),
    ("c", "categories"), ("i", "a pandas extension type"), ("o", "numbers as objects"),
    ("`x`", "a quoted name"), ("x - 1", "a subtraction"), ("x + 0", "0 after a term"),
    ("0", "no column"), ("missing_column", "no such column"), ("TRUE", "a constant"),
])
def test_other_terms_are_left_to_formulae(rhs, why):
    data = numeric_frame(20).assign(
        b=lambda d: d.x > 0, c=lambda d: pd.Categorical(d.g), i=lambda d: d.z.astype("Int64"),
        o=lambda d: d.x.astype(object))
    assert plain_columns(rhs, data) is None, why


def test_a_response_that_is_not_a_column_of_numbers_is_left_to_formulae():
    data = numeric_frame(20).assign(b=lambda d: d.x > 0)
    assert plain_fixed("y", "x", data) is not None
    for response in ("b", "g", "log(y)", "p(z, w)", "missing"):
        assert plain_fixed(response, "x", data) is None, response
    twice = pd.concat([data[["y", "x"]], data[["x"]]], axis=1)     # two columns named x
    assert plain_columns("x", twice) is None


FORMULAS = ["y ~ x + (1 | g)", "y ~ 1 + x + z + (1 + x | g)", "y ~ 0 + x + (x || g)",
            "y ~ x + (1 | g) + (0 + z | g)", "y ~ 1 + (1 + v + x | g)"]


@pytest.mark.parametrize("model_formula", FORMULAS)
def test_designs_fits_and_saved_records_equal_formulae_ones(model_formula, request, tmp_path):
    data = numeric_frame(300, seed=3)
    plain = build_design(model_formula, data)
    fit = fg.fit(model_formula, data, chains=2, warmup=50, draws=50, seed=5)
    fit.save(tmp_path / "plain.npz")
    request.getfixturevalue("formulae_only")
    reference = build_design(model_formula, data)
    assert not isinstance(reference.fixed_spec.fixed, PlainTerms)
    assert isinstance(plain.fixed_spec.fixed, PlainTerms)
    np.testing.assert_array_equal(plain.X, reference.X)
    np.testing.assert_array_equal(plain.y, reference.y)
    assert plain.fixed_names == reference.fixed_names
    for ours, theirs in zip(plain.blocks, reference.blocks, strict=True):
        assert ours.columns == theirs.columns and ours.lhs == theirs.lhs
        np.testing.assert_array_equal(ours.Z, theirs.Z)
    fit_ref = fg.fit(model_formula, data, chains=2, warmup=50, draws=50, seed=5)
    np.testing.assert_array_equal(fit.draws_array, fit_ref.draws_array)
    new = numeric_frame(9, seed=4)
    loaded = fg.load(tmp_path / "plain.npz")
    # the file cannot tell which path built the design
    assert loaded.fixed_design["rhs"] and loaded.fixed_design == fixed_design.describe(
        fit_ref.fixed_spec, fit_ref.fixed_names, fit_ref.formula)
    np.testing.assert_array_equal(loaded.predict(new, seed=1), fit_ref.predict(new, seed=1))


def test_new_rows_of_another_type_are_refused_naming_the_column():
    data = numeric_frame(40)
    fit = fg.fit("y ~ x + z + (1 | g)", data, chains=1, warmup=20, draws=20, seed=1)
    assert isinstance(fit.fixed_spec.fixed, PlainTerms)
    new = numeric_frame(5, seed=2)
    with pytest.raises(ValueError, match="'z' holds text"):
        fit.predict(new.assign(z=new.z.astype(str)))
    with pytest.raises(ValueError, match="'x' holds True/False values"):
        fit.predict(new.assign(x=new.x > 0))
    with pytest.raises(ValueError, match="'x' holds text"):
        fit.predict(new.assign(x=pd.Categorical(new.g)))
    with pytest.raises(ValueError, match="missing values in column.*'x'"):
        fit.predict(new.assign(x=np.where(new.x > 0, np.nan, new.x)))
    with pytest.raises(ValueError, match="newdata lacks column 'z'"):
        fit.predict(new.drop(columns="z"))


def test_an_edited_plain_record_does_not_load():
    data = numeric_frame(40)
    fit = fg.fit("y ~ x + (1 | g)", data, chains=1, warmup=20, draws=20, seed=1)
    record = fixed_design.describe(fit.fixed_spec, fit.fixed_names, fit.formula)
    assert isinstance(fixed_design.rebuild(record).fixed, PlainTerms)
    record["x"] = [[1.0, 0.5]] + record["x"][1:]
    with pytest.raises(ValueError, match="does not reproduce the fitted one"):
        fixed_design.rebuild(record)


def test_parsing_equals_formulae_parsing(request):
    formulas = FORMULAS + ["y ~ 1 + (1 | g/h)", "y ~ x + (1 + x + z || g)", "y ~ 0 + (0 + x || g)"]
    plain = [formula.parse_formula(f) for f in formulas]
    request.getfixturevalue("formulae_only")
    assert plain == [formula.parse_formula(f) for f in formulas]


def test_a_plain_fit_save_load_and_predict_never_import_formulae_nor_scipy(tmp_path):
    """The point of plain_design: formulae (with scipy.interpolate) takes ~0.2 s to
    import, scipy.special ~0.08 s; the example's model (with its InvGamma priors, whose
    check needs no quantiles) needs neither."""
    script = textwrap.dedent(f"""
        import sys
        import fastgibbs as fg
        data = fg.datasets.load("nes2000")
        fit = fg.fit("real_ideo ~ 1 + partyid7 + (1 + partyid7 | state)", data, chains=2,
                     warmup=100, draws=100, seed=1)
        str(fit); fit.summary()
        fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", data, chains=2, warmup=100,
               draws=100, seed=1, priors={{"sigma": fg.InvGamma(0.001, 0.001),
                                           "1|state": fg.InvGamma(0.001, 0.001)}}).summary()
        fit.save({str(tmp_path / "f.npz")!r})
        fg.load({str(tmp_path / "f.npz")!r}).predict(data.head(5), seed=1)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("formulae", "scipy")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout[:300]


@pytest.mark.parametrize("family", ["poisson", "negbinomial"])
def test_the_response_is_copied_from_the_data_not_shared(family):
    """A count family keeps a float response as it is: the plain path must hand it a
    copy (as formulae does), or editing the data frame after the fit changes the fit's
    response (its log-likelihood, loo, checks)."""
    data = numeric_frame(60).assign(y=lambda d: (d.z + 5).astype(float))
    design = build_design("y ~ x + (1 | g)", data, family=family)
    assert not np.shares_memory(design.y, data["y"].to_numpy())
    fit = fg.fit("y ~ x + (1 | g)", data, family=family, chains=1, warmup=20, draws=20, seed=1)
    before = fit.log_likelihood()
    data.loc[0, "y"] = 100.0
    np.testing.assert_array_equal(fit.log_likelihood(), before)


UNDERSCORED = ["y ~ _x + (1 | g)", "_y ~ x + (1 | g)", "y ~ x + (1 + _x | g)",
               "y ~ x + (_x || g)", "y ~ 0 + _x"]


@pytest.mark.parametrize("model_formula", UNDERSCORED)
def test_a_name_formulae_cannot_read_is_refused_as_formulae_refuses_it(model_formula, request):
    """formulae's scanner refuses a name that starts with '_': such a formula was refused
    when fitted, and must still be (fitting it without formulae gave a fit whose
    log-likelihood of new rows, study predictions and streaming then failed on it)."""
    data = numeric_frame(40).assign(_x=lambda d: d.x * 2, _y=lambda d: d.y)
    with pytest.raises(formula.FormulaError) as plain:
        build_design(model_formula, data)
    request.getfixturevalue("formulae_only")
    with pytest.raises(formula.FormulaError) as reference:
        build_design(model_formula, data)
    assert str(plain.value) == str(reference.value)
    assert "Unexpected character: _" in str(plain.value)


@pytest.mark.parametrize("model_formula", ["y ~ x + z + (1 | g)", "y ~ 1 + (1 + x | g)",
                                           "log(w + 1) ~ x + (1 | g)"])
def test_numbers_held_as_categories_predict_as_formulae_predicts(model_formula, request,
                                                                 tmp_path):
    """fastgibbs.columns.type_change counts a Categorical of numbers as numbers and
    formulae codes it by its values: new rows holding one predict alike in memory and
    once loaded (a fit coded by formulae, log(w + 1) ~ x, loads its plain record as
    PlainTerms), as they did before plain designs."""
    data = numeric_frame(60)
    new = numeric_frame(5, seed=2)
    as_categories = new.assign(x=pd.Categorical(new.x))
    fit = fg.fit(model_formula, data, chains=1, warmup=20, draws=20, seed=1)
    fit.save(tmp_path / "f.npz")
    expected = fit.predict(new, seed=1)
    pd.testing.assert_frame_equal(fit.predict(as_categories, seed=1), expected)
    pd.testing.assert_frame_equal(fg.load(tmp_path / "f.npz").predict(as_categories, seed=1),
                                  expected)
    request.getfixturevalue("formulae_only")
    reference = fg.fit(model_formula, data, chains=1, warmup=20, draws=20, seed=1)
    pd.testing.assert_frame_equal(reference.predict(as_categories, seed=1), expected)


def test_the_log_likelihood_of_new_rows_reads_a_formula_with_a_dot(request):
    """y ~ . failed in log_likelihood(newdata) on both paths ("'.' needs the data"): the
    response was re-read from the formula without the data's columns."""
    data = numeric_frame(60)[["y", "x", "z"]].assign(g=lambda d: d.index % 6)
    new = numeric_frame(8, seed=2)[["y", "x", "z"]].assign(g=range(8))
    fit = fg.fit("y ~ . - g + (1 | g)", data, chains=1, warmup=20, draws=20, seed=1)
    plain = fit.log_likelihood(new, seed=1)
    request.getfixturevalue("formulae_only")
    np.testing.assert_array_equal(plain, fit.log_likelihood(new, seed=1))
    assert np.isfinite(plain).all()
