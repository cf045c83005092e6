"""Figures outside pyplot, for the plots of a fit.

A figure made through ``matplotlib.pyplot`` stays registered (and open) until it is
closed, so a session that draws many plots piles them up (pyplot warns after 20), and
in a notebook pyplot shows each one a second time at the end of the cell. These
figures are plain ``matplotlib.figure.Figure`` objects with an Agg canvas: nothing to
close, ``fig.savefig(path)`` writes them, and Jupyter displays a figure returned by a
cell through ``_repr_png_`` (the approach of seaborn's objects interface), whether or
not pyplot's inline backend is loaded.

Imported inside the plotting functions, so that importing fastgibbs does not load
matplotlib.
"""
from contextlib import contextmanager
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FitFigure", "new_figure", "tight_layout"]


class FitFigure(Figure):
    """A ``matplotlib.figure.Figure`` that Jupyter shows as a PNG."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(figsize):
    """An empty :class:`FitFigure` of ``figsize`` (inches) with an Agg canvas.

    No layout engine: callers lay the figure out once with `tight_layout` when it is
    complete (a constrained layout is recomputed at every draw, which made saving a
    trace plot 40% slower)."""
    figure = FitFigure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def tight_layout(figure, legend_ax=None):
    """Lay out ``figure`` once, leaving room at the top for its suptitle and for the
    legend of ``legend_ax`` (drawn above the panels when it has several entries)."""
    top = 1.0
    if legend_ax is not None:
        handles, labels = legend_ax.get_legend_handles_labels()
        if len(handles) > 1:
            figure.legend(handles, labels, loc="upper center", ncol=min(len(handles), 6),
                          fontsize="small", frameon=False)
            top -= 0.35 / figure.get_figheight()
    with _measured_once(figure.axes):
        figure.tight_layout(rect=(0, 0, 1, top))
    # tight_layout leaves a placeholder layout engine, and savefig runs a layout pass
    # (drawing every text) before drawing whenever an engine is set
    figure.set_layout_engine(None)
    return figure


@contextmanager
def _measured_once(axes):
    """Let each of ``axes`` measure its extent (``get_tightbbox``) once per renderer.

    Given a rect, matplotlib's tight_layout runs two passes over the same, unmoved axes,
    and each measures every axes and its tick labels again; the second pass gets the
    first's boxes (a fifth less time to make a trace or intervals plot)."""
    for ax in axes:
        ax.get_tightbbox = _once(ax.get_tightbbox)
    try:
        yield
    finally:
        for ax in axes:
            del ax.get_tightbbox        # the class's method again


def _once(measure):
    boxes = {}

    def measure_once(renderer=None, **kwargs):
        if set(kwargs) - {"for_layout_only"}:     # not a layout pass's call
            return measure(renderer, **kwargs)
        key = (renderer, kwargs.get("for_layout_only", False))
        if key not in boxes:
            boxes[key] = measure(renderer, **kwargs)
        return boxes[key]
    return measure_once
