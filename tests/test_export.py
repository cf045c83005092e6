"""ArviZ export, tidy draws, save/load round trips and bad files, and fit.diagnose()."""
import dataclasses
import json
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import savefile

# az.summary and fit.summary implement the same estimators (Vehtari et al. 2021) on the
# same float64 draws; they differ only by floating-point summation order.
SUMMARY_RTOL = 1e-10


@pytest.fixture(scope="module")
def nes_fit():
    return fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", fg.datasets.load("nes2000"),
                  chains=4, warmup=100, draws=200, seed=5)


@pytest.fixture(scope="module")
def sleep_fit():
    return fg.fit("Reaction ~ Days + (1 + Days | Subject)", fg.datasets.load("sleepstudy"),
                  chains=2, warmup=60, draws=150, thin=2, seed=5)


@pytest.fixture(scope="module")
def cbpp_fit():
    return fg.fit("p(incidence, size) ~ period + (1 | herd)", fg.datasets.load("cbpp"),
                  family="binomial", chains=2, warmup=50, draws=100, seed=[5, 6])


@pytest.fixture(scope="module")
def fits(nes_fit, sleep_fit, cbpp_fit):
    return {"nes": nes_fit, "sleep": sleep_fit, "cbpp": cbpp_fit}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, nes_fit):
    path = tmp_path_factory.mktemp("saved") / "nes.fit"
    nes_fit.save(path)
    return path


def with_draws(fit, draws, warmup=None):
    """A copy of ``fit`` with other draws (and an empty summary cache)."""
    return dataclasses.replace(fit, draws_array=draws, _summary_cache={},
                               warmup_array=fit.warmup_array if warmup is None else warmup)


# ArviZ -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def az():
    return pytest.importorskip("arviz")


def test_to_arviz_has_posterior_warmup_observed_and_checking_groups(az, nes_fit):
    idata = nes_fit.to_arviz()
    assert set(idata.groups()) == {"posterior", "warmup_posterior", "observed_data",
                                   "log_likelihood", "posterior_predictive"}
    assert "sample_stats" not in idata.groups()
    assert set(nes_fit.to_arviz(log_likelihood=False, posterior_predictive=False).groups()) \
        == {"posterior", "warmup_posterior", "observed_data"}
    np.testing.assert_array_equal(idata.observed_data["real_ideo"],
                                  fg.datasets.load("nes2000")["real_ideo"].to_numpy(float))


def test_to_arviz_group_terms_have_factor_dims_and_level_coords(az, sleep_fit):
    post = sleep_fit.to_arviz().posterior
    assert post["1|Subject"].dims == ("chain", "draw", "Subject")
    assert post["Days|Subject"].dims == ("chain", "draw", "Subject")
    assert list(post["Subject"].values) == list(sleep_fit.levels["1|Subject"])
    np.testing.assert_array_equal(post["Days|Subject"].values, sleep_fit.draws("Days|Subject"))
    np.testing.assert_array_equal(post["Days|Subject"].sel(Subject="309").values,
                                  sleep_fit.draws("Days|Subject[309]"))



@pytest.mark.parametrize("n_levels", [60, 6])
def test_a_factor_named_obs_id_does_not_take_the_rows_dimension(az, n_levels):
    """obs_id (the natural name of an observation-level effect) is the rows' dimension:
    a factor of that name gets its own (obs_id_level), so observed data keep their row
    labels (with as many levels as rows they were relabelled; with fewer, a clash)."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"x": rng.normal(size=60), "obs_id": (np.arange(60) % n_levels).astype(str)})
    data["y"] = rng.poisson(np.exp(0.5 + 0.3 * data["x"]))
    fit = fg.fit("y ~ x + (1 | obs_id)", data, family="poisson", chains=2, warmup=20,
                 draws=20, seed=1)
    idata = fit.to_arviz()
    assert idata.posterior["1|obs_id"].dims == ("chain", "draw", "obs_id_level")
    np.testing.assert_array_equal(idata.observed_data["y"].values, data["y"].to_numpy(float))
    assert idata.observed_data["y"].dims == ("obs_id",)

def test_to_arviz_scalars_are_their_own_variables(az, sleep_fit):
    idata = sleep_fit.to_arviz()
    scalars = ["Intercept", "Days", "sigma", "1|Subject_sigma", "Days|Subject_sigma",
               "1|Subject~Days|Subject_corr"]
    assert list(idata.posterior.data_vars) == scalars + ["1|Subject", "Days|Subject"]
    for name in scalars:
        assert idata.posterior[name].dims == ("chain", "draw")
        np.testing.assert_array_equal(idata.posterior[name].values, sleep_fit.draws(name))
        np.testing.assert_array_equal(idata.warmup_posterior[name].values,
                                      sleep_fit.draws(name, warmup=True))


@pytest.mark.parametrize("which", ["nes", "sleep", "cbpp"])
def test_arviz_summary_agrees_with_fit_summary(az, fits, which):
    fit = fits[which]
    ours = fit.summary()
    theirs = az.summary(fit.to_arviz(), round_to="none").loc[ours.index]
    for column in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(theirs[column], ours[column], rtol=SUMMARY_RTOL,
                                   err_msg=column)


def test_to_arviz_without_arviz_says_how_to_install(nes_fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(ImportError, match=r"pip install fastgibbs\[arviz\]"):
        nes_fit.to_arviz()


def test_to_arviz_of_a_binomial_fit_has_successes_and_trials(az, cbpp_fit):
    idata = cbpp_fit.to_arviz()
    cbpp = fg.datasets.load("cbpp")
    np.testing.assert_array_equal(idata.observed_data["incidence"], cbpp["incidence"])
    np.testing.assert_array_equal(idata.constant_data["size"], cbpp["size"])
    assert idata.posterior["1|herd"].dims == ("chain", "draw", "herd")


def test_to_arviz_records_the_fit_in_attributes(az, nes_fit):
    attrs = nes_fit.to_arviz().posterior.attrs
    assert attrs["inference_library"] == "fastgibbs"
    assert attrs["formula"] == nes_fit.formula and attrs["seed"] == "5"


def test_to_arviz_writes_netcdf(az, nes_fit, tmp_path):
    pytest.importorskip("h5netcdf")
    nes_fit.to_arviz().to_netcdf(tmp_path / "fit.nc", engine="h5netcdf")
    back = az.from_netcdf(tmp_path / "fit.nc", engine="h5netcdf")
    np.testing.assert_array_equal(back.posterior["1|state"].values, nes_fit.draws("1|state"))


def test_to_arviz_of_a_loaded_fit_has_no_observed_data(az, saved):
    assert set(fg.load(saved).to_arviz().groups()) == {"posterior", "warmup_posterior"}


# to_dataframe ------------------------------------------------------------------------------

def test_to_dataframe_is_tidy(nes_fit):
    df = nes_fit.to_dataframe()
    n_chains, n_draws, n_params = nes_fit.draws_array.shape
    assert list(df.columns) == ["chain", "draw", "parameter", "value"]
    assert df.shape == (n_chains * n_draws * n_params, 4)
    assert list(df["parameter"].cat.categories) == list(nes_fit.names)
    row = df[(df.chain == 2) & (df.draw == 17) & (df.parameter == "1|state[12]")]
    assert row["value"].item() == nes_fit.draws("1|state[12]")[2, 17]


def test_to_dataframe_pivots_back_to_the_draws(nes_fit):
    wide = nes_fit.to_dataframe().pivot(index=["chain", "draw"], columns="parameter",
                                        values="value")
    np.testing.assert_array_equal(wide[list(nes_fit.names)].to_numpy(),
                                  nes_fit.draws_array.reshape(-1, len(nes_fit.names)))


def test_to_dataframe_selects_parameters_and_warmup(nes_fit):
    df = nes_fit.to_dataframe(["sigma", "1|state"], warmup=True)
    assert list(df["parameter"].cat.categories) == ["sigma"] + [
        f"1|state[{lv}]" for lv in nes_fit.levels["1|state"]]
    np.testing.assert_array_equal(df[df.parameter == "sigma"]["value"],
                                  nes_fit.draws("sigma", warmup=True).ravel())


# save / load -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["nes", "sleep", "cbpp"])
def test_round_trip_is_lossless(fits, which, tmp_path):
    fit = fits[which]
    back = fg.load(fit.save(tmp_path / "fit.bin"))
    assert back.draws_array.tobytes() == fit.draws_array.tobytes()
    assert back.warmup_array.tobytes() == fit.warmup_array.tobytes()
    assert back.draws_array.shape == fit.draws_array.shape
    for field in dataclasses.fields(fg.Fit):
        # fixed_design is made when saving (compared in the predict tests below)
        if field.name not in savefile.NOT_SAVED | {"term_index", "fixed_design"}:
            assert getattr(back, field.name) == getattr(fit, field.name), field.name
            assert type(getattr(back, field.name)) is type(getattr(fit, field.name)), field.name
    assert back.term_index.keys() == fit.term_index.keys()
    for term, cols in fit.term_index.items():
        np.testing.assert_array_equal(back.term_index[term], cols)
    assert back.data is None and back.fixed_spec is not None
    pd.testing.assert_frame_equal(back.summary(), fit.summary())


def test_every_saved_field_has_a_known_structure():
    assert set(savefile._saved_fields()) <= set(savefile.CHECKS)


def test_round_trip_keeps_a_huang_wand_prior(sleep_fit, tmp_path):
    back = fg.load(sleep_fit.save(tmp_path / "fit"))
    prior = back.priors["1 + Days|Subject"]
    assert isinstance(prior, fg.HuangWand)       # the default of a correlated term
    assert prior.scale.tobytes() == sleep_fit.priors["1 + Days|Subject"].scale.tobytes()
    assert prior.nu == sleep_fit.priors["1 + Days|Subject"].nu


def test_round_trip_keeps_an_inverse_wishart_prior(tmp_path):
    fit = fg.fit("Reaction ~ Days + (1 + Days | Subject)", fg.datasets.load("sleepstudy"),
                 priors={"1 + Days|Subject": fg.InvWishart(3, [600.0, 36.0])},
                 chains=1, warmup=20, draws=20, seed=5)
    back = fg.load(fit.save(tmp_path / "fit"))
    prior = back.priors["1 + Days|Subject"]
    assert isinstance(prior, fg.InvWishart)
    assert prior.scale.tobytes() == fit.priors["1 + Days|Subject"].scale.tobytes()


def test_loaded_fit_predicts_new_data(sleep_fit, tmp_path):
    back = fg.load(sleep_fit.save(tmp_path / "fit"))
    new = fg.datasets.load("sleepstudy").head(3)
    draws = back.predict(new, summary=False, seed=1)
    np.testing.assert_array_equal(draws, sleep_fit.predict(new, summary=False, seed=1))


def test_save_writes_exactly_the_path_given(nes_fit, tmp_path):
    path = tmp_path / "my fit"
    assert nes_fit.save(str(path)) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my fit"]


def test_saved_file_is_npz_with_json_metadata(saved, nes_fit):
    with np.load(saved, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["draws", "metadata", "warmup"]
        meta = json.loads(archive["metadata"].tobytes())
        np.testing.assert_array_equal(archive["draws"], nes_fit.draws_array)
    assert meta["format"] == "fastgibbs.fit" and meta["format_version"] == 2
    assert meta["versions"]["fastgibbs"] == fg.__version__
    assert meta["versions"]["numpy"] == np.__version__
    assert meta["fit"]["priors"]["sigma"] == {"type": "HalfCauchy",
                                       "scale": nes_fit.priors["sigma"].scale}


def test_load_of_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fg.load(tmp_path / "nothing")


BAD = "not a readable fastgibbs fit file"


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_a_value_error(saved, tmp_path, fraction):
    data = saved.read_bytes()
    bad = tmp_path / "truncated"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=BAD):
        fg.load(bad)


@pytest.mark.parametrize("where", ["draws", "warmup", "metadata"])
@pytest.mark.parametrize("offset", ["npy_header", "middle"])
def test_corrupted_member_is_a_value_error(saved, tmp_path, where, offset):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo(f"{where}.npy")
    # flip one byte in the middle of the member's data, past its local header (30 bytes,
    # then the name and the local extra field, whose lengths the header ends with)
    head = info.header_offset
    name_len, extra_len = np.frombuffer(bytes(data[head + 26: head + 30]), dtype="<u2")
    start = head + 30 + int(name_len) + int(extra_len)
    data[start + (3 if offset == "npy_header" else info.compress_size // 2)] ^= 0xFF
    bad = tmp_path / "corrupted"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=BAD):
        fg.load(bad)


def test_wrong_checksum_is_a_value_error(nes_fit, tmp_path):
    meta = savefile._metadata(nes_fit)
    draws = nes_fit.draws_array.copy()
    draws[0, 0, 0] += 1.0
    bad = tmp_path / "tampered"
    with open(bad, "wb") as fh:
        np.savez(fh, draws=draws, warmup=nes_fit.warmup_array,
                 metadata=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(ValueError, match="checksum of draws"):
        fg.load(bad)


def _write_archive(path, **members):
    with open(path, "wb") as fh:
        np.savez(fh, **members)


@pytest.mark.parametrize("case", ["text", "npy", "no_metadata", "not_json", "other_format",
                                  "newer_version", "bad_prior"])
def test_other_files_are_value_errors(nes_fit, tmp_path, case):
    bad = tmp_path / case
    meta = savefile._metadata(nes_fit)
    arrays = {"draws": nes_fit.draws_array, "warmup": nes_fit.warmup_array}

    def encoded(m):
        return np.frombuffer(json.dumps(m).encode(), dtype=np.uint8)

    if case == "text":
        bad.write_text("chain,draw,value\n0,0,1.5\n")
    elif case == "npy":
        with open(bad, "wb") as fh:
            np.save(fh, nes_fit.draws_array, allow_pickle=False)
    elif case == "no_metadata":
        _write_archive(bad, **arrays)
    elif case == "not_json":
        _write_archive(bad, metadata=np.frombuffer(b"{oops", dtype=np.uint8), **arrays)
    elif case == "other_format":
        _write_archive(bad, metadata=encoded({**meta, "format": "something.else"}), **arrays)
    elif case == "newer_version":
        _write_archive(bad, metadata=encoded({**meta, "format_version": 99}), **arrays)
    elif case == "bad_prior":
        meta["fit"]["priors"]["sigma"] = {"type": "Exec", "code": "print(1)"}
        _write_archive(bad, metadata=encoded(meta), **arrays)
    with pytest.raises(ValueError, match=BAD):
        fg.load(bad)


# diagnose ------------------------------------------------------------------------------------

def iid_fit(fit, rng):
    """``fit`` with independent N(0, 1) draws: every diagnostic is fine."""
    return with_draws(fit, rng.standard_normal(fit.draws_array.shape))


def test_diagnose_reports_no_problem_for_independent_draws(nes_fit, rng):
    report = iid_fit(nes_fit, rng).diagnose()
    assert "No problems found" in report
    assert "R-hat" in report and "bulk ESS" in report and "tail ESS" in report


def test_diagnose_names_the_parameter_whose_chains_disagree(nes_fit, rng):
    fit = iid_fit(nes_fit, rng)
    draws = fit.draws_array.copy()
    worst = nes_fit.names.index("1|state[23]")
    draws[0, :, worst] += 3.0                        # one chain elsewhere: R-hat >> 1.01
    fit = with_draws(fit, draws)
    report = fit.diagnose()
    assert fit.summary()["r_hat"].idxmax() == "1|state[23]"
    assert "R-hat     worst" in report and "(1|state[23])" in report
    assert "chains disagree" in report and "plot_trace(['1|state[23]'])" in report
    worst_lines = report.split("Worst parameters:\n")[1].splitlines()
    assert worst_lines[0].strip().startswith("1|state[23]")


def test_diagnose_asks_for_more_draws_when_ess_is_low(nes_fit, rng):
    fit = iid_fit(nes_fit, rng)
    draws = fit.draws_array.copy()
    col = nes_fit.names.index("sigma")
    # AR(1) with rho = 0.95 in every chain: ESS about n (1 - rho) / (1 + rho), far below 400
    for c in range(draws.shape[0]):
        for t in range(1, draws.shape[1]):
            draws[c, t, col] = 0.95 * draws[c, t - 1, col] + draws[c, t, col]
    fit = with_draws(fit, draws)
    table = fit.summary()
    assert table["ess_bulk"].idxmin() == "sigma" and table.loc["sigma", "ess_bulk"] < 400
    report = fit.diagnose()
    assert "lowest" in report and "(sigma)" in report
    assert "draws=" in report and "thinning does not help" in report


def test_diagnose_with_too_few_draws_says_so(nes_fit):
    fit = with_draws(nes_fit, nes_fit.draws_array[:, :3, :].copy())
    with pytest.warns(RuntimeWarning, match="only 3 draw"):
        assert "cannot be computed" in fit.diagnose()


def test_diagnose_prints_as_text_at_the_prompt(nes_fit):
    report = nes_fit.diagnose()
    assert isinstance(report, str) and repr(report) == str(report)
    assert report.splitlines()[0].startswith(f"Convergence of {len(nes_fit.names)} parameters")
