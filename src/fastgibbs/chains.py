"""Run independent chains in parallel with reproducible seeds.

Seeds: chain c gets child c of ``np.random.SeedSequence(seed)`` (the sequence with
``spawn_key`` extended by ``(c,)``, what ``.spawn`` gives on a fresh sequence), builds
its own ``PCG64`` inside the worker, and so produces the same draws whatever the
number of workers or the backend. A SeedSequence passed as ``seed`` is never
mutated (``.spawn`` would advance it, so a second fit would differ), and
:func:`replay_seed` records a seed that re-runs the fit bit for bit.

Backends:
- ``"thread"`` (default): threads kept for the life of the process (see
  `_CHAIN_WORKERS`). The kernels release the GIL for the whole run, so chains run truly
  in parallel with no process start-up, no pickling, and no ``if __name__ ==
  "__main__"`` guard; measured in benchmarks/RESULTS.md to be the faster choice for
  every model size we tried.
- ``"process"``: a ``spawn``-context process pool (safe from scripts and Jupyter);
  only the (small) sufficient statistics are sent to the workers.
"""
from concurrent.futures import ProcessPoolExecutor, wait
import multiprocessing
import os
import signal
import threading

import numpy as np

from ._kept_threads import KeptPool

__all__ = ["as_seed_sequence", "spawn_children", "chain_seeds", "replay_seed", "seed_label",
           "run_chains"]

BACKENDS = ("thread", "process")
# numpy's default SeedSequence pool_size (DEFAULT_POOL_SIZE in numpy/random/bit_generator.pyx)
DEFAULT_POOL_SIZE = 4
SEED_TYPES = "None, a non-negative integer, a sequence of them, or a numpy SeedSequence"


def as_seed_sequence(seed, name="seed"):
    """``seed`` (None, int >= 0, sequence of such ints, or SeedSequence) as a
    SeedSequence; a SeedSequence is returned as is (and never mutated here)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_, str, bytes, float, np.floating)):
        raise TypeError(f"{name} must be {SEED_TYPES}, got {seed!r}")
    try:
        return np.random.SeedSequence(seed)
    except (TypeError, ValueError) as err:
        raise (TypeError if isinstance(err, TypeError) else ValueError)(
            f"{name} must be {SEED_TYPES}, got {seed!r}") from None


def spawn_children(root, n):
    """Children 0..n-1 of ``root`` as ``root.spawn(n)`` gives them on a fresh sequence,
    whatever ``root`` spawned before, and without changing ``root``."""
    key = tuple(int(k) for k in root.spawn_key)
    return [np.random.SeedSequence(root.entropy, spawn_key=key + (i,), pool_size=root.pool_size)
            for i in range(n)]


def chain_seeds(seed, n_chains):
    """(root SeedSequence, per-chain SeedSequences) from ``seed``."""
    root = as_seed_sequence(seed)
    return root, spawn_children(root, n_chains)


def _entropy(root):
    entropy = root.entropy
    if isinstance(entropy, (int, np.integer)):
        return int(entropy)
    return [int(e) for e in entropy]


def replay_seed(root):
    """What ``fit.seed`` records for a run seeded by ``root``: its entropy (an int, or a
    list of ints) when that alone rebuilds ``root``, else a fresh SeedSequence with
    the same entropy, spawn_key and pool_size. Passing it as ``seed`` re-runs the fit
    bit for bit."""
    if not root.spawn_key and root.pool_size == DEFAULT_POOL_SIZE:
        return _entropy(root)
    return np.random.SeedSequence(_entropy(root), spawn_key=tuple(int(k) for k in root.spawn_key),
                                  pool_size=root.pool_size)


def seed_label(seed):
    """One-line text of a recorded seed, e.g. ``5`` or ``SeedSequence(5, spawn_key=(2,))``."""
    if not isinstance(seed, np.random.SeedSequence):
        return str(seed)
    pool = "" if seed.pool_size == DEFAULT_POOL_SIZE \
        else f", pool_size={seed.pool_size}"
    return (f"SeedSequence({_entropy(seed)}, spawn_key={tuple(int(k) for k in seed.spawn_key)}"
            f"{pool})")


def default_jobs(n_chains):
    return max(1, min(n_chains, os.cpu_count() or 1))


class ChainStopped(Exception):
    """A chain stopped because the fit's stop flag was set (another chain failed, or
    Ctrl-C): not an error of its own."""


def _first_error(futures):
    """The exception to report once a chain has failed: the first real error of any
    chain, ahead of the chains that only stopped because of it."""
    errors = [f.exception() for f in futures if f.done() and not f.cancelled()
              and f.exception() is not None]
    real = [e for e in errors if not isinstance(e, ChainStopped)]
    return (real or errors)[0]


def _from_a_chain(err, futures):
    """Whether ``err`` is the exception of one of the (finished) ``futures``."""
    return any(f.done() and not f.cancelled() and f.exception() is err for f in futures)


class _Chains:
    """The chains of one run_chains call, (index, seed), handed out once each."""

    def __init__(self, seeds):
        self._next = iter(enumerate(seeds))
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._next)


def _run_queue(task, queue, results, stop):
    """A worker's share of run_chains: chains from ``queue`` until it is empty or the
    fit is stopped; a failed chain stops the others."""
    for index, seed in queue:
        if stop[0]:
            return
        try:
            results[index] = task(seed, stop=stop, check_signals=False)
        except BaseException:
            stop[0] = 1
            raise


def _wait_for(futures):
    """Wait for the workers of a stopped run: those not started never will, those
    running end at their chains' next sweep."""
    for f in futures:
        f.cancel()
    wait(futures)


# The thread backend's workers are kept for the life of the process: with a pool made
# per fit, a 4-chain fit of NES on 2 workers spent ~1 ms more outside its sweeps (pool
# start and stop, and chains set up in new threads; tiny_ab.py in RESULTS.md, issue 12
# session 12). Up to max(cores, 8) threads, started as fits need them; a fit that asks
# for more workers than are idle queues its chains behind the running ones (the chains
# are CPU-bound: threads beyond the cores would not run them sooner).
_CHAIN_WORKERS = KeptPool(max(os.cpu_count() or 1, 8), "fastgibbs-chain")


def chain_workers(n_jobs, n_chains, backend="thread"):
    """How many workers run ``n_chains`` chains when ``n_jobs`` are asked for (None:
    one per core): at most one per chain, and on the thread backend at most the kept
    pool's max(cores, 8) threads."""
    n = default_jobs(n_chains) if n_jobs is None else min(int(n_jobs), n_chains)
    return min(n, _CHAIN_WORKERS.max_workers) if backend == "thread" else n


def _ignore_sigint():
    """Process-pool initializer: Ctrl-C is handled by the main process, which stops
    the workers itself (so they print no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_chains(task, seeds, n_jobs=None, backend="thread"):
    """Call ``task(seed_seq, stop=..., check_signals=...)`` for each seed, in parallel;
    results in seed order.

    ``stop`` is an int32 flag shared by the chains (None on the process backend):
    setting it makes every kernel stop at its next sweep. Ctrl-C (KeyboardInterrupt
    in the main thread) sets it, waits for the threads or terminates the worker
    processes, and re-raises, so no chain keeps running. ``task`` must be picklable
    (a module-level function or a functools.partial of one) for the process backend.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    n_jobs = default_jobs(len(seeds)) if n_jobs is None else n_jobs
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    n_jobs = chain_workers(n_jobs, len(seeds), backend)
    stop = np.zeros(1, dtype=np.int32)
    if n_jobs == 1:
        on_main = threading.current_thread() is threading.main_thread()
        return [task(s, stop=stop, check_signals=on_main) for s in seeds]
    if backend == "thread":
        # n_jobs workers of the kept pool, each taking the next chain until none is left
        queue = _Chains(seeds)
        results = [None] * len(seeds)
        pool = _CHAIN_WORKERS.get()
        futures = []
        try:
            # inside the try: a worker handed out before Ctrl-C lands here sees the stop flag
            for _ in range(n_jobs):
                futures.append(pool.submit(_run_queue, task, queue, results, stop))
            for f in futures:
                f.result()
        except KeyboardInterrupt:       # Ctrl-C in this thread: stop every chain
            stop[0] = 1
            _wait_for(futures)
            raise
        except BaseException as err:    # a chain failed: the others stop at once
            stop[0] = 1
            _wait_for(futures)
            if not _from_a_chain(err, futures):
                raise                   # this thread's own (a signal handler's, say)
            raise _first_error(futures) from None
        return results
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=context,
                               initializer=_ignore_sigint)
    futures = [pool.submit(task, s, stop=None, check_signals=False) for s in seeds]
    try:
        results = [f.result() for f in futures]
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results
