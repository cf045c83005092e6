"""Posterior predictive check plots: the fitted response against responses replicated
from the posterior (Gabry et al. 2019, J. R. Stat. Soc. A 182:389, "Visualization in
Bayesian workflow", sec. 5; Gelman et al., BDA3, ch. 6).

``fit.plot_ppc(kind=...)``:

- ``"density"`` (default for gaussian models): the kernel density of y (black) over
  those of ``ndraws`` replicated datasets y_rep (thin blue lines);
- ``"hist"`` (default for bernoulli, binomial and count models): the share of rows in
  each bin of y (grey bars; one bin per count 0, 1, 2, ..., 39, the last taking the
  larger counts too, proportions y / trials of binomial models in ``bins`` bins of
  [0, 1]; values beyond the outer bins count in them)
  with the median and central 90% interval of the same share over the replicated
  datasets (blue points and bars);
- ``"stat"``: a test statistic T (``stat``): the histogram of T(y_rep) with T(y) as a
  vertical line and the posterior predictive p-value P(T(y_rep) >= T(y)); with
  ``group``, one row per group: the 50% and 90% intervals of T(y_rep) within the
  group, T(y) as a point (red when the p-value is below 0.05 or above 0.95), and the
  p-values on the right.

``group`` (a grouping factor or a data column) gives one panel per group for
``"density"`` and ``"hist"``. The numbers come from ``fit.predict``, ``fit.ppc_stat``
(fastgibbs.checking); this module draws them (and computes the densities and bin
shares it shows).
"""
import math
import re

import numpy as np

from .plots import MAX_PANELS, KDE_POINTS, _finish, _kde, _natural_order, _new_figure, \
    _panel_figure

__all__ = ["PPCPlotsMixin", "PPC_KINDS"]

PPC_KINDS = ("density", "hist", "stat")
MAX_COUNT_BINS = 40       # counts: one bin per value up to this many values
EXTREME_P = 0.05          # p-values below this or above 1 - this are marked
REPLICATE_COLOR = "C0"
OBSERVED_COLOR = "k"


def _hist_edges(y, y_rep, family, bins):
    """Bin edges for ``"hist"``: integer bins for counts, [0, 1] for proportions,
    ``bins`` equal bins over the observed range otherwise."""
    if family == "bernoulli":
        return np.array([-0.5, 0.5, 1.5])
    if family == "binomial":
        return np.linspace(0.0, 1.0, (bins or 10) + 1)
    if family in ("poisson", "negativebinomial"):
        top = int(max(y.max(), np.quantile(y_rep, 0.99)))
        if not bins:            # one bin per count; the last one also takes larger counts
            return np.arange(min(top, MAX_COUNT_BINS - 1) + 2) - 0.5
        width = max(1, math.ceil((top + 1) / bins))
        return np.arange(0, top + width + 1, width) - 0.5
    lo, hi = float(y.min()), float(y.max())
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, (bins or 30) + 1)


def _shares(values, edges):
    """Share of the values (..., n) in each bin; values beyond the edges go to the
    first and last bins (so every row counts)."""
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    n_bins = len(edges) - 1
    flat = idx.reshape(-1, idx.shape[-1])
    counts = np.stack([np.bincount(row, minlength=n_bins) for row in flat])
    return (counts / idx.shape[-1]).reshape(idx.shape[:-1] + (n_bins,))


class PPCPlotsMixin:
    """The posterior predictive check plot of :class:`fastgibbs.Fit`."""

    def _response_label(self):
        design = getattr(self, "design", None)
        name = design.response if design is not None else "y"
        if self.family != "binomial":
            return name
        # "p(successes, trials)": the proportion successes / trials
        match = re.fullmatch(r"\s*p\(\s*(.+?)\s*,\s*(.+?)\s*\)\s*", name)
        return f"{match.group(1)} / {match.group(2)}" if match else f"{name}: proportion"

    def plot_ppc(self, kind=None, stat="mean", group=None, ndraws=None, seed=None, bins=None):
        """Posterior predictive check of the fitted rows (see the module docstring).

        Parameters
        ----------
        kind : {"density", "hist", "stat"}, optional
            Default ``"density"`` for gaussian models, ``"hist"`` for the others.
        stat : str or callable
            ``kind="stat"``: the statistic, as in :meth:`Fit.ppc_stat` ("mean", "sd",
            "median", "min", "max", "prop_zero" or a callable).
        group : str, optional
            A grouping factor of the fit or a column of the fitted data: panels per
            group (``"density"``, ``"hist"``; at most 100) or rows per group
            (``"stat"``).
        ndraws : int, optional
            Replicated datasets: default 50 (``"density"``), 500 (``"hist"``), every
            posterior draw (``"stat"``).
        seed : int, SeedSequence, Generator or None
            Seed of the replicated responses.
        bins : int, optional
            ``"hist"``: number of bins (default 30, binomial proportions 10, counts
            one per value up to 40 values).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .families import get_family

        discrete = get_family(self.family).discrete
        kind = ("hist" if discrete else "density") if kind is None else kind
        if kind not in PPC_KINDS:
            raise ValueError(f"kind must be one of {PPC_KINDS}, got {kind!r}")
        if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int)
                                 or bins < 1):
            raise ValueError(f"bins must be a positive integer, got {bins!r}")
        if kind == "stat":
            return self._plot_ppc_stat(stat, group, ndraws, seed)
        ndraws = ndraws or (50 if kind == "density" else 500)
        y, y_rep = self._replicated_response(ndraws, seed)
        if group is None:
            panels = [("", np.arange(len(y)))]
        else:
            from .predictive import fitted_rows
            codes, labels = self._group_codes(group, fitted_rows(self))
            order = _natural_order(labels)
            panels = [(f"{group} = {labels[g]}", np.flatnonzero(codes == g)) for g in order]
            panels = [(title, idx) for title, idx in panels if len(idx)]
            if len(panels) > MAX_PANELS:
                raise ValueError(f"group {group!r} has {len(panels)} levels; a plot takes "
                                 f"at most {MAX_PANELS} panels (use kind='stat' for many "
                                 "groups)")
        if len(panels) == 1:
            fig = _new_figure((7.0, 3.6))
            axes = [fig.add_subplot()]
        else:
            fig, axes = _panel_figure(len(panels), width=8.0, row_height=1.7)
        draw = self._ppc_density_panel if kind == "density" else self._ppc_hist_panel
        edges = _hist_edges(y, y_rep, self.family, bins) if kind == "hist" else None
        for p, (ax, (title, idx)) in enumerate(zip(axes, panels)):
            draw(ax, y[idx], y_rep[:, idx], first=p == 0, edges=edges)
            if title:
                ax.set_title(title, fontsize="small")
        if len(panels) == 1:            # (several panels: their titles name the groups)
            what = "densities" if kind == "density" else "shares of rows per bin"
            axes[0].set_title(f"Posterior predictive check: y and {y_rep.shape[0]} "
                              f"replicated datasets ({what})", fontsize="medium")
        return _finish(fig, axes[0])

    def _ppc_density_panel(self, ax, y, y_rep, first, edges=None):
        pooled = np.concatenate([y, y_rep.ravel()])
        lo, hi = np.quantile(pooled, [0.001, 0.999])
        lo, hi = min(lo, y.min()), max(hi, y.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        grid = np.linspace(lo - pad, hi + pad, KDE_POINTS)
        for r in range(y_rep.shape[0]):
            density = _kde(y_rep[r], grid)
            if density is not None:
                ax.plot(grid, density, color=REPLICATE_COLOR, lw=0.5, alpha=0.35,
                        gid="replicated", label=f"y_rep ({y_rep.shape[0]} replicated datasets)"
                        if first and r == 0 else None)
        density = _kde(y, grid)
        if density is None:
            ax.axvline(y[0], color=OBSERVED_COLOR, lw=2.0, gid="observed",
                       label="y (observed)" if first else None)
        else:
            ax.plot(grid, density, color=OBSERVED_COLOR, lw=2.0, gid="observed",
                    label="y (observed)" if first else None)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(bottom=0)
        ax.set_yticks([])
        ax.set_ylabel("density", fontsize="small")
        ax.set_xlabel(self._response_label(), fontsize="small")

    def _ppc_hist_panel(self, ax, y, y_rep, first, edges):
        observed = _shares(y[None, :], edges)[0]
        replicated = _shares(y_rep, edges)
        lo, mid, hi = np.quantile(replicated, [0.05, 0.5, 0.95], axis=0)
        centers = 0.5 * (edges[:-1] + edges[1:])
        widths = np.diff(edges)
        ax.bar(centers, observed, width=0.9 * widths, color="0.75", edgecolor="none",
               gid="observed", label="y (observed)" if first else None)
        ax.errorbar(centers, mid, yerr=[mid - lo, hi - mid], fmt="o", color=REPLICATE_COLOR,
                    ms=3.5, lw=1.2, capsize=0, gid="replicated",
                    label=f"y_rep: median and 90% interval over {y_rep.shape[0]} replicated "
                    "datasets" if first else None)
        if self.family == "bernoulli" or (self.family in ("poisson", "negativebinomial")
                                          and np.allclose(widths, 1.0)):
            values = np.round(centers).astype(int)
            step = max(1, math.ceil(len(values) / 15))
            ax.set_xticks(values[::step])
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("share of rows", fontsize="small")
        last = ""
        if self.family in ("poisson", "negativebinomial") and np.allclose(widths, 1.0) \
                and max(y.max(), y_rep.max()) > edges[-1]:
            last = f" (last bin: {int(round(centers[-1]))} or more)"
        ax.set_xlabel(self._response_label() + last, fontsize="small")

    def _plot_ppc_stat(self, stat, group, ndraws, seed):
        replicates = self._ppc_replicates(stat, group, ndraws, seed)
        table = self._ppc_table(*replicates, group, (0.05, 0.25, 0.75, 0.95))
        name, observed, rep = replicates[:3]
        what = f"{name} of {self._response_label()}"
        if group is None:
            fig = _new_figure((7.0, 3.6))
            ax = fig.add_subplot()
            values = rep[:, 0][np.isfinite(rep[:, 0])]
            ax.hist(values, bins=min(50, max(10, len(np.unique(values)))),
                    color=REPLICATE_COLOR, alpha=0.6, edgecolor="none", gid="replicated",
                    label="T(y_rep)")
            ax.axvline(observed[0], color=OBSERVED_COLOR, lw=2.0, gid="observed",
                       label="T(y)")
            p = table["p_value"].iloc[0]
            ax.text(0.98, 0.95, f"p = P(T(y_rep) >= T(y)) = {p:.3f}", transform=ax.transAxes,
                    ha="right", va="top", fontsize="small", gid="p_value",
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
            ax.set_xlabel(f"T = {what}")
            ax.set_ylabel("replicated datasets")
            ax.set_title(f"Posterior predictive check of T = {name} "
                         f"({rep.shape[0]} replicated datasets)", fontsize="medium")
            return _finish(fig, ax)
        labels = list(table.index.astype(str))
        order = np.array(_natural_order(labels))[::-1]       # first level at the top
        rows = table.iloc[order]
        y = np.arange(len(rows))
        fig = _new_figure((7.0, min(40.0, max(2.6, 1.4 + 0.22 * len(rows)))))
        ax = fig.add_subplot()
        ax.hlines(y, rows["5%"], rows["95%"], color=REPLICATE_COLOR, lw=1.0,
                  gid="outer_interval", label="T(y_rep): 50% and 90% intervals")
        ax.hlines(y, rows["25%"], rows["75%"], color=REPLICATE_COLOR, lw=3.5,
                  gid="inner_interval")
        p = rows["p_value"].to_numpy()
        extreme = (p < EXTREME_P) | (p > 1 - EXTREME_P)
        ax.plot(rows["observed"].to_numpy()[~extreme], y[~extreme], "o", color=OBSERVED_COLOR,
                ms=4, gid="observed", label="T(y)")
        if extreme.any():
            ax.plot(rows["observed"].to_numpy()[extreme], y[extreme], "o", color="C3", ms=5,
                    gid="observed_extreme",
                    label=f"T(y), p < {EXTREME_P:g} or > {1 - EXTREME_P:g}")
        ax.set_yticks(y)
        size = "small" if len(rows) < 60 else "x-small"
        ax.set_yticklabels(list(rows.index.astype(str)), fontsize=size)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(y)
        right.set_yticklabels([f"{v:.2f}" if np.isfinite(v) else "n/a" for v in p],
                              fontsize=size)
        right.set_ylabel("p-value", fontsize="small")
        ax.set_ylabel(group)
        ax.set_xlabel(f"T = {what} within {group}")
        n_extreme = int(extreme.sum())
        ax.set_title(f"Posterior predictive check of T = {name} per {group}: {n_extreme} of "
                     f"{len(rows)} p-values outside ({EXTREME_P:g}, {1 - EXTREME_P:g})",
                     fontsize="medium")
        return _finish(fig, ax)
