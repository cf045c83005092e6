"""Plots of structured group terms (fastgibbs.structured): the path of a time effect,
and a map-free check of an areal field (each area's effect against its neighbours').

- ``fit.plot_time_effect("1|year")``: random walks and AR(1): the posterior median of
  each time's effect u_t as a line over the times, with the central 50% and 90%
  intervals (``probs``) as bands, one panel per series of a ``by=`` term.
- ``fit.plot_neighbours("1|area")``: ICAR and BYM2: one point per area with at least
  one neighbour in the fitted field, at (posterior mean of the mean of its
  neighbours' effects, posterior mean of its effect), with its 50% interval as a
  vertical bar and the line y = x. A smooth field puts the points along the line; the
  title gives the correlation of the two means. Islands and areas left out of the
  fit (no data in their component) have no point.

The numbers are the draws' quantiles and means; matplotlib is imported inside, as
in fastgibbs.plots, and figures are made without pyplot.
"""
import numbers

import numpy as np

from .plots import MAX_PANELS, _finish, _new_figure, _panel_figure, _bottom_row, link_name

__all__ = ["StructuredPlotsMixin"]

TIME_KINDS = ("rw1", "rw2", "ar1")
AREAL_KINDS = ("icar", "bym2")
MAX_AREA_LABELS = 60       # label the points of at most this many areas
US_PER_DAY = 86400e6


def _probs(probs):
    try:
        inner, outer = (float(p) for p in probs)
    except (TypeError, ValueError):
        raise TypeError(f"probs must be (inner, outer) probabilities, got {probs!r}") from None
    if not 0 < inner < outer < 1:
        raise ValueError(f"probs must be (inner, outer) with 0 < inner < outer < 1, got "
                         f"{probs!r}")
    return inner, outer


class StructuredPlotsMixin:
    """Methods of :class:`fastgibbs.Fit` that plot structured group terms."""

    def _structured_record(self, term, kinds, what):
        records = getattr(self, "structures", None) or {}
        if not isinstance(term, str):
            raise TypeError(f"term must be a group term label such as '1|year', got {term!r}")
        record = records.get(term)
        if record is None or record["kind"] not in kinds:
            have = [t for t, r in records.items() if r["kind"] in kinds]
            raise ValueError(f"{what} needs a term with a "
                             f"{' or '.join(k.upper() for k in kinds)} prior; {term!r} has "
                             f"none (such terms of this fit: {have or 'none'})")
        return record

    def _scale_suffix(self):
        if self.family in ("gaussian", "t"):
            return ""
        link = (getattr(self, "family_options", None) or {}).get("link") \
            or link_name(self.family)
        return f" ({link} scale)"

    def plot_time_effect(self, term, probs=(0.5, 0.9), series=None):
        """The effect of a random-walk or AR(1) term over time.

        Parameters
        ----------
        term : str
            A group term with a :class:`fastgibbs.RandomWalk` or :class:`fastgibbs.AR1`
            prior (``"1|year"``).
        probs : (float, float)
            Probabilities of the inner and outer central intervals (default 50%, 90%).
        series : str, number or list of them, optional
            For a ``by=`` term: the series (e.g. states) to draw, one panel each, by
            label or by value of the ``by`` column (default: all, at most 100).

        Returns
        -------
        matplotlib.figure.Figure
            x: the time (dates for a datetime column); y: u_t, the deviation of the
            time from the intercept (sums to zero for random walks).
        """
        record = self._structured_record(term, TIME_KINDS, "plot_time_effect")
        inner, outer = _probs(probs)
        labels = list(record["series_labels"])
        level_series = np.asarray(record["series"], dtype=np.intp)
        if series is None:
            chosen = labels
        else:
            from .columns import format_level
            if isinstance(series, (str, numbers.Number)) or not hasattr(series, "__iter__"):
                series = [series]               # one series, named by its label or value
            chosen = [s if isinstance(s, str) else format_level(s) for s in series]
            unknown = [s for s in chosen if s not in labels]
            if unknown or not chosen:
                raise ValueError(f"series {unknown[:5] or chosen} are not series of {term!r} "
                                 f"(its series: {labels[:5]}{'...' if len(labels) > 5 else ''})")
        if len(chosen) > MAX_PANELS:
            raise ValueError(f"{len(chosen)} series make {len(chosen)} panels (at most "
                             f"{MAX_PANELS}); choose some with series=")
        time = np.asarray(record["time"], dtype=float)
        draws = self.draws(term)
        pooled = draws.reshape(-1, draws.shape[-1])
        qs = np.quantile(pooled, [(1 - outer) / 2, (1 - inner) / 2, 0.5, (1 + inner) / 2,
                                  (1 + outer) / 2], axis=0)
        fig, axes = _panel_figure(len(chosen), row_height=2.6 if len(chosen) > 1 else 3.6)
        for p, (ax, label) in enumerate(zip(axes, chosen)):
            own = np.flatnonzero(level_series == labels.index(label))
            own = own[np.argsort(time[own])]
            x = time[own]
            if record["time_kind"] == "datetime":
                x = np.round(x * US_PER_DAY).astype("datetime64[us]")   # past 2262 too
            ax.axhline(0.0, color="0.5", lw=0.8, gid="zero")
            ax.fill_between(x, qs[0, own], qs[4, own], color="C0", alpha=0.2, lw=0,
                            gid="outer_band", label=f"{100 * outer:g}% interval" if p == 0
                            else None)
            ax.fill_between(x, qs[1, own], qs[3, own], color="C0", alpha=0.4, lw=0,
                            gid="inner_band", label=f"{100 * inner:g}% interval" if p == 0
                            else None)
            ax.plot(x, qs[2, own], "-o", color="C0", ms=2.5, lw=1.2, gid="median",
                    label="median" if p == 0 else None)
            ax.set_title(term if not record["by"] else f"{term}, {record['by']} = {label}",
                         fontsize="medium")
            ax.set_ylabel(f"effect{self._scale_suffix()}", fontsize="small")
        for ax in _bottom_row(axes):
            ax.set_xlabel(record["time_column"])
        return _finish(fig, axes[0])

    def plot_neighbours(self, term, labels=None):
        """Each area's effect against the mean of its neighbours' effects (ICAR, BYM2).

        Parameters
        ----------
        term : str
            A group term with a :class:`fastgibbs.ICAR` or :class:`fastgibbs.BYM2`
            prior (``"1|area"``).
        labels : bool, optional
            Write each area's label by its point (default: when at most 60 areas).

        Returns
        -------
        matplotlib.figure.Figure
            x: posterior mean of the neighbours' mean effect; y: posterior mean of the
            area's effect with its 50% interval; the dashed line is y = x.
        """
        self._structured_record(term, AREAL_KINDS, "plot_neighbours")
        prior = (getattr(self, "priors", None) or {}).get(term)
        if prior is None or not hasattr(prior, "neighbours"):
            raise ValueError(f"plot_neighbours: the fit does not keep the adjacency of {term!r}")
        levels = [str(lvl) for lvl in self.levels[term]]
        index = {a: j for j, a in enumerate(levels)}
        neighbours = prior.neighbours()
        areas, nb_index = [], []
        for j, area in enumerate(levels):
            nb = [index[b] for b in neighbours.get(area, ()) if b in index]
            if nb:
                areas.append(j)
                nb_index.append(nb)
        if not areas:
            raise ValueError(f"plot_neighbours: no area of {term!r} has a neighbour in the "
                             "fitted field")
        draws = self.draws(term)
        pooled = draws.reshape(-1, draws.shape[-1])
        nb_mean = np.column_stack([pooled[:, nb].mean(axis=1) for nb in nb_index])
        own = pooled[:, areas]
        x, y = nb_mean.mean(axis=0), own.mean(axis=0)
        lo, hi = np.quantile(own, [0.25, 0.75], axis=0)
        corr = float(np.corrcoef(x, y)[0, 1]) if len(areas) > 1 and np.ptp(x) > 0 \
            and np.ptp(y) > 0 else float("nan")
        fig = _new_figure((5.2, 5.0))
        ax = fig.add_subplot()
        span = [min(x.min(), lo.min()), max(x.max(), hi.max())]
        ax.plot(span, span, "--", color="0.5", lw=0.8, gid="identity", label="y = x")
        ax.vlines(x, lo, hi, color="C0", lw=1.0, alpha=0.6, gid="interval",
                  label="50% interval")
        ax.plot(x, y, "o", color="C0", ms=4, gid="point", label="posterior mean")
        if labels is None:
            labels = len(areas) <= MAX_AREA_LABELS
        if labels:
            for xi, yi, j in zip(x, y, areas):
                ax.annotate(levels[j], (xi, yi), xytext=(3, 2), textcoords="offset points",
                            fontsize="x-small", color="0.25")
        scale = self._scale_suffix()
        ax.set_xlabel(f"mean of the neighbours' effects{scale}")
        ax.set_ylabel(f"area's effect{scale}")
        ax.set_title(f"{term}: {len(areas)} areas with neighbours, corr {corr:.2f}",
                     fontsize="medium")
        return _finish(fig, ax)
