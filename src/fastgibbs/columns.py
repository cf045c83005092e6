"""Data columns as a formula reads them: each column's kind of values (numbers, text,
True/False, categories), checked and prepared as R's ``model.frame`` would have them,
and values printed as R prints factor levels.

Kept apart from fastgibbs.coding, which evaluates formulas with formulae (slow to
import), so that designs that need no formulae (fastgibbs.plain_design) and group
labels do not load it.
"""
import math
import warnings

import numpy as np
import pandas as pd

from .formula import is_call, tokenize

__all__ = ["bare_terms", "bool_factor", "column_kind", "dtype_kind", "format_level",
           "numbers_as_text", "prepare_data", "type_change", "value_type"]


def format_level(value):
    """A value as a level label, as R prints it: integral floats without '.0'."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) \
            and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def dtype_kind(dtype):
    """'categorical', 'bool', 'number' or 'text' when a pandas dtype decides the kind of
    every value; None otherwise (object columns, whose values decide; dates, complex
    numbers and other types)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        return "text"
    return None


def column_kind(series, name):
    """'number', 'text', 'bool' or 'categorical' of a column; TypeError for other types."""
    dtype = series.dtype
    kind = dtype_kind(dtype)
    if kind is not None:
        return kind
    if pd.api.types.is_datetime64_any_dtype(dtype) \
            or pd.api.types.is_timedelta64_dtype(dtype) \
            or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)):
        raise TypeError(f"column {name!r} holds {dtype} values; a formula needs numbers or "
                        "categories: convert it, e.g. to days since a start date "
                        f"(df[{name!r}] - df[{name!r}].min()).dt.days, or to text")
    values = series.dropna()
    types = {type(v) for v in values}
    if not types or all(issubclass(t, str) for t in types):
        return "text"
    if all(issubclass(t, (bool, np.bool_)) for t in types):
        return "bool"
    if all(issubclass(t, (int, float, np.integer, np.floating)) and not issubclass(t, bool)
           for t in types):
        return "number"
    names = sorted({t.__name__ for t in types})
    raise TypeError(f"column {name!r} mixes value types ({', '.join(names)}); make it one "
                    f"type, e.g. pd.to_numeric(df[{name!r}]) for numbers or "
                    f"df[{name!r}].astype(str) for categories")


def value_type(series, name):
    """'numbers', 'text' or 'True/False values' a column holds (a Categorical: its
    categories'), for messages; None when it cannot say."""
    try:
        kind = column_kind(series, name)
    except TypeError:
        return None
    if kind == "categorical":
        categories = list(series.cat.categories)
        if not categories:
            return None
        if all(isinstance(c, (bool, np.bool_)) for c in categories):
            return "True/False values"
        if all(isinstance(c, str) for c in categories):
            return "text"
        if all(isinstance(c, (int, float, np.integer, np.floating)) for c in categories):
            return "numbers"
        return None
    return {"number": "numbers", "text": "text", "bool": "True/False values"}[kind]


def numbers_as_text(values):
    """Whether every (distinct, non-missing) value of a text column reads as a number."""
    return len(values) > 0 and pd.to_numeric(pd.Series(values), errors="coerce").notna().all()


def prepare_data(data, names, categorical_terms=(), keep=(), checks=True):
    """Checked copy of ``data[names]`` ready for formulae (see the module docstring).

    ``categorical_terms``: columns used only as bare terms (checked for numbers stored
    as text and single levels unless ``checks`` is False, as for new data); ``keep``:
    columns left as they are (the response, whose coding is the family's). Returns
    (frame, ordered): the names of ordered Categoricals."""
    columns = pd.Index(data.columns)
    out, ordered_names = {}, set()
    for name in names:
        if name not in columns:
            continue
        if not columns.is_unique and (columns == name).sum() > 1:
            raise ValueError(f"data has {(columns == name).sum()} columns named {name!r}; "
                             "rename them so each name is unique")
        series = data[name]
        kind = column_kind(series, name)
        if kind == "number" and series.dtype == object:
            series = series.astype(float)
        elif kind == "bool" and series.dtype == object:
            if series.isna().any():     # astype(bool) reads None as False, NaN as True
                raise ValueError(f"column {name!r} has {int(series.isna().sum())} missing "
                                 "value(s) among its True/False values")
            series = series.astype(bool)
        if kind == "bool" and name in categorical_terms and name not in keep:
            series = bool_factor(series)
        elif kind == "text":
            # as an ordered Categorical of the sorted values (R's factor() order), which
            # formulae codes without sorting every row
            values = pd.unique(series.dropna())
            if checks and name in categorical_terms and numbers_as_text(values):
                warnings.warn(
                    f"column {name!r} holds numbers stored as text; it is used as a "
                    f"categorical predictor with {len(values)} levels. Convert it with "
                    f"pd.to_numeric(df[{name!r}]) for a numeric predictor, or write "
                    f"factor({name}) to keep it categorical without this warning",
                    stacklevel=5)
            if name in categorical_terms and name not in keep:
                series = series.astype(pd.CategoricalDtype(sorted(values), ordered=True))
        if checks and name in categorical_terms and kind in ("text", "categorical", "bool") \
                and series.nunique() < 2:
            value = series.dropna().iloc[0]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(f"column {name!r} has the single value "
                             f"{value!r}; a categorical predictor needs "
                             "two or more levels (drop the term)")
        if kind == "categorical" and name not in keep:
            present = set(series.dropna())
            used = [c for c in series.cat.categories if c in present]
            if series.dtype.ordered:
                ordered_names.add(name)
            # formulae keeps an ordered Categorical's order: its first category is the
            # reference (R), and categories that do not occur are dropped
            series = series.astype(pd.CategoricalDtype(used, ordered=True))
        out[name] = series
    return pd.DataFrame(out, index=data.index), ordered_names


def bool_factor(series):
    """A True/False column as R codes a logical in a formula: a factor with levels
    FALSE, TRUE (those that occur), so ``0 + b`` gives both indicators and ``b`` the
    column ``b[True]`` (R's ``bTRUE``)."""
    present = set(series.dropna())
    return series.astype(pd.CategoricalDtype([v for v in (False, True) if v in present],
                                             ordered=True))


def bare_terms(text):
    """Names used only as whole factors of terms, never inside a call (``x`` in
    ``x + x:z``, not in ``x + log(x)``)."""
    tokens = tokenize(text)
    stack, bare, in_calls = [], set(), set()
    for i, tok in enumerate(tokens):
        if tok.kind == "(":
            stack.append(is_call(tokens, i))
        elif tok.kind == ")":
            stack.pop()
        elif tok.kind == "name" and not (i + 1 < len(tokens) and tokens[i + 1].kind == "("):
            (in_calls if any(stack) else bare).add(tok.name)
    return bare - in_calls


def type_change(fitted, data, names):
    """Why new rows ``data`` cannot be coded when one of the columns ``names`` holds
    another type of value than in the fitted rows ``fitted`` (a DataFrame; numbers,
    text, True/False: formulae would code some silently and name neither the column nor
    the type for others); None when every column keeps its type."""
    if not isinstance(fitted, pd.DataFrame):
        return None
    advice = {"numbers": "pd.to_numeric(newdata[{0!r}])",
              "text": "newdata[{0!r}].astype(str)",
              "True/False values": "newdata[{0!r}].astype(bool)"}
    for name in names:
        if name not in fitted.columns or name not in data.columns \
                or not data[name].notna().any():    # no values (no rows, all null
            continue                                # in a streamed chunk): no type
        was, now = value_type(fitted[name], name), value_type(data[name], name)
        if was and now and was != now:
            shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v)
                              for v in pd.unique(data[name].dropna())[:3])
            fix = ("newdata[{0!r}].astype(float)" if now == "True/False values"
                   and was == "numbers" else advice.get(was, "")).format(name)
            return (f"newdata column {name!r} holds {now} ({shown}, ...) where the "
                    f"fitted data had {was}: give it the fitted type"
                    + (f", e.g. {fix}" if fix else ""))
    return None
