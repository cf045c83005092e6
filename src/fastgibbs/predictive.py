"""Draws of the linear predictor of a fit on rows of data, and what they are built from.

Everything that evaluates a fit on rows (predictions, fitted values, residuals,
log-likelihoods, posterior predictive checks, cross-validation) goes through here:

- :class:`Rows`: the rows to evaluate: X (n, p), per block Z (n, q_k) and the index of
  each row's level among the block's levels (new levels numbered after the fitted
  ones), the offset and, when known, the response, trials and frequency weights.
  :func:`fitted_rows` takes them from the design a fit was sampled on (the fitted rows
  exactly, after any ``na_action="drop"``); :func:`new_rows` evaluates new data as the
  fit coded its data (fastgibbs.design.evaluate_new_data).
- :func:`included_terms`: which group terms a prediction includes (brms's
  ``re_formula``): every term, none, or those named by factor, term label or a
  formula of group terms.
- :func:`draw_chunks`: eta (draws, n) for consecutive chunks of posterior draws, with
  the family's parameters for the same draws, so that (draws x rows) work arrays stay
  small; a level not seen in fitting gets, per posterior draw, one fresh draw from the
  group distribution N(0, Sigma_k), shared by all rows of that level (as brms's
  ``sample_new_levels="gaussian"``); new levels of a structured term (new times,
  new areas) are drawn given the fitted effects, see fastgibbs.forecast.

Notation as in fastgibbs.design: eta_i = x_i'beta + sum_k z_ik'u_{k, g_k(i)} + offset_i.
"""
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd


__all__ = ["Rows", "fitted_rows", "new_rows", "included_terms", "draw_chunks",
           "draw_indices", "CHUNK_ELEMENTS"]

# (draws x rows) elements per chunk of work arrays: 32 MB of doubles
CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Rows:
    """Rows of data to evaluate a fit on (see the module docstring).

    ``Z[k]`` and ``level[k]`` are None for a block whose terms are not needed;
    ``n_new[k]`` counts the levels of block k not seen in fitting (numbered from the
    block's number of fitted levels on). ``index`` labels the rows (the data's index).
    ``structured_new``: per block, None or what fastgibbs.forecast needs of the new
    levels of its structured term (their times and series, or neighbours).
    """

    X: np.ndarray
    Z: tuple
    level: tuple
    n_new: tuple
    offset: np.ndarray
    y: np.ndarray = None
    trials: np.ndarray = None
    weights: np.ndarray = None
    index: object = None
    structured_new: tuple = ()

    @property
    def n(self):
        return self.X.shape[0]

    def take(self, positions):
        """The rows at ``positions`` (the new-level numbering is kept)."""
        pick = np.asarray(positions)

        def sub(a):
            return None if a is None else a[pick]
        return replace(self, X=self.X[pick], Z=tuple(sub(z) for z in self.Z),
                       level=tuple(sub(g) for g in self.level), offset=self.offset[pick],
                       y=sub(self.y), trials=sub(self.trials), weights=sub(self.weights),
                       index=None if self.index is None else self.index[pick])


def _data_index(fit, rows):
    """Labels of the fitted rows: the data's index at the kept positions, or 0..n-1."""
    data = getattr(fit, "data", None)
    if data is not None and rows is not None and len(rows) and rows[-1] < len(data):
        return data.index[rows]
    return pd.RangeIndex(fit.n_obs)


def fitted_rows(fit):
    """:class:`Rows` of the data the fit was sampled on, with its response, trials and
    weights. Needs the fit's design (fits made by ``fg.fit``, ``Model.sample`` and
    ``Model.refit``; not fits read by ``fg.load``, which have only ``newdata``)."""
    design = getattr(fit, "design", None)
    if design is None:
        raise ValueError("this fit does not keep the design it was sampled on (a fit read "
                         "by fg.load, or fitted to data streamed from files or Dask): pass "
                         "newdata, the data it was fitted to")
    blocks = design.blocks
    trials = design.trials
    if trials is None and fit.family == "bernoulli":
        trials = np.ones(design.n_obs)
    return Rows(X=np.asarray(design.X), Z=tuple(b.Z for b in blocks),
                level=tuple(b.group for b in blocks), n_new=tuple(0 for _ in blocks),
                offset=np.asarray(design.offset if design.offset is not None
                                  else np.zeros(design.n_obs), dtype=float),
                y=np.asarray(design.y, dtype=float), trials=trials, weights=design.weights,
                index=_data_index(fit, getattr(design, "rows", None)))


def new_rows(fit, data, terms, offset=None, response=False, trials=True, neighbours=None):
    """:class:`Rows` of ``data`` (a DataFrame) for the group terms ``terms`` (from
    :func:`included_terms`); ``response=True`` also reads the response (and trials)
    from ``data``. Only the grouping columns of included terms are needed, and the
    trials column only with ``trials`` (False: the linear predictor needs none).
    ``neighbours``: {ICAR term or factor: {new area: [fitted areas]}} (fastgibbs.forecast)."""
    from .design import evaluate_new_data, evaluate_new_response
    from .forecast import check_neighbours_keys, new_level_info, same_times, structured_term
    from .lme4 import _trials

    check_neighbours_keys(fit, neighbours, terms)
    structured_new = []

    blocks = {k for k in terms}
    X, groups, off = evaluate_new_data(fit, data, include_group=blocks, offset=offset)
    Z, level, n_new = [], [], []
    for k, block in enumerate(fit.blocks):
        entry = groups[k] if groups else None
        if entry is None:
            Z.append(None)
            level.append(None)
            n_new.append(0)
            structured_new.append(None)
            continue
        z, labels = entry
        labels = same_times(fit, k, data, labels)    # an instant in another time zone
        known = {lvl: j for j, lvl in enumerate(block.levels)}
        new = sorted({lvl for lvl in labels if lvl not in known})
        for i, lvl in enumerate(new):
            known[lvl] = len(block.levels) + i
        Z.append(np.asarray(z, dtype=float))
        level.append(np.array([known[lvl] for lvl in labels], dtype=np.intp))
        n_new.append(len(new))
        info = None
        if structured_term(fit, k) is not None and (new or neighbours is not None):
            info = new_level_info(fit, k, data, labels, new, neighbours)
        structured_new.append(info if new else None)
    want_trials, y, trials = trials, None, None
    if response:
        y, trials = evaluate_new_response(fit, data)
    elif want_trials and (fit.family_object().needs_trials or fit.family == "bernoulli"):
        trials = _trials(fit, data)
    if trials is not None and fit.family == "bernoulli":
        trials = np.ones(len(data))
    return Rows(X=np.asarray(X, dtype=float), Z=tuple(Z), level=tuple(level),
                n_new=tuple(n_new), offset=np.asarray(off, dtype=float), y=y,
                trials=None if trials is None else np.asarray(trials, dtype=float),
                index=data.index, structured_new=tuple(structured_new))


# ----------------------------------------------------------------------------------
# Which group terms
# ----------------------------------------------------------------------------------
def _bar_columns(block):
    """[(lhs text without spaces, column positions)] of each bar of a block: a
    correlated block is one bar; a diagonal block's bars have one column each."""
    lhs = (block.lhs,) if isinstance(block.lhs, str) else tuple(block.lhs)
    if block.correlated or len(lhs) != len(block.columns):
        return [(lhs[0].replace(" ", ""), tuple(range(len(block.columns))))]
    return [(text.replace(" ", ""), (c,)) for c, text in enumerate(lhs)]


def _bar_terms(fit, lhs, factor, source):
    """{block: columns} of one group term ``(lhs | factor)`` of an include formula."""
    owners = [k for k, b in enumerate(fit.blocks) if b.factor == factor]
    if not owners:
        raise ValueError(f"include: {source!r} varies by {factor!r}, which is not a grouping "
                         f"factor of the fit (factors: "
                         f"{', '.join(dict.fromkeys(b.factor for b in fit.blocks)) or 'none'})")
    text = lhs.replace(" ", "")
    for k in owners:                       # a bar as written in the fitted formula
        for bar_text, cols in _bar_columns(fit.blocks[k]):
            if bar_text == text:
                return {k: cols}
    pieces = [p.strip() for p in lhs.split("+")]
    intercept = "0" not in pieces and "-1" not in pieces
    explicit = "1" in pieces
    out = {}
    for piece in pieces:
        if piece in ("0", "1", "-1", ""):
            continue
        found = [(k, fit.blocks[k].columns.index(piece)) for k in owners
                 if piece in fit.blocks[k].columns]
        if not found:
            columns = [c for k in owners for c in fit.blocks[k].columns]
            raise ValueError(f"include: {piece!r} in {source!r} does not vary by {factor!r} "
                             f"in the fit (its columns: {columns})")
        k, c = found[0]
        out.setdefault(k, set()).add(c)
    if intercept:
        with_one = [k for k in owners if "1" in fit.blocks[k].columns]
        if with_one:
            out.setdefault(with_one[0], set()).add(fit.blocks[with_one[0]].columns.index("1"))
        elif explicit:
            raise ValueError(f"include: {source!r} has an intercept, but the fit has no "
                             f"varying intercept for {factor!r}")
    return {k: tuple(sorted(c)) for k, c in out.items()}


def _one_include(fit, item):
    """{block: columns} of one entry of ``include``."""
    from .formula import FormulaError, parse_formula

    if not isinstance(item, str):
        raise TypeError(f"include entries must be strings (a grouping factor, a group term "
                        f"such as '1|g', or a formula of group terms), got {item!r}")
    text = item.strip()
    for k, block in enumerate(fit.blocks):
        if text in block.terms:                           # a term label, "x|g"
            return {k: (block.terms.index(text),)}
    owners = {k: tuple(range(len(b.columns))) for k, b in enumerate(fit.blocks)
              if b.factor == text}
    if owners:                                            # a factor, "g"
        return owners
    rhs = text[1:].strip() if text.startswith("~") else text
    if rhs in ("0", "1", "-1", "NA", ""):
        return {}
    try:
        parsed = parse_formula(f"fastgibbs_include ~ {rhs}")
    except FormulaError as err:
        raise ValueError(f"include: cannot read {item!r} as a factor, a group term or a "
                         f"formula of group terms: {err}") from None
    if not parsed.groups:
        raise ValueError(f"include: {item!r} names no group term of the fit (group terms: "
                         f"{', '.join(t for b in fit.blocks for t in b.terms) or 'none'}; "
                         "factors: " + (", ".join(dict.fromkeys(b.factor for b in fit.blocks))
                                        or "none") + ")")
    out = {}
    for group in parsed.groups:
        for k, cols in _bar_terms(fit, group.lhs, group.factor, group.source).items():
            out[k] = tuple(sorted(set(out.get(k, ())) | set(cols)))
    return out


def included_terms(fit, include="all"):
    """{block position: column positions} of the group terms a prediction includes.

    ``include``: ``"all"`` (every group term), None (none: the population-level
    prediction, all group effects at their mean 0), or a string or list of strings,
    each a grouping factor (``"state"``: all its terms), a group term label
    (``"Days|Subject"``: that column alone) or a formula of group terms
    (``"~ (1 | Subject)"``; lme4's rules: ``(x | g)`` includes the intercept too,
    ``(0 + x | g)`` not), as brms's ``re_formula``."""
    if isinstance(include, str) and include == "all":
        return {k: tuple(range(len(b.columns))) for k, b in enumerate(fit.blocks)}
    if include is None:
        return {}
    items = [include] if isinstance(include, str) else include
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"include must be 'all', None, a string or a list of strings, got "
                        f"{include!r}") from None
    out = {}
    for item in items:
        for k, cols in _one_include(fit, item).items():
            out[k] = tuple(sorted(set(out.get(k, ())) | set(cols)))
    return out


# ----------------------------------------------------------------------------------
# Draws
# ----------------------------------------------------------------------------------
def draw_indices(fit, ndraws=None):
    """Positions of the posterior draws used (pooled over chains, chain by chain):
    all, or ``ndraws`` of them evenly spaced."""
    total = fit.n_chains * fit.n_draws
    if ndraws is None:
        return np.arange(total)
    if isinstance(ndraws, bool) or not isinstance(ndraws, (int, np.integer)) or ndraws < 1:
        raise ValueError(f"ndraws must be a positive integer or None, got {ndraws!r}")
    if ndraws >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, int(ndraws)).round().astype(np.intp))


def _pooled(fit, name, draws):
    return fit.draws(name).reshape(-1)[draws]


def _block_draws(fit, block, draws):
    """(S, J, q) group effects of a block at the chosen draws."""
    S = len(draws)
    return np.stack([fit.draws(t).reshape(fit.n_chains * fit.n_draws, -1)[draws]
                     for t in block.terms], axis=2).reshape(S, len(block.levels), -1)


def _block_cholesky(fit, block, draws):
    """(S, q, q) Cholesky factors of Sigma_k at the chosen draws."""
    S, q = len(draws), len(block.columns)
    sds = np.stack([_pooled(fit, t + "_sigma", draws) for t in block.terms], axis=1)
    corr = np.repeat(np.eye(q)[None], S, axis=0)
    if block.correlated:
        for c in range(q):
            for c2 in range(c + 1, q):
                r = _pooled(fit, f"{block.terms[c]}~{block.terms[c2]}_corr", draws)
                corr[:, c, c2] = corr[:, c2, c] = r
    # Sigma = D R D with D = diag(sds): chol(Sigma) = D chol(R), whatever the sds' scale
    return sds[:, :, None] * np.linalg.cholesky(corr + 1e-12 * np.eye(q))


def draw_chunks(fit, rows, terms, draws=None, rng=None, chunk=None):
    """Yield ``(s, eta, params)`` for consecutive chunks of the posterior draws.

    ``s``: the slice of ``draws`` (positions into the pooled draws) of this chunk;
    ``eta`` (len(s), rows.n): the linear predictor with the offset and the group terms
    ``terms`` ({block: columns}); ``params``: the family's parameters at these draws,
    each (len(s), 1). ``rng`` draws the effects of new levels (needed only when rows
    have levels not seen in fitting)."""
    family = fit.family_object()
    draws = draw_indices(fit) if draws is None else np.asarray(draws)
    S = len(draws)
    n = rows.n
    step = chunk or max(1, CHUNK_ELEMENTS // max(n, 1))
    beta = np.stack([_pooled(fit, name, draws) for name in fit.fixed_names], axis=1) \
        if fit.fixed_names else np.zeros((S, 0))
    params = family.parameter_draws(lambda name: _pooled(fit, name, draws))
    effects = {}
    for k, cols in terms.items():
        if not cols:
            continue
        if rows.level[k] is None:
            raise ValueError(f"the rows lack the groups of {fit.blocks[k].factor!r}")
        if rows.n_new[k] and rng is None:
            raise ValueError("rows with new levels need a random generator")
        u = _block_draws(fit, fit.blocks[k], draws)
        info = rows.structured_new[k] if len(rows.structured_new) > k else None
        if rows.n_new[k] and info is not None:    # new times or areas: fastgibbs.forecast
            from .forecast import new_effects
            fresh = new_effects(fit, k, info, u[:, :, 0], draws, rng)
            effects[k] = (np.concatenate([u, fresh[:, :, None]], axis=1), None)
            continue
        effects[k] = (u, _block_cholesky(fit, fit.blocks[k], draws) if rows.n_new[k] else None)
    X = np.ascontiguousarray(rows.X.T)                   # (p, n)
    for start in range(0, S, step):
        s = slice(start, min(start + step, S))
        eta = beta[s] @ X
        eta += rows.offset
        for k, (u, chol) in effects.items():
            u = u[s]
            if chol is not None:                          # fresh levels, one draw each
                z = rng.standard_normal((u.shape[0], rows.n_new[k], u.shape[2]))
                u = np.concatenate([u, np.einsum("sab,snb->sna", chol[s], z)], axis=1)
            level, Z = rows.level[k], rows.Z[k]
            for c in terms[k]:
                eta += u[:, level, c] * Z[:, c]
        yield s, eta, {name: v[s, None] for name, v in params.items()}
