"""Simulation-based calibration (SBC) of a model's sampler.

Procedure (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, arXiv:1804.06788):

1. draw parameters theta* from the prior and data y from p(y | theta*)
   (``model.simulate``);
2. fit y, thin the posterior draws to L roughly independent ones, and record the
   rank of theta* among them, ``#{l : theta_l < theta*}`` in 0..L, for every
   parameter and for a data-dependent test quantity, the log-likelihood
   log p(y | theta) (Modrak et al. 2025, Bayesian Analysis 20(2): quantities that
   depend on y catch bugs the parameter ranks miss);
3. if the sampler (and the simulator, and the model code between them) is right,
   each quantity's ranks are uniform on 0..L across the simulations.

Uniformity is tested with the ECDF of the ranks and *simultaneous* bands
(Saeilynoja, Buerkner & Vehtari 2022, Stat. Comput. 32:32). With ranks on 0..L the
ECDF is evaluated at z_k = k / (L + 1), k = 1..L, where under uniformity the count
C_k = #{rank < k} is Binomial(N, z_k). The statistic is
``gamma = min_k 2 min(P(X <= C_k), P(X >= C_k))``, X ~ Binomial(N, z_k), and its
p-value ``P(gamma' <= gamma)`` under uniformity. The paper's ``adjust_gamma``
obtains the band level by simulation or optimisation; here the probability that a
uniform sample's ECDF stays inside a band is computed exactly, by the recursion
C_{k+1} - C_k | C_k ~ Binomial(N - C_k, (z_{k+1} - z_k) / (1 - z_k)) over the
counts allowed at each z_k, so p-values and bands are exact (no Monte Carlo error)
and are cached per (N, L).

Multiplicity: with m quantities, each is tested at level alpha / m (Bonferroni) and
the plotted bands are the 1 - alpha / m simultaneous bands, so that a correct sampler
fails the whole check with probability at most alpha.
"""
import copy
from dataclasses import dataclass, field
from functools import lru_cache
import numbers

import numpy as np
import pandas as pd

from . import diagnostics
from ._process_limits import with_process_limits
from .chains import as_seed_sequence, spawn_children
from .study import portable_model, study

__all__ = ["sbc", "SBCResult", "ecdf_uniformity_test", "ecdf_band"]

DEFAULT_SAMPLE_KWARGS = {"chains": 2, "warmup": 500, "draws": 1000}
DEFAULT_THIN = 20


# ----------------------------------------------------------------------------------
# ECDF uniformity test with simultaneous bands
# ----------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _tables(n, n_bins):
    """For z_k = k / n_bins (k = 1..n_bins-1) and counts c = 0..n: the two-sided
    binomial tail statistic ``G[k-1, c] = min(1, 2 min(P(X <= c), P(X >= c)))``."""
    from scipy.stats import binom  # slow to import: loaded on first use

    z = np.arange(1, n_bins) / n_bins
    c = np.arange(n + 1)
    lower = binom.cdf(c[None, :], n, z[:, None])
    upper = binom.sf(c[None, :] - 1, n, z[:, None])
    g = np.minimum(2.0 * np.minimum(lower, upper), 1.0)
    g.setflags(write=False)
    return z, g


def _band_limits(g_table, gamma):
    """Inclusive count limits (lo, hi) per z_k of {c : G[k, c] > gamma}; lo > hi
    where the set is empty. G is unimodal in c, so the set is an interval."""
    inside = g_table > gamma
    n1 = g_table.shape[1]
    any_inside = inside.any(axis=1)
    lo = np.where(any_inside, inside.argmax(axis=1), n1)
    hi = np.where(any_inside, n1 - 1 - inside[:, ::-1].argmax(axis=1), -1)
    return lo, hi


def _stay_probability(n, lo, hi):
    """P(lo_k <= C_k <= hi_k for every k) for the counts C_k of n uniforms below
    z_k = k / n_bins (n_bins = len(lo) + 1), by the exact forward recursion."""
    n_bins = len(lo) + 1
    if np.any(lo > hi):
        return 0.0
    from scipy.special import gammaln

    log_fact = gammaln(np.arange(n + 1) + 1.0)
    prob = np.ones(1)
    start = 0                                  # prob[i] = P(C_{k} = start + i, inside)
    for k in range(1, n_bins):
        p = 1.0 / (n_bins - k + 1)             # (z_k - z_{k-1}) / (1 - z_{k-1})
        keep = np.flatnonzero(prob > 0)
        if keep.size == 0:
            return 0.0
        prob = prob[keep[0]:keep[-1] + 1]
        start += keep[0]
        c = np.arange(start, start + prob.size)[:, None]
        new = np.arange(lo[k - 1], hi[k - 1] + 1)[None, :]
        d = new - c                            # new successes
        m = n - c                              # uniforms not yet below z_{k-1}
        ok = (d >= 0) & (d <= m)
        d0 = np.where(ok, d, 0)
        rest = np.where(ok, m - d0, 0)
        log_pmf = log_fact[d0 + rest] - log_fact[d0] - log_fact[rest] \
            + d0 * np.log(p) + rest * np.log1p(-p)
        prob = prob @ np.where(ok, np.exp(log_pmf), 0.0)
        start = int(lo[k - 1])
    return float(prob.sum())


def _counts(ranks, max_rank):
    ranks = np.sort(np.asarray(ranks))
    return np.searchsorted(ranks, np.arange(1, max_rank + 1), side="left")


def _check_ranks(ranks, max_rank):
    if isinstance(max_rank, bool) or not isinstance(max_rank, numbers.Integral) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    ranks = np.asarray(ranks, dtype=float)
    ranks = ranks[~np.isnan(ranks)]
    if ranks.size == 0:
        raise ValueError("no ranks to test")
    if np.any(ranks != np.round(ranks)) or ranks.min() < 0 or ranks.max() > max_rank:
        raise ValueError(f"ranks must be integers in 0..{max_rank}")
    return ranks.astype(np.int64)


def ecdf_uniformity_test(ranks, max_rank):
    """Test ranks for uniformity on 0..``max_rank`` (Saeilynoja et al. 2022).

    Returns ``(p_value, gamma)``: gamma is the smallest two-sided binomial tail
    probability of the ECDF over z_k = k / (max_rank + 1), and the p-value the exact
    probability of a gamma at most as large for uniform ranks. NaN ranks are ignored.
    The test rejects at level a exactly when the ECDF leaves the 1 - a simultaneous
    band of :func:`ecdf_band`.
    """
    ranks = _check_ranks(ranks, max_rank)
    n = ranks.size
    _, g = _tables(n, max_rank + 1)
    counts = _counts(ranks, max_rank)
    gamma = float(g[np.arange(max_rank), counts].min())
    lo, hi = _band_limits(g, gamma)
    return max(0.0, 1.0 - _stay_probability(n, lo, hi)), gamma


@lru_cache(maxsize=64)
def _adjusted_gamma(n, n_bins, level):
    """Largest tabulated gamma g with P(gamma' <= g) <= level for uniform ranks."""
    _, g = _tables(n, n_bins)
    floor = level / max(n_bins - 1, 1)          # Bonferroni over the z_k: always valid
    candidates = np.unique(g[(g >= floor) & (g <= 1.0)])
    best = floor
    low, high = 0, candidates.size - 1
    while low <= high:                          # P(gamma' <= g) increases with g
        mid = (low + high) // 2
        lo, hi = _band_limits(g, candidates[mid])
        if 1.0 - _stay_probability(n, lo, hi) <= level:
            best = candidates[mid]
            low = mid + 1
        else:
            high = mid - 1
    return float(best)


def ecdf_band(n, max_rank, level):
    """Simultaneous ``1 - level`` band for the ECDF of ``n`` uniform ranks on
    0..max_rank: returns (z, lower, upper), ECDF values at z_k = k / (max_rank + 1)."""
    z, g = _tables(int(n), int(max_rank) + 1)
    lo, hi = _band_limits(g, _adjusted_gamma(int(n), int(max_rank) + 1, float(level)))
    return z, lo / n, hi / n


# ----------------------------------------------------------------------------------
# Ranks of the true values, computed on the workers
# ----------------------------------------------------------------------------------
class RankStats:
    """``stats`` for :func:`fastgibbs.study`: ranks of the true parameters and of the
    true log-likelihood among ``thin``-thinned posterior draws. Picklable."""

    def __init__(self, model, thin):
        light = portable_model(model)
        design = light.design
        names = list(model.names)
        self.thin = int(thin)
        self.family = model.family
        self.names = names
        self.fixed = np.array([names.index(n) for n in design.fixed_names], dtype=np.intp)
        self.dispersion = {n: names.index(n) for n in model.family.dispersion}
        self.X = design.X
        self.offset = design.offset
        self.weights = np.ones(design.n_obs) if design.weights is None else design.weights
        self.trials = design.trials
        self.blocks = [(b.Z, b.group, [np.asarray(model.term_index[t]) for t in b.terms])
                       for b in design.blocks]

    def log_lik(self, theta, y):
        """log p(y | theta) for parameter rows ``theta`` (L, n_params): the family's
        pointwise log-likelihood, weighted and summed over rows."""
        eta = theta[:, self.fixed] @ self.X.T if self.fixed.size else np.zeros((len(theta), len(y)))
        for Z, group, columns in self.blocks:
            for c, cols in enumerate(columns):
                eta += theta[:, cols][:, group] * Z[:, c]
        eta += self.offset
        params = {n: theta[:, i][:, None] for n, i in self.dispersion.items()}
        pointwise = self.family.log_likelihood(y[None, :], eta, params, trials=self.trials)
        return pointwise @ self.weights

    def __call__(self, fit, dataset):
        truth = dataset.get("params")
        if truth is None:
            raise ValueError("SBC needs the true parameters of every dataset ('params')")
        true = np.array([truth.get(n, np.nan) for n in self.names], dtype=float)
        draws = fit.draws_array
        kept = draws[:, self.thin - 1::self.thin, :].reshape(-1, draws.shape[2])
        ranks = (kept < true).sum(axis=0).astype(float)
        ranks[np.isnan(true)] = np.nan
        y = np.asarray(dataset["y"], dtype=float)
        ll_rank = float((self.log_lik(kept, y) < self.log_lik(true[None, :], y)[0]).sum()) \
            if not np.isnan(true).any() else np.nan
        ess = np.atleast_1d(diagnostics.ess_bulk(draws))
        return {"quantity": np.array(self.names + ["log_lik"], dtype=object),
                "rank": np.append(ranks, ll_rank),
                "ess_bulk": np.append(ess, np.nan),
                "n_ranked": len(kept)}


# ----------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SBCResult:
    """Ranks, per-quantity tests and the verdict of :func:`sbc`.

    Attributes
    ----------
    ranks : DataFrame (n_sims x quantities)
        Rank of the true value among ``max_rank`` thinned draws (NaN for failed fits).
    max_rank : int
        L: ranks take the values 0..L.
    table : DataFrame (one row per quantity)
        ``p_value`` (exact ECDF test, unadjusted), ``p_bonferroni`` (m p, capped at 1),
        ``passed`` (p_value > alpha / m: the ECDF stays inside the plotted band) and
        ``ess_below_L`` (fraction of fits whose bulk ESS for the quantity was below L,
        when ranks may be too autocorrelated to be uniform even for a correct sampler).
    alpha : float
        Family-wise level: a correct sampler fails with probability at most alpha.
    passed : bool
        Every quantity passes at alpha / m and no fit failed.
    errors : Series
        Error message by simulation index for fits that raised.
    """

    ranks: pd.DataFrame
    max_rank: int
    table: pd.DataFrame
    alpha: float
    passed: bool
    errors: pd.Series
    seed_entropy: object = None
    timing: dict = field(default_factory=dict)

    @property
    def n_sims(self):
        return len(self.ranks)

    @property
    def n_tests(self):
        return len(self.table)

    @property
    def level(self):
        """Per-quantity level alpha / m of the tests and the plotted bands."""
        return self.alpha / max(self.n_tests, 1)

    @property
    def p_values(self):
        return self.table["p_value"]

    def __str__(self):
        worst = self.table.sort_values("p_value").head(5)
        lines = [
            f"SBC: {self.n_sims} simulations, {len(self.errors)} failed fits, "
            f"ranks 0..{self.max_rank}, {self.n_tests} quantities",
            f"ECDF uniformity tests (Saeilynoja et al. 2022), each at alpha/m = {self.alpha:g}/"
            f"{self.n_tests} = {self.level:.3g} (Bonferroni: family-wise level {self.alpha:g})",
            f"verdict: {'PASS' if self.passed else 'FAIL'}"
            f" ({int((~self.table['passed']).sum())} quantities outside their bands)",
            "smallest p-values:",
        ]
        for name, row in worst.iterrows():
            lines.append(f"  {name:<30} p = {row['p_value']:.3g}"
                         f"{'' if row['passed'] else '  FAIL'}")
        low_ess = self.table["ess_below_L"].max()
        if low_ess > 0.1:
            lines.append(f"warning: up to {low_ess:.0%} of fits had bulk ESS < L = {self.max_rank} "
                         "for some quantity; thin more or draw longer chains")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<SBCResult {'PASS' if self.passed else 'FAIL'}: {self.n_sims} sims, "
                f"{self.n_tests} quantities, min p = {self.table['p_value'].min():.3g}>")

    def plot(self, quantities=None, ncols=4, max_panels=16, figsize=None):
        """ECDF-difference plot: ECDF(z) - z of each quantity's scaled ranks with its
        simultaneous 1 - alpha/m band (Saeilynoja et al. 2022, Fig. 2 style).

        ``quantities``: names to show (default: all when at most ``max_panels``,
        otherwise the ``max_panels`` with the smallest p-values). Returns the Figure
        (made without pyplot, see :mod:`fastgibbs.plots`).
        """
        from ._figure import new_figure

        if quantities is None:
            quantities = list(self.table.sort_values("p_value").index[:max_panels]) \
                if self.n_tests > max_panels else list(self.table.index)
        elif isinstance(quantities, str):
            quantities = [quantities]
        unknown = [q for q in quantities if q not in self.ranks.columns]
        if unknown:
            raise KeyError(f"unknown quantities {unknown}")
        nrows = -(-len(quantities) // ncols)
        ncols = min(ncols, len(quantities))
        fig = new_figure(figsize or (3.2 * ncols, 2.4 * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
        for ax, name in zip(axes.flat, quantities):
            ranks = _check_ranks(self.ranks[name].to_numpy(), self.max_rank)
            n = ranks.size
            z, lower, upper = ecdf_band(n, self.max_rank, self.level)
            ecdf = _counts(ranks, self.max_rank) / n
            zz = np.concatenate([[0.0], z, [1.0]])
            ax.fill_between(zz, np.concatenate([[0.0], lower - z, [0.0]]),
                            np.concatenate([[0.0], upper - z, [0.0]]),
                            step="mid", color="0.85", lw=0)
            ok = bool(self.table.loc[name, "passed"])
            ax.step(zz, np.concatenate([[0.0], ecdf - z, [0.0]]), where="mid",
                    color="C0" if ok else "C3", lw=1.2)
            ax.axhline(0.0, color="0.5", lw=0.5)
            ax.set_title(f"{name}\np = {self.table.loc[name, 'p_value']:.2g}", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(quantities):]:
            ax.set_visible(False)
        fig.supxlabel("fractional rank", fontsize=8)
        fig.supylabel("ECDF difference", fontsize=8)
        fig.suptitle(f"SBC: {self.n_sims} sims, L = {self.max_rank}, bands "
                     f"{1 - self.level:.4g} simultaneous", fontsize=9)
        fig.tight_layout()
        return fig


# ----------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------
class _Sized:
    """An iterable with a known length (a lazy generator, for the progress bar)."""

    def __init__(self, iterable, length):
        self.iterable, self.length = iterable, length

    def __iter__(self):
        return iter(self.iterable)

    def __len__(self):
        return self.length


def _simulations(model, n_sims, root):
    """model.simulate one dataset at a time (lazily), dataset i from root's child i."""
    for child in spawn_children(root, n_sims):
        yield model.simulate(n=1, seed=child)[0]


@with_process_limits
def sbc(model, n_sims=200, *, thin=DEFAULT_THIN, sample_kwargs=None, seed=None,
        executor=None, n_jobs=None, alpha=0.01, datasets=None, progress=None):
    """Simulation-based calibration of ``model``'s sampler (Talts et al. 2018).

    Parameters
    ----------
    model : fastgibbs.Model
        Model whose prior and likelihood generate the simulations (``model.simulate``)
        and whose sampler fits them.
    n_sims : int
        Number of simulations (ignored when ``datasets`` is given).
    thin : int
        Keep every ``thin``-th post-warmup draw of each chain; the ranks then take the
        values 0..L with L = chains * (draws // thin). Choose it so that L is below
        the bulk ESS of every quantity (reported as ``table["ess_below_L"]``).
    sample_kwargs : dict, optional
        ``chains``, ``warmup``, ``draws``, ``interweave`` for each fit; default
        ``{"chains": 2, "warmup": 500, "draws": 1000}`` which with ``thin=20`` gives
        L = 100.
    seed : int, SeedSequence or None
        Simulation i uses child i of the first child of ``SeedSequence(seed)``, its fit
        child i of the second.
    executor, n_jobs, progress
        As in :func:`fastgibbs.study`.
    alpha : float
        Family-wise level of the verdict (Bonferroni over the quantities).
    datasets : list, optional
        Use these datasets (dicts with ``"y"`` and the true ``"params"``) instead of
        simulating from ``model``: e.g. another model's ``simulate`` output, to check
        that SBC catches a mismatch between simulator and sampler.

    Returns
    -------
    SBCResult
    """
    from .api import Model

    if not isinstance(model, Model):
        raise TypeError(f"model must be a fastgibbs.Model, got {type(model).__name__}")
    if isinstance(thin, bool) or not isinstance(thin, numbers.Integral) or thin < 1:
        raise ValueError(f"thin must be a positive integer, got {thin!r}")
    if not (isinstance(alpha, numbers.Real) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    kwargs = dict(DEFAULT_SAMPLE_KWARGS if sample_kwargs is None else sample_kwargs)
    if "thin" in kwargs:
        raise ValueError("give the SBC thinning as sbc(thin=...), not in sample_kwargs")
    chains, draws = kwargs.get("chains", 4), kwargs.get("draws", 1000)
    if isinstance(draws, numbers.Integral) and isinstance(chains, numbers.Integral) \
            and draws // thin < 1:
        raise ValueError(f"thin = {thin} keeps no draws of {draws} per chain")
    max_rank = int(chains) * (int(draws) // thin)
    # every fit keeps the prior the simulations are drawn from: refit would recompute
    # the data-scaled defaults from each simulated y (another prior, so the ranks of a
    # correct sampler would not be uniform)
    model = copy.copy(model)
    model.user_priors = dict(model.priors)
    root = as_seed_sequence(seed)
    sim_root, fit_root = spawn_children(root, 2)      # never advances the caller's sequence
    if datasets is None:
        if isinstance(n_sims, bool) or not isinstance(n_sims, numbers.Integral) or n_sims < 1:
            raise ValueError(f"n_sims must be a positive integer, got {n_sims!r}")
        datasets = _simulations(model, int(n_sims), sim_root)
        total = int(n_sims)
    else:
        datasets = list(datasets)
        total = len(datasets)

    frame = study(model, _Sized(datasets, total), sample_kwargs=kwargs,
                  stats=RankStats(model, thin), seed=fit_root, executor=executor,
                  n_jobs=n_jobs, progress=progress)
    ok = frame[frame["error"].isna()]
    ranks = ok.pivot(index="dataset", columns="quantity", values="rank")
    quantities = list(model.names) + ["log_lik"]
    ranks = ranks.reindex(index=range(total), columns=quantities)
    ranks.columns.name = None
    errors = frame.loc[frame["error"].notna()].set_index("dataset")["error"]
    ess_low = (ok.assign(low=ok["ess_bulk"] < max_rank).groupby("quantity")["low"].mean()
               .reindex(quantities).fillna(0.0))
    m = len(quantities)
    rows = []
    for name in quantities:
        column = ranks[name].dropna()
        p = ecdf_uniformity_test(column.to_numpy(), max_rank)[0] if len(column) else np.nan
        rows.append((p, min(1.0, m * p), bool(p > alpha / m), float(ess_low[name])))
    table = pd.DataFrame(rows, index=pd.Index(quantities, name="quantity"),
                         columns=["p_value", "p_bonferroni", "passed", "ess_below_L"])
    passed = bool(table["passed"].all()) and errors.empty and not frame.attrs["interrupted"]
    return SBCResult(ranks=ranks, max_rank=max_rank, table=table, alpha=float(alpha),
                     passed=passed, errors=errors, seed_entropy=root.entropy,
                     timing=frame.attrs["timing"])
