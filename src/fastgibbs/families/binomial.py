"""Bernoulli and binomial families with the logit link, sampled by Polya-Gamma
augmentation (Polson, Scott & Windle 2013, JASA 108(504)); rows with the same
covariates, offset and groups collapse into binomial cells."""
import warnings

import numpy as np

from .._kinds import Family as Kind
from .base import Family, Response

__all__ = ["Bernoulli", "Binomial"]

# variance of the standard logistic distribution: the latent-scale residual variance
# of logit models for ICCs (Snijders & Bosker 2012, sec. 17.3)
LOGISTIC_LATENT_VARIANCE = np.pi ** 2 / 3
MAX_TRIALS = 2.0 ** 53


def _expit(eta):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(eta, dtype=float)))


def _log_expit(eta):
    """log(1 / (1 + exp(-eta))) without overflow."""
    eta = np.asarray(eta, dtype=float)
    return -np.logaddexp(0.0, -eta)


class _Logit(Family):
    kind = Kind.FAMILY_BINOMIAL
    link = "logit"
    aggregates = True
    discrete = True
    eta_limit = 700.0        # P(y) = logit^-1(700) is 1 - 1e-304: the end of doubles

    def inverse_link(self, eta):
        return _expit(eta)

    def check_new_response(self, y, design):
        if np.any(~np.isfinite(y)) or np.any(y < 0) or np.any(y > design.trials) \
                or np.any(y != np.round(y)):
            raise ValueError("y must hold integer successes between 0 and the trials")

    def log_likelihood(self, y, eta, params, trials=None):
        # log C(n, y) + y log p + (n - y) log(1 - p), with log(1 - p) = log p - eta
        # (p = logit^-1 eta): one log-sigmoid per value instead of two
        from scipy.special import gammaln
        y = np.asarray(y, dtype=float)
        n = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
        log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        out = n * _log_expit(eta) - (n - y) * eta
        return out + log_choose if np.any(log_choose) else out

    def cell_log_likelihood(self, y, eta, params, trials):
        """Binomial log pmf of the cell's successes out of its trials."""
        return self.log_likelihood(y, eta, params, trials)

    def variance(self, eta, params, trials=None):
        # p (1 - p) from log p + log(1 - p): 1 - p rounds to 0 once eta > 37
        v = np.exp(_log_expit(eta) + _log_expit(-eta))
        return v if trials is None else v * trials

    def simulate(self, eta, params, rng, trials=None):
        n = 1 if trials is None else np.asarray(trials).astype(np.int64)
        return rng.binomial(n, _expit(eta)).astype(float)

    def latent_variance(self, params, intercept=None):
        return LOGISTIC_LATENT_VARIANCE


class Bernoulli(_Logit):
    """y_i in {0, 1}: 0/1 numbers, booleans, or a two-level categorical column whose
    second level is the event: the second category of a pandas Categorical in its own
    order (as R's factor levels), the second in sorted order for plain strings (as
    R's factor()); ``use[N] ~ ...`` picks the event level explicitly."""

    name = "bernoulli"

    def __init__(self, levels=None):
        # a two-level response's labels as fitted, (other level, event level); None
        # for 0/1 numbers, booleans and use[N] ~ (new rows are read as those are)
        self.levels = None if levels is None else tuple(str(v) for v in levels)
        if self.levels is not None and len(self.levels) != 2:
            raise ValueError(f"a bernoulli response has two levels, got {list(self.levels)}")

    def options(self):
        return {} if self.levels is None else {"levels": list(self.levels)}

    def response(self, term, name, data):
        kind = getattr(term, "kind", "numeric")
        values = np.asarray(term.design_matrix)
        self.levels = None                 # (a family object may be reused across fits)
        if kind == "categoric":
            if (values.ndim == 1 or values.shape[1] == 1) and "[" in name:   # use[N]
                y = values.astype(float).reshape(-1)
            elif values.ndim == 1 or values.shape[1] == 1:
                # one level present: formulae codes it as 1s, whichever level it is
                levels = [str(v) for v in (getattr(term, "levels", []) or [])]
                raise ValueError(f"bernoulli response {name!r} must have two levels, got "
                                 f"{len(levels)}: {levels}; which is the event is not "
                                 f"defined: give 0/1 numbers or write {name}[level] ~ ...")
            else:
                y = self._event_indicator(values, term, name, data)
        elif kind == "numeric":
            y = values.astype(float).reshape(-1)
            bad = ~np.isfinite(y)
            if bad.any():
                raise ValueError(f"column {name!r} has {int(bad.sum())} non-finite value(s) "
                                 "(inf or nan)")
            if not np.isin(y, (0.0, 1.0)).all():
                other = y[~np.isin(y, (0.0, 1.0))][0]
                hint = ""
                if np.all((y >= 0) & (y == np.round(y))):
                    hint = ("; for counts of successes out of trials use family='binomial' "
                            f"with p({name}, trials), for counts family='poisson'")
                raise ValueError(f"bernoulli response {name!r} must be 0/1, found "
                                 f"{other!r}{hint}")
        else:
            raise TypeError(f"bernoulli response {name!r} must be 0/1, boolean or a "
                            f"two-level categorical column, got {kind}")
        _warn_one_outcome(y, np.ones_like(y), name)
        return Response(y=y, trials=np.ones_like(y))

    def _event_indicator(self, values, term, name, data):
        """y = 1 for the event level of a two-level response (recorded in ``levels``)."""
        levels = [str(v) for v in (getattr(term, "levels", []) or [])]
        column = data[name] if name in getattr(data, "columns", ()) else None
        if values.shape[1] != 2:
            raise ValueError(f"bernoulli response {name!r} must have two levels, "
                             f"got {values.shape[1]}: {levels}")
        event = levels[1]
        if column is not None and isinstance(column.dtype, __import__("pandas").CategoricalDtype):
            used = [c for c in column.cat.categories if c in set(column.dropna().unique())]
            event = str(used[1])           # the Categorical's own order (R's levels)
        self.levels = (levels[1 - levels.index(event)], event)
        return values[:, levels.index(event)].astype(float).reshape(-1)

    def new_response(self, term, name, data):
        """New rows' response coded as in fitting: for a two-level response, 1 for the
        fitted event level and 0 for the other, whichever of them the rows hold (a
        column of one level alone is not the event); a level the fit did not have is
        refused."""
        if self.levels is None:
            if getattr(term, "kind", None) == "categoric" and "[" not in name:
                raise ValueError(f"newdata's response {name!r} has levels, but the fit does not "
                                 "record which of them is the event (it was fitted on 0/1 "
                                 "numbers, or saved by an older fastgibbs): give 0/1 numbers, "
                                 "or refit")
            return self.response(term, name, data)
        values = np.asarray(term.design_matrix)
        labels = [str(v) for v in (getattr(term, "levels", None) or [])]
        if getattr(term, "kind", None) != "categoric" or values.ndim != 2 \
                or values.shape[1] != len(labels):
            raise ValueError(f"the fitted response {name!r} has levels {list(self.levels)}; "
                             "newdata's must be the same kind of column")
        unknown = [v for v in labels if v not in self.levels]
        if unknown:
            raise ValueError(f"newdata's response {name!r} has level(s) {unknown[:5]} that "
                             f"the fit does not have (its levels: {list(self.levels)})")
        event = self.levels[1]
        y = values[:, labels.index(event)].astype(float) if event in labels \
            else np.zeros(len(values))
        return Response(y=y.reshape(-1), trials=np.ones(len(values)))


class Binomial(_Logit):
    """``p(successes, trials) ~ ...``: integer successes out of integer trials."""

    name = "binomial"
    needs_trials = True

    def response(self, term, name, data):
        kind = getattr(term, "kind", "numeric")
        if kind != "proportion":
            values = np.asarray(term.design_matrix)
            hint = ""
            if kind == "numeric" and np.isin(values, (0, 1)).all():
                hint = "; for a 0/1 response use family='bernoulli'"
            raise TypeError(f"binomial response {name!r} must be written p(successes, trials) "
                            f"(or cbind(successes, failures)){hint}")
        values = np.asarray(term.design_matrix, dtype=float)
        y, trials = values[:, 0], values[:, 1]
        for what, v in (("successes", y), ("trials", trials)):
            bad = ~np.isfinite(v)
            if bad.any():
                raise ValueError(f"binomial {what} in {name!r} have {int(bad.sum())} "
                                 "non-finite value(s)")
        if np.any(trials < 1) or np.any(trials != np.round(trials)):
            zero = int(np.sum(trials == 0))
            other = int(np.sum((trials < 1) | (trials != np.round(trials)))) - zero
            found = ", ".join(part for part in (
                f"{zero} row(s) with 0 trials (no information: drop them)" if zero else "",
                f"{other} negative or fractional" if other else "") if part)
            raise ValueError(f"binomial trials in {name!r} must be positive integers; "
                             f"found {found}")
        if np.any(trials >= MAX_TRIALS):
            raise ValueError(f"binomial trials in {name!r} must be below 2**53")
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"binomial successes in {name!r} must be non-negative integers")
        if np.any(y > trials):
            raise ValueError(f"binomial successes exceed trials in {name!r} "
                             f"({int(np.sum(y > trials))} rows)")
        _warn_one_outcome(y, trials, name)
        return Response(y=y, trials=trials)


def _warn_one_outcome(y, trials, name):
    if np.all(y == 0) or np.all(y == trials):
        warnings.warn(f"response {name!r} has one outcome only; the fit rests on the priors",
                      stacklevel=5)
