"""Data larger than memory: gaussian models fitted from Parquet files or a Dask
DataFrame by streaming their sufficient statistics, bernoulli and binomial models by
streaming their cells (see fastgibbs.streaming.design).

``fg.fit`` and ``fg.Model`` call :func:`stream_design` when ``data`` is a path, a glob,
a directory or a list of Parquet files, or a ``dask.dataframe.DataFrame``."""
from .source import DataSourceError, is_streamed

# the design pass needs formulae (slow to import): loaded on first use, so that
# `import fastgibbs` stays light (tests/test_import.py)
_LAZY = ("StreamedDesign", "stream_design")


def __getattr__(name):
    if name in _LAZY:
        from . import design
        return getattr(design, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DataSourceError", "StreamedDesign", "is_streamed", "stream_design"]
