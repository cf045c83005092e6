"""Arguments of fit/Model.sample: no unchecked arithmetic (issue 10 item 5), and parameter
names that cannot collide (issue 11)."""
import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg
from fastgibbs import api

FORMULA = "real_ideo ~ partyid7 + (1 | state)"


@pytest.fixture(scope="module")
def model():
    return fg.Model(FORMULA, fg.datasets.load("nes2000"))


@pytest.mark.parametrize("kwargs,name", [
    ({"thin": 2 ** 62}, "thin"),                     # draws * thin overflows a Py_ssize_t
    ({"thin": 2 ** 52, "draws": 2}, "thin"),
    ({"draws": 2 ** 53}, "draws"),
    ({"warmup": 2 ** 60}, "warmup"),
])
def test_sweep_counts_that_overflow_are_refused(model, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: warmup \\+ draws \\* thin"):
        model.sample(chains=1, **kwargs)


@pytest.mark.parametrize("kwargs,name", [({"draws": 10 ** 12}, "draws"),
                                         ({"chains": 10 ** 9, "draws": 10}, "chains"),
                                         ({"warmup": 10 ** 12, "draws": 1}, "warmup")])
def test_draws_that_cannot_fit_in_memory_are_refused_before_allocating(model, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: .* of memory"):
        model.sample(**kwargs)


def test_the_memory_check_counts_every_kept_draw(model, monkeypatch):
    n_params = len(model.names)
    monkeypatch.setattr(api, "_memory_bytes", lambda: 2 * 4 * 150 * n_params * 8)
    model.sample(chains=4, warmup=50, draws=100, seed=1)              # exactly fits
    with pytest.raises(ValueError, match="draws: 4 chains x \\(50 warmup \\+ 101 draws\\)"):
        model.sample(chains=4, warmup=50, draws=101, seed=1)


def test_thinning_does_not_count_against_memory(model, monkeypatch):
    n_params = len(model.names)
    monkeypatch.setattr(api, "_memory_bytes", lambda: 2 * 10 * n_params * 8)
    fit = model.sample(chains=1, warmup=0, draws=10, thin=50, seed=1)
    assert fit.draws_array.shape == (1, 10, n_params)


@pytest.mark.parametrize("family,name", [("gaussian", "sigma"), ("negativebinomial", "alpha")])
def test_a_predictor_named_like_a_family_parameter_is_refused(family, name, rng):
    data = pd.DataFrame({"y": rng.poisson(3, 40), name: rng.standard_normal(40),
                         "g": np.repeat(list("abcd"), 10)})
    with pytest.raises(ValueError, match=f"fixed effect '{name}' has the name of"):
        fg.Model(f"y ~ {name} + (1 | g)", data, family=family)


def test_a_predictor_named_sigma_is_fine_without_sigma(rng):
    """A bernoulli model has no sigma: its prior key is free for a predictor (the
    AttributeError this gave came from reading priors['sigma'] in every family)."""
    data = pd.DataFrame({"y": rng.standard_normal(40), "sigma": rng.standard_normal(40),
                         "g": np.repeat(list("abcd"), 10)})
    data["b"] = (data["y"] > 0).astype(int)
    fit = fg.fit("b ~ sigma + (1 | g)", data, family="bernoulli", chains=1, warmup=20,
                 draws=20, seed=1)
    assert "sigma" in fit.fixed_names


def test_duplicate_parameter_names_are_refused(model):
    names = model.names + (model.names[-1],)
    with pytest.raises(ValueError, match="two parameters would both be named"):
        api.check_parameter_names(model.design, names)
