"""Bernoulli family with the probit link, ``family="bernoulli", link="probit"``:
P(y = 1) = Phi(eta).

Sampled by the truncated-normal augmentation of Albert & Chib (1993, JASA 88(422)):
z ~ N(eta, 1) truncated to z > 0 when y = 1 and z <= 0 when y = 0, after which the
location parameters have the Gaussian conditional of a regression of z with sigma = 1.
Rows with the same covariates, groups and offset collapse into cells of n trials; the
weights are then the trials and never change, so the kernel forms X'WX, Z'WZ, Z'WX and
the cells between blocks once, and each sweep refills only X'b and Z'b.
"""
import numpy as np

from .._kinds import Family as Kind
from .binomial import Bernoulli

__all__ = ["BernoulliProbit", "log_ndtr", "ndtr"]


def ndtr(x):
    """Phi(x), the standard normal distribution function."""
    from scipy.special import ndtr as _ndtr
    return _ndtr(np.asarray(x, dtype=float))


def log_ndtr(x):
    """log Phi(x), accurate in the lower tail."""
    from scipy.special import log_ndtr as _log_ndtr
    return _log_ndtr(np.asarray(x, dtype=float))


class BernoulliProbit(Bernoulli):
    """y_i in {0, 1} (as :class:`~fastgibbs.families.binomial.Bernoulli`), P(y = 1) =
    Phi(eta)."""

    kind = Kind.FAMILY_PROBIT
    link = "probit"
    integer_weights = True       # one latent z per observation
    # Phi(-37.5) is the smallest normal double: beyond it P(y) is 0 or 1 in doubles
    eta_limit = 37.0

    def options(self):
        return {"link": "probit", **super().options()}

    def inverse_link(self, eta):
        return ndtr(eta)

    def log_likelihood(self, y, eta, params, trials=None):
        from scipy.special import gammaln
        n = np.ones_like(np.asarray(y, dtype=float)) if trials is None else trials
        return (gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
                + y * log_ndtr(eta) + (n - y) * log_ndtr(-np.asarray(eta, dtype=float)))

    def simulate(self, eta, params, rng, trials=None):
        n = 1 if trials is None else np.asarray(trials).astype(np.int64)
        return rng.binomial(n, ndtr(eta)).astype(float)

    def variance(self, eta, params, trials=None):
        # Phi(eta) Phi(-eta) from the log cdfs: 1 - Phi rounds to 0 once eta > 8
        eta = np.asarray(eta, dtype=float)
        v = np.exp(log_ndtr(eta) + log_ndtr(-eta))
        return v if trials is None else v * trials

    def latent_variance(self, params, intercept=None):
        """1: the variance of the standard normal latent residual of a probit model."""
        return 1.0
