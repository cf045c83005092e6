"""Bernoulli and binomial models streamed from files: the rows collapse to cells.

The binomial likelihood depends on the rows only through the cells of identical
covariates, groups and offset (samplers/problem.py, _cells): the successes and trials
add up within a cell. The statistics pass keeps, per distinct key [X, Z_k, g_k,
offset] (raw values), the sums of w, w y and w trials, merging chunks by np.unique.
The centring and scaling of the kernel's parametrisation are increasing maps of each
column, so the cells come out in the order the in-memory code gives them, and the
kernel's input equals the in-memory one up to the rounding of the sums.

The number of cells grows with the distinct values of continuous covariates: past
``max_cells`` the pass stops with an error that names the columns with the most
distinct values and suggests binning them.
"""
from types import SimpleNamespace

import numpy as np

from ..moments import mean_sd
from ..samplers.problem import (Statistics, _block_offsets, _group_column_moments,
                                _group_sums, cell_arrays, cell_statistics, kept_cells,
                                transform_from_moments)

__all__ = ["MAX_CELLS", "CellPass", "CellMoments", "cell_partial", "cell_statistics_of"]

# cells kept in memory at most (each holds p + sum_k (q_k + 1) + 4 doubles)
MAX_CELLS = 2_000_000


class TooManyCells(ValueError):
    pass


class CellPass:
    """Distinct keys (n_cells, m) in sorted order and their sums (n_cells, 3): w, w y,
    w trials. ``labels`` names the key's columns; ``limit`` the cells allowed."""

    def __init__(self, keys, sums, labels, limit):
        self.keys, self.sums, self.labels, self.limit = keys, sums, labels, limit
        self.n_rows = 0
        self.n_dropped = 0
        _check_limit(self)

    def combine(self, other):
        keys = np.concatenate([self.keys, other.keys])
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        sums = _group_sums(inverse.reshape(-1), np.concatenate([self.sums, other.sums]),
                           len(uniq))
        out = CellPass(uniq, sums, self.labels, self.limit)
        out.n_rows = self.n_rows + other.n_rows
        out.n_dropped = self.n_dropped + other.n_dropped
        return out


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
        "the covariates, groups and offset), which a binomial model streamed from files "
        f"keeps in memory; the columns with the most distinct values so far: {worst}. "
        "Bin continuous covariates (e.g. round them or cut them into intervals) before "
        "fitting, or fit a sample in memory")


def cell_partial(frame, label, coder, labels, limit):
    """The cells of one chunk (``coder``: a ChunkCoder)."""
    rows = coder.code(frame, label)
    n = rows.n
    key = np.hstack([rows.X] + list(rows.Z)
                    + [g[:, None].astype(float) for g in rows.group] + [rows.offset[:, None]])
    trials = rows.trials if rows.trials is not None else np.ones(n)
    if n:
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        sums = _group_sums(inverse.reshape(-1),
                           np.column_stack([rows.w, rows.w * rows.y, rows.w * trials]),
                           len(uniq))
    else:
        uniq, sums = key, np.zeros((0, 3))
    part = CellPass(uniq, sums, labels, limit)
    part.n_rows, part.n_dropped = n, rows.n_dropped
    return part


def key_labels(fixed_names, blocks):
    """Names of the key's columns, for the too-many-cells error."""
    labels = list(fixed_names)
    for block in blocks:
        labels += [f"{c} in ({' + '.join(block.columns)} | {block.factor})"
                   for c in block.columns]
    labels += [f"group {block.factor}" for block in blocks] + ["offset"]
    return labels


class CellMoments:
    """fastgibbs.moments.ArrayMoments over the cells, each weighted by the sum of its
    rows' weights: the same weighted moments as over the rows, to rounding."""

    def __init__(self, X, Zs, offset, weight):
        self.X, self.Zs, self.offset, self.weight = X, Zs, offset, weight

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
        return bool(np.any(self.offset))

    def prior_scale(self, family):
        return family.prior_scale_from(self)

    def dispersion_priors(self, family):
        return family.dispersion_priors_from(self)


def split_keys(found, p, blocks):
    """(X (n_cells, p), [Z_k], [group_k], offset) of the cells' keys."""
    keys = found.keys
    X = np.ascontiguousarray(keys[:, :p])
    start, Zs = p, []
    for block in blocks:
        Zs.append(np.ascontiguousarray(keys[:, start:start + block.n_re]))
        start += block.n_re
    groups = []
    for _ in blocks:
        groups.append(keys[:, start].astype(np.intp))
        start += 1
    return X, Zs, groups, np.ascontiguousarray(keys[:, start])


def cell_statistics_of(design, X, Zs, groups, offset, sums):
    """The samplers.problem.Statistics of ``design`` (a StreamedDesign without
    statistics; its moments a CellMoments of these cells) from the cells."""
    family = design.family
    weight, wy, wn = sums[:, 0], sums[:, 1], sums[:, 2]
    tf = transform_from_moments(design, design.moments)
    X_int = (X - tf.x_center) / tf.x_scale if X.shape[1] else X
    X_int = np.ascontiguousarray(X_int, dtype=float)
    blocks = [SimpleNamespace(group=g, Z=Z / zs, n_groups=b.n_groups, n_re=b.n_re)
              for b, g, Z, zs in zip(design.blocks, groups, Zs, tf.z_scale)]
    p = X_int.shape[1]
    offs = _block_offsets(blocks, p)
    keep = kept_cells(family.kind, wn, offset)
    cell_blocks = [(b.group[keep], np.ascontiguousarray(b.Z[keep])) for b in blocks]
    cells = cell_arrays(X_int[keep], cell_blocks, wy[keep], wn[keep], offset[keep])
    pairs, stats, mixtures = cell_statistics(family, cells, cell_blocks, offs, p,
                                             float(np.sum(weight)))
    xwx = (X_int * weight[:, None]).T @ X_int
    return Statistics(transform=tf, stats=stats, pairs=pairs, xwx=xwx,
                      group_moments=_group_column_moments(blocks, weight), spread=None,
                      cells=cells, mixtures=mixtures, row_cell=None)
