"""What the kernel needs for one model: statistics, structure, priors and cells.

``build_problem(design, priors)`` reduces a :class:`fastgibbs.design.Design` once
(O(n_obs (p + q)^2) work) to a :class:`Problem`, small and picklable (no
observations for gaussian models). Three things happen here:

1. **An internal parametrisation** (:class:`Transform`). Predictor columns other than
   the intercept are centred (when there is an intercept) and scaled to unit sd, and
   a gaussian response is shifted and scaled to mean 0 and sd 1: beta = T beta~ + t,
   sds, sigma and group effects times y_scale. Answers are then invariant to shifts
   and rescaling of x and y within double precision (x + 1e8, y of 1e-120), and the
   priors are carried over exactly: independent normal priors on beta become one
   Gaussian prior on beta~ with precision T' D^-1 T.
2. **Gaussian statistics**: X'WX, X'Wy, y'Wy, per group Z'WZ, Z'WX, Z'Wy, and the
   non-empty cells of Z_k'W Z_l for every ordered pair of blocks (W the frequency
   weights).
3. **Cells of other families**: rows with the same covariates, groups (and offset,
   and for the negative binomial and Student-t families the same response) collapse
   into one cell, with the aggregation each family's likelihood allows
   (fastgibbs.families).

The Student-t family centres and scales y as the gaussian one does. The cumulative
family has no intercept, but its predictors are centred all the same: the kernel's
thresholds are those at the predictors' means, gamma'_k = gamma_k - x_center . beta
(see ``cumulative_args``).
"""
from dataclasses import dataclass, replace
from types import SimpleNamespace
from functools import cached_property
import math

import numpy as np

from .._kinds import Covariance, Family as Kind, VariancePrior
from ..moments import ArrayMoments, mean_sd
from ..gmrf import kernel_arrays
from ..priors import SD_MAX, SD_MIN, HalfCauchy, HuangWand, InvGamma

__all__ = ["Problem", "Statistics", "Transform", "build_problem", "data_statistics",
           "problem_from_statistics", "with_response", "parameter_layout"]

# the parameter beside the sd of a structured term, by kind (fastgibbs.gmrf)
STRUCTURE_PARAMETER = {"ar1": "rho", "bym2": "phi"}

# A prior on a sd, put on the kernel's scale (where the data's sd is 1), must centre it
# within SD_RANGE: a prior holding an sd 1e30 times from the data's scale gives
# precisions whose sums lose every digit (a sampler cannot work with it in doubles).
SD_RANGE = (1e-30, 1e30)
# An inverse-gamma prior concentrated (central 98%) beyond this many data sds is refused
STRONG_SD_RANGE = (1e-7, 1e7)


@dataclass(frozen=True, eq=False)
class Transform:
    """The kernel's parametrisation relative to the user's (see the module docstring).

    ``y_shift``, ``y_scale``: gaussian y_int = (y - offset - y_shift) / y_scale (0 and
    1 for other families); ``x_center``, ``x_scale`` (p,): X_int[:, m] = (X[:, m] -
    x_center[m]) / x_scale[m]; ``intercept``: the intercept column or -1;
    ``z_scale``: per block (q_k,), Z_int = Z / z_scale (columns of varying
    coefficients are scaled to unit root mean square, not centred), so a group effect
    u = u_int * y_scale / z_scale."""

    y_shift: float
    y_scale: float
    x_center: np.ndarray
    x_scale: np.ndarray
    intercept: int
    z_scale: tuple = ()

    @cached_property
    def T(self):
        """(p, p) matrix with beta = T beta_int + t."""
        p = len(self.x_scale)
        T = np.diag(self.y_scale / self.x_scale)
        if self.intercept >= 0:
            T[self.intercept, :] = -self.x_center * self.y_scale / self.x_scale
            T[self.intercept, self.intercept] = self.y_scale
        return T if p else np.zeros((0, 0))

    @cached_property
    def t(self):
        t = np.zeros(len(self.x_scale))
        if self.intercept >= 0:
            t[self.intercept] = self.y_shift
        return t

    def beta_to_user(self, beta):
        """(..., p) internal coefficients -> the user's. Written elementwise (no BLAS
        call, whose rounding can depend on its threading), so draws are bit-identical
        in every process and thread."""
        out = beta * (self.y_scale / self.x_scale)
        if self.intercept >= 0:
            i = self.intercept
            slopes = np.delete(out, i, axis=-1)
            centers = np.delete(self.x_center, i)
            out[..., i] = (self.y_scale * beta[..., i] + self.y_shift
                           - np.sum(slopes * centers, axis=-1))
        return out

    def beta_to_internal(self, beta):
        return np.linalg.solve(self.T, np.asarray(beta, dtype=float) - self.t)


@dataclass(frozen=True, eq=False)
class Problem:
    """Kernel input (see fastgibbs._core.Kernel), on the internal scale."""

    family: int
    n_fixed: int
    n_u: int
    n_hyper: int
    n_obs: float
    yty: float
    xtx: np.ndarray
    xty: np.ndarray
    ztz: np.ndarray
    ztx: np.ndarray
    zty: np.ndarray
    cell_val: np.ndarray
    n_groups: np.ndarray
    n_re: np.ndarray
    u_off: np.ndarray
    ztz_off: np.ndarray
    ztx_off: np.ndarray
    vc_off: np.ndarray
    prec_off: np.ndarray
    pair_row_off: np.ndarray
    rowptr: np.ndarray
    cell_col: np.ndarray
    cell_val_off: np.ndarray
    prior_prec: np.ndarray
    prior_h: np.ndarray
    vc_kind: np.ndarray
    cov_kind: np.ndarray
    vc_a: np.ndarray
    vc_b: np.ndarray
    iw_df: np.ndarray
    iw_scale: np.ndarray
    sigma_prior: tuple
    disp_prior: tuple
    transform: Transform
    chain_order: np.ndarray = None    # blocks chain by chain, each chain from its top block
    chain_start: np.ndarray = None    # (n_chains + 1,) where each chain starts in chain_order
    parent_block: np.ndarray = None   # (B,) the block each is nested in within its chain, or -1
    cells: dict = None
    mixtures: dict = None
    row_cell: np.ndarray = None     # (n_obs,) the cell of each row (augmented families)
    # family-specific kernel input: Student-t {"nu_fixed", "nu"}; cumulative
    # {"n_thresholds", "threshold_mu", "threshold_prec", "threshold_d", "init_thresholds"}
    family_args: dict = None
    structured: dict = None         # structured terms' arrays (fastgibbs.gmrf.kernel_arrays)
    exact_basis: tuple = None       # exact_fit_basis (gaussian): a refit's exact-fit check
    # where chains start sigma (chain.initial_state): the sd of y about its mean on the
    # kernel's scale, below 1 when y is scaled but not centred (no intercept)
    sigma_start: float = 1.0

    @property
    def n_vc(self):
        return len(self.vc_kind)

    @property
    def has_sigma(self):
        return self.family in (Kind.FAMILY_GAUSSIAN, Kind.FAMILY_STUDENT_T)

    @property
    def n_disp(self):
        """Dispersion parameters in a draw row after sigma: alpha (negative binomial),
        nu (Student-t, unless fixed)."""
        if self.family == Kind.FAMILY_NEGBINOMIAL:
            return 1
        if self.family == Kind.FAMILY_STUDENT_T:
            return 0 if self.family_args["nu_fixed"] else 1
        if self.family == Kind.FAMILY_CUMULATIVE:
            return int(self.family_args["n_thresholds"])
        return 0

    @property
    def row_width(self):
        return self.n_fixed + int(self.has_sigma) + self.n_disp + self.n_hyper + self.n_u

    @property
    def n_cells(self):
        return None if self.cells is None else len(self.cells["y"])

    @cached_property
    def prior_mean(self):
        """beta's prior mean on the internal scale, (p,): the least-norm solution of
        prior_prec m = prior_h (a flat prior's precision underflows to 0). Read-only."""
        if not self.n_fixed:
            return np.zeros(0)
        mean = np.linalg.lstsq(self.prior_prec, self.prior_h, rcond=None)[0]
        mean.setflags(write=False)
        return mean

    @cached_property
    def row_scale(self):
        """(row_width,) multipliers from the kernel's scale to the user's for every
        column after beta: sigma, group sds and group effects by y_scale / z_scale,
        dispersion and correlations by 1."""
        tf = self.transform
        parts = [np.full(self.n_fixed, np.nan)]
        if self.has_sigma:
            parts.append([tf.y_scale])
        parts.append(np.ones(self.n_disp))
        for k, q in enumerate(self.n_re):
            parts.append(tf.y_scale / tf.z_scale[k])
            if self.structured is not None and self.structured["par"][k] >= 0:
                parts.append([1.0])                  # rho or phi of a structured term
            if self.cov_kind[k] != int(Covariance.COV_DIAGONAL):     # correlations
                parts.append(np.ones(q * (q - 1) // 2))
        for k, q in enumerate(self.n_re):
            parts.append(np.tile(tf.y_scale / tf.z_scale[k], self.n_groups[k]))
        return np.concatenate([np.asarray(part, dtype=float) for part in parts])


def parameter_layout(design):
    """Column order of a draw row: names and, per group term, the u columns.

    Returns (names, term_index) where term_index maps ``"1|state"`` to the column
    positions of its group effects in level order."""
    names = list(design.fixed_names) + list(design.family.dispersion)
    structures = getattr(design, "structures", None) or {}
    for block in design.blocks:
        names += [f"{term}_sigma" for term in block.terms]
        names += [f"{term}_{STRUCTURE_PARAMETER[structures[term].kind]}"
                  for term in block.terms if term in structures
                  and structures[term].kind in STRUCTURE_PARAMETER]
        names += list(block.correlation_names)
    start = len(names)
    term_index = {}
    for block in design.blocks:
        q = block.n_re
        for c, term in enumerate(block.terms):
            term_index[term] = start + c + q * np.arange(block.n_groups)
        for level in block.levels:
            names += [f"{term}[{level}]" for term in block.terms]
        start += q * block.n_groups
    return names, term_index


# ----------------------------------------------------------------------------------
# The internal parametrisation
# ----------------------------------------------------------------------------------
def _transform(design, y, weights, scaling=None):
    return transform_from_moments(design, ArrayMoments(design, y_eff=y, weights=weights),
                                  scaling)


def transform_from_moments(design, moments, scaling=None):
    """The :class:`Transform` of ``design`` from the weighted moments of its columns
    (``moments``: a fastgibbs.moments.ArrayMoments of the arrays, or the sums of a
    streamed design, fastgibbs.streaming)."""
    names = design.fixed_names
    p = len(names)
    intercept = names.index("Intercept") if "Intercept" in names else -1
    if intercept >= 0 and not moments.x_all_ones(intercept):
        intercept = -1
    center = np.zeros(p)
    scale = np.ones(p)
    # the cumulative family's thresholds take the intercept's place: centre there too
    centred = intercept >= 0 or design.family.kind == Kind.FAMILY_CUMULATIVE
    for m in range(p):
        if m == intercept:
            continue
        mean, sd = moments.x(m, center=centred)
        if not sd > 0:                      # a constant column without an intercept
            _, sd = moments.x(m, center=False)
        center[m] = mean
        scale[m] = sd if sd > 0 else 1.0
    shift, y_scale = _response_scale(design, moments, intercept, scaling)
    z_scale = []
    for k, block in enumerate(design.blocks):
        rms = np.array([moments.z(k, c, center=False)[1] for c in range(block.n_re)])
        z_scale.append(np.where(rms > 0, rms, 1.0))
    return Transform(y_shift=shift, y_scale=y_scale, x_center=center, x_scale=scale,
                     intercept=intercept, z_scale=tuple(z_scale))


def _response_scale(design, moments, intercept, scaling=None):
    """(y_shift, y_scale) of the Transform: ``scaling`` if given, else the (weighted)
    mean (0 without an intercept) and sd (root mean square) of the effective response
    for SCALED_Y families; (0, 1) for the others."""
    if design.family.kind not in SCALED_Y:
        return 0.0, 1.0
    if scaling is not None:
        return scaling
    _, sd = moments.y()
    if not (sd > 0) or not np.isfinite(sd):
        raise ValueError(f"response {design.response!r} is constant"
                         + (" after the offset" if moments.has_offset else "")
                         + ": a gaussian model has nothing to fit (sigma would be 0)")
    return moments.y(center=intercept >= 0)


def _transform_for_response(design, reused, y, scaling=None):
    """The Transform of ``design`` with response ``y`` (after the offset) when its X, Z
    and weights are those of the Transform ``reused``: only the response's shift and
    scale are computed again (as _transform would, bit for bit)."""
    moments = ArrayMoments(design, y_eff=y, weights=design.weights)
    shift, y_scale = _response_scale(design, moments, reused.intercept, scaling)
    return replace(reused, y_shift=shift, y_scale=y_scale)


# families whose response is shifted and scaled internally (identity link, sigma)
SCALED_Y = (Kind.FAMILY_GAUSSIAN, Kind.FAMILY_STUDENT_T)


# the least-squares check of an exactly fitted response uses every group column up to
# this many columns in all (a dense solve); beyond it only the fixed effects
EXACT_FIT_MAX_COLUMNS = 600


def _full_normal_equations(stats, pairs, offs, p):
    """[X Z]'W[X Z] (dense) from the statistics, Z every group column."""
    n_u = len(stats["zty"])
    C = np.zeros((p + n_u, p + n_u))
    C[:p, :p] = stats["xtx"]
    pair_row_off, rowptr, cell_col, cell_val_off, cell_val = pairs[:5]
    B = len(offs["n_groups"])
    for k in range(B):
        q, J = offs["n_re"][k], offs["n_groups"][k]
        u0 = p + offs["u_off"][k]
        ztx = stats["ztx"][offs["ztx_off"][k]:offs["ztx_off"][k] + J * q * p].reshape(J * q, p)
        C[u0:u0 + J * q, :p] = ztx
        C[:p, u0:u0 + J * q] = ztx.T
        ztz = stats["ztz"][offs["ztz_off"][k]:offs["ztz_off"][k] + J * q * q].reshape(J, q, q)
        for j in range(J):
            C[u0 + j * q:u0 + (j + 1) * q, u0 + j * q:u0 + (j + 1) * q] = ztz[j]
        for l in range(B):
            if l == k:
                continue
            ql, l0 = offs["n_re"][l], p + offs["u_off"][l]
            row0 = pair_row_off[k * B + l]
            for j in range(J):
                for cell in range(rowptr[row0 + j], rowptr[row0 + j + 1]):
                    m, v = cell_col[cell], cell_val_off[cell]
                    C[u0 + j * q:u0 + (j + 1) * q, l0 + m * ql:l0 + (m + 1) * ql] = \
                        cell_val[v:v + q * ql].reshape(q, ql)
    return C


def exact_fit_basis(stats, pairs, offs):
    """``(B, what)`` with ``B B' = C^+`` for the normal equations ``C = [X Z]'W[X Z]`` (Z
    every group column, for models of at most EXACT_FIT_MAX_COLUMNS columns; else X
    alone), from the statistics; eigenvalues below 1e-12 of the largest are dropped (as
    lstsq's rcond). The least-squares fit of a response with ``[X Z]'Wy = c`` then
    explains ``||B'c||^2`` of its sum of squares. B is None where _check_not_exact does
    not apply. C does not depend on y: a refit reuses B (Problem.exact_basis)."""
    p = len(stats["xty"])
    if p + len(stats["zty"]) <= EXACT_FIT_MAX_COLUMNS:
        C = _full_normal_equations(stats, pairs, offs, p)
        what = "the fixed and group effects together"
    else:
        C, what = np.reshape(stats["xtx"], (p, p)), "the fixed effects"
    if len(C) == 0 or len(C) >= stats["n_obs"]:
        return None, what
    try:
        values, vectors = np.linalg.eigh(C)
    except np.linalg.LinAlgError:
        return None, what
    keep = values > 1e-12 * max(values.max(), 0.0)
    return vectors[:, keep] / np.sqrt(values[keep]), what


def _exact_residual(X, y, blocks, w, u_off):
    """A function of coefficients b of [X Z] (the first len(b) columns: X alone, or X and
    every group column, as exact_fit_basis) giving sum w (y - [X Z] b)^2, computed from
    the rows (no cancellation against y'Wy): _check_not_exact's test where its sums
    cannot decide. Any b gives at least the least-squares residual, so a small value
    shows an exact fit."""
    def residual(b):
        p = X.shape[1]
        r = y - X @ b[:p] if p else np.array(y, dtype=float)
        if len(b) > p:
            for block, off in zip(blocks, u_off):
                u = b[p + off:p + off + block.n_groups * block.n_re]
                r = r - np.einsum("ic,ic->i", np.reshape(block.Z, (len(y), block.n_re)),
                                  u.reshape(block.n_groups, block.n_re)[block.group])
        return float(np.sum(w * r * r))
    return residual


def _check_not_exact(design, stats, spread, basis, residual=None):
    """Refuse a gaussian response that the model fits exactly (sigma -> 0): the
    least-squares residual sum of squares y'Wy - c'C^+ c of y on the fixed effects and,
    for models of at most EXACT_FIT_MAX_COLUMNS columns, every group column, from the
    statistics, relative to ``spread``, the weighted sum of squares of y about its mean
    (y on the kernel's scale). ``basis``: exact_fit_basis of the statistics;
    ``residual``: _exact_residual of the rows, if in memory."""
    B, what = basis
    if B is None:
        return
    rhs = np.concatenate([stats["xty"], stats["zty"]])[:len(B)]
    explained = B.T @ rhs
    rss = stats["yty"] - float(explained @ explained)
    # rss carries a rounding error of a few eps * y'Wy (from its sums): where that swamps
    # 1e-10 of the spread (a response some 300 sds from 0 without an intercept), the
    # sums cannot decide; the least-squares coefficients' residual computed from the
    # rows can (y = 1000 + 0.5 x + u_g fitted by 0 + x + (1 | g) was sampled, sigma
    # down to 1e-64); a streamed design has no rows, and is sampled
    if 1e-15 * stats["yty"] < 1e-10 * spread:
        exact = rss <= 1e-10 * spread
    else:
        exact = residual is not None and residual(B @ explained) <= 1e-10 * spread
    if exact:
        raise ValueError(f"response {design.response!r} is fitted exactly by {what} "
                         "(residual sum of squares 0): sigma has no information; check for a "
                         "predictor or grouping that copies the response")


def _scaled(value, what):
    if not (SD_RANGE[0] <= value <= SD_RANGE[1]):
        raise ValueError(f"{what} is {value:.3g} on the model's internal scale (where the "
                         f"data's sd is 1): a prior must hold sds between {SD_RANGE[0]:g} and "
                         f"{SD_RANGE[1]:g} there; choose a prior on the data's scale")
    return value


def _surely_reaches_range(a, b):
    """Whether the central 98% of the sd under InvGamma(a, b) (b on the kernel's scale)
    surely overlaps STRONG_SD_RANGE, from two bounds on G ~ Gamma(a, 1) (sd = sqrt(b /
    G)) that need no special function: Markov's P(G > t) <= a / t, and P(G <= t) <=
    t^a / Gamma(a + 1) (the density is below t^(a - 1) / Gamma(a)). With 0.98 for 0.99,
    so that rounding cannot decide; False when the bounds cannot tell (the quantiles
    then decide)."""
    low, high = STRONG_SD_RANGE
    a, b = float(a), float(b)
    # sd < low <=> G > b / low^2: not the 99% side when P(G <= b / low^2) >= 0.02
    if not a <= 0.98 * (b / low ** 2):
        return False
    # sd > high <=> G < b / high^2: not the 99% side when P(G < b / high^2) <= 0.98
    t = b / high ** 2
    log_p = a * math.log(t) - math.lgamma(a + 1) if t > 0 else -math.inf
    return log_p <= math.log(0.98)


def _check_concentration(prior, b, key):
    """Refuse an InvGamma(a, b) prior (b on the kernel's scale) that holds the sd within
    its central 98% entirely outside STRONG_SD_RANGE data sds: the posterior then keeps
    the sd there, and precisions 1e16 times the data's lose every digit. A diffuse prior
    such as InvGamma(0.001, 0.001) is never refused, whatever the data's scale."""
    if _surely_reaches_range(prior.shape, b):   # most priors: no scipy.special (~80 ms)
        return
    from scipy.special import gammaincinv

    # sd quantiles sqrt(b / G), G ~ Gamma(a): the 99% point of G gives the 1% point of sd
    g_hi, g_lo = (gammaincinv(prior.shape, q) for q in (0.99, 0.01))
    with np.errstate(divide="ignore", over="ignore"):
        sd_lo, sd_hi = np.sqrt(b / g_hi), np.sqrt(b / g_lo)
    if sd_hi < STRONG_SD_RANGE[0] or sd_lo > STRONG_SD_RANGE[1]:
        raise ValueError(f"InvGamma({prior.shape:g}, {prior.scale:g}) for {key!r} holds the sd "
                         f"between {sd_lo:.3g} and {sd_hi:.3g} times the data's sd, where the "
                         "sampler cannot work in double precision; use a prior on the data's "
                         "scale")


def _variance_args(prior, key, y_scale):
    """(kind, a, b) of a variance prior on the internal scale."""
    if isinstance(prior, HalfCauchy):
        return (int(VariancePrior.PRIOR_HALF_CAUCHY), 0.5,
                _scaled(prior.scale / y_scale, f"the HalfCauchy scale of {key!r}"))
    if isinstance(prior, InvGamma):
        b = prior.scale / y_scale ** 2
        if not (np.isfinite(b) and b > 0 and prior.shape < 1e150):
            raise ValueError(f"InvGamma({prior.shape:g}, {prior.scale:g}) for {key!r} cannot "
                             "be represented on the data's scale")
        _check_concentration(prior, b, key)
        return int(VariancePrior.PRIOR_INV_GAMMA), prior.shape, b
    raise TypeError(f"prior for {key!r} must be fg.InvGamma or fg.HalfCauchy, got {prior!r}")


def _fixed_prior(design, priors, tf):
    """Prior precision and linear term of beta_int (N(mu, D) on the user's beta)."""
    names = design.fixed_names
    p = len(names)
    if p == 0:
        return np.zeros((0, 0)), np.zeros(0)
    mu = np.array([priors[n].mu for n in names], dtype=float)
    sd = np.array([priors[n].sigma for n in names], dtype=float)
    T = tf.T
    with np.errstate(all="ignore"):           # out of range: refused just below
        Tn = T / sd[:, None]                  # D^{-1/2} T
        prec = Tn.T @ Tn
        h = Tn.T @ ((mu - tf.t) / sd)
    if not (np.all(np.isfinite(prec)) and np.all(np.isfinite(h))):
        raise ValueError("the fixed-effect priors cannot be represented on the data's scale "
                         "(a prior sd too small or too large for the predictors' scale)")
    # a prior that pins a coefficient where the linear predictor cannot be evaluated
    limit = design.family.eta_limit
    with np.errstate(all="ignore"):
        T_inv = np.linalg.inv(T)
        centre = T_inv @ (mu - tf.t)
        spread = np.sqrt(((T_inv * sd) ** 2).sum(axis=1))      # sds of T^-1 (beta - t)
    # the intercept last: on the kernel's scale it is the linear predictor at the
    # predictors' means, where the slopes' priors move it too
    for m in sorted(range(p), key=lambda m: m == tf.intercept):
        if abs(centre[m]) > limit and spread[m] < abs(centre[m]):
            name = names[m]
            what = f"the prior {priors[name]} of {name!r} holds it"
            pulls = np.abs(mu * tf.x_center)
            slopes = [names[c] for c in np.argsort(-pulls, kind="stable")
                      if pulls[c] > 0.1 * abs(centre[m]) * tf.y_scale]
            if m == tf.intercept and slopes:
                what = (f"the priors of {', '.join(map(repr, slopes))} and {name!r} hold "
                        "the linear predictor at the predictors' means (the intercept plus "
                        "each slope times its predictor's mean)")
            raise ValueError(f"{what} {abs(centre[m]):.3g} units from 0 on the model's "
                             f"{design.family.link} scale (predictors standardised), beyond "
                             f"{limit:g}, where the likelihood cannot be evaluated; centre the "
                             "prior nearer 0 or widen it")
    return np.ascontiguousarray(prec), np.ascontiguousarray(h)


# ----------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------
def _group_sums(group, values, n_groups):
    """sum of ``values`` (n, k) within each group -> (n_groups, k)."""
    out = np.empty((n_groups, values.shape[1]))
    for c in range(values.shape[1]):
        out[:, c] = np.bincount(group, weights=values[:, c], minlength=n_groups)
    return out


def _block_offsets(blocks, p):
    n_groups = np.array([b.n_groups for b in blocks], dtype=np.intp)
    n_re = np.array([b.n_re for b in blocks], dtype=np.intp)
    sizes_u = n_groups * n_re

    def starts(sizes):
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp) if len(sizes) \
            else np.zeros(0, dtype=np.intp)

    u_off = starts(sizes_u)
    return dict(n_groups=n_groups, n_re=n_re, u_off=u_off, ztz_off=starts(sizes_u * n_re),
                ztx_off=(u_off * p).astype(np.intp), vc_off=starts(n_re),
                prec_off=starts(n_re * n_re))


def pair_cells(groups, Zs, n_groups, weights=None):
    """Non-empty cells of Z_k'W Z_l for every ordered pair k != l, as CSR rows per group
    of k: values are q_k x q_l blocks (row-major).

    Returns (pair_row_off (B*B,), rowptr, cell_col, cell_val_off, cell_val,
    row_pair_cell (n_pairs * n,)), the last giving each row's cell per pair in the
    kernel's pair order (k outer, l != k inner)."""
    B = len(groups)
    tables, row_cell = {}, []
    n_cells = 0
    for k in range(B):
        for l in range(B):
            if k == l:
                continue
            key = groups[k].astype(np.int64) * n_groups[l] + groups[l]
            uniq, inverse = np.unique(key, return_inverse=True)
            prods = np.stack([Zs[k][:, c] * Zs[l][:, c2] for c in range(Zs[k].shape[1])
                              for c2 in range(Zs[l].shape[1])], axis=1)
            if weights is not None:
                prods = prods * weights[:, None]
            tables[k, l] = (uniq, _group_sums(inverse.ravel(), prods, len(uniq)))
            row_cell.append(n_cells + inverse.ravel())
            n_cells += len(uniq)
    return pair_layout(tables, n_groups) + (_cat_as(row_cell, np.intp),)


def pair_layout(tables, n_groups):
    """The kernel's CSR layout of the cells of every ordered pair of blocks from
    ``tables[k, l] = (keys, sums)``: the sorted cell keys g_k * J_l + g_l (int64) and
    their sums (n_cells, q_k * q_l) of Z_k'W Z_l.

    Returns (pair_row_off (B*B,), rowptr, cell_col, cell_val_off, cell_val)."""
    B = len(n_groups)
    pair_row_off = np.zeros(B * B, dtype=np.intp)
    rowptr, cols, vals, val_offs = [], [], [], []
    n_rows = n_cells = n_vals = 0
    for k in range(B):
        for l in range(B):
            if k == l:
                continue
            uniq, cell_sums = tables[k, l]
            rows = uniq // n_groups[l]
            counts = np.bincount(rows, minlength=n_groups[k])
            pair_row_off[k * B + l] = n_rows
            rowptr.append(n_cells + np.concatenate([[0], np.cumsum(counts)]))
            n_rows += n_groups[k] + 1
            cols.append(uniq % n_groups[l])
            vals.append(cell_sums.ravel())
            val_offs.append(n_vals + cell_sums.shape[1] * np.arange(len(uniq)))
            n_cells += len(uniq)
            n_vals += cell_sums.size
    return (pair_row_off, _cat_as(rowptr, np.intp), _cat_as(cols, np.intp),
            _cat_as(val_offs, np.intp), _cat_as(vals, float))


def _cat_as(parts, dtype):
    return np.ascontiguousarray(np.concatenate(parts).astype(dtype)) if parts \
        else np.zeros(0, dtype=dtype)


def nested_chains(n_groups, pair_row_off, rowptr, alone=()):
    """Split the blocks into chains of nested blocks, each drawn jointly by the kernel.

    Block k is nested in block l when each group of k meets exactly one group of l (one
    cell per row of the pair (k, l)). Each block's parent is the block with the most
    groups (ties: the earlier block) that it is nested in and that has fewer or as many
    groups; a parent continues a chain with one child only (the one with the most
    groups), so ``(1 | a/b/c)`` is one chain a, a:b, a:b:c, and ``(1 | a) + (1 | b)``
    two chains. Blocks in ``alone`` (structured terms) form chains of their own.
    Returns (chain_order, chain_start, parent_block)."""
    B = len(n_groups)
    nested = np.zeros((B, B), dtype=bool)
    for k in range(B):
        for l in range(B):
            if k == l or k in alone or l in alone:
                continue
            row0 = pair_row_off[k * B + l]
            counts = np.diff(rowptr[row0:row0 + n_groups[k] + 1])
            nested[k, l] = bool(np.all(counts == 1))
    parent = np.full(B, -1, dtype=np.intp)
    for k in range(B):
        candidates = [l for l in range(B) if nested[k, l] and (
            n_groups[l] < n_groups[k] or (n_groups[l] == n_groups[k] and l < k))]
        if candidates:
            parent[k] = max(candidates, key=lambda l: (n_groups[l], -l))
    child = np.full(B, -1, dtype=np.intp)
    for k in sorted(range(B), key=lambda k: (-n_groups[k], k)):
        if parent[k] >= 0 and child[parent[k]] < 0:
            child[parent[k]] = k
    for k in range(B):                      # a parent that continues another chain
        if parent[k] >= 0 and child[parent[k]] != k:
            parent[k] = -1
    order, starts = [], [0]
    for k in range(B):
        if parent[k] < 0:
            while k >= 0:
                order.append(k)
                k = child[k]
            starts.append(len(order))
    return (np.array(order, dtype=np.intp), np.array(starts, dtype=np.intp), parent)


def _product_sums(block, pairs):
    """Within-group sums of the products of each pair of columns (a, b) (n,), as
    (n_groups, len(pairs)) flattened: _group_sums of the stacked products, one
    product at a time (no n x len(pairs) copy)."""
    out = np.empty((block.n_groups, len(pairs)))
    for i, (a, b) in enumerate(pairs):
        out[:, i] = np.bincount(block.group, weights=a * b, minlength=block.n_groups)
    return out.ravel()


def _gaussian_statistics(X, y, blocks, w):
    """Weighted sufficient statistics of the gaussian likelihood; ``w`` None: unit
    weights (the same numbers, without multiplying every row by 1)."""
    p = X.shape[1]
    Xw = X if w is None else X * w[:, None]
    stats = {"n_obs": float(len(y) if w is None else np.sum(w)),
             "yty": float(np.sum(y * y if w is None else w * y * y)),
             "xtx": np.ascontiguousarray(Xw.T @ X), "xty": np.ascontiguousarray(Xw.T @ y)}
    ztz, ztx, zty = [], [], []
    for b in blocks:
        Z = b.Z if w is None else b.Z * w[:, None]
        q = b.n_re
        ztz.append(_product_sums(b, [(Z[:, c], b.Z[:, c2]) for c in range(q)
                                     for c2 in range(q)]))
        ztx.append(_product_sums(b, [(Z[:, c], X[:, m]) for c in range(q) for m in range(p)]))
        zty.append(_product_sums(b, [(Z[:, c], y) for c in range(q)]))
    stats.update(ztz=_cat(ztz), ztx=_cat(ztx), zty=_cat(zty))
    return stats


def _check_conditioning(design, priors, xwx, prior_prec):
    """Refuse fixed-effect priors so narrow against the data that the precision of beta
    (X'WX + prior precision, on the kernel's scale; ``xwx`` is X'WX) cannot be
    factorised in doubles: a prior sd of 1 on the intercept of a response whose sd is
    1e100, say."""
    p = xwx.shape[0]
    if p == 0:
        return
    M = xwx + prior_prec
    d = np.sqrt(np.abs(np.diag(M)))
    if not np.all(np.isfinite(M)) or not np.all(d > 0):
        return                      # other checks name these (collinear, unrepresentable)
    smallest = np.linalg.eigvalsh(M / np.outer(d, d))[0]
    if smallest > 1e-13:
        return
    ratio = np.diag(prior_prec) / np.maximum(np.diag(M) - np.diag(prior_prec), 1e-300)
    name = design.fixed_names[int(np.argmax(ratio))]
    raise ValueError(f"the prior {priors[name]} of {name!r} is so narrow against the data's "
                     "scale that the precision of the fixed effects cannot be computed in "
                     "double precision; widen it (priors are on the scale of y and x)")


def _group_column_moments(blocks, w):
    """Per block, what _check_group_columns reads: the weighted sds (q,) of the scaled
    columns of Z and, for blocks of two or more columns, Z'WZ (q, q)."""
    out = []
    for b in blocks:
        sds = np.array([mean_sd(b.Z[:, c], w)[1] for c in range(b.n_re)])
        out.append((sds, (b.Z * w[:, None]).T @ b.Z if b.n_re >= 2 else None))
    return tuple(out)


def _check_group_columns(design, group_moments):
    """Refuse a term whose varying columns are nearly collinear (x far from 0 against its
    spread in (1 + x | g)): the per-group precisions could not be factorised. The
    columns are not centred inside, since that would change the model of a correlated
    or ``||`` term; lme4 warns of such terms too ("rescale variables").
    ``group_moments``: see _group_column_moments."""
    for block, (sds, M) in zip(design.blocks, group_moments):
        for c, column in enumerate(block.columns):
            sd = sds[c]
            if column != "1" and sd < 1e-7:       # Z is scaled to root mean square 1
                raise ValueError(
                    f"{column!r} varies by {block.factor!r} but is nearly constant (its sd is "
                    f"{sd:.2g} of its size): it would vary like an intercept; centre it, e.g. "
                    f"scale({column}), or drop it from the group term")
        if block.n_re < 2:
            continue
        d = np.sqrt(np.diag(M))
        if np.all(d > 0) and np.linalg.eigvalsh(M / np.outer(d, d))[0] < 1e-10:
            raise ValueError(
                f"the columns {list(block.columns)} of the group term for {block.factor!r} are "
                "nearly collinear (a predictor far from 0 against its spread?): centre it, "
                "e.g. scale(x) or x - mean(x), before letting it vary by group")


def _response_statistics(X, y, blocks, w):
    """The statistics that depend on y: y'Wy, X'Wy, per group Z'Wy."""
    zty = [_group_sums(b.group, (b.Z * w[:, None]) * y[:, None], b.n_groups).ravel()
           for b in blocks]
    return {"yty": float(np.sum(w * y * y)), "xty": np.ascontiguousarray((X * w[:, None]).T @ y),
            "zty": _cat(zty)}


def _cat(parts):
    return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(0)


# ----------------------------------------------------------------------------------
# Cells of augmented families
# ----------------------------------------------------------------------------------
def _cells(design, blocks, X, y, w):
    """Collapse rows into cells as the family allows: (cell arrays, blocks of cells,
    row -> cell index). ``blocks``: the design's blocks with their Z on the kernel's
    scale."""
    family = design.family
    offset = design.offset
    parts = [X] + [b.Z for b in blocks] + [b.group[:, None].astype(float) for b in blocks]
    kind = family.kind
    if kind in (Kind.FAMILY_BINOMIAL, Kind.FAMILY_PROBIT):
        parts.append(offset[:, None])
    elif kind in (Kind.FAMILY_NEGBINOMIAL, Kind.FAMILY_CUMULATIVE):
        parts += [offset[:, None], y[:, None]]
    elif kind == Kind.FAMILY_STUDENT_T:          # y is y - offset on the kernel's scale
        parts.append(y[:, None])
    key = np.hstack(parts) if parts else np.zeros((design.n_obs, 0))
    if key.shape[1] == 0:
        inverse, first = np.zeros(design.n_obs, dtype=np.intp), np.zeros(1, dtype=np.intp)
    else:
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.intp)
    n_cells = len(first)

    def total(values):
        return np.bincount(inverse, weights=values, minlength=n_cells)

    if kind in (Kind.FAMILY_BINOMIAL, Kind.FAMILY_PROBIT):
        cy, cn, coff = total(w * y), total(w * design.trials), offset[first]
    elif kind in (Kind.FAMILY_NEGBINOMIAL, Kind.FAMILY_CUMULATIVE):
        cy, cn, coff = y[first], total(w), offset[first]
    elif kind == Kind.FAMILY_STUDENT_T:
        cy, cn, coff = y[first], total(w), np.zeros(n_cells)
    else:                                       # Poisson: counts and exposures add up
        cy, cn = total(w * y), np.ones(n_cells)
        with np.errstate(divide="ignore"):
            coff = np.log(total(w * np.exp(offset - offset.max()))) + offset.max()
    keep = kept_cells(kind, cn, coff)
    if not keep.all():                          # cells of zero weight only
        remap = np.full(n_cells, -1, dtype=np.intp)
        remap[keep] = np.arange(int(keep.sum()))
        inverse, first, cy, cn, coff = remap[inverse], first[keep], cy[keep], cn[keep], coff[keep]
    cell_blocks = [(b.group[first], np.ascontiguousarray(b.Z[first])) for b in blocks]
    return cell_arrays(X[first], cell_blocks, cy, cn, coff), cell_blocks, inverse


def kept_cells(kind, cn, coff):
    """The cells that carry weight (a Poisson cell of zero exposure has offset -inf)."""
    return cn > 0 if kind != Kind.FAMILY_POISSON else np.isfinite(coff)


def cell_arrays(X, cell_blocks, cy, cn, coff):
    """The kernel's cell dict from the cells' rows of X (n_cells, p), their (group, Z)
    per block, responses, sizes and offsets."""
    z_parts = [z.ravel() for _, z in cell_blocks]
    return {
        "X": np.ascontiguousarray(X), "y": cy, "n": cn, "offset": coff,
        "Z": _cat(z_parts),
        "z_off": np.concatenate([[0], np.cumsum([len(z) for z in z_parts])[:-1]]).astype(np.intp)
        if z_parts else np.zeros(0, dtype=np.intp),
        "group": np.ascontiguousarray(np.concatenate([g for g, _ in cell_blocks])).astype(np.intp)
        if cell_blocks else np.zeros(0, dtype=np.intp),
    }


def cell_statistics(family, cells, cell_blocks, offs, p, n_obs):
    """The kernel's inputs of a family that works on cells: (pairs, stats, mixtures).
    The cells between blocks get their structure (values 0; the kernel fills them with
    the latent weights), ``cells`` its pair index (``pair_cell``), and the gaussian
    statistics are zeros of the right sizes."""
    pairs = pair_cells([g for g, _ in cell_blocks], [z for _, z in cell_blocks],
                       offs["n_groups"])
    cells["pair_cell"] = pairs[5]
    pairs = pairs[:4] + (np.zeros_like(pairs[4]),) + pairs[5:]
    n_u = int(np.sum(offs["n_groups"] * offs["n_re"])) if len(offs["n_groups"]) else 0
    stats = {"n_obs": n_obs, "yty": 0.0, "xtx": np.zeros((p, p)), "xty": np.zeros(p),
             "ztz": np.zeros(int(np.sum(offs["n_groups"] * offs["n_re"] ** 2))),
             "ztx": np.zeros(n_u * p), "zty": np.zeros(n_u)}
    mixtures = None
    if family.kind == Kind.FAMILY_POISSON:
        from ..families.poisson import mixture_tables
        mixtures, cells["mixture"] = mixture_tables(cells["y"])
    return pairs, stats, mixtures


# ----------------------------------------------------------------------------------
# The problem
# ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Statistics:
    """Everything the kernel's input takes from the data, on the kernel's scale: what
    :func:`build_problem` consumes. :func:`data_statistics` computes it from a Design
    in memory (one chunk of rows); fastgibbs.streaming sums it over chunks of data that
    do not fit in memory.

    ``stats``: n_obs, yty, xtx, xty, ztz, ztx, zty (gaussian; zeros otherwise);
    ``pairs``: the cells between blocks (pair_layout, plus the cells' pair index for
    families on cells); ``cells``, ``mixtures``, ``row_cell``: families on cells (see
    _cells; ``row_cell`` only in memory, for refits); ``xwx``: X'WX (p, p);
    ``group_moments``: see _group_column_moments; ``spread``: the weighted sum of
    squares of the gaussian y about its mean (None skips the exact-fit check);
    ``exact_basis``: the exact-fit check's exact_fit_basis when already known (a
    refit's, from the problem it reuses), else None; ``exact_residual``: its
    _exact_residual (designs in memory)."""

    transform: Transform
    stats: dict
    pairs: tuple
    xwx: np.ndarray
    group_moments: tuple
    spread: float = None
    exact_basis: tuple = None
    exact_residual: object = None
    cells: dict = None
    mixtures: dict = None
    row_cell: np.ndarray = None


def data_statistics(design, y=None, scaling=None, reuse=None):
    """The :class:`Statistics` of a Design in memory (see build_problem for the
    arguments)."""
    family = design.family
    y = design.y if y is None else np.asarray(y, dtype=float)
    w = np.ones(design.n_obs) if design.weights is None else design.weights
    gaussian = family.kind == Kind.FAMILY_GAUSSIAN
    scaled_y = family.kind in SCALED_Y
    y_eff = y - design.offset if scaled_y else y
    if reuse is None:
        tf = _transform(design, y_eff, design.weights, scaling)
    else:                       # the same X, Z and weights: only y's scale is new
        tf = _transform_for_response(design, reuse.transform, y_eff, scaling)
    X_int = (design.X - tf.x_center) / tf.x_scale if design.n_fixed else design.X
    X_int = np.asarray(X_int, dtype=float)
    blocks = [SimpleNamespace(group=b.group, Z=b.Z / zs, n_groups=b.n_groups, n_re=b.n_re)
              for b, zs in zip(design.blocks, tf.z_scale)]
    p = X_int.shape[1]
    offs = _block_offsets(blocks, p)
    cells, mixtures, row_cell, spread, xwx = None, None, None, None, None
    exact_basis = exact_residual = None
    if gaussian:
        y_int = (y_eff - tf.y_shift) / tf.y_scale
        if reuse is None:
            stats = _gaussian_statistics(X_int, y_int, blocks,
                                         None if design.weights is None else w)
            pairs = pair_cells([b.group for b in blocks], [b.Z for b in blocks],
                               offs["n_groups"], w)
        else:
            stats = _response_statistics(X_int, y_int, blocks, w)
            stats.update(n_obs=reuse.n_obs, xtx=reuse.xtx, ztz=reuse.ztz, ztx=reuse.ztx)
            pairs = (reuse.pair_row_off, reuse.rowptr, reuse.cell_col, reuse.cell_val_off,
                     reuse.cell_val, None)
            exact_basis = reuse.exact_basis
        xwx = stats["xtx"]                  # X'WX on the kernel's scale
        if scaling is None:
            mean = np.average(y_int, weights=w)
            spread = float(np.sum(w * (y_int - mean) ** 2))
            exact_residual = _exact_residual(X_int, y_int, blocks, w, offs["u_off"])
    elif reuse is not None and family.kind in (Kind.FAMILY_BINOMIAL, Kind.FAMILY_PROBIT):
        row_cell = reuse.row_cell
        keep = row_cell >= 0
        cells = dict(reuse.cells, y=np.bincount(row_cell[keep], weights=(w * y)[keep],
                                                minlength=reuse.n_cells))
        pairs = (reuse.pair_row_off, reuse.rowptr, reuse.cell_col, reuse.cell_val_off,
                 reuse.cell_val, None)
        stats = {"n_obs": reuse.n_obs, "yty": 0.0, "xtx": reuse.xtx, "xty": reuse.xty,
                 "ztz": reuse.ztz, "ztx": reuse.ztx, "zty": reuse.zty}
    else:
        y_cells = (y_eff - tf.y_shift) / tf.y_scale if scaled_y else y
        if scaled_y and scaling is None:        # Student-t: sigma -> 0 as for gaussian
            t_stats = _gaussian_statistics(X_int, y_cells, blocks, w)
            t_pairs = pair_cells([b.group for b in blocks], [b.Z for b in blocks],
                                 offs["n_groups"], w)
            mean = np.average(y_cells, weights=w)
            spread = float(np.sum(w * (y_cells - mean) ** 2))
            _check_not_exact(design, t_stats, spread, exact_fit_basis(t_stats, t_pairs, offs),
                             _exact_residual(X_int, y_cells, blocks, w, offs["u_off"]))
        cells, cell_blocks, row_cell = _cells(design, blocks, X_int, y_cells, w)
        pairs, stats, mixtures = cell_statistics(family, cells, cell_blocks, offs, p,
                                                 float(np.sum(w)))
    if xwx is None:
        xwx = (X_int * w[:, None]).T @ X_int
    return Statistics(transform=tf, stats=stats, pairs=pairs, xwx=xwx,
                      group_moments=_group_column_moments(blocks, w), spread=spread,
                      exact_basis=exact_basis, exact_residual=exact_residual, cells=cells,
                      mixtures=mixtures, row_cell=row_cell)


def build_problem(design, priors, y=None, scaling=None, reuse=None):
    """Kernel input for ``design`` under ``priors`` (a dict from resolve_priors).

    ``y`` replaces the design's response (same rows); ``scaling=(shift, scale)`` fixes
    the gaussian response's internal shift and scale instead of taking them from y
    (Geweke tests keep one scale while y changes). ``reuse``: a problem built for the
    same design, whose statistics that do not depend on y (X'WX, Z'WZ, Z'WX, the
    cells between blocks; binomial cells) are taken as they are: a refit then costs
    O(n_obs (p + sum_k q_k)).

    A design streamed from files (fastgibbs.streaming) carries its
    :class:`Statistics` as ``design.statistics``; they are used as they are."""
    statistics = getattr(design, "statistics", None)
    if statistics is None:
        statistics = data_statistics(design, y=y, scaling=scaling, reuse=reuse)
    return problem_from_statistics(design, priors, statistics)


def problem_from_statistics(design, priors, statistics):
    """Kernel input for ``design`` (its family, names and blocks) and ``priors`` from
    the data's :class:`Statistics`; checks the data and priors as build_problem says."""
    family = design.family
    gaussian = family.kind == Kind.FAMILY_GAUSSIAN
    scaled_y = family.kind in SCALED_Y
    tf = statistics.transform
    stats, pairs = statistics.stats, statistics.pairs
    p = len(tf.x_scale)
    offs = _block_offsets(design.blocks, p)
    n_u = int(np.sum(offs["n_groups"] * offs["n_re"])) if design.blocks else 0
    sigma_start = 1.0
    if scaled_y and tf.intercept < 0 and statistics.spread is not None:
        # y is scaled by its root mean square, not centred: a residual sd far below 1
        # (y far from 0) is where a model with groups (or predictors) that take the
        # place of the intercept lands; chains started at sigma ~ 1 there could settle
        # instead where the groups stay small and sigma absorbs the location (y ~ 0 + x
        # + (1 | g) with y at 1e9: 11 of 40 chains, at a log likelihood 2,100 below)
        sigma_start = min(1.0, float(np.sqrt(statistics.spread / max(stats["n_obs"], 1e-300))))
    exact_basis = None
    if gaussian and statistics.spread is not None:
        exact_basis = statistics.exact_basis or exact_fit_basis(stats, pairs, offs)
        _check_not_exact(design, stats, statistics.spread, exact_basis,
                         statistics.exact_residual)

    structured = kernel_arrays(design, offs["u_off"])
    alone = () if structured is None else tuple(np.flatnonzero(structured["kind"]).tolist())
    chain_order, chain_start, parent_block = nested_chains(
        offs["n_groups"], pairs[0], pairs[1], alone=alone)
    prior_prec, prior_h = _fixed_prior(design, priors, tf)
    family_args = None
    if family.kind == Kind.FAMILY_STUDENT_T:
        nu = family.fixed_parameters.get("nu")
        family_args = {"nu_fixed": nu is not None, "nu": nu}
    elif family.kind == Kind.FAMILY_CUMULATIVE:
        prior_prec, prior_h, family_args = cumulative_args(
            design, priors, tf, prior_prec, prior_h, statistics.cells)
    _check_conditioning(design, priors, statistics.xwx, prior_prec)
    _check_group_columns(design, statistics.group_moments)
    vc, iw_df, iw_scale, cov_kind = [], [], [], []
    for b, zs in zip(design.blocks, tf.z_scale):
        cov_kind.append(int(Covariance.COV_DIAGONAL if not b.correlated else
                            Covariance.COV_HUANG_WAND
                            if isinstance(priors[b.covariance_key], HuangWand)
                            else Covariance.COV_INV_WISHART))
        if cov_kind[-1] == int(Covariance.COV_HUANG_WAND):
            # nu in iw_df; the scales A_c on the kernel's scale in vc_b (the kernel keeps
            # the auxiliaries a_c in vc_xi); iw_scale unused
            prior = priors[b.covariance_key]
            vc += [(int(VariancePrior.PRIOR_INV_GAMMA), 1.0,
                    _scaled(A * zs[c] / tf.y_scale,
                            f"the HuangWand scale of {b.terms[c]!r} in {b.covariance_key!r}"))
                   for c, A in enumerate(prior.scale)]
            iw_df.append(prior.nu)
            iw_scale.append(np.eye(b.n_re).ravel())
        elif b.correlated:
            prior = priors[b.covariance_key]
            vc += [(int(VariancePrior.PRIOR_INV_GAMMA), 1.0, 1.0)] * b.n_re  # unused
            iw_df.append(prior.df)
            scale = prior.scale * np.outer(zs, zs) / tf.y_scale ** 2
            if not np.all(np.isfinite(scale)) or np.linalg.eigvalsh(scale).min() <= 0:
                raise ValueError(f"the InvWishart scale of {b.covariance_key!r} cannot be "
                                 "represented on the data's scale")
            iw_scale.append(scale.ravel())
        else:
            vc += [_variance_args(_sd_prior(priors[t]), t, tf.y_scale / zs[c])
                   for c, t in enumerate(b.terms)]
            iw_df.append(0.0)
            iw_scale.append(np.eye(b.n_re).ravel())
    sigma_prior = _variance_args(priors["sigma"], "sigma", tf.y_scale) if scaled_y \
        else (int(VariancePrior.PRIOR_INV_GAMMA), 1.0, 1.0)
    disp_prior = (1.0, 1.0)
    if family.kind == Kind.FAMILY_NEGBINOMIAL:
        disp_prior = (priors["alpha"].shape, priors["alpha"].rate)
    elif family.kind == Kind.FAMILY_STUDENT_T and not family_args["nu_fixed"]:
        disp_prior = (priors["nu"].shape, priors["nu"].rate)

    return Problem(
        family=int(family.kind), n_fixed=p, n_u=n_u,
        n_hyper=sum(b.n_re + len(b.correlation_names) for b in design.blocks)
        + (0 if structured is None else int(structured["n_par"])),
        n_obs=stats["n_obs"], yty=stats["yty"], xtx=stats["xtx"], xty=stats["xty"],
        ztz=stats["ztz"], ztx=stats["ztx"], zty=stats["zty"], cell_val=pairs[4],
        pair_row_off=pairs[0], rowptr=pairs[1], cell_col=pairs[2], cell_val_off=pairs[3],
        prior_prec=prior_prec, prior_h=prior_h,
        vc_kind=np.array([v[0] for v in vc], dtype=np.intp),
        vc_a=np.array([v[1] for v in vc], dtype=float),
        vc_b=np.array([v[2] for v in vc], dtype=float),
        cov_kind=np.array(cov_kind, dtype=np.intp),
        iw_df=np.array(iw_df, dtype=float), iw_scale=_cat(iw_scale),
        sigma_prior=sigma_prior, disp_prior=disp_prior, transform=tf,
        chain_order=chain_order, chain_start=chain_start, parent_block=parent_block,
        cells=statistics.cells, mixtures=statistics.mixtures, row_cell=statistics.row_cell,
        structured=structured, family_args=family_args, exact_basis=exact_basis,
        sigma_start=sigma_start, **offs)


def cumulative_args(design, priors, tf, prior_prec, prior_h, cells):
    """The thresholds' prior in the kernel's parametrisation: (prior_prec, prior_h,
    family_args) of a cumulative model.

    The user's thresholds gamma_k (at x = 0) get iid N(mu, s^2) priors, restricted to
    gamma_1 < ... < gamma_{K-1}. The kernel keeps the thresholds at the centred
    predictors, gamma'_k = gamma_k - d . beta~ (d = x_center / x_scale, beta~ the
    kernel's coefficients; a shift, so the Jacobian is 1 and the order is kept). As a
    function of beta~ the prior then adds (K - 1) s^-2 d d' to beta~'s prior precision
    and s^-2 d sum_k (mu - gamma'_k) to its linear term (the part with mu here, the rest
    in the kernel, which knows gamma'); gamma'_k | beta~ ~ N(mu - d . beta~, s^2)."""
    from scipy.stats import norm

    prior = priors["threshold"]
    n_thr = len(design.family.dispersion)
    d = tf.x_center / tf.x_scale if design.n_fixed else np.zeros(0)
    # thresholds live on the link scale, the kernel's: their precision must be a double
    if not SD_MIN <= prior.sigma <= SD_MAX:
        raise ValueError(f"the prior {prior} of 'threshold' cannot be represented: its sd "
                         f"must be between {SD_MIN:.2g} and {SD_MAX:.2g} (its square must "
                         "be a double)")
    # as _fixed_prior does for coefficients: refuse a prior that holds the kernel's
    # thresholds (at the predictors' means, gamma - d . beta~) where no likelihood can be
    # evaluated; beta~ ~ N(m, V) under the fixed effects' priors
    centre, spread = prior.mu, prior.sigma
    if len(d) and np.any(d):
        with np.errstate(all="ignore"):
            V = np.linalg.pinv(prior_prec)
            centre = prior.mu - float(d @ V @ prior_h)
            spread = float(np.sqrt(prior.sigma ** 2 + max(float(d @ V @ d), 0.0)))
    limit = design.family.eta_limit
    if abs(centre) > limit and spread < abs(centre):
        raise ValueError(f"the prior {prior} of 'threshold' holds the thresholds (at the "
                         f"predictors' means, given the fixed effects' priors) "
                         f"{abs(centre):.3g} units from 0 on the probit scale, beyond "
                         f"{limit:g}, where the likelihood cannot be evaluated; centre the "
                         "prior nearer 0 or widen it")
    prec = 1.0 / prior.sigma ** 2
    prior_prec = prior_prec + n_thr * prec * np.outer(d, d)
    prior_h = prior_h + n_thr * prec * prior.mu * d
    # starting values: probits of the observed cumulative proportions (eta = 0)
    counts = np.bincount(cells["y"].astype(np.intp), weights=cells["n"], minlength=n_thr + 2)
    cum = np.cumsum(counts[1:n_thr + 1]) / counts.sum()
    init = np.maximum.accumulate(norm.ppf(np.clip(cum, 1e-3, 1 - 1e-3)))
    init = init + 1e-3 * np.arange(n_thr)          # strictly increasing
    # the kernel's translation moves (cumulative_shift): every varying intercept of a
    # term without a structured prior, with its (constant) column value on the
    # kernel's scale
    structures = getattr(design, "structures", None) or {}
    shifts = [(k, block.columns.index("1"), 1.0 / float(tf.z_scale[k][block.columns.index("1")]))
              for k, block in enumerate(design.blocks)
              if "1" in block.columns and not any(t in structures for t in block.terms)]
    return prior_prec, prior_h, {"n_thresholds": n_thr, "threshold_mu": float(prior.mu),
                                 "threshold_prec": float(prec), "threshold_d": d,
                                 "init_thresholds": init, "shifts": shifts}


def _sd_prior(prior):
    """The sd prior of a group term: the prior itself, or a structured prior's sd."""
    return getattr(prior, "sd", prior) if not isinstance(prior, (HalfCauchy, InvGamma)) \
        else prior


def with_response(problem, design, y):
    """``problem`` with a new gaussian response ``y`` on the same internal scale (the
    priors stay as they are): only y'Wy, X'Wy and Z'Wy are recomputed. For Geweke
    tests, where y changes every step and the chain's state is on the kernel's scale."""
    y = np.asarray(y, dtype=float)
    if design.family.kind != Kind.FAMILY_GAUSSIAN:
        raise ValueError("with_response keeps the scale of gaussian models only")
    tf = problem.transform
    w = np.ones(design.n_obs) if design.weights is None else design.weights
    y_int = (y - design.offset - tf.y_shift) / tf.y_scale
    X_int = (design.X - tf.x_center) / tf.x_scale
    blocks = [SimpleNamespace(group=b.group, Z=b.Z / zs, n_groups=b.n_groups, n_re=b.n_re)
              for b, zs in zip(design.blocks, tf.z_scale)]
    return replace(problem, **_response_statistics(X_int, y_int, blocks, w))
