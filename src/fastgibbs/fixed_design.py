"""The fixed-effects design of a fit as JSON, so that a saved fit predicts exactly as the
fitted one did.

formulae's design spec cannot be written to a file: it holds lazily evaluated calls,
transform objects and the fitted data frame. :func:`describe` keeps instead what
rebuilds it (the record, a JSON object):

- ``columns``: the design columns, ``fit.fixed_names``;
- ``trials``: for binomial responses ``p(successes, trials)``, ``{"column": name}`` or
  ``{"constant": n}``; None otherwise;
- ``rhs``: the right-hand side formulae evaluated for the fixed part (as
  fastgibbs.coding rewrote it for R's coding), and what fastgibbs.coding.FixedTerms
  keeps beside formulae's spec: ``labels`` (the column names it gives, in formulae's
  order), ``renames``, ``data_columns`` and ``keep`` (the columns kept, in the fit's
  order);
- ``prototype``: a few rows of the fitted data (only the columns the fixed part uses,
  with their dtypes, categories and category order) holding every level of every
  categorical predictor, so that evaluating ``rhs`` on them gives the same levels,
  reference levels and contrasts;
- ``transforms``: the state of each stateful transform (``scale(x)``'s mean and sd,
  ``center``, ``poly``), in the order formulae evaluates them;
- ``x``: the fitted design's values on the first (at most 20) prototype rows, against
  which the rebuilt design is checked bit for bit, when saving and again when loading
  (the column names check the levels);
- ``bars`` (when some group term has columns other than the intercept): per block, per
  bar, None (an intercept), the keys ``rhs`` ... ``x`` of the bar's left-hand side, or
  ``{"unsupported": why}``, so that a loaded fit codes ``(scale(x) | g)`` or
  ``(0 + f | g)`` on new data with the fitted state and levels, not newdata's.

:func:`rebuild` evaluates ``rhs`` on the prototype, puts the transforms' state back and
checks ``columns`` and ``x``. A design that does not survive this (a transform whose
state is not plain numbers, such as the cubic splines) is recorded as
``{"columns", "trials", "unsupported": why}``; a loaded fit's ``predict`` then says why.
A record with neither ``rhs`` nor ``unsupported`` (a fit without its design, such as
those made by ``fg.study`` in other processes) lets ``predict`` re-evaluate the formula
on new data, which :func:`fastgibbs.design.evaluate_new_data` allows only for designs
without categorical predictors or stateful transforms.
"""
import numbers

import numpy as np
import pandas as pd

from .formula import plain_summands
from .plain_design import PlainTerms, numpy_numbers

__all__ = ["describe", "rebuild", "trials_source", "check_record", "walk_calls",
           "unusable_without_record"]

RESPONSE = "fastgibbs_lhs_response"
N_FIRST_ROWS = 3        # rows of the prototype beyond the level representatives
N_CHECKED_ROWS = 20     # prototype rows whose design values are saved and checked
# pandas dtypes a prototype column may have (anything else is not a formulae predictor)
DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64",
          "uint32", "uint16", "uint8", "bool", "object", "str", "string", "Int64", "Int32",
          "Int16", "Int8", "UInt64", "UInt32", "UInt16", "UInt8", "Float64", "Float32",
          "boolean", "category"}
SCALARS = (str, bool, int, float, type(None))
MAX_DEPTH = 4           # nesting of a transform's state (poly: a dict of floats)
MAX_CALL_LEVELS = 200   # values of a text column read in a call kept in the prototype


class Unsupported(Exception):
    """The design cannot be written as a record (the reason is the message)."""


# ----------------------------------------------------------------------------------
# Trials of a binomial response
# ----------------------------------------------------------------------------------
def trials_source(formula):
    """``{"column": name}`` or ``{"constant": n}`` for a response ``p(s, trials)``
    (also ``prop``/``proportion``), else None."""
    from .formula import load_formulae, parse_formula

    try:
        parsed = parse_formula(formula)
    except Exception:           # the formula's own errors: no binomial response to read
        return None
    if parsed.response.isidentifier():      # a column: no trials
        return None
    formulae = load_formulae()
    try:
        response = formulae.model_description(parsed.fixed).response
    except Exception:           # formulae's own errors: no binomial response to read
        return None
    components = getattr(getattr(response, "term", None), "components", [])
    call = getattr(components[0], "call", None) if len(components) == 1 else None
    if call is None or getattr(call, "callee", None) not in ("p", "prop", "proportion") \
            or len(call.args) != 2:
        return None
    trials = call.args[1]
    if hasattr(trials, "name"):
        return {"column": str(trials.name)}
    value = getattr(trials, "value", None)
    if isinstance(value, numbers.Real):
        return {"constant": value}
    # an expression of columns, e.g. s + (f) for cbind(s, f): its text in the response
    response_text = parsed.response
    inner = response_text[response_text.index("(") + 1:response_text.rindex(")")]
    depth = 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            return {"expression": inner[i + 1:].strip()}
    return None


# ----------------------------------------------------------------------------------
# Stateful transforms
# ----------------------------------------------------------------------------------
def walk_calls(spec):
    """Every formulae LazyCall in the terms of ``spec``, in evaluation order."""
    out = []

    def visit(node):
        for arg in getattr(node, "args", ()):
            visit(arg)
        for arg in getattr(node, "kwargs", {}).values():
            visit(arg)
        if hasattr(node, "callee"):
            out.append(node)

    for term in spec.terms.values():
        for component in getattr(term, "components", ()):
            if hasattr(component, "call"):
                visit(component.call)
    return out


def _encode(value, depth=0):
    """A transform's state value as JSON; raises Unsupported for anything else."""
    if depth > MAX_DEPTH:
        raise Unsupported("a transform's state is nested too deeply")
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"array": value.dtype.str, "shape": list(value.shape),
                "data": value.reshape(-1).tolist()}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, depth + 1), _encode(v, depth + 1)]
                         for k, v in value.items()]}
    raise Unsupported(f"a transform keeps a {type(value).__name__}, which is not saved")


def _decode(value, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("a transform's state is nested too deeply")
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, dict) and set(value) == {"array", "shape", "data"}:
        dtype = np.dtype(_string(value["array"], "array dtype"))
        if dtype.kind not in "biuf":
            raise ValueError(f"array of dtype {dtype} in a transform's state")
        shape = [_count(n, "array shape") for n in _list(value["shape"], "array shape")]
        data = _list(value["data"], "array data")
        if not all(isinstance(v, (numbers.Real)) for v in data) or len(data) != np.prod(shape):
            raise ValueError("array data do not match its shape")
        return np.array(data, dtype=dtype).reshape(shape)
    if isinstance(value, dict) and set(value) == {"dict"}:
        pairs = _list(value["dict"], "dict")
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError("a dict in a transform's state is not a list of pairs")
        return {_decode(k, depth + 1): _decode(v, depth + 1) for k, v in pairs}
    raise ValueError(f"unreadable transform state {str(value)[:60]!r}")


def unusable_without_record(spec):
    """Why new data evaluated on their own (``spec``) may not match the fitted design:
    a categorical predictor (its levels) or a stateful transform; None otherwise."""
    for term in spec.terms.values():
        for component in getattr(term, "components", ()):
            if component.kind == "categoric":
                return f"{component.name!r} is categorical (its levels would be newdata's)"
    for call in walk_calls(spec):
        # fastgibbs's own transforms say whether their state came from the data
        # (dummy(f) without levels, as.numeric of a factor)
        if call.stateful_transform is not None \
                and getattr(call.stateful_transform, "data_dependent", True):
            return f"{call.callee}() is a stateful transform (its state would be newdata's)"
    return None


# ----------------------------------------------------------------------------------
# Prototype rows
# ----------------------------------------------------------------------------------
def _prototype_rows(spec):
    """Positions of the first rows, of a first row of every level of every categorical
    component (levels told apart by their rows of the design), and of a first row of
    every value of a column of text or categories read inside a call (``dummy(f)``
    takes its columns from the values it sees)."""
    n_rows = len(spec.design_matrix)
    rows = set(range(min(N_FIRST_ROWS, n_rows)))
    for term in spec.terms.values():
        for component in getattr(term, "components", ()):
            if component.kind == "categoric":
                value = np.asarray(component.value, dtype=float).reshape(n_rows, -1)
                rows.update(np.unique(value, axis=0, return_index=True)[1].tolist())
    for name in sorted({name for term in spec.terms.values()
                        for name in getattr(term, "var_names", set())
                        if name in spec.data.columns}):
        column = spec.data[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            codes = pd.factorize(column)[0]
            if codes.max(initial=-1) < MAX_CALL_LEVELS:     # not, e.g., numbers as text
                rows.update(np.unique(codes, return_index=True)[1].tolist())
    return sorted(rows)


def _scalar(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if not isinstance(value, SCALARS):
        raise Unsupported(f"a predictor holds a {type(value).__name__}, which is not saved")
    return value


def _column_to_json(series):
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {"dtype": "category", "values": [_scalar(v) for v in series.astype(object)],
                "categories": [_scalar(v) for v in dtype.categories],
                "ordered": bool(dtype.ordered)}
    name = str(dtype)
    if name not in DTYPES:
        raise Unsupported(f"column {series.name!r} has dtype {name}, which is not saved")
    return {"dtype": name, "values": [_scalar(v) for v in series.astype(object)]}


def _column_from_json(entry, name=None):
    values = entry["values"]
    if entry["dtype"] == "category":
        known = set(entry["categories"])
        stray = [v for v in values if v is not None and v == v and v not in known]
        if stray:
            raise ValueError(f"saved column {name!r} holds value(s) {stray[:3]} that are "
                             "not among its saved categories: the record was edited")
        categorical = pd.Categorical(values, categories=entry["categories"],
                                     ordered=entry["ordered"])
        return pd.Series(categorical)
    return pd.Series(values, dtype=entry["dtype"])


def _prototype(record):
    columns = {name: _column_from_json(entry, name)
               for name, entry in record["prototype"].items()}
    n_rows = len(next(iter(columns.values()))) if columns else len(record["x"])
    return pd.DataFrame(columns, index=range(n_rows))


# ----------------------------------------------------------------------------------
# describe / rebuild
# ----------------------------------------------------------------------------------
TERMS_KEYS = {"rhs", "labels", "renames", "data_columns", "keep", "prototype", "transforms",
              "x"}


def _terms_record(terms):
    """The keys ``rhs`` ... ``x`` (see the module docstring) of one side's coded terms
    (a fastgibbs.coding.FixedTerms or fastgibbs.plain_design.PlainTerms); raises
    Unsupported or another error when they cannot be written."""
    if isinstance(terms, PlainTerms):   # what formulae's spec of the same terms gives
        proto = terms.prototype
        return dict(
            rhs=terms.rhs, labels=list(terms.all_names), renames=[],
            data_columns=list(terms.columns), keep=[int(k) for k in terms.keep],
            prototype={name: _column_to_json(proto[name]) for name in terms.columns},
            transforms=[], x=terms.design_of(proto).tolist())
    spec = terms.spec
    data = spec.data
    rows = _prototype_rows(spec)
    used = sorted({name for term in spec.terms.values()
                   for name in getattr(term, "var_names", set()) if name in data.columns})
    proto = data.iloc[rows]
    return dict(
        rhs=terms.rhs, labels=list(terms.all_names),
        renames=[list(pair) for pair in terms.renames],
        data_columns=list(terms.columns), keep=[int(k) for k in terms.keep],
        prototype={name: _column_to_json(proto[name]) for name in used},
        transforms=[{"callee": call.callee, "class": type(call.stateful_transform).__name__,
                     "state": {k: _encode(v) for k, v in vars(call.stateful_transform).items()}}
                    for call in walk_calls(spec) if call.stateful_transform is not None],
        x=np.asarray(spec.design_matrix, dtype=float)[rows[:N_CHECKED_ROWS]].tolist())


def _why(err):
    return err if isinstance(err, (Unsupported, ValueError)) else f"{type(err).__name__}: {err}"


def _bars_record(coding):
    """Per block, per bar: None (an intercept), the bar's terms record, or
    ``{"unsupported": why}``; None when no bar has terms to code."""
    bars = getattr(coding, "bars", None) or ()
    if all(terms is None for block in bars for terms in block):
        return None
    out = []
    for block in bars:
        entries = []
        for terms in block:
            if terms is None:
                entries.append(None)
                continue
            try:
                entry = _terms_record(terms)
                _terms_from_record(entry, "group term's coding")     # must give it back
            except Exception as err:    # whatever the reason, this bar is not saved
                entry = {"unsupported": f"the coding of its group term {terms.rhs!r} "
                                        f"cannot be saved ({_why(err)})"}
            entries.append(entry)
        out.append(entries)
    return out


def describe(coding, fixed_names, formula):
    """The record of a fit's fixed-effects design, and of its group terms' columns
    under ``bars`` (see the module docstring).

    ``coding`` is the design's fastgibbs.design.TermCoding (None when the fit does not
    keep its design; its ``fixed`` is None when the fit has no fixed effects)."""
    record = {"columns": list(fixed_names), "trials": trials_source(formula)}
    terms = getattr(coding, "fixed", None)
    if terms is not None:
        try:
            record.update(_terms_record(terms))
            _fixed_from_record(record)  # the record must give back the fitted design
        except Exception as err:        # whatever the reason, the design is not saved
            record = {"columns": list(fixed_names), "trials": record["trials"],
                      "unsupported": f"its fixed-effect design cannot be saved ({_why(err)})"}
    bars = _bars_record(coding)
    if bars is not None:
        record["bars"] = bars
    return record


def _plain_from_record(record, proto):
    """PlainTerms from the keys ``rhs`` ... ``x`` of ``record`` when they describe a sum
    of numeric columns (as _terms_record writes it for one), else None."""
    plain = plain_summands(record["rhs"])
    if plain is None or record["renames"] or record["transforms"]:
        return None
    intercept, variables = plain
    if record["labels"] != ["Intercept"] * intercept + list(variables) \
            or record["data_columns"] != sorted(variables) \
            or set(proto.columns) != set(variables) \
            or not all(numpy_numbers(proto[name].dtype) for name in variables):
        return None
    return PlainTerms(record["rhs"], intercept, variables, proto[sorted(variables)],
                      record["keep"])


def _terms_from_record(record, what):
    """A fastgibbs.coding.FixedTerms (a PlainTerms for a sum of numeric columns) from
    the keys ``rhs`` ... ``x`` of ``record``; raises ValueError when it does not
    reproduce the recorded rows."""
    proto = _prototype(record)
    plain = _plain_from_record(record, proto)
    if plain is not None:
        x = plain.design_of(proto.iloc[:len(record["x"])])
        if x.shape != (len(record["x"]), len(plain.all_names)) or not np.array_equal(
                x, np.array(record["x"], dtype=float).reshape(x.shape), equal_nan=True):
            raise ValueError(f"the saved {what} does not reproduce the fitted one")
        return plain
    from formulae import design_matrices

    from .coding import _ENVIRONMENT, FixedTerms

    try:
        design = design_matrices(f"{RESPONSE} ~ {record['rhs']}",
                                 proto.assign(**{RESPONSE: 0.0}), na_action="error",
                                 env=_ENVIRONMENT)
    except Exception as err:        # formulae raises many kinds
        raise ValueError(f"the saved {what} does not evaluate: {err}") from None
    spec = design.common
    n_columns = 0 if spec is None else spec.design_matrix.shape[1]
    if spec is None or n_columns != len(record["labels"]):
        raise ValueError(f"the saved {what} gives {n_columns} columns, "
                         f"the record {len(record['labels'])}")
    calls = [call for call in walk_calls(spec) if call.stateful_transform is not None]
    saved = record["transforms"]
    if [(c.callee, type(c.stateful_transform).__name__) for c in calls] != \
            [(t["callee"], t["class"]) for t in saved]:
        raise ValueError(f"the saved {what}'s transforms do not match its formula")
    for call, entry in zip(calls, saved):
        state = {key: _decode(value) for key, value in entry["state"].items()}
        unknown = set(state) - set(vars(call.stateful_transform))
        if unknown:
            raise ValueError(f"unknown state {sorted(unknown)} of transform {call.callee}")
        vars(call.stateful_transform).update(state)
    try:
        checked = proto.iloc[:len(record["x"])]
        x = np.asarray(spec.evaluate_new_data(checked).design_matrix, dtype=float)
    except Exception as err:
        raise ValueError(f"the saved {what} does not evaluate: {err}") from None
    if x.shape != (len(record["x"]), n_columns) or not np.array_equal(
            x, np.array(record["x"], dtype=float).reshape(x.shape), equal_nan=True):
        raise ValueError(f"the saved {what} does not reproduce the fitted one")
    return FixedTerms(spec, [tuple(pair) for pair in record["renames"]], record["labels"],
                      record["data_columns"], record["keep"], record["rhs"])


def _fixed_from_record(record):
    terms = _terms_from_record(record, "fixed-effect design")
    if list(terms.names) != list(record["columns"]):
        raise ValueError(f"the saved fixed-effect design gives columns {list(terms.names)}, "
                         f"the fit has {record['columns']}")
    return terms


def rebuild(record):
    """A fastgibbs.design.TermCoding from a checked ``record``: its fixed part (None
    when the record has none) and its bars (an unsupported bar's entry is the reason, a
    string); raises ValueError when they do not reproduce the recorded columns and rows."""
    from .design import TermCoding

    fixed = _fixed_from_record(record) if "rhs" in record else None
    bars = tuple(tuple(None if entry is None else entry["unsupported"]
                       if "unsupported" in entry
                       else _terms_from_record(entry, "group term's coding")
                       for entry in block)
                 for block in record.get("bars") or ())
    return TermCoding(fixed=fixed, bars=bars)


# ----------------------------------------------------------------------------------
# Structure check of a record read from a file
# ----------------------------------------------------------------------------------
def _string(value, what):
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value


def _list(value, what):
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    return value


def _count(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer")
    return value


def check_record(record, fixed_names):
    """Raise ValueError unless ``record`` (from a file) has the structure
    :func:`describe` writes, for a fit with design columns ``fixed_names``."""
    if not isinstance(record, dict):
        raise ValueError("fixed_design must be an object")
    keys = set(record) - {"bars"}
    full = {"columns", "trials"} | TERMS_KEYS
    if keys not in ({"columns", "trials"}, {"columns", "trials", "unsupported"}, full):
        raise ValueError(f"fixed_design has keys {sorted(set(record))}")
    columns = _list(record["columns"], "fixed_design columns")
    if columns != list(fixed_names):
        raise ValueError("fixed_design columns differ from the fit's fixed effects")
    trials = record["trials"]
    if trials is not None and not (
            isinstance(trials, dict) and len(trials) == 1
            and (isinstance(trials.get("column"), str)
                 or isinstance(trials.get("expression"), str)
                 or (isinstance(trials.get("constant"), numbers.Real)
                     and not isinstance(trials.get("constant"), bool)))):
        raise ValueError("fixed_design trials must be {'column': name}, {'expression': text} "
                         "or {'constant': n}")
    if "unsupported" in keys:
        _string(record["unsupported"], "fixed_design unsupported")
    if keys == full:
        _check_terms(record, "fixed_design", n_columns=len(columns))
    if "bars" in record:
        for block in _list(record["bars"], "fixed_design bars"):
            for entry in _list(block, "fixed_design bars"):
                if entry is None:
                    continue
                if not isinstance(entry, dict):
                    raise ValueError("fixed_design bars must hold objects")
                if set(entry) == {"unsupported"}:
                    _string(entry["unsupported"], "fixed_design bars unsupported")
                elif set(entry) == TERMS_KEYS:
                    _check_terms(entry, "fixed_design bars")
                else:
                    raise ValueError(f"fixed_design bars entry has keys {sorted(entry)}")


def _check_terms(record, where, n_columns=None):
    """Check the keys ``rhs`` ... ``x`` of a record (``n_columns``: the columns kept)."""
    _string(record["rhs"], f"{where} rhs")
    labels = _list(record["labels"], f"{where} labels")
    for entry in labels + _list(record["data_columns"], f"{where} data_columns"):
        _string(entry, f"{where} labels and data_columns")
    for pair in _list(record["renames"], f"{where} renames"):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(s, str) for s in pair):
            raise ValueError(f"{where} renames must be pairs of strings")
    keep = _list(record["keep"], f"{where} keep")
    if (n_columns is not None and len(keep) != n_columns) or not all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(labels) for k in keep):
        raise ValueError(f"{where} keep must give a label for every column")
    x = _list(record["x"], f"{where} x")
    if not x or not all(isinstance(row, list) and len(row) == len(labels)
                        and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                for v in row) for row in x):
        raise ValueError(f"{where} x must be rows of numbers, one per formulae column")
    prototype = record["prototype"]
    if not isinstance(prototype, dict):
        raise ValueError(f"{where} prototype must be an object")
    lengths = {len(entry["values"]) if isinstance(entry, dict)
               and isinstance(entry.get("values"), list) else -1 for entry in prototype.values()}
    if len(lengths) > 1 or (lengths and min(lengths) < len(x)):
        raise ValueError(f"{where} prototype columns differ in length")
    for name, entry in prototype.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
            raise ValueError(f"{where} prototype column {name!r} is malformed")
        expected = {"dtype", "values"} | ({"categories", "ordered"}
                                          if entry["dtype"] == "category" else set())
        values = entry.get("values")
        if set(entry) != expected or not isinstance(values, list) \
                or not all(isinstance(v, SCALARS) for v in values):
            raise ValueError(f"{where} prototype column {name!r} is malformed")
        if entry["dtype"] == "category" and not (
                isinstance(entry["categories"], list) and isinstance(entry["ordered"], bool)
                and all(isinstance(v, SCALARS) for v in entry["categories"])):
            raise ValueError(f"{where} prototype column {name!r} has bad categories")
    for entry in _list(record["transforms"], f"{where} transforms"):
        if not isinstance(entry, dict) or set(entry) != {"callee", "class", "state"} \
                or not isinstance(entry["callee"], str) or not isinstance(entry["class"], str) \
                or not isinstance(entry["state"], dict):
            raise ValueError(f"{where} transforms are malformed")
        for value in entry["state"].values():
            _decode(value)
