"""Pictures of a fit: trace and rank plots, pairs, per-chain densities, autocorrelation
and caterpillar (interval) plots of group effects.

Every method returns the matplotlib ``Figure`` (made with ``pyplot``, so ``plt.show()``
works in scripts; in a notebook end the line with ``;`` to avoid showing it twice).
matplotlib is imported inside the methods, so importing fastgibbs never loads it.

``pars`` selects parameters as :meth:`Fit.draws` does: a name (``"sigma"``), a group
term (``"1|state"``: all its levels), a glob pattern (``"*_sigma"``; ``[`` starts a
character class in globs, so write ``"1|state?5*"`` or ``"1|state[[]5*"`` for the levels
starting with 5) or a list of these. The default is every parameter that is not a group effect (fixed effects,
``sigma``, group sds and correlations).

This module only draws: the numbers it shows are the draws themselves, their ranks
(rank plot), kernel density estimates, autocorrelations (FFT) and quantiles (intervals).
"""
import math

import numpy as np

__all__ = ["PlotsMixin"]

MAX_PANELS = 100        # more panels than this is unreadable: ask for fewer parameters
MAX_PAIRS = 10          # a pairs plot of k parameters has k (k + 1) / 2 panels
KDE_POINTS = 200        # grid points of each density curve
WARMUP_COLOR = "0.88"


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def _chain_colors(n_chains):
    """Distinct colours: the default cycle (C0..C9), a colormap beyond 10 chains."""
    if n_chains <= 10:
        return [f"C{c}" for c in range(n_chains)]
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(c / (n_chains - 1)) for c in range(n_chains)]


def _grid(n_panels):
    """(rows, cols) of a panel grid: one column up to 4 panels, at most 4 columns."""
    cols = 1 if n_panels <= 4 else min(4, math.ceil(n_panels / 6))
    return math.ceil(n_panels / cols), cols


def _panel_figure(n_panels, width=8.0, row_height=1.9):
    """Figure with ``n_panels`` axes in a grid; unused grid cells are removed."""
    plt = _pyplot()
    rows, cols = _grid(n_panels)
    fig, axes = plt.subplots(rows, cols, figsize=(max(width, 3.4 * cols), row_height * rows + 0.6),
                             squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        fig.delaxes(ax)
    return fig, list(axes[:n_panels])


def _finish(fig, ax):
    """Legend of ``ax`` (chains, warmup) above the panels, then a tight layout."""
    handles, labels = ax.get_legend_handles_labels()
    top = 1.0
    if len(handles) > 1:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(handles), 6),
                   fontsize="small", frameon=False)
        top = 1.0 - 0.35 / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def _autocorr(x, max_lag):
    """Autocorrelation of a 1-d series at lags 0..max_lag (FFT, biased estimator)."""
    x = x - x.mean()
    n = len(x)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    acov = np.fft.irfft(f * np.conjugate(f), size)[: max_lag + 1]
    if acov[0] <= 0:
        return np.full(max_lag + 1, np.nan)
    return acov / acov[0]


def _kde(x, grid):
    """Gaussian kernel density of ``x`` on ``grid``; None when x is constant."""
    from scipy.stats import gaussian_kde
    if np.ptp(x) == 0:
        return None
    return gaussian_kde(x)(grid)


class PlotsMixin:
    """Plotting methods of :class:`fastgibbs.Fit`."""

    def _plot_selection(self, pars):
        """(names, column positions) for ``pars``; duplicates removed, order kept."""
        if pars is None:
            grouped = set()
            for cols in self.term_index.values():
                grouped.update(int(c) for c in cols)
            cols = [i for i in range(len(self.names)) if i not in grouped]
        else:
            if isinstance(pars, str):
                pars = [pars]
            cols = []
            for p in pars:
                cols.extend(int(c) for c in self._columns(p)[0])
            cols = list(dict.fromkeys(cols))
        if not cols:
            raise ValueError("no parameters selected")
        return [self.names[c] for c in cols], np.array(cols)

    def _check_panels(self, names, limit=MAX_PANELS):
        if len(names) > limit:
            raise ValueError(f"{len(names)} parameters selected; plot at most {limit} at a time "
                             "(select some levels of a group term with a pattern such as '1|g?A*')")

    def plot_trace(self, pars=None, include_warmup=True, kind="trace", bins=20):
        """Trace plot (rstan's traceplot) or rank plot of the chains, one panel per parameter.

        Parameters
        ----------
        pars : str or list of str, optional
            Names, group terms or glob patterns (see the module docstring).
        include_warmup : bool
            ``kind="trace"``: also draw the warmup sweeps, on a grey background.
        kind : {"trace", "rank"}
            ``"trace"``: value against sweep number, one line per chain (sweep numbers
            count thinned-out sweeps too). ``"rank"``: histogram of the ranks of each
            chain's draws among all chains' post-warmup draws, one step line per chain
            (Vehtari et al. 2021, Bayesian Analysis 16(2)); chains that sample the same
            distribution give flat lines around the dashed uniform level. Better than
            trace plots for many chains or long runs.
        bins : int
            ``kind="rank"``: number of rank bins (at most the draws per chain).

        Returns
        -------
        matplotlib.figure.Figure
        """
        if kind not in ("trace", "rank"):
            raise ValueError(f"kind must be 'trace' or 'rank', got {kind!r}")
        names, cols = self._plot_selection(pars)
        self._check_panels(names)
        n_chains, n_draws, n_warmup = self.n_chains, self.n_draws, self.n_warmup
        colors = _chain_colors(n_chains)
        fig, axes = _panel_figure(len(names))
        draws = self.draws_array[:, :, cols]
        if kind == "trace":
            show_warmup = include_warmup and n_warmup > 0
            x_draws = n_warmup + self.thin * np.arange(1, n_draws + 1)
            x = np.concatenate([np.arange(1, n_warmup + 1), x_draws]) if show_warmup else x_draws
            warm = self.warmup_array[:, :, cols] if show_warmup else None
            for p, (ax, name) in enumerate(zip(axes, names)):
                if show_warmup:
                    ax.axvspan(0.5, n_warmup + 0.5, color=WARMUP_COLOR, zorder=0,
                               label="warmup" if p == 0 else None, gid="warmup")
                for c in range(n_chains):
                    y = draws[c, :, p] if warm is None \
                        else np.concatenate([warm[c, :, p], draws[c, :, p]])
                    ax.plot(x, y, color=colors[c], lw=0.6, alpha=0.8,
                            label=f"chain {c}" if p == 0 else None)
                ax.set_title(name, fontsize="medium")
                ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
                ax.margins(x=0)
            for ax in axes[-_grid(len(names))[1]:]:
                ax.set_xlabel("sweep")
        else:
            from scipy.stats import rankdata
            n_bins = max(1, min(int(bins), n_draws))
            total = n_chains * n_draws
            edges = np.linspace(0.5, total + 0.5, n_bins + 1)
            for p, (ax, name) in enumerate(zip(axes, names)):
                ranks = rankdata(draws[:, :, p], method="average").reshape(n_chains, n_draws)
                for c in range(n_chains):
                    counts, _ = np.histogram(ranks[c], bins=edges)
                    ax.step(edges, np.append(counts, counts[-1]), where="post", color=colors[c],
                            lw=1.0, label=f"chain {c}" if p == 0 else None)
                ax.axhline(n_draws / n_bins, color="k", ls="--", lw=0.8, gid="uniform")
                ax.set_title(name, fontsize="medium")
                ax.set_ylim(bottom=0)
                ax.set_yticks([])
            for ax in axes[-_grid(len(names))[1]:]:
                ax.set_xlabel("rank of draw (all chains)")
        return _finish(fig, axes[0])

    def plot_pairs(self, pars=None, max_points=1000, bins=30):
        """Scatter matrix of the draws: histograms on the diagonal, pairwise scatter
        plots (coloured by chain) below it.

        Parameters
        ----------
        pars : str or list of str, optional
            At most 10 parameters (default: the non-group-effect parameters).
        max_points : int
            Each scatter panel shows at most this many draws: every s-th draw of each
            chain, s chosen so that chains x ceil(draws / s) <= max_points.
        bins : int
            Histogram bins on the diagonal.

        Returns
        -------
        matplotlib.figure.Figure
            k (k + 1) / 2 axes for k parameters; the upper triangle is left empty.
        """
        names, cols = self._plot_selection(pars)
        k = len(names)
        if k > MAX_PAIRS:
            raise ValueError(f"{k} parameters selected; a pairs plot takes at most {MAX_PAIRS}: "
                             "pass pars=[...]")
        if max_points < self.n_chains:
            raise ValueError(f"max_points must be at least the number of chains ({self.n_chains})")
        per_chain = max_points // self.n_chains
        step = max(1, math.ceil(self.n_draws / per_chain))
        draws = self.draws_array[:, ::step, :][:, :, cols]
        pooled = self.draws_array[:, :, cols].reshape(-1, k)
        colors = _chain_colors(self.n_chains)
        plt = _pyplot()
        size = min(2.2 * k + 0.6, 16)
        fig, grid = plt.subplots(k, k, figsize=(size, size), squeeze=False)
        for i in range(k):
            for j in range(k):
                ax = grid[i, j]
                if j > i:
                    fig.delaxes(ax)
                    continue
                if i == j:
                    ax.hist(pooled[:, i], bins=bins, color="0.5", edgecolor="none")
                    ax.set_yticks([])
                else:
                    for c in range(self.n_chains):
                        ax.scatter(draws[c, :, j], draws[c, :, i], s=3, color=colors[c],
                                   alpha=0.5, linewidths=0, label=f"chain {c}")
                if i == k - 1:
                    ax.set_xlabel(names[j])
                else:
                    ax.tick_params(labelbottom=False)
                if j == 0 and i > 0:
                    ax.set_ylabel(names[i])
        fig.suptitle(f"{self.n_chains} chains x {math.ceil(self.n_draws / step)} draws"
                     + (f" (1 in {step} draws)" if step > 1 else ""), fontsize="medium")
        fig.tight_layout()
        return fig

    def plot_density(self, pars=None):
        """Kernel density of each chain's draws, overlaid, one panel per parameter;
        chains that sample the same distribution give nearly the same curve.

        Returns
        -------
        matplotlib.figure.Figure
        """
        names, cols = self._plot_selection(pars)
        self._check_panels(names)
        colors = _chain_colors(self.n_chains)
        fig, axes = _panel_figure(len(names), width=7.0)
        draws = self.draws_array[:, :, cols]
        for p, (ax, name) in enumerate(zip(axes, names)):
            lo, hi = draws[:, :, p].min(), draws[:, :, p].max()
            pad = 0.05 * (hi - lo)
            grid = np.linspace(lo - pad, hi + pad, KDE_POINTS)
            for c in range(self.n_chains):
                label = f"chain {c}" if p == 0 else None
                density = _kde(draws[c, :, p], grid)
                if density is None:     # a constant chain: a spike at its value
                    ax.axvline(draws[c, 0, p], color=colors[c], lw=1.0, label=label)
                else:
                    ax.plot(grid, density, color=colors[c], lw=1.0, label=label)
            ax.set_title(name, fontsize="medium")
            ax.set_yticks([])
            ax.set_ylim(bottom=0)
        return _finish(fig, axes[0])

    def plot_autocorr(self, pars=None, max_lag=50):
        """Autocorrelation of each chain's post-warmup draws against the lag, one panel
        per parameter, one line per chain.

        Returns
        -------
        matplotlib.figure.Figure
        """
        names, cols = self._plot_selection(pars)
        self._check_panels(names)
        max_lag = max(1, min(int(max_lag), self.n_draws - 1))
        colors = _chain_colors(self.n_chains)
        fig, axes = _panel_figure(len(names), width=7.0)
        draws = self.draws_array[:, :, cols]
        lags = np.arange(max_lag + 1)
        for p, (ax, name) in enumerate(zip(axes, names)):
            lowest = 0.0
            for c in range(self.n_chains):
                acf = _autocorr(draws[c, :, p], max_lag)
                if np.isfinite(acf).any():
                    lowest = min(lowest, np.nanmin(acf))
                ax.plot(lags, acf, color=colors[c], lw=1.0, label=f"chain {c}" if p == 0 else None)
            ax.axhline(0.0, color="k", lw=0.6, gid="zero")
            ax.set_ylim(min(-0.1, lowest - 0.05), 1.05)
            ax.set_title(name, fontsize="medium")
        for ax in axes[-_grid(len(names))[1]:]:
            ax.set_xlabel(f"lag (draws{', thinned by %d' % self.thin if self.thin > 1 else ''})")
        return _finish(fig, axes[0])

    def plot_intervals(self, term, sort=True, show_mean=True, show_sd_band=True, add_fixed=True,
                       point="mean", probs=(0.5, 0.95)):
        """Caterpillar plot: point estimate with inner and outer central intervals per
        group (rstan's ``plot(fit, pars="alpha")``).

        Parameters
        ----------
        term : str or list of str
            A group term (``"1|state"``): one row per level, labelled by the level. Any
            other selection (names, patterns) gives a plain interval plot of those
            parameters, labelled by name, without population mean or sd band.
        sort : bool
            Order rows by the point estimate (largest at the top); otherwise in level
            order (first at the top).
        show_mean : bool
            Vertical line at the population mean: the posterior mean of the matching
            fixed effect (``Intercept`` for ``1|g``) when ``add_fixed``, else 0.
        show_sd_band : bool
            Shade population mean +- the posterior mean of the group sd
            (``"1|state_sigma"``): where about two thirds of the groups should fall.
        add_fixed : bool
            Plot group coefficients beta + u_j (as ``fit.coef()``) when the term's
            coefficient is also a fixed effect; False plots the deviations u_j.
        point : {"mean", "median"}
        probs : (float, float)
            Probabilities of the inner (thick) and outer (thin) intervals.

        Returns
        -------
        matplotlib.figure.Figure
        """
        if point not in ("mean", "median"):
            raise ValueError(f"point must be 'mean' or 'median', got {point!r}")
        inner, outer = (float(p) for p in probs)
        if not 0 < inner < outer < 1:
            raise ValueError(f"probs must be (inner, outer) with 0 < inner < outer < 1, got {probs!r}")
        is_term = isinstance(term, str) and term in self.term_index
        center, sd, fixed_name = 0.0, None, None
        if is_term:
            values = self.draws(term)
            labels = [str(level) for level in self.levels[term]]
            block = next(b for b in self.blocks if term in b.terms)
            coef = block.coef_names[block.terms.index(term)]
            if add_fixed and coef in self.fixed_names:
                fixed_name = coef
                beta = self.draws(coef)
                values = values + beta[:, :, None]
                center = float(beta.mean())
            if term + "_sigma" in self.names:
                sd = float(self.draws(term + "_sigma").mean())
            factor = block.factor
        else:
            names, cols = self._plot_selection(term)
            values = self.draws_array[:, :, cols]
            labels = names
            factor = None
        pooled = values.reshape(-1, values.shape[-1])
        est = pooled.mean(axis=0) if point == "mean" else np.median(pooled, axis=0)
        qs = np.quantile(pooled, [(1 - outer) / 2, (1 - inner) / 2, (1 + inner) / 2,
                                  (1 + outer) / 2], axis=0)
        # rows bottom to top: ascending estimates when sorted, else last level at the bottom
        order = np.argsort(est, kind="stable") if sort else np.arange(len(est))[::-1]
        y = np.arange(len(order))
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.0, min(40.0, 1.2 + 0.2 * len(order))))
        if is_term and show_sd_band and sd is not None:
            ax.axvspan(center - sd, center + sd, color="C1", alpha=0.15, lw=0, gid="sd_band",
                       label=f"mean +- {term}_sigma")
        if is_term and show_mean:
            ax.axvline(center, color="C1", lw=1.0, gid="population_mean",
                       label=f"population mean ({fixed_name or '0'})")
        ax.hlines(y, qs[0, order], qs[3, order], color="C0", lw=1.0, gid="outer_interval")
        ax.hlines(y, qs[1, order], qs[2, order], color="C0", lw=3.0, gid="inner_interval")
        ax.plot(est[order], y, "o", color="C0", ms=3.5, gid="point")
        ax.set_yticks(y)
        ax.set_yticklabels([labels[i] for i in order], fontsize="small" if len(order) < 60
                           else "x-small")
        ax.set_ylim(-0.7, len(order) - 0.3)
        what = f"{fixed_name} + {term}" if fixed_name else (term if is_term else "value")
        ax.set_xlabel(f"{what}: {point}, {100 * inner:g}% and {100 * outer:g}% intervals")
        if factor is not None:
            ax.set_ylabel(factor)
        ax.set_title(term if isinstance(term, str) else ", ".join(term), fontsize="medium")
        if is_term and (show_mean or (show_sd_band and sd is not None)):
            ax.legend(loc="lower right", fontsize="x-small", frameon=False)
        fig.tight_layout()
        return fig
