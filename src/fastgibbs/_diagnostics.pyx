# cython: language_level=3
"""Compiled row kernels of fastgibbs.diagnostics (Vehtari et al. 2021 diagnostics).

Rows are parameters: draws ``(P, M, n)`` (M chains of n draws) or pooled ``(P, S)``.
Every function validates nothing: fastgibbs.diagnostics passes finite, C-contiguous
float64 rows of matching shapes, and releases the GIL around the loops, so that its
parameter blocks may run in parallel threads.

* `ess_rows`: effective sample size by Stan's rule (Geyer's initial monotone sequence),
  with the autocovariances computed lag by lag directly, four lags per pass, only as far
  as the sequence runs.  For well-mixing chains that is a handful of lags, far cheaper
  than a zero-padded FFT of every chain; rows whose sequence has not stopped within
  ``max_lags`` lags are flagged, and the caller computes them by FFT.  The ESS of an
  indicator ``I(y <= threshold)`` (the tail ESS) packs each chain's indicators into
  64-bit words: a lag's autocovariance is then a count of coinciding bits (popcounts
  of shifted words, 64 draws per operation), exact in integers.
* `normal_scores`: rank normalization from a sort (average ranks for ties), of the draws
  or of their folded values ``|y - median|`` (whose order is a linear-time merge of the
  two monotone runs either side of the median).
* `rhat_rows`: the basic potential scale reduction of each row.
"""
from libc.math cimport INFINITY, NAN, fabs, log10, sqrt
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #if defined(__GNUC__) && defined(__POPCNT__)
    static inline int fg_popcount(unsigned long long x) { return __builtin_popcountll(x); }
    #else
    static inline int fg_popcount(unsigned long long x) {   /* SWAR bit count */
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
        return (int)((x * 0x0101010101010101ULL) >> 56);
    }
    #endif
    """
    int fg_popcount(uint64_t x) noexcept nogil

cdef extern from *:
    """
    #if defined(__GNUC__)
    #define fg_prefetch(p) __builtin_prefetch((p), 0, 0)
    #else
    #define fg_prefetch(p) ((void)0)
    #endif
    """
    void fg_prefetch(const void *p) noexcept nogil

import numpy as np

cdef double CONSTANT_RANGE = 1e-15    # ArviZ's test for constant draws (np.finfo.resolution)


cdef void lags_four(const double[:, ::1] c, Py_ssize_t t, double[::1] gamma) noexcept nogil:
    """gamma[t + l] = sum over chains m of sum_i c[m, i] c[m, i + t + l], l = 0..3.

    Needs t + 3 <= n - 1.  One pass over the chains for four lags; the common loop is
    written plainly so that the compiler vectorizes its four sums (setup.py lets it
    reassociate them)."""
    cdef Py_ssize_t M = c.shape[0], n = c.shape[1], m, i, j, common = n - t - 3
    cdef double a, s0 = 0, s1 = 0, s2 = 0, s3 = 0
    for m in range(M):
        for i in range(common):
            a = c[m, i]
            s0 += a * c[m, i + t]
            s1 += a * c[m, i + t + 1]
            s2 += a * c[m, i + t + 2]
            s3 += a * c[m, i + t + 3]
        # the last three draws pair with fewer lags: lag t + l runs to i = n - 1 - t - l
        for j in range(3):
            i = common + j
            a = c[m, i]
            s0 += a * c[m, i + t]
            if j < 2:
                s1 += a * c[m, i + t + 1]
            if j < 1:
                s2 += a * c[m, i + t + 2]
    gamma[t] = s0
    gamma[t + 1] = s1
    gamma[t + 2] = s2
    gamma[t + 3] = s3


cdef double lag_one(const double[:, ::1] c, Py_ssize_t t) noexcept nogil:
    """sum over chains of sum_i c[m, i] c[m, i + t]."""
    cdef Py_ssize_t M = c.shape[0], n = c.shape[1], m, i
    cdef double s = 0
    for m in range(M):
        for i in range(n - t):
            s += c[m, i] * c[m, i + t]
    return s


cdef inline Py_ssize_t prefix_ones(const uint64_t[:, ::1] words, const Py_ssize_t[:, ::1] cum,
                                   Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """The number of ones among the first ``k`` bits of chain m (``cum[m, j]``: ones in
    its first j words)."""
    cdef Py_ssize_t word = k >> 6, bit = k & 63
    if bit == 0:
        return cum[m, word]
    return cum[m, word] + fg_popcount(words[m, word] & ((<uint64_t>1 << bit) - 1))


cdef double bit_lag(const uint64_t[:, ::1] words, const Py_ssize_t[:, ::1] cum,
                    const double[::1] chain_mean, Py_ssize_t n, Py_ssize_t t) noexcept nogil:
    """sum over chains of sum_{i < n - t} (b_i - mu)(b_{i+t} - mu), for the indicators b
    of each chain packed in ``words`` (bit i & 63 of word i >> 6; zero past n) and mu
    their mean: ``C - mu (H + T) + mu^2 (n - t)``, with C the number of i for which
    b_i = b_{i+t} = 1, H the ones among b_0..b_{n-t-1} and T among b_t..b_{n-1}."""
    cdef Py_ssize_t M = words.shape[0], nw = words.shape[1], m, k, q = t >> 6, r = t & 63
    cdef Py_ssize_t count, head, tail
    cdef double mu, s = 0
    for m in range(M):
        count = 0
        if r == 0:
            for k in range(nw - q):
                count += fg_popcount(words[m, k] & words[m, k + q])
        elif q < nw:
            # bits t.. of the chain, aligned with bit 0: each word joins two
            for k in range(nw - q - 1):
                count += fg_popcount(words[m, k] & ((words[m, k + q] >> r)
                                                    | (words[m, k + q + 1] << (64 - r))))
            k = nw - q - 1
            count += fg_popcount(words[m, k] & (words[m, k + q] >> r))
        head = prefix_ones(words, cum, m, n - t)
        tail = cum[m, nw] - prefix_ones(words, cum, m, t)
        mu = chain_mean[m]
        s += count - mu * (head + tail) + mu * mu * (n - t)
    return s


cdef double geyer_ess(bint bits, const double[:, ::1] c, const uint64_t[:, ::1] words,
                      const Py_ssize_t[:, ::1] cum, const double[::1] chain_mean,
                      Py_ssize_t M, Py_ssize_t n, double between, double[::1] gamma,
                      Py_ssize_t max_lags, bint* complete) noexcept nogil:
    """``ESS = M n / max(tau, 1 / log10(M n))`` with Stan's tau (see
    fastgibbs.diagnostics._geyer_tau, of which this is the sequential form):
    rho_t = 1 - (W - mean_m gamma_mt) / var_plus, pair sums P_k = rho_2k + rho_2k+1 kept
    while positive (at most up to pair (n - 3) // 2), made monotone, plus the stopping
    pair's first lag if positive.  The autocovariance sums ``gamma`` are computed as the
    sequence needs them: from the centred chains ``c`` (M, n), or with ``bits`` from
    the packed indicators ``words`` (`bit_lag`).  ``complete`` is set False, and NaN
    returned, when the sequence needs more than ``max_lags`` lags."""
    cdef Py_ssize_t k, t, n_pairs, computed = 0
    cdef double within, var_plus, pair = 0, run_min = INFINITY, acc = 0, even, tau, v
    cdef double size = <double>(M * n), scale = 1.0 / (<double>n * M)
    complete[0] = True
    n_pairs = (n - 3) // 2 if n >= 3 else 0
    k = 0
    while True:
        t = 2 * k + 1                     # the pair needs lags up to t
        if t >= max_lags:
            complete[0] = False
            return NAN
        while computed <= t:              # autocovariances of the next lags
            if bits:
                gamma[computed] = bit_lag(words, cum, chain_mean, n, computed)
                computed += 1
            elif computed + 3 <= n - 1:
                lags_four(c, computed, gamma)
                computed += 4
            else:
                gamma[computed] = lag_one(c, computed)
                computed += 1
        if k == 0:
            within = gamma[0] * scale * n / (n - 1.0)
            var_plus = within * (n - 1.0) / n + between
        pair = (2.0 - (2.0 * within - (gamma[t - 1] + gamma[t]) * scale) / var_plus
                if k > 0 else
                2.0 - (within - gamma[1] * scale) / var_plus)
        if not (pair > 0) or k == n_pairs:
            break
        if pair < run_min:
            run_min = pair
        acc += run_min
        k += 1
    even = 1.0 if k == 0 else 1.0 - (within - gamma[2 * k] * scale) / var_plus
    tau = -1.0 + 2.0 * acc
    if even > 0 or (k > 0 and pair >= 0):
        tau += even
    v = 1.0 / log10(size)
    return size / (tau if tau > v else v)


cdef double between_chains(const double[::1] chain_mean) noexcept nogil:
    """The variance (ddof 1) of the chain means."""
    cdef Py_ssize_t M = chain_mean.shape[0], m
    cdef double grand = 0, between = 0
    for m in range(M):
        grand += chain_mean[m]
    grand /= M
    for m in range(M):
        between += (chain_mean[m] - grand) * (chain_mean[m] - grand)
    return between / (M - 1)


cdef double row_ess(const double[:, ::1] y, double[:, ::1] c, double[::1] gamma,
                    double[::1] chain_mean, Py_ssize_t max_lags, bint* complete) noexcept nogil:
    """ESS of the chains ``y`` (M, n) (`geyer_ess` of the centred chains); M n for
    constant draws (a range below 1e-15, ArviZ's rule)."""
    cdef Py_ssize_t M = y.shape[0], n = y.shape[1], m, i
    cdef double v, s, lo = INFINITY, hi = -INFINITY
    for m in range(M):
        s = 0
        for i in range(n):
            v = y[m, i]
            c[m, i] = v
            s += v
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        chain_mean[m] = s / n
    for m in range(M):
        for i in range(n):
            c[m, i] -= chain_mean[m]
    complete[0] = True
    if hi - lo < CONSTANT_RANGE:
        return <double>(M * n)
    return geyer_ess(False, c, None, None, chain_mean, M, n, between_chains(chain_mean),
                     gamma, max_lags, complete)


cdef double row_ess_below(const double[:, ::1] y, double threshold, uint64_t[:, ::1] words,
                          Py_ssize_t[:, ::1] cum, double[::1] gamma, double[::1] chain_mean,
                          Py_ssize_t max_lags, bint* complete) noexcept nogil:
    """ESS of the indicators ``I(y <= threshold)`` of the chains ``y`` (M, n), packed
    into ``words`` (M, ceil(n / 64)) with their running counts ``cum`` (M, words + 1)."""
    cdef Py_ssize_t M = y.shape[0], n = y.shape[1], nw = words.shape[1], m, k, j, stop
    cdef Py_ssize_t ones = 0
    cdef uint64_t w
    for m in range(M):
        cum[m, 0] = 0
        for k in range(nw):
            w = 0
            stop = 64 if 64 * k + 64 <= n else n - 64 * k
            for j in range(stop):
                w |= (<uint64_t>(y[m, 64 * k + j] <= threshold)) << j
            words[m, k] = w
            cum[m, k + 1] = cum[m, k] + fg_popcount(w)
        chain_mean[m] = <double>cum[m, nw] / n
        ones += cum[m, nw]
    complete[0] = True
    if ones == 0 or ones == M * n:        # constant indicators
        return <double>(M * n)
    return geyer_ess(True, None, words, cum, chain_mean, M, n, between_chains(chain_mean),
                     gamma, max_lags, complete)


def ess_rows(const double[:, :, ::1] y, double[::1] out, unsigned char[::1] complete,
             Py_ssize_t max_lags, const double[::1] threshold=None):
    """ESS of each row of ``y`` (P, M, n) into ``out`` (P,); ``complete[p]`` is 0 where
    row p needs more than ``max_lags`` lags (``out[p]`` is then NaN).  With
    ``threshold`` (P,), the ESS of the indicators ``I(y[p] <= threshold[p])``."""
    cdef Py_ssize_t P = y.shape[0], M = y.shape[1], n = y.shape[2], p
    cdef bint done
    cdef double[:, ::1] c = np.empty((M, n)) if threshold is None else None
    cdef uint64_t[:, ::1] words = None
    cdef Py_ssize_t[:, ::1] cum = None
    cdef double[::1] gamma = np.empty(max_lags + 4)
    cdef double[::1] chain_mean = np.empty(M)
    if threshold is not None:
        words = np.empty((M, (n + 63) // 64), dtype=np.uint64)
        cum = np.empty((M, (n + 63) // 64 + 1), dtype=np.intp)
    with nogil:
        for p in range(P):
            if threshold is None:
                out[p] = row_ess(y[p], c, gamma, chain_mean, max_lags, &done)
            else:
                out[p] = row_ess_below(y[p], threshold[p], words, cum, gamma, chain_mean,
                                       max_lags, &done)
            complete[p] = done


cdef void scatter_scores(const double[::1] values, const Py_ssize_t[::1] position,
                         Py_ssize_t offset, const double[::1] table,
                         double[::1] z) noexcept nogil:
    """z[position[i] - offset] = normal score of the average rank of ascending ``values[i]``:
    table[2 r] holds the score of rank r (halves for ties), so the i-th of a run of
    equal values a..b (0-based) gets table[a + b + 2]."""
    cdef Py_ssize_t S = values.shape[0], a = 0, b, i
    cdef double score
    while a < S:
        b = a
        while b + 1 < S and values[b + 1] == values[a]:
            b += 1
        score = table[a + b + 2]
        for i in range(a, b + 1):
            z[position[i] - offset] = score
        a = b + 1


def sorted_from_keys(const double[:, ::1] values, Py_ssize_t[:, ::1] keys, Py_ssize_t bits,
                     double[:, ::1] sorted_rows):
    """Finish the packed-key argsort of fastgibbs.diagnostics._packed_sort: ``keys``
    (P, S) holds the sorted packed keys (as int64 bit patterns); keep their low ``bits``
    (the column index) plus the row offset p S, so that ``keys`` becomes the flat
    indices of the draws in ascending order, and gather the draws into
    ``sorted_rows``.  Returns the rows whose gathered draws do not ascend (draws that
    agreed in all but the index bits), as a list, for the caller to argsort."""
    cdef Py_ssize_t P = values.shape[0], S = values.shape[1], p, i, column
    cdef Py_ssize_t mask = (<Py_ssize_t>1 << bits) - 1
    cdef bint ascends
    cdef list unsorted = []
    for p in range(P):
        with nogil:
            ascends = True
            for i in range(S):
                column = keys[p, i] & mask
                keys[p, i] = column + p * S
                sorted_rows[p, i] = values[p, column]
                if i > 0 and sorted_rows[p, i] < sorted_rows[p, i - 1]:
                    ascends = False
        if not ascends:
            unsorted.append(p)
    return unsorted


cdef void merge_folded(const Py_ssize_t[::1] order, const double[::1] sorted_row,
                       double[::1] values, Py_ssize_t[::1] position) noexcept nogil:
    """The folded draws ``|draw - median|`` in ascending order (``values``) with the
    flat indices of their draws (``position``), from the sort of the draws.

    Ascending draws fold to a descending run (below the median) and an ascending run.
    Two merges run together, one outwards from the median filling the first half of
    the result and one inwards from the extremes filling the second half (a merge is
    a chain of dependent loads; two chains run in parallel).  Among equal folded values
    the left run comes first in both, so the halves meet exactly.  Each step picks its
    draw by index arithmetic, without a branch (which way a merge goes is a coin flip
    for the branch predictor); ``|d - median|`` equals ``median - d`` below the median
    exactly, as floating subtraction is antisymmetric."""
    cdef Py_ssize_t S = sorted_row.shape[0], lo, hi, k, take, first, last, pick, half = S // 2
    cdef double median = (sorted_row[(S - 1) // 2] + sorted_row[S // 2]) / 2, left, right
    hi = S // 2
    while hi > 0 and sorted_row[hi - 1] >= median:
        hi -= 1
    lo = hi - 1
    first = 0                             # the inward merge's next draws
    last = S - 1
    for k in range(half + S % 2):
        # outwards: the smaller folded value, the left run on ties (an exhausted run is
        # read at a clamped index and never taken)
        left = median - sorted_row[lo if lo > 0 else 0]
        right = sorted_row[hi if hi < S else S - 1] - median
        take = (lo >= 0) & ((hi >= S) | (left <= right))
        pick = hi + (lo - hi) * take
        values[k] = fabs(sorted_row[pick] - median)
        position[k] = order[pick]
        lo -= take
        hi += 1 - take
        if k == half:                     # S odd: the one draw left in the middle
            break
        # inwards: the larger folded value, the right run on ties
        left = median - sorted_row[first]
        right = sorted_row[last] - median
        take = left > right
        pick = last + (first - last) * take
        values[S - 1 - k] = fabs(sorted_row[pick] - median)
        position[S - 1 - k] = order[pick]
        first += take
        last -= 1 - take


def normal_scores(const Py_ssize_t[:, ::1] order, const double[:, ::1] sorted_rows,
                  const double[::1] table, double[::1] z, bint folded):
    """Rank-normalized draws from a sort: ``order`` (P, S) flat indices of the draws in
    ascending order per row, ``sorted_rows`` (P, S) the draws so ordered, ``table`` the
    scores by twice the rank (fastgibbs.diagnostics._score_table); writes ``z`` (P * S,
    laid out as the draws).  With ``folded``, the scores of ``|draw - median|``."""
    cdef Py_ssize_t P = order.shape[0], S = order.shape[1], p
    cdef double[::1] values = np.empty(S)
    cdef Py_ssize_t[::1] position = np.empty(S, dtype=np.intp)
    with nogil:
        for p in range(P):
            if folded:
                merge_folded(order[p], sorted_rows[p], values, position)
                scatter_scores(values, position, 0, table, z)
            else:
                scatter_scores(sorted_rows[p], order[p], 0, table, z)


def folded_rhat(const Py_ssize_t[:, ::1] order, const double[:, ::1] sorted_rows,
                const double[::1] table, Py_ssize_t n_chains, double[::1] out):
    """`rhat_rows` of the rank-normalized folded draws: the scores are scattered back
    to the draws' places in one row's scratch, then summed chain by chain.
    ``order`` holds flat indices into draws (P, n_chains, n), as from
    fastgibbs.diagnostics._rank."""
    cdef Py_ssize_t P = order.shape[0], S = order.shape[1], p, i, m
    cdef Py_ssize_t n = S // n_chains
    cdef double inv_n = 1.0 / n, mean, within, total, square, z
    cdef double[::1] values = np.empty(S)
    cdef Py_ssize_t[::1] position = np.empty(S, dtype=np.intp)
    cdef double[::1] scores = np.empty(S)
    cdef double[::1] chain_mean = np.empty(n_chains)
    with nogil:
        for p in range(P):
            merge_folded(order[p], sorted_rows[p], values, position)
            scatter_scores(values, position, p * S, table, scores)
            within = 0
            for m in range(n_chains):
                total = 0
                square = 0
                for i in range(m * n, (m + 1) * n):
                    z = scores[i]
                    total += z
                    square += z * z
                mean = total * inv_n
                chain_mean[m] = mean
                within += (square - n * mean * mean) / (n - 1)
            within /= n_chains
            out[p] = sqrt((n * between_chains(chain_mean) / within + n - 1) / n)


cdef inline void prefetch_rows(const double[:, ::1] pooled, Py_ssize_t i0, Py_ssize_t i1,
                               Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Ask for the cache lines of columns start..stop-1 of rows i0..i1-1 of ``pooled``
    (rows past its end are skipped)."""
    cdef Py_ssize_t i, c
    if i1 > pooled.shape[0]:
        i1 = pooled.shape[0]
    for i in range(i0, i1):
        for c in range(start, stop, 8):
            fg_prefetch(&pooled[i, c])
        fg_prefetch(&pooled[i, stop - 1])


def gather_rows(const double[:, ::1] pooled, Py_ssize_t start, Py_ssize_t stop,
                double[:, ::1] rows, unsigned char[::1] finite, double[::1] top):
    """Columns start..stop-1 of ``pooled`` (S draws, P parameters) as rows: ``rows[c,
    i] = pooled[i, start + c]`` (a transpose by tiles of 32 draws x 16 columns, which
    stay in cache); ``finite[c]`` = 1 if every draw of that column is finite, and
    ``top[c]`` its largest |draw| (meaningful where finite)."""
    cdef Py_ssize_t S = pooled.shape[0], p = stop - start, i0, c0, i1, c1, i, c
    cdef double a, largest
    cdef int nan_seen
    with nogil:
        prefetch_rows(pooled, 0, 64, start, stop)
        for i0 in range(0, S, 32):
            i1 = i0 + 32 if i0 + 32 < S else S
            # the tile after next: a read takes a line or two of each row, at a stride
            # of a whole row, which the hardware prefetcher follows poorly (a block of
            # 8 NES parameters from memory: 265 -> 125 us)
            prefetch_rows(pooled, i1 + 32, i1 + 64, start, stop)
            for c0 in range(0, p, 16):
                c1 = c0 + 16 if c0 + 16 < p else p
                for i in range(i0, i1):
                    for c in range(c0, c1):
                        rows[c, i] = pooled[i, start + c]
        for c in range(p):
            # two reductions the compiler vectorizes (a NaN is never the largest)
            largest = 0.0
            nan_seen = 0
            for i in range(S):
                a = fabs(rows[c, i])
                largest = a if a > largest else largest
                nan_seen |= a != a
            finite[c] = largest < INFINITY and not nan_seen
            top[c] = largest


def rhat_rows(const double[:, :, ::1] y, double[::1] out):
    """``sqrt((B / W + n - 1) / n)`` of each row of ``y`` (P, M, n) into ``out`` (P,):
    B = n times the variance of the chain means, W the mean within-chain variance
    (both with ddof = 1); NaN or inf where W = 0, as in NumPy."""
    cdef Py_ssize_t P = y.shape[0], M = y.shape[1], n = y.shape[2], p, m, i
    cdef double s, mean, within, d
    cdef double[::1] chain_mean = np.empty(M)
    with nogil:
        for p in range(P):
            within = 0
            for m in range(M):
                s = 0
                for i in range(n):
                    s += y[p, m, i]
                mean = s / n
                chain_mean[m] = mean
                s = 0
                for i in range(n):
                    d = y[p, m, i] - mean
                    s += d * d
                within += s / (n - 1)
            within /= M
            out[p] = sqrt((n * between_chains(chain_mean) / within + n - 1) / n)
