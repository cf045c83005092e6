"""fastgibbs.study: many fits of one model, tidy statistics, any executor.

Statistical tolerances follow tests/stats.py (ALPHA = 1e-4 per test function,
Bonferroni over the checked quantities).
"""
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import io
import multiprocessing
import _thread

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.study import DefaultStats, _Progress, summarize_rows

from stats import ALPHA

SMALL = {"chains": 2, "warmup": 100, "draws": 200}
TIMING = ["sampling_time", "worker_time"]


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(6), 5)
    data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size),
                         "y": rng.normal(size=g.size)})
    return fg.Model("y ~ 1 + x + (1 | g)", data)


@pytest.fixture(scope="module")
def datasets(model):
    return model.simulate(n=8, seed=3)


@pytest.fixture(scope="module")
def reference(model, datasets):
    return fg.study(model, datasets, sample_kwargs=SMALL, seed=9, n_jobs=1)


def _same(a, b):
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))


def test_one_row_per_dataset_and_parameter(model, datasets, reference):
    assert len(reference) == len(datasets) * len(model.names)
    assert list(reference.columns[:2]) == ["dataset", "parameter"]
    assert set(reference.columns) >= {"mean", "sd", "q5", "q95", "true", "covered",
                                      "rhat_max", "ess_bulk_min", "sampling_time", "error"}
    assert reference["error"].isna().all()
    assert reference.attrs["n_datasets"] == len(datasets)
    assert reference.attrs["timing"]["fits_per_second"] > 0
    first = reference[reference.dataset == 0].set_index("parameter")
    assert first.loc["sigma", "true"] == datasets[0]["params"]["sigma"]


def test_same_rows_as_refit_with_the_documented_seed(model, datasets, reference):
    """Dataset i is model.refit(y_i, seed=SeedSequence(entropy, spawn_key=(i,)))."""
    i = 5
    fit = model.refit(datasets[i]["y"], seed=np.random.SeedSequence(9, spawn_key=(i,)),
                      n_jobs=1, **SMALL)
    direct = DefaultStats()(fit, datasets[i])
    rows = reference[reference.dataset == i]
    np.testing.assert_array_equal(rows["mean"].to_numpy(), direct["mean"])
    np.testing.assert_array_equal(rows["q95"].to_numpy(), direct["q95"])
    assert rows["rhat_max"].iloc[0] == direct["rhat_max"]


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_reproducible_across_n_jobs(model, datasets, reference, n_jobs):
    _same(reference, fg.study(model, datasets, sample_kwargs=SMALL, seed=9, n_jobs=n_jobs))


def test_reproducible_with_a_thread_pool_executor(model, datasets, reference):
    with ThreadPoolExecutor(max_workers=4) as pool:
        _same(reference, fg.study(model, datasets, sample_kwargs=SMALL, seed=9, executor=pool))


def test_reproducible_with_a_spawn_process_pool(model, datasets, reference):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        frame = fg.study(model, datasets, sample_kwargs=SMALL, seed=9, executor=pool)
        again = fg.study(model, datasets[:3], sample_kwargs=SMALL, seed=9, executor=pool)
    _same(reference, frame)
    # the model goes to a worker only when that worker asks for it (its first unit)
    assert 1 <= frame.attrs["model_shipments"] <= len(datasets)
    _same(reference[reference.dataset < 3], again)


def test_reproducible_on_a_dask_local_cluster(model, datasets, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        frame = fg.study(model, datasets, sample_kwargs=SMALL, seed=9,
                         executor=client.get_executor())
    _same(reference, frame)
    assert frame.attrs["model_shipments"] == 2       # once per worker, by Client.run


def test_a_failing_dataset_becomes_an_error_row(model, datasets):
    bad = list(datasets[:3]) + [{"y": np.full(model.n_obs, np.nan)},
                                {"y": np.zeros(model.n_obs + 1)}, {"params": {}}]
    frame = fg.study(model, bad, sample_kwargs=SMALL, seed=1, n_jobs=2)
    errors = frame[frame.error.notna()].set_index("dataset")["error"]
    assert list(errors.index) == [3, 4, 5]
    assert "non-finite" in errors[3] and "shape" in errors[4] and "'y'" in errors[5]
    assert frame[frame.dataset < 3].error.isna().all()
    assert frame.attrs["n_failed"] == 3


def test_a_failing_stats_call_becomes_an_error_row(model, datasets):
    def stats(fit, dataset):
        if dataset["params"]["sigma"] == datasets[1]["params"]["sigma"]:
            raise RuntimeError("boom")
        return {"sigma_mean": float(fit.draws("sigma").mean())}

    frame = fg.study(model, datasets[:4], sample_kwargs=SMALL, stats=stats, seed=1)
    assert len(frame) == 4
    assert frame.error.tolist() == [None, "RuntimeError: boom", None, None]
    assert np.isnan(frame.sigma_mean[1]) and np.isfinite(frame.sigma_mean[[0, 2, 3]]).all()


def test_custom_stats_with_scalars_give_one_row_per_dataset(model):
    ys = np.stack([d["y"] for d in model.simulate(n=3, seed=4)])
    frame = fg.study(model, ys, sample_kwargs=SMALL, seed=2, true_params={"x": 0.0},
                     stats=lambda fit, d: {"x_below_0": float((fit.draws("x") < 0).mean()),
                                           "truth": d["params"]["x"]})
    assert frame.dataset.tolist() == [0, 1, 2]
    assert frame.truth.tolist() == [0.0, 0.0, 0.0]
    assert frame.x_below_0.between(0, 1).all()


def test_generator_is_consumed_lazily(model):
    pulled = []

    def generate():
        for i, d in enumerate(model.simulate(n=12, seed=8)):
            pulled.append(i)
            yield d

    ahead = []

    def stats(fit, dataset):
        ahead.append(len(pulled) - len(ahead))     # pulled but not yet fitted
        return {"n": 1}

    frame = fg.study(model, generate(), sample_kwargs=SMALL, stats=stats, seed=1, n_jobs=1)
    assert len(frame) == 12 and len(pulled) == 12
    assert max(ahead) <= 2             # at most 2 x workers units in flight


def test_keyboard_interrupt_returns_the_finished_rows(model):
    calls = []

    def stats(fit, dataset):
        calls.append(1)
        if len(calls) == 3:
            _thread.interrupt_main()    # what Ctrl-C does
        return {"ok": 1}

    with pytest.warns(RuntimeWarning, match="interrupted"):
        frame = fg.study(model, model.simulate(n=40, seed=1), sample_kwargs=SMALL,
                         stats=stats, seed=1, n_jobs=1)
    assert frame.attrs["interrupted"]
    assert 2 <= len(frame) < 40


def test_default_stats_agree_with_the_public_diagnostics(model, datasets):
    fit = model.refit(datasets[0]["y"], seed=3, n_jobs=1, **SMALL)
    rows = np.ascontiguousarray(np.moveaxis(fit.draws_array, -1, 0))
    out = summarize_rows(rows, (0.05, 0.95))
    flat = rows.reshape(rows.shape[0], -1)
    np.testing.assert_allclose(out["quantiles"], np.quantile(flat, [0.05, 0.95], axis=1),
                               rtol=1e-12)
    np.testing.assert_allclose(out["rhat"], diagnostics.rhat(fit.draws_array), rtol=1e-12)
    np.testing.assert_allclose(out["ess_bulk"], diagnostics.ess_bulk(fit.draws_array),
                               rtol=1e-12)
    odd = summarize_rows(rows[:, :, :-1], (0.05, 0.95))          # odd number of draws
    np.testing.assert_allclose(odd["quantiles"][1],
                               np.quantile(flat.reshape(rows.shape)[:, :, :-1].reshape(
                                   rows.shape[0], -1), 0.95, axis=1), rtol=1e-12)



@pytest.mark.parametrize("scale", [2.0 ** 600, 2.0 ** -600])
def test_default_stats_mean_and_sd_of_extreme_draws(scale):
    """Mean and sd of parameters beyond ~1e154 (whose squares overflow) or below
    ~1e-154 are those of the draws rescaled, exactly for a power of two."""
    from fastgibbs.study import _mean_sd
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(3, 400))
    flat[1] *= scale
    mean, sd = _mean_sd(flat)
    ordinary = flat[1] / scale
    np.testing.assert_array_equal(mean, [flat[0].mean(), ordinary.mean() * scale,
                                         flat[2].mean()])
    np.testing.assert_array_equal(sd, [flat[0].std(ddof=1), ordinary.std(ddof=1) * scale,
                                       flat[2].std(ddof=1)])
    assert np.isfinite(sd).all() and sd[1] > 0

def test_bernoulli_model(datasets):
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(5), 8)
    data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size),
                         "y": rng.integers(0, 2, g.size)})
    logit = fg.Model("y ~ 1 + x + (1 | g)", data, family="bernoulli")
    frame = fg.study(logit, logit.simulate(n=3, seed=1), sample_kwargs=SMALL, seed=1)
    assert frame.error.isna().all() and len(frame) == 3 * len(logit.names)


def test_coverage_of_90_percent_intervals(model):
    """Intervals from the true prior cover at the nominal rate (averaged over the
    prior): per parameter within a Bonferroni binomial band."""
    n = 300
    frame = fg.study(model, model.simulate(n=n, seed=12), seed=13,
                     sample_kwargs={"chains": 2, "warmup": 200, "draws": 400})
    assert frame.error.isna().all()
    coverage = frame.groupby("parameter")["covered"].sum()
    m = len(coverage)
    lo, hi = binom.ppf(ALPHA / (2 * m), n, 0.9), binom.isf(ALPHA / (2 * m), n, 0.9)
    assert coverage.between(lo, hi).all(), coverage
    assert frame.rhat_max.max() < 1.1


def test_progress_bar_writes_a_line():
    stream = io.StringIO()
    bar = _Progress(10, True, stream=stream)
    bar.update(4, 1, force=True)
    bar.close(10, 1)
    text = stream.getvalue()
    assert "4/10" in text and "10/10" in text and "1 failed" in text and text.endswith("\n")
    silent = io.StringIO()
    _Progress(10, False, stream=silent).update(3, 0, force=True)
    assert silent.getvalue() == ""


@pytest.mark.parametrize("kwargs, error", [
    ({"sample_kwargs": {"seed": 1}}, ValueError),
    ({"sample_kwargs": {"chains": 0}}, ValueError),
    ({"sample_kwargs": {"bogus": 1}}, ValueError),
    ({"n_jobs": 0}, ValueError),
    ({"n_jobs": 2, "executor": "x"}, ValueError),
    ({"stats": 3}, TypeError),
    ({"true_params": [1.0]}, TypeError),
])
def test_bad_arguments(model, datasets, kwargs, error):
    with pytest.raises(error):
        fg.study(model, datasets, **kwargs)


def test_model_and_datasets_types(model, datasets):
    with pytest.raises(TypeError, match="Model"):
        fg.study("y ~ x", datasets)
    with pytest.raises(TypeError, match="single dict"):
        fg.study(model, datasets[0])


def test_refit_reads_a_series_by_its_labels():
    """Model.refit(y, weights=...) aligns a pandas Series on the labels of the rows
    fitted (here after na_action="drop", on a shuffled index), as pandas aligns; a
    Series with other labels is refused instead of being read by position."""
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10)}, index=rng.permutation(40) + 100)
    data.iloc[5, 1] = np.nan
    model = fg.Model("y ~ x + (1 | g)", data, na_action="drop")
    y = data["y"][data["x"].notna()] * 2.0
    w = pd.Series(rng.integers(1, 3, size=39).astype(float), index=y.index)
    kwargs = dict(chains=1, warmup=50, draws=100, seed=7)
    by_position = model.refit(y.to_numpy(), weights=w.to_numpy(), **kwargs).summary()
    shuffled = model.refit(y.sample(frac=1.0, random_state=1),
                           weights=w.sample(frac=1.0, random_state=2), **kwargs).summary()
    pd.testing.assert_frame_equal(by_position, shuffled)
    with pytest.raises(ValueError, match="y is a Series whose index is not the labels"):
        model.refit(y.reset_index(drop=True), **kwargs)
    with pytest.raises(ValueError, match="weights is a Series whose index"):
        model.refit(y, weights=w.iloc[:-1], **kwargs)


def test_fits_made_in_this_process_predict_as_refits_do():
    """The study's threads fit with the model itself, so a stats function may predict
    from a model with categorical predictors and fitted transforms: it was refused
    ("does not record its fixed-effect design"), as for fits made in other processes."""
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(6), 5)
    data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size),
                         "f": rng.choice(["a", "b", "c"], g.size),
                         "y": rng.normal(size=g.size)})
    model = fg.Model("y ~ f + scale(x) + (1 + scale(x) | g)", data)
    new = data.head(4).assign(x=[5.0, -3.0, 0.5, 2.0])     # not the fitted mean and sd
    ys = [d["y"] for d in model.simulate(n=2, seed=1)]
    frame = fg.study(model, ys, sample_kwargs=SMALL, seed=4, n_jobs=2,
                     stats=lambda fit, d: {"mean": float(np.mean(fit.predict(new, seed=2)))})
    assert "error" not in frame or frame.error.isna().all()
    for index, y in enumerate(ys):
        refit = model.refit(y, seed=np.random.SeedSequence(4, spawn_key=(index,)), n_jobs=1,
                            **SMALL)
        assert frame.loc[frame.dataset == index, "mean"].iloc[0] == \
            float(np.mean(refit.predict(new, seed=2)))
