"""Tests for fastgibbs.diagnostics: agreement with ArviZ, vectorization, edge cases and
the summary table.  ArviZ (0.17 <= version < 1) is the reference implementation of
Vehtari et al. (2021); we require agreement to rounding error (rtol 1e-12)."""
import logging
import os
from statistics import NormalDist
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri
from scipy.stats import rankdata

from fastgibbs import diagnostics as diag

from forked import needs_fork, result_in_forked_child

try:
    import arviz as az
    from arviz.stats import diagnostics as az_diagnostics
except ImportError:  # pragma: no cover - arviz is in the "test" extra
    az = None

needs_arviz = pytest.mark.skipif(az is None, reason="ArviZ is the reference implementation")

RTOL = 1e-12  # observed differences to ArviZ are below 1e-14


def ar1(rng, phi, chains, draws):
    """Stationary AR(1) chains with unit innovations, shape (chains, draws)."""
    noise = rng.standard_normal((chains, draws))
    x = np.empty((chains, draws))
    x[:, 0] = noise[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def shifted(rng):
    x = rng.standard_normal((4, 1000))
    x[3] += 0.5
    return x


# name -> (seed, maker); each dataset has shape (chains, draws)
DATASETS = {
    "iid_normal": (11, lambda rng: rng.standard_normal((4, 1000))),
    "ar1_0.9": (12, lambda rng: ar1(rng, 0.9, 4, 1000)),
    "ar1_0.995": (13, lambda rng: ar1(rng, 0.995, 4, 1000)),  # needs every lag
    "shifted_chain": (14, shifted),
    "student_t_df2": (15, lambda rng: rng.standard_t(2, (4, 1000))),
    "antithetic": (16, lambda rng: ar1(rng, -0.6, 4, 1000)),
    "single_chain": (17, lambda rng: ar1(rng, 0.5, 1, 1000)),
    "odd_draws": (18, lambda rng: ar1(rng, 0.3, 4, 1001)),
    "ties": (19, lambda rng: rng.poisson(2.0, (4, 300)).astype(float)),
}
MULTI_CHAIN = [name for name in DATASETS if name != "single_chain"]


def make(name):
    seed, maker = DATASETS[name]
    return maker(np.random.default_rng(seed))


@pytest.fixture(scope="module", params=list(DATASETS))
def draws(request):
    return make(request.param)


@pytest.fixture(scope="module", params=MULTI_CHAIN)
def multi_chain_draws(request):
    return make(request.param)


def reference(function, *args, **kwargs):
    """Call ArviZ quietly (it logs shape warnings and warns on 0/0)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(function(*args, **kwargs))
    finally:
        logging.disable(logging.NOTSET)


# ----------------------------------------------------------------------------------
# Agreement with ArviZ
# ----------------------------------------------------------------------------------
@needs_arviz
@pytest.mark.parametrize("method", ["bulk", "tail", "mean", "sd"])
def test_ess_matches_arviz(draws, method):
    ours = getattr(diag, f"ess_{method}")(draws)
    np.testing.assert_allclose(ours, reference(az.ess, draws, method=method), rtol=RTOL)


@needs_arviz
@pytest.mark.parametrize("prob", [0.05, 0.5, 0.9])
def test_ess_quantile_matches_arviz(draws, prob):
    expected = reference(az.ess, draws, method="quantile", prob=prob)
    np.testing.assert_allclose(diag.ess_quantile(draws, prob), expected, rtol=RTOL)


@needs_arviz
def test_rhat_matches_arviz(multi_chain_draws):
    expected = reference(az.rhat, multi_chain_draws, method="rank")
    np.testing.assert_allclose(diag.rhat(multi_chain_draws), expected, rtol=RTOL)


@needs_arviz
def test_rhat_of_single_chain_is_split_rhat_of_its_halves():
    # az.rhat gives NaN for one chain; we (like posterior) use the two halves,
    # computed here from ArviZ's own building blocks.
    x = make("single_chain")
    split = az_diagnostics._split_chains(x)
    bulk = az_diagnostics._rhat(az_diagnostics._z_scale(split))
    tail = az_diagnostics._rhat(az_diagnostics._z_scale(np.abs(split - np.median(split))))
    np.testing.assert_allclose(diag.rhat(x), max(bulk, tail), rtol=RTOL)


@needs_arviz
@pytest.mark.parametrize("method", ["mean", "sd"])
def test_mcse_matches_arviz(draws, method):
    ours = getattr(diag, f"mcse_{method}")(draws)
    np.testing.assert_allclose(ours, reference(az.mcse, draws, method=method), rtol=RTOL)


@needs_arviz
@pytest.mark.parametrize("prob", [0.05, 0.5, 0.9])
def test_mcse_quantile_matches_arviz(draws, prob):
    expected = reference(az.mcse, draws, method="quantile", prob=prob)
    np.testing.assert_allclose(diag.mcse_quantile(draws, prob), expected, rtol=RTOL)


# ----------------------------------------------------------------------------------
# Behaviour on the example chains
# ----------------------------------------------------------------------------------
def test_shifted_chain_is_flagged_by_rhat():
    assert diag.rhat(make("shifted_chain")) > 1.01


def test_iid_chains_pass_rhat():
    assert diag.rhat(make("iid_normal")) < 1.01


def test_antithetic_chains_have_ess_above_draws():
    x = make("antithetic")
    assert diag.ess_mean(x) > x.size


def test_ess_is_bounded_by_s_log10_s():
    x = make("antithetic")
    assert diag.ess_mean(x) <= x.size * np.log10(x.size)


def test_autocorrelated_chains_have_ess_below_draws():
    x = make("ar1_0.9")
    assert diag.ess_bulk(x) < x.size / 5


def test_ess_basic_is_ess_mean():
    x = make("ar1_0.9")
    assert diag.ess_basic(x) == diag.ess_mean(x)


def test_split_chains_drops_middle_draw_of_odd_chains():
    x = np.arange(2 * 5).reshape(2, 5)
    np.testing.assert_array_equal(diag.split_chains(x), [[0, 1], [5, 6], [3, 4], [8, 9]])


def test_split_chains_keeps_parameter_axes():
    x = np.zeros((3, 8, 2, 5))
    assert diag.split_chains(x).shape == (6, 4, 2, 5)


def test_z_scale_is_normal_score_of_pooled_average_ranks():
    x = make("ties")  # many ties
    ranks = rankdata(x, method="average").reshape(x.shape)
    expected = normal_quantiles((ranks - 3 / 8) / (x.size + 1 / 4))
    np.testing.assert_array_equal(diag.z_scale(x), expected)


def normal_quantiles(probs):
    """The standard library's Phi^-1, which the normal scores use, of each of ``probs``."""
    inverse = NormalDist().inv_cdf
    return np.vectorize(inverse, otypes=[float])(probs)


@pytest.mark.parametrize("size", [1, 7, 1000, 16000, 100_000])
def test_normal_score_table_is_scipy_ndtri_to_rounding(size):
    table = diag._score_table(size)
    probs = (np.arange(2 * size + 1) / 2 - 3 / 8) / (size + 1 / 4)
    assert np.isnan(table[0]) and not table.flags.writeable
    np.testing.assert_allclose(table[1:], ndtri(probs[1:]), rtol=2e-15, atol=0)


def near_ties(rng):
    """(4, 250, 3) draws with pairs that differ only in their last mantissa bits, -0.0
    next to 0.0, subnormals and exact ties: the cases the packed-key sort must get right."""
    base = rng.standard_normal((4, 250, 3))
    base[:, ::2] = np.nextafter(base[:, 1::2], np.inf)                 # 1 ulp apart
    base[0, :40, 1] = np.array([1.0 + k * np.finfo(float).eps for k in range(40)])
    base[1, :6, 2] = [0.0, -0.0, 5e-324, -5e-324, 0.0, 1e-310]
    base[2, :30, 2] = 0.25                                             # exact ties
    return base


def test_rank_sorts_draws_that_differ_in_the_lowest_bits():
    x = near_ties(np.random.default_rng(6))
    rows = np.ascontiguousarray(np.moveaxis(x, -1, 0))                 # (P, C, N)
    order, sorted_rows = diag._rank(rows)
    pooled = rows.reshape(3, -1)
    np.testing.assert_array_equal(sorted_rows, np.sort(pooled, axis=1))
    np.testing.assert_array_equal(pooled.reshape(-1)[order], sorted_rows)
    assert sorted(order[1] - pooled.shape[1]) == list(range(pooled.shape[1]))


def test_z_scale_of_near_ties_is_normal_score_of_average_ranks():
    x = near_ties(np.random.default_rng(7))
    for p in range(x.shape[2]):
        ranks = rankdata(x[:, :, p], method="average").reshape(x.shape[:2])
        expected = normal_quantiles((ranks - 3 / 8) / (ranks.size + 1 / 4))
        np.testing.assert_array_equal(diag.z_scale(x)[:, :, p], expected)


@pytest.mark.parametrize("odd_total", [False, True])
@pytest.mark.parametrize("name", ["iid_normal", "ties", "odd_draws"])
def test_fold_ranking_equals_ranking_the_folded_draws(name, odd_total):
    y = diag._split(make(name)[None])                                  # (1, 2C, N // 2)
    if odd_total:          # one chain of an odd number of draws: a middle draw to fold
        y = np.ascontiguousarray(make(name)[:1, :-1 if make(name).shape[1] % 2 == 0 else None][None])
        assert y.size % 2 == 1
    ranking = diag._rank(y)
    folded = np.abs(y - diag._median(ranking[1])[:, None, None])
    np.testing.assert_array_equal(diag._z_scale(y, ranking, folded=True),
                                  diag._z_scale(folded))


@pytest.mark.parametrize("name", list(DATASETS))
def test_direct_ess_equals_fft_ess(name):
    """The compiled lag-by-lag ESS (FFT only past _DIRECT_LAGS lags) and the FFT ESS
    agree to rounding, for the mean, the bulk and indicator sequences."""
    y = diag._split(make(name)[None])
    z = diag._z_scale(y)
    below = y <= np.median(y)
    direct = diag._ess(y, z, below.astype(float))
    np.testing.assert_allclose(direct, diag._ess_fft(y, z, below), rtol=1e-12)
    np.testing.assert_allclose(diag._ess(y, thresholds=[np.array([np.median(y)])]),
                               direct[2:], rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5, 63, 64, 65, 127, 128, 200, 1000])
def test_packed_indicator_ess_equals_fft_ess_at_every_lag(n):
    """The tail ESS counts coinciding bits of packed indicators, at lags within a word
    and across words (here up to every lag, past the library's _DIRECT_LAGS), for
    chain lengths that fill their last 64-bit word or not, ties at the threshold, and
    constant indicators; it equals the FFT ESS of the indicators as floats."""
    rng = np.random.default_rng(n)
    for phi in (0.0, 0.9, 0.999):
        e = rng.standard_normal((6, 3, n))
        y = e.copy()
        for i in range(1, n):
            y[..., i] = phi * y[..., i - 1] + e[..., i]
        y[1] = np.round(y[1])                       # ties at the threshold
        threshold = np.quantile(y.reshape(6, -1), [0.05, 0.5, 0.5, 0.95, 0.0, 1.0], axis=1)
        threshold = np.diagonal(threshold).copy()
        threshold[4] -= 1                           # all indicators 0
        threshold[5] += 1                           # all 1
        out, complete = np.empty(6), np.empty(6, np.uint8)
        diag._rows.ess_rows(y, out, complete, n + 4, threshold)
        assert complete.all()
        expected = diag._ess_fft((y <= threshold[:, None, None]).astype(float))
        np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_direct_ess_short_chains_and_constant_rows():
    rng = np.random.default_rng(21)
    for n in (2, 3, 4, 5, 7, 8, 9):      # fewer draws than the four lags of one pass
        y = rng.standard_normal((3, 2, n))
        np.testing.assert_allclose(diag._ess(y), diag._ess_fft(y), rtol=1e-12)
    constant = np.full((2, 4, 500), 1e6)
    constant[1] = 3.7
    np.testing.assert_array_equal(diag._ess(constant), [2000, 2000])


def test_ess_of_stacked_arrays_is_the_ess_of_each():
    slow = np.stack([make("ar1_0.995"), make("iid_normal")])            # needs every lag
    counts = np.random.default_rng(8).poisson(2.0, (1, 4, 1000))
    constant = np.full((1, 4, 1000), 2.0)
    stacked = diag._ess(slow, counts > 2, constant)
    separate = np.concatenate([diag._ess(slow), diag._ess((counts > 2).astype(float)),
                               diag._ess(constant)])
    np.testing.assert_array_equal(stacked, separate)
    assert stacked[-1] == 4000


def test_z_scale_ranks_each_parameter_separately():
    x = np.random.default_rng(5).standard_normal((3, 20, 4))
    per_param = np.stack([diag.z_scale(x[:, :, i]) for i in range(4)], axis=-1)
    np.testing.assert_array_equal(diag.z_scale(x), per_param)


# ----------------------------------------------------------------------------------
# Vectorization over parameter axes
# ----------------------------------------------------------------------------------
VECTORIZED = {
    "ess_basic": diag.ess_basic,
    "ess_bulk": diag.ess_bulk,
    "ess_tail": diag.ess_tail,
    "ess_sd": diag.ess_sd,
    "ess_quantile": lambda x: diag.ess_quantile(x, 0.25),
    "rhat": diag.rhat,
    "mcse_mean": diag.mcse_mean,
    "mcse_sd": diag.mcse_sd,
    "mcse_quantile": lambda x: diag.mcse_quantile(x, 0.75),
}


@pytest.fixture(scope="module")
def six_parameters():
    """(4, 500, 3, 2): iid, t, shifted and AR(1) parameters, one needing every lag."""
    rng = np.random.default_rng(21)
    columns = [rng.standard_normal((4, 500)), rng.standard_t(3, (4, 500)),
               rng.standard_normal((4, 500)) + [[0], [0], [0], [1]],
               ar1(rng, 0.5, 4, 500), ar1(rng, 0.95, 4, 500), ar1(rng, 0.998, 4, 500)]
    return np.stack(columns, axis=-1).reshape(4, 500, 3, 2)


@pytest.mark.parametrize("name", list(VECTORIZED))
def test_vectorized_equals_per_parameter(six_parameters, name):
    function = VECTORIZED[name]
    result = function(six_parameters)
    assert result.shape == (3, 2)
    expected = [[function(six_parameters[:, :, i, j]) for j in range(2)] for i in range(3)]
    np.testing.assert_allclose(result, expected, rtol=1e-14)


def test_scalar_for_two_dimensional_input():
    result = diag.ess_bulk(make("iid_normal"))
    assert np.ndim(result) == 0 and isinstance(result, float)


# ----------------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------------
CONSTANT_EXPECTED = {  # ESS = draws used and R-hat NaN (as ArviZ); no MC error
    "ess_basic": "size", "ess_bulk": "size", "ess_tail": "size", "ess_sd": "size",
    "ess_quantile": "size", "rhat": np.nan, "mcse_mean": 0.0, "mcse_sd": 0.0,
    "mcse_quantile": 0.0,
}


@pytest.mark.parametrize("value", [3.0, 3.7])  # the mean of 3.7s is inexact
@pytest.mark.parametrize("draws_per_chain", [100, 101])
@pytest.mark.parametrize("name", list(CONSTANT_EXPECTED))
def test_constant_parameter(name, draws_per_chain, value):
    x = np.full((4, draws_per_chain), value)
    expected = CONSTANT_EXPECTED[name]
    if expected == "size":  # the split drops the middle draw of odd chains
        expected = 4 * 2 * (draws_per_chain // 2)
    np.testing.assert_equal(VECTORIZED[name](x), expected)


@needs_arviz
@pytest.mark.parametrize("method", ["bulk", "tail", "mean", "sd"])
def test_constant_parameter_ess_matches_arviz(method):
    x = np.full((4, 101), -2.0)
    assert getattr(diag, f"ess_{method}")(x) == reference(az.ess, x, method=method)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", list(VECTORIZED))
def test_non_finite_draw_gives_nan(name, bad):
    x = make("iid_normal")
    x[2, 17] = bad
    assert np.isnan(VECTORIZED[name](x))


@pytest.mark.parametrize("name", list(VECTORIZED))
def test_non_finite_draw_affects_only_its_parameter(six_parameters, name):
    x = six_parameters.copy()
    x[1, 3, 0, 1] = np.nan
    result = VECTORIZED[name](x)
    expected = VECTORIZED[name](six_parameters)
    expected[0, 1] = np.nan
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", list(VECTORIZED))
def test_fewer_than_four_draws_gives_nan(name):
    x = np.random.default_rng(3).standard_normal((4, 3, 2))
    result = VECTORIZED[name](x)
    assert result.shape == (2,) and np.isnan(result).all()


@pytest.mark.parametrize("name", list(VECTORIZED))
def test_four_draws_are_enough(name):
    x = np.random.default_rng(4).standard_normal((4, 4))
    assert np.isfinite(VECTORIZED[name](x))


def test_one_dimensional_input_is_rejected():
    with pytest.raises(ValueError, match="chains, draws"):
        diag.ess_bulk(np.zeros(100))


@pytest.mark.parametrize("prob", [-0.1, 1.5])
def test_quantile_prob_outside_unit_interval_is_rejected(prob):
    with pytest.raises(ValueError, match="prob"):
        diag.mcse_quantile(np.zeros((2, 10)), prob)


# ----------------------------------------------------------------------------------
# summarize()
# ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[500, 501], ids=["even", "odd"])
def summary_draws(request):
    """(4, draws, 6): the six parameters above, flattened."""
    rng = np.random.default_rng(31)
    return np.stack([rng.standard_normal((4, request.param)),
                     ar1(rng, 0.9, 4, request.param),
                     rng.standard_t(2, (4, request.param)),
                     rng.poisson(1.0, (4, request.param)).astype(float),
                     np.full((4, request.param), 2.5),
                     ar1(rng, 0.99, 4, request.param)], axis=-1)


NAMES = ["alpha", "beta", "sigma", "count", "fixed", "slow"]


def test_summary_columns_and_order(summary_draws):
    table = diag.summarize(summary_draws, names=NAMES)
    assert list(table.columns) == ["mean", "mcse_mean", "sd", "2.5%", "50%", "97.5%",
                                   "ess_bulk", "ess_tail", "r_hat"]


def test_summary_quantile_column_labels():
    table = diag.summarize(np.zeros((2, 10, 1)), probs=(0.1, 0.333, 0.9))
    assert list(table.columns[3:6]) == ["10%", "33.3%", "90%"]


def test_summary_index_is_names(summary_draws):
    table = diag.summarize(summary_draws, names=NAMES)
    assert list(table.index) == NAMES


def test_summary_default_names():
    assert list(diag.summarize(np.zeros((2, 10, 3))).index) == ["x[0]", "x[1]", "x[2]"]


def test_summary_rejects_wrong_number_of_names(summary_draws):
    with pytest.raises(ValueError, match="names"):
        diag.summarize(summary_draws, names=["a", "b"])


def test_summary_diagnostics_agree_with_functions(summary_draws):
    table = diag.summarize(summary_draws, names=NAMES)
    expected = pd.DataFrame({
        "mcse_mean": diag.mcse_mean(summary_draws),
        "ess_bulk": diag.ess_bulk(summary_draws),
        "ess_tail": diag.ess_tail(summary_draws),
        "r_hat": diag.rhat(summary_draws),
    }, index=NAMES)
    pd.testing.assert_frame_equal(table[expected.columns], expected, rtol=1e-14, atol=0)


def test_summary_moments_agree_with_numpy(summary_draws):
    table = diag.summarize(summary_draws, names=NAMES)
    pooled = summary_draws.reshape(-1, len(NAMES))
    np.testing.assert_allclose(table["mean"], pooled.mean(axis=0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(table["sd"], pooled.std(axis=0, ddof=1), rtol=1e-13)


def test_summary_quantiles_agree_with_numpy(summary_draws):
    table = diag.summarize(summary_draws, names=NAMES)
    expected = np.quantile(summary_draws.reshape(-1, len(NAMES)), [0.025, 0.5, 0.975], axis=0)
    np.testing.assert_allclose(table[["2.5%", "50%", "97.5%"]].to_numpy(), expected.T,
                               rtol=1e-13, atol=1e-15)


def test_summary_row_of_non_finite_parameter_is_nan(summary_draws):
    x = summary_draws.copy()
    x[0, 0, 2] = np.inf
    table = diag.summarize(x, names=NAMES)
    assert table.loc["sigma"].isna().all()
    pd.testing.assert_frame_equal(table.drop(index="sigma"),
                                  diag.summarize(summary_draws, names=NAMES).drop(index="sigma"))


@pytest.mark.parametrize("n_chains,n_draws", [(4, 3), (2, 1), (1, 2)])
def test_summary_of_too_few_draws_has_moments_and_warns(summary_draws, n_chains, n_draws):
    x = summary_draws[:n_chains, :n_draws]
    with pytest.warns(RuntimeWarning, match="MCSE, ESS and R-hat are not"):
        table = diag.summarize(x, names=NAMES)
    pooled = x.reshape(-1, x.shape[2])
    # the same formulas as numpy's, summed in another order: rounding only
    np.testing.assert_allclose(table["mean"], pooled.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(table["97.5%"], np.quantile(pooled, 0.975, axis=0), rtol=1e-13)
    if len(pooled) > 1:
        np.testing.assert_allclose(table["sd"], pooled.std(axis=0, ddof=1), rtol=1e-14)
    else:
        assert table["sd"].isna().all()
    assert table[["mcse_mean", "ess_bulk", "ess_tail", "r_hat"]].isna().all(axis=None)


def test_short_summary_row_of_non_finite_parameter_is_nan(summary_draws):
    x = summary_draws[:, :2].copy()
    x[0, 0, 2] = np.nan
    with pytest.warns(RuntimeWarning):
        table = diag.summarize(x, names=NAMES)
    assert table.loc["sigma"].isna().all()
    assert table.loc[NAMES[0], "mean"] == pytest.approx(x[:, :, 0].mean(), rel=1e-13)


def test_results_do_not_depend_on_block_size(monkeypatch, summary_draws):
    expected = diag.summarize(summary_draws)
    monkeypatch.setattr(diag, "_BLOCK_VALUES", 1)  # one parameter per block
    pd.testing.assert_frame_equal(diag.summarize(summary_draws), expected, rtol=0, atol=0)


def test_parallel_blocks_give_the_serial_result(monkeypatch, summary_draws):
    serial = diag.summarize(summary_draws)
    monkeypatch.setattr(diag, "_BLOCK_VALUES", 1)       # many blocks ...
    monkeypatch.setattr(diag, "_PARALLEL_VALUES", 0)    # ... run on a thread pool
    pd.testing.assert_frame_equal(diag.summarize(summary_draws), serial)


@pytest.mark.parametrize("layout", ["float32", "int", "fortran", "strided"])
def test_summary_does_not_depend_on_the_draws_layout(layout):
    """The compiled gather reads C-ordered float64 draws; any other dtype or memory
    layout goes through NumPy's copy. Both give the same table (float32 and int draws
    equal their float64 values)."""
    rng = np.random.default_rng(12)
    x = np.round(rng.standard_normal((3, 200, 5)) * 8).astype(np.float32)
    x[1, 7, 2] = np.nan                                    # one non-finite parameter
    wide = np.repeat(x, 2, axis=2).astype(float)               # every column twice
    given = {"float32": x, "int": np.nan_to_num(x, nan=3.0).astype(np.int64),
             "fortran": np.asfortranarray(x.astype(float)), "strided": wide[:, :, ::2]}[layout]
    expected = diag.summarize(np.ascontiguousarray(given, dtype=float))
    pd.testing.assert_frame_equal(diag.summarize(given), expected)
    assert expected.iloc[2].isna().all() == (layout != "int")


@pytest.mark.parametrize("scale", [2.0 ** 600, 2.0 ** -600, 1e180, 1e-180, 1e300])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_diagnostics_of_extreme_magnitudes_are_those_of_the_draws_rescaled(scale, layout):
    """Draws beyond ~1e154 (or below ~1e-154) square out of range: they are scaled by a
    power of two first, so the summary is the unscaled one times ``scale`` (mean, sd,
    quantiles, MCSE) or equal to it (ESS, R-hat), exactly for a power of two, without
    overflow warnings; the same for the public diagnostics (compiled and NumPy paths)."""
    rng = np.random.default_rng(0)
    x = 0.1 * rng.normal(size=(4, 500, 3)).cumsum(axis=1) + rng.normal(size=(4, 500, 3))
    big = np.asarray(x * scale, order=layout)
    exact = np.log2(scale) == np.round(np.log2(scale))
    rtol = 0 if exact else 2e-15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table, base = diag.summarize(big), diag.summarize(x)
        invariant = ["ess_bulk", "ess_tail", "r_hat"]
        linear = [c for c in base.columns if c not in invariant]
        np.testing.assert_allclose(table[linear].to_numpy(), base[linear].to_numpy() * scale,
                                   rtol=rtol, atol=0)
        np.testing.assert_array_equal(table[invariant].to_numpy(), base[invariant].to_numpy())
        for f in (diag.ess_mean, diag.ess_sd, diag.ess_bulk, diag.ess_tail, diag.rhat):
            np.testing.assert_allclose(f(big), f(x), rtol=1e-13)
        for f in (diag.mcse_mean, diag.mcse_sd, lambda y: diag.mcse_quantile(y, 0.1)):
            np.testing.assert_allclose(f(big), f(x) * scale, rtol=1e-13)


@pytest.mark.parametrize("axis,ddof", [(0, 0), (1, 1)])
def test_std_of_draws_is_numpys_and_rescales_extreme_slices(axis, ddof):
    """std_of_draws (se_fixef, se_ranef, predict's sd) is np.std bit for bit on ordinary
    draws; slices beyond ~1e154 or below ~1e-154, whose squares leave the range, give
    np.std of the unscaled slice times the scale (to rounding: they are summed in
    another order)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 40, 5))
    np.testing.assert_array_equal(diag.std_of_draws(x, axis=axis, ddof=ddof),
                                  x.std(axis=axis, ddof=ddof))
    scales = np.array([1.0, 2.0 ** 700, 2.0 ** -700, 1e-200, 1e200])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = diag.std_of_draws(x * scales, axis=axis, ddof=ddof)
    expected = x.std(axis=axis, ddof=ddof) * scales
    np.testing.assert_allclose(got, expected, rtol=2e-15, atol=0)
    assert diag.std_of_draws(np.array([3.0, 5.0])) == 1.0


def _big_draws():
    """Draws large enough (>= _PARALLEL_VALUES) for `_map_params` to use its threads."""
    rng = np.random.default_rng(42)
    return rng.standard_normal((4, 2000, 40)).cumsum(axis=1) * 0.05 \
        + rng.standard_normal((4, 2000, 40))


def test_parallel_blocks_equal_the_serial_computation(monkeypatch):
    x = _big_draws()
    assert x.size >= diag._PARALLEL_VALUES
    parallel = diag.summarize(x)
    if (os.cpu_count() or 1) > 1:
        assert any(t.name.startswith("fastgibbs-diagnostics") for t in threading.enumerate())
    monkeypatch.setattr(diag, "_PARALLEL_VALUES", 1 << 62)
    pd.testing.assert_frame_equal(parallel, diag.summarize(x), rtol=0, atol=0)


def _summarize_in_child(queue):
    queue.put(diag.summarize(_big_draws()).to_numpy())


@needs_fork
def test_summarize_in_a_forked_child_does_not_wait_for_the_parents_threads():
    """The kept worker threads do not exist in a forked child: it makes its own."""
    expected = diag.summarize(_big_draws()).to_numpy()      # the parent's pool exists
    np.testing.assert_array_equal(result_in_forked_child(_summarize_in_child), expected)


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_interrupted_call_leaves_no_block_running_in_the_kept_workers(monkeypatch, error):
    """Ctrl-C (or an error) in the calling thread stops the kept workers at their next
    block: they outlive the call and would otherwise finish its blocks in the background."""
    monkeypatch.setattr(diag, "_PARALLEL_VALUES", 1)
    monkeypatch.setattr(diag, "_BLOCK_VALUES", 400)         # one parameter per block
    monkeypatch.setattr(diag.os, "cpu_count", lambda: 4)
    calls = []

    def core(rows):
        if threading.current_thread() is threading.main_thread():
            raise error("stop")
        calls.append(1)
        time.sleep(0.005)
        return np.zeros((len(rows), 1))

    x = np.random.default_rng(0).standard_normal((4, 100, 300))
    with pytest.raises(error):
        diag._map_params(x, core, 1)
    done = len(calls)
    time.sleep(0.2)
    assert len(calls) == done < 100     # 225 blocks were the workers' share
