"""lme4-style model formulas: split a formula into its response, its fixed part and its
group terms, translating R spellings into the grammar of the `formulae` package (the
parser behind bambi). Parsing only; evaluation on data lives in design.py and coding.py.

What is translated, so that a formula means what it means in lme4:

- group terms ``(lhs | factor)`` are cut out of the sum, one :class:`GroupTerm` per bar;
  nesting ``(1 | a/b)`` is ``(1 | a) + (1 | a:b)``; ``(a + b || g)`` is expanded as
  lme4's ``expandDoubleVerts`` does: ``(1 | g) + (0 + a | g) + (0 + b | g)``;
  a bare bar ``y ~ 1 | g`` is ``y ~ (1 | g)`` (R's ``|`` binds loosest); redundant
  parentheses ``((1 | g))`` are dropped; lme4 >= 2's ``us(x | g)`` and ``diag(x | g)``
  are ``(x | g)`` and ``(x || g)``;
- ``^`` is ``**`` (``(a + b + c)^2`` all two-way interactions, ``I(x^2)`` a power);
  ``a %in% b`` is ``a:b``; ``pkg::f(x)`` is ``f(x)`` for base R packages;
- ``.`` is every data column not in the response (when the columns are known);
- responses ``cbind(s, f)`` (successes, failures) and brms's ``s | trials(n)`` become
  the binomial form ``p(s, s + f)`` (``p(s, n)`` for ``cbind(s, n - s)``) and ``p(s, n)``.

Anything parsed that would otherwise be ignored is refused with a FormulaError that
shows the lme4 spelling: a ``|`` outside a group term, comparison or logical operators
between terms, a group term joined by anything but ``+``, lme4's ``cs()``/``ar1()``
covariance structures.
"""
from dataclasses import dataclass
import keyword
import re
import warnings

__all__ = ["FormulaError", "GroupTerm", "ParsedFormula", "Token", "parse_formula", "tokenize"]


class FormulaError(ValueError):
    """A formula that cannot be parsed or is not a supported multilevel formula."""


@dataclass(frozen=True)
class GroupTerm:
    """One bar ``(lhs | factor)`` with a single grouping factor.

    ``lhs`` is the formulae expression of the varying columns; ``variables`` are the
    data columns whose combinations define the groups (``("a", "b")`` for ``a:b``);
    ``source`` is the bar as written (for messages), e.g. ``"(Days || Subject)"``.
    """

    lhs: str
    variables: tuple
    source: str
    # the variables as written when some is wrapped in factor(): ("factor(g)",)
    labels: tuple = None

    @property
    def factor(self):
        """The factor's name in parameter labels, e.g. ``"state"``, ``"a:b"`` or, as lme4
        names it, ``"factor(g)"`` for ``(1 | factor(g))``."""
        return ":".join(self.labels or self.variables)


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into ``response`` (the formulae spelling, e.g. ``p(s, n)`` for
    ``cbind(s, n - s)``; ``response_text`` as written), the formulae formula of the
    fixed part (``fixed``), and its group terms (``groups``)."""

    formula: str
    response: str
    fixed: str
    groups: tuple
    variables: frozenset  # every name the formula refers to
    response_text: str = ""
    offsets: tuple = ()   # expressions of offset(...) terms (coefficient 1, as in lme4)


def _offset_expression(piece):
    """The expression inside a summand ``offset(expr)``, or None for other summands.

    An offset enters the linear predictor with coefficient 1 (lme4, brms); formulae
    would otherwise make it an ordinary column with a free coefficient."""
    match = re.fullmatch(r"\s*offset\s*\((.*)\)\s*", piece, flags=re.S)
    if match is None:
        return None
    inner = match.group(1).strip()
    depth = 0
    for ch in inner:                 # "offset(a) + b(c)" is not one offset call
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return None
    if not inner:
        raise FormulaError("offset() needs an expression, e.g. offset(np.log(exposure))")
    return inner


# ---- tokens -------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str      # name, number, string, op, (, ), ","
    text: str
    start: int
    end: int

    @property
    def name(self):
        """The identifier, without backticks (names only)."""
        return self.text[1:-1] if self.text.startswith("`") else self.text


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<op>%[^%\s]*%|\|\||\*\*|::|==|!=|<=|>=|&&|[-+*/:^~|<>!&=\[\]{}$@?])
  | (?P<paren>[(),])
""", re.X)


def tokenize(text):
    """Tokens of a formula (or part of one); raises FormulaError on a stray character."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FormulaError(f"unexpected character {text[pos]!r} in {text!r}")
        kind = match.lastgroup
        if kind != "ws":
            value = match.group()
            if kind == "name" and re.fullmatch(r"\.\d.*", value):
                kind = "number"
            tokens.append(Token(value if kind == "paren" else kind, value, match.start(),
                                match.end()))
        pos = match.end()
    return tokens


def _matching(tokens):
    """{index of '(': index of its ')'} and, per token, the indices of the enclosing '('."""
    pairs, stack, enclosing = {}, [], []
    for i, tok in enumerate(tokens):
        if tok.kind == ")":
            if not stack:
                raise FormulaError("unbalanced ')' in formula")
            pairs[stack.pop()] = i
        enclosing.append(tuple(stack))
        if tok.kind == "(":
            stack.append(i)
    if stack:
        raise FormulaError("unbalanced '(' in formula")
    return pairs, enclosing


def is_call(tokens, i):
    """Whether the '(' at ``tokens[i]`` opens a function call."""
    return i > 0 and tokens[i - 1].kind == "name"


def _text(text, tokens, lo, hi):
    """Source text of tokens[lo:hi]."""
    return text[tokens[lo].start:tokens[hi - 1].end] if hi > lo else ""


def _split_top(tokens, op):
    """Indices of ``op`` tokens at parenthesis depth 0."""
    depth, out = 0, []
    for i, tok in enumerate(tokens):
        depth += tok.kind == "("
        depth -= tok.kind == ")"
        if depth == 0 and tok.kind in ("op", ",") and tok.text == op:
            out.append(i)
    return out


def _pieces(text, op):
    """``text`` split at ``op`` (an operator token) at depth 0, pieces stripped."""
    tokens = tokenize(text)
    cuts = [-1] + _split_top(tokens, op) + [len(tokens)]
    return [_text(text, tokens, a + 1, b).strip() for a, b in zip(cuts, cuts[1:])]


# ---- R spellings ----------------------------------------------------------------------

# operators that formulae parses between terms and then silently drops (y ~ a == 1 is y ~ a)
_TERM_OPERATORS = {"+", "-", "*", "/", ":", "**", "^", "%in%"}
_BASE_PACKAGES = {"base", "stats", "splines", "lme4", "reformulas", "numpy"}


def _translate(text, columns=None, exclude=()):
    """An expression (a fixed part, a bar's left-hand side or a response) in formulae's
    grammar: ``^`` -> ``**``, ``%in%`` -> ``:``, ``pkg::`` dropped, ``.`` expanded."""
    tokens = tokenize(text)
    if not tokens:
        return ""
    pairs, enclosing = _matching(tokens)
    out, last = [], 0

    def replace(tok, new):
        nonlocal last
        out.append(text[last:tok.start])
        out.append(new)
        last = tok.end

    for i, tok in enumerate(tokens):
        in_call = any(is_call(tokens, j) for j in enclosing[i])
        if tok.kind == "op" and tok.text == "::":
            pkg = tokens[i - 1] if i > 0 else None
            if pkg is None or pkg.kind != "name" or i + 1 >= len(tokens) \
                    or tokens[i + 1].kind != "name":
                raise FormulaError(f"cannot read '::' in {text!r}")
            if pkg.name not in _BASE_PACKAGES:
                raise FormulaError(f"functions of R package {pkg.name!r} are not available: "
                                   f"{text!r}")
            continue
        if i + 1 < len(tokens) and tokens[i + 1].kind == "op" and tokens[i + 1].text == "::":
            replace(tok, "")            # the package name
            continue
        if tok.kind == "op" and tok.text == "^":
            replace(tok, "**")
        elif tok.kind == "op" and tok.text == "%in%":
            if in_call:
                raise FormulaError(f"R's %in% inside a function call is not supported in "
                                   f"{text!r}; compute the column in pandas first")
            replace(tok, ":")
        elif tok.kind == "op" and tok.text.startswith("%"):
            raise FormulaError(f"R operator {tok.text} is not supported in {text!r}")
        elif tok.kind == "op" and not in_call and tok.text not in _TERM_OPERATORS \
                and tok.text not in "{}[]":
            raise FormulaError(
                f"operator {tok.text!r} between terms in {text!r} would be ignored; "
                f"inside I() it is computed: e.g. I(x {tok.text} 1)"
                if tok.text in ("==", "!=", "<", ">", "<=", ">=", "&", "&&", "!")
                else f"operator {tok.text!r} is not allowed between terms in {text!r}")
        elif tok.kind == "name" and tok.text == "." and not in_call:
            if columns is None:
                raise FormulaError(f"'.' (all other columns) in {text!r} needs the data")
            names = [_quote(c) for c in columns if c not in exclude]
            if not names:
                raise FormulaError(f"'.' in {text!r} stands for no column")
            replace(tok, "(" + " + ".join(names) + ")")
    out.append(text[last:])
    return "".join(out).strip()


def _summands(text):
    """[(sign, summand)] of a sum at depth 0: 'x - 1 + (1|g)' -> [('', 'x'), ('-', '1'),
    ('+', '(1|g)')]; a leading unary sign stays in its summand ('-1 + x')."""
    tokens = tokenize(text)
    out, depth, start, sign = [], 0, 0, ""
    for i, tok in enumerate(tokens):
        depth += tok.kind == "("
        depth -= tok.kind == ")"
        binary = i > 0 and (tokens[i - 1].kind in ("name", "number", "string", ")")
                            or tokens[i - 1].text == "}")
        if depth == 0 and tok.kind == "op" and tok.text in "+-" and binary:
            out.append((sign, _text(text, tokens, start, i).strip()))
            sign, start = tok.text, i + 1
    out.append((sign, _text(text, tokens, start, len(tokens)).strip()))
    return out


def _quote(name):
    """A column name as a formula name (backticks unless it is an identifier)."""
    name = str(name)
    return name if re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", name) else f"`{name}`"


def _response_form(text):
    """(formulae response, names used): cbind(s, f) -> p(s, ...), s | trials(n) -> p(s, n)."""
    tokens = tokenize(text)
    bars = [i for i in _split_top(tokens, "|")] + _split_top(tokens, "||")
    if bars:
        outcome = _text(text, tokens, 0, bars[0]).strip()
        addition = _text(text, tokens, bars[0] + 1, len(tokens)).strip()
        match = re.fullmatch(r"trials\s*\((.*)\)", addition, re.S)
        if len(bars) > 1 or tokens[bars[0]].text != "|" or match is None:
            raise FormulaError(
                f"response {text!r}: of brms's addition terms only trials() is supported "
                "(write successes | trials(n)); weights(), cens(), se() ... are not")
        return f"p({_translate(outcome)}, {_translate(match.group(1))})"
    if len(tokens) >= 4 and tokens[0].kind == "name" and tokens[0].text == "cbind" \
            and tokens[1].kind == "(" and tokens[-1].kind == ")":
        pairs, _ = _matching(tokens)
        if pairs.get(1) == len(tokens) - 1:
            args = _pieces(_text(text, tokens, 2, len(tokens) - 1), ",")
            if len(args) != 2 or not all(args):
                raise FormulaError(f"response {text!r}: cbind() needs two columns, "
                                   "cbind(successes, failures)")
            successes, failures = (_translate(a) for a in args)
            total = re.fullmatch(r"(.+?)\s*-\s*\(?\s*" + re.escape(successes) + r"\s*\)?",
                                 failures)
            if total and "-" not in total.group(1) and "+" not in total.group(1):
                return f"p({successes}, {total.group(1).strip()})"
            return f"p({successes}, {successes} + ({failures}))"
    if _split_top(tokens, "/"):       # glmer's s/n with weights = n; formulae cannot read it
        raise FormulaError(f"response {text!r} is a ratio: for a binomial model write "
                           "cbind(successes, failures) or p(successes, trials) (lme4's "
                           "proportion with weights = trials); for a ratio as a gaussian "
                           f"response write I({text})")
    return _translate(text)


# ---- group terms ----------------------------------------------------------------------

def _strip_parens(text):
    """``text`` without parentheses that wrap all of it: '((1|g))' -> '1|g'."""
    while True:
        tokens = tokenize(text)
        if len(tokens) < 2 or tokens[0].kind != "(" or tokens[-1].kind != ")":
            return text.strip()
        pairs, _ = _matching(tokens)
        if pairs[0] != len(tokens) - 1:
            return text.strip()
        text = _text(text, tokens, 1, len(tokens) - 1)


def _bar(text):
    """(lhs, op, factor) when ``text`` (parentheses stripped) is ``lhs | factor``."""
    tokens = tokenize(text)
    cuts = _split_top(tokens, "|") + _split_top(tokens, "||")
    if not cuts:
        return None
    if len(cuts) > 1:
        raise FormulaError(f"group term ({text}) has more than one bar")
    i = cuts[0]
    lhs = _text(text, tokens, 0, i).strip()
    if any(t.kind == "op" and t.text in ("|", "||") for t in tokens[:i]):
        raise FormulaError(f"group term ({text}) holds another group term on its left; "
                           "write each as its own summand, e.g. y ~ x + (1 | g) + (1 | h)")
    return lhs, tokens[i].text, _text(text, tokens, i + 1, len(tokens)).strip()


_COVARIANCE_CALLS = {"us": "|", "diag": "||"}   # lme4 >= 2 spellings we can translate


def _bar_piece(piece):
    """(lhs, op, factor) when a summand of the right-hand side is a group term."""
    inner = _strip_parens(piece)
    tokens = tokenize(inner)
    if len(tokens) >= 3 and tokens[0].kind == "name" and tokens[1].kind == "(" \
            and tokens[-1].kind == ")" and _matching(tokens)[0].get(1) == len(tokens) - 1:
        call, args = tokens[0].text, _text(inner, tokens, 2, len(tokens) - 1)
        found = _bar(_strip_parens(_pieces(args, ",")[0]))
        if found is not None and call in {*_COVARIANCE_CALLS, "cs", "ar1"}:
            if call in _COVARIANCE_CALLS and len(_pieces(args, ",")) == 1:
                lhs, _, factor = found
                return lhs, _COVARIANCE_CALLS[call], factor
            raise FormulaError(
                f"{piece!r}: lme4's {call}() covariance structure is not supported; "
                "fastgibbs fits an unstructured covariance (x | g) or independent "
                "variances (x || g)")
    if tokens and tokens[0].kind == "(" or inner != piece.strip():
        return _bar(inner)
    return None


# a grouping variable wrapped in one of these is the column itself: grouping makes a
# factor of it anyway (lme4 names the term as written, "factor(g)")
_FACTOR_CALLS = ("factor", "as.factor")


def _grouping_variable(name, term):
    """(column, label) of one variable of a grouping factor: ``g`` -> (g, g),
    ``factor(g)`` -> (g, "factor(g)")."""
    tokens = tokenize(name)
    if len(tokens) == 1 and tokens[0].kind == "name":
        return tokens[0].name, tokens[0].name
    if len(tokens) == 4 and tokens[0].kind == "name" and tokens[0].text in _FACTOR_CALLS \
            and tokens[1].kind == "(" and tokens[2].kind == "name" and tokens[3].kind == ")":
        return tokens[2].name, f"{tokens[0].text}({tokens[2].text})"
    raise FormulaError(
        f"grouping factor {name!r} in {term!r} must be a column name or factor(column) "
        "(use a:b for combinations and a/b for nesting; compute other expressions as "
        "a column first, e.g. df['g2'] = ...)")


def _factor_variables(text, term):
    """Expand a bar's right-hand side: ``a/b`` -> [(a,), (a, b)]; ``a:b`` -> [(a, b)];
    pairs (columns, labels), the labels as written (``factor(a)``)."""
    out, prefix, prefix_labels = [], (), ()
    for part in _pieces(text, "/"):
        names, labels = [], []
        for name in _pieces(part, ":"):
            column, label = _grouping_variable(name, term)
            names.append(column)
            labels.append(label)
        prefix = prefix + tuple(names)
        prefix_labels = prefix_labels + tuple(labels)
        repeated = sorted({v for v in prefix if prefix.count(v) > 1})
        if repeated:
            raise FormulaError(f"grouping factor {text!r} in {term!r} repeats "
                               f"{repeated[0]!r}: g:g is g itself, and g/g would add a "
                               "second copy of g, whose two variances are not identified; "
                               "write each column once")
        out.append((prefix, prefix_labels))
    return out


def _term_text(term):
    """formulae text of a term of a model description (``a:b``, ``I(x ** 2)``)."""
    parts = []
    for component in term.components:
        if type(component).__name__ == "Variable":
            parts.append(_quote(component.name))
        else:
            parts.append(str(component.call))
    return ":".join(parts)


# names formulae may read as constants rather than as columns (fastgibbs.coding)
_CONSTANT_NAMES = {"TRUE", "FALSE", "pi"}


def plain_name(text):
    """Whether ``text`` is a column name as formulae reads one: an identifier that
    starts with a letter (formulae's scanner refuses a leading '_'), not a keyword."""
    return text.isidentifier() and text[0].isalpha() and not keyword.iskeyword(text)


def plain_summands(text):
    """(intercept, names) of a sum of column names, as ``1 + x + z``, ``0 + x``, ``x``
    or ``1`` (an optional leading 1 or 0, then distinct identifiers joined by ``+``);
    None for any other text, which formulae reads. Such a sum needs no formulae: its
    columns are the intercept (unless 0) and the named columns, in that order."""
    tokens = tokenize(text)
    items, joins = tokens[0::2], tokens[1::2]
    if len(tokens) % 2 == 0 or any(t.kind != "op" or t.text != "+" for t in joins):
        return None
    intercept = True
    if items[0].kind == "number" and items[0].text in ("0", "1"):
        intercept = items[0].text == "1"
        items = items[1:]
    names = tuple(t.text for t in items)
    if len(set(names)) < len(names) or not all(
            t.kind == "name" and plain_name(t.text) and t.text not in _CONSTANT_NAMES
            for t in items):
        return None
    return intercept, names


def _plain_variables(response, fixed_rhs, groups):
    """The variables of a formula whose response is a column name and whose fixed part
    and group terms' left-hand sides are sums of column names (plain_summands); None
    otherwise."""
    if not plain_name(response):
        return None
    variables = {response}
    for text in (fixed_rhs, *(group.lhs for group in groups)):
        plain = plain_summands(text)
        if plain is None:
            return None
        variables.update(plain[1])
    for group in groups:
        variables.update(group.variables)
    return variables


def load_formulae():
    """The formulae package, imported on first use (it takes ~0.3 s: scipy.interpolate).

    A failed import is reported as one, never as a bad formula: an import interrupted
    by Ctrl-C can leave scipy's compiled modules half registered, so that every later
    import in the session fails ("type ... is already registered")."""
    try:
        import formulae
    except ImportError as err:
        raise ImportError(f"cannot import formulae, which reads the formula: {err} (if this or "
                          "an earlier import was interrupted by Ctrl-C, restart Python)") from err
    return formulae


def _double_bar_terms(lhs, source):
    """lme4's expandDoubleVerts: the left-hand sides of ``(lhs || g)`` as separate bars."""
    plain = plain_summands(lhs)
    if plain is not None:
        intercept, names = plain
        return ["1"] * intercept + [f"0 + {name}" for name in names]
    formulae = load_formulae()
    try:
        description = formulae.model_description(f"fastgibbs_lhs ~ {lhs}")
    except Exception as err:
        raise FormulaError(f"cannot parse {source!r}: {err}") from None
    out = []
    for term in description.terms:
        if type(term).__name__ == "Intercept":
            out.append("1")
        elif hasattr(term, "components"):
            out.append(f"0 + {_term_text(term)}")
        else:
            raise FormulaError(f"{source!r}: cannot split {term} into independent terms")
    return out


# ---- the formula ----------------------------------------------------------------------

def parse_formula(formula, columns=None):
    """Split ``formula`` into a :class:`ParsedFormula`.

    ``columns`` (the data's column names) is needed only to expand ``.``. Raises
    FormulaError (a ValueError) for text that formulae cannot parse, for a formula
    without ``~`` or a response, for malformed group terms and for constructs that
    would be parsed and then ignored.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}")
    tokens = tokenize(formula)
    _matching(tokens)
    tildes = [i for i, t in enumerate(tokens) if t.kind == "op" and t.text == "~"]
    if len(tildes) != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one '~' with the response "
                           "on its left")
    response_text = _text(formula, tokens, 0, tildes[0]).strip()
    rhs = _text(formula, tokens, tildes[0] + 1, len(tokens)).strip()
    if not response_text:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    if not rhs:
        raise FormulaError(f"formula {formula!r} has nothing on the right of '~'")
    response = _response_form(response_text)
    response_names = {t.name for t in tokenize(response_text) if t.kind == "name"}

    rhs_tokens = tokenize(rhs)
    if _split_top(rhs_tokens, "|") or _split_top(rhs_tokens, "||"):
        rhs = f"({rhs})"        # R: '|' binds loosest, y ~ 1 | g is y ~ (1 | g)
        found = _bar(_strip_parens(rhs))
        if found is not None and found[0].replace(" ", "") not in ("1", "1+1"):
            warnings.warn(
                f"{formula!r} is read as lme4 reads it, {response_text} ~ {rhs}: "
                f"{found[0]!r} varies by {found[2]!r} and has no fixed effect; for a "
                f"fixed effect too write {response_text} ~ {found[0]} + {rhs}",
                stacklevel=3)

    groups, fixed_pieces, offsets = [], [], []
    for sign, piece in _summands(rhs):
        if not piece:
            raise FormulaError(f"cannot parse formula {formula!r}: an empty term (a stray "
                               f"'{sign or '+'}')")
        inner = _offset_expression(piece)
        if inner is not None:
            if sign == "-":
                raise FormulaError(f"'- {piece}' in {formula!r} is not supported; write "
                                   f"offset(-({inner}))")
            offsets.append(_translate(inner, columns, exclude=response_names))
            continue
        found = _bar_piece(piece)
        if found is None:
            fixed_pieces.append((sign, piece))
            continue
        if sign == "-":
            raise FormulaError(f"'- {piece}' in {formula!r}: a group term cannot be "
                               "subtracted; leave it out")
        lhs, op, factor_text = found
        source = f"({lhs} {op} {factor_text})"
        if not lhs or not factor_text:
            raise FormulaError(f"group term {source!r} needs an expression on both sides "
                               "of '|'")
        lhs = _translate(lhs)
        sides = _double_bar_terms(lhs, source) if op == "||" else [lhs]
        for variables, labels in _factor_variables(factor_text, source):
            groups.extend(GroupTerm(lhs=side, variables=variables, source=source,
                                    labels=None if labels == variables else labels)
                          for side in sides)
    for _, piece in fixed_pieces:
        if any(t.kind == "op" and t.text in ("|", "||") for t in tokenize(piece)):
            raise FormulaError(
                f"term {piece!r} of {formula!r} holds a '|' outside a group term; write "
                "each group term as its own summand, e.g. y ~ x + (1 + x | g)")
    fixed_text = " ".join(f"{sign} {piece}" if sign else piece for sign, piece in fixed_pieces)
    if fixed_text.startswith("+ "):
        fixed_text = fixed_text[2:]
    fixed_rhs = _translate(fixed_text or "1", columns, exclude=response_names)
    fixed = f"{response} ~ {fixed_rhs}"
    variables = _plain_variables(response, fixed_rhs, groups)
    if variables is not None:
        return ParsedFormula(formula=formula, response=response, fixed=fixed,
                             groups=tuple(groups), variables=frozenset(variables),
                             response_text=response_text, offsets=tuple(offsets))

    formulae = load_formulae()
    try:
        description = formulae.model_description(fixed)
    except Exception as err:  # formulae raises ParseError, ScanError, ValueError ...
        raise FormulaError(f"cannot parse formula {formula!r}: {err}") from None
    if description.group_terms:
        raise FormulaError(f"formula {formula!r} holds a group term that is not a summand; "
                           "write it as y ~ x + (1 | g)")
    variables = {name for name in description.var_names if name}
    for group in groups:
        try:
            lhs_description = formulae.model_description(f"fastgibbs_lhs ~ {group.lhs}")
        except Exception as err:
            raise FormulaError(f"cannot parse group term {group.source!r}: {err}") from None
        variables.update(name for name in lhs_description.var_names
                         if name and name != "fastgibbs_lhs")
        variables.update(group.variables)
    return ParsedFormula(formula=formula, response=response, fixed=fixed,
                         groups=tuple(groups), variables=frozenset(variables),
                         response_text=response_text, offsets=tuple(offsets))
