"""The second and third passes over streamed data: the columns' moments, then the
gaussian sufficient statistics on the kernel's scale.

Each pass maps a chunk of rows to a partial result and reduces the partials with
their ``combine`` method (fastgibbs.streaming.source): only sums are kept, so memory
is bounded by the statistics (O(p^2 + sum_k J_k q_k (p + q_k)) plus the cells between
blocks), not by the rows.

The moments (weighted mean and sum of squared deviations of every column) combine by
the pairwise update of Chan, Golub & LeVeque (1983, eq. 2.1), so they keep the
precision of the two-pass formula that fastgibbs.moments.mean_sd uses in memory. With
the column means known, the third pass forms the statistics of the centred and scaled
columns chunk by chunk exactly as samplers/problem.py forms them for all rows at
once; the sums then differ from the in-memory ones by rounding only.
"""
from types import SimpleNamespace

import numpy as np

from ..samplers.problem import _gaussian_statistics, _group_sums

__all__ = ["ColumnMoments", "MomentPass", "StatisticPass", "moment_partial",
           "statistic_partial"]


class ColumnMoments:
    """Weighted moments of the columns of a matrix V (n, m) with weights w (n,):
    ``weight`` sum w, ``mean`` (m,), ``m2`` (m,) sum w (v - mean)^2, ``ones`` (m,)
    whether every value is 1."""

    def __init__(self, V, w):
        V = np.asarray(V, dtype=float).reshape(len(w), -1)
        self.weight = float(np.sum(w))
        if self.weight > 0:
            self.mean = (w @ V) / self.weight
        else:
            self.mean = np.zeros(V.shape[1])
        D = V - self.mean
        D *= D
        self.m2 = w @ D
        self.ones = (np.min(V, axis=0) == 1.0) & (np.max(V, axis=0) == 1.0) if len(V) \
            else np.ones(V.shape[1], dtype=bool)

    def combine(self, other):
        out = ColumnMoments.__new__(ColumnMoments)
        n = self.weight + other.weight
        out.weight = n
        if n > 0:
            delta = other.mean - self.mean
            out.mean = self.mean + delta * (other.weight / n)
            out.m2 = self.m2 + other.m2 + delta * delta * (self.weight * other.weight / n)
        else:
            out.mean, out.m2 = self.mean, self.m2 + other.m2
        out.ones = self.ones & other.ones
        return out

    def mean_sd(self, c, center=True):
        """(mean, sd) of column c as fastgibbs.moments.mean_sd gives them; (0, root mean
        square) when not ``center``."""
        if self.weight <= 0:
            return 0.0, float("nan")
        if center:
            return float(self.mean[c]), float(np.sqrt(max(self.m2[c], 0.0) / self.weight))
        # sum w v^2 = m2 + W mean^2: a sum of two terms >= 0, so no cancellation
        sq = max(self.m2[c], 0.0) + self.weight * self.mean[c] ** 2
        return 0.0, float(np.sqrt(sq / self.weight))


class MomentPass:
    """The second pass's partial result: moments of X (every fixed column), of each
    block's Z and of the effective response y - offset; row counts."""

    def __init__(self, rows):
        w = rows.w
        self.n_rows = rows.n
        self.n_dropped = rows.n_dropped
        self.x = ColumnMoments(rows.X, w)
        self.z = [ColumnMoments(Z, w) for Z in rows.Z]
        self.y = ColumnMoments(rows.y - rows.offset, w)
        self.any_offset = bool(np.any(rows.offset))

    def combine(self, other):
        out = MomentPass.__new__(MomentPass)
        out.n_rows = self.n_rows + other.n_rows
        out.n_dropped = self.n_dropped + other.n_dropped
        out.x = self.x.combine(other.x)
        out.z = [a.combine(b) for a, b in zip(self.z, other.z)]
        out.y = self.y.combine(other.y)
        out.any_offset = self.any_offset or other.any_offset
        return out


def moment_partial(frame, label, coder):
    """The second pass over one chunk (``coder``: a ChunkCoder)."""
    return MomentPass(coder.code(frame, label))


class StatisticPass:
    """The third pass's partial result: the gaussian statistics (samplers/problem.py,
    _gaussian_statistics) of the centred and scaled columns, and per ordered pair of
    blocks (k, l) the non-empty cells of Z_k'W Z_l as (sorted keys g_k * J_l + g_l,
    sums (n_cells, q_k q_l))."""

    def __init__(self, stats, tables):
        self.stats = stats
        self.tables = tables

    def combine(self, other):
        stats = {key: self.stats[key] + other.stats[key] for key in self.stats}
        tables = {}
        for pair, (keys, sums) in self.tables.items():
            keys2, sums2 = other.tables[pair]
            uniq, inverse = np.unique(np.concatenate([keys, keys2]), return_inverse=True)
            tables[pair] = (uniq, _group_sums(inverse.ravel(), np.concatenate([sums, sums2]),
                                              len(uniq)))
        return StatisticPass(stats, tables)


def statistic_partial(frame, label, coder, transform, n_groups):
    """The third pass over one chunk: its rows coded, centred and scaled by
    ``transform`` (a samplers.problem.Transform over every fixed column), summed.
    ``n_groups`` (B,) the number of groups of each block."""
    rows = coder.code(frame, label)
    tf = transform
    w = rows.w
    X = (rows.X - tf.x_center) / tf.x_scale if rows.X.shape[1] else rows.X
    y = (rows.y - rows.offset - tf.y_shift) / tf.y_scale
    blocks = [SimpleNamespace(group=g, Z=Z / zs, n_groups=int(J), n_re=Z.shape[1])
              for g, Z, zs, J in zip(rows.group, rows.Z, tf.z_scale, n_groups)]
    stats = _gaussian_statistics(np.asarray(X, dtype=float), y, blocks, w)
    tables = {}
    for k, bk in enumerate(blocks):
        for l, bl in enumerate(blocks):
            if k == l:
                continue
            # the products as samplers/problem.py pair_cells forms them
            key = bk.group.astype(np.int64) * n_groups[l] + bl.group
            uniq, inverse = np.unique(key, return_inverse=True)
            prods = np.stack([bk.Z[:, c] * bl.Z[:, c2] for c in range(bk.n_re)
                              for c2 in range(bl.n_re)], axis=1) * w[:, None]
            tables[k, l] = (uniq, _group_sums(inverse.ravel(), prods, len(uniq)))
    return StatisticPass(stats, tables)
