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

    @classmethod
    def of_rows(cls, Vt, w, weight):
        """The moments of the columns of V from Vt = V' (m, n), C-ordered, and
        ``weight`` = sum w: the same as ``ColumnMoments(V, w)``, reading rows."""
        out = cls.__new__(cls)
        out.weight = float(weight)
        # einsum, not BLAS: a matrix-vector product of one or two rows gains nothing
        # from OpenBLAS's threads, which spin on a busy machine
        out.mean = np.einsum("in,n->i", Vt, w) / out.weight if out.weight > 0 \
            else np.zeros(len(Vt))
        D = Vt - out.mean[:, None]
        D *= D
        out.m2 = np.einsum("in,n->i", D, w)
        out.ones = (np.min(Vt, axis=1) == 1.0) & (np.max(Vt, axis=1) == 1.0) \
            if Vt.shape[1] else np.ones(len(Vt), dtype=bool)
        return out

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
            if np.array_equal(keys, keys2):       # the same cells (nested blocks)
                out.tables[pair] = (keys, sums + sums2)
                continue
            uniq, inverse = np.unique(np.concatenate([keys, keys2]), return_inverse=True)
            out.tables[pair] = (uniq, _group_sums(inverse.ravel(),
                                                  np.concatenate([sums, sums2]), len(uniq)))
        return out


# pairs of blocks with at most this many possible cells (J_k J_l) are summed by
# np.bincount over the cell keys (a transient array of that many doubles per sum);
# larger (crossed factors with many levels) by np.unique over the chunk's keys
DENSE_PAIR_CELLS = 1 << 21


def statistic_partial(frame, label, coder, c0, n_groups):
    """The statistics pass over one chunk (``coder``: a ChunkCoder; ``c0`` (p + 1,)
    the provisional centre; ``n_groups`` (B,) groups per block).

    The columns are held as the rows of (m, n) arrays, so that every sum (np.bincount
    per group, BLAS for the Gram matrix, min/max) reads contiguous memory."""
    rows = coder.code(frame, label)
    weighted = rows.weighted
    w = rows.w
    n, p = rows.X.shape
    At = np.empty((p + 1, n))
    At[:p] = rows.X.T
    np.subtract(rows.y, rows.offset, out=At[p])
    At -= c0[:, None]
    Atw = At * w if weighted else At           # w is all ones otherwise
    part = StatisticPass.__new__(StatisticPass)
    part.gram = Atw @ At.T
    part.sums = Atw.sum(axis=1)
    part.weight = float(np.sum(w))
    part.n_rows, part.n_dropped = n, rows.n_dropped
    Xt = np.ascontiguousarray(rows.X.T)       # a view of Fortran-ordered X
    part.ones = (np.min(Xt, axis=1) == 1.0) & (np.max(Xt, axis=1) == 1.0) if n \
        else np.ones(p, dtype=bool)
    part.any_offset = bool(np.any(rows.offset))
    part.ztz, part.zta, part.zsum, part.zmom = [], [], [], []
    Zts, Zwts = [], []
    for g, Z, J in zip(rows.group, rows.Z, n_groups):
        q = Z.shape[1]
        Zt = np.ascontiguousarray(Z.T)
        Zwt = Zt * w if weighted else Zt
        zmom = ColumnMoments.of_rows(Zt, w, part.weight)
        ztz, zta, zsum = np.empty((J, q, q)), np.empty((J, q, p + 1)), np.empty((J, q))
        for c in range(q):
            # w z = 1 (an intercept without weights): the products are the other
            # factor itself, the same numbers without n multiplications
            unit = not weighted and zmom.ones[c]

            def times(v):
                return v if unit else Zwt[c] * v
            zsum[:, c] = np.bincount(g, weights=Zwt[c], minlength=J)
            for d in range(q):
                ztz[:, c, d] = np.bincount(g, weights=times(Zt[d]), minlength=J)
            for m in range(p + 1):
                zta[:, c, m] = np.bincount(g, weights=times(At[m]), minlength=J)
        part.ztz.append(ztz)
        part.zta.append(zta)
        part.zsum.append(zsum)
        part.zmom.append(zmom)
        Zts.append(Zt)
        Zwts.append(Zwt)
    part.tables = {}
    B = len(n_groups)
    for k in range(B):
        for l in range(k + 1, B):
            keys, sums = _pair_cells(rows.group[k], rows.group[l], Zwts[k], Zts[l],
                                     int(n_groups[k]), int(n_groups[l]))
            part.tables[k, l] = (keys, sums)
            part.tables[l, k] = _transposed_cells(keys, sums, int(n_groups[k]),
                                                  int(n_groups[l]), len(Zts[k]),
                                                  len(Zts[l]))
    return part


def _pair_cells(gk, gl, Zwt_k, Zt_l, J_k, J_l):
    """The non-empty cells of Z_k'W Z_l in one chunk: (sorted keys g_k J_l + g_l
    (int64), sums (n_cells, q_k q_l)); ``Zwt_k`` (q_k, n) holds w z_k, ``Zt_l``
    (q_l, n) z_l."""
    q_k, q_l = len(Zwt_k), len(Zt_l)
    nested = _nested_cells(gk, gl, J_k, J_l)
    if nested is not None:                  # one cell per group of the finer block
        keys, index, size, pick = nested
    elif J_k * J_l <= DENSE_PAIR_CELLS:
        key = gk.astype(np.int64) * J_l + gl
        keys = np.flatnonzero(np.bincount(key, minlength=J_k * J_l))
        index, size, pick = key, J_k * J_l, keys
    else:
        keys, index = np.unique(gk.astype(np.int64) * J_l + gl, return_inverse=True)
        index, size, pick = index.reshape(-1), len(keys), None
    sums = np.empty((len(keys), q_k * q_l))
    for c in range(q_k):
        for d in range(q_l):
            total = np.bincount(index, weights=Zwt_k[c] * Zt_l[d], minlength=size)
            sums[:, c * q_l + d] = total if pick is None else total[pick]
    return keys.astype(np.int64), sums


def _nested_cells(gk, gl, J_k, J_l):
    """When, in this chunk, every group of one block meets a single group of the
    other (nested factors, e.g. groups in regions): (sorted keys g_k J_l + g_l, the
    finer block's groups (n,) to sum over, their count, the groups of the cells in key
    order). None otherwise."""
    for fine, coarse, J_fine in ((gl, gk, J_l), (gk, gl, J_k)):
        parent = np.zeros(J_fine, dtype=np.intp)
        parent[fine] = coarse
        if not np.array_equal(parent[fine], coarse):
            continue
        present = np.flatnonzero(np.bincount(fine, minlength=J_fine))
        if fine is gl:
            keys = parent[present].astype(np.int64) * J_l + present
            order = np.argsort(keys, kind="stable")
            return keys[order], fine, J_fine, present[order]
        return present.astype(np.int64) * J_l + parent[present], fine, J_fine, present
    return None


def _transposed_cells(keys, sums, J_k, J_l, q_k, q_l):
    """The cells of Z_l'W Z_k from those of Z_k'W Z_l (its transpose)."""
    tkey = (keys % J_l) * J_k + keys // J_l
    order = np.argsort(tkey, kind="stable")
    tsums = sums.reshape(-1, q_k, q_l).transpose(0, 2, 1).reshape(-1, q_l * q_k)
    return tkey[order], np.ascontiguousarray(tsums[order])


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
