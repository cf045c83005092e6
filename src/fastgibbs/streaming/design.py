"""A design from data that are not in memory: Parquet files or a Dask DataFrame.

:func:`stream_design` reads the data in two passes, each chunk by chunk, keeping only
sums:

1. the levels of every grouping factor and categorical column, the values' kinds and
   missing values (fastgibbs.streaming.levels);
2. the gaussian sufficient statistics X'WX, X'Wy, y'Wy, Z_j'W Z_j, Z_j'W X, Z_j'W y
   per group and the cells between blocks, and the weighted moments of every coded
   column (the internal scaling and the default priors read them), summed about the
   means of the first chunk and then centred and scaled
   (fastgibbs.streaming.accumulate).

The result, a :class:`StreamedDesign`, carries the statistics as a
samplers.problem.Statistics; build_problem uses them as they are, so sampling runs
exactly as for data in memory. Bernoulli (logit and probit), binomial, poisson and
negative binomial models collapse the rows to cells in the second pass instead
(fastgibbs.streaming.cells). The t family, which needs a latent scale per row, is
refused before any row is read.
"""
from dataclasses import dataclass, field
import warnings

import numpy as np

from .._kinds import Family as Kind
from ..design import RANK_DEFICIENT, Block, TermCoding, kept_columns, warn_latent_draws
from ..families import get_family
from ..samplers.problem import (Statistics, _block_offsets, pair_layout,
                                transform_from_moments)
from .accumulate import centred, moments_of, provisional_centre, statistic_partial
from .cells import CELL_FAMILIES, MAX_CELLS, CellMoments, cell_partial, cell_statistics_of, \
    key_labels, split_keys
from .coder import ChunkCoder, plan
from .levels import LevelSpec, Levels, level_partial
from .moments import StreamedMoments
from .source import BATCH_ROWS, open_source

__all__ = ["StreamedDesign", "stream_design"]


@dataclass(frozen=True, eq=False)
class StreamedDesign:
    """A design (fastgibbs.design.Design's fields that describe the model) whose data
    stayed in their files: ``statistics`` (samplers.problem.Statistics) and
    ``moments`` (StreamedMoments) replace the arrays, which are None. ``source``
    describes where the data came from (kind, paths, fingerprint, rows)."""

    formula: str
    response: str
    fixed_names: tuple
    blocks: tuple
    n_obs: int
    statistics: object = field(repr=False)
    moments: object = field(repr=False)
    source: dict = None
    n_dropped: int = 0
    fixed_spec: object = field(default=None, repr=False)
    family: object = None
    offset_terms: tuple = ()
    offset_array: bool = False
    weights_column: str = None      # weights= column (streamed weights are columns)
    weights_array = False
    dropped_fixed: tuple = ()
    structures = {}                 # structured priors are not streamed (api.py)
    y = None
    X = None
    trials = None
    offset = None
    weights = None

    @property
    def n_fixed(self):
        return len(self.fixed_names)


def _refuse_family(family):
    if family.kind == Kind.FAMILY_STUDENT_T:
        raise ValueError(
            f"the {family.name} family cannot be fitted to data streamed from files or a "
            "Dask DataFrame: its sampler keeps a latent scale (weight) for every row, "
            "redrawn each sweep from that row's residual, so it needs the rows in memory, "
            "not sums over them. Fit the rows in memory (pandas), or a gaussian model, "
            "which streams its sufficient statistics")
    if family.kind != Kind.FAMILY_GAUSSIAN and family.kind not in CELL_FAMILIES:
        raise ValueError(
            f"the {family.name} family ({family.link} link) cannot be fitted to data "
            "streamed from files or a Dask DataFrame yet: gaussian models stream their "
            "sufficient statistics and bernoulli, binomial, poisson and negative "
            "binomial models their cells. Fit the rows in memory (pandas)")


def _rank_keep(xwx, names, n_obs, rank_deficient):
    """The fixed columns kept by the rank rule of data in memory (design.py), from
    X'WX on the kernel's scale; warns (or raises) as build_design does. None: all."""
    if not len(names):
        return None
    keep = kept_columns(_gram_residuals(xwx), np.sqrt(np.diag(xwx)), n_obs)
    if len(keep) == len(names):
        return None
    dropped = [n for c, n in enumerate(names) if c not in set(keep)]
    if rank_deficient == "error":
        raise ValueError(f"fixed-effect model matrix is rank deficient: column(s) "
                         f"{dropped} are aliased with earlier ones")
    warnings.warn(f"fixed-effect model matrix is rank deficient: dropping "
                  f"{len(dropped)} column(s) aliased with earlier ones, {dropped} "
                  "(as lme4 does; rank_deficient='error' refuses instead)", stacklevel=4)
    return keep


def _gram_residuals(G):
    """|R_jj| of a QR decomposition of any V with V'V = G[cols][:, cols], for
    design.kept_columns: the rank rule of data in memory, from X'WX."""
    def residuals(cols):
        S = G[np.ix_(cols, cols)]
        values, vectors = np.linalg.eigh(S)
        root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        return np.abs(np.diag(np.linalg.qr(root, mode="r")))
    return residuals


def stream_design(formula, data, family="gaussian", na_action="raise", offset=None,
                  weights=None, rank_deficient="drop", batch_rows=BATCH_ROWS,
                  max_cells=MAX_CELLS):
    """Read ``data`` (Parquet path(s)/glob/directory or a Dask DataFrame) into a
    :class:`StreamedDesign` (see the module docstring; arguments as
    fastgibbs.design.build_design; ``offset`` and ``weights`` must be column names).
    ``batch_rows``: rows per chunk read from a Parquet row group; ``max_cells``: the
    cells a bernoulli or binomial model may collapse to (fastgibbs.streaming.cells)."""
    family = get_family(family)
    _refuse_family(family)
    if rank_deficient not in RANK_DEFICIENT:
        raise ValueError(f"rank_deficient must be one of {RANK_DEFICIENT}, "
                         f"got {rank_deficient!r}")
    source = open_source(data, batch_rows=batch_rows)
    the_plan = plan(formula, source.schema, family, offset=offset, weights=weights,
                    na_action=na_action)
    source.check_columns(the_plan.used)

    # pass 1: levels, kinds, missing values. Columns whose files record no nulls
    # (Parquet statistics) need not be read unless they hold levels
    read = list(the_plan.used)
    if na_action == "raise":
        nulls = source.null_counts(the_plan.used)
        bad = {name: v for name, v in nulls.items() if v[0]}
        if bad:
            raise ValueError("missing values in column(s) " + ", ".join(
                f"{name!r} ({count} missing, first in file {where!r})"
                for name, (count, where) in sorted(bad.items()))
                + "; clean them or pass na_action='drop' to drop those rows")
        read = [n for n in read if n in the_plan.level_columns or n not in nulls] \
            or read[:1]
    spec = LevelSpec(read=tuple(read), level_columns=the_plan.level_columns,
                     factors=the_plan.factors, used=the_plan.used,
                     na_drop=na_action == "drop")
    found = source.map_reduce(level_partial, read, spec)
    if found is None or found.n_rows - found.n_dropped == 0:
        raise ValueError("the data hold no rows" + (" without missing values"
                                                    if found is not None and found.n_rows
                                                    else ""))
    if found.missing and na_action == "raise":
        bad = ", ".join(f"{name!r} ({count} missing, first in {where})"
                        for name, (count, where) in sorted(found.missing.items()))
        raise ValueError(f"missing values in column(s) {bad}; clean them or pass "
                         "na_action='drop' to drop those rows")
    levels = Levels(found, the_plan.factors)
    coder = ChunkCoder(the_plan, levels)
    if coder.event is not None:         # a two-level bernoulli response's levels, as fitted
        family.levels = coder.family.levels
    n_obs = found.n_rows - found.n_dropped
    n_groups = []
    for block in coder.blocks:
        J = len(levels.labels[block.factor])
        if J < 2:
            raise ValueError(f"grouping factor {block.factor!r} has a single level; it "
                             "cannot vary")
        if J == n_obs and family.kind == Kind.FAMILY_GAUSSIAN:
            raise ValueError(
                f"grouping factor {block.factor!r} has one observation per level: in a "
                "gaussian model its variance cannot be told apart from the residual "
                "variance sigma; drop the term")
        if J == n_obs and family.name == "bernoulli":
            raise ValueError(
                f"grouping factor {block.factor!r} has one observation per level, and a "
                "binary (0/1) response carries no information on such a variance; drop "
                "the term")
        n_groups.append(J)
    n_groups = np.array(n_groups, dtype=np.intp)
    blocks = tuple(Block(factor=b.factor, variables=b.variables, lhs=b.lhs,
                         columns=b.columns, Z=None, group=None,
                         levels=np.asarray(levels.labels[b.factor], dtype=object),
                         correlated=b.correlated) for b in coder.blocks)
    description = dict(source.describe(), n_rows=int(found.n_rows))
    names = tuple(coder.fixed_names)
    if family.kind in CELL_FAMILIES:
        return _cell_design(formula, source, the_plan, coder, family, blocks, found,
                            description, rank_deficient, max_cells)

    # pass 2: the statistics, shifted by the means of the first chunk, and the moments
    c0, spread, z_size = source.first(provisional_centre, the_plan.used, coder)
    _check_magnitudes(list(names) + [f"response {coder.parsed.response!r}"], spread,
                      [(b.columns, size) for b, size in zip(blocks, z_size)])
    summed = source.map_reduce(statistic_partial, the_plan.used, coder, c0, n_groups)
    _check_finite_sums(summed, list(names) + [f"response {coder.parsed.response!r}"],
                       blocks)
    moments = StreamedMoments(moments_of(summed, c0))
    draft = StreamedDesign(formula=formula, response=coder.parsed.response,
                           fixed_names=names, blocks=blocks, n_obs=n_obs, statistics=None,
                           moments=moments, family=family)
    transform = transform_from_moments(draft, moments)
    stats, tables = centred(summed, c0, transform, n_groups)

    terms, dropped = coder.fixed_terms, ()
    keep = _rank_keep(stats["xtx"], names, n_obs, rank_deficient)
    if keep is not None:
        dropped = tuple(n for c, n in enumerate(names) if c not in set(keep))
        stats = _keep_fixed(stats, keep, n_groups, [b.n_re for b in blocks])
        moments = moments.subset(keep)
        terms = terms.keep_only(keep)
        names = terms.names
        draft = StreamedDesign(formula=formula, response=draft.response,
                               fixed_names=tuple(names), blocks=blocks, n_obs=n_obs,
                               statistics=None, moments=moments, family=family)
        transform = transform_from_moments(draft, moments)

    pairs = pair_layout(tables, n_groups) + (None,)
    offs = _block_offsets(blocks, len(names))
    statistics = Statistics(
        transform=transform, stats=stats, pairs=pairs, xwx=stats["xtx"],
        group_moments=_group_moments(blocks, stats, offs, moments, transform),
        spread=moments.spread / transform.y_scale ** 2)
    return StreamedDesign(
        formula=formula, response=draft.response, fixed_names=tuple(names), blocks=blocks,
        n_obs=int(n_obs), statistics=statistics, moments=moments, source=description,
        n_dropped=int(found.n_dropped),
        fixed_spec=TermCoding(fixed=terms, bars=tuple(b.coding for b in coder.blocks)),
        family=family, offset_terms=coder.offset_terms, dropped_fixed=dropped,
        weights_column=the_plan.weights)


def _cell_design(formula, source, the_plan, coder, family, blocks, found, description,
                 rank_deficient, max_cells):
    """The StreamedDesign of a model on cells (bernoulli, binomial, poisson, negative
    binomial): pass 2 collapses the rows to cells (fastgibbs.streaming.cells)."""
    names = tuple(coder.fixed_names)
    n_obs = found.n_rows - found.n_dropped
    labels = key_labels(names, blocks, family.kind, coder.parsed.response)
    cells = source.map_reduce(cell_partial, the_plan.used, coder, labels, max_cells)
    X, Zs, groups, weight, cy, cn, coff = split_keys(cells, len(names), blocks,
                                                     family.kind)
    if the_plan.weights is not None:    # the cells' weights: the rows' weights summed
        warn_latent_draws(family, float(np.sum(weight)), stacklevel=5)
    with np.errstate(over="ignore"):
        exposure = float(np.sum(np.exp(coff))) if family.kind == Kind.FAMILY_POISSON \
            else float(np.sum(weight * np.exp(coff)))

    def statistics_for(X, names):
        moments = CellMoments(X, Zs, weight, cells.any_offset,
                              response_sum=float(np.sum(cells.sums[:, 1])),
                              exposure_sum=exposure)
        draft = StreamedDesign(formula=formula, response=coder.parsed.response,
                               fixed_names=tuple(names), blocks=blocks, n_obs=n_obs,
                               statistics=None, moments=moments, family=family)
        return moments, cell_statistics_of(draft, X, Zs, groups, cy, cn, coff, weight)

    moments, statistics = statistics_for(X, names)
    terms, dropped = coder.fixed_terms, ()
    keep = _rank_keep(statistics.xwx, names, n_obs, rank_deficient)
    if keep is not None:
        dropped = tuple(n for c, n in enumerate(names) if c not in set(keep))
        terms = terms.keep_only(keep)
        names = tuple(terms.names)
        moments, statistics = statistics_for(np.ascontiguousarray(X[:, keep]), names)
    return StreamedDesign(
        formula=formula, response=coder.parsed.response, fixed_names=tuple(names),
        blocks=blocks, n_obs=int(n_obs), statistics=statistics, moments=moments,
        source=dict(description, n_cells=int(len(statistics.cells["y"]))),
        n_dropped=int(found.n_dropped),
        fixed_spec=TermCoding(fixed=terms, bars=tuple(b.coding for b in coder.blocks)),
        family=family, offset_terms=coder.offset_terms, dropped_fixed=dropped,
        weights_column=the_plan.weights)


# Streamed sums hold squares of the columns (about the first chunk's means) in
# doubles: columns whose spread is beyond these magnitudes would overflow or underflow
# (in memory the columns are scaled first; fastgibbs.moments).
MAGNITUDE_RANGE = (1e-140, 1e140)


def _refuse_magnitude(what, size):
    raise ValueError(f"{what} varies by about {size:.3g}: data streamed from files are summed "
                     "as squares in double precision, which needs spreads between "
                     f"{MAGNITUDE_RANGE[0]:g} and {MAGNITUDE_RANGE[1]:g}; rescale the "
                     "column (or fit the data in memory)")


def _check_magnitudes(names, spread, z_sizes):
    """Refuse columns whose spread in the first chunk is beyond MAGNITUDE_RANGE."""
    low, high = MAGNITUDE_RANGE
    for name, size in zip(names, spread):
        if size > high or 0 < size < low:
            _refuse_magnitude(name if name.startswith("response") else f"column {name!r}",
                              size)
    for columns, sizes in z_sizes:
        for name, size in zip(columns, sizes):
            if size > high or 0 < size < low:
                _refuse_magnitude(f"column {name!r}", size)


def _check_finite_sums(summed, names, blocks):
    """Refuse sums that overflowed (values far larger in later chunks than in the
    first), naming the column."""
    bad = ~np.isfinite(np.diag(summed.gram)) | ~np.isfinite(summed.sums)
    for name, is_bad in zip(names, bad):
        if is_bad:
            _refuse_magnitude(name if name.startswith("response") else f"column {name!r}",
                              float("inf"))
    for block, ztz in zip(blocks, summed.ztz):
        if not np.all(np.isfinite(ztz)):
            _refuse_magnitude(f"a column of {block.covariance_key!r}", float("inf"))
    for block, zta in zip(blocks, summed.zta):
        if not np.all(np.isfinite(zta)):
            _refuse_magnitude(f"a column of {block.covariance_key!r} times a fixed column",
                              float("inf"))


def _keep_fixed(stats, keep, n_groups, n_re):
    """The statistics with only the fixed columns ``keep``."""
    p = stats["xtx"].shape[0]
    ztx = stats["ztx"].reshape(-1, p)[:, keep] if p else stats["ztx"]
    return dict(stats, xtx=np.ascontiguousarray(stats["xtx"][np.ix_(keep, keep)]),
                xty=np.ascontiguousarray(stats["xty"][keep]),
                ztx=np.ascontiguousarray(ztx).ravel())


def _group_moments(blocks, stats, offs, moments, transform):
    """samplers.problem._group_column_moments from the sums: the sds of the scaled Z
    columns and, for blocks of two or more, Z'WZ summed over the groups."""
    out = []
    for k, (block, zs) in enumerate(zip(blocks, transform.z_scale)):
        q, J = block.n_re, block.n_groups
        sds = np.array([moments.z(k, c)[1] for c in range(q)]) / zs
        M = None
        if q >= 2:
            start = int(offs["ztz_off"][k])
            M = stats["ztz"][start:start + J * q * q].reshape(J, q, q).sum(axis=0)
        out.append((sds, M))
    return tuple(out)
