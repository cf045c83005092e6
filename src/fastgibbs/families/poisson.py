"""Poisson family with the log link: y ~ Poisson(exp(eta)).

The kernel samples it exactly: the inter-arrival times of the Poisson process turn
each count into one or two observations of eta with -log Gamma(nu, 1) errors
(Fruhwirth-Schnatter & Wagner 2006, Biometrika 93(4)); each error density is
replaced by a normal mixture (whose component is drawn) to propose the location
parameters and sds, and a Metropolis-Hastings step with the exact densities accepts
or rejects every proposal (see ``_core.pyx``). The mixtures (fitted once by
``scripts/fit_poisson_mixtures.py``) therefore only set the acceptance rate; the
kernel counts acceptances and the fit reports them. The mixtures are accurate over the
bulk of each error density only: a count far from its fitted mean (overdispersion,
excess zeros) leaves its error deep in a tail, where the rate collapses and the chains
stick; the fit then warns (``fastgibbs.results.MH_ACCEPTANCE_WARN``).
"""
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._kinds import Family as Kind
from .base import Family, Response, check_counts

__all__ = ["Poisson", "mixture_tables"]

MIXTURES = Path(__file__).with_name("poisson_mixtures.npz")


class _LogLink(Family):
    link = "log"
    aggregates = True
    discrete = True
    eta_limit = 700.0        # exp(709.8) is the largest double

    def inverse_link(self, eta):
        return np.exp(eta)

    def response(self, term, name, data):
        kind = getattr(term, "kind", "numeric")
        if kind != "numeric":
            raise TypeError(f"{self.name} response {name!r} must hold counts, got a "
                            f"{kind} column")
        y = check_counts(np.asarray(term.design_matrix).reshape(-1), name, self.name)
        return Response(y=y)

    def check_new_response(self, y, design):
        check_counts(y, "y", self.name)

    def prior_scale(self, y, trials, offset, weights):
        w = np.ones_like(y) if weights is None else weights
        rate = np.sum(w * y) / np.sum(w * np.exp(offset))
        return (float(np.log(rate)) if rate > 0 else 0.0), 1.0

    def prior_scale_from(self, moments):
        """prior_scale of a streamed design, from the sums its cells carry
        (fastgibbs.streaming.cells.CellMoments: sum w y, sum w exp(offset))."""
        rate = moments.response_sum / moments.exposure_sum
        return (float(np.log(rate)) if rate > 0 else 0.0), 1.0


class Poisson(_LogLink):
    name = "poisson"
    kind = Kind.FAMILY_POISSON

    def log_likelihood(self, y, eta, params, trials=None):
        from scipy.special import gammaln
        return y * eta - np.exp(eta) - gammaln(y + 1.0)

    def variance(self, eta, params, trials=None):
        return np.exp(eta)

    def simulate(self, eta, params, rng, trials=None):
        return rng.poisson(count_mean(eta)).astype(float)

    def latent_variance(self, params, intercept=None):
        """log(1 + 1/lambda), lambda = exp(beta_0 + total group variance / 2): the
        lognormal approximation of Nakagawa, Johnson & Schielzeth (2017, J. R. Soc.
        Interface 14: 20170213, Table 1)."""
        return np.log1p(1.0 / np.exp(intercept))


MAX_SIMULATED_MEAN = 1e15      # numpy's Poisson sampler refuses means near 1e19


def count_mean(eta):
    """exp(eta) for simulating counts; a ValueError (not numpy's 'lam value too large')
    when parameters drawn from a vague prior put a mean beyond what can be drawn."""
    eta = np.asarray(eta, dtype=float)
    if eta.size and np.nanmax(eta) > np.log(MAX_SIMULATED_MEAN):
        raise ValueError(f"a simulated count has mean exp({np.nanmax(eta):.3g}), too large "
                         "to draw: the parameters (drawn from the prior?) are too extreme; "
                         "pass params= with values, or use tighter priors")
    return np.exp(eta)


@lru_cache(maxsize=1)
def _standard_mixtures():
    with np.load(MIXTURES) as f:
        return {k: f[k] for k in f.files}


def mixture_tables(counts):
    """Mixture tables for the kernel: the unit mixture (nu = 1, the -log Exp(1) error
    of the second arrival time) and one mixture per distinct positive count.

    Returns (tables, index): ``tables`` a dict of flat arrays w, m, s (weights, means,
    sds of every component), off (start of each mixture, one more entry than
    mixtures) and unit (the index of the nu = 1 mixture); ``index`` (len(counts),)
    the mixture of each count (0 for count 0, unused)."""
    from scipy.special import digamma, polygamma

    std = _standard_mixtures()
    counts = np.asarray(counts, dtype=float)
    distinct = np.unique(counts[counts > 0])
    nus = np.concatenate([[1.0], distinct])
    w, m, s, off = [], [], [], [0]
    for nu in nus:
        g = int(np.argmin(np.abs(np.log(std["nu"]) - np.log(nu))))
        a, b = std["off"][g], std["off"][g + 1]
        mean, sd = -digamma(nu), np.sqrt(polygamma(1, nu))
        w.append(std["w"][a:b])
        m.append(mean + sd * std["m"][a:b])
        s.append(sd * std["s"][a:b])
        off.append(off[-1] + (b - a))
    index = np.zeros(len(counts), dtype=np.intp)
    positive = counts > 0
    index[positive] = 1 + np.searchsorted(distinct, counts[positive])
    tables = {"w": np.concatenate(w), "m": np.concatenate(m), "s": np.concatenate(s),
              "off": np.array(off, dtype=np.intp), "unit": 0}
    return tables, index
