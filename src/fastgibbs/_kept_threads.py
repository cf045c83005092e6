"""Thread pools kept for the life of the process.

The chains of a fit (`fastgibbs.chains`) and the parameter blocks of a summary
(`fastgibbs.diagnostics`) run on threads that outlive the call: a pool made per call
paid its thread start-up every time, and its new threads page faults on their fresh
scratch arrays (measured in benchmarks/RESULTS.md, issue 12 sessions 11 and 12).
"""
from concurrent.futures import ThreadPoolExecutor
import os
import threading

__all__ = ["KeptPool"]


class KeptPool:
    """A ThreadPoolExecutor of at most ``max_workers`` threads named ``name-*``, made at
    the first `get` and kept; its threads start as calls need them. A forked child,
    where the parent's threads do not exist, makes its own pool."""

    def __init__(self, max_workers, name):
        self.max_workers = max_workers
        self.name = name
        self._pool = None
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers,
                                                thread_name_prefix=self.name)
            return self._pool

    def _forget(self):
        self._pool = None
        self._lock = threading.Lock()
