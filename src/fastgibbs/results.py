"""The result of a fit: draws with their names, the model they came from, and
summaries.

Draws are stored as one array ``(chains, draws, n_params)`` (warmup separately) with
the column order of :func:`fastgibbs.samplers.gaussian.parameter_layout`: fixed
effects, ``sigma``, group sds (``"1|state_sigma"``), then group effects
(``"1|state[AL]"``).
"""
from dataclasses import dataclass, field
import fnmatch

import numpy as np
import pandas as pd

from . import diagnostics
from .chains import seed_label
from .checking import CheckingMixin
from .diagnose import DiagnoseMixin
from .export import ExportMixin
from .lme4 import Lme4Mixin, _checked_probs
from .plots import PlotsMixin
from .plots_ppc import PPCPlotsMixin
from .plots_structured import StructuredPlotsMixin      # issue 15: time-effect, neighbours

__all__ = ["Fit"]

RHAT_WARN = 1.01
ESS_WARN = 400
# The Poisson family's Metropolis-Hastings correction (samplers/chain.py, _core.pyx
# poisson_accept) accepts >= 0.99 of its proposals when the counts fit a Poisson model:
# its normal mixtures match the -log Gamma(y, 1) error densities to ~0.01 in log density
# over their bulk. Rejections mean that a latent error sits deep in a tail, where the
# mixtures are not accurate: a count far from its fitted mean (overdispersion, excess
# zeros). Acceptance falls with the overdispersion (y ~ x on NB counts of size 1:
# 0.58-0.99; size 0.5: 0.23, R-hat 1.3, bulk ESS 12; one count of 30 among 59 zeros:
# 0.03, R-hat 2.3) and the chains stick. Below this rate the fit warns: of 28 fits
# measured (4 chains x 500 draws), those above 0.8 had R-hat <= 1.04, those at
# 0.55-0.76 1.05-1.06, at 0.23 1.1-1.3, below 0.1 2-6.
MH_ACCEPTANCE_WARN = 0.8


def mh_acceptance_message(sampler, rate_in_text=True):
    """The warning for a fit whose Poisson MH acceptance (``sampler["mh_acceptance"]``)
    is below MH_ACCEPTANCE_WARN, or None. Without ``rate_in_text`` the text is the
    same for every such fit, so that a loop of refits (or a study) warns once."""
    rate = (sampler or {}).get("mh_acceptance")
    if rate is None or not rate < MH_ACCEPTANCE_WARN:
        return None
    told = f"{rate:.3g}" if rate_in_text else "low (fit.sampler['mh_acceptance'])"
    return (f"The Poisson sampler's Metropolis-Hastings acceptance is {told} (below "
            f"{MH_ACCEPTANCE_WARN}; it is >= 0.99 when the counts fit a Poisson model): "
            "some counts are far from their fitted means (overdispersion or excess zeros), "
            "so the chains stick and the draws may not represent the posterior. Add an "
            "observation-level effect, (1 | obs) with obs a column numbering the rows, or "
            "use family=\"negativebinomial\".")


@dataclass(frozen=True, eq=False)
class Fit(CheckingMixin, Lme4Mixin, PlotsMixin, PPCPlotsMixin, StructuredPlotsMixin, ExportMixin,
          DiagnoseMixin):
    """A fitted model. Build with :func:`fastgibbs.fit`."""

    formula: str
    family: str
    names: tuple
    draws_array: np.ndarray          # (chains, draws, n_params)
    warmup_array: np.ndarray         # (chains, warmup, n_params)
    term_index: dict                 # group term -> column positions (level order)
    levels: dict                     # group term -> level labels
    fixed_names: tuple
    n_obs: int
    n_groups: dict                   # factor -> number of groups
    priors: dict
    seed: object
    thin: int
    timing: dict                     # seconds: design, sampling, (summary when done)
    backend: str
    n_jobs: int
    blocks: tuple = ()               # BlockInfo per grouping factor
    n_dropped: int = 0
    n_cells: int = None              # cells the rows collapsed to (families other than gaussian)
    sampler: dict = field(default_factory=dict)   # e.g. mh_acceptance of the Poisson family
    offset_terms: tuple = ()         # offset expressions (formula terms, offset= column)
    offset_array: bool = False       # fitted with an offset array: predict needs offset=
    # frequency weights given as a column (log_likelihood reads it from newdata), or as
    # an array (log_likelihood of newdata needs weights=)
    weights_column: str = None
    weights_array: bool = False
    # get_family(family, **family_options) rebuilds the family: a link other than the
    # default, a cumulative model's categories, a fixed nu
    family_options: dict = field(default_factory=dict)
    fixed_spec: object = field(default=None, repr=False)   # formulae fixed-effects spec
    # JSON record of the fixed-effects design (fixed_design.py): made when saving, set by load
    fixed_design: dict = field(default=None, repr=False)
    data: object = field(default=None, repr=False)         # the DataFrame fitted (not saved)
    # structured terms: term -> fastgibbs.gmrf.Structure.record() (times, series, areas)
    structures: dict = field(default_factory=dict)
    # the Design sampled (y, X, Z, offset, trials, weights of the fitted rows; not saved):
    # fitted values, residuals, log-likelihoods and predictive checks are computed on it
    design: object = field(default=None, repr=False)
    # streamed data (issue 17): kind, paths, fingerprint and rows of the source, not the rows
    data_source: dict = field(default=None, repr=False)
    _summary_cache: dict = field(default_factory=dict, repr=False)

    def family_object(self):
        """The fit's :class:`fastgibbs.families.Family` (with its link and options)."""
        from .families import get_family
        return get_family(self.family, **self.family_options)

    @property
    def n_chains(self):
        return self.draws_array.shape[0]

    @property
    def n_draws(self):
        return self.draws_array.shape[1]

    @property
    def n_warmup(self):
        return self.warmup_array.shape[1]

    def _columns(self, name):
        """Column positions for a parameter name, a group term, or a glob pattern."""
        if name in self.term_index:
            return np.asarray(self.term_index[name]), True
        if name in self.names:
            return np.array([self.names.index(name)]), False
        matches = [i for i, n in enumerate(self.names) if fnmatch.fnmatchcase(n, name)]
        if not matches and "[" in name:
            # "1|state[A*]": read the bracket of a level label literally
            literal = name.replace("[", "[[]")
            matches = [i for i, n in enumerate(self.names) if fnmatch.fnmatchcase(n, literal)]
        if matches:
            return np.array(matches), True
        raise KeyError(f"no parameter or group term named {name!r}; parameters start with "
                       f"{', '.join(self.names[:6])}; group terms: {', '.join(self.term_index)}")

    def draws(self, name=None, warmup=False):
        """Posterior draws.

        ``name`` a parameter (``"sigma"``) -> (chains, draws); a group term
        (``"1|state"``) or glob pattern -> (chains, draws, n_matches); None -> all,
        (chains, draws, n_params). ``warmup=True`` gives the warmup draws instead.
        """
        source = self.warmup_array if warmup else self.draws_array
        if name is None:
            return source.copy()
        cols, many = self._columns(name)
        return source[:, :, cols] if many else source[:, :, cols[0]]

    def summary(self, pars=None, probs=(0.025, 0.5, 0.975), quantile_mcse=False):
        """Posterior summary DataFrame, one row per parameter: mean, mcse_mean, sd,
        quantiles, ess_bulk, ess_tail and rank-normalized split r_hat (Vehtari et al.
        2021). ``pars``: names, group terms or patterns to keep (default all).
        ``quantile_mcse=True`` adds the Monte Carlo standard error of each quantile
        (columns ``"mcse_2.5%"``, ...) after the quantiles."""
        probs = _checked_probs(probs)
        labels = [f"{100 * p:g}%" for p in probs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"probs give the same quantile column twice: {list(probs)}")
        key = (probs, bool(quantile_mcse))
        if key not in self._summary_cache:
            table = diagnostics.summarize(self.draws_array, names=list(self.names), probs=probs)
            if quantile_mcse:
                at = table.columns.get_loc("ess_bulk")
                for p in probs:
                    table.insert(at, f"mcse_{100 * p:g}%",
                                 diagnostics.mcse_quantile(self.draws_array, p))
                    at += 1
            self._summary_cache[key] = table
        table = self._summary_cache[key]
        if pars is None:
            return table.copy()
        if isinstance(pars, str):
            pars = [pars]
        if not len(pars):
            raise ValueError("pars selects no parameters: give names, group terms or patterns "
                             "(or None for all)")
        cols = np.concatenate([self._columns(p)[0] for p in pars])
        return table.iloc[cols].copy()

    def _warnings(self, table):
        out = []
        worst_rhat = table["r_hat"].max()
        if table[["r_hat", "ess_bulk", "ess_tail"]].isna().all().all():
            return ["WARNING: too few draws for R-hat and ESS (need >= 4 per chain)."]
        if worst_rhat > RHAT_WARN:
            bad = table.index[table["r_hat"] > RHAT_WARN]
            out.append(f"WARNING: R-hat > {RHAT_WARN} for {len(bad)} parameter(s) "
                       f"(worst {worst_rhat:.3f}: {table['r_hat'].idxmax()}); run longer chains.")
        for col in ("ess_bulk", "ess_tail"):
            low = table[col] < ESS_WARN
            if low.any():
                out.append(f"WARNING: {col} < {ESS_WARN} for {int(low.sum())} parameter(s) "
                           f"(lowest {table[col].min():.0f}: {table[col].idxmin()}); "
                           "draw more or check the priors.")
        message = mh_acceptance_message(self.sampler)
        if message:
            out.append("WARNING: " + message)
        return out

    def __str__(self):
        table = self.summary()
        t = self.timing
        groups = "; ".join(f"{b.factor}, {len(b.levels)}" for b in self.blocks) or "none"
        lines = [
            f"Bayesian multilevel model fit by Gibbs sampling (fastgibbs)",
            f" Formula: {self.formula}",
            f"  Family: {self.family}" + (f" ({self.family_options['link']} link)"
                                          if "link" in self.family_options else ""),
            f"    Data: {self.n_obs} observations"
            + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else "")
            + (f" in {self.n_cells} cells" if self.n_cells is not None else "")
            + f"; groups: {groups}",
            "",
        ]
        with _pandas_display():
            lo, hi = table.columns[3], table.columns[-4]      # the 2.5% and 97.5% quantiles
            level = f"{100 * (_percent(hi) - _percent(lo)):g}%"
            if self.blocks or "sigma" in self.names:
                lines.append(f"Random effects (Std.Dev.: posterior mean of the sd, with its "
                             f"{level} interval;")
                lines.append("                Variance = Std.Dev.^2, as in lme4's VarCorr):")
                lines.append(self._random_effects_table(table, lo, hi, level).to_string(
                    index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))
                if self.structures:                     # fastgibbs.structured
                    from .gmrf import describe_record
                    lines += [f"  {describe_record(term, record)}"
                              for term, record in self.structures.items()]
                lines.append("")
            lines.append(f"Fixed effects (Estimate: posterior mean; Est.Error: posterior sd; "
                         f"{level} interval):")
            fixed = table.loc[list(self.fixed_names)]
            lines.append(_text(pd.DataFrame({
                "Estimate": fixed["mean"], "Est.Error": fixed["sd"],
                f"l-{level} CI": fixed[lo], f"u-{level} CI": fixed[hi], **_diagnostics(fixed)})))
            lines += self._other_parameters(table)
        lines += [
            "",
            f"Sampler: {_plural(self.n_chains, 'chain')} x ({self.n_warmup} warmup + "
            f"{self.n_draws} draws" + (f", thin {self.thin}" if self.thin > 1 else "")
            + f"), {self.backend} backend, {_plural(self.n_jobs, 'worker')}, "
            f"seed {seed_label(self.seed)}",
            f"  time: design {t.get('design', 0):.3f} s, sampling {t.get('sampling', 0):.3f} s; "
            f"worst R-hat {_extreme(table['r_hat'], max)}, "
            f"lowest bulk ESS {_extreme(table['ess_bulk'], min)}",
        ]
        lines += self._warnings(table)
        return "\n".join(lines)

    def _other_parameters(self, table):
        """Printout lines of what the two tables leave out: correlations and, when the
        model has at most MAX_PRINTED_ROWS parameters, the group effects."""
        shown = set(self.fixed_names) | {"sigma"} | {
            term + "_sigma" for block in self.blocks for term in block.terms}
        n_u = sum(len(ix) for ix in self.term_index.values())
        effects = {self.names[int(c)] for ix in self.term_index.values() for c in ix}
        hide_effects = n_u and len(table) > MAX_PRINTED_ROWS
        rest = table.loc[[n for n in table.index
                          if n not in shown and not (hide_effects and n in effects)]]
        if not len(rest):
            return [f"({n_u} group effects in fit.summary())"] if hide_effects else []
        if np.isfinite(rest[["ess_bulk", "ess_tail"]].to_numpy()).all():
            rest = rest.assign(ess_bulk=rest["ess_bulk"].round().astype(int),
                               ess_tail=rest["ess_tail"].round().astype(int))
        title = f" ({n_u} group effects in fit.summary()):" if hide_effects else ":"
        return ["", "Other parameters" + title, _text(rest)]

    def _random_effects_table(self, table, lo, hi, level):
        """The VarCorr rows (reset index) with the sd's interval as l-/u- CI and the
        sd's diagnostics."""
        vc = self.VarCorr(probs=(_percent(lo), _percent(hi)))
        # VarCorr's rows: each block's terms in order, then the residual
        names = [term + "_sigma" for block in self.blocks for term in block.terms] \
            + (["sigma"] if "sigma" in self.names else [])
        out = vc.rename(columns={f"Std.Dev. {lo}": f"l-{level} CI",
                                 f"Std.Dev. {hi}": f"u-{level} CI"}).reset_index()
        corr = [c for c in out.columns if c.startswith("Corr ")]
        out = out[["Groups", "Name", "Variance", "Std.Dev.", f"l-{level} CI", f"u-{level} CI"]
                  + corr]
        for column, values in _diagnostics(table.loc[names]).items():
            out[column] = values.to_numpy()
        return out

    def __repr__(self):
        return (f"<fastgibbs.Fit {self.formula!r}: {self.n_chains} chains x {self.n_draws} draws, "
                f"{len(self.names)} parameters>")


MAX_PRINTED_ROWS = 30        # print(fit) leaves the group effects out of longer tables


def _percent(label):
    """0.025 from the quantile column label "2.5%"."""
    return float(label.rstrip("%")) / 100


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _diagnostics(rows):
    """Rhat and the rounded bulk/tail ESS of summary ``rows``, as brms prints them."""
    return {"Rhat": rows["r_hat"], "Bulk_ESS": rows["ess_bulk"].round().astype("Int64"),
            "Tail_ESS": rows["ess_tail"].round().astype("Int64")}


def _text(frame):
    return frame.to_string(float_format=lambda v: f"{v:.4g}")


def _extreme(column, pick):
    """'value (parameter)' of the max or min of a Series, ignoring NaN."""
    column = column.dropna()
    if column.empty:
        return "n/a"
    name = column.idxmax() if pick is max else column.idxmin()
    return f"{column[name]:.4g} ({name})"


class _pandas_display:
    """Context manager: wide pandas output for text tables."""

    def __enter__(self):
        self._ctx = pd.option_context("display.width", 200, "display.max_columns", 20)
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
