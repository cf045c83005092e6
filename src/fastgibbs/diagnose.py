"""``fit.diagnose()``: a short plain-language convergence report.

Thresholds follow Vehtari et al. (2021, Bayesian Analysis 16(2)): rank-normalized
split R-hat below 1.01, and bulk and tail effective sample sizes of at least 400
(100 per chain for 4 chains) before the posterior summaries are trusted. They are the
constants ``RHAT_WARN`` and ``ESS_WARN`` of :mod:`fastgibbs.results`, which the
printout of a fit also uses.
"""
import math

import numpy as np

__all__ = ["DiagnoseMixin", "Report"]

N_WORST = 5


class Report(str):
    """A string that prints as itself at the interactive prompt."""

    def __repr__(self):
        return str(self)


def _fmt(value, digits=3):
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


class DiagnoseMixin:
    """The ``diagnose`` method of :class:`fastgibbs.Fit`."""

    def diagnose(self, n_worst=N_WORST):
        """Plain-language convergence report: R-hat, bulk and tail ESS, the worst
        parameters, and what to do about them.

        Parameters
        ----------
        n_worst : int
            How many of the worst parameters to list.

        Returns
        -------
        Report
            A ``str`` (printed as is at the prompt). ``print(fit.diagnose())``.
        """
        from .results import ESS_WARN, RHAT_WARN

        table = self.summary()
        n_chains, n_draws = self.n_chains, self.n_draws
        lines = [f"Convergence of {len(table)} parameters, {n_chains} chain"
                 f"{'s' if n_chains != 1 else ''} x {n_draws} draws "
                 f"(after {self.n_warmup} warmup):"]
        diag = table[["r_hat", "ess_bulk", "ess_tail"]]
        if diag.isna().all().all():
            lines.append("  R-hat and ESS cannot be computed: fewer than 4 draws per chain, or "
                         "no finite draws.")
            lines.append("What to do: run more draws (draws=1000 or more) with 4 chains.")
            return Report("\n".join(lines))

        r_hat, bulk, tail = table["r_hat"], table["ess_bulk"], table["ess_tail"]
        bad_rhat = r_hat > RHAT_WARN
        low_bulk, low_tail = bulk < ESS_WARN, tail < ESS_WARN
        n_nan = int(diag.isna().any(axis=1).sum())

        def verdict(flags):
            return "OK" if not flags.any() else "PROBLEM"

        lines.append(f"  R-hat     worst {_fmt(r_hat.max())} ({r_hat.idxmax()}); "
                     f"{int(bad_rhat.sum())} above {RHAT_WARN}: {verdict(bad_rhat)}")
        lines.append(f"  bulk ESS  lowest {_fmt(bulk.min(), 0)} ({bulk.idxmin()}); "
                     f"{int(low_bulk.sum())} below {ESS_WARN}: {verdict(low_bulk)}")
        lines.append(f"  tail ESS  lowest {_fmt(tail.min(), 0)} ({tail.idxmin()}); "
                     f"{int(low_tail.sum())} below {ESS_WARN}: {verdict(low_tail)}")
        if n_nan:
            lines.append(f"  {n_nan} parameter(s) without diagnostics (constant or non-finite "
                         "draws).")

        # worst first: R-hat excess, then the smaller ESS relative to the target
        min_ess = np.fmin(bulk, tail)
        badness = np.fmax((r_hat - 1.0) / (RHAT_WARN - 1.0), ESS_WARN / min_ess.clip(lower=1.0))
        worst = badness.fillna(-np.inf).sort_values(ascending=False).index[:n_worst]
        lines.append("Worst parameters:")
        shown = table.loc[worst, ["mean", "sd", "r_hat", "ess_bulk", "ess_tail"]]
        width = max(len(n) for n in worst)
        for name, row in shown.iterrows():
            lines.append(f"  {name:<{width}}  R-hat {_fmt(row['r_hat'])}  bulk ESS "
                         f"{_fmt(row['ess_bulk'], 0):>6}  tail ESS {_fmt(row['ess_tail'], 0):>6}")

        advice = []
        if bad_rhat.any():
            bad = list(r_hat[bad_rhat].sort_values(ascending=False).index[:3])
            advice.append(
                "The chains disagree (R-hat > %s): the draws do not yet come from the posterior. "
                "Look at fit.plot_trace(%r) and fit.plot_trace(%r, kind='rank'); run a longer "
                "warmup and more draws (e.g. twice each) and check again." % (RHAT_WARN, bad, bad))
        if (low_bulk | low_tail).any():
            target = math.ceil(n_draws * ESS_WARN / max(float(min_ess.min()), 1.0))
            advice.append(
                f"Some estimates rest on few effective draws (ESS < {ESS_WARN}): their means and "
                f"especially tail quantiles are noisy (see mcse_mean in fit.summary()). About "
                f"draws={target} per chain would reach {ESS_WARN}; thinning does not help.")
        slow_sd = [n for n in worst if n.endswith("_sigma") and n != "sigma"
                   and (bad_rhat.get(n, False) or low_bulk.get(n, False))]
        if slow_sd:
            advice.append(
                f"Group sds mix slowest ({', '.join(slow_sd)}): with few groups or a sd near 0 "
                "the data say little about it. A more informative prior on it (a smaller "
                "fg.HalfCauchy scale) helps; keep interweave=True (the default).")
        from .results import mh_acceptance_message
        message = mh_acceptance_message(getattr(self, "sampler", None))
        if message:
            advice.append(message)
        if n_chains < 2:
            advice.append("Only one chain: R-hat can only compare its two halves. Run 4 chains "
                          "from dispersed starts (chains=4).")
        if not advice:
            advice.append("No problems found: R-hat and ESS meet the usual thresholds "
                          f"(R-hat <= {RHAT_WARN}, ESS >= {ESS_WARN}). Still look at "
                          "fit.plot_trace() once.")
        lines.append("What to do:")
        lines += [f"  - {a}" for a in advice]
        return Report("\n".join(lines))
