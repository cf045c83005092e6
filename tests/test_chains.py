"""Seeds and parallel chains: reproducible whatever the workers."""
import threading

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg

from forked import needs_fork, result_in_forked_child

FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"


@pytest.fixture(scope="module")
def nes():
    return fg.datasets.load("nes2000")


def _fit(nes, **kw):
    return fg.fit(FORMULA, nes, chains=3, warmup=50, draws=100, seed=5, **kw)


@pytest.mark.parametrize("n_jobs,backend", [(2, "thread"), (3, "thread"), (2, "process")])
def test_same_seed_same_draws_for_any_workers(nes, n_jobs, backend):
    reference = _fit(nes, n_jobs=1)
    other = _fit(nes, n_jobs=n_jobs, backend=backend)
    np.testing.assert_array_equal(reference.draws(), other.draws())
    np.testing.assert_array_equal(reference.draws(warmup=True), other.draws(warmup=True))


def test_chains_differ_and_seeds_matter(nes):
    fit = _fit(nes)
    d = fit.draws("sigma")
    assert not np.array_equal(d[0], d[1])
    other = fg.fit(FORMULA, nes, chains=3, warmup=50, draws=100, seed=6)
    assert not np.array_equal(fit.draws(), other.draws())


def test_initial_values_are_dispersed(nes):
    fit = fg.fit(FORMULA, nes, chains=4, warmup=5, draws=10, seed=1)
    first = fit.draws("1|state_sigma", warmup=True)[:, 0]
    assert len(np.unique(first)) == 4


def test_warmup_kept_separately(nes):
    fit = fg.fit(FORMULA, nes, chains=2, warmup=30, draws=40, seed=1)
    assert fit.draws(warmup=True).shape == (2, 30, len(fit.names))
    assert fit.draws().shape == (2, 40, len(fit.names))


def test_thinning_keeps_every_kth_sweep(nes):
    full = fg.fit(FORMULA, nes, chains=1, warmup=10, draws=60, seed=3)
    thinned = fg.fit(FORMULA, nes, chains=1, warmup=10, draws=20, thin=3, seed=3)
    np.testing.assert_array_equal(full.draws()[:, 2::3], thinned.draws())


# fit.seed re-runs the fit (issue 11.8) --------------------------------------------------------

def _small(nes, seed, **kw):
    return fg.fit(FORMULA, nes, chains=2, warmup=10, draws=20, seed=seed, **kw)


def test_the_same_seed_sequence_twice_gives_the_same_draws(nes):
    seq = np.random.SeedSequence(7)
    first, second = _small(nes, seq), _small(nes, seq)
    np.testing.assert_array_equal(first.draws_array, second.draws_array)
    assert seq.n_children_spawned == 0           # the caller's sequence is not advanced


def test_children_are_those_spawn_gives_a_fresh_sequence():
    from fastgibbs.chains import chain_seeds
    _, ours = chain_seeds(11, 3)
    theirs = np.random.SeedSequence(11).spawn(3)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))


@pytest.mark.parametrize("seed", [None, 5, [5, 6], np.int64(9),
                                  np.random.SeedSequence(7, spawn_key=(3,)),
                                  np.random.SeedSequence(7, spawn_key=(3, 1), pool_size=8),
                                  np.random.SeedSequence(2 ** 100)])
def test_fit_seed_reruns_the_fit_bit_for_bit(nes, seed, tmp_path):
    fit = _small(nes, seed)
    again = _small(nes, fit.seed)
    np.testing.assert_array_equal(fit.draws_array, again.draws_array)
    loaded = fg.load(fit.save(tmp_path / "fit"))
    np.testing.assert_array_equal(_small(nes, loaded.seed).draws_array, fit.draws_array)
    assert "\n" not in str(fit).split(" seed ")[1].splitlines()[0]    # one-line seed label


def test_a_used_seed_sequence_is_not_advanced(nes):
    seq = np.random.SeedSequence(3)
    seq.spawn(5)                                  # the caller used it before
    fit = _small(nes, seq)
    np.testing.assert_array_equal(fit.draws_array, _small(nes, 3).draws_array)


def test_study_fits_record_a_seed_that_reruns_them(nes):
    model = fg.Model(FORMULA, nes)
    kwargs = {"chains": 2, "warmup": 10, "draws": 20}
    seen = {}

    def stats(fit, dataset):
        seen[len(seen)] = (fit.seed, fit.draws_array.copy(), dataset["y"])
        return {"mean_sigma": float(fit.draws("sigma").mean())}

    sims = model.simulate(n=2, seed=1)
    df = fg.study(model, sims, sample_kwargs=kwargs, stats=stats, seed=4, n_jobs=1)
    assert df["error"].isna().all()
    for seed, draws, y in seen.values():
        np.testing.assert_array_equal(model.refit(y, seed=seed, **kwargs).draws_array, draws)
    root = df.attrs["seed"]
    assert isinstance(root, int) and root == 4


def test_sbc_does_not_advance_the_callers_seed_sequence(nes):
    model = fg.Model(FORMULA, nes)
    seq = np.random.SeedSequence(8)
    kwargs = {"chains": 1, "warmup": 5, "draws": 20}
    first = fg.sbc(model, n_sims=2, thin=10, sample_kwargs=kwargs, seed=seq, n_jobs=1)
    second = fg.sbc(model, n_sims=2, thin=10, sample_kwargs=kwargs, seed=seq, n_jobs=1)
    assert seq.n_children_spawned == 0
    pd.testing.assert_frame_equal(first.ranks, second.ranks)


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (1.5, TypeError), (True, TypeError),
                                        ("1", TypeError), ([1, -2], ValueError)])
def test_bad_seeds_are_refused_naming_the_argument(nes, seed, error):
    with pytest.raises(error, match="seed must be"):
        _small(nes, seed)


def _fit_in_child(data, queue):
    queue.put(fg.fit(FORMULA, data, chains=4, warmup=50, draws=50, seed=3, n_jobs=2).draws_array)


@needs_fork
def test_fit_in_a_forked_child_does_not_wait_for_the_parents_chain_threads(nes):
    """The thread backend's kept workers do not exist in a forked child: it makes its own."""
    expected = fg.fit(FORMULA, nes, chains=4, warmup=50, draws=50, seed=3, n_jobs=2).draws_array
    np.testing.assert_array_equal(result_in_forked_child(_fit_in_child, nes), expected)


def test_kept_chain_workers_take_the_chains_in_turn_and_stay_for_the_next_fit(nes):
    """n_jobs workers share a fit's chains; the threads outlive the fit, idle."""
    from fastgibbs import chains

    seen = []

    def task(seed, stop, check_signals):
        seen.append(threading.get_ident())
        return seed

    assert chains.run_chains(task, list(range(6)), n_jobs=2) == list(range(6))
    first = set(seen)
    assert len(first) <= 2 and threading.main_thread().ident not in first
    seen.clear()
    assert chains.run_chains(task, list(range(6)), n_jobs=2) == list(range(6))
    assert set(seen) <= set(t.ident for t in threading.enumerate())


def test_a_fit_reports_the_workers_that_ran_its_chains(nes):
    """n_jobs=16 ran 16 chains on the kept pool's max(cores, 8) threads; the fit said 16."""
    from fastgibbs import chains

    def workers(n_chains, n_jobs):
        return fg.fit(FORMULA, nes, chains=n_chains, warmup=5, draws=5, seed=1,
                      n_jobs=n_jobs).n_jobs

    cap = chains._CHAIN_WORKERS.max_workers
    assert workers(cap + 2, cap + 2) == cap
    assert workers(3, 16) == 3 and workers(3, 2) == 2
    assert chains.chain_workers(cap + 2, cap + 2, "process") == cap + 2
    assert chains.chain_workers(None, 1) == 1


def _waits_for_stop(seed, stop, check_signals):
    """A chain that runs until the fit's stop flag is set (at most 5 s)."""
    import time
    from fastgibbs.chains import ChainStopped
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if stop[0]:
            raise ChainStopped("the fit's other chains were stopped")
        time.sleep(0.005)
    return seed


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs setitimer")
def test_an_exception_in_the_waiting_thread_is_raised_as_itself():
    """An exception raised in the thread waiting for the chains (a SIGALRM handler's
    timeout, say) stops them and is raised as is: it came out as the chains' ChainStopped
    ("the fit's other chains were stopped"), or an IndexError if none had failed."""
    import signal
    from fastgibbs import chains

    def timeout(signum, frame):
        raise TimeoutError("fit took too long")

    previous = signal.signal(signal.SIGALRM, timeout)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(TimeoutError, match="fit took too long"):
            chains.run_chains(_waits_for_stop, list(range(4)), n_jobs=2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_ctrl_c_while_the_workers_are_handed_out_stops_the_chains_already_started(monkeypatch):
    """Ctrl-C landing in run_chains between two pool.submit calls (the first may start a
    thread) left the workers already submitted running their chains to the end, unseen:
    the stop flag was only set for an interrupt while waiting for them."""
    import time
    from fastgibbs import chains

    running = []

    def chain(seed, stop, check_signals):
        running.append(seed)
        try:
            return _waits_for_stop(seed, stop, check_signals)
        finally:
            running.remove(seed)

    pool = chains._CHAIN_WORKERS.get()

    class InterruptedPool:
        calls = 0

        def submit(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 2:
                while not running:      # the first worker has its chain
                    time.sleep(0.001)
                raise KeyboardInterrupt
            return pool.submit(*args, **kwargs)

    monkeypatch.setattr(chains._CHAIN_WORKERS, "get", InterruptedPool)
    with pytest.raises(KeyboardInterrupt):
        chains.run_chains(chain, list(range(4)), n_jobs=2)
    end = time.monotonic() + 1
    while running and time.monotonic() < end:
        time.sleep(0.005)
    assert not running, "a chain ran on after Ctrl-C"
