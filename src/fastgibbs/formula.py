"""lme4-style model formulas: split a formula into its response, its fixed part and its
group terms. Parsing only; evaluation on data lives in design.py.

The grammar is the `formulae` package's (the parser behind bambi); this module only
locates the parenthesised group terms ``(lhs | factor)`` and ``(lhs || factor)`` (which
formulae's grammar does not know) so that each keeps its own left-hand side, and
expands nesting on the right-hand side as lme4 does: ``(1 | a/b)`` is ``(1 | a) +
(1 | a:b)``.
"""
from dataclasses import dataclass
import re

__all__ = ["FormulaError", "GroupTerm", "ParsedFormula", "parse_formula"]


class FormulaError(ValueError):
    """A formula that cannot be parsed or is not a supported multilevel formula."""


@dataclass(frozen=True)
class GroupTerm:
    """One grouping factor of a bar expression ``(lhs | factor)``.

    ``variables`` are the data columns whose combinations define the groups
    (``("a", "b")`` for ``a:b``); ``correlated`` is False for ``||``.
    """

    lhs: str
    variables: tuple
    correlated: bool

    @property
    def factor(self):
        """The factor's name in parameter labels, e.g. ``"state"`` or ``"a:b"``."""
        return ":".join(self.variables)


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into ``response``, the formulae formula for the fixed part
    (``fixed``), and its group terms (``groups``)."""

    formula: str
    response: str
    fixed: str
    groups: tuple
    variables: frozenset  # every name the formula refers to


_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def _bar_spans(rhs):
    """(start, end, inner) of each top-level parenthesised term containing a bar."""
    spans, depth, start = [], 0, None
    for i, ch in enumerate(rhs):
        if ch == "(":
            if depth == 0:
                before = rhs[:i].rstrip()
                is_call = bool(before) and (before[-1].isalnum() or before[-1] in "_.)")
                start = None if is_call else i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError("unbalanced ')' in formula")
            if depth == 0 and start is not None:
                inner = rhs[start + 1:i]
                if _top_level_bar(inner) is not None:
                    spans.append((start, i + 1, inner))
                start = None
    if depth != 0:
        raise FormulaError("unbalanced '(' in formula")
    return spans


def _top_level_bar(inner):
    """Index of the first '|' at depth 0 in ``inner``, or None."""
    depth = 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            return i
    return None


def _factor_variables(text, term):
    """Expand a bar's right-hand side: ``a/b`` -> [(a,), (a, b)]; ``a:b`` -> [(a, b)]."""
    nested = [part.strip() for part in text.split("/")]
    out, prefix = [], ()
    for part in nested:
        names = tuple(name.strip() for name in part.split(":"))
        for name in names:
            if not _NAME.match(name):
                raise FormulaError(
                    f"grouping factor {name!r} in {term!r} must be a column name "
                    "(use a:b for combinations and a/b for nesting)")
        prefix = prefix + names
        out.append(prefix)
    return out


def parse_formula(formula):
    """Split ``formula`` into a :class:`ParsedFormula`.

    Raises FormulaError (a ValueError) for text that formulae cannot parse, for a
    formula without ``~`` or a response, and for malformed group terms.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}")
    if formula.count("~") != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' with the response on its left")
    response, rhs = (part.strip() for part in formula.split("~"))
    if not response:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    if not rhs:
        raise FormulaError(f"formula {formula!r} has nothing on the right of '~'")

    groups, pieces, last = [], [], 0
    for start, end, inner in _bar_spans(rhs):
        bar = _top_level_bar(inner)
        correlated = not inner[bar + 1:].startswith("|")
        lhs = inner[:bar].strip()
        factor_text = inner[bar + (1 if correlated else 2):].strip()
        term = f"({inner})"
        if not lhs or not factor_text:
            raise FormulaError(f"group term {term!r} needs an expression on both sides of '|'")
        for variables in _factor_variables(factor_text, term):
            groups.append(GroupTerm(lhs=lhs, variables=variables, correlated=correlated))
        pieces.append(rhs[last:start])
        last = end
    pieces.append(rhs[last:])
    fixed_rhs = _clean_sum("".join(pieces))
    fixed = f"{response} ~ {fixed_rhs if fixed_rhs else '1'}"

    # Let formulae validate the whole formula (with '||' written as '|', which its
    # grammar treats identically for parsing purposes).
    import formulae  # imported here: it takes ~0.5 s (scipy.interpolate)

    try:
        description = formulae.model_description(formula.replace("||", "|"))
    except Exception as err:  # formulae raises ParseError, ScanError, ValueError ...
        raise FormulaError(f"cannot parse formula {formula!r}: {err}") from None
    variables = {name for name in description.var_names if name}
    for group in groups:
        variables.update(group.variables)
    return ParsedFormula(formula=formula, response=response, fixed=fixed,
                         groups=tuple(groups), variables=frozenset(variables))


def _clean_sum(text):
    """Tidy the '+' signs left where group terms were cut out of a sum."""
    text = re.sub(r"\+\s*(?=\+|$)", "", text.strip())
    text = re.sub(r"^\s*\+", "", text)
    return re.sub(r"\s+", " ", text).strip()
