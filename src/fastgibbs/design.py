"""Model design: a formula evaluated on a DataFrame, with every validation in one place.

Notation (used throughout fastgibbs):
    n_obs observations i, n_fixed fixed effects m, blocks k, n_groups J_k groups j in
    block k, n_re q_k varying coefficients c per group.

    y (n_obs,)              response
    X (n_obs, n_fixed)      fixed-effect design, Fortran order
    Z_k (n_obs, q_k)        varying-coefficient columns of block k
    group_k (n_obs,)        group index of each observation in block k, 0..J_k-1

Blocks follow lme4's bars: each group term ``(lhs | factor)`` with two or more columns
is its own block with a full covariance matrix; the one-column bars of a factor
(``(1 | g) + (0 + x | g)``, or ``(x || g)``, which lme4 expands into those) share one
block of independent variances. A factor may thus have several blocks, e.g.
``(age | Subject) + (0 + nsex | Subject)``; the parameter labels (``"age|Subject"``)
stay unique because a column may vary by a factor only once.

Everything that can be wrong with the input is caught here, before sampling, with a
ValueError or TypeError that names the column or argument.
"""
from dataclasses import dataclass, field
import re
import warnings

import numpy as np
import pandas as pd

from .columns import column_kind, format_level
from .formula import FormulaError, _split_top, parse_formula, tokenize
from .plain_design import plain_columns, plain_fixed

__all__ = ["Block", "Design", "build_design"]

# lme4's tolerance for aliased fixed-effect columns (lmerControl: check.rankX, tol 1e-7)
RANK_TOLERANCE = 1e-7
RANK_DEFICIENT = ("drop", "error")
# probit families draw one latent variable per unit of weight and sweep: warn beyond
LATENT_DRAWS_WARN = 1e7


class TermNames:
    """Parameter labels of a grouping factor's varying coefficients, shared by
    :class:`Block` and the fit's :class:`fastgibbs.lme4.BlockInfo`; needs ``factor``,
    ``columns`` and ``correlated``."""

    @property
    def terms(self):
        return tuple(f"{col}|{self.factor}" for col in self.columns)

    @property
    def covariance_key(self):
        """Prior key of a correlated block's covariance, e.g. ``"1 + Days|Subject"``."""
        return " + ".join(self.columns) + "|" + self.factor

    @property
    def correlation_names(self):
        """Names of the correlations (c < c' in column order) of a correlated block."""
        if not self.correlated:
            return ()
        t = self.terms
        return tuple(f"{t[c]}~{t[c2]}_corr" for c in range(len(t)) for c2 in range(c + 1, len(t)))




@dataclass(frozen=True)
class Block(TermNames):
    """The varying coefficients of one covariance block of a grouping factor.

    ``columns`` names the q_k columns of ``Z`` (``"1"`` for the intercept); ``terms``
    the parameter labels (``"1|state"``); ``levels`` the J_k group labels (str).
    ``correlated``: one full covariance matrix (a bar with several columns,
    ``(1 + x | g)``) rather than independent variances (one-column bars). ``lhs``
    holds the left-hand side of each bar in the block, in column order.
    """

    factor: str
    variables: tuple
    lhs: tuple
    columns: tuple
    Z: np.ndarray
    group: np.ndarray
    levels: np.ndarray
    correlated: bool
    # {variable: (J,) the data's value of each level} (fastgibbs.gmrf orders time levels)
    level_values: dict = field(default=None, repr=False, compare=False)

    @property
    def n_groups(self):
        return len(self.levels)

    @property
    def n_re(self):
        return len(self.columns)


@dataclass(frozen=True)
class Design:
    """A formula evaluated on data: response ``y``, fixed design ``X`` with column
    names ``fixed_names``, and the group ``blocks``.

    ``dropped_fixed`` names the fixed-effect columns dropped as aliased with earlier
    columns (``rank_deficient="drop"``, as lme4); ``fixed_spec`` codes new data the
    same way (fixed and group columns; not saved with a fit)."""

    formula: str
    response: str
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple
    blocks: tuple
    n_dropped: int = 0
    fixed_spec: object = field(default=None, repr=False, compare=False)
    family: object = None            # a fastgibbs.families.Family
    trials: np.ndarray = None        # binomial trials per row (bernoulli: ones)
    offset: np.ndarray = None        # (n_obs,) added to the linear predictor (zeros if none)
    weights: np.ndarray = None       # (n_obs,) frequency weights, or None
    offset_terms: tuple = ()         # offset expressions (formula terms, offset= column)
    offset_array: bool = False       # an offset was given as an array (not re-evaluable)
    weights_column: str = None       # weights= given as this column (read again from newdata)
    weights_array: bool = False      # weights= given as an array (not re-evaluable)
    dropped_fixed: tuple = ()
    structures: dict = field(default_factory=dict)   # term -> fastgibbs.gmrf.Structure
    rows: np.ndarray = None          # (n_obs,) positions in the data of the rows kept

    @property
    def n_obs(self):
        return len(self.y)

    @property
    def n_fixed(self):
        return self.X.shape[1]


@dataclass(frozen=True)
class TermCoding:
    """How to code new rows: the fixed terms and, per block, each bar's terms (None
    for an intercept-only bar)."""

    fixed: object
    bars: tuple


def build_design(formula, data, na_action="raise", family="gaussian", offset=None,
                 weights=None, rank_deficient="drop", link=None, smoothed=()):
    """Evaluate ``formula`` on ``data`` (a pandas DataFrame) into a :class:`Design`.

    ``na_action="raise"`` (default) refuses missing values in any column the formula
    uses, naming the column and the count; ``"drop"`` drops those rows and records how
    many in ``Design.n_dropped``.

    The response is validated by the family (see fastgibbs.families). ``offset``
    (a column name or an array of n rows) is added to the formula's ``offset(...)``
    terms; ``weights`` (a column name or array) are frequency weights: a row counts
    as ``weights[i]`` identical rows.

    ``rank_deficient="drop"`` (default, as lme4) drops fixed-effect columns that are
    linearly dependent on earlier columns, with a warning naming them, and records
    them in ``Design.dropped_fixed``; ``"error"`` refuses such a design.

    lme4's ``cbind(successes, failures)`` and brms's ``successes | trials(n)`` are read
    as the binomial response ``p(successes, trials)``. ``link`` picks the family's link
    (None: its default; see :func:`fastgibbs.families.get_family`).
    """
    from .families import get_family

    family = get_family(family, link=link)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if na_action not in ("raise", "drop"):
        raise ValueError(f"na_action must be 'raise' or 'drop', got {na_action!r}")
    if rank_deficient not in RANK_DEFICIENT:
        raise ValueError(f"rank_deficient must be one of {RANK_DEFICIENT}, "
                         f"got {rank_deficient!r}")
    parsed = parse_formula(formula, columns=[c for c in data.columns if isinstance(c, str)])
    extra = [a for a in (offset, weights) if isinstance(a, str)]
    # the columns offset(...) terms read: checked for missing values (na_action) and
    # duplicate names with the formula's own
    extra += _offset_columns(parsed.offsets, data)
    data, n_dropped, kept = _checked_rows(parsed, data, na_action, extra)

    response, rhs = (part.strip() for part in parsed.fixed.split("~", 1))
    response_columns = _names_in(response, data)
    # a numeric response and a sum of numeric columns need no formulae (plain_design)
    fixed, X, fixed_names, terms = plain_fixed(response, rhs, data) \
        or _evaluate(response, rhs, data, response_columns)

    if fixed.response is None:
        raise FormulaError("the formula has no response")
    response_values = family.response(fixed.response, parsed.response, data)
    y, trials = response_values.y, response_values.trials
    offset_terms = tuple(parsed.offsets) + ((offset,) if isinstance(offset, str) else ())
    offset_values = _offsets(offset_terms, None if isinstance(offset, str) else offset,
                             data, kept)
    if family.name != "gaussian":        # a gaussian offset is subtracted from y, scaled
        family.check_offset(offset_values)
    weight_values = _weights(weights, data, kept)
    if family.integer_weights and weight_values is not None \
            and np.any(weight_values != np.round(weight_values)):
        raise ValueError(f"weights must be whole numbers for the {family.name} family "
                         f"({family.link} link): each observation has its own latent variable, "
                         "and a weight counts identical observations")
    if weight_values is not None:
        warn_latent_draws(family, float(weight_values.sum()), stacklevel=4)
    dropped = ()
    if X.shape[1]:
        _check_finite(X, fixed_names)
        keep = _independent_columns(X, fixed_names, rank_deficient)
        if len(keep) < X.shape[1]:
            dropped = tuple(n for c, n in enumerate(fixed_names) if c not in set(keep))
            warnings.warn(f"fixed-effect model matrix is rank deficient: dropping "
                          f"{len(dropped)} column(s) aliased with earlier ones, {list(dropped)} "
                          "(as lme4 does; rank_deficient='error' refuses instead)",
                          stacklevel=2)
            X = np.asfortranarray(X[:, keep])
            terms = terms.keep_only(keep)
            fixed_names = terms.names

    if not family.has_intercept:         # cumulative: the thresholds take its place
        X, terms, fixed_names = _without_intercept(X, terms, fixed_names, family)

    blocks, bar_terms = _blocks(parsed, data, family, smoothed)
    if (trials is not None and np.all(trials == 1)) or not family.has_intercept:
        for block in blocks:
            if block.n_groups == len(y):
                raise ValueError(
                    f"grouping factor {block.factor!r} has one observation per level, and a "
                    f"{'binary (0/1)' if family.has_intercept else 'single ordinal'} "
                    "response carries no information on such a variance: "
                    "binary data cannot be overdispersed, so it would rest on its prior "
                    "alone; drop the term (with binomial counts of 2 or more trials per row "
                    "an observation-level effect is fine)")
    return Design(formula=formula, response=parsed.response, y=y, X=X,
                  fixed_names=fixed_names, blocks=blocks, n_dropped=n_dropped,
                  fixed_spec=TermCoding(fixed=terms, bars=bar_terms), family=family,
                  trials=trials, dropped_fixed=dropped, offset=offset_values,
                  weights=weight_values, offset_terms=offset_terms,
                  offset_array=offset is not None and not isinstance(offset, str),
                  weights_column=weights if isinstance(weights, str) else None,
                  weights_array=weights is not None and not isinstance(weights, str),
                  rows=np.flatnonzero(kept))


def warn_latent_draws(family, total, stacklevel=2):
    """Warn when a probit family's weights sum to ``total`` beyond LATENT_DRAWS_WARN:
    its sampler draws one truncated normal per unit of weight and sweep."""
    if family.link == "probit" and total > LATENT_DRAWS_WARN:
        warnings.warn(f"the {family.name} probit sampler draws one truncated normal per unit "
                      f"of weight and sweep: these weights sum to {total:.3g}, about "
                      f"{total * 4e-8:.2g} s per sweep on one core (~40 ns each); "
                      "progress=True shows the rate", RuntimeWarning, stacklevel=stacklevel)


def _without_intercept(X, terms, names, family):
    """(X, terms, names) without the intercept column, for families whose thresholds
    take its place (cumulative); refuses fixed effects that still add up to a constant
    (every level of a factor coded, as ``0 + f`` gives), which the thresholds alias."""
    if "Intercept" in names:
        keep = [c for c, n in enumerate(names) if n != "Intercept"]
        X = np.asfortranarray(X[:, keep])
        terms = terms.keep_only(keep)
        names = terms.names
    if X.shape[1]:
        ones = np.ones(X.shape[0])
        coef = np.linalg.lstsq(X, ones, rcond=None)[0]
        if np.linalg.norm(X @ coef - ones) < 1e-7 * np.sqrt(X.shape[0]):
            raise ValueError(f"the fixed effects {list(names)} add up to a constant, which the "
                             f"{family.name} family's thresholds already are (they take the "
                             "intercept's place): keep the formula's intercept (do not write "
                             "0 + or - 1) so that factors are coded against a reference level")
    return X, terms, names


def aligned_series(series, labels, refusal):
    """``series`` in the order of the row ``labels``, as pandas aligns: its index must
    hold exactly those labels (in any order), else ValueError(``refusal``)."""
    if series.index.equals(labels):
        return series
    if len(series) != len(labels) or series.index.has_duplicates \
            or labels.has_duplicates or not series.index.isin(labels).all():
        raise ValueError(refusal)
    return series.reindex(labels)


def _column_or_array(value, what, data, kept):
    """(n,) float array from a column name or an array of the data's original rows."""
    if isinstance(value, str):
        if value not in data.columns:
            raise ValueError(f"{what} column {value!r} is not in data")
        column = data[value]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise TypeError(f"{what} column {value!r} must be numeric, got {column.dtype}")
        return column.to_numpy(dtype=float)
    if isinstance(value, (pd.DataFrame, dict)) or np.ndim(value) != 1:
        raise TypeError(f"{what} must be a column name or a 1-d array of the data's rows")
    if isinstance(value, pd.Series):
        value = aligned_series(value, data.index,
                               f"{what} is a Series whose index is not the data's rows; align "
                               f"it (e.g. data['{what}'] = ...) or pass .to_numpy() to take "
                               "its values in the data's row order")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")
    if len(arr) != len(kept):
        raise ValueError(f"{what} has {len(arr)} values for {len(kept)} rows of data")
    return arr[kept].astype(float)


def evaluate_offsets(terms, data):
    """Sum (n,) of offset expressions evaluated on ``data``."""
    total = np.zeros(len(data))
    for expr in terms:
        # arithmetic, as R computes it: offset(log(a) + log(b)) is one column, the sum
        # (formulae would read the operators as terms, a/b as nesting)
        tokens = tokenize(expr)
        arithmetic = any(_split_top(tokens, op) for op in ("+", "-", "*", "/", "**"))
        # a True/False column is 0/1 in an offset, as in R (a predictor b is a factor)
        logical = len(tokens) == 1 and tokens[0].kind == "name" \
            and tokens[0].name in data.columns and _is_bool(data[tokens[0].name])
        term = f"I({expr})" if arithmetic or logical else expr
        dm, values, names, _ = _evaluate("fastgibbs_lhs_response", f"0 + {term}",
                                    data.assign(fastgibbs_lhs_response=0.0), keep=(),
                                    checks=False)
        if values.shape[1] != 1:
            raise FormulaError(f"offset({expr}) must be one numeric column")
        # a text column of one value is one indicator column of 1s: not an offset
        kinds = [getattr(v, "kind", None) for term in dm.common.terms.values()
                 for v in (term.components if term.kind == "interaction" else (term,))]
        if "categoric" in kinds:
            raise TypeError(f"the offset {expr!r} must be numeric, but it holds categories "
                            f"(formulae codes it as {list(names)}); convert the column to "
                            "numbers, e.g. pd.to_numeric")
        # an offset is re-evaluated on new data with no fitted state to put back
        from .fixed_design import walk_calls
        stateful = [call.callee.replace("fastgibbs_scale", "scale")
                    for call in walk_calls(dm.common) if call.stateful_transform is not None]
        if stateful:
            raise FormulaError(f"offset({expr}) uses {stateful[0]}(), which depends on the "
                               "rows it is evaluated on (predict would use newdata's own "
                               "state); compute the offset as a column first")
        total += values[:, 0]
    return total


def _offset_columns(terms, data):
    """The columns of ``data`` that the offset expressions ``terms`` read, sorted."""
    return sorted({name for expr in terms for name in _names_in(expr, data)})


def _is_bool(column):
    try:
        return column_kind(column, column.name) == "bool"
    except TypeError:
        return False


def _offsets(terms, offset, data, kept):
    """Sum of the offset terms and an ``offset=`` array (n,), checked finite."""
    total = evaluate_offsets(terms, data)
    if offset is not None:
        total += _column_or_array(offset, "offset", data, kept)
    bad = ~np.isfinite(total)
    if bad.any():
        raise ValueError(f"the offset has {int(bad.sum())} non-finite value(s) (check "
                         "offset(...) terms and offset=; log of 0 gives -inf)")
    return total


def _weights(weights, data, kept):
    if weights is None:
        return None
    w = _column_or_array(weights, "weights", data, kept)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValueError(f"weights have {int(bad.sum())} negative or non-finite value(s); "
                         "frequency weights must be finite and >= 0")
    if not np.any(w > 0):
        raise ValueError("every weight is 0")
    return w


def _names_in(text, data):
    return {t.name for t in tokenize(text) if t.kind == "name" and t.name in data.columns}


def _evaluate(response, rhs, data, keep, checks=True):
    """formulae's matrices of ``response ~ rhs`` coded as R: (dm, X, names, FixedTerms);
    errors name the column or the function."""
    from .coding import evaluate_terms  # formulae: slow to import, loaded on first use

    try:
        return evaluate_terms(response, rhs, data, keep=keep, checks=checks)
    except (FormulaError, TypeError):
        raise
    except KeyError as err:
        name = err.args[0] if err.args else ""
        if isinstance(name, str) and name and re.search(
                rf"\bC\([^()]*,\s*{re.escape(name)}\s*[(),]", rhs):
            raise FormulaError(f"unknown contrast {name!r} in C(...) of {rhs!r}: the "
                               "contrasts are Treatment, Sum and Poly (R's contr.treatment, "
                               "contr.sum, contr.poly)") from None
        raise ValueError(f"column {name!r} used in the formula is not in data") from None
    except Exception as err:
        # a right-hand side alone (new data, group terms, offsets) has a placeholder response
        shown = rhs if response == "fastgibbs_lhs_response" else f"{response} ~ {rhs}"
        raise FormulaError(f"cannot evaluate {shown} on data: {err}") from None


def _checked_rows(parsed, data, na_action, extra=()):
    """Check the columns the formula uses exist and are complete; maybe drop rows.

    Returns (data, n_dropped, kept) with ``kept`` the boolean mask of the original
    rows kept."""
    used = [name for name in sorted(set(parsed.variables) | set(extra)) if name in data.columns]
    duplicated = [] if data.columns.is_unique else \
        sorted({name for name in used if (data.columns == name).sum() > 1})
    if duplicated:
        raise ValueError(f"data has several columns named {duplicated[0]!r}; rename them so "
                         "each name is unique")
    for group in parsed.groups:
        for name in group.variables:
            if name not in data.columns:
                raise ValueError(f"grouping column {name!r} is not in data")
    if parsed.response.isidentifier() and parsed.response not in data.columns:
        raise ValueError(f"response column {parsed.response!r} is not in data")
    if len(data) == 0:
        raise ValueError("data has no rows")
    missing = data[used].isna()
    counts = missing.sum()
    if counts.any():
        if na_action == "raise":
            bad = ", ".join(f"{name!r} ({int(n)} missing)" for name, n in counts.items() if n)
            raise ValueError(f"missing values in column(s) {bad}; clean them or pass "
                             "na_action='drop' to drop those rows")
        keep = ~missing.any(axis=1).to_numpy()
        n_dropped = int((~keep).sum())
        data = data.loc[keep]
        if len(data) == 0:
            raise ValueError("no rows left after dropping rows with missing values")
        return data, n_dropped, keep
    return data, 0, np.ones(len(data), dtype=bool)


def _check_finite(values, names):
    bad = ~np.isfinite(values)
    if bad.any():
        for c in np.flatnonzero(bad.any(axis=0)):
            raise ValueError(f"column {names[c]!r} has {int(bad[:, c].sum())} non-finite "
                             "value(s) (inf or nan)")


def _independent_columns(X, names, rank_deficient):
    """Indices of the columns of X kept, in order: a column is aliased when it lies in
    the span of the columns before it (relative residual <= RANK_TOLERANCE), the rule
    of R's QR with limited pivoting (dqrdc2) that lme4 applies; the residual norms are
    |R_jj| of a QR decomposition. Each column is divided by its largest magnitude
    first, which leaves every span and relative residual unchanged but keeps the Gram
    matrix of columns of 1e155 from overflowing (and of 1e-170 from underflowing to
    0). With an all-ones column the others are then centred, which keeps a column far
    from 0 (x + 1e8) from looking aliased with the intercept."""
    n, p = X.shape
    ones = [c for c in range(p) if np.all(X[:, c] == 1.0)]
    top = np.max(np.abs(X), axis=0) if n else np.zeros(p)
    top[top == 0] = 1.0
    V = X / top
    if ones:
        V -= V.mean(axis=0)
        V[:, ones[0]] = 1.0
    gram = V.T @ V
    norms = np.sqrt(np.diag(gram))      # as np.linalg.norm(V, axis=0), without a pass
    keep = kept_columns(lambda cols: _residual_norms(V, gram, cols, norms), norms, n)
    aliased = [c for c in range(p) if c not in set(keep)]
    if aliased and rank_deficient == "error":
        if n < p:
            raise ValueError(f"{p} fixed effects but only {n} observations")
        c = aliased[0]
        if not np.any(X[:, c]):
            raise ValueError(f"fixed-effect column(s) {[names[a] for a in aliased if not np.any(X[:, a])]} "
                             "are all zero")
        U = X / top                     # as V, uncentred
        coef = np.linalg.lstsq(U[:, keep], U[:, c], rcond=None)[0]
        scale = np.abs(coef) * np.linalg.norm(U[:, keep], axis=0)
        involved = [names[k] for k, s in zip(keep, scale) if s > 1e-6 * scale.max()]
        raise ValueError(f"fixed effects are collinear: columns {involved + [names[c]]} are "
                         "linearly dependent; drop one of them (or pass "
                         "rank_deficient='drop' to drop aliased columns as lme4 does)")
    return keep


def _residual_norms(V, gram, cols, norms):
    """|R_jj| of a QR decomposition of V[:, cols]: the distance of each column from the
    span of the columns before it. First from the Cholesky factor of the Gram matrix
    ``gram`` (V'V; p^2 numbers instead of a pass over the n x p matrix): its error is
    about sqrt(machine epsilon) of a column's norm, so where every distance it gives
    exceeds 1e-3 of the norm the rank rule (1e-7) is decided; otherwise (nearly
    aliased columns) by the QR decomposition itself."""
    try:
        r = np.abs(np.diag(np.linalg.cholesky(gram[np.ix_(cols, cols)])))
    except np.linalg.LinAlgError:
        r = None
    if r is not None and np.all(r > 1e-3 * norms[cols]):
        return r
    return np.abs(np.diag(np.linalg.qr(V[:, cols], mode="r")))


def kept_columns(residuals, norms, n):
    """The columns kept by the rank rule of _independent_columns, from ``residuals``:
    a function giving |R_jj| of an (implicit) QR decomposition of the columns ``cols``
    (a list), ``norms`` (p,) of the columns and ``n`` the number of rows."""
    keep = [c for c in range(len(norms)) if norms[c] > 0]
    while keep:
        # |R_jj| is column j's residual on the columns before it as long as those are
        # independent: drop the first aliased column and decompose again
        residual = residuals(keep)
        flagged = np.flatnonzero(residual <= RANK_TOLERANCE * norms[keep[:len(residual)]])
        if flagged.size:
            del keep[int(flagged[0])]
        elif len(keep) > n:
            del keep[n]
        else:
            break
    return keep


def _blocks(parsed, data, family, smoothed=()):
    """The covariance blocks (see the module docstring) and, per block, each bar's
    coded terms for new data."""
    bars = []
    for term in parsed.groups:
        cols, Z, terms = _group_columns(term.lhs, data)
        bars.append((term, cols, Z, terms))
    order, members = block_members(bars)
    blocks, coding = [], []
    for key in order:
        variables, factor = key[0], key[2]
        group, levels = _group_index(data, variables)
        if len(levels) < 2:
            raise ValueError(f"grouping factor {factor!r} has a single level; it cannot vary")
        # a structured prior (``smoothed``: its terms) ties the effects together, so
        # one observation per level is the usual time series or areal model
        if len(levels) == len(group) and "sigma" in family.dispersion \
                and f"1|{factor}" not in smoothed:
            raise ValueError(
                f"grouping factor {factor!r} has one observation per level: in a "
                f"{family.name} model its variance cannot be told apart from the residual "
                "scale sigma "
                "(lme4 refuses this too: 'number of levels of each grouping factor must be "
                "< number of observations'); drop the term, or use it with a family "
                "without sigma (an observation-level effect models overdispersion there)")
        chosen = [bars[i] for i in members[key]]
        first = np.empty(len(levels), dtype=np.intp)       # a row of each level
        first[group[::-1]] = np.arange(len(group) - 1, -1, -1)
        blocks.append(Block(
            factor=factor, variables=variables, lhs=tuple(b[0].lhs for b in chosen),
            columns=tuple(c for b in chosen for c in b[1]),
            Z=np.ascontiguousarray(np.column_stack([b[2] for b in chosen])),
            group=group, levels=levels, correlated=key[1] != "diagonal",
            level_values={name: data[name].to_numpy()[first] for name in variables}))
        coding.append(tuple(b[3] for b in chosen))
    return tuple(blocks), tuple(coding)


def block_members(bars):
    """Which bars form each covariance block (see the module docstring): (keys in order,
    {key: bar indices}) for ``bars``, a list of (GroupTerm, column names, ...). A
    column that varies by a factor twice is refused."""
    seen, spelled = {}, {}
    for term, cols, *_ in bars:
        # g and factor(g) group the rows alike: one factor, whichever way it is written
        first = spelled.setdefault(term.variables, term)
        if first.factor != term.factor:
            raise FormulaError(
                f"{first.source} and {term.source} group by the same column(s) "
                f"{list(term.variables)} written two ways ({first.factor!r}, "
                f"{term.factor!r}); write the grouping factor the same way in every term")
        for col in cols:
            label = f"{col}|{term.factor}"
            if label in seen:
                raise FormulaError(
                    f"'{col}' varies by {term.factor!r} twice, in {seen[label]} and "
                    f"{term.source}: the two variances are not identifiable (lme4 fits them "
                    "anyway); keep one")
            seen[label] = term.source
    # one-column bars of a factor share one block of independent variances; a key is
    # (columns, "diagonal" or the bar's position, the factor's name)
    members, order = {}, []
    for index, (term, cols, *_) in enumerate(bars):
        kind = "diagonal" if len(cols) == 1 else index
        key = (term.variables, kind, term.factor)
        if key not in members:
            members[key] = []
            order.append(key)
        members[key].append(index)
    return order, members


def _group_columns(lhs, data, checks=True):
    """Evaluate a bar's left-hand side: column names (``"1"`` for the intercept), Z
    (n, q) and the coded terms for new data (None for an intercept)."""
    if lhs.replace(" ", "") in ("1", "1+1"):
        return ["1"], np.ones((len(data), 1)), None
    plain = plain_columns(lhs, data)
    if plain is not None:
        Z, names, terms = plain
    else:
        _, Z, names, terms = _evaluate("fastgibbs_lhs_response", lhs,
                                       data.assign(fastgibbs_lhs_response=0.0), keep=(),
                                       checks=checks)
    if Z.shape[1] == 0:
        raise FormulaError(f"group term left-hand side {lhs!r} has no columns")
    names = ["1" if c == "Intercept" else str(c) for c in names]
    _check_finite(Z, names)
    return names, np.ascontiguousarray(Z), terms


def _factor_codes(column, name):
    """Codes 0..J-1 of a column's values and their labels (as R prints them: integral
    floats without '.0'), sorted by value (a Categorical's category order). Raises
    ValueError when distinct values print the same (1 and '1')."""
    try:
        codes, uniques = pd.factorize(column, sort=True)
    except TypeError:           # mixed types do not sort; they are refused below
        codes, uniques = pd.factorize(column, sort=False)
    labels = np.array([format_level(u) for u in uniques], dtype=object)
    if len(set(labels)) < len(labels):
        shown = [u for u, dup in zip(uniques, pd.Series(labels).duplicated(keep=False)) if dup]
        raise ValueError(f"grouping column {name!r} holds distinct values that print the "
                         f"same, {shown!r}; make the column one type (e.g. "
                         f"df[{name!r}].astype(str)) so each group has its own label")
    return np.asarray(codes, dtype=np.intp), labels


def _group_index(data, variables):
    """Group index 0..J-1 per row and the level labels (str), sorted by the values as R
    orders factor levels; labels of combinations ``a:b`` joined by ':'. Raises
    ValueError when two groups would get the same label."""
    per = [_factor_codes(data[name], name) for name in variables]
    if len(per) == 1:
        return per[0]
    frame = pd.DataFrame({k: codes for k, (codes, _) in enumerate(per)})
    codes = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy().astype(np.intp)
    _, first = np.unique(codes, return_index=True)
    labels = np.array([":".join(str(labels[c]) for c, (_, labels) in zip(row, per))
                       for row in frame.to_numpy()[first]], dtype=object)
    if len(set(labels)) < len(labels):
        same = pd.Series(labels)[pd.Series(labels).duplicated()].iloc[0]
        raise ValueError(f"grouping factor {':'.join(variables)!r}: different combinations "
                         f"of {list(variables)} give the same label {same!r} because a value "
                         "contains ':'; replace ':' in those columns")
    return codes, labels


def _level_labels(data, variables):
    """Group label of each row of ``data`` (new data), formatted as in fitting."""
    codes, labels = _group_index(data, variables)
    return labels[codes]


def _new_fixed_design(fit, data):
    """X (n, p) of new rows: coded by the fit's TermCoding (in memory, or rebuilt from a
    saved record, fixed_design.py); a fit without either (a fit made by fg.study in
    another process, or a file saved from one) re-codes the formula on ``data`` alone,
    which is allowed only when nothing in it depends on the fitted data (no categorical
    predictor, no stateful transform)."""
    from .fixed_design import rebuild
    record = fit.fixed_design or {}
    coding = fit.fixed_spec if isinstance(fit.fixed_spec, TermCoding) else None
    fixed = getattr(coding, "fixed", None)
    if fixed is None and "unsupported" in record:
        raise ValueError(f"this fit cannot evaluate new data: {record['unsupported']}")
    if fixed is None and "rhs" in record:
        fixed = rebuild(record).fixed   # raises ValueError saying why it cannot
    try:
        if fixed is not None:
            return fixed.evaluate(data)
        parsed = parse_formula(fit.formula)
        rhs = parsed.fixed.split("~", 1)[1].strip()
        _, X, names, terms = _evaluate("fastgibbs_lhs_response", rhs,
                                       data.assign(fastgibbs_lhs_response=0.0), keep=(),
                                       checks=False)
        why = terms.unusable_without_record() if terms is not None else None
        if why:
            raise ValueError(f"this fit does not record its fixed-effect design (a fit "
                             f"made by fg.study in another process, or a file saved from "
                             f"one), and {why}: new data cannot be evaluated as in fitting; "
                             "predict with the fit made by fg.fit")
        if tuple(names) != tuple(fit.fixed_names):
            raise ValueError(f"newdata gives fixed-effect columns {list(names)}, "
                             f"the fit has {list(fit.fixed_names)}")
        return X
    except KeyError as err:
        raise ValueError(f"newdata lacks column {err.args[0]!r}") from None
    except FormulaError:
        raise
    except (TypeError, ValueError) as err:      # e.g. text where fitting had numbers
        raise ValueError(f"cannot evaluate the fixed effects on newdata: {err}") from None


def evaluate_new_data(fit, data, include_group=True, offset=None):
    """Design of new rows for a fitted model: X (n, p), per block (Z, labels) (no
    blocks, and no grouping column needed, when ``include_group`` is False), and the
    offset (n,): the fit's offset terms on ``data`` plus ``offset`` (an array or a
    column name), required when the fit's offset was an array. ``include_group`` may
    also be a set of block positions: then the list has one entry per block of the
    fit, None for the blocks left out (whose grouping columns are not needed).

    Group labels are formatted as in fitting; levels not seen in fitting are kept (the
    caller decides what they mean). Raises ValueError naming missing columns."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("newdata has no rows")
    if isinstance(include_group, (bool, np.bool_)):
        chosen = set(range(len(fit.blocks))) if include_group else set()
        blocks = fit.blocks if include_group else ()
    else:                           # block positions: one entry per block, None if left out
        chosen = set(include_group)
        blocks = fit.blocks
    needed = set()
    for k, block in enumerate(blocks):
        if k in chosen:
            needed.update(block.variables)
    missing = sorted(name for name in needed if name not in data.columns)
    if missing:
        raise ValueError(f"newdata lacks grouping column(s) {missing}")
    X = _new_fixed_design(fit, data) if fit.fixed_names else np.zeros((len(data), 0))
    _check_finite(X, fit.fixed_names)
    coding = fit.fixed_spec if isinstance(fit.fixed_spec, TermCoding) else None
    bars = coding.bars if coding is not None else ()
    if bars and len(bars) != len(fit.blocks):
        raise ValueError("this fit's coding of its group terms does not match its blocks")
    groups = []
    for k, block in enumerate(blocks):
        if k not in chosen:
            groups.append(None)
            continue
        lhs = (block.lhs,) if isinstance(block.lhs, str) else tuple(block.lhs)
        parts, cols = [], []
        for b, text in enumerate(lhs):
            terms = bars[k][b] if bars else None
            if isinstance(terms, str):          # a saved fit whose bar was not saved
                raise ValueError(f"this fit cannot evaluate new data: {terms}")
            try:
                if terms is not None:
                    parts.append(terms.evaluate(data))
                    cols += ["1" if c == "Intercept" else c for c in terms.names]
                else:
                    names, Z, bar_terms = _group_columns(text, data, checks=False)
                    why = None if bars or bar_terms is None \
                        else bar_terms.unusable_without_record()
                    if why:
                        raise ValueError(
                            f"this fit does not record how its group term ({text} | "
                            f"{block.factor}) codes its columns (a fit read by fg.load from "
                            f"an older file, or made by fg.study in another process), and "
                            f"{why}: new data cannot be evaluated as in fitting; predict "
                            "with the fit made by fg.fit, or save it again")
                    parts.append(Z)
                    cols += names
            except KeyError as err:     # a column only the group term reads
                raise ValueError(f"newdata lacks column {err.args[0]!r}, which the group "
                                 f"term ({text} | {block.factor}) needs") from None
        if tuple(cols) != tuple(block.columns):
            raise ValueError(f"newdata gives columns {cols} for {block.factor!r}, "
                             f"the fit has {list(block.columns)}")
        Z = np.column_stack(parts)
        if data[list(block.variables)].isna().any().any():
            raise ValueError(f"newdata has missing values in grouping column(s) "
                             f"{list(block.variables)}")
        groups.append((Z, list(_level_labels(data, block.variables))))
    terms = tuple(getattr(fit, "offset_terms", ()) or ())
    # as in fitting, a missing value is named by its column (formulae: "'data' contains
    # 1 incomplete rows", showing the offset as rewritten)
    used = _offset_columns(terms, data)
    if used and data[used].isna().any().any():
        raise ValueError(f"newdata has missing values in the offset column(s) "
                         f"{[c for c in used if data[c].isna().any()]}; predictions need "
                         "every value the formula reads")
    off = evaluate_offsets(terms, data) if terms else np.zeros(len(data))
    if offset is not None:
        off = off + _column_or_array(offset, "offset", data, np.ones(len(data), dtype=bool))
    elif getattr(fit, "offset_array", False):
        raise ValueError("this model was fitted with an offset array: pass offset= (one "
                         "value per row of newdata) to predict")
    if not np.all(np.isfinite(off)):
        raise ValueError("the offset of newdata has non-finite values")
    return X, groups, off


def evaluate_new_response(fit, data):
    """The response of new rows, as the fit's family reads it: (y (n,), trials (n,) or
    None), evaluated on ``data`` with the fit's formula (its left-hand side only, so
    grouping columns and predictors are not needed). Raises ValueError naming what is
    missing or invalid."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, got {type(data).__name__}")
    # newdata's columns only expand a '.' on the right-hand side, which is not read here
    parsed = parse_formula(fit.formula,
                           columns=[c for c in data.columns if isinstance(c, str)])
    response = parsed.fixed.split("~", 1)[0].strip()
    used = sorted(_names_in(response, data))
    if data[used].isna().any().any():
        raise ValueError(f"newdata has missing values in the response column(s) {used}")
    try:
        fixed, _, _, _ = plain_fixed(response, "1", data) \
            or _evaluate(response, "1", data, set(used), checks=False)
    except (ValueError, FormulaError) as err:
        raise ValueError(f"newdata lacks what the response {parsed.response!r} needs: "
                         f"{err}") from None
    with warnings.catch_warnings():      # "one outcome only" is no news in a few rows
        warnings.simplefilter("ignore")
        values = fit.family_object().new_response(fixed.response, parsed.response, data)
    return values.y, values.trials
