"""Formula terms coded as R codes them, on top of formulae's design matrices.

formulae evaluates the terms; this module makes the result equal lme4's ``lFormula``:

- **data columns** are checked first (fastgibbs.columns: one type per column, no
  duplicate names, no dates; numbers stored as text get a warning) and prepared: an
  unordered pandas Categorical keeps its own category order, so its reference level is
  its first category (R's ``factor`` levels; plain strings are sorted, as R's
  ``factor()`` sorts them);
  categories that do not occur are dropped, ordered or not (R's ``drop.unused.levels``);
- **ordered Categoricals** get R's polynomial contrasts ``contr.poly`` (columns ``x[.L]``,
  ``x[.Q]``, ``x[.C]``, ``x[^4]``, ...); ``C(x, Treatment)`` (or R's
  ``C(x, contr.treatment)``) asks for treatment coding in category order;
- **R's functions** are available without ``np.``: ``log``, ``exp``, ``sqrt``, ...,
  ``factor`` (with ``levels = c(...)``), ``relevel``, ``as.numeric``, ``dummy`` (lme4),
  ``ns`` (splines), ``TRUE``/``FALSE``;
  ``scale(x)`` divides by the sample sd (n - 1) as R does (formulae's divides by n).

:class:`FixedTerms` keeps what is needed to code new data the same way (``predict``).
"""
from types import SimpleNamespace
import math

import numpy as np
import pandas as pd
from formulae import design_matrices
from formulae.categorical import ENCODINGS, CategoricalBox, ContrastMatrix, Encoding, Sum, \
    Treatment
from formulae.environment import Environment
from formulae.transforms import TRANSFORMS

from .columns import bare_terms, bool_factor, column_kind, format_level, prepare_data, \
    type_change
from .formula import FormulaError, is_call, tokenize

__all__ = ["FixedTerms", "Poly", "contr_poly", "evaluate_terms"]


# ---- contrasts ----------------------------------------------------------------------

def contr_poly(n):
    """R's ``contr.poly(n)``: (n, n - 1) orthonormal polynomial contrasts in the scores
    1..n and their labels (``.L``, ``.Q``, ``.C``, ``^4``, ...).

    As R's ``make.poly``: the QR decomposition of the centred Vandermonde matrix, Q's
    columns signed by diag(R) (so the linear contrast increases), constant dropped."""
    scores = np.arange(1, n + 1, dtype=float)
    vander = np.vander(scores - scores.mean(), n, increasing=True)
    q, r = np.linalg.qr(vander)
    z = q * np.sign(np.diag(r))
    labels = [".L", ".Q", ".C"][: n - 1] + [f"^{k}" for k in range(4, n)]
    return z[:, 1:], labels


class Poly(Encoding):
    """formulae encoding with R's ``contr.poly`` contrasts (for ordered factors)."""

    def code_with_intercept(self, levels):
        # R codes a factor by indicators when its contrasts cannot apply (no intercept)
        return ContrastMatrix(np.eye(len(levels)), [str(level) for level in levels])

    def code_without_intercept(self, levels):
        matrix, labels = contr_poly(len(levels))
        return ContrastMatrix(matrix, labels)


# ---- R's functions --------------------------------------------------------------------

def _values(x):
    return x if isinstance(x, pd.Series) else pd.Series(np.asarray(x))


def factor(x, levels=None):
    """R's ``factor(x)``: categorical levels in x's own order (a Categorical), in
    numeric order (numbers) or sorted (strings); labels as R prints them."""
    if isinstance(x, CategoricalBox):
        x = pd.Series(x.data)
    x = _values(x)
    if isinstance(x.dtype, pd.CategoricalDtype):
        present = set(x.dropna())
        order = [c for c in x.cat.categories if c in present]
        ordered = x.dtype.ordered
        data = x.astype(object)
    else:
        data = x
        order = sorted(pd.unique(x.dropna()))
        ordered = False
    if levels is not None:
        levels = [levels] if isinstance(levels, (str, int, float)) else list(levels)
        present = set(data.dropna())
        stray = sorted({format_level(v) for v in present if v not in set(levels)})
        if stray:
            raise ValueError(f"factor(): value(s) {', '.join(stray[:5])} are not among the "
                             f"levels given ({', '.join(format_level(v) for v in levels)})")
        # formulae's boxes hold the levels that occur (new rows are coded by the fitted ones)
        order = [v for v in levels if v in present]
    labels = {value: format_level(value) for value in order}
    coded = np.array([labels[v] if v in labels else format_level(v) for v in data], dtype=object)
    return CategoricalBox(coded, Poly() if ordered else None, [labels[v] for v in order])


class Relevel:
    """R's ``relevel(f, ref)``: a factor whose reference (first) level is ``ref``.
    Stateful only in that ``ref`` must be a level of the fitted data; new data may lack
    it (formulae codes new rows by the fitted levels)."""

    __stateful_transform__ = True

    def __init__(self):
        self.params_set = False

    def __call__(self, x, ref):
        box = factor(x)
        ref = format_level(ref)
        if not self.params_set and ref not in box.levels:
            raise ValueError(f"relevel(): {ref!r} is not a level of the column (levels "
                             f"{', '.join(box.levels[:8])})")
        self.params_set = True
        levels = [ref] + [level for level in box.levels if level != ref] \
            if ref in box.levels else list(box.levels)
        return CategoricalBox(box.data, box.contrast, levels)


def _c(*values):
    """R's ``c(...)``: the values as a list (for ``factor(x, levels = c(...))``)."""
    return list(values)


def ordered(x, levels=None):
    """R's ``ordered(x)``: a factor with polynomial contrasts."""
    box = factor(x, levels)
    return CategoricalBox(box.data, Poly(), box.levels)


def _remembered(values):
    """A list of levels as a transform's state: {position: level} (saved fits can
    write dicts of scalars, fastgibbs.fixed_design, not lists)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in enumerate(values)}


class AsNumeric:
    """R's ``as.numeric``: the codes (1, 2, ...) of a factor, the numbers of text.
    Stateful: a factor's codes are those of its categories in the fitted data, so new
    data whose Categorical lists other categories (or fewer) get the fitted codes."""

    __stateful_transform__ = True

    def __init__(self):
        self.params_set = False
        self.categories = None          # {code - 1: category} of a fitted factor

    @property
    def data_dependent(self):
        return self.categories is not None

    def __call__(self, x):
        x = _values(x)
        if not self.params_set:
            if isinstance(x.dtype, pd.CategoricalDtype):
                self.categories = _remembered(x.cat.categories)
            self.params_set = True
        if self.categories is None:
            if isinstance(x.dtype, pd.CategoricalDtype):
                raise ValueError("as.numeric() of a categorical column in new data, "
                                 "of a numeric or text one in the fitted data")
            return pd.to_numeric(x).astype(float)
        codes = {v: k + 1 for k, v in self.categories.items()}
        values = x.astype(object)
        unknown = sorted({str(v) for v in values if v not in codes})
        if unknown:
            raise ValueError(f"as.numeric(): the levels ({', '.join(unknown[:5])}) are not "
                             "among the fitted categories")
        return pd.Series([float(codes[v]) for v in values], index=x.index)


class Dummy:
    """lme4's ``dummy(f, levelsToKeep)``: 0/1 indicator columns of the given levels
    (all levels when None). Stateful: without levels, new data get the fitted data's
    levels (their own would give other columns under the same names)."""

    __stateful_transform__ = True

    def __init__(self):
        self.params_set = False
        self.levels = None              # {column: level} when levels were not given

    @property
    def data_dependent(self):
        return self.levels is not None

    def __call__(self, x, levels=None):
        x = _values(x)
        if levels is None:
            if not self.params_set:
                self.levels = _remembered(sorted(pd.unique(x.dropna())))
            levels = [self.levels[k] for k in sorted(self.levels)]
        self.params_set = True
        if isinstance(levels, (str, int, float)):
            levels = [levels]
        out = np.column_stack([(x.astype(object) == level).to_numpy(dtype=float)
                               for level in levels])
        return out[:, 0] if out.shape[1] == 1 else out


def dummy(x, levels=None):
    """lme4's ``dummy`` on one column (see :class:`Dummy`, the stateful version formulas
    use)."""
    return Dummy()(x, levels)


class RScale:
    """R's ``scale(x, center=TRUE, scale=TRUE)``: (x - mean) / sd with the sample sd
    (n - 1). Stateful: new data use the fitted mean and sd."""

    __stateful_transform__ = True

    def __init__(self):
        self.params_set = False
        self.mean = 0.0
        self.sd = 1.0

    def __call__(self, x, center=True, scale=True):
        x = np.asarray(x, dtype=float)
        if not self.params_set:
            self.mean = float(np.mean(x)) if center else 0.0
            if scale:
                # R: sd of the centred values; root mean square / (n-1) when center=FALSE
                self.sd = float(np.sqrt(np.sum((x - self.mean) ** 2) / (len(x) - 1)))
            self.params_set = True
        return (x - self.mean) / self.sd


class NaturalSpline:
    """R's ``splines::ns(x, df, knots, intercept=FALSE)``: a natural cubic spline with
    R's knots (``df - 1 - intercept`` interior knots at quantiles of x, boundary knots
    at its range), coded by formulae's natural cubic regression spline basis ``cr()``.
    With an intercept in the model the columns span the same space as R's ns() basis;
    the columns themselves differ. Stateful: new data use the fitted knots."""

    __stateful_transform__ = True

    def __init__(self):
        self.spline = TRANSFORMS["cr"]()

    def __call__(self, x, df=None, knots=None, intercept=False):
        x = np.asarray(x, dtype=float)
        if not self.spline.params_set:
            if knots is None:
                inner = (int(df) if df is not None else 1) - 1 - int(bool(intercept))
                # R: quantile(x, type 7) at equally spaced probabilities
                knots = np.quantile(x, np.linspace(0, 1, inner + 2)[1:-1]) if inner > 0 else []
            return self.spline(x, knots=np.asarray(knots, dtype=float),
                               center=not intercept)
        return self.spline(x)


def _log(x, base=math.e):
    return np.log(x) / (1.0 if base == math.e else np.log(base))


_R_MATH = {
    "log": _log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp,
    "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "floor": np.floor,
    "ceiling": np.ceil, "trunc": np.trunc, "sign": np.sign,
    "round": lambda x, digits=0: np.round(x, int(digits)),
    "pmin": np.minimum, "pmax": np.maximum,
}

# scale() must be renamed: formulae looks its own transforms up before any namespace
_SCALE = "fastgibbs_scale"

NAMESPACE = {
    **_R_MATH,
    "factor": factor, "as.factor": factor, "ordered": ordered, "dummy": Dummy,
    "relevel": Relevel, "c": _c,
    "ns": NaturalSpline,
    _SCALE: RScale, "np": np, "numpy": np,
    "as": SimpleNamespace(numeric=AsNumeric, integer=AsNumeric, factor=factor,
                          double=AsNumeric, ordered=ordered),
    "contr": SimpleNamespace(treatment=Treatment, sum=Sum, poly=Poly),
    "contr.treatment": Treatment, "contr.sum": Sum, "contr.poly": Poly, "Poly": Poly,
    "TRUE": True, "FALSE": False, "pi": math.pi,
}
_ENVIRONMENT = Environment([NAMESPACE])

# callee names formulae knows, plus ours
_KNOWN = set(TRANSFORMS) | set(ENCODINGS) | set(NAMESPACE)


def _check_function(name, text):
    head, *rest = name.split(".")
    if name in _KNOWN:
        return
    if head in NAMESPACE and not isinstance(NAMESPACE[head], (bool, float)):
        target = NAMESPACE[head]
        for attr in rest:
            target = getattr(target, attr, None)
        if callable(target):
            return
    r_names = ", ".join(sorted(k for k in _R_MATH)) + \
        ", factor, relevel, c, as.numeric, scale, dummy"
    raise FormulaError(f"unknown function {name!r} in {text!r}; R's {r_names} and numpy's "
                       "np.<function> are available (e.g. np.log1p)")


def _rewrite(text, ordered_names):
    """(formulae text, name map) with ordered factors wrapped in C(x, Poly) and scale()
    renamed; the map turns formulae's column labels back into the user's spellings."""
    tokens = tokenize(text)
    stack, pieces, last, renames = [], [], 0, []
    for i, tok in enumerate(tokens):
        if tok.kind == "(":
            stack.append(is_call(tokens, i))
            continue
        if tok.kind == ")":
            stack.pop()
            continue
        if tok.kind != "name":
            continue
        calls = i + 1 < len(tokens) and tokens[i + 1].kind == "("
        if calls:
            _check_function(tok.name, text)
            if tok.text == "scale":
                pieces += [text[last:tok.start], _SCALE]
                last = tok.end
                renames.append((f"{_SCALE}(", "scale("))
        elif not any(stack) and tok.name in ordered_names:
            pieces += [text[last:tok.start], f"C({tok.text}, Poly)"]
            last = tok.end
            renames.append((f"C({tok.name}, Poly)", tok.name))
    pieces.append(text[last:])
    return "".join(pieces), renames


def _label(name, renames):
    for old, new in renames:
        name = name.replace(old, new)
    return name


class FixedTerms:
    """The coded terms of one side of a formula, for new data: formulae's evaluated
    terms, the label map and the columns kept (``keep``, after rank checks)."""

    def __init__(self, spec, renames, names, columns, keep=None, rhs=None):
        self.spec = spec
        self.rhs = rhs                      # the right-hand side formulae evaluated
        self.renames = tuple(renames)
        self.all_names = tuple(names)
        self.columns = tuple(columns)       # data columns the terms read
        self.keep = np.arange(len(names)) if keep is None else np.asarray(keep, dtype=np.intp)

    @property
    def names(self):
        return tuple(self.all_names[k] for k in self.keep)

    def cell_means(self):
        """(n_kept,) bool: columns of a term whose categorical components are all
        coded by one indicator per level (``0 + f``, ``0 + f:h``), so that its columns
        span the intercept and each coefficient is a level's (cell's) mean. Only a model
        without an intercept has such terms; interactions with numbers (``0 + f:x``)
        are slopes."""
        flags = [type(term).__name__ != "Intercept" and bool(term.components)
                 and all(c.kind == "categoric" and c.spans_intercept is True
                         for c in term.components)
                 for term in self.spec.terms.values() for _ in _flat(term.labels)]
        return np.array([flags[k] for k in self.keep], dtype=bool)

    def keep_only(self, keep):
        """A copy that keeps the columns ``keep`` (indices into the current columns)."""
        return FixedTerms(self.spec, self.renames, self.all_names, self.columns,
                          self.keep[np.asarray(keep, dtype=np.intp)], self.rhs)

    def evaluate(self, data):
        """Design columns (n, n_kept) of new rows ``data`` (a DataFrame); missing values
        in the columns the terms read are refused (formulae would code a missing
        category as an unseen level, and no row may be dropped silently)."""
        used = [name for name in self.columns if name in data.columns]
        missing = [name for name in used if data[name].isna().any()]
        if missing:
            raise ValueError(f"newdata has missing values in column(s) {missing}; "
                             "predictions need every value the formula reads")
        # a column of another type than fitted is refused, as R does: formulae would
        # code True/False given for numbers as 1/0, and 0/1 given for a True/False
        # predictor as True, whatever the value
        why = self._type_change(data)
        if why:
            raise ValueError(why)
        frame, _ = prepare_data(data, self.columns, checks=False)
        for name in bare_terms(self.rhs) if self.rhs else ():   # R's factor of a logical
            if name in frame.columns and column_kind(frame[name], name) == "bool":
                frame[name] = bool_factor(frame[name])
        try:
            X = np.asarray(self.spec.evaluate_new_data(frame).design_matrix, dtype=float)
        except Exception as err:
            # the types matched (checked above): formulae failed on a level not fitted
            why = self._new_level(data) if "not present in the original data" in str(err) \
                else None
            if why:
                raise ValueError(why) from None
            raise
        return X.reshape(len(data), len(self.all_names))[:, self.keep]   # 0 rows too

    def _type_change(self, data):
        return type_change(getattr(self.spec, "data", None), data, self.columns)

    def unusable_without_record(self):
        """Why new data coded on their own may not match the fitted design (a
        categorical predictor, a stateful transform); None when nothing depends on the
        fitted data (fastgibbs.fixed_design.unusable_without_record)."""
        from .fixed_design import unusable_without_record
        return unusable_without_record(self.spec)

    def _new_level(self, data):
        """Which level of a categorical column of ``data`` the fitted data lack (formulae's
        own message names neither the column nor the fitted levels); or None."""
        fitted = getattr(self.spec, "data", None)
        if not isinstance(fitted, pd.DataFrame):
            return None
        for name in self.columns:
            if name not in fitted.columns or name not in data.columns \
                    or not isinstance(fitted[name].dtype, pd.CategoricalDtype):
                continue
            levels = list(fitted[name].cat.categories)
            new = [v for v in pd.unique(data[name].dropna()) if v not in set(levels)]
            if new:
                shown = ", ".join(format_level(v) for v in new[:5])
                return (f"newdata column {name!r} has level(s) {shown} that the fitted "
                        f"data do not have (levels {', '.join(map(format_level, levels[:10]))}"
                        f"{', ...' if len(levels) > 10 else ''}): a coefficient of the "
                        "model is needed for each level of a categorical predictor")
        return None


def expand_nesting(rhs):
    """``rhs`` with R's nesting operator written out as its terms: ``h/x`` -> ``1 + h +
    h:x`` (R's ``h + h:x``); other right-hand sides unchanged. formulae reads ``h/x``
    with one component ``h`` shared by its two terms: coding ``h:x`` marks that ``h``
    as spanning the intercept, so the term ``h`` (coded by contrasts) is then labelled
    by all its levels, and new rows get one column too many."""
    from .formula import _term_text   # the term as text, as formulae shows it

    tokens = tokenize(rhs)
    stack, nested = [], False
    for i, tok in enumerate(tokens):
        if tok.kind == "(":
            stack.append(is_call(tokens, i))
        elif tok.kind == ")":
            stack.pop()
        elif tok.kind == "op" and tok.text == "/" and not any(stack):
            nested = True
    if not nested:
        return rhs
    import formulae

    try:
        description = formulae.model_description(f"fastgibbs_lhs ~ {rhs}")
    except Exception:               # formulae's own message comes when it evaluates rhs
        return rhs
    if description.group_terms:
        return rhs
    terms = []
    for term in description.terms:
        if type(term).__name__ == "Intercept":
            terms.append("1")
        elif hasattr(term, "components"):
            terms.append(_term_text(term))
        else:                       # not a plain term: leave it to formulae
            return rhs
    if "1" not in terms:
        terms.insert(0, "0")
    return " + ".join(terms)


def evaluate_terms(response, rhs, data, keep=(), checks=True):
    """formulae's design matrices of ``response ~ rhs`` on ``data``, coded as R codes them.

    Returns (design matrices, X (n, p) float, column names, FixedTerms or None). The
    intercept is the first column, as in R. ``checks=False`` (new data) skips the
    warnings and checks meant for the data a model is fitted to."""
    response_names = {t.name for t in tokenize(response) if t.kind == "name"}
    names = response_names | {t.name for t in tokenize(rhs) if t.kind == "name"}
    rhs = expand_nesting(rhs)
    frame, ordered_names = prepare_data(data, sorted(names), bare_terms(rhs), keep=keep,
                                        checks=checks)
    response_coded, _ = _rewrite(response, set())
    rhs_coded, renames = _rewrite(rhs, ordered_names)
    try:
        dm = design_matrices(f"{response_coded} ~ {rhs_coded}", frame, na_action="error",
                             env=_ENVIRONMENT)
    except (TypeError, AttributeError) as err:    # a function called with bad arguments
        shown = rhs if response == "fastgibbs_lhs_response" else f"{response} ~ {rhs}"
        raise FormulaError(f"cannot evaluate {shown}: {err}") from None
    if dm.common is None:
        return dm, np.zeros((len(frame), 0), order="F"), (), None
    # the column labels as formulae's as_dataframe() gives them, without its copies
    labels = tuple(_label(str(c), renames)
                   for term in dm.common.terms.values() for c in _flat(term.labels))
    X = np.asarray(dm.common.design_matrix, dtype=float)
    if X.shape[1] != len(labels):
        raise AssertionError(f"formulae gave {X.shape[1]} columns for {len(labels)} labels")
    order = r_column_order(dm.common.terms.values())
    if sorted(order) != list(range(len(labels))):
        raise AssertionError(f"the column order {order} does not cover {len(labels)} columns")
    # the columns the terms read: not the response's (a placeholder for a bar or new rows)
    columns = [name for name in sorted(names) if name in frame.columns and name not in keep
               and name not in response_names]
    terms = FixedTerms(dm.common, renames, labels, columns, keep=order, rhs=rhs_coded)
    return dm, _fortran_columns(X, order), terms.names, terms


def r_column_order(terms):
    """The design's columns (formulae's order) in R's ``model.matrix`` order, as lme4
    gives them: the intercept, then the terms by their number of variables (R's
    ``terms(keep.order = FALSE)``; ``a * b + c`` puts ``c`` before ``a:b``), in
    formula order within a degree; within an interaction the first variable of the
    formula varies fastest (``recipe * temperature``: ``recipeB:temperature.L,
    recipeC:temperature.L, ...``), where formulae makes the last one vary fastest.
    ``terms``: formulae's terms in its order. Names are left as formulae gives them."""
    terms = list(terms)
    first_seen = {}
    for term in terms:
        for component in getattr(term, "components", ()):
            first_seen.setdefault(component.name, len(first_seen))
    blocks, start = [], 0
    for position, term in enumerate(terms):
        width = len(_flat(term.labels))
        components = list(getattr(term, "components", ()))
        columns = np.arange(start, start + width)
        sizes = [len(_flat(c.labels)) for c in components]
        if len(components) > 1 and int(np.prod(sizes)) == width:
            # formulae enumerates the product of the components' columns with the last
            # one fastest; R with the variable that comes first in the formula fastest
            rank = [first_seen[c.name] for c in components]
            axes = sorted(range(len(components)), key=lambda a: rank[a])
            columns = columns.reshape(sizes).transpose(axes[::-1]).ravel()
        degree = 0 if type(term).__name__ == "Intercept" else len(components)
        blocks.append((degree, position, columns))
        start += width
    return [int(c) for _, _, columns in sorted(blocks, key=lambda b: b[:2]) for c in columns]


def _fortran_columns(X, order):
    """``np.asfortranarray(X[:, order])`` of a C-ordered X (n, p), copied by blocks of
    rows that stay in cache (2.5x faster than numpy's copy at 10^6 x 10)."""
    out = np.empty((X.shape[0], len(order)), order="F")
    same = list(order) == list(range(X.shape[1]))
    for start in range(0, X.shape[0], 1024):
        rows = X[start:start + 1024]
        out[start:start + 1024] = rows if same else rows[:, order]
    return out


def _flat(labels):
    """A term's labels (a string or nested lists of strings) as a flat list."""
    if isinstance(labels, str):
        return [labels]
    return [label for item in labels for label in _flat(item)]
