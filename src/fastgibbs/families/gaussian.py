"""Gaussian family: y ~ N(eta, sigma^2) (identity link)."""
import numpy as np

from .._kinds import Family as Kind
from ..moments import mean_sd
from .base import Family, Response

__all__ = ["Gaussian"]

LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


class Gaussian(Family):
    name = "gaussian"
    kind = Kind.FAMILY_GAUSSIAN
    link = "identity"
    dispersion = ("sigma",)

    def response(self, term, name, data):
        kind = getattr(term, "kind", "numeric")
        if kind != "numeric":
            raise TypeError(f"response {name!r} must be numeric for a gaussian model, "
                            f"got a {kind} column")
        y = np.asarray(term.design_matrix).astype(float).reshape(-1)
        bad = ~np.isfinite(y)
        if bad.any():
            raise ValueError(f"column {name!r} has {int(bad.sum())} non-finite value(s) "
                             "(inf or nan)")
        return Response(y=y)

    def inverse_link(self, eta):
        return eta

    def prior_scale(self, y, trials, offset, weights):
        mean, sd = mean_sd(y - offset, weights)
        return mean, (sd if sd > 0 and np.isfinite(sd) else 1.0)

    def default_dispersion_priors(self, y, weights):
        from ..priors import HalfCauchy
        _, sd = mean_sd(y, weights)
        return {"sigma": HalfCauchy(sd if sd > 0 and np.isfinite(sd) else 1.0)}

    def prior_scale_from(self, moments):
        mean, sd = moments.y()
        return mean, (sd if sd > 0 and np.isfinite(sd) else 1.0)

    def dispersion_priors_from(self, moments):
        from ..priors import HalfCauchy
        _, sd = moments.y()
        return {"sigma": HalfCauchy(sd if sd > 0 and np.isfinite(sd) else 1.0)}

    def log_likelihood(self, y, eta, params, trials=None):
        sigma = params["sigma"]
        z = (y - eta) / sigma
        return -0.5 * z * z - np.log(sigma) - LOG_SQRT_2PI

    def variance(self, eta, params, trials=None):
        return np.broadcast_to(params["sigma"] ** 2, np.shape(eta))

    def simulate(self, eta, params, rng, trials=None):
        return eta + params["sigma"] * rng.standard_normal(np.shape(eta))

    def latent_variance(self, params, intercept=None):
        return params["sigma"] ** 2
