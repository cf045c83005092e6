"""Process-wide settings while fastgibbs builds and samples a model.

Two defaults of numpy's runtime cost a fit much more than they give it (measured on
the 2-core benchmark machine; benchmarks/RESULTS.md, session 10):

- **One BLAS thread.** OpenBLAS (numpy's and scipy's BLAS) hands even small products,
  such as the 476 x 46 Gram matrix of the NES model, to its worker threads, which
  then busy-wait for about 2^28 cycles (~0.1 s of a core) for more work. That core
  is taken from the chains that start right after the design is built (the NES fit
  ran 1.3-1.8x slower), and ``fastgibbs.study`` set it off again at every refit. The
  matrices of a design are small or tall and thin: one thread loses little on them.
  threadpoolctl (the scikit-learn/joblib project's tool for exactly this) sets the
  limit for every BLAS library loaded (OpenBLAS, MKL, BLIS).
- **No transparent-huge-page advice.** numpy asks the kernel for huge pages on every
  array of 4 MB or more (madvise MADV_HUGEPAGE). Where the kernel then compacts
  memory at the page fault (``/sys/kernel/mm/transparent_hugepage/defrag`` set to
  ``madvise``, a common default), each first touch of a fresh array stalls: the
  design of 10^6 rows took 1.5 s instead of 0.6 s, and writing the draws of InstEval
  0.7 s more. A fit writes its large arrays once and reads them in order, which
  gains nothing from huge pages. numpy's switch for this is
  ``numpy._core.multiarray._set_madvise_hugepage`` (the runtime form of its
  ``NUMPY_MADVISE_HUGEPAGE`` variable); where a numpy lacks it, nothing changes.

A BLAS library loaded while a call runs (scipy's, when the first fit imports
formulae) is limited from the next call on. Both settings are process-wide: while a
fit runs, the user's other threads get one BLAS thread and no huge-page advice as
well. The first fastgibbs call to enter sets them, and its thread restores what
the caller had when that call leaves (calls nest, and study's worker threads share
the limits their caller's thread holds). The restore
cannot wait for the last thread to leave: OpenBLAS ignores a thread count set from
another thread once the main thread has set one, so a restore from a user's thread
that left after the main thread's fit would leave the process on one BLAS thread.
A thread still in a fit then runs on the caller's settings.
"""
from contextlib import contextmanager
from functools import wraps
import sys
import threading

__all__ = ["process_limits", "with_process_limits"]

_LOCK = threading.Lock()
_state = {"owner": None, "blas": None, "hugepage": None, "controller": None, "modules": -1}
_local = threading.local()      # this thread's depth of nested calls


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, rebuilt when modules were
    imported since (scipy.linalg, say, loads a BLAS of its own); None without it."""
    n_modules = len(sys.modules)
    if _state["modules"] != n_modules:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["controller"] = None
        else:
            _state["controller"] = ThreadpoolController()
        _state["modules"] = n_modules
    return _state["controller"]


def _hugepage_switch():
    import numpy as np

    core = getattr(np, "_core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


def _enter():
    # a speed setting must never fail a fit: a library threadpoolctl cannot drive
    # (or a numpy without the switch) leaves that setting as it is
    try:
        controller = _blas_controller()
        _state["blas"] = None if controller is None else \
            controller.limit(limits=1, user_api="blas")
    except Exception:
        _state["blas"] = None
    switch = _hugepage_switch()
    try:
        _state["hugepage"] = None if switch is None else (switch, switch(False))
    except Exception:
        _state["hugepage"] = None


def _leave():
    blas, hugepage = _state["blas"], _state["hugepage"]
    _state["blas"] = _state["hugepage"] = None
    try:
        if blas is not None:
            blas.restore_original_limits()
    finally:
        if hugepage is not None:
            switch, before = hugepage
            switch(before)


@contextmanager
def process_limits():
    """One BLAS thread and no huge-page advice inside the block (module docstring)."""
    depth = getattr(_local, "depth", 0)
    me = threading.get_ident()
    if depth == 0:
        with _LOCK:
            if _state["owner"] is None:
                _enter()
                _state["owner"] = me
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0:
            with _LOCK:
                if _state["owner"] == me:
                    _state["owner"] = None
                    _leave()


def with_process_limits(function):
    """Decorator: run ``function`` inside :func:`process_limits`."""
    @wraps(function)
    def limited(*args, **kwargs):
        with process_limits():
            return function(*args, **kwargs)
    return limited
