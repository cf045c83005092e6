"""Structured priors on the intercepts of a group term: random walks and AR(1) over
time, intrinsic CAR (ICAR) and BYM2 over areas.

A structure is given as the prior of a one-column group term, with no new formula
grammar::

    fg.fit("y ~ x + (1 | year)", data, priors={"1|year": fg.RandomWalk(order=1)})

The effects u_j of the term's levels are then one Gaussian Markov random field (Rue &
Held 2005, Gaussian Markov Random Fields, Chapman & Hall) with precision Q / sd^2
(AR(1): Q(rho) / sd^2; BYM2: see :class:`BYM2`), instead of independent N(0, sd^2).
``sd`` takes the usual priors (fg.HalfCauchy on the sd, fg.InvGamma on its square;
default: the term's default, see :mod:`fastgibbs.priors`).

Time structures (:class:`RandomWalk`, :class:`AR1`) order the levels by the values of
the time column (numeric or datetime), and honour unequal gaps: the gap between two
consecutive times is measured in ``unit`` (default: the median gap between
consecutive times, so that equally spaced times are one step apart). ``by="state"``
on a term ``(1 | state:year)`` gives each state its own path with the same sd (and
rho). Areal structures (:class:`ICAR`, :class:`BYM2`) take the neighbours of the
areas as an adjacency (see :class:`ICAR`). How each is sampled: fastgibbs.gmrf.
"""
from dataclasses import dataclass, field
import datetime
import numbers

import numpy as np

from .priors import Beta, HalfCauchy, InvGamma, _positive_finite

__all__ = ["RandomWalk", "AR1", "ICAR", "BYM2", "STRUCTURED"]


def _sd_prior(sd, what):
    if sd is not None and not isinstance(sd, (InvGamma, HalfCauchy)):
        raise TypeError(f"{what} sd must be fg.HalfCauchy (on the sd) or fg.InvGamma (on the "
                        f"variance), got {sd!r}")
    return sd


def _by(by, what):
    if by is not None and not isinstance(by, str):
        raise TypeError(f"{what} by must be a column name (str), got {by!r}")
    return by


def _is_span(unit):
    return isinstance(unit, (np.timedelta64, datetime.timedelta))


def _unit(unit, what):
    """The time of one step as a float: a positive number (in the time column's units;
    days for a datetime column), or a time span (pd.Timedelta, datetime.timedelta,
    np.timedelta64) converted to days."""
    if unit is None:
        return None
    if isinstance(unit, np.timedelta64):
        base = np.datetime_data(unit.dtype)[0]
        if not np.isnat(unit) and (base == "generic" or base in ("Y", "M")):
            raise ValueError(f"{what} unit {unit!r} has no fixed length in days (" +
                             ("no time unit" if base == "generic" else "months and years "
                              "vary") + "); give e.g. np.timedelta64(7, 'D') or a number of "
                             "days")
        days = np.nan if np.isnat(unit) else float(unit / np.timedelta64(1, "D"))
    elif isinstance(unit, datetime.timedelta):          # pd.Timedelta too
        days = unit / datetime.timedelta(days=1)
    elif isinstance(unit, (bool, np.bool_)) or not isinstance(unit, numbers.Real):
        raise TypeError(f"{what} unit must be a number (days for a datetime time column) or "
                        f"a time span (pd.Timedelta, datetime.timedelta, np.timedelta64), "
                        f"got {unit!r}")
    else:
        return _positive_finite(unit, f"{what} unit")
    if not (np.isfinite(days) and days > 0):
        raise ValueError(f"{what} unit must be a positive time span, got {unit!r}")
    return float(days)


def _label(value):
    """An area label as fastgibbs prints group levels (1.0 -> '1')."""
    from .columns import format_level
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return format_level(value.item() if isinstance(value, np.generic) else value)


def _normalise_adjacency(adjacency, levels, what):
    """(areas, edges): the sorted area labels and the sorted edges (a, b), a < b, as
    labels, from a matrix (with ``levels`` naming its rows, or a DataFrame), an edge
    list of pairs, or a dict {area: [neighbours]}. Asymmetric input, self-neighbours
    and unknown areas are refused."""
    import pandas as pd

    if isinstance(levels, (str, bytes)):
        raise TypeError(f"{what}: levels= must be a list of area labels, got the string "
                        f"{levels!r} (whose characters would be read as areas)")
    if isinstance(adjacency, dict):
        if levels is not None:
            raise ValueError(f"{what}: levels= names the rows of an adjacency matrix; a dict "
                             "names its areas itself")
        areas = {}
        for key, neighbours in adjacency.items():
            if isinstance(neighbours, (str, bytes)) or not hasattr(neighbours, "__iter__"):
                raise TypeError(f"{what}: the neighbours of {key!r} must be a list of areas, "
                                f"got {neighbours!r}")
            areas[_label(key)] = [_label(n) for n in neighbours]
        edges = set()
        for area, neighbours in areas.items():
            for n in neighbours:
                if n == area:
                    raise ValueError(f"{what}: area {area!r} is listed as its own neighbour")
                if n not in areas:
                    raise ValueError(f"{what}: {area!r} lists neighbour {n!r}, which is not a "
                                     "key of the adjacency dict (every area must list its "
                                     "neighbours, an island an empty list)")
                if area not in areas[n]:
                    raise ValueError(f"{what}: the adjacency is not symmetric: {area!r} lists "
                                     f"{n!r} as a neighbour but {n!r} does not list {area!r}")
                edges.add((min(area, n), max(area, n)))
        return tuple(sorted(areas)), tuple(sorted(edges))
    if isinstance(adjacency, pd.DataFrame):
        if levels is not None:
            raise ValueError(f"{what}: levels= is for a matrix; a DataFrame names its rows by "
                             "its index")
        if [_label(c) for c in adjacency.columns] != [_label(i) for i in adjacency.index]:
            raise ValueError(f"{what}: an adjacency DataFrame must have the same areas, in "
                             "the same order, as index and columns")
        levels = list(adjacency.index)
        adjacency = adjacency.to_numpy()
    if hasattr(adjacency, "tocoo"):                     # scipy.sparse
        adjacency = adjacency.toarray()
    if isinstance(adjacency, np.ndarray) and adjacency.ndim == 2:
        return _from_matrix(adjacency, levels, what)
    if isinstance(adjacency, (list, tuple)):
        pairs = list(adjacency)
        if any(isinstance(p, (str, bytes)) or not hasattr(p, "__len__") or len(p) != 2
               for p in pairs):
            raise TypeError(f"{what}: a list must hold (area, area) edges (a matrix must be "
                            f"a numpy array with levels=), got {str(adjacency)[:80]}")
        edges = set()
        for a, b in pairs:
            a, b = _label(a), _label(b)
            if a == b:
                raise ValueError(f"{what}: edge ({a!r}, {b!r}) joins an area to itself")
            edges.add((min(a, b), max(a, b)))
        named = {x for e in edges for x in e}
        if levels is None:
            areas = named
        else:
            areas = {_label(v) for v in levels}
            unknown = sorted(named - areas)
            if unknown:
                raise ValueError(f"{what}: edges name areas {unknown[:5]} that are not in "
                                 "levels=")
        return tuple(sorted(areas)), tuple(sorted(edges))
    raise TypeError(f"{what}: adjacency must be a square matrix (with levels=), a DataFrame, "
                    f"a list of (area, area) edges or a dict of neighbour lists, got "
                    f"{type(adjacency).__name__}")


def _from_matrix(matrix, levels, what):
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"{what}: an adjacency matrix must be square, got shape "
                         f"{matrix.shape}")
    if levels is None:
        raise ValueError(f"{what}: an adjacency matrix needs levels=, the area of each row "
                         "(or pass a DataFrame indexed by area)")
    labels = [_label(v) for v in levels]
    if len(labels) != matrix.shape[0] or len(set(labels)) != len(labels):
        raise ValueError(f"{what}: levels= must name the {matrix.shape[0]} rows of the "
                         "adjacency matrix once each")
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what}: the adjacency matrix must hold 0/1 values") from None
    if not np.all((m == 0) | (m == 1)):
        raise ValueError(f"{what}: the adjacency matrix must hold 0 or 1 (neighbours or not)")
    if np.any(np.diag(m) != 0):
        i = int(np.flatnonzero(np.diag(m))[0])
        raise ValueError(f"{what}: area {labels[i]!r} is its own neighbour (non-zero "
                         "diagonal)")
    bad = np.argwhere(m != m.T)
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"{what}: the adjacency matrix is not symmetric: entry "
                         f"({labels[i]!r}, {labels[j]!r}) is {m[i, j]:g} but "
                         f"({labels[j]!r}, {labels[i]!r}) is {m[j, i]:g}")
    rows, cols = np.nonzero(np.triu(m, 1))
    edges = {(min(labels[i], labels[j]), max(labels[i], labels[j])) for i, j in zip(rows, cols)}
    return tuple(sorted(labels)), tuple(sorted(edges))


class _Structured:
    """Shared behaviour: a prior that replaces N(0, sd^2) on a group term."""

    def with_sd(self, sd):
        """A copy with the sd prior ``sd`` (used to fill in the default)."""
        from dataclasses import replace
        copy = replace(self, sd=sd)
        if getattr(self, "unit_is_span", False):   # (not an argument: kept by hand)
            object.__setattr__(copy, "unit_is_span", True)
        return copy

    @property
    def kind(self):
        raise NotImplementedError


@dataclass(frozen=True)
class RandomWalk(_Structured):
    """Random walk of order 1 or 2 over the (numeric or datetime) levels of a term.

    Order 1: u_{i+1} - u_i ~ N(0, sd^2 d_i), with d_i the gap between the two times in
    ``unit``s (Brownian motion observed at the times). Order 2: the second divided
    differences (u_{i+1} - u_i)/d_i - (u_i - u_{i-1})/d_{i-1} ~ N(0, sd^2 (d_{i-1} +
    d_i) / 2), the finite-difference form of integrated Brownian motion (Rue & Held
    2005 sec. 3.4-3.5; equal gaps give the usual second differences). Both are
    intrinsic (flat along constants; order 2 also along linear trends), so every
    series is constrained to sum to zero (order 2: and to have no linear trend over
    its times): the level and the trend belong to the fixed effects (add the time as
    a predictor for a trend).

    ``by``: a grouping column of an interaction term ``(1 | state:year)``: one walk per
    state, same sd. ``unit``: the time of one step (default: the median gap between
    consecutive times): a number, in days for a datetime time column, or a time span
    (``pd.Timedelta("7D")``, ``datetime.timedelta``, ``np.timedelta64``), which is
    converted to days. ``sd``: prior of the step sd per unit.
    """

    order: int = 1
    by: str = None
    sd: object = None
    unit: float = None
    # whether unit was given as a time span (then in days: a datetime column's unit)
    unit_is_span: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.order, bool) or not isinstance(self.order, numbers.Integral) \
                or self.order not in (1, 2):
            raise ValueError(f"RandomWalk order must be 1 or 2, got {self.order!r}")
        object.__setattr__(self, "order", int(self.order))
        _by(self.by, "RandomWalk")
        _sd_prior(self.sd, "RandomWalk")
        object.__setattr__(self, "unit_is_span", _is_span(self.unit))
        object.__setattr__(self, "unit", _unit(self.unit, "RandomWalk"))

    @property
    def kind(self):
        return f"rw{self.order}"

    def __str__(self):
        extra = "".join([f", by={self.by!r}" if self.by else "",
                         f", unit={self.unit:g}" if self.unit else ""])
        return f"RandomWalk(order={self.order}{extra}, sd={self.sd})"


@dataclass(frozen=True)
class AR1(_Structured):
    """Stationary AR(1) over the (numeric or datetime) levels of a term: u has sd ``sd``
    at every time and correlation rho^d between times d ``unit``s apart; with unequal
    gaps the path is the Ornstein-Uhlenbeck process observed at the times, u_{i+1} |
    u_i ~ N(rho^{d_i} u_i, sd^2 (1 - rho^{2 d_i})), which needs rho > 0.

    ``rho``: fg.Beta(a, b) prior on (1 + rho) / 2 (default Beta(1, 1): rho uniform on
    (-1, 1)); when the gaps are unequal the prior is restricted to rho in (0, 1).
    rho is drawn by slice sampling of its exact conditional. ``by``, ``unit``, ``sd``:
    as for :class:`RandomWalk` (``sd``: the marginal sd of the effects).
    """

    by: str = None
    sd: object = None
    rho: object = None
    unit: float = None
    unit_is_span: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        _by(self.by, "AR1")
        _sd_prior(self.sd, "AR1")
        rho = Beta(1.0, 1.0) if self.rho is None else self.rho
        if not isinstance(rho, Beta):
            raise TypeError(f"AR1 rho must be fg.Beta(a, b), a prior on (1 + rho) / 2, got "
                            f"{rho!r}")
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "unit_is_span", _is_span(self.unit))
        object.__setattr__(self, "unit", _unit(self.unit, "AR1"))

    @property
    def kind(self):
        return "ar1"

    def __str__(self):
        extra = "".join([f", by={self.by!r}" if self.by else "",
                         f", unit={self.unit:g}" if self.unit else ""])
        return f"AR1({'' if not extra else extra[2:] + ', '}sd={self.sd}, rho={self.rho})"


@dataclass(frozen=True)
class ICAR(_Structured):
    """Intrinsic conditional autoregression over areas (Besag, York & Mollie 1991):
    u_i | u_-i ~ N(mean of its neighbours, sd^2 / (c n_i)), n_i its number of
    neighbours.

    ``adjacency``: a 0/1 symmetric matrix with ``levels`` naming its rows (or a
    DataFrame indexed by area), a list of (area, area) edges (``levels``: all areas,
    to include areas without neighbours), or a dict {area: [neighbours]} (an island
    lists none). After construction ``adjacency`` holds the sorted edges and
    ``levels`` the sorted areas, as labels.

    Disconnected graphs are handled as Freni-Sterrantino, Ventrucci & Rue (2018,
    Spatial and Spatio-temporal Epidemiology 26:25-34) recommend: the precision of each
    connected component is scaled on its own so that the geometric mean of its
    marginal variances is 1 (c above; Sorbye & Rue 2014, Spatial Statistics 8:39), each
    component of two or more areas sums to zero, and an island (an area without
    neighbours) is an independent N(0, sd^2) effect. So ``sd`` is a typical sd of an
    area's effect whatever the graph. Areas of the adjacency without data are part of
    the field (their effects are drawn from their neighbours'); a component without
    any data is left out of the sampler (independent of everything, it would only
    return its prior) and its areas are drawn from the prior by ``predict``.
    """

    adjacency: object
    levels: object = None
    sd: object = None

    def __post_init__(self):
        areas, edges = _normalise_adjacency(self.adjacency, self.levels, type(self).__name__)
        object.__setattr__(self, "adjacency", edges)
        object.__setattr__(self, "levels", areas)
        _sd_prior(self.sd, type(self).__name__)

    @property
    def kind(self):
        return "icar"

    def neighbours(self):
        """{area: sorted list of neighbours} for every area."""
        out = {a: [] for a in self.levels}
        for a, b in self.adjacency:
            out[a].append(b)
            out[b].append(a)
        return {a: sorted(n) for a, n in out.items()}

    def __str__(self):
        return (f"{type(self).__name__}({len(self.levels)} areas, {len(self.adjacency)} "
                f"neighbour pairs, sd={self.sd})")


@dataclass(frozen=True)
class BYM2(ICAR):
    """BYM2 (Riebler, Sorbye, Simpson & Rue 2016, Statistical Methods in Medical
    Research 25(4):1145): u = sd (sqrt(1 - phi) v + sqrt(phi) s) with v ~ N(0, I)
    independent and s the scaled ICAR field of :class:`ICAR` (the same components,
    constraints and islands). ``sd`` is the sd of an area's total effect and ``phi``
    in (0, 1) the share of its variance that is spatially structured, with prior
    ``phi`` (fg.Beta(a, b), default Beta(1, 1))."""

    phi: object = None

    def __post_init__(self):
        super().__post_init__()
        phi = Beta(1.0, 1.0) if self.phi is None else self.phi
        if not isinstance(phi, Beta):
            raise TypeError(f"BYM2 phi must be fg.Beta(a, b), got {phi!r}")
        object.__setattr__(self, "phi", phi)

    @property
    def kind(self):
        return "bym2"

    def __str__(self):
        return (f"BYM2({len(self.levels)} areas, {len(self.adjacency)} neighbour pairs, "
                f"sd={self.sd}, phi={self.phi})")


STRUCTURED = (RandomWalk, AR1, ICAR, BYM2)
KINDS = ("rw1", "rw2", "ar1", "icar", "bym2")
