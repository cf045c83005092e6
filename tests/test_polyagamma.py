"""Tests for the Polya-Gamma sampler (fastgibbs.polyagamma / fastgibbs._polyagamma).

Statistical tolerances
----------------------
Every statistical check is a test at level ``ALPHA_EACH = ALPHA_FAMILY / N_CHECKS``
(Bonferroni), so a correct sampler fails a full run of this file with probability at
most ``ALPHA_FAMILY = 1e-4`` (about one spurious failure per 10,000 runs, with the
seed varied). Seeds are fixed (``FASTGIBBS_TEST_SEED``, default 42), so a given
build gives the same verdict every time.

* Means: ``|mean - E| / (sd / sqrt(n)) < Z_CRIT`` with the exact sd (closed form).
* Variances: ``|s^2 - Var| / se < Z_CRIT`` with ``se = sqrt((m4 - s^4) / n)``, the
  standard error of the sample variance estimated from the sample 4th central
  moment.
* Distributions: Kolmogorov-Smirnov p-value ``> ALPHA_EACH``. One-sample tests use
  an independent reference CDF (below), evaluated on a grid of 1,000 sample
  quantiles; the grid statistic is at most the full KS statistic, so the p-value
  ``kstwo.sf(D_grid, n)`` is conservative.

Reference CDF (independent of the sampler's accept/reject machinery): integrating the
small-x series of the J*(h) density term by term, each term is an inverse-Gaussian
kernel, so with x = 4w, Z = |z|/2, c_n = 2n + h:

    P(PG(h, z) <= w) = (2 cosh Z)^h sum_n (-1)^n Gamma(n+h)/(Gamma(h) n!)
        [exp(-c_n Z) Phi((Z x - c_n)/sqrt x) + exp(c_n Z) Phi(-(Z x + c_n)/sqrt x)].

It agrees with mpmath quadrature of the density to ~1e-12 for h <= 13.
"""
import os
import time
import zlib

import numpy as np
import pytest
from scipy import special, stats

from fastgibbs import _polyagamma
from fastgibbs.polyagamma import polyagamma_mean, polyagamma_var, random_polyagamma

_seed_env = os.environ.get("FASTGIBBS_TEST_SEED", "42")
BASE_SEED = int(_seed_env) if _seed_env.isdigit() else 42

# ---- the statistical checks of this file and their Bonferroni level -----------------
MOMENT_H = [1, 2, 3.5, 10, 100, 1000]
MOMENT_Z = [0, 0.1, 1, 5, 20]
MOMENT_N = 400_000

# (h, z, method) checked against the reference CDF; method 0 is the public
# dispatch, 1 the Devroye sum, 2 one alternate piece (to test it at integer h too).
KS_CASES = [
    (1e-3, 0.5, 0), (0.05, 0.0, 0), (0.05, 3.0, 0), (0.3, 0.0, 0), (0.3, 1.5, 0), (1, 0.0, 0),
    (1, 1.5, 0), (1, 8.0, 0), (2.7, 0.0, 0), (2.7, 8.0, 0), (3, 1.5, 1), (4.5, 0.5, 0),
    (7.3, 3.0, 0), (10, 1.0, 0), (13.3, 0.0, 0), (1, 0.0, 2), (1, 3.0, 2), (2, 1.5, 2),
    (3, 0.0, 2), (5.5, 2.0, 2),
]
KS_N = 200_000
APPROX_CASES = [(50, 0.0), (100, 2.0)]       # approximation vs exact pieces
APPROX_N = 20_000
REFPKG_CASES = [(1, 0.0), (1, 2.0), (10, 0.5)]  # vs the polyagamma package
PG_DRAW_CASES = [(1, 0.7), (2.5, 1.0), (0.4, 0.0)]  # pg_draw path, mean + var
EXTREME_Z = [1e3, -1e6]
EXTREME_H = [0.5, 1, 2.5, 7, 100]

N_CHECKS = (2 * len(MOMENT_H) * len(MOMENT_Z) + len(KS_CASES) + len(APPROX_CASES)
            + len(REFPKG_CASES) + 2 * len(PG_DRAW_CASES) + len(EXTREME_Z) * len(EXTREME_H))
ALPHA_FAMILY = 1e-4
ALPHA_EACH = ALPHA_FAMILY / N_CHECKS
Z_CRIT = stats.norm.isf(ALPHA_EACH / 2)   # about 4.9 for ~120 checks


def _rng(*tag):
    """Generator seeded by BASE_SEED and a per-test tag (stable across runs)."""
    key = zlib.crc32(repr(tag).encode())
    return np.random.default_rng(np.random.SeedSequence([BASE_SEED, key]))


def _exact_mean_var(h, z):
    """Closed forms straight from the brief, with the z = 0 limits."""
    if z == 0:
        return h / 4.0, h / 24.0
    z = abs(z)
    return (h / (2 * z) * np.tanh(z / 2),
            h / (4 * z ** 3) * (np.sinh(z) - z) / np.cosh(z / 2) ** 2)


def _draw(h, z, n, rng, method=0):
    out = np.empty(n)
    _polyagamma.fill(out, np.array([h], float), np.array([z], float), rng.bit_generator,
                     method)
    return out


def reference_cdf(w, h, z):
    """P(PG(h, z) <= w) by the term-wise integrated small-x series (module docstring)."""
    w = np.asarray(w, dtype=float)
    x = 4.0 * w
    big_z = abs(z) / 2.0
    sx = np.sqrt(x)
    # terms are negligible once c_n > Z x + 10 sqrt(x) (Gaussian factor) ...
    n_terms = int(np.ceil((big_z * x.max() + 10.0 * sx.max()) / 2.0)) + 10
    n = np.arange(n_terms)[:, None]
    c = 2.0 * n + h
    log_cn = special.gammaln(n + h) - special.gammaln(h) - special.gammaln(n + 1)
    log_pre = h * (big_z + np.log1p(np.exp(-2.0 * big_z)))   # log (2 cosh Z)^h
    log_bracket = np.logaddexp(-c * big_z + special.log_ndtr((big_z * x - c) / sx),
                               c * big_z + special.log_ndtr(-(big_z * x + c) / sx))
    sign = np.where(n % 2 == 0, 1.0, -1.0)
    return (sign * np.exp(log_pre + log_cn + log_bracket)).sum(axis=0)


def ks_pvalue_grid(sample, cdf, n_grid=1000):
    """Conservative one-sample KS p-value from a grid of sample quantiles."""
    s = np.sort(sample)
    n = s.size
    grid = np.unique(np.quantile(s, np.linspace(0.0005, 0.9995, n_grid)))
    ecdf_hi = np.searchsorted(s, grid, side="right") / n
    ecdf_lo = np.searchsorted(s, grid, side="left") / n
    f = cdf(grid)
    d = max(np.max(np.abs(ecdf_hi - f)), np.max(np.abs(ecdf_lo - f)))
    return stats.kstwo.sf(d, n)


def _assert_mean_var(sample, h, z):
    mean, var = _exact_mean_var(h, z)
    n = sample.size
    z_mean = (sample.mean() - mean) / np.sqrt(var / n)
    centered = sample - sample.mean()
    s2 = np.mean(centered ** 2)
    m4 = np.mean(centered ** 4)
    z_var = (s2 - var) / np.sqrt((m4 - s2 ** 2) / n)
    assert abs(z_mean) < Z_CRIT, f"mean z-score {z_mean:.2f} (h={h}, z={z})"
    assert abs(z_var) < Z_CRIT, f"variance z-score {z_var:.2f} (h={h}, z={z})"


# ---- moments ------------------------------------------------------------------------
@pytest.mark.statistical
@pytest.mark.parametrize("z", MOMENT_Z)
@pytest.mark.parametrize("h", MOMENT_H)
def test_mean_and_variance_match_closed_form(h, z):
    sample = random_polyagamma(h, z, size=MOMENT_N, random_state=_rng("moments", h, z))
    _assert_mean_var(sample, h, z)


@pytest.mark.statistical
@pytest.mark.parametrize("h, z", PG_DRAW_CASES)
def test_pg_draw_path_moments(h, z):
    # pg_draw is what the Gibbs kernels call (no set-up reuse between draws)
    out = np.empty(MOMENT_N)
    _polyagamma.fill_scalar_calls(out, h, z, _rng("pg_draw", h, z).bit_generator)
    _assert_mean_var(out, h, z)


# ---- distributions ------------------------------------------------------------------
def test_reference_cdf_is_a_cdf():
    # sanity of the oracle itself: 0 near 0, 1 far right, increasing, and the mean
    # from integrating 1 - F matches the closed form
    for h, z in [(0.3, 0.0), (1, 0.0), (2.7, 3.0), (10, 1.0)]:
        mean, var = _exact_mean_var(h, z)
        w = np.linspace(1e-6, mean + 40 * np.sqrt(var), 20001)
        f = reference_cdf(w, h, z)
        assert f[0] < 1e-12 and abs(f[-1] - 1) < 1e-9
        assert np.all(np.diff(f) > -1e-10)   # far-tail cancellation is ~1e-12
        tail = 1 - f
        integral = np.sum((tail[1:] + tail[:-1]) / 2 * np.diff(w)) + w[0]
        assert integral == pytest.approx(mean, rel=1e-6)


@pytest.mark.statistical
@pytest.mark.parametrize("h, z, method", KS_CASES)
def test_distribution_matches_reference_cdf(h, z, method):
    sample = _draw(h, z, KS_N, _rng("ks", h, z, method), method)
    p = ks_pvalue_grid(sample, lambda w: reference_cdf(w, h, z))
    assert p > ALPHA_EACH, f"KS p-value {p:.2e} (h={h}, z={z}, method={method})"


@pytest.mark.statistical
@pytest.mark.parametrize("h, z", APPROX_CASES)
def test_large_h_approximation_matches_exact_pieces(h, z):
    # h >= 50 uses the moment-matched shifted gamma; method 4 forces exact pieces.
    # At this n the approximation error (~0.1/h in the 4th cumulant) is far below
    # detection; the test guards against wrong cumulants or a broken switch.
    approx = _draw(h, z, APPROX_N, _rng("approx", h, z), 0)
    exact = _draw(h, z, APPROX_N, _rng("exact", h, z), 4)
    p = stats.ks_2samp(approx, exact).pvalue
    assert p > ALPHA_EACH, f"two-sample KS p-value {p:.2e} (h={h}, z={z})"


@pytest.mark.statistical
@pytest.mark.parametrize("h, z", REFPKG_CASES)
def test_matches_polyagamma_package_where_it_is_correct(h, z):
    # Optional oracle. Only h = 1 and integer h >= 8 with z <= 1: its default sampler
    # is biased for 1 < h < 8 (zoj613/polyagamma#133).
    pg = pytest.importorskip("polyagamma")
    ours = random_polyagamma(h, z, size=100_000, random_state=_rng("pkg", h, z))
    theirs = pg.random_polyagamma(h, z, size=100_000, random_state=_rng("pkg2", h, z))
    p = stats.ks_2samp(ours, theirs).pvalue
    assert p > ALPHA_EACH, f"two-sample KS p-value {p:.2e} (h={h}, z={z})"


# ---- extreme z ----------------------------------------------------------------------
@pytest.mark.statistical
@pytest.mark.parametrize("z", EXTREME_Z)
@pytest.mark.parametrize("h", EXTREME_H)
def test_extreme_z_is_finite_positive_and_fast(h, z):
    n = 20_000
    start = time.perf_counter()
    sample = random_polyagamma(h, z, size=n, random_state=_rng("extreme", h, z))
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(sample)) and np.all(sample > 0)
    assert elapsed < 2.0   # ~1e-7 s per draw; a hang or retry storm would blow this
    mean, var = polyagamma_mean(h, z), polyagamma_var(h, z)
    z_mean = (sample.mean() - mean) / np.sqrt(var / n)
    assert abs(z_mean) < Z_CRIT


@pytest.mark.parametrize("h", [0.5, 1, 3, 60])
@pytest.mark.parametrize("z", [1e100, -1e300])
def test_astronomical_z_does_not_overflow(h, z):
    sample = random_polyagamma(h, z, size=200, random_state=_rng("astro", h, z))
    assert np.all(np.isfinite(sample)) and np.all(sample >= 0)
    assert np.all(sample < 1e-90)


@pytest.mark.parametrize("h", [1e-300, 1e-12, 1e-6])
def test_tiny_h_is_finite_and_fast(h):
    # PG(h, z) -> 0 as h -> 0; values may underflow to 0.0 for h ~ 1e-300
    start = time.perf_counter()
    sample = random_polyagamma(h, [0.0, 3.0], size=(5000, 2), random_state=_rng("tiny", h))
    assert time.perf_counter() - start < 2.0
    assert np.all(np.isfinite(sample)) and np.all(sample >= 0)
    assert np.all(sample < 10.0)   # P(PG(1e-6, 0) > 10) is below 1e-20


# ---- API: shapes, scalars, random_state, errors --------------------------------------
def test_scalar_inputs_return_float():
    assert isinstance(random_polyagamma(), float)
    assert isinstance(random_polyagamma(2.5, -1.0, random_state=1), float)
    assert isinstance(random_polyagamma(np.float64(3), np.array(0.5)), float)


@pytest.mark.parametrize("h, z, size, shape", [
    (1, 0.0, 5, (5,)),
    (1, 0.0, (2, 3), (2, 3)),
    (1, 0.0, (), ()),
    ([1, 2, 3], 0.0, None, (3,)),
    (1, [0.0, 1.0], None, (2,)),
    ([[1], [2]], [0.0, 1.0, 2.0], None, (2, 3)),
    ([1, 2], 0.0, (4, 2), (4, 2)),
    (1, [[0.0], [1.0]], (2, 3), (2, 3)),
    (np.ones((2, 1)), np.zeros(3), None, (2, 3)),
    (1, 0.0, 0, (0,)),
])
def test_output_shapes(h, z, size, shape):
    out = random_polyagamma(h, z, size=size, random_state=0)
    assert isinstance(out, np.ndarray)
    assert out.shape == shape and out.dtype == np.float64
    assert np.all(out > 0)


def test_broadcast_parameters_are_used_elementwise():
    # column 0 has h = 1, column 1 has h = 1000: means differ by orders of magnitude
    out = random_polyagamma([1.0, 1000.0], [0.0, 0.0], size=(2000, 2), random_state=3)
    assert out[:, 0].mean() < 1.0 < 200.0 < out[:, 1].mean()


@pytest.mark.parametrize("h, z, size", [
    ([1, 2], [0.0, 1.0, 2.0], None),
    ([1, 2], 0.0, (2, 3)),
    (1, [0.0, 1.0], 3),
    ([1, 2], 0.0, ()),
])
def test_incompatible_shapes_raise(h, z, size):
    with pytest.raises(ValueError):
        random_polyagamma(h, z, size=size)


@pytest.mark.parametrize("h", [0, -1, np.nan, np.inf, [1, 0], [[2.0, -np.inf]]])
def test_bad_h_raises(h):
    with pytest.raises(ValueError, match="h must"):
        random_polyagamma(h, 0.0, random_state=0)


@pytest.mark.parametrize("z", [np.nan, np.inf, -np.inf, [0.0, np.nan]])
def test_bad_z_raises(z):
    with pytest.raises(ValueError, match="z must"):
        random_polyagamma(1, z, random_state=0)


@pytest.mark.parametrize("h, z", [("a", 0.0), (1, "b")])
def test_non_numeric_raises(h, z):
    with pytest.raises(ValueError, match="must be real"):
        random_polyagamma(h, z)


@pytest.mark.parametrize("size", [(2.5,), "3", -1])
def test_bad_size_raises(size):
    with pytest.raises((TypeError, ValueError)):
        random_polyagamma(1, 0.0, size=size)


def test_random_state_forms_agree():
    # default_rng(int) == Generator(PCG64(SeedSequence(int))), so all forms coincide
    draws = [random_polyagamma(2.5, 1.0, size=10, random_state=rs) for rs in (
        7, np.random.SeedSequence(7), np.random.PCG64(7),
        np.random.default_rng(7))]
    for d in draws[1:]:
        np.testing.assert_array_equal(d, draws[0])
    assert random_polyagamma(1, 0.0, size=3).shape == (3,)   # None: fresh entropy


def test_reproducible_and_stream_advances():
    first = random_polyagamma([0.5, 1.0, 7.3, 60.0], 1.5, size=(25, 4), random_state=123)
    again = random_polyagamma([0.5, 1.0, 7.3, 60.0], 1.5, size=(25, 4), random_state=123)
    np.testing.assert_array_equal(first, again)
    other = random_polyagamma([0.5, 1.0, 7.3, 60.0], 1.5, size=(25, 4), random_state=124)
    assert not np.any(first == other)
    gen = np.random.default_rng(5)
    x1 = random_polyagamma(1, 0.0, size=5, random_state=gen)
    x2 = random_polyagamma(1, 0.0, size=5, random_state=gen)
    assert not np.any(x1 == x2)


def test_bit_generator_is_shared_not_copied():
    bitgen = np.random.PCG64(9)
    before = bitgen.state["state"]["state"]
    random_polyagamma(1, 0.0, size=4, random_state=bitgen)
    assert bitgen.state["state"]["state"] != before


# ---- C level ------------------------------------------------------------------------
def test_c_api_exported_for_cimport():
    capi = _polyagamma.__pyx_capi__
    assert "pg_draw" in capi and "pg_draw_int" in capi


@pytest.mark.parametrize("h, z", [(0.0, 1.0), (-2.0, 1.0), (np.nan, 0.0), (np.inf, 0.0),
                                  (1.0, np.nan), (1.0, np.inf)])
def test_c_level_invalid_inputs_give_nan(h, z):
    out = np.zeros(3)
    _polyagamma.fill(out, np.array([h]), np.array([z]), np.random.PCG64(0))
    assert np.all(np.isnan(out))
    _polyagamma.fill_scalar_calls(out, h, z, np.random.PCG64(0))
    assert np.all(np.isnan(out))


def test_fill_rejects_bad_lengths_and_methods():
    bitgen = np.random.PCG64(0)
    with pytest.raises(ValueError):
        _polyagamma.fill(np.empty(3), np.ones(2), np.zeros(1), bitgen)
    with pytest.raises(ValueError):
        _polyagamma.fill(np.empty(3), np.ones(1), np.zeros(1), bitgen, 7)
    with pytest.raises(ValueError):
        _polyagamma.fill(np.empty(3), np.full(1, 30.0), np.zeros(1), bitgen, 2)


def test_switch_points_documented_values():
    sp = _polyagamma.SWITCH_POINTS
    assert sp["H_BIG"] == 50.0 and sp["N_DEVROYE"] == 8 and sp["H_PIECE"] == 3.0


def test_alternate_envelope_parameters_sane():
    for h in [0.01, 0.3, 0.99, 1.0, 1.7, 3.0]:
        for z in [0.0, 1.0, 10.0, 1e6]:
            p = _polyagamma.alt_parameters(h, z)
            assert 0.0 <= p["p_right"] <= 1.0 and p["t"] > 0 and p["s"] >= 1.0
    # h = 1 Devroye: PSW's mixture weight at z = 0 (right-piece mass 0.58 of 1.0007)
    assert _polyagamma.devroye_parameters(0.0)["p_right"] == pytest.approx(0.5777, abs=1e-3)


# ---- mean and variance helpers -------------------------------------------------------
def test_mean_var_closed_forms():
    h = np.array([0.5, 1.0, 7.0])
    for z in [0.3, 1.0, 5.0, -20.0]:
        m, v = _exact_mean_var(h, z)
        np.testing.assert_allclose(polyagamma_mean(h, z), m, rtol=1e-13)
        np.testing.assert_allclose(polyagamma_var(h, z), v, rtol=1e-11)


def test_mean_var_limits_and_taylor_branch():
    assert polyagamma_mean(3.0, 0.0) == 0.75
    assert polyagamma_var(3.0, 0.0) == pytest.approx(3.0 / 24.0, rel=1e-15)
    # continuity across the Taylor switch at |z| = 0.2 and symmetry in z
    for f in (polyagamma_mean, polyagamma_var):
        lo, hi = f(1.0, np.nextafter(0.2, 0)), f(1.0, 0.2)
        assert lo == pytest.approx(hi, rel=1e-13)
        np.testing.assert_array_equal(f(2.0, [0.05, 3.0]), f(2.0, [-0.05, -3.0]))
    # small z agrees with a high-order expansion: Var = 1/24 - z^2/120 + ... for h = 1
    z = 1e-4
    assert polyagamma_var(1.0, z) == pytest.approx(1 / 24 - z * z / 120, rel=1e-14)
    assert polyagamma_mean(1.0, z) == pytest.approx(0.25 - z * z / 48, rel=1e-14)


def test_mean_var_large_z_and_shapes():
    with np.errstate(all="raise"):
        assert polyagamma_mean(1.0, 1e300) == pytest.approx(1 / 2e300, rel=1e-12)
        assert polyagamma_var(1.0, 1e6) == pytest.approx(1 / 2e18, rel=1e-12)
    out = polyagamma_mean([[1.0], [2.0]], [0.0, 1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.shape == (2, 3)
    assert isinstance(polyagamma_var(1, 2), float)
