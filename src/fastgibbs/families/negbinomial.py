"""Negative binomial (NB2) family with the log link: y ~ NB(mean mu = exp(eta),
variance mu + mu^2 / alpha), as bambi's ``negativebinomial`` (brms's ``shape``,
glmer.nb's theta). Sampled by Polya-Gamma augmentation, omega ~ PG(y + alpha,
eta - log alpha) (Polson, Scott & Windle 2013, sec. 3.2; Zhou et al. 2012), and
alpha by slice sampling of its exact conditional given eta (Neal 2003)."""
import numpy as np

from .._kinds import Family as Kind
from .base import Family, Response, check_counts
from .poisson import _LogLink, count_mean

__all__ = ["NegativeBinomial"]


class NegativeBinomial(_LogLink):
    name = "negativebinomial"
    kind = Kind.FAMILY_NEGBINOMIAL
    dispersion = ("alpha",)

    def default_dispersion_priors(self, y, weights):
        """alpha ~ Gamma(0.01, 0.01), brms's default for the NB shape: close to flat in
        log alpha from about 0.01 up to 100, decaying beyond, where the data cannot
        tell the model from a Poisson one."""
        from ..priors import Gamma
        return {"alpha": Gamma(0.01, 0.01)}

    def dispersion_priors_from(self, moments):
        """The default prior of alpha reads no data: the same for streamed data."""
        return self.default_dispersion_priors(None, None)

    def log_likelihood(self, y, eta, params, trials=None):
        from scipy.special import gammaln
        alpha = params["alpha"]
        log_denominator = np.logaddexp(np.log(alpha), eta)
        return (gammaln(y + alpha) - gammaln(alpha) - gammaln(y + 1.0)
                + alpha * (np.log(alpha) - log_denominator) + y * (eta - log_denominator))

    def variance(self, eta, params, trials=None):
        mu = np.exp(eta)
        return mu + mu * mu / params["alpha"]

    def simulate(self, eta, params, rng, trials=None):
        alpha = np.broadcast_to(params["alpha"], np.shape(eta))
        mu = count_mean(eta)
        rate = rng.gamma(alpha, mu / alpha)          # Poisson-gamma mixture
        return rng.poisson(rate).astype(float)

    def latent_variance(self, params, intercept=None):
        """log(1 + 1/lambda + 1/alpha) (Nakagawa, Johnson & Schielzeth 2017, Table 1)."""
        return np.log1p(1.0 / np.exp(intercept) + 1.0 / params["alpha"])
