"""Exact cross-validation by refits: K-fold, leave-one-group-out, or leave-one-out on
chosen rows.

``cv(model, folds=..., by=...)`` refits ``model`` once per fold with that fold's rows
given frequency weight 0, which is exactly fitting without them (``Model.refit``):
the design, and so the levels of every grouping factor, stay those of the whole data,
and a level whose rows are all held out has its effects drawn from the group
distribution N(0, Sigma_k) at each draw, which is the predictive distribution of a
new group. The fits run through :func:`fastgibbs.study` (any executor, reproducible
seeds), and each keeps only the log predictive densities of its held-out rows:

    elpd_i = log( (1/S) sum_s exp(w_i log p(y_i | theta^(s)_{-k(i)})) )

for row i in fold k(i), with S draws of the fit without fold k (Vehtari, Gelman &
Gabry 2017, Stat. Comput. 27:1413, sec. 4.2 "K-fold cross-validation"; the same
quantity as ``az.loo``'s ``loo_i``, exact instead of importance-sampled).
``elpd_kfold = sum_i elpd_i`` with standard error ``sqrt(n var(elpd_i))``, as
``az.loo`` computes its own. ``joint=True`` scores each fold's rows jointly
(log mean_s exp sum_{i in k} ...), one value per fold, as R loo's ``kfold`` with
``joint``; a fold of a group is then leave-one-group-out on the group's likelihood.
``p_kfold`` is lppd - elpd_kfold, lppd from one more fit to all rows.
"""
import time
import warnings

import numpy as np
import pandas as pd

from ._process_limits import with_process_limits

__all__ = ["cv", "CVResult", "fold_labels"]

# cv warns when the largest R-hat over every parameter of every fit exceeds this. Not
# 1.01 (Vehtari et al. 2021, for one fit): the maximum of thousands of R-hats of
# converged fits exceeds 1.01 by sampling noise alone (1.015-1.02 on 44 NES fits of
# 4 x 1000 draws); 1.05 flags fits that have not converged.
RHAT_WARN = 1.05


def _logmeanexp(a, axis=0):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.mean(np.exp(a - m), axis=axis))


class CVResult(pd.Series):
    """What :func:`cv` returns: a pandas Series laid out as ``az.loo``'s ELPDData, with
    ``elpd_kfold``, ``se``, ``p_kfold``, ``n_samples`` (draws per fit),
    ``n_data_points`` (rows or folds scored), ``warning`` (a fit failed or
    converged poorly), ``kfold_i`` (pointwise elpd, a Series indexed by row of the
    data, or by fold with ``joint=True``), ``scale`` ("log"), ``n_folds``, ``folds``
    (the fold of each fitted row, NaN for rows never held out), ``rhat_max`` (the
    worst R-hat over the fits' parameters) and ``time`` (seconds, wall clock).
    Entries read as attributes: ``res.elpd_kfold``, ``res.se``, ``res.kfold_i``."""

    @property
    def _constructor(self):
        return pd.Series

    def __str__(self):
        lines = [f"Exact {self['method']} cross-validation by {self['n_folds']} refits "
                 f"({self['n_samples']} draws each, {self['time']:.2f} s), "
                 f"{self['n_data_points']} {'folds' if self['joint'] else 'rows'} scored",
                 "",
                 "            Estimate       SE",
                 f"elpd_kfold {self['elpd_kfold']:9.2f} {self['se']:8.2f}",
                 f"p_kfold    {self['p_kfold']:9.2f}        -"]
        if self["warning"]:
            lines += ["", f"WARNING: {self['message']}"]
        return "\n".join(lines)

    def __repr__(self):
        return self.__str__()


def _checked_by(model, by):
    """(codes (n_obs,), labels) of the ``by`` grouping: a grouping factor of the
    model or a column of its data (the fitted rows). Only groups with fitted rows
    count (an ICAR field also has areas without data)."""
    design = model.design
    for block in design.blocks:
        if block.factor == by:
            used, codes = np.unique(np.asarray(block.group), return_inverse=True)
            return codes.reshape(-1), [str(block.levels[j]) for j in used]
    data = getattr(model, "data", None)
    if not isinstance(by, str):
        raise TypeError(f"by must be a column name, got {by!r}")
    if data is None or by not in data.columns:
        raise ValueError(f"by={by!r} is neither a grouping factor of the model "
                         f"({', '.join(b.factor for b in design.blocks) or 'none'}) nor a "
                         "column of its data")
    column = data[by].iloc[design.rows] if design.rows is not None else data[by]
    from .design import _factor_codes
    codes, labels = _factor_codes(column.reset_index(drop=True), by)
    if np.any(codes < 0):
        raise ValueError(f"by column {by!r} has missing values in the fitted rows")
    return codes, [str(lvl) for lvl in labels]


def fold_labels(model, folds=None, by=None, seed=None):
    """Fold of each fitted row, (n_obs,) float with NaN for rows never held out, and
    the method's name.

    ``folds``: None (10 folds, or one per group with ``by``), an int K (rows, or the
    groups of ``by``, shuffled with ``seed`` and dealt into K folds of near-equal
    size, as R loo's ``kfold_split_random`` and ``kfold_split_grouped``), or an array
    (n_obs,) of fold labels (numbers; NaN leaves a row in every training set; a pandas
    Series is read by its labels, those of the fitted rows)."""
    n = model.design.n_obs
    if folds is not None and not isinstance(folds, (int, np.integer)) \
            or isinstance(folds, bool):
        if by is not None:
            raise ValueError("give by or an array of folds, not both")
        folds = model._by_row(folds, "folds")
        try:
            labels = np.asarray(folds, dtype=float)
        except (TypeError, ValueError):
            raise TypeError("folds must be an int or an array of fold numbers, one per fitted "
                            "row (NaN: never held out); for a column of labels such as "
                            "regions, pass its name as by=") from None
        if labels.shape != (n,):
            raise ValueError(f"folds must be an int or an array of one label per fitted row "
                             f"({n}), got shape {labels.shape}")
        if np.all(np.isnan(labels)):
            raise ValueError("folds hold no row out (every label is NaN)")
        return labels, "custom-fold"
    rng = np.random.default_rng(seed if isinstance(seed, np.random.Generator)
                                else _seed_sequence(seed).spawn(1)[0])
    if by is not None:
        codes, groups = _checked_by(model, by)
        n_units = len(groups)
        if folds is None:
            return codes.astype(float), "leave-one-group-out"
        unit_of_row = codes
    else:
        n_units = n
        unit_of_row = np.arange(n)
        folds = 10 if folds is None else folds
    k = int(folds)
    if not 2 <= k <= n_units:
        what = f"groups of {by!r}" if by is not None else "rows"
        raise ValueError(f"folds must be between 2 and the number of {what} ({n_units}), "
                         f"got {folds!r}")
    deal = np.empty(n_units)
    deal[rng.permutation(n_units)] = np.arange(n_units) % k
    return deal[unit_of_row].astype(float), (f"{k}-fold grouped by {by!r}" if by is not None
                                             else f"{k}-fold")


def _seed_sequence(seed):
    from .chains import as_seed_sequence
    return as_seed_sequence(seed)


class HeldOutDensity:
    """``stats`` of the cv study: the held-out rows' log predictive densities.

    For a fit without some rows (their weight 0 in ``dataset["weights"]``, positive in
    ``base_weights``), returns per held-out row its position ``row``, ``elpd`` (log
    mean over draws of its density, weighted as in the fit's log_likelihood) and
    ``elpd_joint`` (the fold's rows scored jointly, the same on each row), with
    ``rhat_max`` and ``ess_min`` of the fit. A fit that holds no row out (the full
    fit) scores every row, and ``elpd_joint`` is then each row's fold scored jointly
    (``folds``: the fold label of each row): the lppd terms of p_kfold. Picklable, so
    it runs on process and Dask workers too."""

    def __init__(self, base_weights, folds):
        self.base = None if base_weights is None else np.asarray(base_weights, dtype=float)
        self.folds = np.asarray(folds, dtype=float)

    def __call__(self, fit, dataset):
        from .predictive import draw_chunks, fitted_rows, included_terms

        w = dataset.get("weights")
        base = np.ones(fit.n_obs) if self.base is None else self.base
        held = np.flatnonzero((w == 0) & (base > 0))
        full = len(held) == 0
        if full:
            held = np.flatnonzero((base > 0) & ~np.isnan(self.folds))
        rows = fitted_rows(fit).take(held)
        family = fit.family_object()
        ll = np.empty((fit.n_chains * fit.n_draws, len(held)))
        for s, eta, params in draw_chunks(fit, rows, included_terms(fit, "all")):
            ll[s] = family.log_likelihood(rows.y, eta, params, rows.trials)
        ll *= base[held]
        if full:
            fold = self.folds[held]
            joint = np.empty(len(held))
            for k in np.unique(fold):
                members = fold == k
                joint[members] = _logmeanexp(ll[:, members].sum(axis=1))
        else:
            joint = float(_logmeanexp(ll.sum(axis=1)))
        from .study import _nan_extreme, summarize_rows
        diag = summarize_rows(np.ascontiguousarray(np.moveaxis(fit.draws_array, -1, 0)), ())
        return {"row": held, "elpd": _logmeanexp(ll), "elpd_joint": joint,
                "rhat_max": _nan_extreme(diag["rhat"], np.max),
                "ess_min": _nan_extreme(diag["ess_bulk"], np.min)}


@with_process_limits
def cv(model, folds=None, by=None, *, joint=False, seed=None, sample_kwargs=None,
       executor=None, n_jobs=None, progress=None):
    """Exact cross-validation of ``model`` by refits (see the module docstring).

    Parameters
    ----------
    model : fastgibbs.Model
    folds : None, int or array, optional
        None: 10 folds of rows, or with ``by`` one fold per group
        (leave-one-group-out); an int K: K folds of rows, or of the groups of ``by``,
        dealt at random (``seed``); an array (n_obs,) of fold labels per fitted row,
        NaN for rows never held out (e.g. one label per chosen row: exact
        leave-one-out on those rows).
    by : str, optional
        A grouping factor of the model (``"state"``) or a column of its data.
    joint : bool
        Score the rows of each fold jointly (one elpd per fold) instead of one per row.
    seed : int, SeedSequence or None
        Folds and fits (fit k uses child k of the study's seed, see fastgibbs.study).
    sample_kwargs, executor, n_jobs, progress
        As :func:`fastgibbs.study` (default 4 chains x 1000 warmup + 1000 draws).

    Returns
    -------
    CVResult
        A Series laid out as ``az.loo``'s result (elpd_kfold, se, p_kfold, pointwise
        kfold_i, ...); compare ``res.elpd_kfold`` and ``res.se`` with
        ``fit.loo().elpd_loo`` and ``.se``.
    """
    from .api import Model
    from .study import study

    if not isinstance(model, Model):
        raise TypeError(f"model must be a fastgibbs.Model, got {type(model).__name__}")
    if not isinstance(joint, (bool, np.bool_)):
        raise TypeError(f"joint must be True or False, got {joint!r}")
    root = _seed_sequence(seed)
    fold_seed, study_seed = root.spawn(2)
    labels, method = fold_labels(model, folds, by, seed=fold_seed)
    base = model.design.weights
    w0 = np.ones(model.design.n_obs) if base is None else np.asarray(base, dtype=float)
    ids = np.unique(labels[~np.isnan(labels)])
    datasets = [{"y": model.design.y, "weights": w0}]          # the full fit, for lppd
    for k in ids:
        w = w0.copy()
        w[labels == k] = 0.0
        if not np.any(w > 0):
            raise ValueError(f"fold {k:g} holds out every row")
        datasets.append({"y": model.design.y, "weights": w})
    t0 = time.perf_counter()
    frame = study(model, datasets, sample_kwargs=sample_kwargs,
                  stats=HeldOutDensity(base, labels),
                  seed=study_seed, executor=executor, n_jobs=n_jobs, progress=progress,
                  true_params=None)
    elapsed = time.perf_counter() - t0
    failed = frame["error"].notna()
    message = ""
    if failed.any():
        first = frame.loc[failed, "error"].iloc[0]
        message = (f"{int(frame.loc[failed, 'dataset'].nunique())} of {len(datasets)} fits "
                   f"failed (first: {first}); their rows are left out")
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    ok = frame.loc[~failed]
    full = ok[ok["dataset"] == 0]
    parts = ok[ok["dataset"] > 0]
    rhat = float(ok["rhat_max"].max()) if len(ok) else np.nan
    if rhat > RHAT_WARN:
        note = (f"worst R-hat over the fits {rhat:.3f} > {RHAT_WARN}: some fits have not "
                "converged; draw more (sample_kwargs)")
        message = f"{message}; {note}" if message else note
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    index = getattr(model.data, "index", None)
    rows_pos = model.design.rows if model.design.rows is not None \
        else np.arange(model.design.n_obs)
    if joint:
        per_fold = parts.groupby("dataset")["elpd_joint"].first()
        pointwise = pd.Series(per_fold.to_numpy(), name="kfold_i",
                              index=pd.Index(ids[per_fold.index.to_numpy() - 1], name="fold"))
    else:
        rows = parts["row"].to_numpy().astype(np.intp)
        labels_index = index[rows_pos[rows]] if index is not None and len(index) > rows_pos.max() \
            else pd.Index(rows)
        pointwise = pd.Series(parts["elpd"].to_numpy(), index=labels_index, name="kfold_i")
        order = np.argsort(rows, kind="stable")
        pointwise = pointwise.iloc[order]
        held_rows = rows[order]
    n_points = len(pointwise)
    elpd = float(pointwise.sum())
    se = float(np.sqrt(n_points * np.var(pointwise.to_numpy()))) if n_points else np.nan
    if not len(full):
        lppd = np.nan
    elif joint:
        by_row = pd.Series(full["elpd_joint"].to_numpy(), index=full["row"].to_numpy())
        fold_of = pd.Series(labels[full["row"].to_numpy().astype(np.intp)],
                            index=full["row"].to_numpy())
        lppd = float(by_row.groupby(fold_of).first().reindex(pointwise.index).sum())
    else:
        lppd = float(pd.Series(full["elpd"].to_numpy(), index=full["row"].to_numpy())
                     .reindex(held_rows).sum())
    draws = (sample_kwargs or {}).get("draws", 1000) * (sample_kwargs or {}).get("chains", 4)
    return CVResult({
        "elpd_kfold": elpd, "se": se, "p_kfold": lppd - elpd, "n_samples": int(draws),
        "n_data_points": int(n_points), "warning": bool(message), "kfold_i": pointwise,
        "scale": "log", "n_folds": int(len(ids)), "folds": labels, "method": method,
        "joint": bool(joint), "rhat_max": rhat, "time": elapsed, "message": message,
    }, dtype=object)
