# Truncated standard normal variates and normal interval probabilities, without the GIL.
#
# For the Gibbs kernels: `from fastgibbs._truncnorm cimport tn_draw, log_ndtr, log_prob_interval`.
# Inputs are not validated beyond returning NaN for an empty or NaN interval.
from numpy.random cimport bitgen_t

# One draw of Z ~ N(0, 1) conditioned on lo < Z < hi (lo may be -inf, hi +inf).
cdef double tn_draw(bitgen_t *bg, double lo, double hi) noexcept nogil

# log Phi(x), accurate in both tails.
cdef double log_ndtr(double x) noexcept nogil

# log(Phi(hi) - Phi(lo)) for lo < hi, accurate when the interval lies in a far tail.
cdef double log_prob_interval(double lo, double hi) noexcept nogil
