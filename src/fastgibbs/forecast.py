"""Effects of new levels of structured group terms (fastgibbs.structured), for
prediction: forecasts of new times and effects of new areas, one joint draw per
posterior draw.

Time structures (RW1, RW2, AR1), a new time of a fitted series: the path at the new
times is drawn from its conditional given the fitted path at the same posterior draw,
as a process in continuous time (gaps in ``unit``s), so that a new time has the same
law whichever other new times newdata asks for:

- RW1 (Brownian motion at the times): with Q the random-walk precision on the union
  of the times (as in fitting, fastgibbs.gmrf.rw_precision) and x_n, x_o the new and
  fitted effects, x_n | x_o ~ N(-Q_nn^-1 Q_no x_o, sd^2 Q_nn^-1) (Rue & Held 2005,
  Theorem 2.5): the walk continued with the drawn sd beyond the last time,
  u* ~ N(u_T, sd^2 d / unit) for a time d after it (before the first time: backwards
  from the first), and a Brownian bridge between two fitted times. Brownian motion
  is one process, so a new time's law does not depend on the other new times.
- RW2: the fitted precision (second divided differences with variances
  (d_{i-1} + d_i) / 2) is the Galerkin approximation of the integrated Wiener process
  with piecewise linear functions on the fitted times (Lindgren & Rue 2008, "On the
  second-order random walk model for irregular locations", Scand. J. Stat. 35), and
  the new times are drawn from that piecewise linear process. Between two fitted
  times: the linear interpolation of the fitted path (no noise of its own; its
  uncertainty is that of the path). Beyond the last time T: the walk continued on
  the nodes T + 1, T + 2, ... unit (before the first time: backwards from it), which
  continues the last slope s = (u_T - u_{T-1}) / d (d the last gap): the first step
  has variance sd^2 (d + 1) / 2 (the fitted precision's row at T), the next ones
  sd^2, so with d = 1, u_{T+k} ~ N(u_T + k s, sd^2 sum_{r<=k} r^2); linear between
  the nodes. The nodes depend on the fit only (adding a node at the end leaves the
  law of the others unchanged). Drawing on the union of the fitted and new times, as
  for RW1, did not have that property: its divided differences change when a time is
  added (2 steps ahead alone had variance 6 sd^2, after the step between 5 sd^2).
- AR1 (the Ornstein-Uhlenbeck process at the times): the new times are drawn one
  after another, each given its nearest known time on each side (the path is
  Markov): after the last time u* ~ N(rho^d u_T, sd^2 (1 - rho^(2d))), the forecast
  reverting to 0 with rho.
- Several new times of a series are drawn jointly (from one path per draw).

A new series of a ``by=`` term (a state not in the fit) gets a path from the prior:
the random walk constrained as in fitting (sum zero; RW2 also no trend), i.e.
N(0, sd^2 Q^+) over its times, so a new series with a single time gets 0 (RW2: with
up to two times); AR1 the stationary process. The constraints are over the times
newdata gives the new series, so (unlike a fitted series) the law of one of its
times depends on its other times.

Areal structures (ICAR, BYM2), a level that is not an area of the fitted field:

- an area of the adjacency whose connected component had no data (left out of the
  sampler): drawn from the prior of its component, jointly with the other areas of
  the component in the same prediction (ICAR: N(0, sd^2 Q^+) with Q the scaled
  Laplacian of the component, or N(0, sd^2) for an island; BYM2:
  sd (sqrt(1 - phi) v + sqrt(phi) s) with s that field at sd 1);
- an area given with its neighbours (``neighbours=`` of ``Fit.predict``; they must
  be areas of the fitted field): ICAR's conditional u* ~ N(mean of the neighbours'
  effects, sd^2 / (c m)) with m neighbours and c the Sorbye-Rue scale of their
  component (the geometric mean of the scales if they lie in several). The scale is
  the fitted one (adding the area would change it slightly). BYM2 is refused: its
  spatial part s is not kept in the draws;
- any other area: as an island, N(0, sd^2): the marginal of an area in the scaled
  field (the scaling makes sd the typical sd of an area's effect), and the total
  effect of a BYM2 area without spatial information.
"""
import numpy as np

__all__ = ["new_level_info", "new_effects"]

# a new time this close to a whole number of steps from a series' end (relative to the
# distance, at least one step) is on that step's node
WHOLE = 1e-9


def _pooled(fit, name, draws):
    return fit.draws(name).reshape(-1)[draws]


def _record(fit, term):
    return (getattr(fit, "structures", None) or {}).get(term)


def structured_term(fit, k):
    """The structured term of block k, or None."""
    for term in fit.blocks[k].terms:
        if _record(fit, term) is not None:
            return term
    return None


# ----------------------------------------------------------------------------------
# What the new rows say about the new levels
# ----------------------------------------------------------------------------------
def new_level_info(fit, k, data, labels, new, neighbours=None):
    """What :func:`new_effects` needs of the new levels ``new`` (sorted labels) of
    block k, read from the rows of ``data`` (``labels``: each row's level label):
    time structures, the time (in the fit's time scale) and series label of each new
    level; areal structures, each new level's neighbours (list of fitted areas, or
    None). Raises ValueError for time values the fit cannot order."""
    from .columns import format_level
    from .gmrf import TIME_KINDS, _time_values

    term = structured_term(fit, k)
    record = _record(fit, term)
    labels = np.asarray(labels, dtype=object)
    first = {}
    for i, lvl in enumerate(labels):
        first.setdefault(lvl, i)
    rows = np.array([first[lvl] for lvl in new], dtype=np.intp)
    if record["kind"] in TIME_KINDS:
        if not new:
            return None
        column = record["time_column"]
        what = f"predict: structured term {term!r}"
        if column not in data.columns:
            raise ValueError(f"{what}: newdata lacks the time column {column!r}")
        # time_aware: None for fits saved before it was kept (not checked)
        time, kind, _ = _time_values(np.asarray(data[column])[rows], column, what,
                                     aware=record.get("time_aware"))
        if kind != record["time_kind"]:
            raise ValueError(f"{what}: the time column {column!r} was {record['time_kind']} in "
                             f"the fit but is {kind} in newdata")
        if not np.all(np.isfinite(time)):
            raise ValueError(f"{what}: the time column {column!r} has non-finite values")
        if record["by"]:
            series = [format_level(v) for v in np.asarray(data[record["by"]])[rows]]
        else:
            series = [""] * len(new)
        return {"term": term, "labels": [str(lvl) for lvl in new], "time": time,
                "series": [str(s) for s in series]}
    given = _neighbours_of_term(fit, k, term, neighbours)
    fitted = set(str(lvl) for lvl in fit.blocks[k].levels)
    out = []
    for lvl in new:
        nb = given.pop(str(lvl), None) if given else None
        if nb is not None:
            nb = sorted(set(str(a) for a in nb))
            if not nb:
                raise ValueError(f"predict: neighbours of new area {lvl!r} of {term!r} must be "
                                 "a non-empty list of fitted areas")
            unknown = [a for a in nb if a not in fitted]
            if unknown:
                raise ValueError(f"predict: neighbours {unknown[:5]} of new area {lvl!r} are not "
                                 f"areas of the fitted field of {term!r}")
            if record["kind"] == "bym2":
                raise ValueError(f"predict: {term!r} is BYM2, whose spatial part is not kept in "
                                 "the draws, so a new area cannot be drawn given its "
                                 "neighbours; leave it out of neighbours= to draw its total "
                                 "effect from N(0, sd^2)")
        out.append(nb)
    if given:
        extra = sorted(given)[:5]
        raise ValueError(f"predict: neighbours= names {extra} for {term!r}, which are not new "
                         "areas of newdata (fitted areas keep their fitted effects)")
    return {"term": term, "labels": [str(lvl) for lvl in new], "neighbours": out}


def same_times(fit, k, data, labels):
    """``labels`` (each row's level label of block k) with every label the fit does not
    know replaced by the fitted level of the same series at the same time, for a time
    structure: the fit orders time-zone aware times by the time elapsed in UTC but
    labels them in their own zone, so the same instant written in another zone (or in
    UTC) is that fitted level, not a new time. Other labels are returned as they are
    (new_level_info reads and checks new times)."""
    from .columns import format_level
    from .gmrf import TIME_KINDS, _time_values

    term = structured_term(fit, k)
    record = _record(fit, term) if term is not None else None
    if record is None or record["kind"] not in TIME_KINDS:
        return labels
    levels = fit.blocks[k].levels
    known = set(levels)
    first = {}
    for i, lvl in enumerate(labels):
        if lvl not in known:
            first.setdefault(lvl, i)
    if not first or record["time_column"] not in data.columns:
        return labels
    rows = np.array(list(first.values()), dtype=np.intp)
    column = record["time_column"]
    try:
        time, kind, _ = _time_values(np.asarray(data[column])[rows], column, "predict",
                                     aware=record.get("time_aware"))
    except (TypeError, ValueError):
        return labels
    if kind != record["time_kind"]:
        return labels
    if record["by"]:
        series = [str(format_level(v)) for v in np.asarray(data[record["by"]])[rows]]
    else:
        series = [""] * len(rows)
    fitted_time = np.asarray(record["time"], dtype=float)
    fitted_series = np.asarray(record["series_labels"], dtype=object)[
        np.asarray(record["series"], dtype=np.intp)].astype(str)
    same = {}
    for lvl, t, label in zip(first, time, series):
        hit = np.flatnonzero((fitted_series == label)
                             & np.isclose(fitted_time, t, rtol=1e-14, atol=0.0))
        if hit.size == 1:
            same[lvl] = levels[hit[0]]
    return [same.get(lvl, lvl) for lvl in labels] if same else labels


def _neighbours_of_term(fit, k, term, neighbours):
    """The {area: [neighbours]} given for ``term`` (keyed by term label or factor)."""
    if neighbours is None:
        return {}
    if not isinstance(neighbours, dict):
        raise TypeError(f"neighbours must be a dict {{term or factor: {{area: [neighbours]}}}}, "
                        f"got {type(neighbours).__name__}")
    factor = fit.blocks[k].factor
    if term in neighbours and factor in neighbours and term != factor:
        raise ValueError(f"neighbours= names both {term!r} and its factor {factor!r}; give the "
                         "new areas' neighbours once")
    entry = neighbours.get(term, neighbours.get(factor))
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise TypeError(f"neighbours[{term!r}] must be a dict {{area: [neighbours]}}, got "
                        f"{type(entry).__name__}")
    for key, value in entry.items():
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"neighbours of {key!r} must be a list of areas, got {value!r}")
    from .structured import _label
    return {_label(key): [_label(v) for v in value] for key, value in entry.items()}


def check_neighbours_keys(fit, neighbours, terms=None):
    """ValueError if ``neighbours`` names a term or factor without an areal structure,
    or (``terms``: {block: columns} of the prediction, from predictive.included_terms)
    one whose term the prediction leaves out."""
    if neighbours is None:
        return
    if not isinstance(neighbours, dict):
        raise TypeError(f"neighbours must be a dict {{term or factor: {{area: [neighbours]}}}}, "
                        f"got {type(neighbours).__name__}")
    areal = {}
    for k, block in enumerate(fit.blocks):
        term = structured_term(fit, k)
        if term is not None and _record(fit, term)["kind"] in ("icar", "bym2"):
            column = list(block.terms).index(term)
            areal[term] = areal[block.factor] = (k, column, term)
    bad = [key for key in neighbours if key not in areal]
    if bad:
        raise ValueError(f"neighbours= names {bad[:3]}, which are not ICAR/BYM2 terms or "
                         f"their factors (those of this fit: {sorted(areal) or 'none'})")
    if terms is None:
        return
    for key in neighbours:
        k, column, term = areal[key]
        if column not in terms.get(k, ()):
            raise ValueError(f"neighbours= names {key!r}, but include= leaves its term {term!r} "
                             "out of the prediction, so no area of it is drawn; include the "
                             f"term or drop {key!r} from neighbours=")


# ----------------------------------------------------------------------------------
# Draws
# ----------------------------------------------------------------------------------
def new_effects(fit, k, info, u, draws, rng):
    """(S, n_new) effects of the new levels of block k at the posterior draws
    ``draws`` (S positions into the pooled draws); ``u`` (S, J) the fitted effects
    at those draws; ``info`` from :func:`new_level_info`."""
    from .gmrf import TIME_KINDS
    term = info["term"]
    record = _record(fit, term)
    sd = _pooled(fit, term + "_sigma", draws)
    if record["kind"] in TIME_KINDS:
        return _time_effects(fit, term, record, info, u, sd, draws, rng)
    return _areal_effects(fit, k, term, record, info, u, sd, draws, rng)


def _chol_pinv(Q):
    """(n, r) factor F of the pseudo-inverse of a symmetric PSD matrix: F F' = Q^+."""
    w, V = np.linalg.eigh(np.asarray(Q, dtype=float))
    keep = w > 1e-10 * max(w.max(), 1e-300)
    return V[:, keep] / np.sqrt(w[keep])


def _time_effects(fit, term, record, info, u, sd, draws, rng):
    time = np.asarray(record["time"], dtype=float)
    series = np.asarray(record["series"], dtype=np.intp)
    labels = list(record["series_labels"])
    unit = float(record["unit"])
    kind = record["kind"]
    rho = _pooled(fit, term + "_rho", draws) if kind == "ar1" else None
    S = u.shape[0]
    new_t = np.asarray(info["time"], dtype=float)
    new_s = np.asarray(info["series"], dtype=object)
    out = np.zeros((S, len(new_t)))
    for label in dict.fromkeys(new_s):
        at = np.flatnonzero(new_s == label)
        t_new = new_t[at] / unit
        if len(np.unique(t_new)) != len(t_new):       # cannot happen: a level is a time
            raise ValueError(f"predict: two new levels of {term!r} share a time")
        if label in labels:
            own = np.flatnonzero(series == labels.index(label))
            own = own[np.argsort(time[own])]
            t_old = time[own] / unit
            if np.any(np.isin(t_new, t_old)):
                raise ValueError(f"predict: a new level of {term!r} has the time of a fitted "
                                 "level of its series; check the time column's type")
            x_old = u[:, own]
        else:
            t_old, x_old = np.zeros(0), np.zeros((S, 0))
        if kind == "ar1":
            out[:, at] = _ar1_conditional(t_old, x_old, t_new, sd, rho, rng, term,
                                          record["whole_steps"])
        elif kind == "rw2" and len(t_old):
            out[:, at] = _rw2_conditional(t_old, x_old, t_new, sd, rng)
        else:
            out[:, at] = _rw_conditional(t_old, x_old, t_new, sd, 1 if kind == "rw1" else 2,
                                         rng)
    return out


def _rw2_conditional(t_old, x_old, t_new, sd, rng):
    """(S, n_new) draws of a fitted RW2 series at t_new given its path x_old (S, n_old)
    at the sorted times t_old (both in steps), as the continuous-time process of the
    fitted precision (Lindgren & Rue 2008: piecewise linear between its nodes).
    Between fitted times: the linear interpolation of the path. Beyond the last time
    (before the first, mirrored): the walk on the nodes T + 1, T + 2, ... (whole steps
    from T, whatever newdata asks), linear between them. The nodes are fixed by the
    fit, so the law of a new time does not depend on the other new times."""
    S, n_new = x_old.shape[0], len(t_new)
    out = np.empty((S, n_new))
    inside = (t_new > t_old[0]) & (t_new < t_old[-1])
    if inside.any():
        t = t_new[inside]
        i = np.clip(np.searchsorted(t_old, t, side="right") - 1, 0, len(t_old) - 2)
        w = (t - t_old[i]) / (t_old[i + 1] - t_old[i])
        out[:, inside] = x_old[:, i] * (1 - w) + x_old[:, i + 1] * w
    after, before = t_new > t_old[-1], t_new < t_old[0]
    if after.any():
        out[:, after] = _rw2_beyond(x_old[:, -1], x_old[:, -2], t_old[-1] - t_old[-2],
                                    t_new[after] - t_old[-1], sd, rng)
    if before.any():
        out[:, before] = _rw2_beyond(x_old[:, 0], x_old[:, 1], t_old[1] - t_old[0],
                                     t_old[0] - t_new[before], sd, rng)
    return out


def _rw2_beyond(x_end, x_next, d, h, sd, rng):
    """(S, len(h)) the RW2 walked outwards from a series' end: ``x_end`` (S,) the effect
    at the end time, ``x_next`` the one a gap of ``d`` steps inwards, ``h`` (> 0) the
    distances of the new times from the end, in steps. The walk is drawn at the whole
    steps k = 1, 2, ... from the end that the new times need (k = floor and ceil of
    each h): with v the slope of the last step, the fitted precision's row at the end
    gives v_1 = (x_end - x_next) / d + e_1, e_1 ~ N(0, sd^2 (d + 1) / 2), and every
    further step v_k = v_{k-1} + e_k, e_k ~ N(0, sd^2), x_k = x_{k-1} + v_k; m steps
    at once add m v, and the noises (sum e, sum (m - i + 1) e_i) with covariance
    sd^2 [[m, m(m+1)/2], [m(m+1)/2, m(m+1)(2m+1)/6]]. A new time between two whole
    steps gets the linear interpolation of the walk there."""
    S = x_end.shape[0]
    h = np.asarray(h, dtype=float)
    k = np.round(h)
    on_node = np.abs(h - k) <= WHOLE * np.maximum(h, 1.0)
    lo = np.where(on_node, k, np.floor(h)).astype(np.int64)
    hi = np.where(on_node, k, lo + 1).astype(np.int64)
    nodes = np.unique(np.r_[lo, hi])
    nodes = nodes[nodes >= 1]
    values = {0: x_end}
    x, v, at = x_end, (x_end - x_next) / d, 0
    for node in nodes:
        if at == 0:                        # the first step, from the fitted precision
            v = v + sd * np.sqrt((d + 1.0) / 2.0) * rng.standard_normal(S)
            x, at = x + v, 1
            values[1] = x
        m = float(node - at)
        if m > 0:
            z1, z2 = rng.standard_normal((2, S))
            a, b, c = m, m * (m + 1) / 2, m * (m + 1) * (2 * m + 1) / 6
            e_slope = np.sqrt(a) * z1
            e_level = b / np.sqrt(a) * z1 + np.sqrt(max(c - b * b / a, 0.0)) * z2
            x, v, at = x + m * v + sd * e_level, v + sd * e_slope, int(node)
            values[at] = x
    out = np.empty((S, len(h)))
    for j in range(len(h)):
        if lo[j] == hi[j]:
            out[:, j] = values[int(lo[j])]
        else:
            w = h[j] - lo[j]
            out[:, j] = (1 - w) * values[int(lo[j])] + w * values[int(hi[j])]
    return out


def _rw_conditional(t_old, x_old, t_new, sd, order, rng):
    """(S, n_new) draws of a random walk at t_new given x_old (S, n_old) at t_old
    (both in steps); without fitted times, the constrained prior N(0, sd^2 Q^+)."""
    from .gmrf import rw_precision
    S = x_old.shape[0]
    n_new = len(t_new)
    if len(t_old) == 0:
        if n_new <= order:                 # the constraints leave nothing to draw
            return np.zeros((S, n_new))
        order_new = np.argsort(t_new)
        F = _chol_pinv(rw_precision(t_new[order_new], order).toarray())
        x = (rng.standard_normal((S, F.shape[1])) @ F.T) * sd[:, None]
        out = np.empty_like(x)
        out[:, order_new] = x
        return out
    t_all = np.concatenate([t_old, t_new])
    order_all = np.argsort(t_all)
    Q = rw_precision(t_all[order_all], order).tocsr()
    where = np.empty(len(t_all), dtype=np.intp)
    where[order_all] = np.arange(len(t_all))        # position of each time in sorted order
    old, new = where[:len(t_old)], where[len(t_old):]
    Q_nn = Q[new][:, new].toarray()
    Q_no = Q[new][:, old]
    cols = np.unique(Q_no.nonzero()[1])             # fitted times the new ones depend on
    L = np.linalg.cholesky(Q_nn)
    H = -np.linalg.solve(Q_nn, Q_no[:, cols].toarray())              # (n_new, m)
    mean = x_old[:, cols] @ H.T
    # cov sd^2 Q_nn^-1 = sd^2 L^-T L^-1: x = L^-T z has covariance Q_nn^-1
    z = rng.standard_normal((S, n_new))
    from scipy.linalg import solve_triangular
    noise = solve_triangular(L, z.T, lower=True, trans="T").T
    return mean + sd[:, None] * noise


def _ar1_conditional(t_old, x_old, t_new, sd, rho, rng, term, whole_steps):
    """(S, n_new) draws of the stationary AR(1) (OU) path at t_new given x_old at
    t_old, one new time after another, each given its nearest known neighbours."""
    S = x_old.shape[0]
    from .gmrf import whole_steps as whole
    steps_whole = bool(whole_steps) and whole(np.sort(np.r_[t_old, t_new]), least=0)
    if np.any(rho < 0) and not steps_whole:
        raise ValueError(f"predict: {term!r} has draws with rho < 0, which fit only whole "
                         "steps between times; the new times are a fraction of a step from "
                         "the fitted ones")

    def power(d):
        return np.power(rho, np.round(d) if steps_whole else d)

    known_t = list(t_old)
    known_x = [x_old[:, i] for i in range(len(t_old))]
    out = np.zeros((S, len(t_new)))
    z = rng.standard_normal((S, len(t_new)))
    for i in np.argsort(t_new):
        t = t_new[i]
        kt = np.asarray(known_t)
        left = np.flatnonzero(kt < t)
        right = np.flatnonzero(kt > t)
        left = left[np.argmax(kt[left])] if left.size else None
        right = right[np.argmin(kt[right])] if right.size else None
        if left is None and right is None:
            mean, var = np.zeros(S), np.ones(S)
        elif right is None:
            r1 = power(t - kt[left])
            mean, var = r1 * known_x[left], 1 - r1 ** 2
        elif left is None:
            r2 = power(kt[right] - t)
            mean, var = r2 * known_x[right], 1 - r2 ** 2
        else:
            r1, r2 = power(t - kt[left]), power(kt[right] - t)
            denom = 1 - (r1 * r2) ** 2
            mean = (r1 * (1 - r2 ** 2) * known_x[left] + r2 * (1 - r1 ** 2) * known_x[right]) \
                / denom
            var = (1 - r1 ** 2) * (1 - r2 ** 2) / denom
        x = mean + sd * np.sqrt(np.maximum(var, 0.0)) * z[:, i]
        out[:, i] = x
        known_t.append(t)
        known_x.append(x)
    return out


def _areal_effects(fit, k, term, record, info, u, sd, draws, rng):
    from .gmrf import scale_factor
    from scipy.sparse import coo_matrix
    S = u.shape[0]
    neighbours = info["neighbours"]
    new = info["labels"]
    out = np.zeros((S, len(new)))
    phi = _pooled(fit, term + "_phi", draws) if record["kind"] == "bym2" else None
    levels = [str(lvl) for lvl in fit.blocks[k].levels]
    dropped = set(record.get("dropped", ()))
    edges = [tuple(e) for e in record.get("dropped_edges", ())]
    if dropped and any(lvl in dropped for lvl in new) and "dropped_edges" not in record:
        raise ValueError(f"predict: this fit of {term!r} was saved by an older fastgibbs that "
                         "did not keep the neighbours of areas without data; refit it")
    done = set()
    for i, lvl in enumerate(new):
        if i in done:
            continue
        if neighbours[i] is not None:                  # ICAR conditional given neighbours
            if "scale" not in record:
                raise ValueError(f"predict: this fit of {term!r} was saved by an older "
                                 "fastgibbs without the field's scale; refit it")
            idx = [levels.index(a) for a in neighbours[i]]
            c = float(np.exp(np.mean(np.log(np.asarray(record["scale"])[idx]))))
            m = len(idx)
            out[:, i] = u[:, idx].mean(axis=1) + sd / np.sqrt(c * m) * rng.standard_normal(S)
            done.add(i)
        elif lvl in dropped:                           # its component, from the prior
            comp = _component(lvl, edges)
            wanted = [j for j, other in enumerate(new) if other in comp]
            members = sorted(comp)
            index = {a: j for j, a in enumerate(members)}
            if len(members) == 1:
                F = np.ones((1, 1))
            else:
                pairs = [e for e in edges if e[0] in comp]
                r = [index[a] for a, _ in pairs] + [index[b] for _, b in pairs]
                c_ = [index[b] for _, b in pairs] + [index[a] for a, _ in pairs]
                A = coo_matrix((np.ones(len(r)), (r, c_)), shape=(len(members),) * 2).tocsr()
                L = np.diag(np.asarray(A.sum(axis=1)).ravel()) - A.toarray()
                F = _chol_pinv(scale_factor(A) * L)
            s = rng.standard_normal((S, F.shape[1])) @ F.T          # (S, component)
            pick = [index[new[j]] for j in wanted]
            if phi is None:
                out[:, wanted] = sd[:, None] * s[:, pick]
            else:
                v = rng.standard_normal((S, len(wanted)))
                out[:, wanted] = sd[:, None] * (np.sqrt(1 - phi)[:, None] * v
                                                + np.sqrt(phi)[:, None] * s[:, pick])
            done.update(wanted)
        else:                                          # unknown area: as an island
            out[:, i] = sd * rng.standard_normal(S)
            done.add(i)
    return out


def _component(area, edges):
    """The set of areas connected to ``area`` by ``edges``."""
    adj = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    seen, stack = {area}, [area]
    while stack:
        for b in adj.get(stack.pop(), ()):
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return seen
