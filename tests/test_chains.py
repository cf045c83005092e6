"""Seeds and parallel chains: reproducible whatever the workers."""
import numpy as np
import pytest

import fastgibbs as fg

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
