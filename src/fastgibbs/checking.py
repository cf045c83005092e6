"""Checking a fit against its data: predictions of three kinds, fitted values,
residuals, pointwise log-likelihoods, PSIS-LOO and posterior predictive statistics.

The kinds of prediction are brms's: ``kind="response"`` draws new responses
(posterior_predict), ``"mean"`` the expected response E[y | eta] (posterior_epred:
the probability for bernoulli models, trials x probability for binomial ones, the
rate for counts), ``"link"`` the linear predictor eta (posterior_linpred). Each is
computed draw by draw from the saved draws (fastgibbs.predictive), through the
family's own ``mean``, ``variance``, ``simulate`` and ``log_likelihood``
(fastgibbs.families.base), so a new family is checked by the same code.

Pointwise log-likelihood (Vehtari, Gelman & Gabry 2017, Stat. Comput. 27:1413):
``log_lik[s, i] = w_i log p(y_i | eta_i^(s), params^(s))`` for row i with frequency
weight w_i (1 without weights), the group effects at their draws (the fitted groups'
effects: leave-one-row-out given the groups, as brms's ``log_lik``). With
``pointwise="cell"`` the rows of binomial families that share covariates, groups and
offset form one cell (as the sampler collapses them) and ``log_lik[s, c]`` is the
binomial log pmf of the cell's total successes out of its total trials: the
leave-one-cell-out unit, equal per cell for a model fitted to 0/1 rows and for the
same model fitted to the aggregated binomial counts.
"""
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from .diagnostics import std_of_draws
from .lme4 import _checked_probs
from .predictive import (draw_chunks, draw_indices, fitted_rows, included_terms, new_rows)

__all__ = ["CheckingMixin", "PREDICT_KINDS", "PPC_STATS", "cell_index"]

PREDICT_KINDS = ("response", "mean", "link")
RESIDUAL_KINDS = ("raw", "pearson")
POINTWISE = ("row", "cell")
# PSIS fits a generalized Pareto to the largest min(S / 5, 3 sqrt(S)) importance ratios of
# S draws and judges it by k < 1 - 1 / log10(S): with fewer draws than this the tail has
# under 5 draws and the threshold is meaningless (S = 2: k < -2.3; S = 1: ArviZ fails)
MIN_LOO_DRAWS = 25


def _ddof1_sd(a):
    return std_of_draws(a, axis=1, ddof=1) if a.shape[1] > 1 else np.full(a.shape[0], np.nan)


# test statistics T(y) of posterior predictive checks: (draws, rows) -> (draws,)
PPC_STATS = {
    "mean": lambda a: a.mean(axis=1),
    "sd": _ddof1_sd,
    "median": lambda a: np.median(a, axis=1),
    "min": lambda a: a.min(axis=1),
    "max": lambda a: a.max(axis=1),
    "prop_zero": lambda a: (a == 0).mean(axis=1),
}


def _rng(seed):
    from .chains import as_seed_sequence
    return np.random.default_rng(seed if isinstance(seed, np.random.Generator)
                                 else as_seed_sequence(seed))


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _choice(value, name, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _summarize(draws, probs, index):
    """DataFrame of mean, sd and quantiles per column of ``draws`` (S, n)."""
    out = pd.DataFrame({"mean": draws.mean(axis=0), "sd": std_of_draws(draws, axis=0)},
                       index=index)
    if len(probs):
        qs = np.quantile(draws, probs, axis=0)
        for p, q in zip(probs, qs):
            out[f"{100 * p:g}%"] = q
    return out


def cell_index(rows):
    """(cell of each row (n,), first row of each cell) for ``rows``: rows with equal
    covariates, group levels and offset share a cell, numbered in order of their
    first row; rows whose cell has total weight 0 get -1."""
    parts = [rows.X] + [z for z in rows.Z if z is not None] \
        + [g[:, None].astype(float) for g in rows.level if g is not None] \
        + [rows.offset[:, None]]
    key = np.ascontiguousarray(np.hstack(parts))
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(first, kind="stable")           # number cells by first row
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cell, first = rank[inverse].astype(np.intp), first[order]
    if rows.weights is not None:
        total = np.bincount(cell, weights=rows.weights, minlength=len(first))
        keep = total > 0
        if not keep.all():
            remap = np.full(len(first), -1, dtype=np.intp)
            remap[keep] = np.arange(int(keep.sum()))
            cell, first = remap[cell], first[keep]
    return cell, first


class CheckingMixin:
    """Methods of :class:`fastgibbs.Fit` for predictions and model checking."""

    # ---- sizes ----------------------------------------------------------------------
    @property
    def nobs(self):
        """Number of observations (rows) fitted, as lme4's ``nobs``."""
        return int(self.n_obs)

    @property
    def ngrps(self):
        """Number of levels per grouping factor (Series), as lme4's ``ngrps``."""
        return pd.Series({factor: int(n) for factor, n in self.n_groups.items()},
                         name="ngrps", dtype="int64")

    # ---- rows -------------------------------------------------------------------------
    def _rows(self, newdata, terms, offset=None, response=False, trials=True,
              neighbours=None):
        """Rows of ``newdata``, or the fitted rows when it is None (``trials``: read
        the trials column of ``newdata``)."""
        if newdata is None:
            if getattr(self, "design", None) is not None:
                if offset is not None:
                    raise ValueError("offset= goes with newdata: the fitted rows keep the "
                                     "offset they were fitted with")
                if neighbours is not None:
                    raise ValueError("neighbours= goes with newdata: it places new areas, "
                                     "and the fitted rows have none")
                return fitted_rows(self)
            if self.data is None:
                raise ValueError("pass newdata (this fit does not keep its data)")
            newdata = self.data
        return new_rows(self, newdata, terms, offset=offset, response=response,
                        trials=trials, neighbours=neighbours)

    def _newdata_weights(self, data, weights):
        """Frequency weights (n,) of rows ``data`` for their log-likelihood, or None."""
        from .design import _weights
        kept = np.ones(len(data), dtype=bool)
        if weights is not None:
            return _weights(weights, data, kept)
        column = getattr(self, "weights_column", None)
        if column is not None:
            if column not in data.columns:
                raise ValueError(
                    f"this fit's rows were weighted by the column {column!r} (frequency "
                    "weights), which newdata lacks: add it, or pass weights= (e.g. "
                    "weights=np.ones(len(newdata)) to count each row once)")
            return _weights(column, data, kept)
        if getattr(self, "weights_array", False):
            raise ValueError("this model was fitted with a weights array: pass weights= "
                             "(one frequency weight per row of newdata; ones to count each "
                             "row once)")
        return None

    def _draws_of(self, rows, terms, kind, rng, draws):
        """(len(draws), rows.n) draws of one kind of prediction."""
        family = self.family_object()
        out = np.empty((len(draws), rows.n))
        for s, eta, params in draw_chunks(self, rows, terms, draws, rng):
            if kind == "link":
                out[s] = eta
            elif kind == "mean":
                out[s] = family.mean(eta, params, rows.trials)
            else:
                out[s] = family.simulate(eta, params, rng, trials=rows.trials)
        return out

    # ---- predictions ------------------------------------------------------------------
    def predict(self, newdata=None, include_group=None, summary=True,
                probs=(0.025, 0.5, 0.975), seed=None, offset=None, *, kind="response",
                include="all", ndraws=None, neighbours=None):
        """Predictions for the rows of ``newdata`` (default: the fitted rows).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict, with the predictors, the grouping columns of the included
            group terms and, for binomial models, the trials column. None: the rows
            the model was fitted to (after any ``na_action="drop"``).
        kind : {"response", "mean", "link"}
            ``"response"`` (default): new responses drawn from the family (brms's
            posterior_predict): gaussian adds N(0, sigma^2) noise, bernoulli draws 0/1
            outcomes, binomial successes out of the trials, poisson and
            negativebinomial counts. ``"mean"``: E[y | eta] (posterior_epred): the
            probability for bernoulli, trials x probability for binomial, the rate
            for counts, eta for gaussian and the t family (the location; the mean of
            a t draw with nu <= 1 does not exist, as in brms). ``"link"``: eta itself
            (posterior_linpred), on the link scale, with the offset. Cumulative (ordinal) models:
            ``"mean"`` gives the category probabilities P(y = k), as brms's
            posterior_epred does: a DataFrame (rows x categories, named by the
            response's categories) of their posterior means, or with
            ``summary=False`` the draws (n_samples, n_rows, K); ``probs`` is unused.
        include : "all", None, str or list of str
            Group terms in eta (brms's ``re_formula``): ``"all"`` (default), None (the
            population-level prediction, every group effect at its mean 0; no
            grouping column needed), or grouping factors (``"state"``), group term
            labels (``"Days|Subject"``) or a formula of group terms
            (``"~ (1 | Subject)"``). A level not seen in fitting gets, per posterior
            draw, one fresh draw from the group distribution N(0, Sigma_k) shared by
            all rows of that level (as brms does).
        include_group : bool, optional
            The older spelling of ``include``: True is ``"all"``, False is None.
        summary : bool
            True: a DataFrame with mean, sd and the ``probs`` quantiles per row,
            indexed like ``newdata``; False: the draws, ndarray (n_samples, n_rows),
            chains one after another.
        probs : sequence of float
        seed : int, SeedSequence, Generator or None
            For ``kind="response"`` and new levels.
        offset : str or array, optional
            Added to the formula's offset terms evaluated on ``newdata``; required
            when the fit's offset was an array.
        ndraws : int, optional
            Use this many posterior draws, evenly spaced (default all).
        neighbours : dict, optional
            For new areas of an ICAR term: ``{term or factor: {area: [fitted areas]}}``;
            such an area is drawn from the field given its neighbours (a term that
            ``include`` leaves out is refused: ValueError). New times of
            random walks and AR(1) terms are forecast from the fitted path, other new
            areas drawn from the prior; see fastgibbs.forecast.
        """
        if include_group is not None:
            _flag(include_group, "include_group")
            if not (isinstance(include, str) and include == "all"):
                raise ValueError("give include or include_group, not both")
            include = "all" if include_group else None
        _flag(summary, "summary")
        _choice(kind, "kind", PREDICT_KINDS)
        probs = _checked_probs(probs)
        rng = _rng(seed)
        terms = included_terms(self, include)
        rows = self._rows(newdata, terms, offset=offset, trials=kind != "link",
                          neighbours=neighbours)
        family = self.family_object()
        if kind == "mean" and hasattr(family, "category_probabilities"):     # cumulative
            return self._category_probabilities(family, rows, terms, rng,
                                                draw_indices(self, ndraws), summary)
        draws = self._draws_of(rows, terms, kind, rng, draw_indices(self, ndraws))
        return _summarize(draws, probs, rows.index) if summary else draws

    def _category_probabilities(self, family, rows, terms, rng, draws, summary):
        """P(y = k) of an ordinal model's rows: draws (len(draws), rows.n, K), or their
        posterior means as a DataFrame (rows x categories) when ``summary``."""
        out = np.empty((len(draws), rows.n, len(family.categories)))
        for s, eta, params in draw_chunks(self, rows, terms, draws, rng):
            out[s] = family.category_probabilities(eta, params)
        if not summary:
            return out
        return pd.DataFrame(out.mean(axis=0), index=rows.index, columns=list(family.categories))

    def fitted(self, kind="mean", include="all", summary=True, probs=(0.025, 0.975),
               ndraws=None):
        """Fitted values of the fitted rows: E[y | eta] (``kind="mean"``, lme4's and
        brms's ``fitted``) or eta (``kind="link"``), including the group terms
        ``include`` (see :meth:`predict`). A DataFrame (mean, sd, quantiles per row)
        or, with ``summary=False``, the draws (n_samples, n_obs)."""
        _choice(kind, "kind", ("mean", "link"))
        return self.predict(None, summary=summary, probs=probs, kind=kind, include=include,
                            ndraws=ndraws)

    def residuals(self, kind="raw", summary=True, probs=(0.025, 0.975), ndraws=None):
        """Residuals of the fitted rows, draw by draw, given every group effect:
        ``"raw"`` y - E[y | eta]; ``"pearson"`` (y - E[y | eta]) / sd[y | eta], with
        the family's variance (sigma^2; n p (1 - p); mu; mu + mu^2 / alpha).
        Frequency weights are not applied (a row's residual is that of each of its
        copies). A DataFrame (mean, sd, quantiles per row; the ``mean`` column is the
        residual at the posterior, as brms's ``residuals``) or, with
        ``summary=False``, the draws (n_samples, n_obs)."""
        _choice(kind, "kind", RESIDUAL_KINDS)
        _flag(summary, "summary")
        probs = _checked_probs(probs)
        family = self.family_object()
        rows = fitted_rows(self)
        terms = included_terms(self, "all")
        draws = draw_indices(self, ndraws)
        out = np.empty((len(draws), rows.n))
        for s, eta, params in draw_chunks(self, rows, terms, draws):
            r = rows.y - family.mean(eta, params, rows.trials)
            if kind == "pearson":
                v = family.variance(eta, params, rows.trials)
                with np.errstate(divide="ignore", invalid="ignore"):
                    r /= np.sqrt(v)
                # a variance that underflows to 0 (|eta| beyond ~745 on the logit scale):
                # 0 when y is its mean, else +-inf
                r[(v == 0) & (r != r)] = 0.0
            out[s] = r
        return _summarize(out, probs, rows.index) if summary else out

    # ---- log-likelihood ----------------------------------------------------------------
    def log_likelihood(self, newdata=None, pointwise="row", offset=None, seed=None,
                       neighbours=None, weights=None):
        """Pointwise log-likelihood at every posterior draw (see the module docstring).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows with their responses (default: the fitted rows); levels not seen in
            fitting get fresh group effects (one per draw, with ``seed``).
        pointwise : {"row", "cell"}
            Per row (default), or per cell of the rows of a binomial model that share
            covariates, groups and offset (the cell's binomial log pmf; cells are
            numbered in order of their first row, see :func:`cell_index`).
        offset : str or array, optional
            As in :meth:`predict`, with ``newdata``.
        neighbours : dict, optional
            As in :meth:`predict`: new areas of an ICAR term drawn from the field given
            these fitted neighbours (else from the prior, as islands).
        weights : str or array, optional
            Frequency weights of the rows of ``newdata`` (a column name or an array, as
            in fitting). Default: a fit weighted by a column reads that column from
            ``newdata``; a fit weighted by an array needs ``weights=``; an unweighted
            fit weighs every row 1.

        Returns
        -------
        ndarray (chains, draws, n_rows) or (chains, draws, n_cells)
            Natural log; weighted rows contribute w_i log p(y_i | ...).
        """
        _choice(pointwise, "pointwise", POINTWISE)
        family = self.family_object()
        terms = included_terms(self, "all")
        rows = self._rows(newdata, terms, offset=offset, response=True,
                          neighbours=neighbours)
        if newdata is not None or getattr(self, "design", None) is None:
            rows = replace(rows, weights=self._newdata_weights(
                self.data if newdata is None else newdata, weights))
        elif weights is not None:
            raise ValueError("weights= goes with newdata: the fitted rows keep the weights "
                             "they were fitted with")
        draws = draw_indices(self)
        if pointwise == "cell":
            cell, first = cell_index(rows)
            w = np.ones(rows.n) if rows.weights is None else rows.weights
            keep = cell >= 0
            n = np.ones(rows.n) if rows.trials is None else rows.trials
            y_total = np.bincount(cell[keep], weights=(w * rows.y)[keep], minlength=len(first))
            n_total = np.bincount(cell[keep], weights=(w * n)[keep], minlength=len(first))
            rows = rows.take(first)
        out = np.empty((len(draws), rows.n))
        rng = _rng(seed) if any(rows.n_new) else None
        for s, eta, params in draw_chunks(self, rows, terms, draws, rng):
            if pointwise == "cell":
                out[s] = family.cell_log_likelihood(y_total, eta, params, n_total)
            else:
                out[s] = family.log_likelihood(rows.y, eta, params, rows.trials)
        if pointwise == "row" and rows.weights is not None:
            out *= rows.weights
        return out.reshape(self.n_chains, self.n_draws, -1)

    def loo(self, pointwise="row", reff=None):
        """PSIS-LOO (Vehtari, Gelman & Gabry 2017) of the fitted rows by ArviZ's
        ``az.loo`` on :meth:`log_likelihood`; returns its ``ELPDData`` (elpd_loo, se,
        p_loo, pointwise ``loo_i`` and ``pareto_k``).

        Warns (UserWarning) when a Pareto k exceeds ArviZ's threshold (0.7 for 4,000
        draws): the estimate is then unreliable for those rows; the warning names
        the worst and suggests exact cross-validation by refits,
        :func:`fastgibbs.cv`."""
        from .export import _import_arviz
        az = _import_arviz()
        idata = self.to_arviz(log_likelihood=True, posterior_predictive=False,
                              pointwise=pointwise, warmup=False)
        n_draws = self.n_chains * self.n_draws
        if n_draws < MIN_LOO_DRAWS:
            raise ValueError(f"PSIS-LOO needs at least {MIN_LOO_DRAWS} posterior draws (its "
                             f"Pareto fit uses the largest fifth of the importance ratios); "
                             f"this fit has {n_draws}: sample more draws")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
            out = az.loo(idata, pointwise=True, reff=reff)
        k = np.asarray(out.pareto_k)
        good = float(out.good_k)
        high = np.flatnonzero(k > good)
        if len(high):
            unit = "row" if pointwise == "row" else "cell"
            worst = high[np.argsort(-k[high])][:5]
            where = ", ".join(f"{unit} {i} (k = {k[i]:.2f})" for i in worst)
            warnings.warn(
                f"PSIS-LOO is unreliable for {len(high)} of {len(k)} {unit}s whose Pareto k "
                f"exceeds {good:.2f}, worst {where}: leaving one out changes the posterior "
                "too much for importance sampling. Check the elpd by exact cross-validation, "
                "fg.cv(model, folds=...) or fg.cv(model, by='<group column>').",
                UserWarning, stacklevel=2)
        return out

    # ---- posterior predictive statistics ------------------------------------------------
    def _group_codes(self, group, rows):
        """(codes (n,), labels) of ``group``: a grouping factor of the fit or a column
        of the fitted data."""
        for k, block in enumerate(self.blocks):
            if block.factor == group:
                return rows.level[k], [str(lvl) for lvl in block.levels]
        data = self.data
        if data is None or group not in getattr(data, "columns", ()):
            raise ValueError(f"group {group!r} is neither a grouping factor of the fit "
                             f"({', '.join(b.factor for b in self.blocks) or 'none'}) nor a "
                             "column of the fitted data")
        rows_kept = getattr(self.design, "rows", None)
        column = data[group].iloc[rows_kept] if rows_kept is not None else data[group]
        if len(column) != rows.n:
            raise ValueError(f"group column {group!r} does not match the fitted rows")
        from .design import _factor_codes
        codes, labels = _factor_codes(column.reset_index(drop=True), group)
        if np.any(codes < 0):
            raise ValueError(f"group column {group!r} has missing values in fitted rows")
        return codes, [str(lvl) for lvl in labels]

    def ppc_stat(self, stat="mean", group=None, ndraws=None, seed=None,
                 probs=(0.05, 0.25, 0.5, 0.75, 0.95)):
        """A test statistic T of the fitted response against its posterior predictive
        distribution, with the posterior predictive p-value P(T(y_rep) >= T(y))
        (Gelman, Meng & Stern 1996; Gelman et al., BDA3, sec. 6.3), overall or per
        group.

        Parameters
        ----------
        stat : {"mean", "sd", "median", "min", "max", "prop_zero"} or callable
            A callable takes a 2-d array (draws, rows) and returns one value per draw,
            e.g. ``lambda y: np.quantile(y, 0.9, axis=1)``.
        group : str, optional
            A grouping factor of the fit or a column of the fitted data: T within
            each group.
        ndraws : int, optional
            Replicated datasets (default: one per posterior draw).
        seed : int, SeedSequence, Generator or None

        Returns
        -------
        pandas.DataFrame
            One row per group with fitted rows (an ICAR field's areas without data
            have none), in natural order ("2" before "12"; a single row
            ``"all"`` without ``group``): ``n`` (rows),
            ``observed`` T(y), the mean and ``probs`` quantiles of T(y_rep), and
            ``p_value``. ``df.attrs["stat"]`` names the statistic. Binomial models
            use the proportions y / trials; frequency weights are ignored.
        """
        probs = _checked_probs(probs)
        return self._ppc_table(*self._ppc_replicates(stat, group, ndraws, seed), group, probs)

    @staticmethod
    def _ppc_table(name, observed, rep, labels, sizes, group, probs):
        with np.errstate(invalid="ignore"):
            p = np.mean(rep >= observed, axis=0)
        p[~np.isfinite(observed)] = np.nan
        out = pd.DataFrame({"n": sizes, "observed": observed, "mean": rep.mean(axis=0)},
                           index=pd.Index(labels, name=group or None))
        for q, values in zip(probs, np.quantile(rep, probs, axis=0)):
            out[f"{100 * q:g}%"] = values
        out["p_value"] = p
        out.attrs.update(stat=name, n_replicates=rep.shape[0])
        return out

    def _ppc_replicates(self, stat, group, ndraws, seed):
        """(stat name, T(y) (G,), T(y_rep) (draws, G), group labels, group sizes)."""
        name, fn = self._ppc_statistic(stat)
        rows = fitted_rows(self)
        if group is None:
            codes, labels = np.zeros(rows.n, dtype=np.intp), ["all"]
        else:
            codes, labels = self._group_codes(group, rows)
        from .plots import _natural_order          # "2" before "12", as the plots
        order = [g for g in _natural_order(labels) if np.any(codes == g)]   # with rows
        members = [np.flatnonzero(codes == g) for g in order]
        labels = [labels[g] for g in order]
        scale = self._ppc_scale(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = np.array([fn((rows.y / scale)[None, idx])[0] if len(idx) else np.nan
                                 for idx in members], dtype=float)
        draws = draw_indices(self, ndraws)
        rep = np.empty((len(draws), len(labels)))
        rng = _rng(seed)
        family = self.family_object()
        terms = included_terms(self, "all")
        with np.errstate(invalid="ignore", divide="ignore"):
            for s, eta, params in draw_chunks(self, rows, terms, draws, rng):
                y = family.simulate(eta, params, rng, trials=rows.trials) / scale
                for g, idx in enumerate(members):
                    rep[s, g] = fn(y[:, idx]) if len(idx) else np.nan
        return name, observed, rep, labels, [len(idx) for idx in members]

    def _replicated_response(self, ndraws, seed):
        """(y (n,), y_rep (ndraws, n)) of the fitted rows, as proportions of the trials
        for binomial models."""
        rows = fitted_rows(self)
        terms = included_terms(self, "all")
        rng = _rng(seed)
        y_rep = self._draws_of(rows, terms, "response", rng, draw_indices(self, ndraws))
        scale = self._ppc_scale(rows)
        return rows.y / scale, y_rep / scale

    @staticmethod
    def _ppc_statistic(stat):
        if callable(stat):
            return getattr(stat, "__name__", "T"), lambda a: np.asarray(stat(a), dtype=float)
        if isinstance(stat, str) and stat in PPC_STATS:
            return stat, PPC_STATS[stat]
        raise ValueError(f"stat must be one of {tuple(PPC_STATS)} or a callable, got {stat!r}")

    def _ppc_scale(self, rows):
        """Divisor of responses in checks: the trials of binomial models (proportions)."""
        if self.family == "binomial" and rows.trials is not None:
            return rows.trials
        return 1.0
