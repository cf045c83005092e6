"""Gaussian multilevel model: sufficient statistics, initial values, one chain.

The data are reduced once (O(n_obs (p + q)^2) work) to the statistics the kernel
``fastgibbs._core.gibbs_sweeps`` needs, so each sweep is independent of n_obs on
nested designs. The response is shifted by its mean when the model has an intercept
column (and the intercept prior mean shifted with it), which keeps y'y small and the
residual sum of squares free of cancellation; draws are shifted back.
"""
from dataclasses import dataclass, replace

import numpy as np

from .. import _core
from ..priors import Normal

__all__ = ["GaussianProblem", "gaussian_problem", "run_chain", "parameter_layout"]


@dataclass(frozen=True, eq=False)
class GaussianProblem:
    """Everything one chain needs; small and picklable (no observations)."""

    n_obs: int
    yty: float
    xtx: np.ndarray
    xty: np.ndarray
    prior_mean: np.ndarray
    prior_prec: np.ndarray
    n_groups: np.ndarray
    n_re: np.ndarray
    u_off: np.ndarray
    ztz_off: np.ndarray
    ztx_off: np.ndarray
    vc_off: np.ndarray
    ztz: np.ndarray
    ztx: np.ndarray
    zty: np.ndarray
    pair_row_off: np.ndarray
    rowptr: np.ndarray
    cell_col: np.ndarray
    cell_val_off: np.ndarray
    cell_val: np.ndarray
    vc_kind: np.ndarray
    vc_a: np.ndarray
    vc_b: np.ndarray
    cov_kind: np.ndarray
    iw_df: np.ndarray
    iw_scale: np.ndarray
    n_hyper: int
    sigma_prior: tuple
    y_shift: float
    intercept_index: int
    sd_y: float

    @property
    def n_fixed(self):
        return len(self.xty)

    @property
    def n_u(self):
        return len(self.zty)

    @property
    def n_vc(self):
        return len(self.vc_kind)

    @property
    def n_params(self):
        return self.n_fixed + 1 + self.n_hyper + self.n_u


def parameter_layout(design, has_sigma=True):
    """Column order of a draw row: names and, per group term, the u indices.

    Returns (names, term_index) where term_index maps ``"1|state"`` to the column
    positions of its group effects in level order.
    """
    names = list(design.fixed_names) + (["sigma"] if has_sigma else [])
    for block in design.blocks:
        names += [f"{term}_sigma" for term in block.terms]
        names += list(block.correlation_names)
    start = len(names)
    term_index = {}
    for block in design.blocks:
        q = block.n_re
        for c, term in enumerate(block.terms):
            term_index[term] = start + c + q * np.arange(block.n_groups)
        for j, level in enumerate(block.levels):
            names += [f"{term}[{level}]" for term in block.terms]
        start += q * block.n_groups
    return names, term_index


def _group_sums(group, values, n_groups):
    """sum of ``values`` (n_obs, k) within each group -> (n_groups, k)."""
    out = np.empty((n_groups, values.shape[1]))
    for c in range(values.shape[1]):
        out[:, c] = np.bincount(group, weights=values[:, c], minlength=n_groups)
    return out


def gaussian_problem(design, priors, y=None, center=True):
    """Sufficient statistics and kernel arguments for ``design`` under ``priors``.

    ``y`` replaces the design's response (same length) when given. ``center=False``
    keeps y unshifted (the kernel state is then on the scale of y).
    """
    y = design.y if y is None else np.asarray(y, dtype=float)
    X = design.X
    names = design.fixed_names
    intercept = names.index("Intercept") if "Intercept" in names else -1
    can_shift = center and intercept >= 0 and np.all(X[:, intercept] == 1.0)
    y_shift = float(np.mean(y)) if can_shift else 0.0
    if not can_shift:
        intercept = -1
    yc = y - y_shift

    prior_mean = np.array([priors[n].mu for n in names], dtype=float)
    prior_prec = np.array([1.0 / priors[n].sigma ** 2 for n in names], dtype=float)
    if intercept >= 0:
        prior_mean[intercept] -= y_shift

    blocks = design.blocks
    n_groups = np.array([b.n_groups for b in blocks], dtype=np.intp)
    n_re = np.array([b.n_re for b in blocks], dtype=np.intp)
    sizes_u = n_groups * n_re
    u_off = np.concatenate([[0], np.cumsum(sizes_u)[:-1]]).astype(np.intp)
    ztz_off = np.concatenate([[0], np.cumsum(sizes_u * n_re)[:-1]]).astype(np.intp)
    ztx_off = (u_off * X.shape[1]).astype(np.intp)
    vc_off = np.concatenate([[0], np.cumsum(n_re)[:-1]]).astype(np.intp)

    ztz, ztx, zty = [], [], []
    for b in blocks:
        Z = b.Z
        q = b.n_re
        zz = np.stack([Z[:, c] * Z[:, c2] for c in range(q) for c2 in range(q)], axis=1)
        ztz.append(_group_sums(b.group, zz, b.n_groups).ravel())
        zx = np.stack([Z[:, c] * X[:, m] for c in range(q) for m in range(X.shape[1])], axis=1) \
            if X.shape[1] else np.zeros((len(y), 0))
        ztx.append(_group_sums(b.group, zx, b.n_groups).ravel())
        zty.append(_group_sums(b.group, Z * yc[:, None], b.n_groups).ravel())

    pair_row_off, rowptr, cell_col, cell_val_off, cell_val, _ = _pair_cells(blocks)
    vc, iw_df, iw_scale = [], [], []
    for b in blocks:
        if b.correlated:
            prior = priors[b.covariance_key]
            vc += [(0, 1.0, 1.0)] * b.n_re      # unused: the block's prior is inverse-Wishart
            iw_df.append(prior.df)
            iw_scale.append(prior.scale.ravel())
        else:
            vc += [priors[term].kernel_args() for term in b.terms]
            iw_df.append(0.0)
            iw_scale.append(np.eye(b.n_re).ravel())
    sd_y = float(np.std(y)) if np.std(y) > 0 else 1.0

    def cat(parts):
        return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(0)

    return GaussianProblem(
        n_obs=len(y), yty=float(yc @ yc),
        xtx=np.ascontiguousarray(X.T @ X), xty=np.ascontiguousarray(X.T @ yc),
        prior_mean=prior_mean, prior_prec=prior_prec,
        n_groups=n_groups, n_re=n_re, u_off=u_off, ztz_off=ztz_off, ztx_off=ztx_off,
        vc_off=vc_off, ztz=cat(ztz), ztx=cat(ztx), zty=cat(zty),
        pair_row_off=pair_row_off, rowptr=rowptr, cell_col=cell_col,
        cell_val_off=cell_val_off, cell_val=cell_val,
        vc_kind=np.array([v[0] for v in vc], dtype=np.intp),
        vc_a=np.array([v[1] for v in vc], dtype=float),
        vc_b=np.array([v[2] for v in vc], dtype=float),
        cov_kind=np.array([1 if b.correlated else 0 for b in blocks], dtype=np.intp),
        iw_df=np.array(iw_df, dtype=float), iw_scale=cat(iw_scale),
        n_hyper=sum(b.n_re + len(b.correlation_names) for b in blocks),
        sigma_prior=priors["sigma"].kernel_args() if "sigma" in priors else (1, 0.5, 1.0),
        y_shift=y_shift,
        intercept_index=intercept, sd_y=sd_y,
    )


def with_response(problem, design, y):
    """``problem`` with the response replaced by ``y`` (same design and priors),
    recomputing only what depends on y: O(n_obs (p + sum_k q_k))."""
    y = np.asarray(y, dtype=float)
    if y.shape != (design.n_obs,):
        raise ValueError(f"y must have shape ({design.n_obs},), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y has {int(np.sum(~np.isfinite(y)))} non-finite value(s)")
    prior_mean = problem.prior_mean
    shift = 0.0
    if problem.intercept_index >= 0:
        shift = float(np.mean(y))
        prior_mean = prior_mean.copy()
        prior_mean[problem.intercept_index] += problem.y_shift - shift
    yc = y - shift
    zty = [_group_sums(b.group, b.Z * yc[:, None], b.n_groups).ravel() for b in design.blocks]
    sd_y = float(np.std(y)) if np.std(y) > 0 else 1.0
    return replace(problem, yty=float(yc @ yc), xty=np.ascontiguousarray(design.X.T @ yc),
                   zty=np.ascontiguousarray(np.concatenate(zty)) if zty else np.zeros(0),
                   prior_mean=prior_mean, y_shift=shift, sd_y=sd_y)


def _pair_cells(blocks):
    """Non-empty cells of Z_k'Z_l for every ordered pair k != l, as CSR rows per
    group of k: cell values are q_k x q_l blocks (row-major)."""
    B = len(blocks)
    pair_row_off = np.zeros(B * B, dtype=np.intp)
    rowptr, cols, vals, val_offs, obs_cell = [], [], [], [], []
    n_rows = n_cells = n_vals = 0
    for k in range(B):
        for l in range(B):
            if k == l:
                continue
            bk, bl = blocks[k], blocks[l]
            key = bk.group.astype(np.int64) * bl.n_groups + bl.group
            uniq, inverse = np.unique(key, return_inverse=True)
            prods = np.stack([bk.Z[:, c] * bl.Z[:, c2]
                              for c in range(bk.n_re) for c2 in range(bl.n_re)], axis=1)
            cell_sums = _group_sums(inverse, prods, len(uniq))
            obs_cell.append(n_cells + inverse.ravel())
            rows = uniq // bl.n_groups
            counts = np.bincount(rows, minlength=bk.n_groups)
            pair_row_off[k * B + l] = n_rows
            rowptr.append(n_cells + np.concatenate([[0], np.cumsum(counts)]))
            n_rows += bk.n_groups + 1
            cols.append(uniq % bl.n_groups)
            vals.append(cell_sums.ravel())
            val_offs.append(n_vals + bk.n_re * bl.n_re * np.arange(len(uniq)))
            n_cells += len(uniq)
            n_vals += cell_sums.size

    def cat(parts, dtype):
        return np.ascontiguousarray(np.concatenate(parts).astype(dtype)) if parts \
            else np.zeros(0, dtype=dtype)

    return (pair_row_off, cat(rowptr, np.intp), cat(cols, np.intp), cat(val_offs, np.intp),
            cat(vals, float), cat(obs_cell, np.intp))


def initial_state(problem, rng):
    """Dispersed initial values: variances spread over two orders of magnitude around
    the scale of y, group effects drawn from their prior at those variances."""
    sd = problem.sd_y
    sigma2 = (sd * np.exp(rng.uniform(-1.0, 1.0))) ** 2
    tau2 = (sd * np.exp(rng.uniform(-2.0, 0.5, size=problem.n_vc))) ** 2
    u = np.empty(problem.n_u)
    for k in range(len(problem.n_groups)):
        q, J, off = problem.n_re[k], problem.n_groups[k], problem.u_off[k]
        sds = np.sqrt(tau2[problem.vc_off[k]:problem.vc_off[k] + q])
        u[off:off + J * q] = (rng.standard_normal((J, q)) * sds).ravel()
    beta = problem.prior_mean.copy()
    vc_xi = np.where(problem.vc_kind == 1, problem.vc_b ** 2, 1.0).astype(float)
    sigma = np.array([sigma2, sd ** 2])
    return {"beta": beta, "u": u, "tau2": tau2, "vc_xi": vc_xi, "sigma": sigma,
            "re_cov": covariance_from_variances(problem, tau2)}


def covariance_from_variances(problem, tau2):
    """Flat per-block covariance matrices diag(tau2) (the kernel's ``re_cov``)."""
    parts = [np.diag(tau2[problem.vc_off[k]:problem.vc_off[k] + q]).ravel()
             for k, q in enumerate(problem.n_re)]
    return np.concatenate(parts) if parts else np.zeros(0)


def run_sweeps(problem, state, bit_generator, n_warmup, n_draws, thin=1,
               update_variances=True, interweave=True, cells=None):
    """Continue a chain from ``state`` (mutated): returns (warmup, draws) arrays of shape
    (n_warmup, n_params) and (n_draws, n_params) on the kernel's (shifted) scale.

    ``cells`` (binomial models, see samplers/binomial.py): the kernel then refills
    the statistics every sweep, so this chain gets its own copies of them."""
    n_params = problem.n_params - (1 if cells is not None else 0)
    warm = np.empty((n_warmup, n_params))
    draws = np.empty((n_draws, n_params))
    sigma_kind, sigma_a, sigma_b = problem.sigma_prior
    stats = [problem.xtx, problem.xty, problem.ztz, problem.ztx, problem.zty, problem.cell_val]
    if cells is not None:
        stats = [a.copy() for a in stats]
    xtx, xty, ztz, ztx, zty, cell_val = stats
    _core.gibbs_sweeps(
        bit_generator, float(problem.n_obs), problem.yty, xtx, xty,
        problem.prior_mean, problem.prior_prec, problem.n_groups, problem.n_re,
        problem.u_off, problem.ztz_off, problem.ztx_off, problem.vc_off,
        ztz, ztx, zty, problem.pair_row_off, problem.rowptr,
        problem.cell_col, problem.cell_val_off, cell_val,
        problem.vc_kind, problem.vc_a, problem.vc_b, sigma_kind, sigma_a, sigma_b,
        problem.cov_kind, problem.iw_df, problem.iw_scale,
        state["beta"], state["u"], state["tau2"], state["vc_xi"], state["sigma"],
        state["re_cov"],
        warm, draws, thin=thin, update_variances=update_variances, interweave=interweave,
        cells=cells)
    return warm, draws


def unshift(problem, draws):
    """Put the intercept back on the scale of y (in place), returning ``draws``."""
    if problem.intercept_index >= 0:
        draws[..., problem.intercept_index] += problem.y_shift
    return draws


def _chunks(total, n_chunks):
    size = max(1, -(-total // n_chunks))
    while total > 0:
        yield min(size, total)
        total -= size


def run_sweeps_reporting(problem, state, bit_generator, n_warmup, n_draws, thin=1,
                         interweave=True, cells=None, on_progress=None, n_chunks=20):
    """:func:`run_sweeps` in about ``n_chunks`` pieces per phase, calling
    ``on_progress(n_sweeps)`` after each; the draws are identical to one call."""
    if on_progress is None:
        return run_sweeps(problem, state, bit_generator, n_warmup, n_draws, thin,
                          interweave=interweave, cells=cells)
    warm, draws = [], []
    for size in _chunks(n_warmup, n_chunks):
        warm.append(run_sweeps(problem, state, bit_generator, size, 0, thin,
                               interweave=interweave, cells=cells)[0])
        on_progress(size)
    for size in _chunks(n_draws, n_chunks):
        draws.append(run_sweeps(problem, state, bit_generator, 0, size, thin,
                                interweave=interweave, cells=cells)[1])
        on_progress(size * thin)
    width = problem.n_params - (1 if cells is not None else 0)
    return (np.concatenate(warm) if warm else np.empty((0, width)),
            np.concatenate(draws) if draws else np.empty((0, width)))


def run_chain(problem, seed_seq, n_warmup, n_draws, thin=1, interweave=True, on_progress=None):
    """One chain from dispersed initial values: (warmup, draws) on the scale of y."""
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    state = initial_state(problem, rng)
    warm, draws = run_sweeps_reporting(problem, state, rng.bit_generator, n_warmup, n_draws,
                                       thin, interweave=interweave, on_progress=on_progress)
    return unshift(problem, warm), unshift(problem, draws)
