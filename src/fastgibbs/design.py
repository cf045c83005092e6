"""Model design: a formula evaluated on a DataFrame, with every validation in one place.

Notation (used throughout fastgibbs):
    n_obs observations i, n_fixed fixed effects m, blocks k (one per grouping factor),
    n_groups J_k groups j in block k, n_re q_k varying coefficients c per group.

    y (n_obs,)              response
    X (n_obs, n_fixed)      fixed-effect design, Fortran order
    Z_k (n_obs, q_k)        varying-coefficient columns of block k
    group_k (n_obs,)        group index of each observation in block k, 0..J_k-1

Everything that can be wrong with the input is caught here, before sampling, with a
ValueError or TypeError that names the column or argument.
"""
from dataclasses import dataclass, field
import warnings

import numpy as np
import pandas as pd

from .formula import FormulaError, parse_formula

__all__ = ["Block", "Design", "build_design"]


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
    """The varying coefficients of one grouping factor.

    ``columns`` names the q_k columns of ``Z`` (``"1"`` for the intercept); ``terms``
    the parameter labels (``"1|state"``); ``levels`` the J_k group labels (str).
    ``correlated``: one full covariance matrix (``(1 + x | g)``) rather than
    independent variances (``(1 | g)``, ``(1 + x || g)``).
    """

    factor: str
    variables: tuple
    lhs: str
    columns: tuple
    Z: np.ndarray
    group: np.ndarray
    levels: np.ndarray
    correlated: bool

    @property
    def n_groups(self):
        return len(self.levels)

    @property
    def n_re(self):
        return len(self.columns)


@dataclass(frozen=True)
class Design:
    """A formula evaluated on data: response ``y``, fixed design ``X`` with column
    names ``fixed_names``, and the group ``blocks``."""

    formula: str
    response: str
    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple
    blocks: tuple
    n_dropped: int = 0
    fixed_spec: object = field(default=None, repr=False, compare=False)
    family: str = "gaussian"
    trials: np.ndarray = None        # binomial trials per row (bernoulli: ones)

    @property
    def n_obs(self):
        return len(self.y)

    @property
    def n_fixed(self):
        return self.X.shape[1]


FAMILIES = ("gaussian", "bernoulli", "binomial")


def build_design(formula, data, na_action="raise", family="gaussian"):
    """Evaluate ``formula`` on ``data`` (a pandas DataFrame) into a :class:`Design`.

    ``na_action="raise"`` (default) refuses missing values in any column the formula
    uses, naming the column and the count; ``"drop"`` drops those rows and records how
    many in ``Design.n_dropped``.

    Responses by family: gaussian, a numeric column; bernoulli, 0/1 numbers, booleans
    or a two-level categorical column whose second (sorted) level is the event, as in
    R's glm (write ``use[N]`` to choose another); binomial, ``p(successes, trials)``.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if na_action not in ("raise", "drop"):
        raise ValueError(f"na_action must be 'raise' or 'drop', got {na_action!r}")
    parsed = parse_formula(formula)
    data, n_dropped = _checked_rows(parsed, data, na_action)

    from formulae import design_matrices  # slow to import: loaded on first use

    try:
        fixed = design_matrices(parsed.fixed, data, na_action="error")
    except FormulaError:
        raise
    except KeyError as err:
        raise ValueError(f"column {err.args[0]!r} used in the formula is not in data") from None
    except Exception as err:
        raise FormulaError(f"cannot evaluate formula {formula!r} on data: {err}") from None

    y, trials = _response(fixed, parsed.response, family, data)
    if fixed.common is None:
        X = np.zeros((len(y), 0), order="F")
        fixed_names = ()
    else:
        frame = fixed.common.as_dataframe()
        X = np.asfortranarray(frame.to_numpy(dtype=float))
        fixed_names = tuple(str(c) for c in frame.columns)
        _check_finite(X, fixed_names)
        _check_collinear(X, fixed_names)

    blocks = _blocks(parsed, data)
    return Design(formula=formula, response=parsed.response, y=y, X=X,
                  fixed_names=fixed_names, blocks=blocks, n_dropped=n_dropped,
                  fixed_spec=fixed.common, family=family, trials=trials)


def _checked_rows(parsed, data, na_action):
    """Check the columns the formula uses exist and are complete; maybe drop rows."""
    used = [name for name in sorted(parsed.variables) if name in data.columns]
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
        return data, n_dropped
    return data, 0


def _response(fixed, name, family, data):
    """(y, trials): trials is None for gaussian, ones for bernoulli."""
    response = fixed.response
    if response is None:
        raise FormulaError("the formula has no response")
    kind = getattr(response, "kind", "numeric")
    values = np.asarray(response.design_matrix)
    if family == "gaussian":
        if kind != "numeric":
            raise TypeError(f"response {name!r} must be numeric for a gaussian model, "
                            f"got a {kind} column")
        y = values.astype(float).reshape(-1)
        _check_finite(y[:, None], (name,))
        return y, None
    if family == "bernoulli":
        if kind == "categoric":
            if values.ndim == 2 and values.shape[1] != 2:
                raise ValueError(f"bernoulli response {name!r} must have two levels, "
                                 f"got {values.shape[1]}: {list(response.levels)}")
            y = (values[:, -1] if values.ndim == 2 else values).astype(float).reshape(-1)
        elif kind == "numeric":
            y = values.astype(float).reshape(-1)
            _check_finite(y[:, None], (name,))
            if not np.isin(y, (0.0, 1.0)).all():
                bad = y[~np.isin(y, (0.0, 1.0))][0]
                raise ValueError(f"bernoulli response {name!r} must be 0/1, found {bad!r}")
        else:
            raise TypeError(f"bernoulli response {name!r} must be 0/1, boolean or a "
                            f"two-level categorical column, got {kind}")
        trials = np.ones_like(y)
    else:
        if kind != "proportion":
            raise TypeError(f"binomial response {name!r} must be written p(successes, trials)")
        y, trials = values[:, 0].astype(float), values[:, 1].astype(float)
        _check_finite(np.column_stack([y, trials]), (f"{name} successes", f"{name} trials"))
        if np.any(trials < 1) or np.any(trials != np.round(trials)):
            raise ValueError(f"binomial trials in {name!r} must be positive integers")
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(f"binomial successes in {name!r} must be non-negative integers")
        if np.any(y > trials):
            raise ValueError(f"binomial successes exceed trials in {name!r} "
                             f"({int(np.sum(y > trials))} rows)")
    if np.all(y == 0) or np.all(y == trials):
        warnings.warn(f"response {name!r} has one outcome only; the fit rests on the priors",
                      stacklevel=4)
    return y, trials


def _check_finite(values, names):
    bad = ~np.isfinite(values)
    if bad.any():
        for c in np.flatnonzero(bad.any(axis=0)):
            raise ValueError(f"column {names[c]!r} has {int(bad[:, c].sum())} non-finite "
                             "value(s) (inf or nan)")


def _check_collinear(X, names):
    """Raise if X'X is (numerically) singular, naming the columns involved."""
    if X.shape[1] == 0:
        return
    if X.shape[0] < X.shape[1]:
        raise ValueError(f"{X.shape[1]} fixed effects but only {X.shape[0]} observations")
    scale = np.sqrt((X * X).sum(axis=0))
    if np.any(scale == 0):
        zero = [names[c] for c in np.flatnonzero(scale == 0)]
        raise ValueError(f"fixed-effect column(s) {zero} are all zero")
    Xs = X / scale
    _, sv, vt = np.linalg.svd(Xs, full_matrices=False)
    if sv[-1] < 1e-8 * sv[0]:
        null = vt[-1]
        involved = [names[c] for c in np.flatnonzero(np.abs(null) > 1e-3)]
        raise ValueError(f"fixed effects are collinear: columns {involved} are linearly "
                         "dependent; drop one of them")


def _blocks(parsed, data):
    """One Block per grouping factor; bars sharing a factor are merged."""
    by_factor = {}
    for term in parsed.groups:
        cols, Z = _group_columns(term.lhs, data)
        entry = by_factor.setdefault(term.variables, {"cols": [], "Z": [], "correlated": [],
                                                      "lhs": []})
        entry["lhs"].append(term.lhs)
        for name in cols:
            if name in entry["cols"]:
                raise FormulaError(f"term '{name}|{term.factor}' appears twice in the formula")
        entry["cols"].extend(cols)
        entry["Z"].append(Z)
        entry["correlated"].append(term.correlated and len(cols) > 1)
    blocks = []
    for variables, entry in by_factor.items():
        factor = ":".join(variables)
        correlated = any(entry["correlated"])
        if correlated and len(entry["Z"]) > 1:
            raise NotImplementedError(
                f"a correlated term for {factor!r} cannot be combined with another term for "
                f"the same factor; put all its columns in one (... | {factor})")
        group, levels = _group_index(data, variables)
        if len(levels) < 2:
            raise ValueError(f"grouping factor {factor!r} has a single level; it cannot vary")
        if len(levels) == len(group):
            warnings.warn(f"grouping factor {factor!r} has one observation per level: its "
                          "variance is not identifiable against sigma without strong priors",
                          stacklevel=3)
        Z = np.ascontiguousarray(np.column_stack(entry["Z"]))
        blocks.append(Block(factor=factor, variables=variables, lhs=" + ".join(entry["lhs"]),
                            columns=tuple(entry["cols"]), Z=Z, group=group, levels=levels,
                            correlated=correlated))
    return tuple(blocks)


def _group_columns(lhs, data):
    """Evaluate a bar's left-hand side: column names (``"1"`` for the intercept), Z."""
    if lhs.replace(" ", "") in ("1", "1+1"):
        return ["1"], np.ones((len(data), 1))
    from formulae import design_matrices

    try:
        dm = design_matrices(f"fastgibbs_lhs_response ~ {lhs}",
                             data.assign(fastgibbs_lhs_response=0.0), na_action="error")
    except KeyError as err:
        raise ValueError(f"column {err.args[0]!r} used in the formula is not in data") from None
    except Exception as err:
        raise FormulaError(f"cannot evaluate group term left-hand side {lhs!r}: {err}") from None
    if dm.common is None:
        raise FormulaError(f"group term left-hand side {lhs!r} has no columns")
    frame = dm.common.as_dataframe()
    names = ["1" if c == "Intercept" else str(c) for c in frame.columns]
    Z = frame.to_numpy(dtype=float)
    _check_finite(Z, names)
    return names, Z


def _group_index(data, variables):
    """Group index 0..J-1 per row and the sorted level labels (str)."""
    if len(variables) == 1:
        codes, uniques = pd.factorize(data[variables[0]], sort=True)
        labels = np.array([str(u) for u in uniques], dtype=object)
        return codes.astype(np.intp), labels
    codes = data.groupby(list(variables), sort=True, observed=True).ngroup()
    codes = codes.to_numpy().astype(np.intp)
    _, first = np.unique(codes, return_index=True)
    rows = data[list(variables)].iloc[first]
    labels = np.array([":".join(str(v) for v in row) for row in rows.itertuples(index=False)],
                      dtype=object)
    return codes, labels


def evaluate_new_data(fit, data):
    """Design of new rows for a fitted model: X (n, p) and, per block, (Z, labels).

    Group labels are strings as in fitting; levels not seen in fitting are kept (the
    caller decides what they mean). Raises ValueError naming missing columns."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, got {type(data).__name__}")
    needed = set()
    for block in fit.blocks:
        needed.update(block.variables)
    missing = sorted(name for name in needed if name not in data.columns)
    if missing:
        raise ValueError(f"newdata lacks grouping column(s) {missing}")
    if not fit.fixed_names:
        X = np.zeros((len(data), 0))
    else:
        try:
            if fit.fixed_spec is not None:
                X = np.asarray(fit.fixed_spec.evaluate_new_data(data).design_matrix, dtype=float)
            else:
                from formulae import design_matrices

                rhs = parse_formula(fit.formula).fixed.split("~", 1)[1]
                frame = design_matrices(f"fastgibbs_lhs_response ~ {rhs}",
                                        data.assign(fastgibbs_lhs_response=0.0),
                                        na_action="error").common.as_dataframe()
                if tuple(str(c) for c in frame.columns) != tuple(fit.fixed_names):
                    raise ValueError(f"newdata gives fixed-effect columns {list(frame.columns)}, "
                                     f"the fit has {list(fit.fixed_names)}")
                X = frame.to_numpy(dtype=float)
        except KeyError as err:
            raise ValueError(f"newdata lacks column {err.args[0]!r}") from None
    _check_finite(X, fit.fixed_names)
    groups = []
    for block in fit.blocks:
        cols, Z = _group_columns(block.lhs, data)
        if tuple(cols) != tuple(block.columns):
            raise ValueError(f"newdata gives columns {cols} for {block.factor!r}, "
                             f"the fit has {list(block.columns)}")
        if data[list(block.variables)].isna().any().any():
            raise ValueError(f"newdata has missing values in grouping column(s) "
                             f"{list(block.variables)}")
        labels = [":".join(str(v) for v in row)
                  for row in data[list(block.variables)].itertuples(index=False)]
        groups.append((Z, labels))
    return X, groups
