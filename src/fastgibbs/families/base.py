"""What every family provides: the one place a family is defined.

A family owns its response (validation and error messages), its link, how the
kernel augments it (``kind``, a :class:`fastgibbs._kinds.Family` code, and how rows
collapse into cells), its dispersion parameter, the scale of its default priors, the
pointwise log-likelihood, response simulation, and the latent-scale residual variance
used by ICCs. Adding a family is one module here plus its step in ``_core.pyx``.

Model checking (fastgibbs.checking, fastgibbs.cv, plots) uses only these methods, so a
new family gets predictions, log-likelihoods, LOO, cross-validation and posterior
predictive checks by providing them: ``parameter_draws`` (its parameters from a fit's
draws), ``log_likelihood``, ``simulate``, ``mean`` and ``variance`` (the last two have
defaults for families whose mean is the inverse link), and optionally
``cell_log_likelihood``. Every such method works on arrays broadcast over draws:
``eta`` is (draws, rows) and ``y``/``trials`` are (rows,).
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Family", "Response", "check_counts"]


@dataclass(frozen=True)
class Response:
    """A validated response: ``y`` (n_obs,) float and, for binomial families, the
    ``trials`` (n_obs,) float (None otherwise)."""

    y: np.ndarray
    trials: np.ndarray = None


class Family:
    """Base class; see the module docstring. Subclasses set the class attributes and
    implement the methods that raise NotImplementedError."""

    name = None                # "gaussian", "bernoulli", ...
    kind = None                # fastgibbs._kinds.Family code of the kernel step
    link = None                # "identity", "logit", "log", "probit"
    dispersion = ()            # names of dispersion parameters in the draws
    aggregates = False         # rows with the same covariates/groups collapse to cells
    needs_trials = False       # predict/simulate need a trials column
    integer_weights = False    # frequency weights must be whole numbers (latent per row)
    has_intercept = True       # False: the formula's intercept is dropped (cumulative)
    fixed_parameters = {}      # dispersion parameters held at given values (t's nu)
    discrete = False           # responses are counts (posterior predictive checks bin them)
    # largest |linear predictor| (link scale; gaussian: in sds of y, where a prior holding
    # a coefficient 1e6 sds from the data is a conflict no double-precision sum survives)
    # the likelihood can be evaluated at: offsets and prior locations beyond it are refused
    eta_limit = 1e6

    def __repr__(self):
        return f"<fastgibbs family {self.name!r} ({self.link} link)>"

    def options(self):
        """Keyword arguments of :func:`fastgibbs.families.get_family` that rebuild this
        family from its name (kept with a fit as ``Fit.family_options``)."""
        return {}

    def with_priors(self, priors):
        """This family with the parameters that ``priors`` fixes (a number instead of a
        prior, e.g. ``{"nu": 4}``) held at those values; itself when none."""
        return self

    # ---- response ------------------------------------------------------------------
    def response(self, term, name, data):
        """(Response) from the formulae response term ``term`` of the column or
        expression ``name`` in ``data``; raises ValueError/TypeError naming ``name``."""
        raise NotImplementedError

    def new_response(self, term, name, data):
        """(Response) of new rows (log-likelihood of newdata), coded as the fitted
        response was: families whose coding depends on the levels the data hold
        (bernoulli, cumulative) read them against the fitted ones."""
        return self.response(term, name, data)

    def check_offset(self, offset):
        """Raise ValueError if an offset puts the linear predictor out of reach."""
        worst = float(np.max(np.abs(offset))) if len(offset) else 0.0
        if worst > self.eta_limit:
            raise ValueError(f"the offset reaches {worst:.3g} on the {self.link} scale, beyond "
                             f"{self.eta_limit:g}, where a {self.name} likelihood overflows "
                             "(an offset on the log scale is e.g. log(exposure))")

    def check_new_response(self, y, design):
        """Validate a response ``y`` for refitting ``design`` (same rows)."""
        if not np.all(np.isfinite(y)):
            raise ValueError(f"y has {int(np.sum(~np.isfinite(y)))} non-finite value(s)")

    # ---- link ----------------------------------------------------------------------
    def inverse_link(self, eta):
        """Mean of the response (per trial for binomial families) given eta."""
        raise NotImplementedError

    # ---- priors --------------------------------------------------------------------
    def prior_scale(self, y, trials, offset, weights):
        """(location, scale) of the linear predictor for data-scaled default priors:
        gaussian (mean(y), sd(y)); other families their link scale's (center, 1)."""
        return 0.0, 1.0

    def default_dispersion_priors(self, y, weights):
        """{name: prior} for the dispersion parameters (empty if none)."""
        return {}

    # ---- data streamed from files (fastgibbs.streaming) -------------------------------
    # The default priors of a streamed design come from sums over chunks, ``moments``
    # (fastgibbs.streaming: StreamedMoments of a gaussian design, whose ``y()`` gives
    # the weighted mean and sd of y - offset; CellMoments of a binomial one). A family
    # whose prior_scale or default_dispersion_priors reads the data must say here how
    # they follow from those sums.
    def prior_scale_from(self, moments):
        """prior_scale of a streamed design."""
        if type(self).prior_scale is Family.prior_scale:     # does not read the data
            return self.prior_scale(None, None, None, None)
        raise NotImplementedError(f"the {self.name} family cannot be fitted to streamed data "
                                  "yet (its default priors read the data)")

    def dispersion_priors_from(self, moments):
        """default_dispersion_priors of a streamed design."""
        if type(self).default_dispersion_priors is Family.default_dispersion_priors:
            return {}
        raise NotImplementedError(f"the {self.name} family cannot be fitted to streamed data "
                                  "yet (its default dispersion prior reads the data)")

    # ---- likelihood, simulation ----------------------------------------------------
    def parameter_draws(self, get):
        """{name: draws (n_samples,)} of the family's own parameters, from ``get(name)``
        (a fit's draws of one parameter pooled over chains). The dict is what
        ``log_likelihood``, ``simulate``, ``mean`` and ``variance`` take as ``params``
        (sliced to the draws at hand and given a trailing axis). Default: the
        ``dispersion`` parameters; a family with other parameters (cut points, degrees
        of freedom) overrides it."""
        return {name: np.asarray(get(name), dtype=float) for name in self.dispersion}

    def log_likelihood(self, y, eta, params, trials=None):
        """Pointwise log p(y_i | eta_i, params): arrays broadcast over draws.

        ``eta`` includes the offset; ``params`` maps dispersion names to arrays that
        broadcast against eta. Includes every constant (log y!, binomial coefficients),
        so that values of different families can be compared."""
        raise NotImplementedError

    def cell_log_likelihood(self, y, eta, params, trials):
        """log p of the totals of a cell of rows sharing eta: ``y`` (cells,) the summed
        responses and ``trials`` (cells,) the summed trials (frequency-weighted).
        Only families whose totals have a family density define it (binomial)."""
        raise NotImplementedError(f"the {self.name} family has no log-likelihood per cell "
                                  "(pointwise='cell' is for binomial families)")

    def mean(self, eta, params, trials=None):
        """E[y | eta, params] (brms's posterior_epred): the inverse link, times the
        trials for binomial families."""
        mu = self.inverse_link(eta)
        return mu if trials is None else mu * trials

    def variance(self, eta, params, trials=None):
        """Var[y | eta, params], for Pearson residuals."""
        raise NotImplementedError

    def simulate(self, eta, params, rng, trials=None):
        """Responses drawn from p(y | eta, params) (arrays broadcast like eta)."""
        raise NotImplementedError

    def latent_variance(self, params, intercept=None):
        """Residual variance on the latent (link) scale for ICCs, per draw."""
        raise NotImplementedError

    # ---- kernel cells --------------------------------------------------------------
    def cell_response(self, y, trials, weights):
        """Per-row (successes or counts, n) handed to the cell aggregation."""
        raise NotImplementedError


def check_counts(y, name, family):
    """Raise ValueError unless ``y`` holds finite non-negative integers below 2**53;
    warn when every count is 0."""
    import warnings

    y = np.asarray(y, dtype=float)
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(f"response {name!r} has {int(bad.sum())} non-finite value(s); "
                         f"a {family} response must hold counts")
    if np.any(y < 0):
        raise ValueError(f"response {name!r} has {int(np.sum(y < 0))} negative value(s); "
                         f"a {family} response must hold counts 0, 1, 2, ...")
    if np.any(y != np.round(y)):
        frac = y[y != np.round(y)][0]
        raise ValueError(f"response {name!r} holds non-integer values (e.g. {frac!r}); "
                         f"a {family} response must hold counts")
    if np.any(y >= 2.0 ** 53):
        raise ValueError(f"response {name!r} has counts >= 2**53, which doubles cannot "
                         "hold exactly")
    if np.all(y == 0):
        warnings.warn(f"response {name!r} is 0 everywhere; the fit rests on the priors",
                      stacklevel=5)
    return y
