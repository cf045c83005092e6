"""Designs whose terms are numeric columns alone (``y ~ 1 + x + z``, ``(1 + x | g)``),
built without formulae.

formulae takes about 0.2 s to import (it loads scipy.interpolate) and milliseconds per
evaluation; a sum of column names needs neither. What is built here equals what
fastgibbs.coding builds with formulae, bit for bit: the same columns in the same order,
the same names, and (through fastgibbs.fixed_design) the same saved record, so neither
a fit nor its file depends on which of the two built it. A term that is not a column
of numbers (a call, an interaction, text, categories, True/False values, a pandas
extension type such as ``Int64``) leaves the whole side to formulae.
"""
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .columns import column_kind, type_change, value_type
from .formula import plain_name, plain_summands

__all__ = ["PlainTerms", "numpy_numbers", "plain_columns", "plain_fixed"]

N_PROTOTYPE_ROWS = 3    # rows of the fitted data kept for a saved record (fixed_design)


def numpy_numbers(dtype):
    """Whether ``dtype`` is a numpy integer or float dtype (not bool, not a pandas
    extension type): the columns this module codes."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _numbers(data, name):
    """``data[name]`` when it is the only column of that name and holds numpy numbers
    (not True/False); None otherwise."""
    columns = data.columns      # (is_unique is cached: no pass over the names)
    if name not in columns or (not columns.is_unique and int((columns == name).sum()) != 1):
        return None
    column = data[name]
    return column if numpy_numbers(column.dtype) else None


class PlainTerms:
    """The coded terms of a sum of numeric columns, with the interface of
    fastgibbs.coding.FixedTerms: ``all_names`` (the intercept first, then the columns
    in formula order), ``keep`` (the columns kept after rank checks), ``columns`` (the
    data columns read, sorted), ``rhs`` (the text), ``evaluate`` for new rows.

    ``prototype``: the first rows of the fitted columns (a DataFrame with their dtypes),
    which the saved record keeps and which tells the type of value each column holds."""

    renames = ()

    def __init__(self, rhs, intercept, variables, prototype, keep=None):
        self.rhs = rhs
        self.intercept = bool(intercept)
        self.variables = tuple(variables)   # the columns in formula order
        self.columns = tuple(sorted(self.variables))
        self.all_names = ("Intercept",) * self.intercept + self.variables
        self.prototype = prototype
        self.keep = np.arange(len(self.all_names)) if keep is None \
            else np.asarray(keep, dtype=np.intp)

    @property
    def names(self):
        return tuple(self.all_names[k] for k in self.keep)

    def cell_means(self):
        """No column is a level's mean (see FixedTerms.cell_means): all False."""
        return np.zeros(len(self.keep), dtype=bool)

    def unusable_without_record(self):
        """Nothing in a sum of numeric columns depends on the fitted data: None."""
        return None

    def keep_only(self, keep):
        """A copy that keeps the columns ``keep`` (indices into the current columns)."""
        return PlainTerms(self.rhs, self.intercept, self.variables, self.prototype,
                          self.keep[np.asarray(keep, dtype=np.intp)])

    def design(self, columns, n_rows):
        """All columns (n_rows, len(all_names)) in Fortran order from ``columns``, the
        values of ``variables`` in formula order."""
        X = np.empty((n_rows, len(self.all_names)), order="F")
        if self.intercept:
            X[:, 0] = 1.0
        for k, values in enumerate(columns):
            X[:, self.intercept + k] = values
        return X

    def design_of(self, frame):
        """All columns of the rows of ``frame`` (the fitted rows, or the prototype's),
        as `design`."""
        return self.design([frame[name] for name in self.variables], len(frame))

    def evaluate(self, data):
        """Design columns (n, n_kept) of new rows ``data`` (a DataFrame). Missing values,
        and columns holding another type of value than numbers (text, True/False,
        categories other than numbers), are refused; a column ``data`` lacks raises
        KeyError."""
        for name in self.columns:
            if name not in data.columns:
                raise KeyError(name)
        missing = [name for name in self.columns if data[name].isna().any()]
        if missing:
            raise ValueError(f"newdata has missing values in column(s) {missing}; "
                             "predictions need every value the formula reads")
        why = type_change(self.prototype, data, self.columns)
        if why:
            raise ValueError(why)
        values = []
        for name in self.variables:
            column = data[name]
            # a Categorical of numbers is numbers (type_change; formulae reads its values)
            if column_kind(column, name) != "number" and value_type(column, name) != "numbers":
                raise ValueError(f"newdata column {name!r} holds {column.dtype} values where "
                                 f"the fitted data had numbers: give it the fitted type, "
                                 f"e.g. newdata[{name!r}].astype(float)")
            values.append(np.asarray(column, dtype=float))
        return self.design(values, len(data))[:, self.keep]


def plain_columns(rhs, data):
    """(X (n, p) float in Fortran order, names, PlainTerms) of ``rhs`` on ``data`` when
    ``rhs`` is a sum of numeric columns of ``data`` (see the module docstring), with at
    least one column; None otherwise."""
    plain = plain_summands(rhs)
    if plain is None:
        return None
    intercept, variables = plain
    if not intercept and not variables:
        return None
    columns = [_numbers(data, name) for name in variables]
    if any(column is None for column in columns):
        return None
    prototype = pd.DataFrame({name: column.iloc[:N_PROTOTYPE_ROWS].to_numpy()
                              for name, column in zip(variables, columns)},
                             index=range(min(N_PROTOTYPE_ROWS, len(data))))
    terms = PlainTerms(rhs, intercept, variables, prototype[sorted(variables)])
    X = terms.design([column.to_numpy() for column in columns], len(data))
    return X, terms.names, terms


def plain_fixed(response, rhs, data):
    """What fastgibbs.coding.evaluate_terms returns for ``response ~ rhs`` (design
    matrices, X, names, terms) when the response is a numeric column and ``rhs`` a sum
    of numeric columns; None otherwise. Of the design matrices only ``response`` is
    given, as formulae's numeric response: ``kind`` and ``design_matrix`` (n, 1)."""
    if not plain_name(response):
        return None
    column = _numbers(data, response)
    if column is None:
        return None
    evaluated = plain_columns(rhs, data)
    if evaluated is None:
        return None
    X, names, terms = evaluated
    # a copy, as formulae's: families that keep the values as they are (poisson) must
    # not hold a view of the caller's data frame
    y = SimpleNamespace(kind="numeric",
                        design_matrix=column.to_numpy(copy=True).reshape(-1, 1))
    return SimpleNamespace(response=y), X, names, terms
