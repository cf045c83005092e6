"""The first pass over streamed data: the levels of every grouping factor and
categorical column, missing values and the kind of values of every column read.

Only the columns that need levels are read (grouping columns, text, categorical and
boolean columns, and numbers used as factors, e.g. ``factor(k)``), unless rows with
missing values are dropped (``na_action="drop"``): then every column the model uses
is read, so that the levels are those of the rows kept, as in memory.
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..columns import column_kind
from ..design import _factor_codes, _group_index

__all__ = ["LevelPass", "LevelSpec", "Levels", "level_partial"]


@dataclass
class LevelPass:
    """What the first pass found in some rows; ``combine`` adds another's."""

    n_rows: int = 0                       # rows read
    n_dropped: int = 0                    # rows dropped for missing values
    values: dict = field(default_factory=dict)      # column -> distinct values (ndarray)
    categories: dict = field(default_factory=dict)  # column -> (categories, ordered) | False
    combos: dict = field(default_factory=dict)      # factor -> DataFrame of distinct rows
    kinds: dict = field(default_factory=dict)       # column -> (kind, label)
    missing: dict = field(default_factory=dict)     # column -> [count, first label]

    def combine(self, other):
        out = LevelPass(n_rows=self.n_rows + other.n_rows,
                        n_dropped=self.n_dropped + other.n_dropped)
        for name in set(self.kinds) | set(other.kinds):
            a, b = self.kinds.get(name), other.kinds.get(name)
            if a and b and a[0] != b[0] and "empty" not in (a[0], b[0]):
                raise ValueError(f"column {name!r} holds {a[0]} values in {a[1]} but {b[0]} "
                                 f"values in {b[1]}: the schema changed; give the column one "
                                 "type in every file or partition")
            out.kinds[name] = a if (a and a[0] != "empty") or not b else b
        for name in set(self.values) | set(other.values):
            parts = [d.values[name] for d in (self, other) if name in d.values]
            out.values[name] = _distinct(np.concatenate(parts)) if len(parts) > 1 else parts[0]
        for name in set(self.categories) | set(other.categories):
            a, b = self.categories.get(name), other.categories.get(name)
            out.categories[name] = a if b is None else b if a is None else (a if a == b else False)
        for factor in set(self.combos) | set(other.combos):
            parts = [d.combos[factor] for d in (self, other) if factor in d.combos]
            out.combos[factor] = (pd.concat(parts, ignore_index=True).drop_duplicates()
                                  .reset_index(drop=True)) if len(parts) > 1 else parts[0]
        for name in set(self.missing) | set(other.missing):
            a, b = self.missing.get(name), other.missing.get(name)
            out.missing[name] = [(a[0] if a else 0) + (b[0] if b else 0), (a or b)[1]]
        return out


def _consecutive_start(levels):
    """The first level when the sorted levels (a Series) are consecutive integers
    (numpy integer dtype), else None."""
    if levels.dtype.kind not in "iu" or not len(levels):
        return None
    values = levels.to_numpy().astype(np.int64)
    return int(values[0]) if np.array_equal(values, np.arange(values[0], values[0]
                                                               + len(values))) else None


def _distinct(values):
    return np.asarray(pd.unique(values)) if len(values) else values


def level_partial(frame, label, spec):
    """The first pass over one chunk (``spec``: a LevelSpec)."""
    if spec.na_drop:
        bad = frame[list(spec.used)].isna().any(axis=1).to_numpy()
        n_dropped = int(bad.sum())
        if n_dropped:
            frame = frame.loc[~bad]
    else:
        n_dropped = 0
    part = LevelPass(n_rows=len(frame) + n_dropped, n_dropped=n_dropped)
    for name in spec.read:
        column = frame[name]
        missing = int(column.isna().sum())
        if missing:
            part.missing[name] = [missing, label]
        try:
            kind = column_kind(column, name) if len(column) else "empty"
        except TypeError as err:
            raise TypeError(f"{err} (in {label})") from None
        part.kinds[name] = (kind, label)
        if name not in spec.level_columns:
            continue
        present = column.dropna()
        if isinstance(column.dtype, pd.CategoricalDtype):
            part.categories[name] = (tuple(column.cat.categories), bool(column.dtype.ordered))
            part.values[name] = np.asarray(present.astype(object).unique(), dtype=object)
        else:
            part.categories[name] = None
            part.values[name] = _distinct(present.to_numpy())
    for factor, variables in spec.factors.items():
        if len(variables) > 1:
            rows = frame[list(variables)].dropna()
            part.combos[factor] = pd.DataFrame(
                {v: (rows[v].astype(object) if isinstance(rows[v].dtype, pd.CategoricalDtype)
                     else rows[v]) for v in variables}).drop_duplicates().reset_index(drop=True)
    return part


@dataclass(frozen=True)
class LevelSpec:
    """What the first pass reads: ``read`` the columns, ``level_columns`` those whose
    distinct values are kept, ``factors`` {factor label: its variables}, ``used`` the
    columns checked for missing values when ``na_drop``."""

    read: tuple
    level_columns: tuple
    factors: dict
    used: tuple
    na_drop: bool


class Levels:
    """The levels found by the first pass, as in memory: ``column(name)`` gives a
    Series of a level column's distinct values (a Categorical when the data's is) in
    level order; ``codes(frame, factor)`` the group index 0..J-1 of each row of a
    chunk; ``labels[factor]`` the group labels."""

    def __init__(self, found, factors):
        self.found = found
        self.factors = dict(factors)
        self._sorted = {}
        self.labels = {}
        self._combo_keys = {}
        self._int_start = {}
        for name in found.values:
            self._sorted[name] = self._order(name)
            start = _consecutive_start(self._sorted[name])
            if start is not None:
                self._int_start[name] = start
        for factor, variables in self.factors.items():
            if len(variables) == 1:
                values = self._sorted[variables[0]]
                _, labels = _factor_codes(values, variables[0])
                self.labels[factor] = labels
            else:
                combos = found.combos.get(factor, pd.DataFrame({v: [] for v in variables}))
                frame = pd.DataFrame({v: self._typed(v, combos[v]) for v in variables})
                codes, labels = _group_index(frame, variables)
                self.labels[factor] = labels
                keys = self._combo_key(frame, variables)
                order = np.empty(len(codes), dtype=np.int64)
                order[codes] = keys
                self._combo_keys[factor] = order

    def _order(self, name):
        """The distinct values of a level column sorted as R orders factor levels."""
        values = self.found.values[name]
        cats = self.found.categories.get(name)
        if cats:                                # one Categorical dtype throughout
            categories, ordered = cats
            present = set(values.tolist())
            used = [c for c in categories if c in present]
            series = pd.Series(pd.Categorical(used, categories=used, ordered=ordered))
            return series
        series = pd.Series(values)
        if series.dtype == object and len(series):
            try:
                series = series.infer_objects()
            except Exception:                   # pragma: no cover - keep as object
                pass
        codes, _ = _factor_codes(series, name)
        out = series.iloc[np.argsort(codes, kind="stable")].reset_index(drop=True)
        return out

    def _typed(self, name, values):
        """Combination values with the level column's dtype."""
        sorted_values = self._sorted[name]
        if isinstance(sorted_values.dtype, pd.CategoricalDtype):
            return pd.Categorical(values, dtype=sorted_values.dtype)
        return pd.Series(values, dtype=sorted_values.dtype).to_numpy() \
            if sorted_values.dtype != object else np.asarray(values, dtype=object)

    def column(self, name):
        return self._sorted[name]

    def n_levels(self, name):
        return len(self._sorted[name])

    def value_codes(self, series, name):
        """Code (position in level order) of each value of a chunk's column; -1 for a
        value the first pass did not see."""
        levels = self._sorted[name]
        start = self._int_start.get(name)
        if start is not None and series.dtype.kind in "iu":
            # levels start, start + 1, ...: the code is the value's offset (no lookup)
            codes = series.to_numpy().astype(np.int64) - start
            codes[(codes < 0) | (codes >= len(levels))] = -1
            return codes.astype(np.intp)
        if isinstance(levels.dtype, pd.CategoricalDtype):
            index = pd.Index(levels.astype(object))
        else:
            index = pd.Index(levels)
        if isinstance(series.dtype, pd.CategoricalDtype):
            lookup = index.get_indexer(pd.Index(series.cat.categories.astype(object)))
            codes = series.cat.codes.to_numpy()
            out = np.where(codes >= 0, lookup[codes], -1)
            return out.astype(np.intp)
        return index.get_indexer(series).astype(np.intp)

    def _combo_key(self, frame, variables):
        key = np.zeros(len(frame), dtype=np.int64)
        for v in variables:
            codes = self.value_codes(pd.Series(frame[v]), v)
            key = key * self.n_levels(v) + codes
        return key

    def codes(self, frame, factor):
        """Group index (n,) of the rows of ``frame`` in ``factor``; -1 for a group the
        first pass did not see."""
        variables = self.factors[factor]
        if len(variables) == 1:
            return self.value_codes(frame[variables[0]], variables[0])
        per = [self.value_codes(frame[v], v) for v in variables]
        key = np.zeros(len(frame), dtype=np.int64)
        for v, codes in zip(variables, per):
            key = key * self.n_levels(v) + codes
        keys = self._combo_keys[factor]
        pos = np.searchsorted(keys, key)
        pos = np.minimum(pos, len(keys) - 1)
        bad = (keys[pos] != key) | np.any(np.stack(per) < 0, axis=0)
        return np.where(bad, -1, pos).astype(np.intp)
