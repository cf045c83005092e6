"""Run independent chains in parallel with reproducible seeds.

Seeds: ``np.random.SeedSequence(seed).spawn(n_chains)``; chain c always gets child c,
builds its own ``PCG64`` inside the worker, and so produces the same draws whatever
the number of workers or the backend.

Backends:
- ``"thread"`` (default): a thread pool. The kernels release the GIL for the whole
  run, so chains run truly in parallel with no process start-up, no pickling, and no
  ``if __name__ == "__main__"`` guard; measured in benchmarks/RESULTS.md to be the
  faster choice for every model size we tried.
- ``"process"``: a ``spawn``-context process pool (safe from scripts and Jupyter);
  only the (small) sufficient statistics are sent to the workers.
"""
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import multiprocessing
import os
import signal
import threading

import numpy as np

__all__ = ["chain_seeds", "run_chains"]

BACKENDS = ("thread", "process")


def chain_seeds(seed, n_chains):
    """Per-chain SeedSequences from ``seed`` (None, int or SeedSequence)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root, root.spawn(n_chains)


def default_jobs(n_chains):
    return max(1, min(n_chains, os.cpu_count() or 1))


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
    n_jobs = min(int(n_jobs), len(seeds))
    stop = np.zeros(1, dtype=np.int32)
    if n_jobs == 1:
        on_main = threading.current_thread() is threading.main_thread()
        return [task(s, stop=stop, check_signals=on_main) for s in seeds]
    if backend == "thread":
        pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="fastgibbs-chain")
        futures = [pool.submit(task, s, stop=stop, check_signals=False) for s in seeds]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            stop[0] = 1
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
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
