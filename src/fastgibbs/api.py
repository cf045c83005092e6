"""``fastgibbs.fit``: formula and data in, :class:`~fastgibbs.results.Fit` out."""
from functools import partial
import numbers
import time

import numpy as np

from .chains import BACKENDS, chain_seeds, default_jobs, run_chains
from .design import build_design
from .lme4 import BlockInfo
from .priors import resolve_priors
from .results import Fit
from .samplers import binomial, gaussian

__all__ = ["fit"]

FAMILIES = ("gaussian", "bernoulli", "binomial")


def _count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def fit(formula, data, *, family="gaussian", priors=None, chains=4, warmup=1000,
        draws=1000, thin=1, seed=None, n_jobs=None, backend="thread",
        na_action="raise", interweave=True):
    """Fit a multilevel model by Gibbs sampling.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"y ~ 1 + x + (1 | g)"``; crossed ``(1|a) + (1|b)``,
        nested ``(1|a/b)`` or ``(1|a:b)``, independent varying slopes ``(x || g)``.
    data : pandas.DataFrame
    family : {"gaussian", "bernoulli", "binomial"}
        bernoulli: 0/1, boolean or two-level categorical response (the second level is
        the event); binomial: ``p(successes, trials) ~ ...``. Both by Polya-Gamma
        augmentation, with identical rows collapsed into binomial cells.
    priors : dict, optional
        ``{name: prior}``; see :mod:`fastgibbs.priors` for keys and defaults.
    chains, warmup, draws, thin : int
        Number of chains; sweeps discarded as warmup (kept in ``fit.draws(...,
        warmup=True)``); draws kept per chain; keep every ``thin``-th sweep.
    seed : int, SeedSequence or None
        Chain c uses ``SeedSequence(seed).spawn(chains)[c]``: identical draws for any
        ``n_jobs`` and ``backend``.
    n_jobs : int, optional
        Parallel workers (default: min(chains, cores)).
    backend : {"thread", "process"}
    na_action : {"raise", "drop"}
        Missing values in used columns raise (default) or drop their rows.
    interweave : bool
        Interweave centred and non-centred variance updates (ASIS; default). False
        gives the plain centred Gibbs sampler, for comparisons.

    Returns
    -------
    Fit
    """
    t0 = time.perf_counter()
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    chains = _count(chains, "chains", 1)
    warmup = _count(warmup, "warmup", 0)
    draws = _count(draws, "draws", 1)
    thin = _count(thin, "thin", 1)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if n_jobs is not None:
        _count(n_jobs, "n_jobs", 1)

    design = build_design(formula, data, na_action=na_action, family=family)
    resolved = resolve_priors(design, priors)
    if family == "gaussian":
        problem = gaussian.gaussian_problem(design, resolved)
        run_chain, n_cells = gaussian.run_chain, None
    else:
        problem = binomial.binomial_problem(design, resolved)
        run_chain, n_cells = binomial.run_chain, problem.n_cells
    names, term_index = gaussian.parameter_layout(design, has_sigma=family == "gaussian")
    t1 = time.perf_counter()

    root, seeds = chain_seeds(seed, chains)
    task = partial(run_chain, problem, n_warmup=warmup, n_draws=draws, thin=thin,
                   interweave=interweave)
    jobs = default_jobs(chains) if n_jobs is None else n_jobs
    results = run_chains(task, seeds, n_jobs=jobs, backend=backend)
    t2 = time.perf_counter()

    levels = {}
    for block in design.blocks:
        for term in block.terms:
            levels[term] = tuple(block.levels)
    blocks = tuple(BlockInfo(factor=b.factor, variables=b.variables, columns=b.columns,
                             lhs=b.lhs, levels=tuple(b.levels), correlated=b.correlated)
                   for b in design.blocks)
    return Fit(
        formula=formula, family=family, names=tuple(names),
        draws_array=np.stack([r[1] for r in results]),
        warmup_array=np.stack([r[0] for r in results]),
        term_index=term_index, levels=levels, fixed_names=design.fixed_names,
        n_obs=design.n_obs, n_groups={b.factor: b.n_groups for b in design.blocks},
        priors=resolved, seed=seed if not isinstance(seed, np.random.SeedSequence) else root.entropy,
        thin=thin, timing={"design": t1 - t0, "sampling": t2 - t1}, backend=backend,
        n_jobs=min(jobs, chains), n_dropped=design.n_dropped, blocks=blocks,
        fixed_spec=design.fixed_spec, data=data, n_cells=n_cells,
    )
