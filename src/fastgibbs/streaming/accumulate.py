"""The statistics pass over streamed data: the gaussian sufficient statistics and
the columns' moments, in one pass after the levels pass.

The pass maps a chunk of rows to a partial result and reduces the partials with their
``combine`` method (fastgibbs.streaming.source): only sums are kept, so memory is
bounded by the statistics (O(p^2 + sum_k J_k q_k (p + q_k)) plus the cells between
blocks), not by the rows.

The kernel wants the statistics of the centred and scaled columns, (x - c) / s, whose
centre c (the weighted means) is known only after the pass. The pass therefore sums
the columns shifted by a provisional centre c0 (the means of the first chunk) and
:func:`centred` moves the sums to c afterwards, exactly in algebra:

    sum w (a - c)(b - c_b) = sum w (a - c0)(b - c0_b) - s_a d_b - d_a s_b + W d_a d_b

with d = c - c0 and s = sum w (a - c0): the shifted-data algorithm (Chan, Golub &
LeVeque 1983, section 3), whose rounding error grows with (d / sd)^2 only, so the
statistics equal the in-memory ones (which centre first) to rounding whenever c0 is
within a few sds of c. The scaling by s and by the rms of Z is a division after the
sums. The columns' moments (means, sums of squares about the mean) come from the same
sums; those of Z, which is not centred, are summed as :class:`ColumnMoments`, combined
by the pairwise update of Chan, Golub & LeVeque (1983, eq. 2.1).
"""
import numpy as np

from ..samplers.problem import _group_sums

__all__ = ["ColumnMoments", "MomentSummary", "StatisticPass", "centred", "moments_of",
           "provisional_centre", "statistic_partial"]


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


class MomentSummary:
    """What StreamedMoments reads: ``x`` and ``y`` (ColumnMoments of the fixed columns
    and of y - offset), ``z`` (per block), ``any_offset``."""

    def __init__(self, x, y, z, any_offset):
        self.x, self.y, self.z, self.any_offset = x, y, z, any_offset


def _moments(weight, mean, m2, ones):
    out = ColumnMoments.__new__(ColumnMoments)
    out.weight, out.mean, out.m2, out.ones = float(weight), mean, m2, ones
    return out


def provisional_centre(frame, label, coder):
    """(c0, spread, z_size) of one chunk: c0 (p + 1,) the weighted means of the fixed
    columns and of y - offset (zeros where the chunk has no weight); spread (p + 1,)
    max |a - c0| of those columns; z_size per block (q_k,) max |z|."""
    rows = coder.code(frame, label)
    A = np.column_stack([rows.X, rows.y - rows.offset])
    weight = float(np.sum(rows.w))
    c0 = (rows.w @ A) / weight if weight > 0 else np.zeros(A.shape[1])
    spread = np.max(np.abs(A - c0), axis=0) if len(A) else np.zeros(A.shape[1])
    z_size = [np.max(np.abs(Z), axis=0) if len(Z) else np.zeros(Z.shape[1])
              for Z in rows.Z]
    return c0, spread, z_size


class StatisticPass:
    """The partial sums of some rows, the columns a = [X, y - offset] shifted by c0:
    ``gram`` (p+1, p+1) sum w (a - c0)(a - c0)'; ``sums`` (p+1,) sum w (a - c0);
    ``weight``; ``ones`` (p,) whether each fixed column is all ones; per block k:
    ``ztz[k]`` (J, q, q) sum w z z', ``zta[k]`` (J, q, p+1) sum w z (a - c0)',
    ``zsum[k]`` (J, q) sum w z, ``zmom[k]`` ColumnMoments of Z; ``tables[k, l]`` the
    non-empty cells of Z_k'W Z_l as (sorted keys g_k J_l + g_l, sums (n_cells, q_k
    q_l)); row counts."""

    def combine(self, other):
        out = StatisticPass.__new__(StatisticPass)
        for key in ("gram", "sums", "weight", "n_rows", "n_dropped"):
            setattr(out, key, getattr(self, key) + getattr(other, key))
        out.ones = self.ones & other.ones
        out.any_offset = self.any_offset or other.any_offset
        for key in ("ztz", "zta", "zsum"):
            setattr(out, key, [a + b for a, b in zip(getattr(self, key), getattr(other, key))])
        out.zmom = [a.combine(b) for a, b in zip(self.zmom, other.zmom)]
        out.tables = {}
        for pair, (keys, sums) in self.tables.items():
            keys2, sums2 = other.tables[pair]
            uniq, inverse = np.unique(np.concatenate([keys, keys2]), return_inverse=True)
            out.tables[pair] = (uniq, _group_sums(inverse.ravel(),
                                                  np.concatenate([sums, sums2]), len(uniq)))
        return out


def statistic_partial(frame, label, coder, c0, n_groups):
    """The statistics pass over one chunk (``coder``: a ChunkCoder; ``c0`` (p + 1,)
    the provisional centre; ``n_groups`` (B,) groups per block)."""
    rows = coder.code(frame, label)
    w = rows.w
    n, p = rows.X.shape
    A = np.empty((n, p + 1))
    A[:, :p] = rows.X
    A[:, p] = rows.y - rows.offset
    A -= c0
    Aw = A * w[:, None]
    part = StatisticPass.__new__(StatisticPass)
    part.gram = Aw.T @ A
    part.sums = Aw.sum(axis=0)
    part.weight = float(np.sum(w))
    part.n_rows, part.n_dropped = n, rows.n_dropped
    part.ones = (np.min(rows.X, axis=0) == 1.0) & (np.max(rows.X, axis=0) == 1.0) if n \
        else np.ones(p, dtype=bool)
    part.any_offset = bool(np.any(rows.offset))
    part.ztz, part.zta, part.zsum, part.zmom = [], [], [], []
    for g, Z, J in zip(rows.group, rows.Z, n_groups):
        q = Z.shape[1]
        Zw = Z * w[:, None]
        zz = (Zw[:, :, None] * Z[:, None, :]).reshape(n, q * q)
        za = (Zw[:, :, None] * A[:, None, :]).reshape(n, q * (p + 1))
        part.ztz.append(_group_sums(g, zz, J).reshape(J, q, q))
        part.zta.append(_group_sums(g, za, J).reshape(J, q, p + 1))
        part.zsum.append(_group_sums(g, Zw, J))
        part.zmom.append(ColumnMoments(Z, w))
    part.tables = {}
    for k, (gk, Zk) in enumerate(zip(rows.group, rows.Z)):
        for l, (gl, Zl) in enumerate(zip(rows.group, rows.Z)):
            if k == l:
                continue
            key = gk.astype(np.int64) * n_groups[l] + gl
            uniq, inverse = np.unique(key, return_inverse=True)
            prods = ((Zk * w[:, None])[:, :, None] * Zl[:, None, :]).reshape(n, -1)
            part.tables[k, l] = (uniq, _group_sums(inverse.ravel(), prods, len(uniq)))
    return part


def moments_of(summed, c0):
    """The columns' moments (a MomentSummary) from the pass's sums."""
    W = summed.weight
    if W > 0:
        mean = c0 + summed.sums / W
        m2 = np.maximum(np.diag(summed.gram) - summed.sums ** 2 / W, 0.0)
    else:
        mean, m2 = np.zeros_like(c0), np.zeros_like(c0)
    p = len(c0) - 1
    x = _moments(W, mean[:p], m2[:p], summed.ones)
    y = _moments(W, mean[p:], m2[p:], np.zeros(1, dtype=bool))
    return MomentSummary(x=x, y=y, z=summed.zmom, any_offset=summed.any_offset)


def centred(summed, c0, transform, n_groups):
    """The gaussian statistics of samplers/problem.py (_gaussian_statistics: n_obs,
    yty, xtx, xty, ztz, ztx, zty) of the centred and scaled columns, and the cell
    tables scaled, from the pass's sums (see the module docstring)."""
    tf = transform
    p = len(c0) - 1
    centre = np.append(tf.x_center, tf.y_shift)
    scale = np.append(tf.x_scale, tf.y_scale)
    d = centre - c0
    s, W = summed.sums, summed.weight
    G = summed.gram - np.outer(s, d) - np.outer(d, s) + W * np.outer(d, d)
    G = G / np.outer(scale, scale)
    stats = {"n_obs": W, "yty": float(G[p, p]), "xtx": np.ascontiguousarray(G[:p, :p]),
             "xty": np.ascontiguousarray(G[:p, p])}
    ztz, ztx, zty = [], [], []
    for k, zs in enumerate(tf.z_scale):
        ztz.append((summed.ztz[k] / np.outer(zs, zs)).ravel())
        za = summed.zta[k] - summed.zsum[k][:, :, None] * d[None, None, :]
        za = za / zs[None, :, None] / scale[None, None, :]
        ztx.append(np.ascontiguousarray(za[:, :, :p]).ravel())
        zty.append(np.ascontiguousarray(za[:, :, p]).ravel())
    stats.update(ztz=_cat(ztz), ztx=_cat(ztx), zty=_cat(zty))
    tables = {}
    for (k, l), (keys, sums) in summed.tables.items():
        tables[k, l] = (keys, sums / np.outer(tf.z_scale[k], tf.z_scale[l]).ravel())
    return stats, tables


def _cat(parts):
    return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(0)
