"""Truncated standard normal variates and log normal interval probabilities, on
numpy's ``bitgen_t`` without the GIL: the latent-variable steps of the probit and
cumulative (ordinal probit) families (Albert & Chib 1993, JASA 88(422)).

``tn_draw(lo, hi)`` draws Z ~ N(0, 1) given lo < Z < hi by exact rejection, with the
proposal chosen by where the interval lies (Robert 1995, Stat. Comput. 5(2):121):

* an interval containing 0: N(0, 1) proposals when it is at least sqrt(2 pi) wide
  (acceptance >= P(0 < Z < sqrt(2 pi)) = 0.494), else uniform proposals accepted with
  probability exp(-x^2 / 2) (acceptance >= 0.494 as well);
* an interval in the upper tail, 0 <= lo < hi (the lower tail by symmetry): uniform
  proposals on (lo, hi) accepted with probability exp((lo^2 - x^2) / 2) when
  hi^2 - lo^2 <= 2 (acceptance >= 1/e), else Robert's translated exponential,
  x = lo + E / alpha with alpha = (lo + sqrt(lo^2 + 4)) / 2, accepted with probability
  exp(-(x - alpha)^2 / 2) and x < hi (acceptance >= 0.48 for every such interval).

Every proposal loop stops after MAX_TRIES proposals and returns NaN (only reachable
with NaN or absurd inputs; the kernel then reports a non-finite draw).
"""
from libc.math cimport sqrt, exp, log, log1p, erfc, erf, INFINITY, NAN, isnan, M_PI
from numpy.random cimport bitgen_t
from cpython.pycapsule cimport PyCapsule_GetPointer

import numpy as np

from fastgibbs._random cimport draw_normal, draw_uniform, draw_exponential

cdef double SQRT_2PI = 2.5066282746310002
cdef double SQRT_HALF = 0.7071067811865476
cdef double LOG_SQRT_2PI = 0.9189385332046728
cdef long MAX_TRIES = 100000
# below this, log Phi(x) by its asymptotic series (erfc underflows near x = -37.5)
cdef double ASYMPTOTIC_BELOW = -37.0


cdef inline double _upper_tail(bitgen_t *bg, double lo, double hi) noexcept nogil:
    """Z | lo < Z < hi for 0 <= lo < hi (hi may be +inf)."""
    cdef double x, alpha
    cdef long it
    if hi * hi - lo * lo <= 2.0:            # narrow: uniform proposals
        for it in range(MAX_TRIES):
            x = lo + (hi - lo) * draw_uniform(bg)
            if draw_uniform(bg) < exp(0.5 * (lo * lo - x * x)):
                return x
        return NAN
    alpha = 0.5 * (lo + sqrt(lo * lo + 4.0))
    for it in range(MAX_TRIES):
        x = lo + draw_exponential(bg) / alpha
        if x < hi and draw_uniform(bg) < exp(-0.5 * (x - alpha) * (x - alpha)):
            return x
    return NAN


cdef inline double _straddle(bitgen_t *bg, double lo, double hi) noexcept nogil:
    """Z | lo < Z < hi for lo < 0 < hi."""
    cdef double x
    cdef long it
    if hi - lo >= SQRT_2PI:
        for it in range(MAX_TRIES):
            x = draw_normal(bg)
            if lo < x < hi:
                return x
        return NAN
    for it in range(MAX_TRIES):
        x = lo + (hi - lo) * draw_uniform(bg)
        if draw_uniform(bg) < exp(-0.5 * x * x):
            return x
    return NAN


cdef double tn_draw(bitgen_t *bg, double lo, double hi) noexcept nogil:
    if not (lo < hi):                       # empty interval, or NaN
        return NAN
    if lo >= 0.0:
        return _upper_tail(bg, lo, hi)
    if hi <= 0.0:
        return -_upper_tail(bg, -hi, -lo)
    return _straddle(bg, lo, hi)


cdef double log_ndtr(double x) noexcept nogil:
    cdef double x2, series
    if isnan(x):
        return NAN
    if x > 0.0:
        return log1p(-0.5 * erfc(x * SQRT_HALF))
    if x > ASYMPTOTIC_BELOW:
        return log(0.5 * erfc(-x * SQRT_HALF))
    if x == -INFINITY:
        return -INFINITY
    # Phi(x) = phi(x) / |x| (1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8 - ...) (Abramowitz &
    # Stegun 26.2.12); the first omitted term is below 1e-15 for x <= -37
    x2 = 1.0 / (x * x)
    series = 1.0 - x2 * (1.0 - x2 * (3.0 - x2 * (15.0 - x2 * 105.0)))
    return -0.5 * x * x - log(-x) - LOG_SQRT_2PI + log(series)


cdef double log_prob_interval(double lo, double hi) noexcept nogil:
    cdef double a, b
    if not (lo < hi):
        return -INFINITY if lo == hi else NAN
    if lo >= 0.0:                           # upper tail: reflect
        a = -hi
        b = -lo
    else:
        a = lo
        b = hi
    if b <= 0.0:                            # both ends in the lower tail
        return log_ndtr(b) + log1p(-exp(log_ndtr(a) - log_ndtr(b)))
    # a < 0 < b: the middle of the distribution
    if a > -1.0 and b < 1.0:
        return log(0.5 * (erf(b * SQRT_HALF) - erf(a * SQRT_HALF)))
    return log1p(-0.5 * (erfc(b * SQRT_HALF) + erfc(-a * SQRT_HALF)))


# ----------------------------------------------------------------------------------
# Python entry points (tests)
# ----------------------------------------------------------------------------------
def fill(double[::1] out, const double[::1] lo, const double[::1] hi, object bit_generator):
    """out[i] ~ N(0, 1) truncated to (lo[i], hi[i]), drawn from ``bit_generator``."""
    cdef bitgen_t *bg
    cdef Py_ssize_t i, n = out.shape[0]
    if lo.shape[0] != n or hi.shape[0] != n:
        raise ValueError("out, lo and hi must have the same length")
    bg = <bitgen_t *> PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")
    with bit_generator.lock, nogil:
        for i in range(n):
            out[i] = tn_draw(bg, lo[i], hi[i])
    return np.asarray(out)


def log_interval(const double[::1] lo, const double[::1] hi):
    """log(Phi(hi) - Phi(lo)) elementwise (arrays of equal length)."""
    cdef Py_ssize_t i, n = lo.shape[0]
    out = np.empty(n)
    cdef double[::1] o = out
    if hi.shape[0] != n:
        raise ValueError("lo and hi must have the same length")
    for i in range(n):
        o[i] = log_prob_interval(lo[i], hi[i])
    return out
