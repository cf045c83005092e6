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
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FitFigure", "new_figure"]


class FitFigure(Figure):
    """A ``matplotlib.figure.Figure`` that Jupyter shows as a PNG."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(figsize, layout="constrained"):
    """An empty :class:`FitFigure` of ``figsize`` (inches) with an Agg canvas."""
    figure = FitFigure(figsize=figsize, layout=layout)
    FigureCanvasAgg(figure)
    return figure
