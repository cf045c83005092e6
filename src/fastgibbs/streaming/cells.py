"""Models on cells streamed from files: the rows collapse to cells.

The kernel takes the families other than gaussian and t as cells of rows with
identical covariates and groups (samplers/problem.py, _cells), keyed and summed per
family:

- bernoulli and binomial (logit, probit): key [X, Z_k, g_k, offset]; successes
  sum w y and trials sum w trials add up;
- negative binomial: key [X, Z_k, g_k, offset, y]; the cell's size is sum w (its
  latent Polya-Gamma variable depends on y, so only equal counts share a cell);
- poisson: key [X, Z_k, g_k]; the counts sum w y add up and so do the exposures,
  sum w exp(offset), kept as (max offset m, sum w exp(offset - m)) per cell so that
  no chunk overflows (log-sum-exp).

The statistics pass keeps, per distinct key (raw values), those sums, merging
chunks by np.unique. The centring and scaling of the kernel's parametrisation are
increasing maps of each column, so the cells come out in the order the in-memory
code gives them, and the kernel's input equals the in-memory one up to the rounding
of the sums.

The number of cells grows with the distinct values of continuous covariates: past
``max_cells`` the pass stops with an error that names the columns with the most
distinct values and suggests binning them.
"""
from types import SimpleNamespace

import numpy as np

from .._kinds import Family as Kind
from ..moments import mean_sd
from ..samplers.problem import (Statistics, _block_offsets, _group_column_moments,
                                _group_sums, cell_arrays, cell_statistics, kept_cells,
                                transform_from_moments)

__all__ = ["CELL_FAMILIES", "MAX_CELLS", "CellPass", "CellMoments", "cell_partial",
           "cell_statistics_of"]

# the kernel families whose rows stream as cells
CELL_FAMILIES = (Kind.FAMILY_BINOMIAL, Kind.FAMILY_PROBIT, Kind.FAMILY_NEGBINOMIAL,
                 Kind.FAMILY_POISSON)

# cells kept in memory at most (each holds p + sum_k (q_k + 1) + 4 doubles)
MAX_CELLS = 2_000_000


class TooManyCells(ValueError):
    pass


class CellPass:
    """Distinct keys (n_cells, m) in sorted order and their sums (n_cells, 3): w, w y,
    and w trials (binomial), w (negative binomial) or w exp(offset - peak) (poisson,
    whose ``peak`` (n_cells,) is the largest offset of a row of positive weight in
    the cell, -inf for none; None for other families). ``labels`` names the key's
    columns; ``limit`` the cells allowed."""

    def __init__(self, keys, sums, labels, limit, peak=None):
        self.keys, self.sums, self.labels, self.limit = keys, sums, labels, limit
        self.peak = peak
        self.n_rows = 0
        self.n_dropped = 0
        self.any_offset = False
        _check_limit(self)

    def combine(self, other):
        keys = np.concatenate([self.keys, other.keys])
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        sums = np.concatenate([self.sums, other.sums])
        peak = None
        if self.peak is not None:
            peak, sums[:, 2] = _exposures(inverse, len(uniq),
                                          np.concatenate([self.peak, other.peak]), sums[:, 2])
        out = CellPass(uniq, _group_sums(inverse, sums, len(uniq)), self.labels, self.limit,
                       peak)
        out.n_rows = self.n_rows + other.n_rows
        out.n_dropped = self.n_dropped + other.n_dropped
        out.any_offset = self.any_offset or other.any_offset
        return out


def _exposures(inverse, n_cells, peak, scaled):
    """Poisson exposures sum w exp(offset) per cell as log-sum-exp: (peak (n_cells,),
    each term of ``scaled`` (terms w exp(offset - peak of the term)) moved to its
    cell's peak), from terms mapped to cells by ``inverse``."""
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, inverse, peak)
    moved = np.zeros_like(scaled)
    live = np.isfinite(peak)                  # terms of zero weight carry peak -inf
    moved[live] = scaled[live] * np.exp(peak[live] - top[inverse[live]])
    return top, moved


def _check_limit(part):
    if len(part.keys) <= part.limit:
        return
    counts = sorted(((len(np.unique(part.keys[:, c])), label)
                     for c, label in enumerate(part.labels)
                     if not label.startswith(("group ", "offset"))), reverse=True)
    counts = [(n, label) for n, label in counts if n > 1]
    worst = ", ".join(f"{label!r} ({n:,} distinct values)" for n, label in counts[:3])
    raise TooManyCells(
        f"the rows collapse to more than {part.limit:,} cells (distinct combinations of "
        f"the {', '.join(_key_parts(part.labels))}), which a model on cells streamed "
        f"from files keeps in memory; the columns with the most distinct values so far: "
        f"{worst}. Bin continuous covariates (e.g. round them or cut them into "
        "intervals) before fitting, or fit a sample in memory")


def _key_parts(labels):
    parts = ["covariates", "groups"]
    if "offset" in labels:
        parts.append("offset")
    parts += [label for label in labels if label.startswith("response ")]
    return parts


def cell_partial(frame, label, coder, labels, limit):
    """The cells of one chunk (``coder``: a ChunkCoder; see the module docstring for
    the keys and sums of each family)."""
    rows = coder.code(frame, label)
    kind = coder.family.kind
    n = rows.n
    parts = [rows.X] + list(rows.Z) + [g[:, None].astype(float) for g in rows.group]
    if kind != Kind.FAMILY_POISSON:
        parts.append(rows.offset[:, None])
    if kind == Kind.FAMILY_NEGBINOMIAL:
        parts.append(rows.y[:, None])
    key = np.hstack(parts)
    if kind == Kind.FAMILY_NEGBINOMIAL:
        size = rows.w
    elif kind == Kind.FAMILY_POISSON:
        size = rows.w.copy()                  # w exp(offset - peak), peak = offset
    else:
        size = rows.w * (rows.trials if rows.trials is not None else 1.0)
    values = np.column_stack([rows.w, rows.w * rows.y, size])
    peak = None
    if n:
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        if kind == Kind.FAMILY_POISSON:
            row_peak = np.where(rows.w > 0, rows.offset, -np.inf)
            peak, values[:, 2] = _exposures(inverse, len(uniq), row_peak, values[:, 2])
        sums = _group_sums(inverse, values, len(uniq))
    else:
        uniq, sums = key, np.zeros((0, 3))
        peak = np.zeros(0) if kind == Kind.FAMILY_POISSON else None
    part = CellPass(uniq, sums, labels, limit, peak)
    part.n_rows, part.n_dropped = n, rows.n_dropped
    part.any_offset = bool(np.any(rows.offset))
    return part


def key_labels(fixed_names, blocks, kind=Kind.FAMILY_BINOMIAL, response="y"):
    """Names of the key's columns, for the too-many-cells error."""
    labels = list(fixed_names)
    for block in blocks:
        labels += [f"{c} in ({' + '.join(block.columns)} | {block.factor})"
                   for c in block.columns]
    labels += [f"group {block.factor}" for block in blocks]
    if kind != Kind.FAMILY_POISSON:
        labels.append("offset")
    if kind == Kind.FAMILY_NEGBINOMIAL:
        labels.append(f"response {response}")
    return labels


class CellMoments:
    """fastgibbs.moments.ArrayMoments over the cells, each weighted by the sum of its
    rows' weights: the same weighted moments as over the rows, to rounding."""

    def __init__(self, X, Zs, weight, any_offset, response_sum=None, exposure_sum=None):
        self.X, self.Zs, self.weight = X, Zs, weight
        self.any_offset = any_offset
        # sum w y and sum w exp(offset) over the rows (log-link default priors)
        self.response_sum, self.exposure_sum = response_sum, exposure_sum

    def x(self, c, center=True):
        return mean_sd(self.X[:, c], self.weight, center=center)

    def x_all_ones(self, c):
        return bool(np.all(self.X[:, c] == 1.0))

    def z(self, k, c, center=True):
        return mean_sd(self.Zs[k][:, c], self.weight, center=center)

    def y(self, center=True):                  # pragma: no cover - gaussian only
        raise NotImplementedError("cells carry no gaussian response")

    @property
    def has_offset(self):
        return self.any_offset

    def prior_scale(self, family):
        return family.prior_scale_from(self)

    def dispersion_priors(self, family):
        return family.dispersion_priors_from(self)


def split_keys(found, p, blocks, kind):
    """The cells of a CellPass: (X (n_cells, p), [Z_k], [group_k], weight, y, n,
    offset), y, n and offset as the kernel takes them (samplers/problem.py, _cells)."""
    keys, sums = found.keys, found.sums
    X = np.ascontiguousarray(keys[:, :p])
    start, Zs = p, []
    for block in blocks:
        Zs.append(np.ascontiguousarray(keys[:, start:start + block.n_re]))
        start += block.n_re
    groups = []
    for _ in blocks:
        groups.append(keys[:, start].astype(np.intp))
        start += 1
    weight = np.ascontiguousarray(sums[:, 0])
    if kind == Kind.FAMILY_POISSON:
        with np.errstate(divide="ignore"):
            offset = np.where(sums[:, 2] > 0, np.log(sums[:, 2]) + found.peak, -np.inf)
        return X, Zs, groups, weight, sums[:, 1].copy(), np.ones(len(keys)), offset
    offset = np.ascontiguousarray(keys[:, start])
    if kind == Kind.FAMILY_NEGBINOMIAL:
        return X, Zs, groups, weight, keys[:, start + 1].copy(), weight.copy(), offset
    return X, Zs, groups, weight, sums[:, 1].copy(), sums[:, 2].copy(), offset


def cell_statistics_of(design, X, Zs, groups, cy, cn, coff, weight):
    """The samplers.problem.Statistics of ``design`` (a StreamedDesign without
    statistics; its moments a CellMoments of these cells) from the cells (as
    split_keys gives them)."""
    family = design.family
    tf = transform_from_moments(design, design.moments)
    X_int = (X - tf.x_center) / tf.x_scale if X.shape[1] else X
    X_int = np.ascontiguousarray(X_int, dtype=float)
    blocks = [SimpleNamespace(group=g, Z=Z / zs, n_groups=b.n_groups, n_re=b.n_re)
              for b, g, Z, zs in zip(design.blocks, groups, Zs, tf.z_scale)]
    p = X_int.shape[1]
    offs = _block_offsets(blocks, p)
    keep = kept_cells(family.kind, cn, coff)
    cell_blocks = [(b.group[keep], np.ascontiguousarray(b.Z[keep])) for b in blocks]
    cells = cell_arrays(X_int[keep], cell_blocks, cy[keep], cn[keep], coff[keep])
    pairs, stats, mixtures = cell_statistics(family, cells, cell_blocks, offs, p,
                                             float(np.sum(weight)))
    xwx = (X_int * weight[:, None]).T @ X_int
    return Statistics(transform=tf, stats=stats, pairs=pairs, xwx=xwx,
                      group_moments=_group_column_moments(blocks, weight), spread=None,
                      cells=cells, mixtures=mixtures, row_cell=None)
