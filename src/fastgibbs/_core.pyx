# Gibbs kernels for Gaussian multilevel models, run without the GIL.
#
# Model (notation of design.py):
#     y = X beta + sum_k Z_k u_k + e,   e ~ N(0, sigma2 I)
#     u_k = (u_k1, ..., u_kJ_k), u_kj ~ N(0, Sigma_k)  (q_k x q_k)
#     beta_m ~ N(m_m, 1 / prec_m);  sigma2 ~ InvGamma or half-Cauchy on the sd;
#     Sigma_k diagonal with InvGamma / half-Cauchy entries, or full ~ InvWishart(nu, Psi)
#
# The kernel never sees observations: it works on sufficient statistics computed once
# in Python (X'X, X'y, y'y, per-group Z'Z, Z'X, Z'y, and for every pair of grouping
# factors the non-empty cells of Z_k'Z_l), so one sweep costs
#     O(K * (J p^2 q + J q^3 + p^3) + cells)
# and does not grow with the number of observations on nested designs.
#
# One sweep:
# 1. for each block k: (beta, u_k) | u_{-k}, variances, y drawn jointly: beta from its
#    marginal with u_k integrated out (Schur complement, per group), then
#    u_kj | beta independently per group. With one grouping factor this is the exact
#    joint draw of all location parameters; with several it is the collapsed Gibbs
#    sampler of Papaspiliopoulos, Roberts & Zanella (2020, Biometrika 107(1)).
# 2. for each variance component of a diagonal block: the centred draw
#    Sigma_k[c,c] | u, then the non-centred draw of s = sd given eta = u / s
#    (ancillarity-sufficiency interweaving, Yu & Meng 2011, JCGS 20(3)), by slice
#    sampling log s (Neal 2003); a full block draws Sigma_k | u from its
#    inverse-Wishart conditional (Bartlett decomposition).
# 3. sigma2 | rest ~ InvGamma from the residual sum of squares, itself computed from
#    the sufficient statistics.
#
# Binomial / Bernoulli models (Polson, Scott & Windle 2013, JASA 108(504)) first draw
# omega_i | eta_i ~ PG(n_i, eta_i) per binomial cell, then refill the same statistics
# with weights omega (X'Omega X, Z'Omega Z, ..., and X'kappa, Z'kappa with
# kappa_i = y_i - n_i / 2) and run steps 1-2 unchanged with sigma2 = 1: the working
# response kappa_i / omega_i ~ N(eta_i, 1 / omega_i). That sweep costs O(cells (p^2 +
# sum_k q_k p)) for the statistics plus the Gaussian steps.
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport sqrt, exp, log, floor, INFINITY
from numpy.random cimport bitgen_t

import numpy as np

from fastgibbs._random cimport (
    draw_normal, draw_uniform, draw_exponential, draw_gamma, draw_inv_gamma,
)
from fastgibbs._linalg cimport chol_lower, solve_lower, solve_upper_t
from fastgibbs._polyagamma cimport pg_draw_int

# prior kinds for a variance component (kept in sync with priors.py)
cdef enum:
    PRIOR_INV_GAMMA = 0     # sd^2 ~ InvGamma(a, b)
    PRIOR_HALF_CAUCHY = 1   # sd ~ half-Cauchy(0, A), via sd^2 | xi ~ IG(1/2, 1/xi),
                            # xi ~ IG(1/2, 1/A^2) (Wand et al. 2011, Bayesian Analysis 6(4))

# covariance kinds of a block (kept in sync with samplers/gaussian.py)
cdef enum:
    COV_DIAGONAL = 0        # independent variances, one prior each
    COV_FULL = 1            # full covariance, inverse-Wishart prior

# error codes returned by the nogil helpers
cdef enum:
    ERR_CHOL_FIXED = 1
    ERR_CHOL_GROUP = 2
    ERR_NONFINITE = 3
    ERR_CHOL_WISHART = 4


cdef struct Design:
    Py_ssize_t n_fixed, n_blocks
    double n_obs, yty
    const double *xtx
    const double *xty
    const double *prior_mean
    const double *prior_prec
    const Py_ssize_t *n_groups
    const Py_ssize_t *n_re
    const Py_ssize_t *u_off
    const Py_ssize_t *ztz_off
    const Py_ssize_t *ztx_off
    const Py_ssize_t *vc_off
    const double *ztz
    const double *ztx
    const double *zty
    const Py_ssize_t *pair_row_off   # n_blocks^2 offsets into rowptr
    const Py_ssize_t *rowptr         # cell index ranges per (pair, group of first block)
    const Py_ssize_t *cell_col       # group of the second block, per cell
    const Py_ssize_t *cell_val_off   # offset into cell_val of the q_k x q_l block, per cell
    const double *cell_val
    const Py_ssize_t *vc_kind
    const Py_ssize_t *cov_kind       # per block: COV_DIAGONAL or COV_FULL
    const double *iw_df              # per block (full blocks)
    const double *iw_scale           # sum_k q_k^2, row-major per block (full blocks)
    const double *vc_a
    const double *vc_b
    Py_ssize_t sigma_kind
    double sigma_a, sigma_b
    bint has_sigma                   # False for binomial models (sigma2 = 1 fixed)


cdef struct Cells:
    # binomial cells of a logistic model, and the statistics refilled each sweep
    Py_ssize_t n_cells
    const double *X                  # n_cells x p, row-major
    const double *n_trials           # n_cells
    const double *kappa              # n_cells: successes - n_trials / 2
    const double *Z                  # per block k: n_cells x q_k row-major, at z_off[k]
    const Py_ssize_t *z_off
    const Py_ssize_t *group          # per block k: n_cells entries at k * n_cells
    const Py_ssize_t *obs_cell       # per ordered pair (k, l): n_cells cell indices
    double *omega                    # n_cells
    double *xtx
    double *xty
    double *ztz
    double *ztx
    double *zty
    double *cell_val
    Py_ssize_t n_ztz, n_ztx, n_u, n_cell_val


cdef struct State:
    double *beta      # (p,)
    double *u         # (n_u,)
    double *tau2      # (n_vc,) variances of the group effects
    double *vc_xi     # (n_vc,) half-Cauchy auxiliaries
    double *re_prec   # sum_k q_k^2: prior precision of u_kj, row-major per block
    double *re_cov    # sum_k q_k^2: Sigma_k, row-major per block
    double *sigma     # [sigma2, xi_sigma]


cdef struct Work:
    double *P         # p x p
    double *h         # p
    double *xtr       # p
    double *tmp       # max(p, q)
    double *W         # q x p
    double *ztr       # max_k J_k q_k
    double *Lg        # max_k J_k q_k^2: per-group Cholesky factors
    double *Mq        # max_k q_k^2


cdef inline double _ztx_dot_beta(const Design *d, const State *s, Py_ssize_t k,
                                 Py_ssize_t j, Py_ssize_t c) noexcept nogil:
    """(Z_kj' X_kj beta)[c]."""
    cdef Py_ssize_t m, p = d.n_fixed, q = d.n_re[k]
    cdef const double *row = d.ztx + d.ztx_off[k] + (j * q + c) * p
    cdef double acc = 0.0
    for m in range(p):
        acc += row[m] * s.beta[m]
    return acc


cdef void cross_residual(const Design *d, const State *s, Py_ssize_t k,
                         double *ztr) noexcept nogil:
    """ztr[j*q + c] <- (Z_kj' (y - sum_{l != k} Z_l u_l))[c] for every group j of k.

    Cost O(J_k q_k + sum_l q_k q_l cells(k, l)).
    """
    cdef Py_ssize_t l, j, c, c2, cell, m, B = d.n_blocks
    cdef Py_ssize_t q = d.n_re[k], ql, J = d.n_groups[k], row0
    cdef const double *v
    cdef const double *ul
    for j in range(J * q):
        ztr[j] = d.zty[d.u_off[k] + j]
    for l in range(B):
        if l == k:
            continue
        ql = d.n_re[l]
        row0 = d.pair_row_off[k * B + l]
        for j in range(J):
            for cell in range(d.rowptr[row0 + j], d.rowptr[row0 + j + 1]):
                m = d.cell_col[cell]
                v = d.cell_val + d.cell_val_off[cell]
                ul = s.u + d.u_off[l] + m * ql
                for c in range(q):
                    for c2 in range(ql):
                        ztr[j * q + c] -= v[c * ql + c2] * ul[c2]


cdef int draw_gaussian_canonical(double *P, double *h, double *out, Py_ssize_t n,
                                 bitgen_t *bg) noexcept nogil:
    """out ~ N(P^{-1} h, P^{-1}) for an n x n precision P (lower triangle read).

    With P = L L': out = L^{-T} (L^{-1} h + e), e ~ N(0, I). P and h are overwritten.
    Returns the Cholesky status (0 on success)."""
    cdef Py_ssize_t m
    if chol_lower(P, n) != 0:
        return 1
    solve_lower(P, h, n)
    for m in range(n):
        h[m] += draw_normal(bg)
    solve_upper_t(P, h, n)
    for m in range(n):
        out[m] = h[m]
    return 0


cdef int draw_location_block(const Design *d, State *s, Work *w, Py_ssize_t k,
                             bitgen_t *bg) noexcept nogil:
    """Draw (beta, u_k) | u_{-k}, sigma2, Sigma_k, y jointly.

    With r = y - sum_{l != k} Z_l u_l, A_j = Z_kj'Z_kj / sigma2 + Sigma_k^{-1}:
        beta | .  ~ N(P^{-1} h, P^{-1}),
            P = X'X / sigma2 + V0^{-1} - sum_j X_j'Z_j A_j^{-1} Z_j'X_j / sigma2^2
            h = X'r / sigma2 + V0^{-1} m0 - sum_j X_j'Z_j A_j^{-1} Z_j'r_j / sigma2^2
        u_kj | beta, . ~ N(A_j^{-1} Z_j'(r_j - X_j beta) / sigma2, A_j^{-1}).
    Cost O(J_k (q p^2 + q^2 p + q^3) + p^3 + cells). Mutates s.beta and block k of s.u.
    """
    cdef Py_ssize_t p = d.n_fixed, q = d.n_re[k], J = d.n_groups[k]
    cdef Py_ssize_t l, j, c, c2, m, m2, ql, B = d.n_blocks
    cdef double inv_s2 = 1.0 / s.sigma[0], acc
    cdef const double *ztx_j
    cdef const double *prec = s.re_prec
    cdef double *L
    cdef double *uk = s.u + d.u_off[k]
    for l in range(k):
        prec += d.n_re[l] * d.n_re[l]

    # X'r = X'y - sum_{l != k} sum_j (Z_lj'X_lj)' u_lj
    for m in range(p):
        w.xtr[m] = d.xty[m]
    for l in range(B):
        if l == k:
            continue
        ql = d.n_re[l]
        for j in range(d.n_groups[l] * ql):
            acc = s.u[d.u_off[l] + j]
            ztx_j = d.ztx + d.ztx_off[l] + j * p
            for m in range(p):
                w.xtr[m] -= ztx_j[m] * acc
    cross_residual(d, s, k, w.ztr)

    for m in range(p):
        w.h[m] = w.xtr[m] * inv_s2 + d.prior_prec[m] * d.prior_mean[m]
        for m2 in range(p):
            w.P[m * p + m2] = d.xtx[m * p + m2] * inv_s2
        w.P[m * p + m] += d.prior_prec[m]

    for j in range(J):
        L = w.Lg + j * q * q
        for c in range(q):
            for c2 in range(q):
                L[c * q + c2] = d.ztz[d.ztz_off[k] + j * q * q + c * q + c2] * inv_s2 + prec[c * q + c2]
        if chol_lower(L, q) != 0:
            return ERR_CHOL_GROUP
        ztx_j = d.ztx + d.ztx_off[k] + j * q * p
        # W = L^{-1} Z_j'X_j / sigma2  (q x p), column by column
        for m in range(p):
            for c in range(q):
                w.tmp[c] = ztx_j[c * p + m] * inv_s2
            solve_lower(L, w.tmp, q)
            for c in range(q):
                w.W[c * p + m] = w.tmp[c]
        # tmp = L^{-1} Z_j'r_j / sigma2
        for c in range(q):
            w.tmp[c] = w.ztr[j * q + c] * inv_s2
        solve_lower(L, w.tmp, q)
        # P -= W'W (lower triangle), h -= W' tmp
        for m in range(p):
            acc = 0.0
            for c in range(q):
                acc += w.W[c * p + m] * w.tmp[c]
            w.h[m] -= acc
            for m2 in range(m + 1):
                acc = 0.0
                for c in range(q):
                    acc += w.W[c * p + m] * w.W[c * p + m2]
                w.P[m * p + m2] -= acc

    if p > 0 and draw_gaussian_canonical(w.P, w.h, s.beta, p, bg) != 0:
        return ERR_CHOL_FIXED

    for j in range(J):
        L = w.Lg + j * q * q
        for c in range(q):
            w.tmp[c] = (w.ztr[j * q + c] - _ztx_dot_beta(d, s, k, j, c)) * inv_s2
        solve_lower(L, w.tmp, q)
        for c in range(q):
            w.tmp[c] += draw_normal(bg)
        solve_upper_t(L, w.tmp, q)
        for c in range(q):
            uk[j * q + c] = w.tmp[c]
    return 0


cdef double residual_ss(const Design *d, const State *s) noexcept nogil:
    """||y - X beta - sum_k Z_k u_k||^2 from the sufficient statistics.

    Cost O(p^2 + sum_k J_k q_k (p + q_k) + cells).
    """
    cdef Py_ssize_t p = d.n_fixed, B = d.n_blocks, k, l, j, c, c2, m, cell, q, ql, row0
    cdef double rss = d.yty, acc, ukc
    cdef const double *v
    cdef const double *uk
    cdef const double *ul
    for m in range(p):
        acc = 0.0
        for c in range(p):
            acc += d.xtx[m * p + c] * s.beta[c]
        rss += s.beta[m] * (acc - 2.0 * d.xty[m])
    for k in range(B):
        q = d.n_re[k]
        uk = s.u + d.u_off[k]
        for j in range(d.n_groups[k]):
            for c in range(q):
                ukc = uk[j * q + c]
                rss -= 2.0 * ukc * (d.zty[d.u_off[k] + j * q + c] - _ztx_dot_beta(d, s, k, j, c))
                for c2 in range(q):
                    rss += ukc * d.ztz[d.ztz_off[k] + j * q * q + c * q + c2] * uk[j * q + c2]
        for l in range(k + 1, B):
            ql = d.n_re[l]
            ul = s.u + d.u_off[l]
            row0 = d.pair_row_off[k * B + l]
            for j in range(d.n_groups[k]):
                for cell in range(d.rowptr[row0 + j], d.rowptr[row0 + j + 1]):
                    m = d.cell_col[cell]
                    v = d.cell_val + d.cell_val_off[cell]
                    for c in range(q):
                        for c2 in range(ql):
                            rss += 2.0 * uk[j * q + c] * v[c * ql + c2] * ul[m * ql + c2]
    # rounding can leave a tiny negative value when the fit is (nearly) exact
    return rss if rss > 0.0 else 0.0


cdef inline double log_sd_density(double t, double a, double b, double A, double Bc,
                                  double sigma2) noexcept nogil:
    """log density of t = log s in the non-centred step, up to a constant.

    s^2 ~ InvGamma(a, b) a priori and y enters as N(r; s * Z eta, sigma2), so
        log p(t) = -2 a t - b e^{-2t} - (A e^{2t} - 2 Bc e^t) / (2 sigma2),
    with A = ||Z eta||^2 and Bc = eta'Z'r.
    """
    cdef double e
    if t < -60.0 or t > 60.0:
        return -INFINITY
    e = exp(t)
    return -2.0 * a * t - b / (e * e) - (A * e * e - 2.0 * Bc * e) / (2.0 * sigma2)


cdef double slice_log_sd(bitgen_t *bg, double t0, double a, double b, double A, double Bc,
                         double sigma2) noexcept nogil:
    """One slice-sampling update of t = log s (Neal 2003, Ann. Statist., stepping out
    with width 1 and at most 32 steps, then shrinkage). Leaves log_sd_density invariant."""
    cdef double width = 1.0, logy, left, right, t1
    cdef long jl, jr, it
    logy = log_sd_density(t0, a, b, A, Bc, sigma2) - draw_exponential(bg)
    left = t0 - width * draw_uniform(bg)
    right = left + width
    jl = <long>floor(32.0 * draw_uniform(bg))
    jr = 31 - jl
    while jl > 0 and log_sd_density(left, a, b, A, Bc, sigma2) > logy:
        left -= width
        jl -= 1
    while jr > 0 and log_sd_density(right, a, b, A, Bc, sigma2) > logy:
        right += width
        jr -= 1
    for it in range(200):
        t1 = left + (right - left) * draw_uniform(bg)
        if log_sd_density(t1, a, b, A, Bc, sigma2) > logy:
            return t1
        if t1 < t0:
            left = t1
        else:
            right = t1
    return t0


cdef void draw_variances_block(const Design *d, State *s, Work *w, Py_ssize_t k,
                               bint interweave, bitgen_t *bg) noexcept nogil:
    """Variance of each column c of block k (diagonal Sigma_k).

    Centred step: tau2_c | u ~ InvGamma(a + J/2, b + sum_j u_jc^2 / 2).
    Non-centred step (if interweave): with eta_j = u_jc / s, draw s | eta, rest by
    slice sampling, then set u_jc = s eta_j (Yu & Meng 2011). Half-Cauchy priors
    draw their auxiliary xi | tau2 ~ InvGamma(1, 1/tau2 + 1/A^2) last.
    Cost O(J_k q_k (p + q_k) + cells). Mutates tau2, vc_xi and block k of u.
    """
    cdef Py_ssize_t q = d.n_re[k], J = d.n_groups[k], j, c, c2, vc
    cdef double a, b, ss, s_old, s_new, t_new, A, Bc, eta, zr
    cdef int it
    cdef double *uk = s.u + d.u_off[k]
    cdef const double *ztz_j
    if interweave:
        cross_residual(d, s, k, w.ztr)
    for c in range(q):
        vc = d.vc_off[k] + c
        if d.vc_kind[vc] == PRIOR_HALF_CAUCHY:
            a = 0.5
            b = 1.0 / s.vc_xi[vc]
        else:
            a = d.vc_a[vc]
            b = d.vc_b[vc]
        ss = 0.0
        for j in range(J):
            ss += uk[j * q + c] * uk[j * q + c]
        s.tau2[vc] = draw_inv_gamma(bg, a + 0.5 * J, b + 0.5 * ss)
        if interweave:
            s_old = sqrt(s.tau2[vc])
            A = 0.0
            Bc = 0.0
            for j in range(J):
                ztz_j = d.ztz + d.ztz_off[k] + j * q * q
                eta = uk[j * q + c] / s_old
                zr = w.ztr[j * q + c] - _ztx_dot_beta(d, s, k, j, c)
                for c2 in range(q):
                    if c2 != c:
                        zr -= ztz_j[c * q + c2] * uk[j * q + c2]
                A += eta * eta * ztz_j[c * q + c]
                Bc += eta * zr
            t_new = log(s_old)
            for it in range(3):
                t_new = slice_log_sd(bg, t_new, a, b, A, Bc, s.sigma[0])
            s_new = exp(t_new)
            for j in range(J):
                uk[j * q + c] *= s_new / s_old
            s.tau2[vc] = s_new * s_new
        if d.vc_kind[vc] == PRIOR_HALF_CAUCHY:
            s.vc_xi[vc] = draw_inv_gamma(bg, 1.0, 1.0 / s.tau2[vc] + 1.0 / (d.vc_b[vc] * d.vc_b[vc]))


cdef void refresh_re_prec(const Design *d, State *s) noexcept nogil:
    """re_cov <- diag(tau2), re_prec <- diag(1 / tau2) for every diagonal block (full
    blocks keep both up to date in draw_inv_wishart_block)."""
    cdef Py_ssize_t k, c, c2, q
    cdef double *prec = s.re_prec
    cdef double *cov = s.re_cov
    for k in range(d.n_blocks):
        q = d.n_re[k]
        if d.cov_kind[k] == COV_DIAGONAL:
            for c in range(q):
                for c2 in range(q):
                    prec[c * q + c2] = 0.0
                    cov[c * q + c2] = 0.0
                prec[c * q + c] = 1.0 / s.tau2[d.vc_off[k] + c]
                cov[c * q + c] = s.tau2[d.vc_off[k] + c]
        prec += q * q
        cov += q * q


cdef int invert_spd(const double *a, double *out, double *L, double *col,
                    Py_ssize_t q) noexcept nogil:
    """out <- a^{-1} for a symmetric positive definite q x q matrix (L, col: scratch)."""
    cdef Py_ssize_t i, c
    for i in range(q * q):
        L[i] = a[i]
    if chol_lower(L, q) != 0:
        return ERR_CHOL_WISHART
    for c in range(q):
        for i in range(q):
            col[i] = 1.0 if i == c else 0.0
        solve_lower(L, col, q)
        solve_upper_t(L, col, q)
        for i in range(q):
            out[i * q + c] = col[i]
    return 0


cdef int draw_inv_wishart_block(const Design *d, State *s, Work *w, Py_ssize_t k,
                                bitgen_t *bg) noexcept nogil:
    """Sigma_k | u ~ InvWishart(nu + J, Psi + sum_j u_j u_j').

    Draws the precision W = Sigma_k^{-1} ~ Wishart(nu + J, M^{-1}), M = Psi + S, by the
    Bartlett decomposition: with M = C C' and A lower triangular, A_cc^2 ~
    chi2(nu + J - c), A_cc' ~ N(0, 1) below the diagonal, W = (C^{-T} A)(C^{-T} A)'.
    Cost O(J q^2 + q^3). Sets re_prec = W and re_cov = W^{-1}.
    """
    cdef Py_ssize_t q = d.n_re[k], J = d.n_groups[k], j, c, c2, i, off = 0
    cdef double df = d.iw_df[k] + J
    cdef double *M
    cdef double *A = w.Lg         # q x q scratch (Lg holds J q^2 >= q^2 doubles)
    cdef double acc
    cdef const double *uk = s.u + d.u_off[k]
    for i in range(k):
        off += d.n_re[i] * d.n_re[i]
    M = w.Mq
    for c in range(q):
        for c2 in range(q):
            M[c * q + c2] = d.iw_scale[off + c * q + c2]
    for j in range(J):
        for c in range(q):
            for c2 in range(q):
                M[c * q + c2] += uk[j * q + c] * uk[j * q + c2]
    if chol_lower(M, q) != 0:
        return ERR_CHOL_WISHART
    for c in range(q):
        for c2 in range(q):
            if c2 < c:
                A[c * q + c2] = draw_normal(bg)
            elif c2 == c:
                A[c * q + c] = sqrt(2.0 * draw_gamma(bg, 0.5 * (df - c), 1.0))
            else:
                A[c * q + c2] = 0.0
    # B = C^{-T} A, column by column, stored back in A
    for c2 in range(q):
        for c in range(q):
            w.tmp[c] = A[c * q + c2]
        solve_upper_t(M, w.tmp, q)
        for c in range(q):
            A[c * q + c2] = w.tmp[c]
    # re_prec = B B'
    for c in range(q):
        for c2 in range(q):
            acc = 0.0
            for i in range(q):
                acc += A[c * q + i] * A[c2 * q + i]
            s.re_prec[off + c * q + c2] = acc
    if invert_spd(s.re_prec + off, s.re_cov + off, M, w.tmp, q) != 0:
        return ERR_CHOL_WISHART
    for c in range(q):
        s.tau2[d.vc_off[k] + c] = s.re_cov[off + c * q + c]
    return 0


cdef void draw_sigma2(const Design *d, State *s, bitgen_t *bg) noexcept nogil:
    """sigma2 | rest ~ InvGamma(a + N/2, b + RSS/2); half-Cauchy via its auxiliary."""
    cdef double a, b, rss = residual_ss(d, s)
    if d.sigma_kind == PRIOR_HALF_CAUCHY:
        a = 0.5
        b = 1.0 / s.sigma[1]
    else:
        a = d.sigma_a
        b = d.sigma_b
    s.sigma[0] = draw_inv_gamma(bg, a + 0.5 * d.n_obs, b + 0.5 * rss)
    if d.sigma_kind == PRIOR_HALF_CAUCHY:
        s.sigma[1] = draw_inv_gamma(bg, 1.0, 1.0 / s.sigma[0] + 1.0 / (d.sigma_b * d.sigma_b))


cdef void write_draw(const Design *d, const State *s, double *row, Py_ssize_t n_u,
                     Py_ssize_t n_hyper) noexcept nogil:
    """row <- [beta (p), sigma, per block: sds (q_k) then, for a full block, the
    correlations (c, c') for c < c' in row order, then u (n_u)]."""
    cdef Py_ssize_t i, k, c, c2, q, pos, off = 0, p = d.n_fixed
    cdef const double *cov
    for i in range(p):
        row[i] = s.beta[i]
    pos = p
    if d.has_sigma:
        row[p] = sqrt(s.sigma[0])
        pos = p + 1
    for k in range(d.n_blocks):
        q = d.n_re[k]
        cov = s.re_cov + off
        for c in range(q):
            row[pos] = sqrt(s.tau2[d.vc_off[k] + c])
            pos += 1
        if d.cov_kind[k] == COV_FULL:
            for c in range(q):
                for c2 in range(c + 1, q):
                    row[pos] = cov[c * q + c2] / sqrt(cov[c * q + c] * cov[c2 * q + c2])
                    pos += 1
        off += q * q
    for i in range(n_u):
        row[pos + i] = s.u[i]


cdef int sweep(const Design *d, State *s, Work *w, bint update_variances,
               bint interweave, bitgen_t *bg) noexcept nogil:
    cdef Py_ssize_t k
    cdef int err
    for k in range(d.n_blocks):
        err = draw_location_block(d, s, w, k, bg)
        if err:
            return err
    if d.n_blocks == 0 and d.n_fixed > 0:
        err = draw_location_fixed_only(d, s, w, bg)
        if err:
            return err
    if update_variances:
        for k in range(d.n_blocks):
            if d.cov_kind[k] == COV_FULL:
                err = draw_inv_wishart_block(d, s, w, k, bg)
                if err:
                    return err
            else:
                draw_variances_block(d, s, w, k, interweave, bg)
        refresh_re_prec(d, s)
        if d.has_sigma:
            draw_sigma2(d, s, bg)
    if not (s.sigma[0] > 0.0 and s.sigma[0] < INFINITY):
        return ERR_NONFINITE
    return 0


cdef void draw_omega(const Design *d, const State *s, Cells *g, bitgen_t *bg) noexcept nogil:
    """omega_i | beta, u ~ PG(n_i, eta_i), eta_i = x_i'beta + sum_k z_ik'u_k,g_k(i).
    Cost O(cells (p + sum_k q_k)) plus the PG draws."""
    cdef Py_ssize_t i, k, c, m, q, n = g.n_cells, p = d.n_fixed
    cdef double eta
    cdef const double *x
    cdef const double *z
    cdef const double *uk
    for i in range(n):
        eta = 0.0
        x = g.X + i * p
        for m in range(p):
            eta += x[m] * s.beta[m]
        for k in range(d.n_blocks):
            q = d.n_re[k]
            z = g.Z + g.z_off[k] + i * q
            uk = s.u + d.u_off[k] + g.group[k * n + i] * q
            for c in range(q):
                eta += z[c] * uk[c]
        g.omega[i] = pg_draw_int(bg, <long> g.n_trials[i], eta)


cdef void fill_weighted_stats(const Design *d, Cells *g) noexcept nogil:
    """X'Omega X, X'kappa, and per group / per cell Z'Omega Z, Z'Omega X, Z'kappa.
    Cost O(cells (p^2 + sum_k q_k (p + q_k) + sum_{k != l} q_k q_l))."""
    cdef Py_ssize_t i, k, l, c, c2, m, m2, q, ql, j, cell, B = d.n_blocks
    cdef Py_ssize_t n = g.n_cells, p = d.n_fixed
    cdef double wt, kap
    cdef const double *x
    cdef const double *z
    cdef const double *zl
    cdef double *v
    for m in range(p * p):
        g.xtx[m] = 0.0
    for m in range(p):
        g.xty[m] = 0.0
    for m in range(g.n_ztz):
        g.ztz[m] = 0.0
    for m in range(g.n_ztx):
        g.ztx[m] = 0.0
    for m in range(g.n_u):
        g.zty[m] = 0.0
    for m in range(g.n_cell_val):
        g.cell_val[m] = 0.0
    for i in range(n):
        wt = g.omega[i]
        kap = g.kappa[i]
        x = g.X + i * p
        for m in range(p):
            g.xty[m] += kap * x[m]
            for m2 in range(m + 1):
                g.xtx[m * p + m2] += wt * x[m] * x[m2]
        for k in range(B):
            q = d.n_re[k]
            z = g.Z + g.z_off[k] + i * q
            j = g.group[k * n + i]
            for c in range(q):
                g.zty[d.u_off[k] + j * q + c] += kap * z[c]
                for c2 in range(q):
                    g.ztz[d.ztz_off[k] + j * q * q + c * q + c2] += wt * z[c] * z[c2]
                for m in range(p):
                    g.ztx[d.ztx_off[k] + (j * q + c) * p + m] += wt * z[c] * x[m]
            for l in range(B):
                if l == k:
                    continue
                ql = d.n_re[l]
                zl = g.Z + g.z_off[l] + i * ql
                cell = g.obs_cell[(k * B + l) * n + i]
                v = g.cell_val + d.cell_val_off[cell]
                for c in range(q):
                    for c2 in range(ql):
                        v[c * ql + c2] += wt * z[c] * zl[c2]
    for m in range(p):
        for m2 in range(m + 1, p):
            g.xtx[m * p + m2] = g.xtx[m2 * p + m]


cdef int draw_location_fixed_only(const Design *d, State *s, Work *w,
                                  bitgen_t *bg) noexcept nogil:
    """beta | sigma2, y ~ N(P^{-1} h, P^{-1}) for a model without group effects."""
    cdef Py_ssize_t p = d.n_fixed, m, m2
    for m in range(p):
        w.h[m] = d.xty[m] / s.sigma[0] + d.prior_prec[m] * d.prior_mean[m]
        for m2 in range(p):
            w.P[m * p + m2] = d.xtx[m * p + m2] / s.sigma[0]
        w.P[m * p + m] += d.prior_prec[m]
    if draw_gaussian_canonical(w.P, w.h, s.beta, p, bg) != 0:
        return ERR_CHOL_FIXED
    return 0


_ERRORS = {
    ERR_CHOL_FIXED: "the fixed-effect precision matrix lost positive definiteness "
                    "(collinear predictors or extreme scales?)",
    ERR_CHOL_GROUP: "a group-effect precision matrix lost positive definiteness",
    ERR_NONFINITE: "the residual variance became non-finite",
    ERR_CHOL_WISHART: "an inverse-Wishart scale matrix lost positive definiteness",
}


def gibbs_sweeps(
    object bit_generator,
    # sufficient statistics (read only)
    double n_obs, double yty,
    const double[:, ::1] xtx, const double[::1] xty,
    const double[::1] prior_mean, const double[::1] prior_prec,
    const Py_ssize_t[::1] n_groups, const Py_ssize_t[::1] n_re,
    const Py_ssize_t[::1] u_off, const Py_ssize_t[::1] ztz_off,
    const Py_ssize_t[::1] ztx_off, const Py_ssize_t[::1] vc_off,
    const double[::1] ztz, const double[::1] ztx, const double[::1] zty,
    const Py_ssize_t[::1] pair_row_off, const Py_ssize_t[::1] rowptr,
    const Py_ssize_t[::1] cell_col, const Py_ssize_t[::1] cell_val_off,
    const double[::1] cell_val,
    const Py_ssize_t[::1] vc_kind, const double[::1] vc_a, const double[::1] vc_b,
    Py_ssize_t sigma_kind, double sigma_a, double sigma_b,
    const Py_ssize_t[::1] cov_kind, const double[::1] iw_df, const double[::1] iw_scale,
    # chain state (mutated in place)
    double[::1] beta, double[::1] u, double[::1] tau2, double[::1] vc_xi,
    double[::1] sigma, double[::1] re_cov,
    # outputs
    double[:, ::1] out_warmup, double[:, ::1] out_draws,
    Py_ssize_t thin=1, bint update_variances=True, bint interweave=True,
    # binomial cells (None for a Gaussian model); see fastgibbs.samplers.binomial
    object cells=None,
):
    """Run ``len(out_warmup)`` warmup and ``len(out_draws) * thin`` sampling sweeps.

    With ``cells`` (a dict of binomial-cell arrays, see samplers/binomial.py) the
    model is binomial: the statistics arrays (xtx, xty, ztz, ztx, zty, cell_val) must
    be private, writable copies for this chain, refilled every sweep from the
    Polya-Gamma weights; rows then have no sigma column.

    Each kept sweep writes one row [beta (p), sigma, hyper (n_hyper), u (n_u)] into
    ``out_warmup`` (every warmup sweep) or ``out_draws`` (every ``thin``-th sweep).
    Hyper columns per block: the q_k sds, then for a full block its correlations.
    The state arrays ``beta, u, tau2, vc_xi, sigma=[sigma2, xi], re_cov`` are updated in
    place, so a later call continues the chain. All sweeps run under the bit
    generator's lock with the GIL released. Raises RuntimeError if a numerical
    failure stops the chain.
    """
    cdef Design d
    cdef State s
    cdef Work w
    cdef bitgen_t *bg
    cdef Py_ssize_t p = xty.shape[0], B = n_groups.shape[0], n_u = u.shape[0]
    cdef Py_ssize_t n_vc = tau2.shape[0], k, i, max_jq = 1, max_jqq = 1, max_q = 1, n_prec = 0
    cdef Py_ssize_t n_warm = out_warmup.shape[0], n_keep = out_draws.shape[0]
    cdef Py_ssize_t n_hyper = n_vc, off, q
    cdef int err = 0

    if thin < 1:
        raise ValueError("thin must be >= 1")
    for k in range(B):
        max_jq = max(max_jq, n_groups[k] * n_re[k])
        max_jqq = max(max_jqq, n_groups[k] * n_re[k] * n_re[k])
        max_q = max(max_q, n_re[k])
        n_prec += n_re[k] * n_re[k]
        if cov_kind[k] == COV_FULL:
            n_hyper += n_re[k] * (n_re[k] - 1) // 2
    cdef bint logit = cells is not None
    if out_draws.shape[1] != p + (0 if logit else 1) + n_hyper + n_u \
            or out_warmup.shape[1] != out_draws.shape[1]:
        raise ValueError("output rows must hold p + 1 (sigma) + n_hyper + n_u values")
    if re_cov.shape[0] != n_prec or iw_scale.shape[0] != n_prec or iw_df.shape[0] != B \
            or cov_kind.shape[0] != B:
        raise ValueError("re_cov and iw_scale need sum q_k^2 entries; iw_df, cov_kind one per block")

    P = np.zeros(max(p, 1) * max(p, 1))
    h = np.zeros(max(p, 1))
    xtr = np.zeros(max(p, 1))
    tmp = np.zeros(max(p, max_q))
    W = np.zeros(max_q * max(p, 1))
    ztr = np.zeros(max_jq)
    Lg = np.zeros(max_jqq)
    re_prec = np.zeros(max(n_prec, 1))
    Mq = np.zeros(max_q * max_q)
    # full blocks: precision from the current covariance
    off = 0
    for k in range(B):
        if cov_kind[k] == COV_FULL:
            q = n_re[k]
            cov = np.asarray(re_cov[off:off + q * q]).reshape(q, q)
            re_prec[off:off + q * q] = np.linalg.inv(cov).ravel()
        off += n_re[k] * n_re[k]
    cdef double[::1] P_v = P, h_v = h, xtr_v = xtr, tmp_v = tmp, W_v = W, ztr_v = ztr
    cdef double[::1] Lg_v = Lg, re_prec_v = re_prec, Mq_v = Mq

    d.n_fixed = p
    d.n_blocks = B
    d.n_obs = n_obs
    d.yty = yty
    d.xtx = &xtx[0, 0] if p > 0 else NULL
    d.xty = &xty[0] if p > 0 else NULL
    d.prior_mean = &prior_mean[0] if p > 0 else NULL
    d.prior_prec = &prior_prec[0] if p > 0 else NULL
    d.n_groups = &n_groups[0] if B > 0 else NULL
    d.n_re = &n_re[0] if B > 0 else NULL
    d.u_off = &u_off[0] if B > 0 else NULL
    d.ztz_off = &ztz_off[0] if B > 0 else NULL
    d.ztx_off = &ztx_off[0] if B > 0 else NULL
    d.vc_off = &vc_off[0] if B > 0 else NULL
    d.ztz = &ztz[0] if ztz.shape[0] > 0 else NULL
    d.ztx = &ztx[0] if ztx.shape[0] > 0 else NULL
    d.zty = &zty[0] if zty.shape[0] > 0 else NULL
    d.pair_row_off = &pair_row_off[0] if pair_row_off.shape[0] > 0 else NULL
    d.rowptr = &rowptr[0] if rowptr.shape[0] > 0 else NULL
    d.cell_col = &cell_col[0] if cell_col.shape[0] > 0 else NULL
    d.cell_val_off = &cell_val_off[0] if cell_val_off.shape[0] > 0 else NULL
    d.cell_val = &cell_val[0] if cell_val.shape[0] > 0 else NULL
    d.vc_kind = &vc_kind[0] if n_vc > 0 else NULL
    d.vc_a = &vc_a[0] if n_vc > 0 else NULL
    d.vc_b = &vc_b[0] if n_vc > 0 else NULL
    d.cov_kind = &cov_kind[0] if B > 0 else NULL
    d.iw_df = &iw_df[0] if B > 0 else NULL
    d.iw_scale = &iw_scale[0] if n_prec > 0 else NULL
    d.sigma_kind = sigma_kind
    d.sigma_a = sigma_a
    d.sigma_b = sigma_b
    d.has_sigma = not logit

    cdef Cells g
    cdef const double[:, ::1] cX
    cdef const double[::1] c_trials, c_kappa, cZ
    cdef const Py_ssize_t[::1] c_zoff, c_group, c_obs_cell
    cdef double[::1] c_omega
    if logit:
        cX = cells["X"]
        c_trials = cells["n_trials"]
        c_kappa = cells["kappa"]
        cZ = cells["Z"]
        c_zoff = cells["z_off"]
        c_group = cells["group"]
        c_obs_cell = cells["obs_cell"]
        c_omega = np.zeros(max(c_trials.shape[0], 1))
        g.n_cells = c_trials.shape[0]
        g.X = &cX[0, 0] if p > 0 else NULL
        g.n_trials = &c_trials[0]
        g.kappa = &c_kappa[0]
        g.Z = &cZ[0] if cZ.shape[0] > 0 else NULL
        g.z_off = &c_zoff[0] if B > 0 else NULL
        g.group = &c_group[0] if c_group.shape[0] > 0 else NULL
        g.obs_cell = &c_obs_cell[0] if c_obs_cell.shape[0] > 0 else NULL
        g.omega = &c_omega[0]
        # the statistics are this chain's own copies (checked in Python): refill in place
        g.xtx = <double *> d.xtx
        g.xty = <double *> d.xty
        g.ztz = <double *> d.ztz
        g.ztx = <double *> d.ztx
        g.zty = <double *> d.zty
        g.cell_val = <double *> d.cell_val
        g.n_ztz = ztz.shape[0]
        g.n_ztx = ztx.shape[0]
        g.n_u = zty.shape[0]
        g.n_cell_val = cell_val.shape[0]

    s.beta = &beta[0] if p > 0 else NULL
    s.u = &u[0] if n_u > 0 else NULL
    s.tau2 = &tau2[0] if n_vc > 0 else NULL
    s.vc_xi = &vc_xi[0] if n_vc > 0 else NULL
    s.re_prec = &re_prec_v[0]
    s.re_cov = &re_cov[0] if n_prec > 0 else &re_prec_v[0]
    s.sigma = &sigma[0]

    w.P = &P_v[0]
    w.h = &h_v[0]
    w.xtr = &xtr_v[0]
    w.tmp = &tmp_v[0]
    w.W = &W_v[0]
    w.ztr = &ztr_v[0]
    w.Lg = &Lg_v[0]
    w.Mq = &Mq_v[0]

    capsule = bit_generator.capsule
    bg = <bitgen_t *> PyCapsule_GetPointer(capsule, "BitGenerator")
    with bit_generator.lock, nogil:
        refresh_re_prec(&d, &s)
        for i in range(n_warm):
            if logit:
                draw_omega(&d, &s, &g, bg)
                fill_weighted_stats(&d, &g)
            err = sweep(&d, &s, &w, update_variances, interweave, bg)
            if err:
                break
            write_draw(&d, &s, &out_warmup[i, 0], n_u, n_hyper)
        if not err:
            for i in range(n_keep * thin):
                if logit:
                    draw_omega(&d, &s, &g, bg)
                    fill_weighted_stats(&d, &g)
                err = sweep(&d, &s, &w, update_variances, interweave, bg)
                if err:
                    break
                if (i + 1) % thin == 0:
                    write_draw(&d, &s, &out_draws[i // thin, 0], n_u, n_hyper)
    if err:
        raise RuntimeError("Gibbs sampler stopped: " + _ERRORS[err])
