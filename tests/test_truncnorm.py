"""Tests of the truncated standard normal sampler and the normal interval
probabilities (fastgibbs._truncnorm), the latent-variable step of the probit family.

Distributions: for each interval (every branch of the sampler: N(0, 1) and uniform
proposals around 0, uniform and translated-exponential proposals in each tail, one-
and two-sided, far tails), a Kolmogorov-Smirnov test of 20,000 draws against
scipy.stats.truncnorm's distribution function, at level 1e-4 / (number of intervals)
(Bonferroni); seeds are fixed. The log interval probabilities are compared with
scipy.special's ndtr / log_ndtr (relative error), including intervals far in a tail
where 1 - Phi underflows.
"""
import numpy as np
import pytest
from scipy import special, stats

from fastgibbs import _truncnorm

from stats import ALPHA

INTERVALS = [
    (-np.inf, np.inf), (-0.5, 0.7), (-3.0, 2.0), (-0.1, 0.1),        # around 0
    (0.0, np.inf), (-np.inf, 0.0), (1.5, np.inf), (-np.inf, -2.5),   # one-sided
    (0.3, 0.9), (2.0, 2.4), (1.0, 4.0), (-4.0, -1.0),                # tails, two-sided
    (8.0, np.inf), (-np.inf, -30.0), (40.0, 40.5), (5.0, 5.000001),  # far tails
]
N = 20000


@pytest.mark.statistical
@pytest.mark.parametrize("lo,hi", INTERVALS)
def test_draws_follow_the_truncated_normal(lo, hi):
    rng = np.random.Generator(np.random.PCG64(1000 + INTERVALS.index((lo, hi))))
    out = _truncnorm.fill(np.empty(N), np.full(N, lo), np.full(N, hi), rng.bit_generator)
    assert np.all((out > lo) & (out < hi)), "a draw outside the interval"
    # scipy's truncnorm loses accuracy beyond ~38 sds: test the far intervals shifted
    # to the origin of the exponential-like shape instead
    if lo >= 30.0:
        x = (out - lo) * lo                  # approx Exp(1) truncated at (hi - lo) lo
        cdf = stats.truncexpon(b=(hi - lo) * lo).cdf
        p = stats.kstest(x, cdf).pvalue
    elif hi <= -30.0:
        p = stats.kstest((hi - out) * -hi, stats.expon.cdf).pvalue
    else:
        p = stats.kstest(out, stats.truncnorm(lo, hi).cdf).pvalue
    assert p > ALPHA / len(INTERVALS), f"KS p = {p:.2g} on ({lo}, {hi})"


def test_empty_or_nan_interval_gives_nan():
    rng = np.random.default_rng(0)
    lo = np.array([1.0, 2.0, np.nan])
    hi = np.array([1.0, 1.0, 3.0])
    out = _truncnorm.fill(np.empty(3), lo, hi, rng.bit_generator)
    assert np.all(np.isnan(out))


def test_log_interval_probability_matches_scipy():
    lo = np.array([-np.inf, -1.0, -0.5, 0.2, 3.0, 10.0, 37.0, -50.0, -np.inf, -2.0, 6.0])
    hi = np.array([np.inf, 1.0, 0.3, 0.4, 3.5, np.inf, 38.0, -45.0, -40.0, 8.0, 6.1])
    got = _truncnorm.log_interval(lo, hi)
    # exact reference by reflection: both ends in the lower tail use log_ndtr there
    a = np.where(lo >= 0, -hi, lo)
    b = np.where(lo >= 0, -lo, hi)
    la, lb = special.log_ndtr(a), special.log_ndtr(b)
    want = lb + np.log1p(-np.exp(la - lb))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.all(np.isfinite(got))


def test_log_interval_probability_of_a_point_is_minus_infinity():
    assert _truncnorm.log_interval(np.array([0.5]), np.array([0.5]))[0] == -np.inf
