# Envelope (skyline) Cholesky factorisation and solves for the structured group terms
# (fastgibbs.gmrf): inline, nogil, on memoryviews.
#
# The factorisation and the forward solves are fused into the structured draw
# (fastgibbs._core: Kernel's generic, tridiagonal and pentadiagonal factor-forward
# passes); the back substitutions are here.
#
# A symmetric matrix over positions p0..p1-1 is stored by rows of its lower triangle:
# row i holds columns first[i]..i at L[off[i] + (c - first[i])]. The Cholesky factor
# has the same envelope (fill-in stays inside it; George & Liu 1981, Computer Solution
# of Large Sparse Positive Definite Systems, sec. 4.2), so it overwrites the matrix.
# A banded matrix of half-bandwidth w (a random walk of order w) costs O(n w^2) to
# factor and O(n w) to solve. Every routine works on a range p0..p1 that the matrix
# leaves uncoupled from the rest (first[i] >= p0 for every i in the range).


cdef inline void env_solve_upper_t(const double[::1] L, const double[::1] dinv,
                                   const Py_ssize_t[::1] first,
                                   const Py_ssize_t[::1] off, double[::1] x, Py_ssize_t xo,
                                   Py_ssize_t p0, Py_ssize_t p1) noexcept nogil:
    """x[xo + i] <- (L^-T x)[i] for i in p0..p1-1 (back substitution by columns of L')."""
    cdef Py_ssize_t i, c, fi, oi
    cdef double xi
    for i in range(p1 - 1, p0 - 1, -1):
        fi = first[i]
        oi = off[i] - fi
        xi = x[xo + i] * dinv[i]
        x[xo + i] = xi
        for c in range(fi, i):
            x[xo + c] -= L[oi + c] * xi


cdef inline void tri_solve_upper_t(const double[::1] sub, const double[::1] dinv,
                                   double[::1] x, Py_ssize_t xo, Py_ssize_t p0,
                                   Py_ssize_t p1) noexcept nogil:
    """env_solve_upper_t for a tridiagonal factor stored as sub[i] = L[i, i-1] (0 where
    row i starts a new series) and dinv[i] = 1 / L[i, i]."""
    cdef Py_ssize_t i
    cdef double xi
    for i in range(p1 - 1, p0, -1):
        xi = x[xo + i] * dinv[i]
        x[xo + i] = xi
        x[xo + i - 1] -= sub[i] * xi
    if p1 > p0:
        x[xo + p0] *= dinv[p0]


cdef inline void penta_solve_upper_t(const double[::1] sub, const double[::1] sub2,
                                     const double[::1] dinv, double[::1] x, Py_ssize_t xo,
                                     Py_ssize_t p0, Py_ssize_t p1) noexcept nogil:
    """env_solve_upper_t for a pentadiagonal factor stored as sub2[i] = L[i, i-2],
    sub[i] = L[i, i-1] (0 outside row i's envelope) and dinv[i] = 1 / L[i, i]; columns
    i-2 then i-1, env_solve_upper_t's order."""
    cdef Py_ssize_t i
    cdef double xi
    for i in range(p1 - 1, p0 + 1, -1):
        xi = x[xo + i] * dinv[i]
        x[xo + i] = xi
        x[xo + i - 2] -= sub2[i] * xi
        x[xo + i - 1] -= sub[i] * xi
    if p1 > p0 + 1:
        xi = x[xo + p0 + 1] * dinv[p0 + 1]
        x[xo + p0 + 1] = xi
        x[xo + p0] -= sub[p0 + 1] * xi
    if p1 > p0:
        x[xo + p0] *= dinv[p0]
