"""Pictures of a fit: trace and rank plots, pairs, per-chain densities, autocorrelation
and caterpillar (interval) plots of group effects.

Every method returns a ``matplotlib.figure.Figure`` made without pyplot: no figure is
left open, however many plots are drawn. Jupyter displays the figure a cell returns;
elsewhere write it with ``fig.savefig("trace.png")`` (``plt.show()`` does not see it).
matplotlib is imported inside the methods, so importing fastgibbs never loads it.

``pars`` selects parameters as :meth:`Fit.draws` does: a name (``"sigma"``), a group
term (``"1|state"``: all its levels), a glob pattern or a list of these. The residual
sd is ``"sigma"`` and group sds end in ``"_sigma"``, so ``"*sigma"`` selects every sd
and ``"*_sigma"`` only the group sds. ``[`` starts a character class in globs: write
``"1|state?5*"`` or ``"1|state[[]5*"`` for the levels starting with 5. The default is
every parameter that is not a group effect (fixed effects, ``sigma``, group sds and
correlations).

For families with a link function (bernoulli and binomial: logit) the coefficients,
group effects and group sds are on the link scale, and the value axes say so.

This module only draws: the numbers it shows are the draws themselves, their ranks
(rank plot), kernel density estimates, autocorrelations (FFT) and quantiles (intervals).
"""
import math
import re

import numpy as np

__all__ = ["PlotsMixin", "link_name"]

MAX_PANELS = 100        # more panels than this is unreadable: ask for fewer parameters
MAX_PAIRS = 10          # a pairs plot of k parameters has k (k + 1) / 2 panels
KDE_POINTS = 200        # grid points of each density curve
WARMUP_COLOR = "0.88"
TRACE_MARGIN = 0.05     # trace y-range: the post-warmup draws' range plus this fraction
RANK_BAND = 0.95        # probability of the expected band of a rank-plot bin count
LABEL_CHARS = 18        # pairs plot: longer names are wrapped at '|', '~', '_', ':'

_LINKS = {"gaussian": "identity", "bernoulli": "logit", "binomial": "logit",
          "poisson": "log", "negativebinomial": "log", "t": "identity"}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def link_name(family):
    """Name of the link function of ``family``: ``"logit"`` for ``"bernoulli"``,
    ``"log"`` for ``"poisson"``; ``"link"`` for a family not listed here."""
    return _LINKS.get(family, "link")


def _new_figure(figsize):
    from ._figure import new_figure
    return new_figure(figsize)


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
    rows, cols = _grid(n_panels)
    fig = _new_figure((max(width, 3.4 * cols), row_height * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        fig.delaxes(ax)
    return fig, list(axes[:n_panels])


def _bottom_row(axes):
    """The lowest panel of each column (panels fill the grid row by row)."""
    return axes[-_grid(len(axes))[1]:]


def _finish(fig, ax=None):
    """Legend of ``ax`` (chains, warmup) above the panels, then the layout."""
    from ._figure import tight_layout
    return tight_layout(fig, ax)


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


def _kde(x, points):
    """Gaussian kernel density of the draws ``x`` (n,) at ``points`` (m,), with Scott's
    bandwidth ``sd(x) n^(-1/5)`` (the default of ``scipy.stats.gaussian_kde``); None
    when ``x`` is constant."""
    if np.ptp(x) == 0:
        return None
    n = len(x)
    h = x.std(ddof=1) * n ** -0.2
    density = np.empty(len(points))
    step = max(1, (1 << 20) // n)  # bound the (points, n) work array to 8 MB
    for start in range(0, len(points), step):
        u = (points[start:start + step, None] - x) / h
        density[start:start + step] = np.exp(-0.5 * u * u).sum(axis=1)
    return density / (n * h * math.sqrt(2 * math.pi))


def _bounded_kde(x, grid, lower, upper):
    """Kernel density of ``x`` on ``grid`` for a parameter in [lower, upper] (either
    may be infinite), corrected at the bounds by reflection (Silverman 1986, Density
    Estimation, sec. 2.10): ``f(g) + f(2 lower - g) + f(2 upper - g)``, i.e. the mass
    the kernels put beyond a bound is folded back inside. Reflection rather than a
    log-transform KDE: the posterior of a group sd often has positive density at 0
    (few groups, or an sd near 0), where the back-transformed density ``g(log s) / s``
    grows without bound; reflection keeps the estimate finite there, integrates to
    one over the support and equals the plain KDE away from the bounds."""
    points = [grid]
    for bound in (lower, upper):
        if np.isfinite(bound):
            points.append(2 * bound - grid)
    density = _kde(x, np.concatenate(points))
    return None if density is None else density.reshape(len(points), -1).sum(axis=0)


def _average_ranks(x):
    """Ranks 1..n of the values ``x`` (any shape), ties given their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2)[inverse.reshape(x.shape)]


def _binomial_interval(n, p, prob):
    """Central ``prob`` interval (lo, hi) of a Binomial(n, p) count."""
    from scipy.special import bdtr

    cdf = bdtr(np.arange(n + 1), n, p)
    return int(np.searchsorted(cdf, (1 - prob) / 2)), int(np.searchsorted(cdf, (1 + prob) / 2))


def _natural_order(labels):
    """Positions that sort ``labels`` naturally: by value when all are numbers, else as
    text with runs of digits compared as numbers ("2" before "12", "a2" before "a12")."""
    if all(_NUMBER.fullmatch(label) for label in labels):
        return sorted(range(len(labels)), key=lambda i: float(labels[i]))

    def key(i):
        parts = re.split(r"(\d+)", labels[i])    # text, digits, text, ...: types align
        return [int(part) if k % 2 else part for k, part in enumerate(parts)]
    return sorted(range(len(labels)), key=key)


def _wrap(name, width=LABEL_CHARS):
    """``name`` on lines of about ``width`` characters, broken after '|', '~', '_' or ':'."""
    if len(name) <= width:
        return name
    lines, line = [], ""
    for piece in re.findall(r"[^|~_:]*[|~_:]?", name):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    return "\n".join(lines + [line] if line else lines)


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

    def _bounds(self, name):
        """(lower, upper) support of a parameter: [0, inf) for sds, [-1, 1] for
        correlations, the real line otherwise."""
        sds = {f"{term}_sigma" for block in self.blocks for term in block.terms}
        if self.family in ("gaussian", "t"):
            sds.update({"sigma", "nu"})
        if name in sds:
            return 0.0, math.inf
        if any(name in block.correlation_names for block in self.blocks):
            return -1.0, 1.0
        return -math.inf, math.inf

    def _scale_label(self, name):
        """'logit scale' (the family's link) for parameters on the link scale of a
        non-gaussian family: coefficients, group effects and group sds; else ''."""
        if self.family in ("gaussian", "t"):
            return ""
        on_link = name in self.fixed_names or self._bounds(name)[0] == 0.0 \
            or any(name.startswith(term + "[") for term in self.term_index)
        link = self.family_options.get("link") or link_name(self.family)    # probit
        return f"{link} scale" if on_link else ""

    def plot_trace(self, pars=None, include_warmup=True, kind="trace", bins=20):
        """Trace plot (rstan's traceplot) or rank plot of the chains, one panel per parameter.

        Parameters
        ----------
        pars : str or list of str, optional
            Names, group terms or glob patterns (see the module docstring).
        include_warmup : bool
            ``kind="trace"``: also draw the warmup sweeps, on a grey background. The
            y-range is that of the post-warmup draws (plus 5%): early warmup draws far
            from the posterior are clipped, marked "warmup clipped".
        kind : {"trace", "rank"}
            ``"trace"``: value against sweep number, one line per chain (sweep numbers
            count thinned-out sweeps too). ``"rank"``: histogram of the ranks of each
            chain's draws among all chains' post-warmup draws, one step line per chain
            (Vehtari et al. 2021, Bayesian Analysis 16(2)); chains that sample the same
            distribution give flat lines around the dashed uniform level, mostly inside
            the grey band (the central 95% of a bin's count for independent draws:
            autocorrelated draws stray out more often). Better than trace plots for many
            chains or long runs.
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
        fig, axes = _panel_figure(len(names))
        draws = self.draws_array[:, :, cols]
        if kind == "trace":
            self._draw_traces(axes, names, cols, draws, include_warmup)
        else:
            self._draw_ranks(axes, names, draws, bins)
        return _finish(fig, axes[0])

    def _draw_traces(self, axes, names, cols, draws, include_warmup):
        n_chains, n_draws, n_warmup = self.n_chains, self.n_draws, self.n_warmup
        colors = _chain_colors(n_chains)
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
            lo, hi = draws[:, :, p].min(), draws[:, :, p].max()
            margin = TRACE_MARGIN * (hi - lo) if hi > lo else 0.05 * abs(lo) or 0.5
            ax.set_ylim(lo - margin, hi + margin)
            if warm is not None and (warm[:, :, p].min() < lo - margin
                                     or warm[:, :, p].max() > hi + margin):
                ax.text(0.005, 0.97, "warmup clipped", transform=ax.transAxes, ha="left",
                        va="top", fontsize="x-small", color="0.2", gid="warmup_clipped",
                        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})
            ax.set_title(name, fontsize="medium")
            ax.set_ylabel(self._scale_label(name), fontsize="small")
            ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
        for ax in _bottom_row(axes):
            ax.set_xlabel("sweep")

    def _draw_ranks(self, axes, names, draws, bins):
        n_chains, n_draws = self.n_chains, self.n_draws
        colors = _chain_colors(n_chains)
        n_bins = max(1, min(int(bins), n_draws))
        total = n_chains * n_draws
        edges = np.linspace(0.5, total + 0.5, n_bins + 1)
        band = _binomial_interval(n_draws, 1 / n_bins, RANK_BAND)
        for p, (ax, name) in enumerate(zip(axes, names)):
            ranks = _average_ranks(draws[:, :, p])
            ax.axhspan(*band, color=WARMUP_COLOR, lw=0, zorder=0, gid="uniform_band",
                       label=f"{100 * RANK_BAND:g}% of uniform counts" if p == 0 else None)
            low, high = band
            for c in range(n_chains):
                counts, _ = np.histogram(ranks[c], bins=edges)
                ax.step(edges, np.append(counts, counts[-1]), where="post", color=colors[c],
                        lw=1.0, label=f"chain {c}" if p == 0 else None)
                low, high = min(low, counts.min()), max(high, counts.max())
            ax.axhline(n_draws / n_bins, color="k", ls="--", lw=0.8, gid="uniform")
            ax.set_title(name, fontsize="medium")
            # the y-range of the band and the counts (not from 0): departures show
            ax.set_ylim(max(0.0, low - 0.15 * (high - low)), high + 0.15 * (high - low))
            ax.set_xlim(edges[0], edges[-1])
            ax.set_ylabel("draws per bin", fontsize="small")
        for ax in _bottom_row(axes):
            ax.set_xlabel("rank of draw (all chains)")

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
            Names longer than 18 characters are wrapped onto several lines.
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
        size = min(2.2 * k + 0.6, 16)
        fig = _new_figure((size, size))
        grid = fig.subplots(k, k, squeeze=False)
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
                ax.tick_params(labelsize="small")
                if i == k - 1:
                    ax.set_xlabel(_wrap(names[j]), fontsize="small")
                else:
                    ax.tick_params(labelbottom=False)
                if j == 0 and i > 0:
                    ax.set_ylabel(_wrap(names[i]), fontsize="small")
        scale = f"; coefficients and sds on the {link_name(self.family)} scale" \
            if self.family != "gaussian" else ""
        fig.suptitle(f"{self.n_chains} chains x {math.ceil(self.n_draws / step)} draws"
                     + (f" (1 in {step} draws)" if step > 1 else "") + scale,
                     fontsize="medium")
        return _finish(fig)

    def plot_density(self, pars=None):
        """Kernel density of each chain's draws, overlaid, one panel per parameter;
        chains that sample the same distribution give nearly the same curve.

        Gaussian kernels with Scott's bandwidth; the densities of sds (>= 0) and
        correlations (in [-1, 1]) are corrected at these bounds by reflection, so
        they do not spill over them.

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
            lower, upper = self._bounds(name)
            lo, hi = draws[:, :, p].min(), draws[:, :, p].max()
            pad = 0.05 * (hi - lo)
            grid = np.linspace(max(lower, lo - pad), min(upper, hi + pad), KDE_POINTS)
            for c in range(self.n_chains):
                label = f"chain {c}" if p == 0 else None
                density = _bounded_kde(draws[c, :, p], grid, lower, upper)
                if density is None:     # a constant chain: a spike at its value
                    ax.axvline(draws[c, 0, p], color=colors[c], lw=1.0, label=label)
                else:
                    ax.plot(grid, density, color=colors[c], lw=1.0, label=label)
            ax.set_title(name, fontsize="medium")
            ax.set_xlabel(self._scale_label(name), fontsize="small")
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
        for ax in _bottom_row(axes):
            ax.set_xlabel(f"lag (draws{', thinned by %d' % self.thin if self.thin > 1 else ''})")
        return _finish(fig, axes[0])

    def _interval_rows(self, term):
        """What `plot_intervals` shows for ``term``: (values (chains, draws, k), row
        labels, title, group term or None, columns of that term shown)."""
        names, cols = self._plot_selection(term)
        owner = {int(c): t for t, index in self.term_index.items() for c in index}
        terms = {owner.get(int(c)) for c in cols}
        if len(terms) != 1 or None in terms:    # not (some) levels of one group term
            title = ", ".join(names) if len(names) <= 4 else f"{len(names)} parameters"
            return self.draws_array[:, :, cols], names, title, None, None
        group_term = terms.pop()
        index = list(self.term_index[group_term])
        shown = [index.index(int(c)) for c in cols]
        levels = self.levels[group_term]
        labels = [str(levels[j]) for j in shown]
        title = group_term if len(shown) == len(index) \
            else f"{group_term}: {len(shown)} of {len(index)} levels"
        return self.draws_array[:, :, cols], labels, title, group_term, shown

    def plot_intervals(self, term, sort=True, show_mean=True, show_sd_band=True, add_fixed=True,
                       point="mean", probs=(0.5, 0.95)):
        """Caterpillar plot: point estimate with inner and outer central intervals per
        group (rstan's ``plot(fit, pars="alpha")``).

        Parameters
        ----------
        term : str or list of str
            A group term (``"1|state"``): one row per level, labelled by the level; a
            pattern selecting some of its levels (``"1|state?1*"``) shows those. Any
            other selection (names, patterns) gives a plain interval plot of those
            parameters, labelled by name, without population mean or sd band. The
            title says what was selected.
        sort : bool
            Order rows by the point estimate (largest at the top); otherwise in level
            order (first at the top), with levels that are numbers or contain numbers in
            natural order ("2" before "12").
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
            The x-axis names the link scale for non-gaussian families.
        """
        if point not in ("mean", "median"):
            raise ValueError(f"point must be 'mean' or 'median', got {point!r}")
        inner, outer = (float(p) for p in probs)
        if not 0 < inner < outer < 1:
            raise ValueError(f"probs must be (inner, outer) with 0 < inner < outer < 1, got {probs!r}")
        values, labels, title, group_term, shown = self._interval_rows(term)
        center, sd, fixed_name, factor = 0.0, None, None, None
        if group_term is not None:
            block = next(b for b in self.blocks if group_term in b.terms)
            coef = block.coef_names[block.terms.index(group_term)]
            if add_fixed and coef in self.fixed_names:
                fixed_name = coef
                beta = self.draws(coef)
                values = values + beta[:, :, None]
                center = float(beta.mean())
            if group_term + "_sigma" in self.names:
                sd = float(self.draws(group_term + "_sigma").mean())
            factor = block.factor
        pooled = values.reshape(-1, values.shape[-1])
        est = pooled.mean(axis=0) if point == "mean" else np.median(pooled, axis=0)
        qs = np.quantile(pooled, [(1 - outer) / 2, (1 - inner) / 2, (1 + inner) / 2,
                                  (1 + outer) / 2], axis=0)
        # rows bottom to top: ascending estimates when sorted, else last level at the bottom
        if sort:
            order = np.argsort(est, kind="stable")
        elif group_term is not None and list(labels) == sorted(labels):   # sorted as text
            order = np.array(_natural_order(labels))[::-1]
        else:
            order = np.arange(len(est))[::-1]
        y = np.arange(len(order))
        fig = _new_figure((6.0, min(40.0, 1.2 + 0.2 * len(order))))
        ax = fig.add_subplot()
        is_term = group_term is not None
        if is_term and show_sd_band and sd is not None:
            ax.axvspan(center - sd, center + sd, color="C1", alpha=0.15, lw=0, gid="sd_band",
                       label=f"mean +- {group_term}_sigma")
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
        what = f"{fixed_name} + {group_term}" if fixed_name else (group_term or "value")
        scale = f", {link_name(self.family)} scale" if self.family != "gaussian" else ""
        ax.set_xlabel(f"{what}: {point}, {100 * inner:g}% and {100 * outer:g}% intervals{scale}")
        if factor is not None:
            ax.set_ylabel(factor)
        ax.set_title(title, fontsize="medium")
        return _finish(fig, ax)
