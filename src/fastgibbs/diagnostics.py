"""MCMC convergence diagnostics: rank-normalized split R-hat, bulk/tail ESS, MCSE.

Implements the diagnostics of

    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: An improved R-hat for assessing
    convergence of MCMC. *Bayesian Analysis* 16(2), 667-718. doi:10.1214/20-BA1221

as computed by Stan, the R package ``posterior`` and ArviZ.  The values agree with
ArviZ 0.23 (``az.ess``, ``az.rhat``, ``az.mcse``) to floating-point rounding (the tests
check ``rtol=1e-12``; observed differences are below 1e-14).

Conventions
-----------
Every diagnostic takes draws ``x`` of shape ``(chains, draws)`` or
``(chains, draws, *param_shape)`` and is vectorized over the parameter axes: it
returns an array of shape ``param_shape`` (a numpy float for 2-D input).  Internally
the draws of a block of parameters are held "parameter-major", ``(P, chains, draws)``,
so that sorts and FFTs run along contiguous rows; blocks bound the memory use.

The private building blocks compose like posterior's ``.ess(z_scale(split_chains(x)))``:
``_ess(_z_scale(_split(y)))`` is the bulk ESS of the rows ``y``.

Edge cases (per parameter)
--------------------------
* Fewer than 4 draws per chain, or any non-finite draw (NaN or +-inf): every
  diagnostic is NaN.  (ArviZ also gives NaN for NaN draws but lets +-inf through.)
* Constant draws: every ESS equals the number of draws used,
  ``chains * 2 * (draws // 2)`` (the split drops the middle draw of an odd-length
  chain), and ``rhat`` is NaN (W = 0), as ArviZ.  As there, "constant" means a range
  below 1e-15 of the sequence whose ESS is computed (e.g. the indicator for the tail
  ESS).  If all draws are identical, ``mcse_mean``, ``mcse_sd`` and ``mcse_quantile``
  are 0; ArviZ returns 0, rounding noise (~1e-17, from an inexact mean) or, for
  ``mcse_sd``, NaN (0/0), depending on the value.
* One chain works: it is split into two halves.  For R-hat this deliberately differs
  from ``az.rhat``, which returns NaN for a single chain; we follow posterior and
  return the rank-normalized split R-hat of the two halves.
* The ESS may exceed the number of draws (antithetic chains).  As in Stan and ArviZ it
  is bounded only through ``tau >= 1 / log10(S)``, i.e. ``ESS <= S log10(S)``.

Definitions that differ between packages follow ArviZ 0.23: ``ess_sd`` is the split
ESS of ``(x - mean(x))**2`` without rank normalization, ``mcse_sd`` uses that ESS, and
quantiles are of type 7 (numpy's default ``"linear"``, R's default).

Speed
-----
Per parameter the work is one sort of its ``chains * draws`` draws (a SIMD sort of
packed value/index keys, `_packed_sort`) and linear passes in the compiled kernel
``fastgibbs._diagnostics``: the gather of the sorted draws, the normal scores, the
merge that ranks the folded draws, and four ESS (mean, bulk, two tail quantiles) whose
autocovariances are computed lag by lag only as far as Geyer's sequence runs (an FFT
for the rare sequences longer than ``_DIRECT_LAGS`` lags; the tail quantiles' from
indicators packed 64 to a word).  Inputs of 2^18 draws or more run their parameter
blocks on all cores, on the calling thread and threads kept for the process (the
kernel and numpy's sort release the GIL).  ``summarize`` of 48 parameters x 16,000
draws: ~17-19 ms of CPU time, 10.5-11.7 ms wall on 2 cores (session 11; 110-140 ms of
CPU with FFT-based ESS and numpy rank passes; benchmarks/RESULTS.md).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import wait
from functools import lru_cache
import math
import os
import threading
import warnings

import numpy as np

from fastgibbs import _diagnostics as _rows
from fastgibbs._kept_threads import KeptPool

__all__ = [
    "split_chains",
    "z_scale",
    "ess_basic",
    "ess_bulk",
    "ess_tail",
    "ess_quantile",
    "ess_mean",
    "ess_sd",
    "rhat",
    "mcse_mean",
    "mcse_sd",
    "mcse_quantile",
    "summarize",
]

MIN_DRAWS = 4
"""With fewer draws per chain than this, diagnostics are NaN (as ArviZ and posterior)."""

_CONSTANT_RANGE = np.finfo(float).resolution  # 1e-15: ArviZ's test for constant draws
_TAIL_PROBS = (0.05, 0.95)
_PHI_PM1 = (0.1586553, 0.8413447)  # Phi(-1) and Phi(+1) to 7 digits, as ArviZ
_BLOCK_VALUES = 1 << 17  # draws per block of parameters (1 MB of float64: a block's
#                          temporaries stay in cache and their pages are reused; CPU per
#                          summarize vs 8 MB blocks: NES 48 x 16,000 77 -> 58 ms, 10^4 x
#                          4000 3.2 -> 2.5-2.8 s, InstEval 4104 x 16,000 5.5 -> 5.0 s)
_PARALLEL_VALUES = 1 << 18  # inputs this large (a few ms of work) run their blocks on all
#                            cores; smaller ones do not repay the thread start-up
_MAX_THREADS = 8  # threads on the blocks of one call; the kept workers hold their
#                   scratch arrays (~6 MB each) for the life of the process
_TILE = 128  # rows per tile of the blocked transpose
_UNIT_RANGE = (2.0 ** -400, 2.0 ** 400)  # parameters whose largest |draw| lies outside
#                                          are first scaled by a power of two (exactly),
#                                          so that squares and their sums stay normal
_MAX_INDEX_BITS = 24  # `_packed_sort` packs indices below 2^24 into the mantissa
_DIRECT_LAGS = 48  # autocovariances computed directly up to this lag; longer sequences by
#                    FFT (one FFT of a chain costs about as much as ~40 direct lags)


# ----------------------------------------------------------------------------------
# Layout: user arrays (chains, draws, *param_shape) <-> rows (P, chains, draws)
# ----------------------------------------------------------------------------------
def _as_draws(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"draws must have shape (chains, draws, ...); got shape {x.shape}")
    return x


_SCRATCH = threading.local()


def _scratch(name: str, shape, dtype=float) -> np.ndarray:
    """An uninitialised array of ``shape`` that this thread reuses at the next request of
    the same ``name``: the blocks of `_map_params` ask for the same sizes again, and a
    fresh megabyte costs page faults (a quarter of `summarize`'s CPU on the NES draws).
    Only arrays of at most ``_BLOCK_VALUES`` values are kept (a few MB per thread, for
    the life of the thread: `_WORKERS`'s threads are kept). Such an array must not
    outlive the block that asked for it: nothing returned by this module's public
    functions is one."""
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size > _BLOCK_VALUES:
        return np.empty(shape, dtype)
    pool = _SCRATCH.__dict__.setdefault("pool", {})
    buf = pool.get((name, dtype.char))
    if buf is None or buf.size < size:
        buf = pool[(name, dtype.char)] = np.empty(_BLOCK_VALUES, dtype)
    return buf[:size].reshape(shape)


def _param_rows(pooled: np.ndarray, columns: slice, chains: int):
    """Draws of parameters ``columns`` of ``pooled`` ``(C * N, P)`` as rows ``(p, C, N)``,
    whether each parameter's draws are all finite ``(p,)``, and the power of two each
    is to be divided by (`_power_of_two_scale`).

    A float copy (a scratch array), transposed in tiles (a plain strided copy is
    several times slower): by the compiled kernel for C-ordered float64 draws (with
    the finiteness test and the largest |draw| in the same call), else by NumPy.
    """
    n_rows = columns.stop - columns.start
    rows = _scratch("rows", (n_rows, pooled.shape[0]))
    if pooled.dtype == np.float64 and pooled.flags.c_contiguous:
        finite = np.empty(n_rows, dtype=np.uint8)
        top = np.empty(n_rows)
        _rows.gather_rows(pooled, columns.start, columns.stop, rows, finite, top)
        finite = finite.view(bool)
        top[~finite] = 1.0
        scale = _scale_for_largest(top)
    else:
        block = pooled[:, columns]
        for start in range(0, block.shape[0], _TILE):
            rows[:, start:start + _TILE] = block[start:start + _TILE].T
        finite = np.isfinite(rows).all(axis=1)
        scale = _power_of_two_scale(rows)
    return rows.reshape(n_rows, chains, -1), finite, scale


def _power_of_two_scale(rows: np.ndarray) -> np.ndarray:
    """Per row of ``rows`` ``(P, S)``, the power of two that brings its largest |draw|
    into [1, 2) when that lies outside _UNIT_RANGE, else 1 (also for a row of zeros,
    or one with a draw that is not finite).

    Dividing by it is exact, and every summary statistic either keeps its value (ESS,
    R-hat) or scales with it (mean, sd, quantiles, MCSE), so rows scaled by it give the
    statistics of the draws themselves where sums of squares of the draws would
    overflow (|draw| > ~1e154) or lose their precision to underflow (< ~1e-154).
    Two SIMD reductions: ~0.1 ms per 10^6 draws."""
    with np.errstate(invalid="ignore"):
        top = np.maximum(rows.max(axis=1), -rows.min(axis=1))
    top[~np.isfinite(top)] = 1.0
    return _scale_for_largest(top)


def _scale_for_largest(top: np.ndarray) -> np.ndarray:
    """`_power_of_two_scale` given each row's largest |draw| ``top`` (finite, >= 0)."""
    scale = np.ones(len(top))
    extreme = (top > _UNIT_RANGE[1]) | ((top < _UNIT_RANGE[0]) & (top > 0))
    if extreme.any():
        scale[extreme] = np.ldexp(1.0, np.frexp(top[extreme])[1] - 1)
    return scale


def std_of_draws(a, axis=0, ddof=0) -> np.ndarray:
    """``np.std(a, axis, ddof=ddof)``, also for draws of extreme magnitude: each slice
    along ``axis`` whose largest |draw| lies outside _UNIT_RANGE is divided by a power
    of two first (`_power_of_two_scale`), so its squares neither overflow (draws beyond
    ~1e154) nor underflow. Without such a slice the value is np.std's, bit for bit; with
    one, every slice is summed in another order (to rounding the same)."""
    a = np.asarray(a, dtype=float)
    moved = np.moveaxis(a, axis, -1)
    if moved.shape[-1] == 0 or moved.size == 0:
        return a.std(axis=axis, ddof=ddof)
    rows = moved.reshape(-1, moved.shape[-1])
    scale = _power_of_two_scale(rows)
    if np.all(scale == 1.0):
        return a.std(axis=axis, ddof=ddof)
    sd = (rows / scale[:, None]).std(axis=1, ddof=ddof) * scale
    return sd.reshape(moved.shape[:-1]) if moved.ndim > 1 else sd[0]


def _map_params(x: np.ndarray, core: Callable[[np.ndarray], np.ndarray], n_out: int,
                linear: int = 0) -> np.ndarray:
    """Apply ``core`` (finite rows ``(p, C, N)`` -> ``(p, n_out)``) to every parameter.

    ``x`` has shape ``(C, N, *param_shape)``.  Returns ``(P, n_out)``; parameters with
    a non-finite draw get NaN.  Parameters are processed in blocks of about
    ``_BLOCK_VALUES`` draws, on all cores for large inputs; the result does not depend
    on the block size.  A parameter of extreme magnitude reaches ``core`` divided by a
    power of two (`_power_of_two_scale`), by which its first ``linear`` outputs (those
    on the draws' scale) are then multiplied; the others must not depend on the scale.
    """
    chains, draws = x.shape[:2]
    n_params = int(np.prod(x.shape[2:], dtype=int))
    out = np.full((n_params, n_out), np.nan)
    if chains * draws == 0 or n_params == 0:
        return out
    pooled = x.reshape(chains * draws, n_params)
    step = max(1, _BLOCK_VALUES // (chains * draws))
    cores = os.cpu_count() or 1
    parallel = cores > 1 and n_params > 1 and n_params * chains * draws >= _PARALLEL_VALUES
    if parallel:  # at least one block per core
        step = min(step, -(-n_params // cores))

    def run(start):
        columns = slice(start, min(start + step, n_params))
        rows, finite, scale = _param_rows(pooled, columns, chains)
        if not finite.any():
            return
        extreme = np.flatnonzero(scale != 1.0)
        if extreme.size:
            rows[extreme] /= scale[extreme, None, None]
        every = finite.all()
        result = core(rows if every else rows[finite])
        if linear and extreme.size:
            result[:, :linear] *= (scale if every else scale[finite])[:, None]
        if every:
            out[columns] = result
        else:
            out[columns][finite] = result

    starts = range(0, n_params, step)
    if parallel:
        # the kernels and numpy's sorts release the GIL: the calling thread and the
        # kept workers take every threads-th block, each writing its own rows of ``out``
        threads = min(cores, len(starts), _MAX_THREADS)
        shares = [starts[k::threads] for k in range(threads)]
        pool = _WORKERS.get()
        stop = threading.Event()
        futures = [pool.submit(_run_all, run, share, stop) for share in shares[1:]]
        try:
            _run_all(run, shares[0], stop)
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C or a failed block: the kept workers stop at their next block (they
            # outlive the call, and would otherwise finish their shares in the background)
            stop.set()
            wait(futures)
            raise
    else:
        _run_all(run, starts)
    return out


def _run_all(run, starts, stop=None):
    for start in starts:
        if stop is not None and stop.is_set():
            return
        run(start)


# Threads kept for the process (at most _MAX_THREADS - 1) that share `_map_params`'s
# blocks with the calling thread. A pool made per call cost its new threads a page fault
# for every page of their scratch arrays (`_scratch`): about a tenth of `summarize`'s
# CPU on NES.
_WORKERS = KeptPool(_MAX_THREADS - 1, "fastgibbs-diagnostics")


def _diagnostic(x, core: Callable[[np.ndarray], np.ndarray],
                linear: bool = False) -> np.ndarray | float:
    """Apply a per-parameter ``core`` (rows ``(p, C, N)`` -> ``(p,)``) to draws ``x``;
    ``linear``: its value scales with the draws (an MCSE), else it does not depend on
    their scale (an ESS, R-hat)."""
    x = _as_draws(x)
    if x.shape[1] < MIN_DRAWS:
        return np.full(x.shape[2:], np.nan)[()]
    return _map_params(x, lambda rows: core(rows)[:, None], 1, int(linear)
                       ).reshape(x.shape[2:])[()]


# ----------------------------------------------------------------------------------
# Building blocks on rows (P, chains, draws)
# ----------------------------------------------------------------------------------
def _split(y: np.ndarray) -> np.ndarray:
    """Split chains in half: ``(P, C, N)`` -> ``(P, 2C, N // 2)``.

    The halves of a chain are neighbouring rows (every diagnostic is invariant to the
    order of the chains); a view of contiguous ``y`` when N is even.  The middle draw
    of an odd-length chain is dropped.
    """
    n_params, n_chains, n = y.shape
    half = n // 2
    if n % 2:
        y = np.concatenate([y[:, :, :half], y[:, :, n - half:]], axis=2)
    return y.reshape(n_params, 2 * n_chains, half)


def _pooled(y: np.ndarray) -> np.ndarray:
    """All draws of each parameter in one row: ``(P, C, N)`` -> ``(P, C * N)``."""
    return y.reshape(y.shape[0], y.shape[1] * y.shape[2])


def _rank(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort the pooled draws of each parameter: ``(order, sorted_rows)``, both ``(P, S)``.

    ``order`` (intp) indexes the flattened ``(P, S)`` array (flat indexing is the
    fastest); tied draws may come in any order.  The rows must be finite.
    """
    values = np.ascontiguousarray(_pooled(y), dtype=float)
    n_rows, size = values.shape
    offsets = np.arange(0, n_rows * size, size, dtype=np.intp)[:, None]
    bits = max(1, (size - 1).bit_length())
    if bits > _MAX_INDEX_BITS:
        order = np.argsort(values, axis=1).astype(np.intp, copy=False) + offsets
        return order, np.take(values, order)
    order = _packed_sort(values, bits)
    sorted_rows = _scratch("sorted", values.shape)
    unsorted = np.array(_rows.sorted_from_keys(values, order, bits, sorted_rows), dtype=np.intp)
    if unsorted.size:  # rows where two different draws agreed in all but the index bits
        fixed = np.argsort(values[unsorted], axis=1).astype(np.intp, copy=False)
        order[unsorted] = fixed + offsets[unsorted]
        sorted_rows[unsorted] = np.take_along_axis(values[unsorted], fixed, axis=1)
    return order, sorted_rows


def _packed_sort(values: np.ndarray, bits: int) -> np.ndarray:
    """Sorted packed keys of finite rows ``(P, S)``: nearly an argsort, three times faster.

    numpy sorts float64 with SIMD but argsorts without: here the lowest ``bits``
    (``bit_length(S - 1)``) mantissa bits of each draw are replaced by its column
    index and the packed floats are sorted.  Finite values keep their exponent, so the
    keys stay finite and ordered as the draws, except for draws that agree in all but
    the lowest bits (relative difference below ``2^(bits - 52)``), which come in index
    order.  Returns the sorted keys' bit patterns (intp); the compiled
    ``sorted_from_keys`` turns them into flat indices, gathers the sorted draws and
    reports rows that do not ascend, which `_rank` argsorts.
    """
    mask = (1 << bits) - 1
    keys = np.add(values, 0.0, out=_scratch("keys", values.shape)).view(np.intp)
    # (+ 0.0 turns -0.0 into 0.0, which it equals)
    keys &= ~mask
    keys |= np.arange(values.shape[1])
    keys.view(np.float64).sort(axis=1)
    return keys


@lru_cache(maxsize=8)
def _score_table(size: int) -> np.ndarray:
    """Normal scores ``Phi^-1((r - 3/8) / (S + 1/4))`` of ranks r = 0, 1/2, ..., S, by
    twice the rank (average ranks of ties are multiples of 1/2; rank 0, which no draw
    has, gets NaN); read-only.

    Phi^-1 is the standard library's (Wichura's AS241, accurate to about 1e-16; within
    7 ulps of scipy's ndtri): 3 ms for S = 16,000 (0.3 s for 10^6, once per size: the
    table is cached), where importing scipy.special would take ~80 ms."""
    from statistics import NormalDist

    inverse = NormalDist().inv_cdf
    probs = (np.arange(1, 2 * size + 1) / 2 - 3 / 8) / (size + 1 / 4)
    table = np.empty(2 * size + 1)
    table[0] = np.nan
    table[1:] = np.fromiter(map(inverse, probs.tolist()), float, 2 * size)
    table.setflags(write=False)
    return table


def _z_scale(y: np.ndarray, ranking=None, folded: bool = False) -> np.ndarray:
    """Pooled rank normalization of each parameter, ``(P, C, N)`` -> ``(P, C, N)``.

    ``ranking`` is ``_rank(y)`` if already computed.  With ``folded``, the rank
    normalization of the folded draws ``|y - median|``, whose order the
    compiled kernel merges from the sort of ``y`` in linear time.
    """
    order, sorted_rows = _rank(y) if ranking is None else ranking
    z = _scratch("z", y.shape)
    _rows.normal_scores(order, sorted_rows, _score_table(sorted_rows.shape[1]),
                        z.reshape(-1), folded)
    return z


def _median(sorted_rows: np.ndarray) -> np.ndarray:
    size = sorted_rows.shape[1]
    return (sorted_rows[:, (size - 1) // 2] + sorted_rows[:, size // 2]) / 2


def _fft_len(n: int) -> int:
    """A fast FFT length >= n: the smallest of the form 2^k, 3 * 2^k or 5 * 2^k."""
    lengths = []
    for length in (1, 3, 5):
        while length < n:
            length *= 2
        lengths.append(length)
    return min(lengths)


def _autocorrelation(ys: Sequence[np.ndarray], n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Combined autocorrelation of chains ``(P, M, n)`` for lags ``0..n_lags-1``.

    ``rho_t = 1 - (W - mean_m gamma_{m,t}) / var_plus`` with ``gamma_{m,t}`` the biased
    autocovariance of chain ``m`` (FFT, zero-padded so that the needed lags are exact),
    ``W`` the mean within-chain variance and ``var_plus = (n-1)/n W + B/n``.  The mean
    over chains is taken on the power spectrum: one inverse FFT per parameter.
    ``ys`` are arrays of the same chains and draws whose rows are stacked: their
    centred chains go into one zero-padded buffer and one FFT call (numpy's FFT pads a
    copy of its input, which costs as much as the transform).
    Returns ``(rho, var_plus)``, one row per stacked row.
    """
    _, n_chains, n = ys[0].shape
    length = _fft_len(n + n_lags - 1)
    padded = np.empty((sum(len(y) for y in ys), n_chains, length))
    padded[:, :, n:] = 0.0
    chain_mean = np.empty(padded.shape[:2])
    start = 0
    for y in ys:
        stop = start + len(y)
        np.mean(y, axis=2, out=chain_mean[start:stop])
        np.subtract(y, chain_mean[start:stop, :, None], out=padded[start:stop, :, :n])
        start = stop
    spectrum = np.fft.rfft(padded, axis=2).view(float)  # (re, im) pairs
    del padded
    power = np.einsum("pmk,pmk->pk", spectrum, spectrum)  # summed over chains
    gamma = np.fft.irfft(power[:, 0::2] + power[:, 1::2], n=length, axis=1)[:, :n_lags]
    gamma /= n * n_chains
    within = gamma[:, 0] * n / (n - 1.0)
    var_plus = within * (n - 1.0) / n + chain_mean.var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (within[:, None] - gamma) / var_plus[:, None]
    rho[:, 0] = 1.0
    return rho, var_plus


def _geyer_tau(rho: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integrated autocorrelation time from the first lags ``rho`` ``(P, n_lags)``.

    Stan's rule: Geyer's initial positive sequence of pair sums ``rho_2k + rho_2k+1``
    (pairs up to lag ``n - 2``, stopping after the first pair sum that is not
    positive), made monotone (running minimum), plus the first lag of the stopping
    pair when it is positive (or the pair was kept, its sum being zero):
    ``tau = -1 + 2 sum_{k < K} min_{j <= k} P_j + rho_2K``.

    Returns ``(tau, complete)``; ``complete`` is False where the sequence had not
    stopped within the given lags (``tau`` is then meaningless).
    """
    n_params, n_lags = rho.shape
    n_pairs = max((n - 3) // 2, 0)  # pairs 1..n_pairs are examined at most
    available = min(n_pairs, (n_lags - 2) // 2)
    pair = rho[:, 0:2 * available + 1:2] + rho[:, 1:2 * available + 2:2]
    stop = ~(pair > 0)  # NaN stops too
    if available == n_pairs:
        stop[:, -1] = True
    complete = stop.any(axis=1)
    last = stop.argmax(axis=1)
    rows = np.arange(n_params)
    even = rho[rows, 2 * last]
    kept = (even > 0) | ((last > 0) & (pair[rows, last] >= 0))
    monotone = np.minimum.accumulate(pair, axis=1)
    before = np.arange(available + 1) < last[:, None]
    tau = -1.0 + 2.0 * np.where(before, monotone, 0.0).sum(axis=1) + np.where(kept, even, 0.0)
    return tau, complete


def _ess(*ys: np.ndarray, thresholds=None) -> np.ndarray:
    """Effective sample size of chains ``(P, M, n)`` -> ``(P,)``.

    The compiled kernel computes the autocovariances lag by lag as far as Geyer's
    sequence runs; rows that need more than ``_DIRECT_LAGS`` lags go to `_ess_fft`.
    Several arrays of the same chains and draws give their ESS concatenated.  With
    ``thresholds`` (one ``(P,)`` array per array of ``ys``), the ESS of the indicators
    ``I(y <= threshold)``, without forming them.
    """
    out = []
    for i, y in enumerate(ys):
        y = np.ascontiguousarray(y, dtype=float)
        ess = np.empty(len(y))
        complete = np.empty(len(y), dtype=np.uint8)
        threshold = None if thresholds is None else np.ascontiguousarray(thresholds[i], float)
        _rows.ess_rows(y, ess, complete, _DIRECT_LAGS, threshold)
        redo = np.flatnonzero(complete == 0)
        if redo.size:
            y = y[redo] if threshold is None else (y[redo] <= threshold[redo, None, None])
            ess[redo] = _ess_fft(y)
        out.append(ess)
    return np.concatenate(out)


def _ess_fft(*ys: np.ndarray) -> np.ndarray:
    """Effective sample size of chains ``(P, M, n)`` -> ``(P,)``, by FFT.

    ``ESS = M n / max(tau, 1 / log10(M n))``, and ``M n`` for constant parameters.  The
    autocorrelations are first computed for lags up to about ``n / 4`` (a shorter
    FFT); parameters whose Geyer sequence runs longer are redone with all lags.
    Several arrays of the same chains and draws give their ESS concatenated, from one
    FFT (``_ess(a, b)`` equals ``np.concatenate([_ess(a), _ess(b)])``).
    """
    _, n_chains, n = ys[0].shape
    size = n_chains * n
    first_lags = n if n < 64 else _fft_len(n + n // 4) - n + 1
    rho, var_plus = _autocorrelation(ys, first_lags)
    tau, complete = _geyer_tau(rho, n)
    if not complete.all():
        redo = _stacked_rows(ys, np.flatnonzero(~complete))
        tau[~complete] = _geyer_tau(_autocorrelation([redo], n)[0], n)[0]
    ess = size / np.maximum(tau, 1 / np.log10(size))
    # ArviZ's test for constant draws, range < 1e-15, implies var_plus < 1e-30
    maybe = np.flatnonzero(~(var_plus >= 1e-30))
    if maybe.size:
        range_ = np.ptp(_pooled(_stacked_rows(ys, maybe)), axis=1)
        ess[maybe[range_ < _CONSTANT_RANGE]] = size
    return ess


def _stacked_rows(ys: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (ascending) of the arrays ``ys`` stacked along their first axis."""
    parts, start = [], 0
    for y in ys:
        mine = rows[(rows >= start) & (rows < start + len(y))] - start
        parts.append(y[mine].astype(float, copy=False))
        start += len(y)
    return np.concatenate(parts)


def _rhat_basic(y: np.ndarray) -> np.ndarray:
    """Potential scale reduction ``sqrt((B/W + n - 1) / n)`` of chains ``(P, M, n)``."""
    out = np.empty(len(y))
    _rows.rhat_rows(np.ascontiguousarray(y, dtype=float), out)
    return out


def _rhat(y: np.ndarray) -> np.ndarray:
    """Rank-normalized split R-hat of rows ``(P, C, N)``."""
    split = _split(y)
    ranking = _rank(split)
    return _rhat_ranked(split, _z_scale(split, ranking), ranking)


def _rhat_ranked(split: np.ndarray, z_split: np.ndarray, ranking):
    """`_rhat` from split chains, their normal scores and their `_rank`."""
    bulk = _rhat_basic(z_split)
    order, sorted_rows = ranking
    tail = np.empty(len(split))
    _rows.folded_rhat(order, sorted_rows, _score_table(sorted_rows.shape[1]), split.shape[1], tail)
    return np.maximum(bulk, tail)


def _quantile(sorted_rows: np.ndarray, prob: float) -> np.ndarray:
    """Type-7 quantile (numpy's "linear", R's default) of ascending rows ``(P, S)``."""
    size = sorted_rows.shape[1]
    h = size * prob + (1.0 - prob)  # 1-based position (S - 1) p + 1
    k = int(np.floor(np.clip(h, 1, size - 1)))
    frac = np.clip(h - k, 0.0, 1.0)
    return (1.0 - frac) * sorted_rows[:, k - 1] + frac * sorted_rows[:, k]


def _ess_quantile(y: np.ndarray, prob: float, sorted_rows=None) -> np.ndarray:
    """ESS of the indicator ``I(y <= q_prob)`` (split chains, no rank normalization).

    ``sorted_rows`` is ``np.sort(_pooled(y), axis=1)`` if already computed.
    """
    sorted_rows = np.sort(_pooled(y), axis=1) if sorted_rows is None else sorted_rows
    return _ess(_split(y), thresholds=[_quantile(sorted_rows, prob)])


def _ess_tail(y: np.ndarray, sorted_rows=None) -> np.ndarray:
    sorted_rows = np.sort(_pooled(y), axis=1) if sorted_rows is None else sorted_rows
    split = _split(y)
    low, high = _ess(split, split, thresholds=[_quantile(sorted_rows, p) for p in _TAIL_PROBS]
                     ).reshape(2, -1)
    return np.minimum(low, high)


def _squared_deviation(y: np.ndarray) -> np.ndarray:
    return (y - _pooled(y).mean(axis=1)[:, None, None]) ** 2


def _identical(y: np.ndarray) -> np.ndarray:
    """Whether all draws of each parameter are equal: ``(P, C, N)`` -> ``(P,)``."""
    return np.ptp(_pooled(y), axis=1) == 0


def _mcse_mean(y: np.ndarray) -> np.ndarray:
    mcse = _pooled(y).std(axis=1, ddof=1) / np.sqrt(_ess(_split(y)))
    return np.where(_identical(y), 0.0, mcse)


def _mcse_sd(y: np.ndarray) -> np.ndarray:
    """``sqrt(Var(d) / ess(d) / (4 E d))`` with ``d = (y - mean(y))**2`` (delta method)."""
    d = _squared_deviation(y)
    ess = _ess(_split(d))
    mean_d = _pooled(d).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_d = ((_pooled(d) ** 2).mean(axis=1) - mean_d**2) / ess
        mcse = np.sqrt(var_d / mean_d / 4)
    return np.where(_identical(y), 0.0, mcse)


def _mcse_quantile(y: np.ndarray, prob: float) -> np.ndarray:
    """Half the distance between the order statistics around the ``prob`` quantile.

    With ``e`` the ESS of ``I(y <= q_prob)``, the fraction of draws below the
    quantile is taken as Beta(``e p + 1``, ``e (1 - p) + 1``); its ``Phi(-1)`` and
    ``Phi(+1)`` quantiles select the two order statistics.
    """
    from scipy.special import betaincinv

    sorted_rows = np.sort(_pooled(y), axis=1)
    n_params, size = sorted_rows.shape
    ess = _ess_quantile(y, prob, sorted_rows)
    a, b = ess * prob + 1, ess * (1 - prob) + 1
    low = np.floor(np.fmax(betaincinv(a, b, _PHI_PM1[0]) * size - 1, 0)).astype(int)
    high = np.ceil(np.fmin(betaincinv(a, b, _PHI_PM1[1]) * size - 1, size - 1)).astype(int)
    rows = np.arange(n_params)
    return (sorted_rows[rows, high] - sorted_rows[rows, low]) / 2


def _check_prob(prob: float) -> float:
    prob = float(prob)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1]; got {prob}")
    return prob


# ----------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------
def split_chains(x) -> np.ndarray:
    """Split each chain into its first and second half.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    numpy.ndarray, shape (2 * chains, draws // 2, *param_shape)
        The first halves of all chains followed by the second halves.  With an odd
        number of draws the middle draw of each chain is dropped.
    """
    x = _as_draws(x)
    n = x.shape[1]
    half = n // 2
    return np.concatenate([x[:, :half], x[:, n - half:]], axis=0)


def z_scale(x) -> np.ndarray:
    """Rank-normalize draws, pooling all chains, separately for each parameter.

    ``z = Phi^-1((r - 3/8) / (S + 1/4))`` where ``r`` is the rank of a draw among the
    ``S = chains * draws`` draws of its parameter (average rank for ties).

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    numpy.ndarray, shape (chains, draws, *param_shape)
        Normal scores; all NaN for a parameter with a non-finite draw.
    """
    x = _as_draws(x)
    chains, draws = x.shape[:2]
    z = _map_params(x, lambda rows: _pooled(_z_scale(rows)), chains * draws)
    return np.moveaxis(z.reshape(-1, chains, draws), 0, 2).reshape(x.shape)


def ess_basic(x) -> np.ndarray | float:
    """Split-chain effective sample size, without rank normalization.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, lambda y: _ess(_split(y)))


def ess_mean(x) -> np.ndarray | float:
    """Effective sample size for the posterior mean (the same as `ess_basic`).

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return ess_basic(x)


def ess_bulk(x) -> np.ndarray | float:
    """Bulk effective sample size: the ESS of the rank-normalized split chains.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, lambda y: _ess(_z_scale(_split(y))))


def ess_quantile(x, prob: float) -> np.ndarray | float:
    """Effective sample size for the ``prob`` quantile: the ESS of ``I(x <= q_prob)``.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)
    prob : float in [0, 1]

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    prob = _check_prob(prob)
    return _diagnostic(x, lambda y: _ess_quantile(y, prob))


def ess_tail(x) -> np.ndarray | float:
    """Tail effective sample size: the smaller ESS of the 5% and the 95% quantile.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, _ess_tail)


def ess_sd(x) -> np.ndarray | float:
    """Effective sample size for the posterior sd: split ESS of ``(x - mean(x))**2``.

    ArviZ's ``method="sd"``.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, lambda y: _ess(_split(_squared_deviation(y))))


def rhat(x) -> np.ndarray | float:
    """Rank-normalized split R-hat (Vehtari et al. 2021).

    The larger of the split R-hat of the rank-normalized draws (bulk) and that of the
    rank-normalized folded draws ``|x - median(x)|`` (tails).

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, _rhat)


def mcse_mean(x) -> np.ndarray | float:
    """Monte Carlo standard error of the posterior mean, ``sd / sqrt(ess_mean)``.

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, _mcse_mean, linear=True)


def mcse_sd(x) -> np.ndarray | float:
    """Monte Carlo standard error of the posterior sd (ArviZ's ``method="sd"``).

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    return _diagnostic(x, _mcse_sd, linear=True)


def mcse_quantile(x, prob: float) -> np.ndarray | float:
    """Monte Carlo standard error of the ``prob`` quantile (ArviZ's ``method="quantile"``).

    Parameters
    ----------
    x : array_like, shape (chains, draws, *param_shape)
    prob : float in [0, 1]

    Returns
    -------
    float or numpy.ndarray of shape param_shape
    """
    prob = _check_prob(prob)
    return _diagnostic(x, lambda y: _mcse_quantile(y, prob), linear=True)


def _summary_columns(y: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Columns of `summarize` for finite rows ``(P, C, N)``, sharing the sorts and
    running the four ESS (mean, bulk, two tail quantiles) through one FFT."""
    split = _split(y)
    ranking = _rank(split)
    # the split drops nothing when draws are even: then its sorted draws are y's
    sorted_rows = ranking[1] if y.shape[2] % 2 == 0 else np.sort(_pooled(y), axis=1)
    z_split = _z_scale(split, ranking)
    sd = _sd_rows(_pooled(y))
    identical = sorted_rows[:, 0] == sorted_rows[:, -1]
    ess_mean, ess_bulk = _ess(split, z_split).reshape(2, -1)
    tails = [_quantile(sorted_rows, p) for p in _TAIL_PROBS]
    ess_low, ess_high = _ess(split, split, thresholds=tails).reshape(2, -1)
    return np.column_stack([
        _pooled(y).mean(axis=1),
        np.where(identical, 0.0, sd / np.sqrt(ess_mean)),
        sd,
        *(_quantile(sorted_rows, p) for p in probs),
        ess_bulk,
        np.minimum(ess_low, ess_high),
        _rhat_ranked(split, z_split, ranking),
    ])


def _sd_rows(pooled: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof 1) of each row of ``(P, S)``, S >= 2, as ``np.std``
    computes it, in a scratch array."""
    dev = np.subtract(pooled, pooled.mean(axis=1)[:, None], out=_scratch("dev", pooled.shape))
    np.multiply(dev, dev, out=dev)
    return np.sqrt(dev.sum(axis=1) / (pooled.shape[1] - 1))


def _short_columns(y: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Columns of `summarize` for finite rows ``(P, C, N)`` with N < MIN_DRAWS: the
    moments and quantiles (sd needs two draws in all), NaN diagnostics."""
    pooled = _pooled(y)
    sorted_rows = np.sort(pooled, axis=1)
    sd = pooled.std(axis=1, ddof=1) if pooled.shape[1] > 1 else np.full(len(pooled), np.nan)
    missing = np.full(len(pooled), np.nan)
    return np.column_stack([pooled.mean(axis=1), missing, sd,
                            *(_quantile(sorted_rows, p) for p in probs),
                            missing, missing, missing])


def summarize(draws, names: Sequence[str] | None = None,
              probs: Sequence[float] = (0.025, 0.5, 0.975)):
    """Posterior summary table with convergence diagnostics.

    Parameters
    ----------
    draws : array_like, shape (chains, draws, n_params)
    names : sequence of str, length n_params, optional
        Row labels; default ``"x[0]", "x[1]", ...``.
    probs : sequence of float in [0, 1]
        Quantiles to report (type 7, as `numpy.quantile`).

    Returns
    -------
    pandas.DataFrame, shape (n_params, 6 + len(probs))
        Indexed by ``names``, with columns ``mean, mcse_mean, sd, <quantiles>,
        ess_bulk, ess_tail, r_hat``; quantile columns are labelled ``f"{100 * p:g}%"``
        (e.g. ``"2.5%"``).  ``sd`` has ``ddof=1``.  The diagnostics equal `mcse_mean`,
        `ess_bulk`, `ess_tail` and `rhat`.  A parameter with a non-finite draw has a
        row of NaN.  With fewer than 4 draws per chain, mean, sd and quantiles are
        computed and MCSE, ESS and R-hat are NaN, with a RuntimeWarning.
    """
    import pandas as pd

    draws = _as_draws(draws)
    if draws.ndim != 3:
        raise ValueError(f"draws must have shape (chains, draws, n_params); got {draws.shape}")
    probs = [_check_prob(p) for p in probs]
    n_params = draws.shape[2]
    names = [f"x[{i}]" for i in range(n_params)] if names is None else list(names)
    if len(names) != n_params:
        raise ValueError(f"got {len(names)} names for {n_params} parameters")
    columns = ["mean", "mcse_mean", "sd", *(f"{100 * p:g}%" for p in probs),
               "ess_bulk", "ess_tail", "r_hat"]
    if draws.shape[1] < MIN_DRAWS:
        warnings.warn(f"only {draws.shape[1]} draw(s) per chain: mean, sd and quantiles are computed, "
                      f"MCSE, ESS and R-hat are not (they need >= {MIN_DRAWS} per chain)",
                      RuntimeWarning, stacklevel=2)
        core = _short_columns
    else:
        core = _summary_columns
    # mean, mcse_mean, sd and the quantiles are on the draws' scale
    table = _map_params(draws, lambda rows: core(rows, probs), len(columns),
                        linear=3 + len(probs))
    return pd.DataFrame(table, index=pd.Index(names), columns=columns)
