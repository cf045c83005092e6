# Polya-Gamma PG(h, z) variates on numpy's bitgen_t, without the GIL.
#
# For the Gibbs kernels: `from fastgibbs._polyagamma cimport pg_draw`.
# Inputs are not validated beyond returning NaN for h <= 0, non-finite h or
# non-finite z; validate in Python before entering nogil code.
from numpy.random cimport bitgen_t

# One PG(h, z) draw, h > 0 real. Exact for h < 50, shifted-gamma approximation
# (3 cumulants matched) for h >= 50; see fastgibbs.polyagamma for details.
cdef double pg_draw(bitgen_t *bg, double h, double z) noexcept nogil

# One PG(n, z) draw for integer n >= 1 (NaN for n < 1); same methods as pg_draw.
cdef double pg_draw_int(bitgen_t *bg, long n, double z) noexcept nogil
