"""Simulation studies: fit one model structure to many datasets, keep only summaries.

``study(model, datasets)`` refits ``model`` (a :class:`fastgibbs.Model`, whose design
and y-independent statistics are built once) to every dataset and returns a tidy
pandas DataFrame of what a ``stats`` function extracts from each fit. The draws of a
fit are dropped as soon as its statistics are computed, so memory stays flat however
many datasets there are.

Execution
---------
A *work unit* is ``(token, dataset index, y, true parameters, seed key)``: a few
kilobytes. The model structure (design, sufficient statistics, priors, the sampling
arguments and the ``stats`` function) is put once into a per-process cache under a
random ``token``:

- in-process workers (the default thread pool, any ``ThreadPoolExecutor``) read it
  from the cache directly: nothing is copied;
- on a Dask cluster (``dask.distributed.Client(...).get_executor()``) it is pickled
  once and installed on every worker with ``Client.run`` before the first unit;
- on any other executor (e.g. a ``ProcessPoolExecutor``) a worker whose cache lacks
  the token answers "missing" and the unit is sent again with the pickled model;
  the number of such shipments is reported (``df.attrs["model_shipments"]``).

Workers fit one dataset at a time and run its chains one after another (the
kernels release the GIL, so a thread pool of ``n_jobs`` workers keeps ``n_jobs``
cores busy). At most ``2 * workers`` units are in flight, so a generator of
datasets is consumed lazily.

Seeds
-----
Dataset ``i`` is fitted with child ``i`` of ``SeedSequence(seed)`` (its ``spawn_key``
extended by ``(i,)``; ``SeedSequence(seed).spawn(n)[i]`` for a fresh sequence) and its
chains with that child's children, exactly as ``model.refit(y_i, seed=fit.seed, ...)``
does with the ``fit.seed`` a ``stats`` function sees. ``df.attrs["seed"]`` re-creates
the root (``seed=None`` records the entropy drawn). A SeedSequence passed as ``seed``
is not mutated. Results do not depend on the number or kind of workers.

Failures and interruption
-------------------------
An exception while fitting a dataset or computing its statistics becomes one row
with the message in the ``error`` column; the study goes on. Ctrl-C (or any
``KeyboardInterrupt``) stops submitting, cancels the queued units and returns the
rows finished so far with ``df.attrs["interrupted"] = True`` (a fit already inside
the compiled kernel on a worker thread runs to its end in the background).
"""
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
import copy
import dataclasses
import numbers
import os
import pickle
import sys
import threading
import time
import uuid
import warnings

import numpy as np
import pandas as pd

from . import diagnostics
from ._process_limits import with_process_limits
from .chains import as_seed_sequence, replay_seed

__all__ = ["study", "DefaultStats"]

_RESERVED = ("dataset", "sampling_time", "worker_time", "error")
_NOT_ALLOWED = ("seed", "n_jobs", "backend")


# ----------------------------------------------------------------------------------
# Default statistics
# ----------------------------------------------------------------------------------
class DefaultStats:
    """Per parameter: posterior mean, sd and equal-tailed interval at ``probs``; when
    the dataset has true values, ``true`` and ``covered`` (1.0 when the interval
    contains the true value, 0.0 when not, NaN without a true value); per fit (the
    same value on each of the fit's rows): ``rhat_max``, the worst rank-normalized
    split R-hat, and ``ess_bulk_min``, the smallest bulk ESS, over all parameters.

    Picklable, so it also runs on process and Dask workers.
    """

    def __init__(self, probs=(0.05, 0.95), diagnostics=True):
        probs = tuple(float(p) for p in probs)
        if len(probs) != 2 or not 0.0 <= probs[0] < probs[1] <= 1.0:
            raise ValueError(f"probs must be two increasing probabilities, got {probs!r}")
        self.probs = probs
        self.diagnostics = bool(diagnostics)
        self.labels = tuple(f"q{100 * p:g}" for p in probs)

    def __repr__(self):
        return f"DefaultStats(probs={self.probs}, diagnostics={self.diagnostics})"

    def __call__(self, fit, dataset):
        rows = np.ascontiguousarray(np.moveaxis(fit.draws_array, -1, 0))  # (P, C, D)
        flat = rows.reshape(rows.shape[0], -1)
        summary = summarize_rows(rows, self.probs, self.diagnostics)
        mean, sd = _mean_sd(flat)
        out = {"parameter": np.array(fit.names, dtype=object), "mean": mean, "sd": sd,
               self.labels[0]: summary["quantiles"][0], self.labels[1]: summary["quantiles"][1]}
        truth = dataset.get("params")
        if truth is not None:
            true = np.array([truth.get(name, np.nan) for name in fit.names], dtype=float)
            lower, upper = summary["quantiles"]
            with np.errstate(invalid="ignore"):
                covered = ((lower <= true) & (true <= upper)).astype(float)
            out["true"] = true
            out["covered"] = np.where(np.isnan(true), np.nan, covered)
        if self.diagnostics:
            out["rhat_max"] = _nan_extreme(summary["rhat"], np.max)
            out["ess_bulk_min"] = _nan_extreme(summary["ess_bulk"], np.min)
        return out


def _mean_sd(flat):
    """Mean and sd (ddof 1; NaN with one draw) of each row of ``flat`` (P, S), rows of
    extreme magnitude divided by a power of two first (diagnostics._power_of_two_scale)
    so that their squares do not overflow."""
    scale = diagnostics._power_of_two_scale(flat)
    if np.any(scale != 1.0):
        flat = flat / scale[:, None]
    sd = flat.std(axis=1, ddof=1) if flat.shape[1] > 1 else np.full(len(flat), np.nan)
    return flat.mean(axis=1) * scale, sd * scale


def _nan_extreme(values, pick):
    """max/min over the entries that are not NaN; NaN when there are none."""
    values = values[~np.isnan(values)]
    return float(pick(values)) if values.size else np.nan


def _type7(sorted_rows, prob):
    """Type-7 quantile (numpy's default) of ascending rows ``(P, S)``."""
    h = (sorted_rows.shape[1] - 1) * prob
    k = int(np.floor(h))
    k1 = min(k + 1, sorted_rows.shape[1] - 1)
    return sorted_rows[:, k] + (h - k) * (sorted_rows[:, k1] - sorted_rows[:, k])


def summarize_rows(rows, probs, with_diagnostics=True):
    """Quantiles ``probs`` and, optionally, rank-normalized split R-hat and bulk ESS of
    draws ``rows`` ``(P, chains, draws)``, sharing one sort between them.

    The same numbers as ``np.quantile``, ``diagnostics.rhat`` and
    ``diagnostics.ess_bulk`` (tests/test_study.py checks this) in about half the time:
    those public functions each sort the draws again, and the statistics are most of
    the per-fit cost of a study of a small model. Uses the building blocks of
    :mod:`fastgibbs.diagnostics`. Diagnostics are NaN for a parameter with a
    non-finite draw or with fewer than 4 draws per chain.
    """
    n_params, _, n_draws = rows.shape
    out = {"rhat": np.full(n_params, np.nan), "ess_bulk": np.full(n_params, np.nan)}
    finite = np.isfinite(rows).all(axis=(1, 2))
    sorted_rows = None
    if with_diagnostics and n_draws >= diagnostics.MIN_DRAWS and finite.any():
        keep = rows if finite.all() else rows[finite]
        split = diagnostics._split(keep)
        ranking = diagnostics._rank(split)
        z_split = diagnostics._z_scale(split, ranking)
        out["ess_bulk"][finite] = diagnostics._ess(z_split)
        out["rhat"][finite] = diagnostics._rhat_ranked(split, z_split, ranking)
        if n_draws % 2 == 0 and finite.all():      # the split kept every draw
            sorted_rows = ranking[1]
    if sorted_rows is None:
        sorted_rows = np.sort(rows.reshape(n_params, -1), axis=1)
    out["quantiles"] = [_type7(sorted_rows, p) for p in probs]
    for q in out["quantiles"]:
        q[~finite] = np.nan
    return out


# ----------------------------------------------------------------------------------
# Worker side
# ----------------------------------------------------------------------------------
_CACHE = OrderedDict()      # token -> payload, per process; the last few studies only
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()
MISSING = "__fastgibbs_model_missing__"


def _install(token, payload):
    """Put a study's payload into this process's cache (``payload`` may be pickled)."""
    if isinstance(payload, bytes):
        payload = pickle.loads(payload)
    with _CACHE_LOCK:
        _CACHE[token] = payload
        _CACHE.move_to_end(token)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def _forget(token):
    with _CACHE_LOCK:
        _CACHE.pop(token, None)


def _run_unit(token, index, y, params, seed_key, payload=None, weights=None):
    """Fit one dataset with the cached model and return its statistics (``weights``:
    the dataset's frequency weights, which replace the model's).

    Returns ``(index, values, error, sampling_time, worker_time)``, or ``MISSING``
    when this process has not seen the study's model yet.
    """
    t0 = time.perf_counter()
    if payload is not None:
        _install(token, payload)
    with _CACHE_LOCK:
        cached = _CACHE.get(token)
    if cached is None:
        return MISSING
    model, sample_kwargs, stats = cached["model"], cached["sample_kwargs"], cached["stats"]
    sampling_time = np.nan
    try:
        entropy, spawn_key, pool_size = seed_key
        seed = np.random.SeedSequence(entropy, spawn_key=spawn_key, pool_size=pool_size)
        fit = model.refit(y, seed=seed, n_jobs=1, **sample_kwargs,
                          **({} if weights is None else {"weights": weights}))
        sampling_time = fit.timing["sampling"]
        dataset = {"y": y, "params": params}
        if weights is not None:
            dataset["weights"] = weights
        values = stats(fit, dataset)
        del fit
        if not isinstance(values, dict):
            raise TypeError(f"stats must return a dict, got {type(values).__name__}")
        clash = [k for k in values if k in _RESERVED]
        if clash:
            raise ValueError(f"stats returned reserved column name(s) {clash}")
        error = None
    except Exception as exc:         # recorded as a failed row; the study goes on
        values, error = None, f"{type(exc).__name__}: {exc}"
    return index, values, error, sampling_time, time.perf_counter() - t0


def portable_model(model):
    """A copy of ``model`` without the data frame and formula objects: what a worker
    needs to call ``refit`` (design arrays, sufficient statistics, priors, names)."""
    light = copy.copy(model)
    light.data = None
    if dataclasses.is_dataclass(model.design) and hasattr(model.design, "fixed_spec"):
        light.design = dataclasses.replace(model.design, fixed_spec=None)
    return light


def _dumps(payload):
    try:
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        try:
            import cloudpickle
        except ImportError:
            cloudpickle = None
        if cloudpickle is not None:
            try:
                return cloudpickle.dumps(payload)
            except Exception:
                pass
        raise TypeError("the study's stats function (and model) must be picklable to run on "
                        f"process or cluster workers: {exc}; use a module-level function "
                        "or a thread pool") from exc


# ----------------------------------------------------------------------------------
# Main side
# ----------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on stderr (only when it is a terminal, unless forced)."""

    def __init__(self, total, enabled, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.total = total
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.width = 0

    def update(self, done, failed, force=False):
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        text = f"study: {done}"
        if self.total:
            frac = done / self.total
            bar = "#" * int(20 * frac)
            eta = (self.total - done) / rate if rate > 0 else float("nan")
            text = f"study [{bar:<20}] {done}/{self.total}"
            tail = f", ETA {eta:.0f} s" if done < self.total and np.isfinite(eta) else ""
        else:
            tail = ""
        text += f" fits, {failed} failed, {rate:.1f} fits/s{tail}"
        pad = max(self.width - len(text), 0)
        self.width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self, done, failed):
        if self.enabled:
            self.update(done, failed, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _check_sample_kwargs(sample_kwargs):
    from .api import check_sample_args

    kwargs = dict(sample_kwargs or {})
    bad = [k for k in kwargs if k in _NOT_ALLOWED]
    if bad:
        raise ValueError(f"sample_kwargs may not set {bad}: study() chooses seeds and "
                         "workers (use seed=, n_jobs=, executor=)")
    unknown = sorted(set(kwargs) - {"chains", "warmup", "draws", "thin", "interweave"})
    if unknown:
        raise ValueError(f"unknown sample_kwargs {unknown}; allowed: chains, warmup, draws, "
                         "thin, interweave")
    check_sample_args(kwargs.get("chains", 4), kwargs.get("warmup", 1000),
                      kwargs.get("draws", 1000), kwargs.get("thin", 1), None, "thread")
    return kwargs


def _dataset_items(datasets, true_params):
    """Yield (y, params, weights) per dataset, or (None, error message, None) for an
    unusable item; ``weights`` is None unless the dataset dict has ``"weights"``."""
    if isinstance(datasets, dict):
        raise TypeError("datasets must be a list or iterable of datasets (dicts with 'y', "
                        "as model.simulate returns, or y arrays), not a single dict")
    for item in datasets:
        weights = None
        if isinstance(item, dict):
            if "y" not in item:
                yield None, "KeyError: dataset has no 'y'", None
                continue
            y, params, weights = item["y"], item.get("params"), item.get("weights")
        else:
            y, params = item, None
        if true_params is not ...:
            params = true_params
        try:
            y = np.asarray(y, dtype=float)
            weights = None if weights is None else np.asarray(weights, dtype=float)
        except (TypeError, ValueError) as exc:
            yield None, f"{type(exc).__name__}: {exc}", None
            continue
        yield y, (dict(params) if params is not None else None), weights


def _executor_workers(executor):
    client = getattr(executor, "_client", None)
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:               # not a Dask client after all: a guess will do
            return 8
    workers = getattr(executor, "_max_workers", None)
    return workers if isinstance(workers, int) and workers > 0 else 8


def _assemble(results, errors):
    """Tidy DataFrame from per-dataset results, sorted by dataset index."""
    pieces = []   # (index, n_rows, columns dict)
    for index, (values, sampling_time, worker_time) in results.items():
        arrays = {k: np.asarray(v) for k, v in values.items()}
        lengths = {a.shape[0] for a in arrays.values() if a.ndim == 1}
        if any(a.ndim > 1 for a in arrays.values()) or len(lengths) > 1:
            errors[index] = ("ValueError: stats values must be scalars or 1-d of one length",
                             sampling_time, worker_time)
            continue
        n = lengths.pop() if lengths else 1
        cols = {k: (a if a.ndim == 1 else np.full(n, a[()], dtype=a.dtype))
                for k, a in arrays.items()}
        cols["sampling_time"] = np.full(n, sampling_time)
        cols["worker_time"] = np.full(n, worker_time)
        pieces.append((index, n, cols))
    for index, (message, sampling_time, worker_time) in errors.items():
        pieces.append((index, 1, {"sampling_time": np.array([sampling_time]),
                                  "worker_time": np.array([worker_time]),
                                  "error": np.array([message], dtype=object)}))
    pieces.sort(key=lambda p: p[0])
    names = []
    for _, _, cols in pieces:
        names += [k for k in cols if k not in names and k not in ("sampling_time",
                                                                  "worker_time", "error")]
    names = ["dataset"] + names + ["sampling_time", "worker_time", "error"]
    data = {}
    for name in names:
        parts = []
        for index, n, cols in pieces:
            if name == "dataset":
                parts.append(np.full(n, index, dtype=np.int64))
            elif name in cols:
                parts.append(cols[name])
            else:
                parts.append(None)
        present = [p for p in parts if p is not None]
        numeric = all(p.dtype.kind in "iuf" for p in present)
        for i, (index, n, cols) in enumerate(pieces):
            if parts[i] is None:
                parts[i] = np.full(n, np.nan) if numeric else np.full(n, None, dtype=object)
        data[name] = np.concatenate(parts) if parts else np.zeros(0)
    frame = pd.DataFrame(data)
    if "error" in frame:
        frame["error"] = frame["error"].astype(object).where(frame["error"].notna(), None)
    return frame


@with_process_limits
def study(model, datasets, *, sample_kwargs=None, stats=None, seed=None, executor=None,
          n_jobs=None, progress=None, true_params=..., probs=(0.05, 0.95)):
    """Fit ``model`` to many datasets and collect statistics of each fit.

    Parameters
    ----------
    model : fastgibbs.Model
        The model structure (formula, design, family, priors); each dataset is fitted
        through ``model.refit(y, ...)``.
    datasets : iterable
        Exactly what ``model.simulate`` returns (dicts with ``"y"`` and optionally
        ``"params"``, the true values by parameter name), a generator of such dicts,
        plain y arrays of shape (n_obs,), or a 2-d array with one dataset per row.
        Consumed lazily. A dict may also hold ``"weights"`` (n_obs,): frequency weights
        that replace the model's for that fit (0 leaves a row out; see
        ``Model.refit``), passed on to ``stats`` in its dataset.
    sample_kwargs : dict, optional
        ``chains``, ``warmup``, ``draws``, ``thin``, ``interweave`` for ``refit``
        (defaults as ``Model.sample``: 4 chains x 1000 warmup + 1000 draws).
    stats : callable, optional
        ``stats(fit, dataset) -> dict`` with ``fit`` a :class:`fastgibbs.Fit` and
        ``dataset`` ``{"y": ndarray, "params": dict or None}``. Scalar values give one
        row per dataset; 1-d values (all of one length) give that many rows, with the
        scalars repeated. Default :class:`DefaultStats` (one row per dataset x
        parameter). Must be picklable for process or cluster executors.
    seed : int, sequence of ints, SeedSequence or None
        Dataset i uses child i of ``SeedSequence(seed)`` (see the module docstring);
        ``df.attrs["seed"]`` re-creates it and ``df.attrs["seed_entropy"]`` is its
        entropy.
    executor : concurrent.futures.Executor, optional
        Where to run the fits: e.g. ``ProcessPoolExecutor(mp_context=spawn)`` or
        ``dask.distributed.Client(...).get_executor()``. Not shut down here. Default:
        a thread pool of ``n_jobs`` workers for the duration of the call.
    n_jobs : int, optional
        Workers of the default pool (default: the number of CPUs).
    progress : bool, optional
        Progress bar on stderr; default: when stderr is a terminal.
    true_params : dict or None, optional
        True values for the coverage columns: by default each dataset's ``"params"``;
        a dict applies to every dataset; None turns coverage off.
    probs : (float, float)
        Interval of the default statistics (default the 90% equal-tailed interval).

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset`` (the position in ``datasets``), the statistics,
        ``sampling_time`` (seconds in the chains), ``worker_time`` (seconds for the
        whole unit on its worker) and ``error`` (None, or the exception of a failed
        fit, whose row has no statistics). ``df.attrs`` holds ``seed``, ``seed_entropy``,
        ``n_datasets``, ``n_failed``, ``interrupted``, ``model_shipments`` and
        ``timing`` (wall time, fits per second and the mean per-fit overhead outside
        the sampler).
    """
    from .api import Model

    if not isinstance(model, Model):
        raise TypeError(f"model must be a fastgibbs.Model, got {type(model).__name__}")
    kwargs = _check_sample_kwargs(sample_kwargs)
    if stats is None:
        stats = DefaultStats(probs)
    elif not callable(stats):
        raise TypeError("stats must be a callable stats(fit, dataset) -> dict")
    if true_params is not ... and true_params is not None and not isinstance(true_params, dict):
        raise TypeError("true_params must be a dict, None, or left out")
    if executor is not None and n_jobs is not None:
        raise ValueError("n_jobs sets the size of the default pool; with executor= give "
                         "the executor its workers instead")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or n_jobs < 1):
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    root = as_seed_sequence(seed)
    total = len(datasets) if hasattr(datasets, "__len__") else None
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _Progress(total, show)

    token = uuid.uuid4().hex
    # this process's workers use the model itself, so that their fits code new data as
    # fg.fit's do (categorical predictors, transforms' fitted state); other processes
    # get it without its data frame and formula objects, which need not pickle
    payload = {"model": model, "sample_kwargs": kwargs, "stats": stats}
    shipped = {**payload, "model": portable_model(model)}
    _install(token, payload)
    blob = None
    shipments = 0
    own = executor is None
    client = None
    if own:
        workers = int(n_jobs) if n_jobs is not None else (os.cpu_count() or 1)
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastgibbs-study")
    else:
        workers = _executor_workers(executor)
        client = getattr(executor, "_client", None)
        if client is not None and hasattr(client, "run"):       # Dask: install everywhere
            blob = _dumps(shipped)
            shipments += len(client.run(_install, token, blob))
    max_pending = 2 * workers

    items = enumerate(_dataset_items(datasets, true_params))
    results, errors = {}, {}
    pending = {}
    interrupted = False
    exhausted = False
    t_start = time.perf_counter()

    def child_key(index):
        return (root.entropy, tuple(root.spawn_key) + (index,), root.pool_size)

    def submit(index, y, params, weights, with_payload=False):
        nonlocal blob, shipments
        extra = (None,)
        if with_payload:
            if blob is None:
                blob = _dumps(shipped)
            shipments += 1
            extra = (blob,)
        if weights is not None:
            extra += (weights,)
        future = executor.submit(_run_unit, token, index, y, params, child_key(index), *extra)
        pending[future] = (index, y, params, weights)

    def collect(future):
        """Record a finished unit's row in results or errors; returns MISSING (nothing
        recorded) when the worker had not seen the study's model yet."""
        index = pending[future][0]
        try:
            out = future.result()
        except Exception as exc:           # the executor failed, not the fit
            errors[index] = (f"{type(exc).__name__}: {exc}", np.nan, np.nan)
            return None
        if isinstance(out, str) and out == MISSING:
            return MISSING
        _, values, error, sampling_time, worker_time = out
        if error is None:
            results[index] = (values, sampling_time, worker_time)
        else:
            errors[index] = (error, sampling_time, worker_time)
        return None

    try:
        while True:
            while not exhausted and len(pending) < max_pending:
                try:
                    index, (y, params, weights) = next(items)
                except StopIteration:
                    exhausted = True
                    break
                if y is None:
                    errors[index] = (params, np.nan, np.nan)
                    continue
                submit(index, y, params, weights)
            if not pending:
                break
            done, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                if collect(future) == MISSING:
                    submit(*pending.pop(future), with_payload=True)
                else:
                    pending.pop(future)
            bar.update(len(results) + len(errors), len(errors))
    except KeyboardInterrupt:
        interrupted = True
        for future in list(pending):   # keep the fits that finished before the Ctrl-C
            if future.done() and not future.cancelled():
                collect(future)
            else:
                future.cancel()
        warnings.warn(f"study interrupted: returning the {len(results) + len(errors)} fits "
                      "finished so far", RuntimeWarning, stacklevel=2)
    finally:
        if own:
            executor.shutdown(wait=not interrupted, cancel_futures=True)
        elif client is not None and hasattr(client, "run") and not interrupted:
            try:
                client.run(_forget, token)
            except Exception:           # a worker that went away has forgotten it anyway
                pass
        _forget(token)
    wall = time.perf_counter() - t_start
    bar.close(len(results) + len(errors), len(errors))

    frame = _assemble(results, errors)
    n_fits = len(results) + len(errors)
    samp = np.array([r[1] for r in results.values()])
    work = np.array([r[2] for r in results.values()])
    timing = {"wall": wall, "fits_per_second": n_fits / wall if wall > 0 else np.nan,
              "workers": workers}
    if len(samp):
        timing.update(
            sampling_mean=float(samp.mean()),
            worker_mean=float(work.mean()),
            # outside the sampler on the worker: refit set-up, Fit, statistics
            overhead_worker_mean=float((work - samp).mean()),
            # everything that is not sampling, per fit, counted in worker-seconds
            overhead_total_mean=float(wall * min(workers, n_fits) / n_fits - samp.mean()),
        )
    frame.attrs.update(seed=replay_seed(root), seed_entropy=root.entropy, n_datasets=n_fits, n_failed=len(errors),
                       interrupted=interrupted, model_shipments=shipments, timing=timing)
    return frame
