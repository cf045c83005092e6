"""A formula evaluated chunk by chunk exactly as on the whole data.

The terms are coded once, on a *prototype*: a few rows holding every level of every
categorical column (found by the first pass, fastgibbs.streaming.levels) in the
data's column types. Each chunk is then coded as new data (formulae's
``evaluate_new_data``, as ``predict`` codes new rows), so every chunk gets the same
columns, reference levels and contrasts as the whole data would. Plain numeric
columns (``x``, the intercept) are taken from the chunk directly, after checking on
the first chunk that this gives exactly formulae's columns.

Stateful transforms (``scale(x)``, ``poly``, ``ns``) would need the whole data's
statistics before coding: a model that uses them is refused, with advice.

:func:`plan` reads a formula against the data's schema: which columns are used, which
need levels, the grouping factors, how the response is read. :class:`ChunkCoder`
codes chunks: :meth:`ChunkCoder.code` gives the rows of one chunk (y, X, per block Z
and the group index, weights, trials, offset), validated as build_design validates.
"""
from dataclasses import dataclass
from types import SimpleNamespace
import warnings

import numpy as np
import pandas as pd

from ..design import (_check_finite, _evaluate, _group_columns, block_members,
                      evaluate_offsets)
from ..families import get_family
from ..fixed_design import walk_calls
from ..plain_design import PlainTerms
from ..formula import parse_formula, tokenize

__all__ = ["Plan", "plan", "ChunkCoder", "Rows"]

RESPONSE = "fastgibbs_lhs_response"
N_PLACEHOLDER_ROWS = 5
NUMERIC_KINDS = ("number", "bool")


@dataclass(frozen=True)
class Plan:
    """A formula read against a schema (see :func:`plan`)."""

    formula: str
    family: str
    columns: tuple            # every column of the data (for '.')
    schema: dict              # used column -> kind
    used: tuple               # columns the model reads
    level_columns: tuple      # columns whose levels the first pass finds
    factors: dict             # factor label -> its variables
    response_mode: str        # "column", "event" or "formula"
    offset: str = None        # offset= column
    weights: str = None       # weights= column
    na_action: str = "raise"
    link: str = None          # the family's link (None: its default)


def _names(text):
    return {t.name for t in tokenize(text) if t.kind == "name"}


def _placeholder(kind, n=N_PLACEHOLDER_ROWS):
    if kind == "number":
        return np.arange(1.0, n + 1.0)
    if kind == "bool":
        return np.arange(n) % 2 == 0
    if kind == "categorical":
        return pd.Categorical([f"level{i % 2}" for i in range(n)])
    return np.array([f"level{i % 2}" for i in range(n)], dtype=object)


def _categoric_variables(spec):
    """Data columns used inside categorical components of a formulae spec."""
    out = set()
    for term in getattr(spec, "terms", {}).values():
        for component in getattr(term, "components", ()):
            if component.kind == "categoric":
                out.update(getattr(component, "var_names", ()))
    return out


def _refuse_stateful(spec, where):
    for call in walk_calls(spec):
        if call.stateful_transform is not None:
            callee = call.callee.replace("fastgibbs_scale", "scale")
            raise ValueError(
                f"{callee}() in {where} is a stateful transform: it needs statistics of the "
                "whole data before the first row is coded, which a model streamed from files "
                f"does not compute; compute the column beforehand (e.g. store the scaled "
                f"column in the files) or fit the data in memory")


def plan(formula, schema, family="gaussian", offset=None, weights=None, na_action="raise"):
    """Read ``formula`` against ``schema`` ({column: kind} of the data, in order).

    Raises the errors build_design raises for missing columns and bad formulas, and
    refuses what streaming cannot do (arrays for offset or weights, stateful
    transforms)."""
    family = get_family(family)
    for name, value in (("offset", offset), ("weights", weights)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a column name when the data are streamed from "
                            f"files or a Dask DataFrame (an array of rows cannot be matched "
                            f"to the rows of the files), got {type(value).__name__}")
    if na_action not in ("raise", "drop"):
        raise ValueError(f"na_action must be 'raise' or 'drop', got {na_action!r}")
    columns = [c for c in schema if isinstance(c, str)]
    parsed = parse_formula(formula, columns=columns)
    for group in parsed.groups:
        for name in group.variables:
            if name not in schema:
                raise ValueError(f"grouping column {name!r} is not in data")
    if parsed.response.isidentifier() and parsed.response not in schema:
        raise ValueError(f"response column {parsed.response!r} is not in data")
    for name, value in (("offset", offset), ("weights", weights)):
        if value is not None and value not in schema:
            raise ValueError(f"{name} column {value!r} is not in data")
    extra = [a for a in (offset, weights) if a is not None]
    offset_names = set().union(*(_names(expr) for expr in parsed.offsets)) \
        if parsed.offsets else set()
    used = tuple(sorted(n for n in set(parsed.variables) | set(extra) | offset_names
                        if n in schema))
    kinds = {n: schema[n] for n in used}
    for name, kind in kinds.items():
        if kind not in NUMERIC_KINDS + ("text", "categorical", "object", "null"):
            raise TypeError(f"column {name!r} holds {kind} values; a formula needs numbers or "
                            "categories")
    for name in (offset, weights):
        if name is not None and kinds[name] not in NUMERIC_KINDS:
            raise TypeError(f"column {name!r} must be numeric, got {kinds[name]} values")

    # which numeric columns act as factors: evaluate the terms on placeholder rows
    proto = pd.DataFrame({n: _placeholder(k) for n, k in kinds.items()})
    response, rhs = (part.strip() for part in parsed.fixed.split("~", 1))
    categoric = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, _, terms = _evaluate(RESPONSE, rhs, proto.assign(**{RESPONSE: 0.0}), keep=(),
                                   checks=False)
        if terms is not None:
            _refuse_stateful(terms.spec, "the fixed effects")
            categoric |= _categoric_variables(terms.spec)
        for group in parsed.groups:
            _, _, bar = _group_columns(group.lhs, proto, checks=False)
            if bar is not None and not isinstance(bar, PlainTerms):     # (numbers alone)
                _refuse_stateful(bar.spec, f"the group term {group.source}")
                categoric |= _categoric_variables(bar.spec)
        for expr in parsed.offsets:
            _, _, _, off = _evaluate(RESPONSE, f"0 + {expr}", proto.assign(**{RESPONSE: 0.0}),
                                     keep=(), checks=False)
            if off is not None:
                _refuse_stateful(off.spec, f"offset({expr})")
    factors = {}
    for group in parsed.groups:
        factors[group.factor] = tuple(group.variables)
    grouping = {v for variables in factors.values() for v in variables}
    if parsed.response in kinds and kinds[parsed.response] in NUMERIC_KINDS:
        mode = "column"
    elif parsed.response in kinds and family.name == "bernoulli":
        mode = "event"
    else:
        mode = "formula"
    response_columns = _names(response) & set(kinds)
    level = set(grouping) | (categoric & set(kinds))
    level |= {n for n, k in kinds.items() if k not in NUMERIC_KINDS
              and (n not in response_columns or mode == "event" or n in _names(rhs))}
    return Plan(formula=formula, family=family.name, link=family.link,
                columns=tuple(columns),
                schema=kinds, used=used, level_columns=tuple(sorted(level)),
                factors=factors, response_mode=mode, offset=offset, weights=weights,
                na_action=na_action)


@dataclass
class Rows:
    """One chunk coded: ``y`` (n,), ``X`` (n, p) over every fixed column (aliased
    ones included; C- or Fortran-ordered, plain copies of data columns being
    Fortran-ordered), per block ``Z`` (n, q_k) and ``group`` (n,), ``w`` (n,)
    (ones without weights), ``trials`` (n,) or None, ``offset`` (n,), ``n_dropped``
    rows dropped for missing values; ``weighted``: weights were given."""

    y: np.ndarray
    X: np.ndarray
    Z: list
    group: list
    w: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    n_dropped: int
    weighted: bool

    @property
    def n(self):
        return len(self.y)


def _plain_columns(terms, names):
    """Per design column of ``terms`` (FixedTerms or PlainTerms), None for the ones
    (the intercept) or the data column it copies; None (for the whole list) when a
    column is anything else."""
    if isinstance(terms, PlainTerms):   # numeric columns alone: each one is a copy
        return [None if name in ("1", "Intercept") else name for name in names]
    spec = terms.spec
    out = []
    for name in names:
        source = "Intercept" if name == "1" else name
        if source == "Intercept":
            if "Intercept" not in spec.terms:
                return None
            out.append(None)
            continue
        term = spec.terms.get(source)
        components = getattr(term, "components", None)
        if not components or len(components) != 1:
            return None
        component = components[0]
        if type(component).__name__ != "Variable" or component.kind != "numeric" \
                or component.name != source:
            return None
        out.append(source)
    return out


def _missing_count(column):
    """Missing values of a chunk's column (a Series): NaN in numpy floats (np.isnan
    is several times cheaper than Series.isna), none in numpy integers and booleans."""
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else None
    if kind == "f":
        return int(np.count_nonzero(np.isnan(column.to_numpy())))
    if kind in ("i", "u", "b"):
        return 0
    return int(column.isna().sum())


def _copy_columns(frame, sources, n):
    """(n, len(sources)) Fortran-ordered float array (each column contiguous, as
    written and as the statistics pass reads it): ones for None, else the columns."""
    out = np.empty((n, len(sources)), order="F")
    for c, source in enumerate(sources):
        if source is None:
            out[:, c] = 1.0
        else:
            out[:, c] = frame[source].to_numpy(dtype=float)
    return out


class ChunkCoder:
    """Codes chunks of the data of a :class:`Plan` with the levels of the first pass
    (see the module docstring). ``fixed_names`` (every fixed column, before the rank
    check), ``fixed_terms`` (FixedTerms), ``blocks`` (per block: factor, variables,
    lhs, columns, correlated, bar terms) describe the design."""

    def __init__(self, plan, levels):
        self.plan = plan
        self.levels = levels
        self.family = get_family(plan.family, link=plan.link)
        parsed = parse_formula(plan.formula, columns=list(plan.columns))
        self.parsed = parsed
        self.response, rhs = (part.strip() for part in parsed.fixed.split("~", 1))
        self.response_columns = _names(self.response) & set(plan.schema)
        self.proto = self._prototype()
        proto = self.proto.assign(**{RESPONSE: 0.0})
        _, X, names, terms = _evaluate(RESPONSE, rhs, proto, keep=(), checks=True)
        self.fixed_terms = terms
        self.fixed_names = tuple(names)
        self._x_plain = _plain_columns(terms, names) if terms is not None else []
        bars = []
        for group in parsed.groups:
            cols, _, bar_terms = _group_columns(group.lhs, self.proto)
            bars.append((group, cols, bar_terms))
        order, members = block_members(bars)
        self.blocks = []
        for key in order:
            chosen = [bars[i] for i in members[key]]
            bar_coding = []
            for group, cols, bar_terms in chosen:
                plain = [None] if bar_terms is None else _plain_columns(bar_terms, cols)
                bar_coding.append((cols, bar_terms, plain))
            self.blocks.append(SimpleNamespace(
                factor=key[2], variables=key[0],
                lhs=tuple(b[0].lhs for b in chosen),
                columns=tuple(c for b in chosen for c in b[1]),
                correlated=key[1] != "diagonal", bars=tuple(bar_coding),
                coding=tuple(b[2] for b in chosen)))
        self.offset_terms = tuple(parsed.offsets) + ((plan.offset,) if plan.offset else ())
        self._checked = False          # plain columns checked against formulae
        self.event = self._event_level() if plan.response_mode == "event" else None

    # -- the prototype ---------------------------------------------------------------
    def _prototype(self):
        """Rows holding every level of every level column (cycled), placeholders for
        other columns; the response is left out."""
        plan, levels = self.plan, self.levels
        columns = [n for n in plan.used if n not in self.response_columns
                   or n in _names(self.parsed.fixed.split("~", 1)[1])
                   or any(n in g.variables for g in self.parsed.groups)
                   or any(n in _names(g.lhs) for g in self.parsed.groups)]
        sizes = [levels.n_levels(n) for n in columns if n in plan.level_columns]
        n = max([N_PLACEHOLDER_ROWS] + sizes)
        data = {}
        for name in columns:
            if name in plan.level_columns:
                values = levels.column(name)
                index = np.arange(n) % max(len(values), 1)
                data[name] = values.iloc[index].reset_index(drop=True) if len(values) \
                    else pd.Series([None] * n)
            else:
                data[name] = _placeholder(plan.schema[name], n)
        return pd.DataFrame(data, index=range(n))

    def _event_level(self):
        """The event of a bernoulli response held as text or categories: the second
        level in the data's order (see fastgibbs.families.binomial.Bernoulli)."""
        name = self.response
        values = self.levels.column(name)
        if len(values) != 2:
            raise ValueError(f"bernoulli response {name!r} must have two levels, "
                             f"got {len(values)}: {list(values.astype(object))[:10]}")
        self.family.levels = tuple(str(v) for v in values.astype(object))   # (other, event)
        return values.astype(object).iloc[1]

    # -- coding one chunk ------------------------------------------------------------
    def code(self, frame, label):
        """The :class:`Rows` of one chunk; errors name ``label`` (file or partition)."""
        try:
            return self._code(frame)
        except (ValueError, TypeError) as err:     # FormulaError too: values of a chunk
            message = str(err)
            raise type(err)(f"{message} (in {label})") from None

    def _code(self, frame):
        plan = self.plan
        n_dropped = 0
        used = [c for c in plan.used if c in frame.columns]
        # column by column: frame[used].isna() would copy every column first
        counts = {name: _missing_count(frame[name]) for name in used}
        if any(counts.values()):
            if plan.na_action == "raise":
                bad = ", ".join(f"{name!r} ({k} missing)" for name, k in counts.items() if k)
                raise ValueError(f"missing values in column(s) {bad}; clean them or pass "
                                 "na_action='drop' to drop those rows")
            keep = ~frame[used].isna().any(axis=1).to_numpy()
            n_dropped = int((~keep).sum())
            frame = frame.loc[keep]
        n = len(frame)
        y, trials = self._response(frame)
        X = self._fixed(frame, n)
        Zs, groups = [], []
        for block in self.blocks:
            parts = []
            for (cols, bar_terms, plain) in block.bars:
                if bar_terms is None:
                    parts.append(np.ones((n, 1)))
                elif plain is not None:
                    parts.append(_copy_columns(frame, plain, n))
                else:
                    parts.append(np.asarray(bar_terms.evaluate(frame), dtype=float))
            Z = np.ascontiguousarray(np.column_stack(parts)) if n \
                else np.zeros((0, len(block.columns)))
            _check_finite(Z, list(block.columns))
            Zs.append(Z)
            group = self.levels.codes(frame, block.factor)
            if np.any(group < 0):
                raise ValueError(f"grouping factor {block.factor!r} has a level the first pass "
                                 "did not see: the data changed while they were read")
            groups.append(group)
        offset = evaluate_offsets(self.offset_terms[:len(self.parsed.offsets)], frame) \
            if self.parsed.offsets else np.zeros(n)
        if plan.offset is not None:
            offset = offset + frame[plan.offset].to_numpy(dtype=float)
        bad = ~np.isfinite(offset)
        if bad.any():
            raise ValueError(f"the offset has {int(bad.sum())} non-finite value(s) (check "
                             "offset(...) terms and offset=; log of 0 gives -inf)")
        if self.family.name != "gaussian":
            self.family.check_offset(offset)
        if plan.weights is not None:
            w = frame[plan.weights].to_numpy(dtype=float)
            bad = ~np.isfinite(w) | (w < 0)
            if bad.any():
                raise ValueError(f"weights have {int(bad.sum())} negative or non-finite "
                                 "value(s); frequency weights must be finite and >= 0")
            if self.family.integer_weights and np.any(w != np.round(w)):
                raise ValueError(f"weights must be whole numbers for the {self.family.name} "
                                 f"family ({self.family.link} link): each observation has "
                                 "its own latent variable, and a weight counts identical "
                                 "observations")
        else:
            w = np.ones(n)
        return Rows(y=y, X=X, Z=Zs, group=groups, w=w, trials=trials, offset=offset,
                    n_dropped=n_dropped, weighted=plan.weights is not None)

    def _fixed(self, frame, n):
        if self.fixed_terms is None:
            return np.zeros((n, 0))
        if self._x_plain is not None:
            X = _copy_columns(frame, self._x_plain, n)
            if not self._checked:
                reference = np.asarray(self.fixed_terms.evaluate(frame), dtype=float)
                if reference.shape != X.shape or not np.array_equal(reference, X):
                    self._x_plain = None          # code every chunk with formulae
                    X = np.ascontiguousarray(reference)
                self._checked = True
        else:
            X = np.ascontiguousarray(np.asarray(self.fixed_terms.evaluate(frame), dtype=float))
        _check_finite(X, self.fixed_names)
        return X

    def _response(self, frame):
        """(y, trials) of a chunk, validated by the family; warnings about the whole
        response (one outcome only, all zero) are left to the caller."""
        mode = self.plan.response_mode
        name = self.parsed.response
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if mode == "event":
                values = frame[name].astype(object).to_numpy()
                y = (values == self.event).astype(float)
                return y, np.ones_like(y)
            if mode == "column":
                values = frame[name].to_numpy(dtype=float)
                term = SimpleNamespace(kind="numeric", design_matrix=values)
            else:
                dm, _, _, _ = _evaluate(self.response, "1", frame, self.response_columns,
                                        checks=False)
                term = dm.response
            out = self.family.response(term, self.parsed.response, frame)
        return np.asarray(out.y, dtype=float), out.trials
