# Special functions for the nogil kernels, written to be reentrant (several chains
# run in threads at once).
from libc.math cimport log




cdef inline double log_gamma(double x) noexcept nogil:
    """log Gamma(x) for x > 0: Stirling series after shifting x to >= 15.

    Used instead of libc's log-gamma, which writes the global signgam (a data race
    when several threads run kernels). Relative accuracy ~1e-15.
    """
    cdef double p = 1.0, x2
    while x < 15.0:
        p *= x
        x += 1.0
    x2 = 1.0 / (x * x)
    return ((x - 0.5) * log(x) - x + 0.9189385332046728   # log(sqrt(2 pi))
            + (1.0 / x) * (1.0 / 12.0 - x2 * (1.0 / 360.0 - x2 * (1.0 / 1260.0 - x2 * (
                1.0 / 1680.0 - x2 / 1188.0))))
            - log(p))
