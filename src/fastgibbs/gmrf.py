"""Structured group terms as Gaussian Markov random fields: from a prior of
:mod:`fastgibbs.structured` and the design to the kernel's input, and draws from the
prior.

Notation. A structured term has J levels (groups) j with effects u_j. Its latent
vector x has n positions: x = u in a chosen order (time structures: by series, then
time; areal: by connected component, each in reverse Cuthill-McKee order), or, for
BYM2, n = 2J positions interleaving the total effect b_i = u and the scaled ICAR field
s_i of each area (Riebler et al. 2016). Given everything else, x is Gaussian with
precision

    M = D + prior precision,    D = diag(Z_j' W Z_j / sigma2) on the u positions,

and the prior precision is
    RW1, RW2, ICAR:  Q / tau2, Q fixed (RW: built from the gaps; ICAR: the graph
                     Laplacian scaled per component, Sorbye & Rue 2014);
    AR1:             Q(rho) / tau2, tridiagonal, from rho^gap (built in the kernel);
    BYM2:            on (b, s): [[I / (tau2 (1-phi)), -sqrt(phi) / (tau (1-phi)) I],
                                 [.,  Q* + phi / (1-phi) I]].
Intrinsic fields carry linear constraints A x = 0, one block per *segment* (a series
or a connected component): RW1 and ICAR sum to zero, RW2 sums to zero and has no
linear trend over its times, BYM2 constrains s. Segments are contiguous in position
order and M is block diagonal over them, so every constraint is handled locally.

The kernel factors M in *envelope* (skyline) form: row i of the lower triangle is
stored from its first non-zero column ``first[i]`` to i; the Cholesky factor has the
same envelope (George & Liu 1981, Computer Solution of Large Sparse Positive Definite
Systems, ch. 4). A time series has first[i] = i - order, so a sweep costs O(T);
an areal field costs O(sum_i (i - first[i])^2) after reverse Cuthill-McKee ordering
(which reduces the envelope; Cuthill & McKee 1969, George 1971).
"""
from dataclasses import dataclass, field, replace
import datetime
import numbers

import numpy as np

from ._kinds import Structure as Kind

__all__ = ["Structure", "attach_structures", "kernel_arrays", "describe_record",
           "smoothed_terms", "KIND_CODES"]

KIND_CODES = {"rw1": int(Kind.STRUCT_RW1), "rw2": int(Kind.STRUCT_RW2),
              "ar1": int(Kind.STRUCT_AR1), "icar": int(Kind.STRUCT_ICAR),
              "bym2": int(Kind.STRUCT_BYM2)}
TIME_KINDS = ("rw1", "rw2", "ar1")
# gaps that are whole numbers of units within this relative tolerance count as whole
# (an AR(1) on whole steps may have rho < 0)
WHOLE_STEPS = 1e-9


def whole_steps(t, least=1):
    """Whether the gaps between the sorted times ``t`` (in steps; several series:
    a list of arrays) are whole numbers of steps, at least ``least``, up to the rounding
    of the times themselves: datetimes are days since 1970, whose rounding error (2e4
    days x 1e-16) is 5e-9 of a step of one minute and 3e-7 of a second."""
    parts = [np.asarray(x, dtype=float) for x in (t if isinstance(t, list) else [t])]
    steps = np.concatenate([np.diff(x) for x in parts])
    if not steps.size:
        return True
    size = max(float(np.max(np.abs(x))) for x in parts if x.size)
    tol = np.maximum(WHOLE_STEPS * np.maximum(steps, 1.0), 8 * np.finfo(float).eps * size)
    return bool(np.all(np.abs(steps - np.round(steps)) <= tol)
                and np.all(np.round(steps) >= least))


@dataclass(frozen=True, eq=False)
class Structure:
    """A structured term attached to a design (see :func:`attach_structures`).

    ``term``: the prior key (``"1|year"``); ``kind``: "rw1", "rw2", "ar1", "icar" or
    "bym2"; ``prior``: the fg.RandomWalk / AR1 / ICAR / BYM2 object; ``position``
    (J,): the level at each latent position (the order above); ``segments``: (start,
    end) position ranges of the series or components.

    Time structures: ``time`` (J,) the time of each level (numeric, or days since
    1970 for datetime columns), ``unit`` the time of one step (same scale),
    ``time_column``, ``time_kind`` ("numeric" or "datetime"), ``time_aware`` (datetimes:
    whether they were time-zone aware; predict refuses the other), ``by`` and ``series``
    (J,) the series index of each level with ``series_labels``; ``whole_steps``:
    every gap is a whole number of units (an AR(1) may then have rho < 0).

    Areal structures: ``area_of_level`` (J,) each level's index in
    ``prior.levels``; ``components`` the field's components (arrays of level indices,
    in position order); ``scale`` the Sorbye-Rue factor of each component (1 for an
    island); ``dropped`` the areas of components without data (left out of the
    field).
    """

    term: str
    kind: str
    prior: object
    position: np.ndarray
    segments: tuple
    time: np.ndarray = None
    unit: float = None
    time_column: str = None
    time_kind: str = None
    time_aware: bool = None
    by: str = None
    series: np.ndarray = None
    series_labels: tuple = ()
    whole_steps: bool = True
    area_of_level: np.ndarray = None
    components: tuple = ()
    scale: tuple = ()
    dropped: tuple = ()

    @property
    def is_time(self):
        return self.kind in TIME_KINDS

    def record(self):
        """What a fit keeps (plain JSON): enough to predict new times and areas."""
        out = {"kind": self.kind, "segments": [list(map(int, s)) for s in self.segments]}
        if self.is_time:
            out.update(time=[float(t) for t in self.time], unit=float(self.unit),
                       time_column=self.time_column, time_kind=self.time_kind, by=self.by,
                       series=[int(s) for s in self.series],
                       series_labels=[str(s) for s in self.series_labels],
                       whole_steps=bool(self.whole_steps))
            if self.time_kind == "datetime":
                out.update(time_aware=bool(self.time_aware))
        else:
            # for predict (fastgibbs.forecast): the Sorbye-Rue scale of each level's
            # component, and the edges among the areas left out (drawn from the prior)
            scale = np.ones(len(self.position))
            for members, c in zip(self.components, self.scale):
                scale[members] = c
            dropped = set(self.dropped)
            out.update(dropped=list(self.dropped), scale=[float(c) for c in scale],
                       dropped_edges=[[a, b] for a, b in self.prior.adjacency
                                      if a in dropped])
        return out


def describe_record(term, record):
    """One line of print(fit) for a structured term, from its record (Structure.record)."""
    kind = record["kind"]
    if kind in TIME_KINDS:
        name = {"rw1": "random walk of order 1", "rw2": "random walk of order 2",
                "ar1": "AR(1)"}[kind]
        series = f", one per {record['by']} ({len(record['series_labels'])} series)" \
            if record["by"] else ""
        unit = record["unit"]
        unit = f"{unit:g} day(s)" if record["time_kind"] == "datetime" else f"{unit:g}"
        return f"{term}: {name} over {record['time_column']}{series}, step {unit}"
    sizes = [b - a for a, b in record["segments"]]
    islands = sum(1 for n in sizes if n == 1)
    text = f"{term}: {kind.upper()} over {sum(sizes)} areas, {len(sizes) - islands} component(s)"
    if islands:
        text += f", {islands} island(s)"
    if record["dropped"]:
        text += f"; {len(record['dropped'])} area(s) without data left out"
    return text


def smoothed_terms(priors):
    """The group terms (keys without spaces) whose structured prior lets their factor
    have one observation per level in a gaussian model (every structure but BYM2, whose
    independent part would be confounded with sigma there)."""
    from .structured import STRUCTURED
    if not isinstance(priors, dict):
        return ()
    return tuple("".join(str(key).split()) for key, prior in priors.items()
                 if isinstance(prior, STRUCTURED) and prior.kind != "bym2")


# ----------------------------------------------------------------------------------
# Attaching structures to a design
# ----------------------------------------------------------------------------------
def attach_structures(design, priors):
    """``design`` with its structured terms attached (``design.structures``), or
    ``design`` itself when no prior is structured. Areal terms get as levels every
    area of the components that hold data (new areas join the field; the rows keep
    their groups). Raises ValueError / TypeError naming the term for a structure
    the term or the data cannot carry."""
    from .priors import _is_structured

    keyed = {key: prior for key, prior in priors.items() if _is_structured(prior)}
    if not keyed:
        return design
    blocks = list(design.blocks)
    structures = {}
    for key, prior in keyed.items():
        k = next(i for i, b in enumerate(blocks) if key in b.terms)
        block = blocks[k]
        what = f"{type(prior).__name__} on {key!r}"
        if key.split("|")[0] != "1":
            raise ValueError(f"{what}: a structured prior goes on the intercepts of a group "
                             f"term, such as '1|{block.factor}' from (1 | {block.factor}); "
                             "structured slopes are not supported")
        if block.correlated or block.n_re != 1:
            others = [t for t in block.terms if t != key]
            raise ValueError(f"{what}: a structured term must be the only term varying by "
                             f"{block.factor!r} (got {list(block.terms)}); drop "
                             f"{others or 'the other columns'} or give them their own factor")
        if prior.kind in TIME_KINDS:
            structures[key] = _time_structure(key, prior, block, what)
        else:
            block, structures[key] = _areal_structure(key, prior, block, what)
            blocks[k] = block
    return replace(design, blocks=tuple(blocks), structures=structures)


def _time_values(values, name, what, aware=None):
    """(float times, "numeric" | "datetime", time-zone aware: True / False, None for
    numbers) of a time column's values: the one place time values are converted.
    Time-zone aware times are the time elapsed, in UTC. A column that mixes aware and
    naive times, or (``aware``: the fit's; None: not known, no check) is aware where
    the fit was naive or naive where the fit was aware, is refused, as pandas refuses
    to compare them: reading naive times as UTC (the former behaviour) was a silent
    guess of their zone."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        # days in the column's own unit (seconds or finer): casting to nanoseconds
        # wrapped dates after 2262 (pandas' default unit is the microsecond)
        unit = np.datetime_data(values.dtype)[0]
        if unit not in ("ms", "us", "ns", "ps", "fs", "as"):
            unit = "s"
        values = values.astype(f"datetime64[{unit}]")
        _check_zone(False, aware, name, what)
        return (values - np.datetime64(0, unit)) / np.timedelta64(1, "D"), "datetime", False
    if values.dtype.kind in "iuf":
        return values.astype(float), "numeric", None
    if values.dtype.kind == "O" and len(values) and all(
            isinstance(v, (datetime.date, np.datetime64)) for v in values):
        import pandas as pd
        zoned = [isinstance(v, datetime.datetime) and v.utcoffset() is not None
                 for v in values]
        if any(zoned) and not all(zoned):
            naive = values[zoned.index(False)]
            raise ValueError(f"{what}: the time column {name!r} mixes time-zone aware and "
                             f"naive times (such as {naive!r}); localize the naive ones, e.g. "
                             f"pd.Timestamp(...).tz_localize('UTC') or their own zone")
        _check_zone(all(zoned), aware, name, what)
        try:
            stamps = pd.to_datetime(pd.Series(values))
        except (TypeError, ValueError):                     # several time zones
            stamps = pd.to_datetime(pd.Series(values), utc=True)
        if stamps.dt.tz is not None:
            # time-zone aware: the time elapsed, in UTC (wall-clock times repeat an hour
            # when daylight saving ends)
            stamps = stamps.dt.tz_convert(None)
        return _time_values(stamps.to_numpy(), name, what)[:2] + (all(zoned),)

    def number(v):
        return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
    if values.dtype.kind == "O" and len(values) and all(number(v) for v in values):
        return values.astype(float), "numeric", None    # numbers in an object column
    bad = next((v for v in values if not number(v)), values[0]) if values.dtype.kind == "O" \
        else values[0]
    raise TypeError(f"{what}: the time column {name!r} must be numeric or datetime to order "
                    f"its levels (got values such as {bad!r}); convert it, e.g. "
                    f"data[{name!r}].astype(int) or pd.to_datetime(data[{name!r}])")


def _check_zone(got, aware, name, what):
    """ValueError if datetimes that are time-zone aware (``got``) or naive meet a fit
    whose were the other (``aware``; None: not known)."""
    if aware is None or bool(got) == bool(aware):
        return
    if aware:
        raise ValueError(f"{what}: the time column {name!r} was time-zone aware in the fit "
                         "but is naive here, and its zone cannot be guessed (pandas does not "
                         "compare aware and naive times either); localize it, e.g. "
                         f"newdata[{name!r}].dt.tz_localize('UTC') or its own zone")
    raise ValueError(f"{what}: the time column {name!r} was naive (no time zone) in the fit "
                     "but is time-zone aware here; make it naive as the fitted data were, "
                     f"e.g. newdata[{name!r}].dt.tz_localize(None) (keeps the wall-clock "
                     f"time) or .dt.tz_convert(None) (the time in UTC)")


def _time_structure(key, prior, block, what):
    from .columns import format_level

    variables = tuple(block.variables)
    if prior.by is None:
        if len(variables) != 1:
            raise ValueError(f"{what}: the term groups by {list(variables)}; name the column "
                             f"that separates the series with by= (e.g. by={variables[0]!r})")
        time_column = variables[0]
    else:
        if prior.by not in variables or len(variables) != 2:
            raise ValueError(f"{what}: by={prior.by!r} must be one of the two columns of an "
                             f"interaction term such as (1 | {prior.by}:time); the term groups "
                             f"by {list(variables)}")
        time_column = next(v for v in variables if v != prior.by)
    time, time_kind, aware = _time_values(block.level_values[time_column], time_column, what)
    if getattr(prior, "unit_is_span", False) and time_kind == "numeric":
        raise ValueError(f"{what}: unit= is a time span ({prior.unit:g} days), but the time "
                         f"column {time_column!r} holds numbers, not dates; give unit= as a "
                         "number of that column's units")
    if not np.all(np.isfinite(time)):
        raise ValueError(f"{what}: the time column {time_column!r} has non-finite values")
    J = block.n_groups
    if prior.by is None:
        series, series_labels = np.zeros(J, dtype=np.intp), ("",)
    else:
        labels = np.array([format_level(v) for v in block.level_values[prior.by]], dtype=object)
        series_labels, series = np.unique(labels.astype(str), return_inverse=True)
        series, series_labels = series.astype(np.intp), tuple(series_labels)
    position = np.lexsort((time, series)).astype(np.intp)
    starts = np.flatnonzero(np.r_[True, np.diff(series[position]) != 0])
    ends = np.r_[starts[1:], J]
    segments = tuple(zip(starts.tolist(), ends.tolist()))
    t_sorted = time[position]
    gaps = np.concatenate([np.diff(t_sorted[a:b]) for a, b in segments])
    if np.any(gaps <= 0):                  # cannot happen: a level is one (series, time)
        raise ValueError(f"{what}: two levels of a series share a time")
    unit = prior.unit if prior.unit is not None else (float(np.median(gaps)) if gaps.size else 1.0)
    steps = gaps / unit
    whole = whole_steps([t_sorted[a:b] / unit for a, b in segments])
    if prior.kind in ("rw1", "rw2"):
        need = 2 if prior.kind == "rw1" else 3
        short = [series_labels[series[position[a]]] for a, b in segments if b - a < need]
        if short:
            name = f"series {short[0]!r}" if prior.by else "the term"
            raise ValueError(f"{what}: {name} has fewer than {need} time points; a random walk "
                             f"of order {need - 1} fixes such a series at 0 (its constraints "
                             "leave nothing to estimate): drop it or use fg.AR1")
    if steps.size and (steps.max() / steps.min() > 1e12):
        raise ValueError(f"{what}: the gaps between times range over more than 12 orders of "
                         "magnitude; check the time column")
    # a random walk's precision has entries 1/d (order 2: about 1/d^2 per step): two
    # times much closer than the others make it singular in double precision, and the
    # sampler stopped with "a group sd collapsed to 0 or exploded"
    close = {"rw1": 1e10, "rw2": 1e5}.get(prior.kind)
    if close and steps.size and np.median(steps) / steps.min() > close:
        i = np.concatenate([np.arange(a, b - 1) for a, b in segments])[np.argmin(gaps)]
        a, b = block.levels[position[i]], block.levels[position[i + 1]]
        raise ValueError(f"{what}: times {a} and {b} are {np.median(steps) / steps.min():.1e} "
                         f"times closer than the median gap; a random walk of order "
                         f"{1 if prior.kind == 'rw1' else 2} cannot be computed at that "
                         "precision: round the time column or merge those times")
    return Structure(term=key, kind=prior.kind, prior=prior, position=position,
                     segments=segments, time=time, unit=float(unit), time_column=time_column,
                     time_kind=time_kind, time_aware=aware, by=prior.by, series=series,
                     series_labels=series_labels, whole_steps=whole)


def _label_sort_key(label, numeric):
    if numeric:
        try:
            return (0, float(label), "")
        except ValueError:
            return (1, 0.0, label)
    return (0, 0.0, label)


def _components(prior):
    """Connected components of the adjacency: (n_components, label (n_areas,))."""
    from scipy.sparse.csgraph import connected_components

    A = adjacency_matrix(prior)
    return connected_components(A, directed=False)


def adjacency_matrix(prior):
    """(n_areas, n_areas) symmetric scipy CSR 0/1 matrix of ``prior.levels``."""
    from scipy.sparse import coo_matrix

    index = {a: i for i, a in enumerate(prior.levels)}
    n = len(prior.levels)
    if prior.adjacency:
        first = [index[a] for a, _ in prior.adjacency]
        second = [index[b] for _, b in prior.adjacency]
        rows, cols = np.array(first + second), np.array(second + first)
    else:
        rows = cols = np.zeros(0, dtype=np.intp)
    return coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()


def _areal_structure(key, prior, block, what):
    """(block with the field's levels, Structure)."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    areas = prior.levels
    index = {a: i for i, a in enumerate(areas)}
    data_levels = [str(level) for level in block.levels]
    unknown = [level for level in data_levels if level not in index]
    if unknown:
        raise ValueError(f"{what}: level(s) {unknown[:5]} of {block.factor!r} are not areas "
                         f"of the adjacency (which has {len(areas)} areas, e.g. "
                         f"{list(areas[:3])}); every level with data needs its neighbours")
    n_comp, comp = _components(prior)
    with_data = np.zeros(n_comp, dtype=bool)
    with_data[comp[[index[level] for level in data_levels]]] = True
    values = next(iter(block.level_values.values())) if block.level_values else None
    numeric = values is not None and np.asarray(values).dtype.kind in "iuf"
    field_areas = sorted((a for a in areas if with_data[comp[index[a]]]),
                         key=lambda a: _label_sort_key(a, numeric))
    dropped = tuple(a for a in areas if not with_data[comp[index[a]]])
    level_of = {a: j for j, a in enumerate(field_areas)}
    group = np.array([level_of[level] for level in data_levels], dtype=np.intp)[block.group]
    new_levels = np.array(field_areas, dtype=object)
    block = replace(block, levels=new_levels, group=group, level_values=None)
    area_of_level = np.array([index[a] for a in field_areas], dtype=np.intp)
    A = adjacency_matrix(prior)
    # components of the field, each in reverse Cuthill-McKee order; islands last
    comps = []
    for c in np.unique(comp[area_of_level]):
        members = np.flatnonzero(comp[area_of_level] == c)        # level indices
        if len(members) > 1:
            sub = A[area_of_level[members]][:, area_of_level[members]]
            order = reverse_cuthill_mckee(sub.tocsr(), symmetric_mode=True)
            members = members[order]
        comps.append(members.astype(np.intp))
    comps.sort(key=lambda m: (len(m) == 1, int(m[0])))
    position = np.concatenate(comps)
    bounds = np.cumsum([0] + [len(m) for m in comps])
    segments = tuple(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    scale = tuple(scale_factor(A[area_of_level[m]][:, area_of_level[m]]) if len(m) > 1 else 1.0
                  for m in comps)
    return block, Structure(term=key, kind=prior.kind, prior=prior, position=position,
                            segments=segments, area_of_level=area_of_level,
                            components=tuple(comps), scale=scale, dropped=dropped)


# ----------------------------------------------------------------------------------
# Precisions
# ----------------------------------------------------------------------------------
def laplacian(A):
    """Graph Laplacian diag(A 1) - A (scipy CSR) of a symmetric 0/1 matrix."""
    from scipy.sparse import diags
    A = A.tocsr()
    return (diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsr()


def scale_factor(A):
    """Sorbye & Rue (2014) scale c of a connected graph's ICAR: with Q = c L (L the
    Laplacian), the geometric mean of the marginal variances diag(Q^+) is 1 under the
    sum-to-zero constraint.

    Q^+ = P S P with P = I - 11'/n and S the inverse of L grounded at one area (its row
    and column removed: positive definite for a connected graph), padded with zeros:
    any field of density prop. to exp(-x'Lx/2) minus its mean has the constrained law.
    The diagonal of S (Takahashi, Fagan & Chen 1973 recursions on the band of its
    Cholesky factor) and S 1 cost O(n w^2) for bandwidth w in reverse Cuthill-McKee
    order, instead of the O(n^3) time and O(n^2) memory of a dense inverse."""
    from scipy.linalg import cho_solve_banded, cholesky_banded
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    A = A.tocsr()
    n = A.shape[0]
    if n < 2:
        return 1.0
    order = reverse_cuthill_mckee(A, symmetric_mode=True)
    grounded = laplacian(A[order][:, order])[:-1, :-1].tocoo()
    m = n - 1
    w = int(np.max(np.abs(grounded.row - grounded.col)))
    band = np.zeros((w + 1, m))                      # band[d, j] = L[j + d, j]
    lower = grounded.row >= grounded.col
    band[(grounded.row - grounded.col)[lower], grounded.col[lower]] = grounded.data[lower]
    factor = cholesky_banded(band, lower=True)
    # S from the last row up, keeping the window S[i..i+w, i..i+w] (zero beyond m):
    # row i of S needs only rows i+1..i+w, within the band
    window, spare = np.zeros((w + 1, w + 1)), np.zeros((w + 1, w + 1))
    diag = np.empty(m)
    inside = np.arange(1, w + 1)
    for i in range(m - 1, -1, -1):
        d = factor[0, i]
        below = factor[1:, i] * (i + inside < m)                   # L[i+1..i+w, i]
        off = window[:w, :w] @ below / -d                           # S[i+1..i+w, i]
        spare[0, 0] = diag[i] = (1.0 / d - below @ off) / d
        spare[0, 1:] = off
        spare[1:, 0] = off
        spare[1:, 1:] = window[:w, :w]
        window, spare = spare, window
    diag = np.append(diag, 0.0)
    row_sums = np.append(cho_solve_banded((factor, True), np.ones(m)), 0.0)
    var = diag - 2.0 * row_sums / n + row_sums.sum() / n ** 2
    return float(np.exp(np.mean(np.log(var))))


def rw_precision(t, order):
    """Precision Q (scipy CSR, n x n) of a random walk of ``order`` at sorted times t
    (in steps): order 1, D' diag(1/d) D with D the first differences; order 2,
    B' diag(2 / (d_{i-1} + d_i)) B with B the second divided differences (row i:
    1/d_{i-1}, -(1/d_{i-1} + 1/d_i), 1/d_i)."""
    from scipy.sparse import coo_matrix, diags
    n = len(t)
    d = np.diff(np.asarray(t, dtype=float))
    if order == 1:
        r = np.arange(n - 1)
        D = coo_matrix((np.r_[-np.ones(n - 1), np.ones(n - 1)], (np.r_[r, r], np.r_[r, r + 1])),
                       shape=(n - 1, n)).tocsr()
        return (D.T @ diags(1.0 / d) @ D).tocsr()
    r = np.arange(n - 2)
    a, b = d[:-1], d[1:]
    B = coo_matrix((np.r_[1.0 / a, -(1.0 / a + 1.0 / b), 1.0 / b],
                    (np.r_[r, r, r], np.r_[r, r + 1, r + 2])), shape=(n - 2, n)).tocsr()
    return (B.T @ diags(2.0 / (a + b)) @ B).tocsr()


def constraints(structure, t=None):
    """Per segment, the (k, size) constraint rows on its positions: RW1 and ICAR
    components: ones; RW2: ones and the centred, scaled times; AR1 and islands: none."""
    out = []
    for a, b in structure.segments:
        size = b - a
        if structure.kind == "ar1" or size == 1:
            out.append(np.zeros((0, size)))
        elif structure.kind == "rw2":
            tt = t[a:b] - t[a:b].mean()
            out.append(np.vstack([np.ones(size) / np.sqrt(size), tt / np.linalg.norm(tt)]))
        else:
            out.append(np.ones((1, size)) / np.sqrt(size))
    return out


def _structure_precision(structure, A=None):
    """(Q0 over positions as scipy COO, constraint rows per segment, rank) of a structure
    with a fixed Q (RW1, RW2, ICAR, BYM2's s part; AR1: Q0 = 0)."""
    from scipy.sparse import block_diag, coo_matrix
    J = len(structure.position)
    if structure.kind == "ar1":
        return coo_matrix((J, J)), constraints(structure), float(J)
    if structure.is_time:
        t = (structure.time[structure.position]) / structure.unit
        parts = [rw_precision(t[a:b], 1 if structure.kind == "rw1" else 2)
                 for a, b in structure.segments]
        cons = constraints(structure, t)
    else:
        A = adjacency_matrix(structure.prior)
        areas = structure.area_of_level
        parts = []
        for members, c in zip(structure.components, structure.scale):
            if len(members) == 1:
                parts.append(coo_matrix(np.ones((1, 1))))
            else:
                parts.append(c * laplacian(A[areas[members]][:, areas[members]]))
        cons = constraints(structure)
    Q = block_diag(parts).tocoo()
    rank = float(J - sum(c.shape[0] for c in cons))
    return Q, cons, rank


def _envelope(rows, cols, n):
    """first (n,) and off (n + 1,) of the envelope of a symmetric pattern."""
    first = np.arange(n, dtype=np.intp)
    lower = cols <= rows
    np.minimum.at(first, rows[lower], cols[lower])
    off = np.zeros(n + 1, dtype=np.intp)
    off[1:] = np.cumsum(np.arange(n) - first + 1)
    return first, off


def kernel_arrays(design, u_off):
    """The kernel's arrays for the structured blocks of ``design`` (None if none).

    ``u_off``: (B,) start of each block's effects in the kernel's u. Per block:
    ``kind`` (STRUCT_* codes), ``lat0`` / ``nlat`` (its latent positions), ``rank``
    (of the centred variance update), ``par`` (index of rho / phi in the parameter
    vector, or -1), ``negative`` (rho may be < 0), ``aux0`` (BYM2's s in the aux
    vector), ``seg0`` / ``seg1`` (its segments). Per latent position: ``lat_group``
    (u index, or -1), ``lat_aux`` (aux index, or -1), ``lat_gap`` (AR1: steps since
    the previous time of the series, -1 at a series start), ``env_first`` and
    ``env_off`` (envelope, see the module docstring) with ``env_q0`` the fixed part
    of the prior precision. Per segment: ``seg_p0``, ``seg_p1``, ``seg_ncon`` and
    ``seg_con0`` into ``con_val`` (the constraint rows, row by row). ``par_a``,
    ``par_b``: Beta prior of each parameter."""
    B = len(design.blocks)
    if not design.structures:
        return None
    term_block = {t: k for k, b in enumerate(design.blocks) for t in b.terms}
    kind = np.zeros(B, dtype=np.intp)
    lat0 = np.zeros(B, dtype=np.intp)
    nlat = np.zeros(B, dtype=np.intp)
    rank = np.zeros(B)
    par = np.full(B, -1, dtype=np.intp)
    negative = np.zeros(B, dtype=np.intp)
    aux0 = np.zeros(B, dtype=np.intp)
    seg0 = np.zeros(B, dtype=np.intp)
    seg1 = np.zeros(B, dtype=np.intp)
    lat_group, lat_aux, lat_gap, firsts, q0 = [], [], [], [], []
    seg_p0, seg_p1, seg_ncon, seg_con0, con_val = [], [], [], [], []
    par_a, par_b = [], []
    n_lat = n_aux = n_con = 0
    for term in sorted(design.structures, key=lambda t: term_block[t]):
        s = design.structures[term]
        k = term_block[term]
        J = len(s.position)
        Q, cons, r = _structure_precision(s)
        kind[k] = KIND_CODES[s.kind]
        rank[k] = r
        lat0[k] = n_lat
        seg0[k] = len(seg_p0)
        Q = Q.tocsr()
        if s.kind == "bym2":
            n = 2 * J
            group = np.full(n, -1, dtype=np.intp)
            aux = np.full(n, -1, dtype=np.intp)
            group[0::2] = s.position
            aux[1::2] = n_aux + s.position
            Qc = Q.tocoo()
            rows = np.r_[2 * Qc.row + 1, 2 * np.arange(J) + 1, 2 * np.arange(J)]
            cols = np.r_[2 * Qc.col + 1, 2 * np.arange(J), 2 * np.arange(J)]
            vals = np.r_[Qc.data, np.zeros(J), np.zeros(J)]
            aux0[k] = n_aux
            n_aux += J
            par[k] = len(par_a)
            par_a.append(s.prior.phi.a)
            par_b.append(s.prior.phi.b)
            scale_pos = 2
        else:
            n = J
            group = s.position.copy()
            aux = np.full(n, -1, dtype=np.intp)
            Qc = Q.tocoo()
            rows, cols, vals = Qc.row, Qc.col, Qc.data
            rows = np.r_[rows, np.arange(J)]            # the diagonal is always stored
            cols = np.r_[cols, np.arange(J)]
            vals = np.r_[vals, np.zeros(J)]
            scale_pos = 1
            if s.kind == "ar1":
                par[k] = len(par_a)
                par_a.append(s.prior.rho.a)
                par_b.append(s.prior.rho.b)
                negative[k] = int(s.whole_steps)
                rows = np.r_[rows, np.arange(1, J)]     # the tridiagonal pattern
                cols = np.r_[cols, np.arange(J - 1)]
                vals = np.r_[vals, np.zeros(J - 1)]
        gap = np.full(n, -1.0)
        if s.is_time:
            t = s.time[s.position] / s.unit
            for a, b in s.segments:
                gap[a + 1:b] = np.diff(t[a:b])
            if s.kind == "ar1" and s.whole_steps:
                # whole steps as exact integers: times such as 0.1, 0.2, 0.3 have gaps a
                # rounding error off one step, and rho^0.9999999999999998 is NaN for rho < 0
                gap[gap > 0] = np.round(gap[gap > 0])
            if s.kind == "ar1":
                starts = np.array([a for a, _ in s.segments])
                keep = ~np.isin(rows, starts) | (rows == cols)      # no entry across series
                rows, cols, vals = rows[keep], cols[keep], vals[keep]
        first, off = _envelope(rows, cols, n)
        env = np.zeros(off[-1])
        lower = cols <= rows
        np.add.at(env, off[rows[lower]] + cols[lower] - first[rows[lower]], vals[lower])
        firsts.append(first + n_lat)
        q0.append(env)
        lat_group.append(np.where(group >= 0, group, -1))
        lat_aux.append(aux)
        lat_gap.append(gap)
        for (a, b), c in zip(s.segments, cons):
            p0, p1 = a * scale_pos, b * scale_pos
            seg_p0.append(n_lat + p0)
            seg_p1.append(n_lat + p1)
            seg_ncon.append(c.shape[0])
            seg_con0.append(n_con)
            for row in c:
                full = np.zeros(p1 - p0)
                if s.kind == "bym2":
                    full[1::2] = row                     # constraints on s only
                else:
                    full[:] = row
                con_val.append(full)
                n_con += p1 - p0
        seg1[k] = len(seg_p0)
        nlat[k] = n
        n_lat += n
    env_first = np.concatenate(firsts).astype(np.intp)
    env_off = np.zeros(n_lat + 1, dtype=np.intp)
    env_off[1:] = np.cumsum(np.arange(n_lat) - env_first + 1)
    return {
        "kind": kind, "lat0": lat0, "nlat": nlat, "rank": rank, "par": par,
        "negative": negative, "aux0": aux0, "seg0": seg0, "seg1": seg1,
        "lat_group": np.concatenate(lat_group).astype(np.intp),
        "lat_aux": np.concatenate(lat_aux).astype(np.intp),
        "lat_gap": np.concatenate(lat_gap), "env_first": env_first, "env_off": env_off,
        "env_q0": np.concatenate(q0),
        "seg_p0": np.array(seg_p0, dtype=np.intp), "seg_p1": np.array(seg_p1, dtype=np.intp),
        "seg_ncon": np.array(seg_ncon, dtype=np.intp),
        "seg_con0": np.array(seg_con0, dtype=np.intp),
        "con_val": np.concatenate(con_val) if con_val else np.zeros(0),
        "par_a": np.array(par_a, dtype=float), "par_b": np.array(par_b, dtype=float),
        "n_par": len(par_a), "n_aux": n_aux,
    }



# ----------------------------------------------------------------------------------
# Draws from the prior (fastgibbs.simulate: datasets for simulation studies and SBC)
# ----------------------------------------------------------------------------------
def _pinv_factor(Q):
    """(n, r) F with F F' = Q^+ (Q symmetric PSD, dense): the covariance of the
    intrinsic field constrained to the orthogonal complement of Q's null space, which
    for these structures is spanned by the constraint rows (constants; RW2 also the
    times)."""
    w, V = np.linalg.eigh(np.asarray(Q, dtype=float))
    keep = w > 1e-10 * max(float(w.max()), 1e-300)
    return V[:, keep] / np.sqrt(w[keep])


def draw_rho(prior, whole_steps, rng):
    """rho of an AR(1) from its prior: (1 + rho) / 2 ~ Beta(a, b), restricted to rho > 0
    when the gaps are not whole steps: by rejection when P(rho > 0) is at least 1%, else
    by inversion of the Beta's tail (rejection would take 1 / P(rho > 0) draws, 1e60
    for Beta(1, 200)); a tail below 1e-300 is the Beta's exponential edge at rho = 0."""
    a, b = prior.rho.a, prior.rho.b
    from scipy.stats import beta
    tail = 1.0 if whole_steps else float(beta.sf(0.5, a, b))       # P(rho > 0)
    while tail >= 0.01:
        rho = 2.0 * rng.beta(a, b) - 1.0
        if whole_steps or rho > 0:
            return float(rho)
    if tail > 1e-300:
        rho = 2.0 * float(beta.isf(rng.uniform(0.0, tail), a, b)) - 1.0
    else:       # the log density's slope in rho at 0 is a - b, with b >> a here
        rho = rng.exponential(1.0 / (b - a))
    return float(min(max(rho, 1e-300), 1.0 - 1e-16))


def draw_field(structure, sd, par, rng):
    """(J,) effects of a structured term in level order, drawn from its prior given the
    sd and rho (AR1) or phi (BYM2; ``par`` None otherwise): RW and ICAR N(0, sd^2 Q^+)
    per series or component (sum zero; RW2 also no trend), islands N(0, sd^2); AR1 the
    stationary process at the times; BYM2 sd (sqrt(1 - phi) v + sqrt(phi) s)."""
    J = len(structure.position)
    x = np.zeros(J)                                   # in position order
    if structure.is_time:
        t = structure.time[structure.position] / structure.unit
        for a, b in structure.segments:
            if structure.kind == "ar1":
                steps = np.diff(t[a:b])
                if structure.whole_steps:
                    steps = np.round(steps)
                x[a] = rng.standard_normal()
                for i in range(a + 1, b):
                    r = par ** steps[i - a - 1]
                    x[i] = r * x[i - 1] + np.sqrt(1.0 - r * r) * rng.standard_normal()
            else:
                F = _pinv_factor(rw_precision(t[a:b], 1 if structure.kind == "rw1"
                                              else 2).toarray())
                x[a:b] = F @ rng.standard_normal(F.shape[1])
    else:
        A = adjacency_matrix(structure.prior)
        areas = structure.area_of_level
        for (a, b), members, c in zip(structure.segments, structure.components,
                                      structure.scale):
            if b - a == 1:
                x[a] = rng.standard_normal()
                continue
            F = _pinv_factor(c * laplacian(A[areas[members]][:, areas[members]]).toarray())
            x[a:b] = F @ rng.standard_normal(F.shape[1])
        if structure.kind == "bym2":
            x = np.sqrt(1.0 - par) * rng.standard_normal(J) + np.sqrt(par) * x
    u = np.empty(J)
    u[structure.position] = sd * x
    return u
