"""lme4-style answers from a fit: fixef, ranef, coef, VarCorr, icc (predict, fitted and
residuals are in fastgibbs.checking).

Point values are posterior means unless said otherwise; ``se_*`` are posterior sds.
Group-effect tables are indexed by the group labels (sorted, as strings) with one
column per varying coefficient, named like the fixed effect it varies
(``"Intercept"`` for ``1``), so that ``coef() = fixef() + ranef()`` column by column.
"""
from dataclasses import dataclass

import numbers

import numpy as np
import pandas as pd

from .design import TermNames
from .diagnostics import std_of_draws

__all__ = ["BlockInfo", "Lme4Mixin"]


@dataclass(frozen=True)
class BlockInfo(TermNames):
    """What a fit keeps of a design block: no data arrays."""

    factor: str
    variables: tuple
    columns: tuple
    lhs: str
    levels: tuple
    correlated: bool

    @property
    def coef_names(self):
        """Column names in fixef terms: '1' -> 'Intercept'."""
        return tuple("Intercept" if c == "1" else c for c in self.columns)



def _trials(fit, data):
    """Trials per row of ``data``: None for families without trials, ones for
    bernoulli, the trials column of ``p(successes, trials)`` for binomial."""
    if fit.family == "bernoulli":
        return np.ones(len(data), dtype=np.int64)
    if not fit.family_object().needs_trials:
        return None
    from .fixed_design import trials_source
    source = (fit.fixed_design or {}).get("trials") or trials_source(fit.formula)
    if source is None:
        raise ValueError("cannot find the trials in the response of "
                         f"{fit.formula!r}; write p(successes, trials)")
    if "constant" in source:
        name = "trials"
        trials = np.full(len(data), float(source["constant"]))
    elif "column" in source:
        name = source["column"]
        if name not in data.columns:
            raise ValueError(f"newdata lacks the trials column {name!r}")
        trials = np.asarray(data[name], dtype=float)
    else:                       # cbind(s, f): trials s + f, an expression of columns
        from .design import evaluate_offsets
        name = source["expression"]
        try:
            trials = evaluate_offsets((name,), data)
        except ValueError as err:
            raise ValueError(f"newdata lacks what the trials {name!r} need: {err}") from None
    if np.any(~np.isfinite(trials)) or np.any(trials < 1) or np.any(trials != np.round(trials)):
        raise ValueError(f"trials column {name!r} must hold positive integers")
    return trials.astype(np.int64)


def _checked_probs(probs):
    """``probs`` as a tuple of floats in [0, 1], or a ValueError naming the argument."""
    try:
        out = tuple(float(p) for p in np.atleast_1d(probs))
    except (TypeError, ValueError):
        raise TypeError(f"probs must be a sequence of probabilities, got {probs!r}") from None
    if not all(0.0 <= p <= 1.0 for p in out):
        raise ValueError(f"probs must be probabilities in [0, 1], got {probs!r}")
    return out


def _interval(x, probs):
    return {f"{100 * p:g}%": np.quantile(x, p) for p in _checked_probs(probs)}


class Lme4Mixin:
    """Methods of :class:`fastgibbs.Fit` that answer like lme4."""

    def _flat(self, name):
        """Draws of one parameter pooled over chains: (chains * draws,)."""
        return self.draws(name).reshape(-1)

    def fixef(self):
        """Posterior means of the fixed effects (Series)."""
        return pd.Series({n: self._flat(n).mean() for n in self.fixed_names}, name="fixef")

    def se_fixef(self):
        """Posterior sds of the fixed effects (Series)."""
        return pd.Series({n: std_of_draws(self._flat(n)) for n in self.fixed_names},
                         name="se_fixef")

    def _group_table(self, block, stat):
        cols = {}
        for term, name in zip(block.terms, block.coef_names):
            d = self.draws(term)
            cols[name] = stat(d.reshape(-1, d.shape[-1]))
        return pd.DataFrame(cols, index=pd.Index(block.levels, name=block.factor))

    def _by_factor(self, stat):
        """{factor: DataFrame} with the columns of every block of the factor (a factor
        may have several blocks, e.g. (age | Subject) + (0 + nsex | Subject))."""
        out = {}
        for block in self.blocks:
            table = self._group_table(block, stat)
            out[block.factor] = table if block.factor not in out \
                else pd.concat([out[block.factor], table], axis=1)
        return out

    def ranef(self):
        """Posterior means of the group effects: {factor: DataFrame (levels x terms)}."""
        return self._by_factor(lambda d: d.mean(axis=0))

    def se_ranef(self):
        """Posterior sds of the group effects: {factor: DataFrame (levels x terms)}."""
        return self._by_factor(lambda d: std_of_draws(d, axis=0))

    def coef(self):
        """Fixed plus group effects per group (as lme4's ``coef``): {factor: DataFrame}.

        Posterior means of beta_m + u_jm, so every fixed effect appears; those that do
        not vary by the factor are the same in every row. A column that varies by some
        factor but is not a fixed effect (``(0 + x | g)`` without ``x``) has beta 0,
        and comes first, as in lme4."""
        fixed = list(self.fixed_names)
        random_only = list(dict.fromkeys(n for b in self.blocks for n in b.coef_names
                                         if n not in fixed))
        zero = np.zeros(self.n_chains * self.n_draws)
        out = {}
        for block in self.blocks:
            if block.factor in out:
                continue
            factor_blocks = [b for b in self.blocks if b.factor == block.factor]
            table = pd.DataFrame(index=pd.Index(block.levels, name=block.factor))
            for name in random_only + fixed:
                beta = self._flat(name) if name in fixed else zero
                varying = [b for b in factor_blocks if name in b.coef_names]
                if varying:
                    b = varying[0]
                    term = b.terms[b.coef_names.index(name)]
                    u = self.draws(term).reshape(len(beta), -1)
                    table[name] = (beta[:, None] + u).mean(axis=0)
                else:
                    table[name] = beta.mean()
            out[block.factor] = table
        return out

    def VarCorr(self, probs=(0.025, 0.975)):
        """Group-level sds and correlations with posterior intervals (DataFrame).

        Rows like lme4's VarCorr: one per varying coefficient (Groups, Name) plus the
        Residual (for the t family its scale ``sigma``, as brms reports it, not the
        residual sd sigma sqrt(nu / (nu - 2))). ``Std.Dev.`` is the posterior mean of
        the sd and ``Variance`` its square (so Variance = Std.Dev.^2, as in lme4; the
        posterior mean of the variance is larger, by the posterior variance of the
        sd); then the sd's interval at ``probs`` and, for correlated terms, ``Corr``
        (posterior means) with the other coefficients of the group."""
        rows = []
        for block in self.blocks:
            for c, (term, name) in enumerate(zip(block.terms, block.coef_names)):
                sd = self._flat(term + "_sigma")
                row = {"Groups": block.factor, "Name": name, "Variance": sd.mean() ** 2,
                       "Std.Dev.": sd.mean(), **{f"Std.Dev. {k}": v
                                                 for k, v in _interval(sd, probs).items()}}
                if block.correlated:
                    for c2 in range(c):
                        corr = self._flat(f"{block.terms[c2]}~{term}_corr")
                        row[f"Corr {block.coef_names[c2]}"] = corr.mean()
                rows.append(row)
        sigma = self._flat("sigma") if "sigma" in self.names else None
        if sigma is not None:
            rows.append({"Groups": "Residual", "Name": "", "Variance": sigma.mean() ** 2,
                         "Std.Dev.": sigma.mean(),
                         **{f"Std.Dev. {k}": v for k, v in _interval(sigma, probs).items()}})
        return pd.DataFrame(rows).set_index(["Groups", "Name"])

    def icc(self, probs=(0.025, 0.975), offset=None):
        """Intraclass correlation per grouping factor, with a posterior interval.

        rho_k = tau_k^2 / (sum_l tau_l^2 + s^2) with tau_k the sd of the factor's
        intercept, computed draw by draw, and s^2 the residual variance on the latent
        (link) scale: sigma^2 for gaussian models, pi^2 / 3 for logit models, and for
        log-link count models the lognormal approximation of Nakagawa, Johnson &
        Schielzeth (2017, J. R. Soc. Interface 14: 20170213): log(1 + 1/lambda)
        (Poisson), log(1 + 1/lambda + 1/alpha) (negative binomial), with
        lambda = exp(beta_0 + sum_l tau_l^2 / 2) the mean count of a row with the
        fixed effects other than the intercept at 0. With an offset (an exposure),
        lambda is the mean count of a row with that offset, exp(beta_0 + offset +
        sum_l tau_l^2 / 2), so the ICC depends on the offset: a log-link model fitted
        with an offset needs ``offset=`` (a number on the link scale, e.g.
        np.log(exposure) of the rows the ICC should describe), and is refused
        without it (the ICC used to be that of offset 0, exposure 1, without a word);
        ``offset=`` is refused for other models, whose latent residual variance does
        not depend on the mean. Factors without a varying
        intercept are left out. Probit models have latent residual variance 1; Student-t
        models sigma^2 nu / (nu - 2) (NaN for draws with nu <= 2, where it is
        infinite). Random walks (fg.RandomWalk) are refused: their sd is that of a step,
        and the variance of their effects grows with the number of times."""
        intercepts = [b for b in self.blocks if "1" in b.columns]
        if not intercepts:
            raise ValueError("icc needs at least one varying intercept")
        walks = [t for t, r in (getattr(self, "structures", None) or {}).items()
                 if r["kind"] in ("rw1", "rw2")]
        if walks:
            raise ValueError(f"icc: {walks[0]!r} is a random walk, whose sd is the sd of a "
                             "step, not of its effects (their variance grows with the number "
                             "of times), so it has no intraclass correlation; an fg.AR1 "
                             "prior's sd is the sd of the effects")
        tau2 = {b.factor: self._flat(f"1|{b.factor}_sigma") ** 2 for b in intercepts}
        family = self.family_object()
        params = {n: self._flat(n) for n in family.dispersion}
        log_mean = None
        has_offset = bool(getattr(self, "offset_terms", ())) or bool(
            getattr(self, "offset_array", False))
        if offset is not None:
            if family.link != "log" or not has_offset:
                why = (f"the latent residual variance of a {family.link}-link model does not "
                       "depend on the mean" if family.link != "log" else
                       "this model was fitted without an offset")
                raise ValueError(f"icc: offset= is for log-link models fitted with an offset; "
                                 f"{why}")
            if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, numbers.Real) \
                    or not np.isfinite(offset):
                raise ValueError(f"icc: offset= must be a finite number on the link scale "
                                 f"(e.g. np.log(exposure)), got {offset!r}")
        if family.link == "log":
            if "Intercept" not in self.fixed_names:
                raise ValueError("the ICC of a log-link model needs an intercept")
            if has_offset and offset is None:
                terms = list(getattr(self, "offset_terms", ())) or ["an array"]
                hint = ""
                design = getattr(self, "design", None)
                fitted = getattr(design, "offset", None) if design is not None else None
                if fitted is not None and len(fitted):
                    hint = f"; the fitted rows' mean offset is {float(np.mean(fitted)):.4g}"
                raise ValueError(
                    f"icc: this {self.family} model has an offset ({', '.join(terms)}), and "
                    "the ICC of a log-link model depends on the mean count, exp(Intercept + "
                    "offset + group variances / 2): give the offset of the rows it should "
                    f"describe, e.g. icc(offset=np.log(exposure)){hint}")
            log_mean = self._flat("Intercept") + (float(offset) if offset is not None else 0.0) \
                + 0.5 * sum(tau2.values())
        resid = family.latent_variance(params, intercept=log_mean)
        total = sum(tau2.values()) + resid
        rows = {}
        for factor, t in tau2.items():
            rho = t / total
            rows[factor] = {"icc": rho.mean(), "sd": rho.std(), **_interval(rho, probs)}
        return pd.DataFrame(rows).T
