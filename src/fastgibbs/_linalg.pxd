# Small dense linear algebra for the Gibbs kernels: inline, nogil, row-major.
#
# The matrices the kernels factor are small (p x p fixed-effect blocks, q x q
# per-group blocks, with p and q rarely above a few dozen), so plain loops beat the
# call overhead of LAPACK here and keep every step free of the GIL.
from libc.math cimport sqrt


cdef inline int chol_lower(double *a, Py_ssize_t n) noexcept nogil:
    """In-place Cholesky a = L L' of a symmetric n x n row-major matrix.

    Only the lower triangle is read and written (the strict upper triangle is
    zeroed). Returns 0 on success, or k + 1 when the leading k+1 minor is not
    positive definite (LAPACK dpotrf's ``info``).
    """
    cdef Py_ssize_t i, j, k
    cdef double s
    for j in range(n):
        s = a[j * n + j]
        for k in range(j):
            s -= a[j * n + k] * a[j * n + k]
        if not (s > 0.0):
            return j + 1
        s = sqrt(s)
        a[j * n + j] = s
        for i in range(j + 1, n):
            a[i * n + j] = a[i * n + j]
            for k in range(j):
                a[i * n + j] -= a[i * n + k] * a[j * n + k]
            a[i * n + j] /= s
        for i in range(j):
            a[i * n + j] = 0.0
    return 0


cdef inline void solve_lower(const double *L, double *b, Py_ssize_t n) noexcept nogil:
    """b <- L^{-1} b for lower-triangular row-major L (forward substitution)."""
    cdef Py_ssize_t i, k
    cdef double s
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= L[i * n + k] * b[k]
        b[i] = s / L[i * n + i]


cdef inline void solve_upper_t(const double *L, double *b, Py_ssize_t n) noexcept nogil:
    """b <- L^{-T} b for lower-triangular row-major L (back substitution on L')."""
    cdef Py_ssize_t i, k
    cdef double s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= L[k * n + i] * b[k]
        b[i] = s / L[i * n + i]
