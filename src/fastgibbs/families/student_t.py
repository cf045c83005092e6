"""Student-t family, ``family="t"``: y = eta + sigma e, e ~ t_nu (identity link), a
gaussian model whose residuals have heavy tails, so that outliers pull the fit less.

Sampled as a scale mixture of normals (Geweke 1993, J. Appl. Econometrics 8(S1)):
e | lambda ~ N(0, 1 / lambda), lambda ~ Gamma(nu/2, nu/2). Given the weights
lambda_i ~ Gamma((nu + 1)/2, (nu + r_i^2 / sigma^2)/2) the model is a weighted
gaussian one, so the kernel's gaussian steps (and sigma's inverse-gamma step) apply.
nu, the degrees of freedom, is sampled by slice sampling of log nu from its
conditional with the weights integrated out, or held fixed: ``priors={"nu": 4}``
(a number instead of a prior, as bambi writes a constant). Its default prior is
Gamma(2, 0.1) (Juarez & Steel 2010, JBES 28(1); brms's default): mean 20, with the
mass from about 1 to 60. Parameters: ``sigma`` (the scale, not the sd) and ``nu``.
"""
import numbers

import numpy as np

from .._kinds import Family as Kind
from ..moments import mean_sd
from .gaussian import Gaussian

__all__ = ["StudentT"]


class StudentT(Gaussian):
    name = "t"
    kind = Kind.FAMILY_STUDENT_T
    integer_weights = True       # one weight lambda per observation

    def __init__(self, nu=None):
        self.nu = None if nu is None else check_nu(nu)

    @property
    def dispersion(self):
        return ("sigma",) if self.nu is not None else ("sigma", "nu")

    @property
    def fixed_parameters(self):
        return {} if self.nu is None else {"nu": self.nu}

    def options(self):
        return {} if self.nu is None else {"nu": self.nu}

    def with_priors(self, priors):
        from ..priors import _squeezed   # keys match whatever their whitespace
        value = None
        for key, prior in (priors.items() if isinstance(priors, dict) else ()):
            if isinstance(key, str) and _squeezed(key) == "nu":
                value = prior
        if value is None or not (isinstance(value, numbers.Real)
                                 or isinstance(value, np.ndarray)):
            return self
        return StudentT(nu=value)

    def default_dispersion_priors(self, y, weights):
        from ..priors import Gamma, HalfCauchy
        _, sd = mean_sd(y, weights)
        out = {"sigma": HalfCauchy(sd if sd > 0 and np.isfinite(sd) else 1.0)}
        if self.nu is None:
            out["nu"] = Gamma(2.0, 0.1)
        return out

    def _nu(self, params):
        return self.nu if self.nu is not None else params["nu"]

    def log_likelihood(self, y, eta, params, trials=None):
        from scipy.special import gammaln
        sigma, nu = params["sigma"], self._nu(params)
        z = (y - eta) / sigma
        return (gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi)
                - np.log(sigma) - 0.5 * (nu + 1.0) * np.log1p(z * z / nu))

    def simulate(self, eta, params, rng, trials=None):
        eta = np.asarray(eta, dtype=float)
        nu = np.broadcast_to(self._nu(params), eta.shape)
        return eta + params["sigma"] * rng.standard_t(nu)

    def variance(self, eta, params, trials=None):
        """sigma^2 nu / (nu - 2), +inf where nu <= 2 (the variance does not exist)."""
        nu = np.asarray(self._nu(params), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(nu > 2.0, params["sigma"] ** 2 * nu / (nu - 2.0), np.inf)
        return np.broadcast_to(v, np.shape(eta))

    def latent_variance(self, params, intercept=None):
        """The residual variance sigma^2 nu / (nu - 2), NaN where nu <= 2 (infinite)."""
        nu = np.asarray(self._nu(params), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(nu > 2.0, params["sigma"] ** 2 * nu / (nu - 2.0), np.nan)


def check_nu(value):
    """A fixed nu as a positive finite float, or ValueError/TypeError naming nu."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"nu must be a number (to fix it) or fg.Gamma (its prior), got "
                        f"{value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"nu (the t family's degrees of freedom) must be positive and "
                         f"finite, got {value!r}")
    return value
