"""Structured group-effect priors written from their definitions, for the model
matrix's Geweke prior draws (tests/geweke.py) and its reference sampler
(tests/reference_sampler.py); NumPy/SciPy only, sharing no code with fastgibbs.gmrf
or the kernel (which factor an envelope-banded precision and condition by kriging).

With sd = 1, a structured term's effects x (J,) in the block's level order are:
- RW1 at sorted times t (in units): x_{i+1} - x_i ~ N(0, t_{i+1} - t_i), i.e. precision
  Q = D' diag(1/d) D; RW2: the second divided differences
  (x_{i+1} - x_i)/d_i - (x_i - x_{i-1})/d_{i-1} ~ N(0, (d_{i-1} + d_i)/2) (Rue & Held
  2005, Gaussian Markov Random Fields, sec. 3.3-3.4 for equal gaps; the irregular form as
  fastgibbs.structured.RandomWalk documents it). Both intrinsic: RW1 constrained to sum
  to zero, RW2 also to no linear trend over its times (Rue & Held 2005 sec. 2.3.3).
- AR1: stationary, corr(x_i, x_j) = rho^|t_i - t_j|, one path per series (rho > 0 when
  a step is fractional).
- ICAR: per connected component of two or more areas, Q = c L with L the graph
  Laplacian and c such that the geometric mean of the diagonal of the generalised
  inverse is 1 (Sorbye & Rue 2014, Spatial Statistics 8:39), constrained to sum to
  zero on the component; an island is N(0, 1) (Freni-Sterrantino, Ventrucci & Rue
  2018, Spatial and Spatio-temporal Epidemiology 26:25).
- BYM2 (Riebler, Sorbye, Simpson & Rue 2016, SMMR 25(4):1145, eq. 8):
  x = sqrt(1 - phi) v + sqrt(phi) s, v ~ N(0, I), s the scaled ICAR field above.

Constrained (intrinsic) fields are parametrised on the constraint space: with V (J, r)
an orthonormal basis of {x : C x = 0} (scipy.linalg.null_space of the constraint rows C),
x = V w and w has the proper precision P = V' Q V (r, r); since V is orthonormal the
map w -> x has a constant Jacobian, and Q's null space is spanned by C's rows, so this is
N(0, Q^-) on the constraint space. Non-centred: w = R^-T z with P = R R', z ~ N(0, I_r).
"""
import numpy as np
from scipy.linalg import null_space


def _block(design, term):
    return next(b for b in design.blocks if term in b.terms)


def time_series(design, term, prior):
    """[(level indices in time order, times in units)] per series of a time term."""
    block = _block(design, term)
    values = block.level_values
    column = next(c for c in values if c != prior.by)
    t = np.asarray(values[column], dtype=float)
    series = np.asarray(values[prior.by]).astype(str) if prior.by else np.zeros(len(t), str)
    out = []
    for label in np.unique(series):
        m = np.flatnonzero(series == label)
        m = m[np.argsort(t[m])]
        out.append((m, t[m]))
    unit = prior.unit
    if unit is None:                    # the default: the median gap over all series
        unit = float(np.median(np.concatenate([np.diff(tt) for _, tt in out])))
    return [(m, tt / unit) for m, tt in out]


def rw_precision(t, order):
    """Dense (Q, constraint rows) of a random walk of ``order`` at sorted times t."""
    n = len(t)
    d = np.diff(t)
    if order == 1:
        D = np.zeros((n - 1, n))
        D[np.arange(n - 1), np.arange(n - 1)] = -1.0
        D[np.arange(n - 1), np.arange(1, n)] = 1.0
        return D.T @ np.diag(1.0 / d) @ D, np.ones((1, n))
    D = np.zeros((n - 2, n))
    for i in range(n - 2):
        a, b = d[i], d[i + 1]
        D[i, i], D[i, i + 1], D[i, i + 2] = 1.0 / a, -(1.0 / a + 1.0 / b), 1.0 / b
    return D.T @ np.diag(2.0 / (d[:-1] + d[1:])) @ D, np.vstack([np.ones(n), t - t.mean()])


def icar_precision(levels, edges):
    """Dense (Q, constraint rows) of the scaled ICAR over area labels ``levels``."""
    n = len(levels)
    idx = {str(a): i for i, a in enumerate(levels)}
    A = np.zeros((n, n))
    for a, b in edges:
        A[idx[a], idx[b]] = A[idx[b], idx[a]] = 1.0
    # connected components by repeated neighbour expansion
    comp = -np.ones(n, dtype=int)
    for i in range(n):
        if comp[i] >= 0:
            continue
        comp[i] = i
        frontier = [i]
        while frontier:
            j = frontier.pop()
            for k in np.flatnonzero(A[j]):
                if comp[k] < 0:
                    comp[k] = i
                    frontier.append(k)
    Q = np.zeros((n, n))
    cons = []
    for c in np.unique(comp):
        m = np.flatnonzero(comp == c)
        if len(m) == 1:
            Q[m[0], m[0]] = 1.0
            continue
        L = np.diag(A[np.ix_(m, m)].sum(axis=1)) - A[np.ix_(m, m)]
        Q[np.ix_(m, m)] = np.exp(np.mean(np.log(np.diag(np.linalg.pinv(L))))) * L
        row = np.zeros(n)
        row[m] = 1.0
        cons.append(row)
    return Q, np.array(cons).reshape(-1, n)


def fixed_precision(design, term, prior):
    """(Q, constraint rows) over the block's levels of an RW1, RW2, ICAR or BYM2 (its
    ICAR part) term, for sd 1."""
    block = _block(design, term)
    if prior.kind in ("icar", "bym2"):
        return icar_precision([str(v) for v in block.levels], prior.adjacency)
    J = block.n_groups
    Q, cons = np.zeros((J, J)), []
    for m, t in time_series(design, term, prior):
        Qm, c = rw_precision(t, 1 if prior.kind == "rw1" else 2)
        Q[np.ix_(m, m)] = Qm
        for row in c:
            full = np.zeros(J)
            full[m] = row
            cons.append(full)
    return Q, np.array(cons).reshape(-1, J)


def noncentred_map(Q, cons):
    """(J, r) matrix M with x = M z, z ~ N(0, I_r), distributed as the constrained
    field N(0, Q^-) on {C x = 0} (see the module docstring)."""
    V = null_space(cons) if len(cons) else np.eye(Q.shape[0])
    P = V.T @ Q @ V
    R = np.linalg.cholesky(P)
    return V @ np.linalg.inv(R).T


def _ar1_correlation(steps, rho):
    """(chains, n, n) correlations rho^|t_i - t_j| at times ``steps`` (in units; whole
    numbers are rounded so their powers stay exact) for rho (chains,)."""
    steps = np.asarray(steps, dtype=float)
    if np.allclose(steps, np.round(steps)):
        steps = np.round(steps)
    lag = np.abs(steps[:, None] - steps[None, :])
    return np.power(np.asarray(rho, dtype=float)[:, None, None], lag[None])


def ar1_factor(steps, rho):
    """(chains, n, n) lower Cholesky factors of corr rho^|t_i - t_j| for times ``steps``
    and rho (chains,)."""
    return np.linalg.cholesky(_ar1_correlation(steps, rho))


def precision(design, term, prior, rho=None):
    """(Q, constraint rows) over the block's levels of any structured term for sd 1;
    an AR1 needs its ``rho`` (no constraints), a BYM2 gives its ICAR part."""
    if prior.kind != "ar1":
        return fixed_precision(design, term, prior)
    J = _block(design, term).n_groups
    Q = np.zeros((J, J))
    for m, t in time_series(design, term, prior):
        Q[np.ix_(m, m)] = np.linalg.inv(_ar1_correlation(t, [rho])[0])
    return Q, np.zeros((0, J))


def draw_effects(design, term, prior, n, rng, par=None):
    """n draws (n, J) of a structured term's effects for sd 1 in level order; ``par``
    (n,) rho of an AR1 or phi of a BYM2."""
    J = _block(design, term).n_groups
    if prior.kind == "ar1":
        x = np.zeros((n, J))
        for m, t in time_series(design, term, prior):
            L = ar1_factor(t, par)
            x[:, m] = np.einsum("nij,nj->ni", L, rng.standard_normal((n, len(m))))
        return x
    M = noncentred_map(*fixed_precision(design, term, prior))
    x = rng.standard_normal((n, M.shape[1])) @ M.T
    if prior.kind == "bym2":
        x = np.sqrt(1.0 - par)[:, None] * rng.standard_normal((n, J)) \
            + np.sqrt(par)[:, None] * x
    return x
