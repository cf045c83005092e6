"""Cumulative (ordinal) family with the probit link, ``family="cumulative"``.

An ordered response y in categories 1 .. K is a latent z ~ N(eta, 1) cut at K - 1
thresholds: y = k when gamma_{k-1} < z <= gamma_k (gamma_0 = -inf, gamma_K = +inf), so
P(y <= k) = Phi(gamma_k - eta), the parametrisation of R's ``ordinal::clm(m)`` and
brms's / bambi's ``cumulative("probit")``. The thresholds ``threshold[1]``, ...,
``threshold[K-1]`` take the intercept's place: the formula's intercept is dropped
(``rating ~ temp`` has no ``Intercept``) and fixed effects that add up to a constant
(``0 + f``) are refused. Their prior is one :class:`~fastgibbs.priors.Normal` under the
key ``"threshold"``, for each threshold independently, restricted to ordered thresholds
(the distribution of K - 1 sorted independent draws).

Sampling (fastgibbs._core, ``cumulative_*``): each threshold by slice sampling from its
conditional given eta with the latent z integrated out, then z given the thresholds
from truncated normals (Albert & Chib 1993, JASA 88(422)); drawing the thresholds given
z instead crawls, because z pins each threshold between its neighbouring latents
(Cowles 1996, Stat. Comput. 6(2), whose remedy, a Metropolis-Hastings step on the
same collapsed conditional, this replaces by slice sampling). Rows with the same
covariates, groups, offset and category collapse into cells of n observations; as for
the probit family the weights never change.

The cumulative logit model has no exact augmentation of this kind (its logistic latent
errors are an infinite scale mixture of normals, Kolmogorov-Smirnov distributed; the
Polya-Gamma trick does not apply to the differences of two logistic cdfs), so only the
probit link is offered.
"""
import numpy as np

from .._kinds import Family as Kind
from .base import Family, Response
from .probit import log_ndtr, ndtr

__all__ = ["Cumulative", "log_interval_probability"]


def log_interval_probability(lo, hi):
    """log(Phi(hi) - Phi(lo)) elementwise for lo < hi, accurate in both tails."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    upper = lo >= 0                                 # reflect the upper tail
    a = np.where(upper, -hi, lo)
    b = np.where(upper, -lo, hi)
    out = np.empty(a.shape)
    tail = b <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = log_ndtr(a[tail]), log_ndtr(b[tail])
        out[tail] = lb + np.log1p(-np.exp(la - lb))
        middle = ~tail
        out[middle] = np.log(ndtr(b[middle]) - ndtr(a[middle]))
    return out


class Cumulative(Family):
    """Ordered response: an ordered pandas Categorical (categories in their order) or
    integers (consecutive values, the lowest is category 1). Every category between the
    lowest and the highest must occur, and there must be at least two."""

    name = "cumulative"
    kind = Kind.FAMILY_CUMULATIVE
    link = "probit"
    aggregates = True
    discrete = True
    has_intercept = False        # the thresholds take the intercept's place
    integer_weights = True       # one latent z per observation
    eta_limit = 37.0             # as probit: Phi(-37.5) is the smallest normal double

    def __init__(self, categories=None):
        self.categories = None if categories is None else tuple(str(c) for c in categories)
        if self.categories is not None and len(self.categories) < 2:
            raise ValueError("a cumulative family needs at least two categories")

    @property
    def dispersion(self):
        """The threshold names, ``threshold[1]`` .. ``threshold[K-1]`` (empty before the
        response has been read)."""
        if self.categories is None:
            return ()
        return tuple(f"threshold[{k}]" for k in range(1, len(self.categories)))

    def options(self):
        return {"categories": list(self.categories or ())}

    # ---- response --------------------------------------------------------------------
    def response(self, term, name, data):
        import pandas as pd

        column = data[name] if name in getattr(data, "columns", ()) else None
        if column is not None and isinstance(column.dtype, pd.CategoricalDtype):
            if not column.cat.ordered:
                raise TypeError(f"cumulative response {name!r} is an unordered Categorical; "
                                "make it ordered (pd.Categorical(..., ordered=True)) so that "
                                "its categories have an order")
            labels = [str(c) for c in column.cat.categories]
            codes = column.cat.codes.to_numpy()
            unused = [labels[k] for k in range(len(labels)) if not np.any(codes == k)]
            if unused and len(labels) - len(unused) >= 2:
                raise ValueError(f"cumulative response {name!r} has no observations in "
                                 f"categor{'y' if len(unused) == 1 else 'ies'} {unused}: the "
                                 "thresholds around an empty category are not identified; "
                                 "drop it (.cat.remove_unused_categories()) or merge it")
            labels = [c for c in labels if c not in unused]
            y = codes.astype(float) + 1.0
        else:
            kind = getattr(term, "kind", "numeric")
            if kind != "numeric" or (column is not None
                                     and not pd.api.types.is_numeric_dtype(column)) \
                    or (column is not None and pd.api.types.is_bool_dtype(column)):
                raise TypeError(f"cumulative response {name!r} must be ordered: an ordered "
                                "pandas Categorical or integer categories, got "
                                f"{column.dtype if column is not None else kind}")
            values = np.asarray(term.design_matrix).astype(float).reshape(-1)
            bad = ~np.isfinite(values)
            if bad.any():
                raise ValueError(f"cumulative response {name!r} has {int(bad.sum())} "
                                 "non-finite value(s)")
            if np.any(values != np.round(values)):
                other = values[values != np.round(values)][0]
                raise ValueError(f"cumulative response {name!r} must hold integer categories, "
                                 f"found {other!r}")
            present = np.unique(values)
            if len(present) >= 2:
                missing = np.setdiff1d(np.arange(present[0], present[-1] + 1), present)
                if len(missing):
                    raise ValueError(
                        f"cumulative response {name!r} has gaps: no observations of "
                        f"{[int(v) for v in missing[:5]]} between {int(present[0])} and "
                        f"{int(present[-1])}; the thresholds around an empty category are "
                        "not identified (recode the categories consecutively)")
            labels = [str(int(v)) for v in present]
            y = values - (present[0] if len(present) else 0.0) + 1.0
        if len(labels) < 2:
            raise ValueError(f"cumulative response {name!r} has a single category "
                             f"({labels[0] if labels else 'none'}); an ordinal model needs "
                             "at least two")
        self.categories = tuple(labels)
        return Response(y=y)

    def new_response(self, term, name, data):
        """New rows' response numbered by the fitted categories (the k-th is k), not by
        the categories the rows hold; a category the fit did not have is refused."""
        import pandas as pd

        if self.categories is None:
            return self.response(term, name, data)
        column = data[name] if name in getattr(data, "columns", ()) else None
        if column is not None and isinstance(column.dtype, pd.CategoricalDtype):
            labels = column.astype(object).map(str)
        else:
            values = np.asarray(term.design_matrix)
            if getattr(term, "kind", "numeric") != "numeric" or values.dtype == bool:
                raise TypeError(f"newdata's response {name!r} must be integer categories or "
                                "an ordered pandas Categorical, as the fitted one")
            values = values.astype(float).reshape(-1)
            if np.any(~np.isfinite(values)) or np.any(values != np.round(values)):
                raise ValueError(f"newdata's response {name!r} must hold integer categories")
            labels = pd.Series(values.astype(np.int64)).map(str)
        number = {c: k + 1.0 for k, c in enumerate(self.categories)}
        y = labels.map(number).to_numpy(dtype=float)
        if np.isnan(y).any():
            unknown = sorted(set(labels[np.isnan(y)]))
            raise ValueError(f"newdata's response {name!r} has categor"
                             f"{'y' if len(unknown) == 1 else 'ies'} {unknown[:5]} that the fit "
                             f"does not have (its categories: {list(self.categories)})")
        return Response(y=y)

    def check_new_response(self, y, design):
        K = len(self.categories or ())
        if np.any(~np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < 1) \
                or np.any(y > K):
            raise ValueError(f"y must hold category numbers 1 .. {K}")

    # ---- priors ----------------------------------------------------------------------
    def threshold_prior(self, shift):
        """Default prior of every threshold (at x = 0): Normal(0, 10 (1 + shift)), the
        default intercept prior of a probit model (``shift``: sum over predictors of
        |mean(x)| / sd(x), see fastgibbs.priors)."""
        from ..priors import Normal
        return Normal(0.0, 10.0 * (1.0 + shift))

    def draw_thresholds(self, priors, rng, params=None):
        """{name: value} of the thresholds: those of ``params`` (all or none, increasing)
        or a draw from their prior, iid N(mu, s^2) restricted to the ordered ones, which
        is the distribution of K - 1 sorted independent draws."""
        params = params or {}
        given = [n for n in self.dispersion if n in params]
        if given:
            if len(given) != len(self.dispersion):
                raise ValueError(f"params gives {given} but not every threshold: give all of "
                                 f"{list(self.dispersion)} or none")
            values = np.array([float(params[n]) for n in self.dispersion])
            if np.any(np.diff(values) <= 0):
                raise ValueError(f"params' thresholds must increase, got {values.tolist()}")
        else:
            prior = priors["threshold"]
            values = np.sort(rng.normal(prior.mu, prior.sigma, len(self.dispersion)))
        return dict(zip(self.dispersion, map(float, values)))

    # ---- link ------------------------------------------------------------------------
    def thresholds(self, params):
        """The thresholds of ``params`` stacked on a last axis, with -inf and +inf added:
        (..., K + 1)."""
        g = np.stack(np.broadcast_arrays(*[np.asarray(params[n], dtype=float)
                                           for n in self.dispersion]), axis=-1)
        pad = np.full(g.shape[:-1] + (1,), np.inf)
        return np.concatenate([-pad, g, pad], axis=-1)

    def category_probabilities(self, eta, params):
        """P(y = k | eta), k = 1 .. K, on a new last axis: (..., K)."""
        eta = np.asarray(eta, dtype=float)
        g = self.thresholds(params)
        cdf = ndtr(g - eta[..., None])                    # P(y <= k), k = 0 .. K
        return np.diff(cdf, axis=-1)

    def inverse_link(self, eta):
        raise ValueError("the cumulative family's mean depends on the thresholds: use "
                         "category_probabilities(eta, params) or mean(eta, params)")

    def mean(self, eta, params, trials=None):
        """E[y] with categories numbered 1 .. K."""
        prob = self.category_probabilities(eta, params)
        return prob @ np.arange(1.0, prob.shape[-1] + 1.0)

    def variance(self, eta, params, trials=None):
        """Var[y] with categories numbered 1 .. K."""
        prob = self.category_probabilities(eta, params)
        k = np.arange(1.0, prob.shape[-1] + 1.0)
        m = prob @ k
        return prob @ (k * k) - m * m

    # ---- likelihood, simulation ------------------------------------------------------
    def log_likelihood(self, y, eta, params, trials=None):
        eta = np.asarray(eta, dtype=float)
        g = self.thresholds(params)
        shape = np.broadcast_shapes(eta.shape, np.shape(y), g.shape[:-1])
        g = np.broadcast_to(g, shape + g.shape[-1:])
        k = np.broadcast_to(np.asarray(y), shape).astype(np.intp)[..., None]
        lo = np.take_along_axis(g, k - 1, axis=-1)[..., 0]
        hi = np.take_along_axis(g, k, axis=-1)[..., 0]
        e = np.broadcast_to(eta, shape)
        return log_interval_probability(lo - e, hi - e)

    def simulate(self, eta, params, rng, trials=None):
        eta = np.asarray(eta, dtype=float)
        g = self.thresholds(params)[..., 1:-1]
        z = eta + rng.standard_normal(eta.shape)
        return 1.0 + np.sum(z[..., None] > g, axis=-1).astype(float)

    def latent_variance(self, params, intercept=None):
        """1: the variance of the standard normal latent residual."""
        return 1.0
