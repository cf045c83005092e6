"""Process-wide settings during a fit (fastgibbs._process_limits): one BLAS thread and
no huge-page advice inside, the caller's settings back after, also across threads,
nesting and errors."""
import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastgibbs as fg
from fastgibbs import _process_limits
from fastgibbs._process_limits import process_limits

FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"
switch = _process_limits._hugepage_switch()


def blas_threads():
    return sorted(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def hugepage_advice():
    """numpy's current setting (its switch returns the value it replaces)."""
    before = switch(False)
    switch(before)
    return before


@pytest.fixture
def two_blas_threads():
    """The caller's settings: 2 BLAS threads and huge-page advice on (restored after)."""
    if not any(lib["user_api"] == "blas" for lib in threadpool_info()):
        pytest.skip("no BLAS library that threadpoolctl can see")
    with threadpool_limits(limits=2, user_api="blas"):
        before = switch(True) if switch is not None else None
        yield
        if switch is not None:
            switch(before)


def test_inside_one_blas_thread_and_no_hugepage_advice_then_restored(two_blas_threads):
    assert set(blas_threads()) == {2}
    with process_limits():
        assert set(blas_threads()) == {1}
        if switch is not None:
            assert hugepage_advice() is False
    assert set(blas_threads()) == {2}
    if switch is not None:
        assert hugepage_advice() is True


def test_a_fit_holds_the_limits_while_it_builds_and_samples(two_blas_threads, monkeypatch):
    from fastgibbs import api

    nes = fg.datasets.load("nes2000")
    # the first fit loads formulae, and scipy's BLAS with it: limited from the next call
    fg.fit(FORMULA, nes, chains=1, warmup=5, draws=5, seed=1)
    seen = []
    for name in ("build_problem", "run_chains"):
        original = getattr(api, name)

        def spy(*args, _original=original, **kwargs):
            seen.append((blas_threads(), None if switch is None else hugepage_advice()))
            return _original(*args, **kwargs)
        monkeypatch.setattr(api, name, spy)
    fg.fit(FORMULA, nes, chains=2, warmup=20, draws=20, seed=1)
    model = fg.Model(FORMULA, nes)
    model.refit(model.simulate(seed=1)[0]["y"], chains=2, warmup=20, draws=20, seed=2)
    assert len(seen) == 5          # fit: 2, Model: 1, refit: 2
    assert all(set(threads) == {1} and advice in (False, None) for threads, advice in seen)
    assert set(blas_threads()) == {2}


def test_a_fit_restores_the_settings_also_when_it_fails(two_blas_threads):
    nes = fg.datasets.load("nes2000")

    def stats(fit, dataset):            # runs in study's worker threads
        return {"threads": max(blas_threads())}

    fg.fit(FORMULA, nes, chains=2, warmup=20, draws=20, seed=1)
    assert set(blas_threads()) == {2}
    with pytest.raises(ValueError, match="column 'nope'"):
        fg.fit("real_ideo ~ nope + (1 | state)", nes, chains=2, warmup=20, draws=20)
    assert set(blas_threads()) == {2}
    if switch is not None:
        assert hugepage_advice() is True
    # study's worker threads refit inside the limits and leave them as they found them
    model = fg.Model(FORMULA, nes)
    frame = fg.study(model, model.simulate(n=4, seed=2), stats=stats, seed=3, n_jobs=2,
                     sample_kwargs={"chains": 2, "warmup": 20, "draws": 20}, progress=False)
    assert frame["error"].isna().all() and (frame["threads"] == 1).all()
    assert set(blas_threads()) == {2}


def test_nested_and_overlapping_calls_from_threads_restore_the_callers_setting(
        two_blas_threads):
    """As in a study: the caller's thread holds the limits, worker threads nest inside
    and may leave in any order. (OpenBLAS ignores a thread count set from another
    thread once the main thread has set one, so the caller's thread sets it.)"""
    entered, release = threading.Barrier(3), threading.Event()
    inside = []

    def worker():
        with process_limits():
            with process_limits():          # nested: a refit inside a study, say
                entered.wait(10)
                release.wait(10)
            inside.append(blas_threads())

    with process_limits():
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        entered.wait(10)                    # both workers inside at once
        assert set(blas_threads()) == {1}
        release.set()
        for t in threads:
            t.join(10)
        assert inside == [[1] * len(blas_threads())] * 2
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) == {2}
    assert _process_limits._state["owner"] is None


def test_a_blas_library_that_cannot_be_driven_does_not_fail_the_fit(monkeypatch):
    class Broken:
        def limit(self, **kwargs):
            raise OSError("cannot set the number of threads")

    monkeypatch.setattr(_process_limits, "_blas_controller", lambda: Broken())
    fit = fg.fit(FORMULA, fg.datasets.load("nes2000"), chains=1, warmup=10, draws=10, seed=1)
    assert fit.draws().shape == (1, 10, len(fit.names))
    assert _process_limits._state["owner"] is None


def test_ctrl_c_inside_a_fit_restores_the_settings(two_blas_threads, monkeypatch):
    from fastgibbs import api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "run_chains", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fg.fit(FORMULA, fg.datasets.load("nes2000"), chains=2, warmup=10, draws=10)
    assert set(blas_threads()) == {2}
    assert _process_limits._state["owner"] is None


def test_the_callers_setting_is_back_when_another_thread_leaves_last(two_blas_threads):
    """A user's thread calls fastgibbs while the main thread is in a fit and leaves
    after it: the setting is restored all the same (OpenBLAS ignores a count set from
    another thread once the main thread has set one, so the restore cannot wait for
    the last thread to leave)."""
    entered, main_left = threading.Event(), threading.Event()

    def worker():
        with process_limits():
            entered.set()
            main_left.wait(10)

    thread = threading.Thread(target=worker)
    with process_limits():
        thread.start()
        entered.wait(10)
        assert set(blas_threads()) == {1}
    main_left.set()
    thread.join(10)
    assert set(blas_threads()) == {2}
    if switch is not None:
        assert hugepage_advice() is True
    assert _process_limits._state["owner"] is None
