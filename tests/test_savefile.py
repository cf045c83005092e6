"""Saved fits are not trusted (issue 11.9): the record is checksummed and checked field by
field, and a loaded fit evaluates new data exactly as the fit that was saved."""
import copy
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import savefile

BAD = "not a readable fastgibbs fit file"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 240
    frame = pd.DataFrame({
        "x": rng.standard_normal(n), "w": rng.uniform(1, 5, n), "z": rng.standard_normal(n),
        "v": rng.standard_normal(n),
        "sector": rng.choice(["Catholic", "Public", "Private"], n),
        "size": pd.Categorical(rng.choice(["small", "medium", "large"], n),
                               categories=["small", "medium", "large"], ordered=True),
        "g": rng.choice([f"g{j}" for j in range(8)], n),
        "trials": rng.integers(1, 12, n)})
    frame["y"] = (frame["x"] + 2.0 * (frame["sector"] == "Public") + 0.3 * frame["w"]
                  + rng.standard_normal(n))
    frame["s"] = rng.binomial(frame["trials"], 0.3)
    return frame


FORMULAS = {
    "categorical": ("y ~ x + sector + size + (1 | g)", "gaussian"),
    "transforms": ("y ~ x + scale(w) + center(v) + np.log(w):x + poly(z, 2) + (1 | g)",
                   "gaussian"),
    "interaction": ("y ~ x * sector + (1 + x | g)", "gaussian"),
    "binomial": ("p(s, trials) ~ scale(w) + sector + (1 | g)", "binomial"),
    "constant_trials": ("p(s2, 12) ~ x + sector + (1 | g)", "binomial"),
}


@pytest.fixture(scope="module")
def fits(data):
    frame = data.assign(s2=np.minimum(data["s"], 12))
    return {key: fg.fit(formula, frame, family=family, chains=2, warmup=30, draws=40, seed=4)
            for key, (formula, family) in FORMULAS.items()}


@pytest.fixture(scope="module")
def loaded(fits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    return {key: fg.load(fit.save(folder / key)) for key, fit in fits.items()}


# A loaded fit predicts as the original -------------------------------------------------------

@pytest.mark.parametrize("key", list(FORMULAS))
def test_loaded_fit_predicts_exactly_as_the_original(data, fits, loaded, key):
    new = data.assign(s2=np.minimum(data["s"], 12)).sample(25, random_state=1)
    for include_group in (True, False):
        expected = fits[key].predict(new, summary=False, seed=9, include_group=include_group)
        got = loaded[key].predict(new, summary=False, seed=9, include_group=include_group)
        np.testing.assert_array_equal(got, expected)


def test_newdata_may_hold_some_levels_only(data, fits, loaded):
    new = pd.DataFrame({"x": [0.5, -1.0], "sector": ["Public", "Public"],
                        "size": ["large", "large"], "g": ["g1", "new"]})
    np.testing.assert_array_equal(loaded["categorical"].predict(new, summary=False, seed=2),
                                  fits["categorical"].predict(new, summary=False, seed=2))


@pytest.mark.parametrize("which", ["original", "loaded"])
def test_unseen_levels_are_refused(fits, loaded, which):
    fit = (fits if which == "original" else loaded)["categorical"]
    new = pd.DataFrame({"x": [0.5], "sector": ["Other"], "size": ["small"], "g": ["g1"]})
    with pytest.raises(ValueError, match="Other"):
        fit.predict(new)


def test_loaded_fit_codes_group_terms_as_the_original(data, tmp_path):
    """The record kept the fixed part only, so a loaded fit re-coded each group term on
    newdata alone: (scale(w) | g) with newdata's mean and sd (silently other
    predictions), (0 + sector | g) with newdata's levels (refused unless all were
    there). Now the bars' coding is saved too, and checked when read."""
    fit = fg.fit("y ~ x + (1 + scale(w) | g) + (0 + sector | g)", data, chains=1,
                 warmup=20, draws=20, seed=2)
    back = fg.load(fit.save(tmp_path / "bars"))
    new = data.head(4).assign(w=lambda d: 3 * d["w"] + 1,
                              sector=["Public", "Public", "Private", "Public"])
    np.testing.assert_array_equal(back.predict(new, summary=False, seed=1),
                                  fit.predict(new, summary=False, seed=1))
    record = back.fixed_design
    assert [[e["rhs"] for e in block] for block in record["bars"]] == [
        ["1 + fastgibbs_scale(w)"], ["0 + sector"]]
    from fastgibbs.fixed_design import check_record
    bad = copy.deepcopy(record)
    bad["bars"][0][0]["x"] = [["one"]]
    with pytest.raises(ValueError, match="bars x must be rows of numbers"):
        check_record(bad, fit.fixed_names)


def test_fits_without_their_design_refuse_stateful_group_terms(data, tmp_path):
    """A fit made by fg.study in another process keeps no coding (its model comes
    without formula objects, study.portable_model): (scale(w) | g) was re-coded with
    newdata's mean and sd, silently."""
    from fastgibbs.study import portable_model

    def fit_elsewhere(model):
        return portable_model(model).refit(data["y"].to_numpy(), seed=1, chains=1,
                                           warmup=5, draws=10)

    fit = fit_elsewhere(fg.Model("y ~ x + (1 + scale(w) | g)", data))
    with pytest.raises(ValueError, match=r"does not record how its group term "
                                         r"\(1 \+ scale\(w\) \| g\).*stateful"):
        fit.predict(data.head(3), seed=1)
    assert fit.predict(data.head(3), include=None).shape[0] == 3
    # transforms whose state does not come from the data are fine without a record
    plain = fit_elsewhere(fg.Model("y ~ as.numeric(x) + (0 + dummy(sector, 'Public') | g)",
                                   data))
    assert plain.predict(data.head(3), seed=1).shape[0] == 3


def test_a_design_that_cannot_be_saved_says_so_when_predicting(data, tmp_path):
    fit = fg.fit("y ~ cr(x, df=4) + (1 | g)", data, chains=1, warmup=10, draws=10, seed=1)
    back = fg.load(fit.save(tmp_path / "fit"))
    np.testing.assert_array_equal(back.draws_array, fit.draws_array)
    with pytest.raises(ValueError, match="cannot evaluate new data.*CubicSpline"):
        back.predict(data.head(3))
    fit.predict(data.head(3))                       # in memory it still can


def test_fits_without_their_design_refuse_categorical_new_data(data, tmp_path):
    """Fits made by fg.study in other processes (study.portable_model), saved."""
    from fastgibbs.study import portable_model

    def saved_from_elsewhere(formula, name):
        fit = portable_model(fg.Model(formula, data)).refit(
            data["y"].to_numpy(), seed=1, chains=1, warmup=5, draws=10)
        return fg.load(fit.save(tmp_path / name))

    inside = saved_from_elsewhere("y ~ x + sector + (1 | g)", "a")
    with pytest.raises(ValueError, match="does not record its fixed-effect design"):
        inside.predict(data.head(3))
    plain = saved_from_elsewhere("y ~ x + w + (1 | g)", "b")
    assert plain.predict(data.head(3)).shape[0] == 3


# Files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_users_umask(fits, tmp_path, umask):
    old = os.umask(umask)
    try:
        path = fits["categorical"].save(tmp_path / "fit")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_saving_into_a_missing_folder_names_the_folder(fits, tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .*missing' does not exist"):
        fits["categorical"].save(tmp_path / "missing" / "fit")


def _write(path, meta, draws, warmup, digest=True):
    if digest:
        meta["sha256"]["fit"] = savefile._record_digest(meta["fit"])
    with open(path, "wb") as fh:
        np.savez(fh, draws=draws, warmup=warmup,
                 metadata=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return path


def _edited(fit, path, edit, digest=True):
    meta = savefile._metadata(fit)
    edit(meta["fit"])
    return _write(path, meta, fit.draws_array, fit.warmup_array, digest)


def test_an_edited_record_fails_its_checksum(fits, tmp_path):
    def edit(record):
        record["levels"]["1|g"][0] = "edited"
    with pytest.raises(ValueError, match="checksum of the fit record"):
        fg.load(_edited(fits["categorical"], tmp_path / "f", edit, digest=False))


def _set(path, value):
    def edit(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return edit


EDITS = {
    "index_out_of_range": _set(("term_index", "1|g"), lambda v: v[:-1] + [10 ** 6]),
    "levels_not_list": _set(("levels", "1|g"), 5),
    "levels_short": _set(("levels", "1|g"), lambda v: v[:-1]),
    "names_short": _set(("names",), lambda v: v[:-1]),
    "names_duplicate": _set(("names",), lambda v: [v[1]] + v[1:]),
    "fixed_names_unknown": _set(("fixed_names",), ["nope"]),
    "thin_zero": _set(("thin",), 0),
    "thin_string": _set(("thin",), "2"),
    "seed_float": _set(("seed",), 1.5),
    "seed_bad_key": _set(("seed",), {"entropy": 1, "spawn_key": [-1], "pool_size": 4}),
    "prior_unknown_type": _set(("priors", "sigma"), {"type": "Exec", "code": "print(1)"}),
    "prior_bad_value": _set(("priors", "x"), {"type": "Normal", "mu": "a", "sigma": 1.0}),
    "prior_extra_field": _set(("priors", "x"), {"type": "Normal", "mu": 0.0, "sigma": 1.0,
                                                "z": 1}),
    "blocks_not_list": _set(("blocks",), {"a": 1}),
    "block_levels_short": lambda r: r["blocks"][0].update(levels=r["blocks"][0]["levels"][:2]),
    "block_extra_key": lambda r: r["blocks"][0].update(extra=1),
    "n_cells_string": _set(("n_cells",), "many"),
    "timing_string": _set(("timing", "sampling"), "fast"),
    "unknown_field": lambda r: r.update(surprise=1),
    "missing_field": lambda r: r.pop("names"),
    "corr_name_missing": _set(("names",), lambda v: [n.replace("_corr", "_c") for n in v]),
    "effect_renamed": _set(("names",), lambda v: [n.replace("[g1]", "[g9]") for n in v]),
    "gaussian_without_sigma": _set(("names",), lambda v: ["s" if n == "sigma" else n for n in v]),
    "record_not_object": None,
    "design_x_shape": _set(("fixed_design", "x"), lambda v: [row[:-1] for row in v]),
    "design_dtype": _set(("fixed_design", "prototype", "sector", "dtype"), "datetime64[ns]"),
    "design_values": _set(("fixed_design", "prototype", "sector", "values"), [[1]]),
    "design_columns": _set(("fixed_design", "columns"), ["Intercept"]),
    "design_transform": _set(("fixed_design", "transforms"), [{"callee": "scale"}]),
    "design_trials": _set(("fixed_design", "trials"), {"column": 3}),
    "design_keys": lambda r: r["fixed_design"].pop("x"),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_a_malformed_record_is_a_value_error_even_with_a_good_checksum(fits, tmp_path, name):
    fit = fits["interaction"]
    meta = savefile._metadata(fit)
    if name == "record_not_object":
        meta["fit"] = [meta["fit"]]
    else:
        EDITS[name](meta["fit"])
    path = _write(tmp_path / name, meta, fit.draws_array, fit.warmup_array)
    with pytest.raises(ValueError, match=BAD) as info:
        fg.load(path)
    assert not isinstance(info.value.__cause__, (IndexError, KeyError, AttributeError))


@pytest.mark.parametrize("edit", [_set(("fixed_design", "x"), lambda v: [[1.0] * len(r) for r in v]),
                                  _set(("fixed_design", "rhs"), "x + nope")])
def test_a_design_that_does_not_rebuild_loads_with_a_warning(fits, data, tmp_path, edit):
    """The draws are intact (checksummed) and still given; predict says why it cannot."""
    fit = fits["categorical"]
    with pytest.warns(RuntimeWarning, match="cannot evaluate new data"):
        back = fg.load(_edited(fit, tmp_path / "f", edit))
    np.testing.assert_array_equal(back.draws_array, fit.draws_array)
    with pytest.raises(ValueError, match="saved fixed-effect design"):
        back.predict(data.head(2))


def test_randomly_edited_records_load_or_raise_value_errors(fits, tmp_path):
    """Replace one value anywhere in the record by another JSON value (checksum redone):
    fg.load either refuses it with a ValueError or gives a fit that prints."""
    fit = fits["interaction"]
    base = savefile._metadata(fit)
    rng = np.random.default_rng(0)
    replacements = [None, True, -1, 0, 2 ** 70, 1.5, float("nan"), "", "x", [], [1, "a"], {},
                    {"a": [1]}]

    def paths(node, prefix=()):
        yield prefix
        children = node.items() if isinstance(node, dict) else enumerate(node) \
            if isinstance(node, list) else ()
        for key, child in children:
            yield from paths(child, prefix + (key,))

    every = [p for p in paths(base["fit"]) if p]
    for trial in range(150):
        meta = copy.deepcopy(base)
        where = every[rng.integers(len(every))]
        target = meta["fit"]
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = replacements[rng.integers(len(replacements))]
        path = _write(tmp_path / f"r{trial}", meta, fit.draws_array, fit.warmup_array)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)     # designs that do not rebuild
                back = fg.load(path)
        except ValueError as err:
            assert BAD in str(err)
            continue
        str(back)


@pytest.mark.parametrize("where", ["record", "metadata"])
def test_deeply_nested_json_is_a_value_error(fits, tmp_path, where):
    fit = fits["categorical"]
    meta = savefile._metadata(fit)
    deep = "[" * 100000 + "]" * 100000
    text = json.dumps(meta)
    if where == "record":
        text = text.replace('"n_cells": null', f'"n_cells": {deep}')
    else:
        text = text[:-1] + f', "extra": {deep}}}'
    path = tmp_path / "deep"
    with open(path, "wb") as fh:
        np.savez(fh, draws=fit.draws_array, warmup=fit.warmup_array,
                 metadata=np.frombuffer(text.encode(), dtype=np.uint8))
    with pytest.raises(ValueError, match=BAD):
        fg.load(path)


def _swap_names(record):
    names = record["names"]
    i, j = names.index("Intercept"), names.index("x")
    names[i], names[j] = names[j], names[i]


def test_format_1_files_are_refused(fits, tmp_path):
    """Format 1 (before the record's checksum) cannot show an edit, and the version is
    outside every checksum: a file claiming it used to skip the record's check, so
    swapped names loaded and fixef() gave the intercept's draws as the slope's."""
    fit = fits["categorical"]
    as_written = savefile._metadata(fit)         # what a format 1 file held
    as_written["format_version"] = 1
    del as_written["sha256"]["fit"], as_written["fit"]["fixed_design"]
    edited = savefile._metadata(fit)             # a format 2 file claiming format 1
    edited["format_version"] = 1
    _swap_names(edited["fit"])
    for key, meta in (("v1", as_written), ("edited", edited)):
        path = _write(tmp_path / key, meta, fit.draws_array, fit.warmup_array, digest=False)
        with pytest.raises(ValueError, match=f"{BAD}.*format version 1 predates the checksum "
                                             "of the fit record.*refit the model"):
            fg.load(path)


@pytest.mark.parametrize("version", [0, None, "2", 2.0, True, 3])
def test_other_format_versions_are_refused(fits, tmp_path, version):
    fit = fits["categorical"]
    meta = savefile._metadata(fit)
    meta["format_version"] = version
    with pytest.raises(ValueError, match=f"format version {version!r} is not one"):
        fg.load(_write(tmp_path / "f", meta, fit.draws_array, fit.warmup_array))


def _with_arrays(fit, path, draws, warmup):
    """A file of ``fit`` with other arrays, every checksum recomputed."""
    meta = savefile._metadata(fit)
    meta["sha256"].update(draws=savefile._digest(draws), warmup=savefile._digest(warmup))
    return _write(path, meta, draws, warmup)


def _poke(array, column, value):
    array = array.copy()
    array[-1, -1, column] = value
    return array


@pytest.mark.parametrize("change,match", [
    (lambda d, w, x: (d[:, :0], w), r"draws has shape \(2, 0, \d+\): a fit has at least "
                                    "one chain and one draw per chain"),
    (lambda d, w, x: (d[:0], w[:0]), r"draws has shape \(0, 40, \d+\)"),
    (lambda d, w, x: (_poke(d, x, np.nan), w), r"draws of 'x': 1 value\(s\) are not finite "
                                               r"\(inf or nan\)"),
    (lambda d, w, x: (d, _poke(w, x, -np.inf)), r"warmup of 'x': 1 value\(s\)"),
])
def test_arrays_no_fit_produces_are_refused(fits, tmp_path, change, match):
    """fit() refuses draws < 1 and the sampler stops at a draw that is not finite, so
    such arrays are edits even when their checksums were recomputed."""
    fit = fits["categorical"]
    draws, warmup = change(fit.draws_array, fit.warmup_array, fit.names.index("x"))
    with pytest.raises(ValueError, match=f"{BAD}.*{match}"):
        fg.load(_with_arrays(fit, tmp_path / "f", draws, warmup))


def test_no_warmup_draws_load(fits, tmp_path):
    """warmup=0 is a real fit: its warmup array has no draws."""
    fit = fits["categorical"]
    back = fg.load(_with_arrays(fit, tmp_path / "f", fit.draws_array, fit.warmup_array[:, :0]))
    np.testing.assert_array_equal(back.draws_array, fit.draws_array)


def test_a_text_file_is_not_a_saved_fit(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("y,x\n1,2\n")
    with pytest.raises(ValueError, match="not a zip archive") as info:
        fg.load(path)
    assert "pickle" not in str(info.value)


def test_a_saved_category_outside_its_categories_is_named(fits, data, tmp_path):
    """pandas would turn it into NaN (deprecated; a future pandas raises): the draws load,
    with a warning naming the column, and predict says why it cannot."""
    def edit(record):
        prototype = record["fixed_design"]["prototype"]
        name = next(n for n, entry in prototype.items() if entry["dtype"] == "category")
        prototype[name]["values"][0] = "not-a-category"
    with pytest.warns(RuntimeWarning, match="'sector' holds value.*not among its saved"):
        back = fg.load(_edited(fits["interaction"], tmp_path / "f", edit))
    with pytest.raises(ValueError, match="'sector' holds value.*not among its saved"):
        back.predict(data.head(2))


# A loaded fit of every family answers as the original (model matrix rows) -----------------
MATRIX_STRUCTURES = ("one_factor", "nested3", "corr_slope_crossed", "ar1_by", "bym2")


@pytest.mark.parametrize("family", __import__("matrix").FAMILIES)
def test_every_family_answers_the_same_after_loading(family, tmp_path):
    """Per family (each with its own saved options: bernoulli levels, cumulative
    categories, t's nu, the dispersion) and structures covering nesting, correlated
    slopes, crossing and structured priors: the loaded fit's summary, predictions of
    every kind (with and without group terms), log-likelihood of new rows, VarCorr,
    fixef, ranef, coef and ArviZ posterior equal the original's exactly."""
    import matrix
    from fastgibbs.design import build_design
    for structure in MATRIX_STRUCTURES:
        data = matrix.load_reference_dataset(family, structure)
        kw = matrix.family_kwargs(family)
        formula = matrix.formula(family, structure)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # short chains warn
            priors = matrix.reference_priors(build_design(formula, data, **kw), structure)
            fit = fg.fit(formula, data, priors=priors, chains=2, warmup=20, draws=20,
                         seed=1, **kw)
            loaded = fg.load(fit.save(tmp_path / f"{family}_{structure}"))
            rows = data.iloc[:7]
            for answer in (lambda f: f.summary(), lambda f: f.VarCorr(),
                           lambda f: f.fixef(), lambda f: f.to_arviz().posterior,
                           lambda f: f.log_likelihood(newdata=rows),
                           lambda f: f.predict(newdata=rows, kind="link", include=None,
                                               summary=False),
                           *(lambda f, k=k: f.predict(newdata=rows, kind=k, summary=False,
                                                      seed=3)
                             for k in ("link", "mean", "response"))):
                a, b = answer(fit), answer(loaded)
                if isinstance(a, pd.DataFrame):
                    pd.testing.assert_frame_equal(a, b)
                elif isinstance(a, pd.Series):
                    pd.testing.assert_series_equal(a, b)
                elif hasattr(a, "equals"):           # xarray: values and coordinates
                    assert a.equals(b), (family, structure)
                else:
                    np.testing.assert_array_equal(a, b, err_msg=f"{family} {structure}")
            for table in ("ranef", "coef"):
                one, two = getattr(fit, table)(), getattr(loaded, table)()
                assert one.keys() == two.keys()
                for key in one:
                    pd.testing.assert_frame_equal(one[key], two[key])
