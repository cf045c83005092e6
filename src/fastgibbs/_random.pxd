# Inline nogil variate helpers on numpy's bitgen_t (numpy.random.c_distributions).
# Every draw in fastgibbs goes through these or through numpy's C API directly, so a
# numpy Generator/BitGenerator fully determines a chain.
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport (
    random_standard_normal, random_standard_gamma, random_standard_uniform,
    random_standard_exponential,
)


cdef inline double draw_normal(bitgen_t *bg) noexcept nogil:
    """One N(0, 1) variate (numpy's ziggurat)."""
    return random_standard_normal(bg)


cdef inline double draw_uniform(bitgen_t *bg) noexcept nogil:
    """One U[0, 1) variate."""
    return random_standard_uniform(bg)


cdef inline double draw_exponential(bitgen_t *bg) noexcept nogil:
    """One Exp(1) variate."""
    return random_standard_exponential(bg)


cdef inline double draw_gamma(bitgen_t *bg, double shape, double rate) noexcept nogil:
    """One Gamma(shape, rate) variate (mean shape / rate)."""
    return random_standard_gamma(bg, shape) / rate


cdef inline double draw_inv_gamma(bitgen_t *bg, double shape, double scale) noexcept nogil:
    """One InvGamma(shape, scale) variate: 1 / Gamma(shape, rate=scale).

    Density proportional to x^(-shape-1) exp(-scale / x); mean scale / (shape - 1).
    """
    return scale / random_standard_gamma(bg, shape)
