"""Data larger than memory: gaussian models fitted from Parquet files or a Dask
DataFrame by streaming their sufficient statistics, bernoulli and binomial models by
streaming their cells (see fastgibbs.streaming.design).

``fg.fit`` and ``fg.Model`` call :func:`stream_design` when ``data`` is a path, a glob,
a directory or a list of Parquet files, or a ``dask.dataframe.DataFrame``."""
from .design import StreamedDesign, stream_design
from .source import DataSourceError, is_streamed

__all__ = ["DataSourceError", "StreamedDesign", "is_streamed", "stream_design"]
