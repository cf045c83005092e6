"""``fastgibbs.Model`` (build a design once, sample it many times) and ``fastgibbs.fit``
(the one-call shortcut)."""
from functools import partial
from contextlib import nullcontext as _nothing
import dataclasses
import numbers
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from ._process_limits import with_process_limits
from .chains import BACKENDS, chain_seeds, chain_workers, default_jobs, replay_seed, run_chains
from .design import aligned_series, build_design
from .families import get_family
from .gmrf import attach_structures, smoothed_terms
from .lme4 import BlockInfo
from .priors import resolve_priors
from .progress import ProgressBar
from .results import Fit, mh_acceptance_message
from .samplers.chain import run_chain, run_chain_at
from .samplers.problem import build_problem, parameter_layout
from .simulate import simulate_datasets
from .streaming import is_streamed

__all__ = ["Model", "fit"]

# Sweeps per chain (warmup + draws * thin) are counted in the kernels' Py_ssize_t and
# by the progress bar in floats: keep them exact in both.
MAX_SWEEPS = 2 ** 53
BYTES_PER_DRAW = 8


def _count(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _memory_bytes():
    """Physical memory of this machine in bytes, or None when it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _gb(n_bytes):
    return f"{n_bytes / 1e9:.3g} GB"


def check_sample_args(chains, warmup, draws, thin, n_jobs, backend, n_params=None):
    """Validate sampling arguments; returns (chains, warmup, draws, thin) as ints.

    Refuses runs whose sweep count overflows the kernels' counters and, given
    ``n_params``, runs whose draws (kept warmup included, stored twice while the chains
    are stacked) would not fit in this machine's memory, naming the largest argument."""
    chains = _count(chains, "chains", 1)
    warmup = _count(warmup, "warmup", 0)
    draws = _count(draws, "draws", 1)
    thin = _count(thin, "thin", 1)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if n_jobs is not None:
        _count(n_jobs, "n_jobs", 1)
    sweeps = warmup + draws * thin
    if sweeps >= MAX_SWEEPS:
        name = "thin" if thin > max(draws, warmup) else "draws" if draws * thin > warmup \
            else "warmup"
        raise ValueError(f"{name}: warmup + draws * thin = {sweeps:.3g} sweeps per chain, more "
                         f"than the {MAX_SWEEPS:.3g} a chain can count; lower {name}")
    if n_params is not None:
        needed = 2 * chains * (warmup + draws) * int(n_params) * BYTES_PER_DRAW
        memory = _memory_bytes()
        if memory is not None and needed > memory:
            name = max((("chains", chains), ("draws", draws), ("warmup", warmup)),
                       key=lambda item: item[1])[0]
            raise ValueError(
                f"{name}: {chains} chains x ({warmup} warmup + {draws} draws) x {n_params} "
                f"parameters need {_gb(needed)} of memory (draws are kept, and copied once "
                f"when the chains are stacked), more than this machine's {_gb(memory)}; "
                f"lower {name}" + (" (thin keeps fewer of them)" if name == "draws" else ""))
    return chains, warmup, draws, thin


def check_parameter_names(design, names):
    """Refuse a model in which two parameters, or a fixed effect and a group term (both
    prior keys), would have one name: draws, summaries and priors are keyed by name."""
    seen = set()
    for name in names:
        if name not in seen:
            seen.add(name)
            continue
        if name in design.fixed_names:
            raise ValueError(f"fixed effect {name!r} has the name of another parameter of the "
                             f"model (the parameters are {', '.join(dict.fromkeys(names))}); "
                             f"rename the data column behind it, e.g. to '{name}_x'")
        raise ValueError(f"two parameters would both be named {name!r} (group levels that "
                         "print the same, such as 1 and '1', or labels joined by ':' that "
                         "coincide); make the labels of the grouping column distinct")
    group_keys = {key for block in design.blocks
                  for key in block.terms + ((block.covariance_key,) if block.correlated else ())}
    for name in design.fixed_names:
        if name in group_keys:
            raise ValueError(f"fixed effect {name!r} has the name of a group term; rename the "
                             "data column behind it")
        if name in design.family.dispersion:
            raise ValueError(f"fixed effect {name!r} has the name of the {design.family.name} "
                             "family's dispersion parameter; rename the data column behind it, "
                             f"e.g. to '{name}_x'")


def _refuse_structured(priors):
    """Structured priors (fastgibbs.gmrf) need the rows' group layout: not streamed."""
    from .structured import STRUCTURED
    for key, prior in (priors.items() if isinstance(priors, dict) else ()):
        if isinstance(prior, STRUCTURED):
            raise ValueError(f"the structured prior on {key!r} cannot be used with data "
                             "streamed from files or a Dask DataFrame yet; fit the data in "
                             "memory (pandas) for structured terms")


class Model:
    """A multilevel model on data: the design and sufficient statistics, built once.

    ``Model(formula, data, family=..., priors=...)`` parses, validates and reduces the
    data; :meth:`sample` runs the Gibbs sampler; :meth:`refit` samples the same design
    with a new response without rebuilding what does not depend on it; :meth:`simulate`
    draws datasets from the model. ``fastgibbs.fit(...)`` is ``Model(...).sample(...)``.
    See :func:`fit` for the arguments.
    """

    @with_process_limits
    def __init__(self, formula, data, *, family="gaussian", priors=None, na_action="raise",
                 offset=None, weights=None, rank_deficient="drop", link=None):
        t0 = time.perf_counter()
        self.formula = formula
        # a number in priors fixes a family parameter (the t family's nu)
        family = get_family(family, link=link).with_priors(priors)
        # Parquet files or a Dask DataFrame: stream the statistics (issue 17)
        self.streamed = is_streamed(data)
        self.data = None if self.streamed else data
        if self.streamed:
            _refuse_structured(priors)
            from .streaming import stream_design
            self.design = stream_design(formula, data, na_action=na_action, family=family,
                                        offset=offset, weights=weights,
                                        rank_deficient=rank_deficient)
        else:
            self.design = build_design(formula, data, na_action=na_action, family=family,
                                       offset=offset, weights=weights,
                                       rank_deficient=rank_deficient,
                                       smoothed=smoothed_terms(priors))
        self.family = self.design.family
        names, self.term_index = parameter_layout(self.design)
        self.names = tuple(names)
        check_parameter_names(self.design, self.names)
        self.user_priors = dict(priors) if isinstance(priors, dict) else priors
        self.priors = resolve_priors(self.design, priors)
        structured = attach_structures(self.design, self.priors)
        if structured is not self.design:       # structured terms (fastgibbs.gmrf)
            self.design = structured
            names, self.term_index = parameter_layout(self.design)
            self.names = tuple(names)
            check_parameter_names(self.design, self.names)
        self.problem = build_problem(self.design, self.priors)
        self.blocks = tuple(BlockInfo(factor=b.factor, variables=b.variables, columns=b.columns,
                                      lhs=b.lhs, levels=tuple(b.levels),
                                      correlated=b.correlated)
                            for b in self.design.blocks)
        self.build_time = time.perf_counter() - t0

    @property
    def n_obs(self):
        return self.design.n_obs

    def __repr__(self):
        return (f"<fastgibbs.Model {self.formula!r}: {self.family.name}, {self.n_obs} "
                f"observations, {len(self.names)} parameters>")

    @with_process_limits
    def sample(self, *, chains=4, warmup=1000, draws=1000, thin=1, seed=None, n_jobs=None,
               backend="thread", interweave=True, progress=False):
        """Run the sampler on the model's data; returns a :class:`~fastgibbs.Fit`.

        ``progress=True`` shows a progress bar on stderr when it is a terminal and the
        run lasts over a second (thread backend); the draws are the same either way."""
        return self._sample(self.problem, self.priors, self.data, chains, warmup, draws, thin,
                            seed, n_jobs, backend, interweave, self.build_time, progress,
                            design=None if self.streamed else self.design)

    def response_design(self, y):
        """The design with response ``y`` (n_obs,), validated as the family requires."""
        self._need_rows("refit (and simulate) a model with a new response")
        y = np.asarray(self._by_row(y, "y"), dtype=float)
        if y.shape != (self.design.n_obs,):
            raise ValueError(f"y must have shape ({self.design.n_obs},), got {y.shape}")
        self.family.check_new_response(y, self.design)
        return dataclasses.replace(self.design, y=y)

    @with_process_limits
    def refit(self, y, *, chains=4, warmup=1000, draws=1000, thin=1, seed=None, n_jobs=None,
              backend="thread", interweave=True, weights=None):
        """Sample the same design with response ``y`` (n_obs,), reusing the design and
        every statistic that does not depend on y. Default priors scaled to the data
        follow the new y (as ``fg.fit`` would set them); priors given by the user stay.
        Cost O(n_obs (p + q)) before sampling on gaussian and binomial models.

        ``weights`` (n_obs,), frequency weights >= 0, replace the model's: a weight of
        0 leaves a row out, exactly as fitting without it (the group of a level left
        with no rows is drawn from the group distribution), which is how
        :func:`fastgibbs.cv` holds out folds. The statistics are then rebuilt, O(n_obs
        (p + q)^2)."""
        t0 = time.perf_counter()
        design = self.response_design(y)
        if weights is not None:
            design = dataclasses.replace(design, weights=self._checked_weights(weights))
        priors = resolve_priors(design, self.user_priors)
        problem = build_problem(design, priors,
                                reuse=self.problem if weights is None else None)
        return self._sample(problem, priors, None, chains, warmup, draws, thin, seed, n_jobs,
                            backend, interweave, time.perf_counter() - t0, False,
                            design=design)

    def _by_row(self, values, what):
        """``values`` for the model's rows: a pandas Series is read by its labels, as
        pandas aligns (its index must hold the labels of the rows fitted, in any order);
        anything else by position."""
        if not isinstance(values, pd.Series) or self.data is None:
            return values                   # (streamed data: nothing to align on)
        rows = self.design.rows
        labels = self.data.index if rows is None else self.data.index[rows]
        return aligned_series(values, labels,
                              f"{what} is a Series whose index is not the labels of the "
                              f"model's {len(labels)} rows; align it with the data or pass "
                              ".to_numpy() to take its values in the rows' order")

    def _checked_weights(self, weights):
        w = np.asarray(self._by_row(weights, "weights"), dtype=float)
        if w.shape != (self.design.n_obs,):
            raise ValueError(f"weights must have shape ({self.design.n_obs},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and >= 0")
        if not np.any(w > 0):
            raise ValueError("every weight is 0")
        return w

    def simulate(self, params=None, n=1, seed=None):
        """Draw ``n`` datasets from the model: a list of ``{"y": ndarray (n_obs,),
        "params": {name: value}}``, with the parameters drawn from the prior (or taken
        from ``params``, a dict of values by parameter name, e.g. a fit's posterior
        means). :func:`fastgibbs.study` accepts exactly this list."""
        self._need_rows("simulate datasets")
        return simulate_datasets(self, params=params, n=n, seed=seed)

    def _need_rows(self, what):
        if self.streamed:
            raise ValueError(f"cannot {what} from data streamed from files or a Dask "
                             "DataFrame: the model keeps their sufficient statistics, not "
                             "the rows; build a Model on the data in memory (pandas) for this")

    def _sample(self, problem, priors, data, chains, warmup, draws, thin, seed, n_jobs, backend,
                interweave, design_time, progress, design=None):
        chains, warmup, draws, thin = check_sample_args(chains, warmup, draws, thin, n_jobs,
                                                        backend, n_params=problem.row_width)
        t1 = time.perf_counter()
        root, seeds = chain_seeds(seed, chains)
        jobs = default_jobs(chains) if n_jobs is None else n_jobs
        bar = ProgressBar(chains * (warmup + draws * thin))
        report = bar.add if progress and bar.enabled and backend == "thread" else None
        options = dict(n_warmup=warmup, n_draws=draws, thin=thin, interweave=interweave,
                       on_progress=report, names=self.names)
        in_place = backend == "thread" and chains > 1
        if in_place:
            # the chains write into their slices of the fit's arrays: no copy after
            # (with 4,000 effects x 20,000 rows the copy alone took ~0.5 s)
            warmup_array = np.empty((chains, warmup, problem.row_width))
            draws_array = np.empty((chains, draws, problem.row_width))
            task = partial(run_chain_at, problem, warmup_array=warmup_array,
                           draws_array=draws_array, **options)
        else:
            task = partial(run_chain, problem, **options)
        with bar if report else _nothing():
            results = run_chains(task, list(enumerate(seeds)) if in_place else seeds,
                                 n_jobs=jobs, backend=backend)
        if not in_place:
            draws_array = _stack_chains([r[1] for r in results])
            warmup_array = _stack_chains([r[0] for r in results])
        t2 = time.perf_counter()
        levels = {term: block.levels for block in self.blocks for term in block.terms}
        same_weights = design is None or design.weights is self.design.weights
        sampler = {}
        tries = sum(r[2]["mh_tries"] for r in results)
        if tries:
            sampler["mh_acceptance"] = sum(r[2]["mh_accepts"] for r in results) / tries
            message = mh_acceptance_message(sampler, rate_in_text=False)
            if message:
                warnings.warn(message, RuntimeWarning, stacklevel=_caller_level())
        return Fit(
            formula=self.formula, family=self.family.name, names=self.names,
            draws_array=draws_array, warmup_array=warmup_array,
            term_index=self.term_index, levels=levels, fixed_names=self.design.fixed_names,
            n_obs=self.design.n_obs, n_groups={b.factor: len(b.levels) for b in self.blocks},
            priors=priors,
            seed=replay_seed(root),      # fit.seed re-runs the fit, whatever seed was
            thin=thin, timing={"design": design_time, "sampling": t2 - t1}, backend=backend,
            n_jobs=chain_workers(jobs, chains, backend), n_dropped=self.design.n_dropped,
            blocks=self.blocks,
            fixed_spec=self.design.fixed_spec, data=data,
            n_cells=problem.n_cells, sampler=sampler,
            offset_terms=self.design.offset_terms, offset_array=self.design.offset_array,
            # refit(weights=...) replaces the design's weights by an array
            weights_column=getattr(self.design, "weights_column", None) if same_weights
            else None,
            weights_array=getattr(self.design, "weights_array", False) if same_weights
            else True,
            family_options=self.family.options(),
            structures={term: s.record() for term, s in self.design.structures.items()},
            design=design,
            data_source=getattr(self.design, "source", None),
        )


def _caller_level():
    """The stacklevel, for a warning issued by the function that calls this one, of
    the first frame outside the fastgibbs package (the user's fg.fit, model.sample or
    model.refit call, however deep inside the package the warning is issued)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _stack_chains(arrays):
    """(chains, n, width) from the chains' (n, width) arrays; one chain's array is not
    copied (a view: with 10,000 effects a copy of the warmup rows costs as much as the
    sweeps that wrote them)."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


@with_process_limits
def fit(formula, data, *, family="gaussian", priors=None, chains=4, warmup=1000,
        draws=1000, thin=1, seed=None, n_jobs=None, backend="thread",
        na_action="raise", interweave=True, progress=False, offset=None, weights=None,
        rank_deficient="drop", link=None):
    """Fit a multilevel model by Gibbs sampling.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"y ~ 1 + x + (1 | g)"``; crossed ``(1|a) + (1|b)``,
        nested ``(1|a/b)`` or ``(1|a:b)``, varying slopes ``(1 + x | g)`` (correlated,
        inverse-Wishart prior) or ``(1 + x || g)`` (independent); ``offset(expr)``
        terms enter the linear predictor with coefficient 1.
    data : pandas.DataFrame, Parquet files or dask.dataframe.DataFrame
        Parquet files (a path, a glob such as ``"data/*.parquet"``, a directory or a
        list of paths) or a Dask DataFrame are streamed: a gaussian model is fitted
        from sufficient statistics summed chunk by chunk, a bernoulli or binomial
        model from its cells, without holding the rows in memory (see
        :mod:`fastgibbs.streaming`; ``offset`` and ``weights`` must then be column
        names).
    family : {"gaussian", "bernoulli", "binomial", "poisson", "negativebinomial", "t"}
        bernoulli: 0/1, boolean or two-level categorical response (the second level is
        the event); binomial: ``p(successes, trials) ~ ...``; poisson and
        negativebinomial (NB2, dispersion ``alpha``): counts, log link; t: Student-t
        residuals, ``sigma`` and ``nu`` (``priors={"nu": 4}`` fixes nu). See
        :mod:`fastgibbs.families` for how each is sampled.
    link : str, optional
        The link function: None for the family's default (logit for bernoulli), or
        ``"probit"`` for bernoulli (truncated-normal augmentation).
    priors : dict, optional
        ``{name: prior}``; see :mod:`fastgibbs.priors` for keys and defaults.
    chains, warmup, draws, thin : int
        Number of chains; sweeps discarded as warmup (kept in ``fit.draws(...,
        warmup=True)``); draws kept per chain; keep every ``thin``-th sweep.
    seed : int, sequence of ints, SeedSequence or None
        Chain c uses child c of ``SeedSequence(seed)`` (``spawn_key + (c,)``):
        identical draws for any ``n_jobs`` and ``backend``. A SeedSequence is not
        mutated, so passing it again repeats the fit; ``fit.seed`` re-runs the fit bit
        for bit (None records the entropy drawn from the OS).
    n_jobs : int, optional
        Parallel workers (default: min(chains, cores)).
    backend : {"thread", "process"}
    na_action : {"raise", "drop"}
        Missing values in used columns raise (default) or drop their rows.
    rank_deficient : {"drop", "error"}
        Fixed-effect columns aliased with earlier ones are dropped with a warning, as
        lme4 does (default), or refused.
    interweave : bool
        Interweave centred and non-centred variance updates (ASIS; default). False
        gives the plain centred Gibbs sampler, for comparisons.
    progress : bool
        Progress bar on stderr for runs over a second, when it is a terminal.
    offset : str or array, optional
        A column name or an array (one value per row of ``data``) added to the linear
        predictor with coefficient 1 (with the formula's ``offset()`` terms, if any).
    weights : str or array, optional
        Frequency weights (a column name or array, >= 0): row i counts as
        ``weights[i]`` identical rows.

    Returns
    -------
    Fit
    """
    check_sample_args(chains, warmup, draws, thin, n_jobs, backend)
    model = Model(formula, data, family=family, priors=priors, na_action=na_action,
                  offset=offset, weights=weights, rank_deficient=rank_deficient, link=link)
    return model.sample(chains=chains, warmup=warmup, draws=draws, thin=thin, seed=seed,
                        n_jobs=n_jobs, backend=backend, interweave=interweave,
                        progress=progress)
