"""Where streamed data come from: Parquet files read with pyarrow in row groups, or the
partitions of a Dask DataFrame.

A source hands chunks (pandas DataFrames of some of the rows and the columns asked
for) to a function and reduces what the function returns, in a fixed order, so the
same data give the same sums bit for bit:

- :class:`ParquetSource`: a path, a glob (``"data/*.parquet"``), a directory (its
  ``*.parquet`` files, recursively) or a list of those; each row group is read in
  batches of at most ``batch_rows`` rows, by ``n_threads`` threads;
- :class:`DaskSource`: a ``dask.dataframe.DataFrame``; the function runs on each
  partition where the partition is computed (a worker of a ``dask.distributed``
  cluster, when a client is active) and only its result travels.

Errors name the file (and row group) or the partition they come from.
"""
from concurrent.futures import ThreadPoolExecutor
import functools
import glob
import hashlib
import os
from pathlib import Path
import uuid

import pandas as pd

from ..columns import dtype_kind

__all__ = ["DataSourceError", "ParquetSource", "DaskSource", "open_source", "is_streamed"]

# rows per batch read from a Parquet row group. The statistics pass holds some
# 4 (p + q_k (p + q_k)) doubles per row of a batch in temporaries (coded columns and
# their products), on each of two reading threads: 2^17 rows take about 100 MB at
# p = 10, q = 1
BATCH_ROWS = 1 << 17
PARQUET_MAGIC = b"PAR1"


class DataSourceError(ValueError):
    """A file or partition that cannot be read as the model needs it."""


def is_streamed(data):
    """Whether ``data`` is streamed (files or a Dask DataFrame) rather than in memory."""
    if isinstance(data, (ParquetSource, DaskSource)):
        return True
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data and all(
            isinstance(d, (str, os.PathLike)) for d in data):
        return True
    return _is_dask_frame(data)


def _is_dask_frame(data):
    module = type(data).__module__ or ""
    if not module.startswith("dask"):
        return False
    import dask.dataframe as dd
    return isinstance(data, dd.DataFrame)


def open_source(data, batch_rows=BATCH_ROWS, n_threads=None):
    """The source of streamed ``data`` (see the module docstring); a source given is
    used as it is (e.g. ``ParquetSource(paths, batch_rows=..., n_threads=1)``)."""
    if isinstance(data, (ParquetSource, DaskSource)):
        return data
    if _is_dask_frame(data):
        return DaskSource(data)
    return ParquetSource(data, batch_rows=batch_rows, n_threads=n_threads)


def column_kind(arrow_type):
    """'number', 'bool', 'text', 'categorical' or the type's name for others, of a
    pyarrow type (integers and floats are both numbers: a column written as int64 in
    one file and double in another is the same column)."""
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return "categorical"
    if t.is_boolean(arrow_type):
        return "bool"
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "number"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or \
            getattr(t, "is_string_view", lambda _: False)(arrow_type):
        return "text"
    if t.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def _dtype_kind(dtype):
    """The kind (as column_kind) of a pandas dtype; 'object' when values decide."""
    kind = dtype_kind(dtype)
    if kind is not None:
        return kind
    return "object" if dtype == object else str(dtype)


# ----------------------------------------------------------------------------------
# Parquet files
# ----------------------------------------------------------------------------------
def _parquet_paths(data):
    """Sorted absolute paths of the Parquet files ``data`` names."""
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    paths = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found = sorted(str(p) for p in Path(text).rglob("*.parquet") if p.is_file())
            if not found:
                raise FileNotFoundError(f"directory {text!r} holds no *.parquet files")
        elif glob.has_magic(text):
            found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise FileNotFoundError(f"no file matches {text!r}")
        elif os.path.isfile(text):
            found = [text]
        else:
            raise FileNotFoundError(f"data file {text!r} does not exist (data may be a "
                                    "pandas or Dask DataFrame, or Parquet files: a path, a "
                                    "glob such as 'data/*.parquet' or a directory)")
        paths += [os.path.abspath(p) for p in found]
    seen = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    if not unique:
        raise FileNotFoundError("no Parquet files given")
    return unique


def _footer(path):
    """(file size, footer bytes) of a Parquet file: its metadata, whose hash stands
    for the file (sizes, row counts, offsets and statistics of every column chunk)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size < 12:
            raise DataSourceError(f"file {path!r} is not a Parquet file (only {size} bytes)")
        fh.seek(size - 8)
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != PARQUET_MAGIC or length > size - 12:
            raise DataSourceError(f"file {path!r} is not a Parquet file, or is truncated "
                                  "(no Parquet footer at its end)")
        fh.seek(size - 8 - length)
        return size, fh.read(length)


class ParquetSource:
    """Parquet files read with pyarrow (see the module docstring).

    ``schema``: {column: kind} of the first file; :meth:`check_columns` compares every
    file's schema for the columns a model uses."""

    kind = "parquet"

    def __init__(self, data, batch_rows=BATCH_ROWS, n_threads=None):
        try:
            import pyarrow.parquet as pq
        except ImportError:                   # pragma: no cover - pyarrow is in the extras
            raise ImportError("reading Parquet files needs pyarrow: pip install pyarrow") from None
        self.paths = _parquet_paths(data)
        self.batch_rows = int(batch_rows)
        self.n_threads = max(1, min(2, os.cpu_count() or 1)) if n_threads is None \
            else int(n_threads)
        self._footers = []
        self.schemas = []
        self.row_groups = []            # rows per row group, per file
        for path in self.paths:
            size, footer = _footer(path)
            try:
                pf = pq.ParquetFile(path)
                schema = pf.schema_arrow
                meta = pf.metadata
            except Exception as err:       # pyarrow raises ArrowInvalid, OSError, ...
                raise DataSourceError(f"file {path!r} is not a readable Parquet file: "
                                      f"{err}") from None
            self._footers.append((size, footer))
            self.schemas.append({f.name: column_kind(f.type) for f in schema})
            self.row_groups.append([meta.row_group(r).num_rows
                                    for r in range(meta.num_row_groups)])
        self.columns = list(self.schemas[0])
        self.n_rows = int(sum(sum(r) for r in self.row_groups))

    @property
    def schema(self):
        return self.schemas[0]

    def check_columns(self, used):
        """Refuse files that lack a used column or hold it with another kind of values,
        naming the file."""
        first = self.schemas[0]
        for path, schema in zip(self.paths, self.schemas):
            for name in used:
                if name not in schema:
                    raise DataSourceError(
                        f"file {path!r} has no column {name!r}, which the model uses"
                        + ("" if path == self.paths[0] else
                           f" (the schema changed: {self.paths[0]!r} has it)"))
                if schema[name] != first.get(name) and "null" not in (schema[name],
                                                                       first.get(name)):
                    raise DataSourceError(
                        f"column {name!r} holds {schema[name]} values in file {path!r} but "
                        f"{first[name]} values in {self.paths[0]!r}: the files' schemas "
                        "differ; write every file with the same column types")

    def null_counts(self, used):
        """{column: (nulls, first file with nulls or None)} from the files' statistics,
        for the used columns whose every row group records its null count; columns
        without such statistics are left out. (A NaN in a float column is not a null:
        the chunks' coding still checks for those.)"""
        import pyarrow.parquet as pq

        counts, unknown = {name: (0, None) for name in used}, set()
        for path in self.paths:
            meta = pq.ParquetFile(path).metadata
            index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
            for name in used:
                i = index.get(name)
                if i is None or name in unknown:
                    unknown.add(name)
                    continue
                total = 0
                for r in range(meta.num_row_groups):
                    stats = meta.row_group(r).column(i).statistics
                    if stats is None or not stats.has_null_count:
                        unknown.add(name)
                        break
                    total += stats.null_count
                if name not in unknown and total:
                    n, first = counts[name]
                    counts[name] = (n + total, first or path)
        return {k: v for k, v in counts.items() if k not in unknown}

    def fingerprint(self):
        """SHA-256 of every file's size and footer, in order."""
        h = hashlib.sha256()
        for size, footer in self._footers:
            h.update(size.to_bytes(8, "little"))
            h.update(hashlib.sha256(footer).digest())
        return h.hexdigest()

    def describe(self):
        return {"kind": "parquet", "paths": list(self.paths), "n_files": len(self.paths),
                "fingerprint": self.fingerprint()}

    def _units(self):
        """(file index, row group) of every row group, in order."""
        return [(f, r) for f, groups in enumerate(self.row_groups) for r in range(len(groups))]

    def _read_unit(self, unit, columns, function, args):
        """``function(frame, label, *args)`` over the batches of one row group, folded
        with the results' ``combine`` in order."""
        import pyarrow.parquet as pq

        f, r = unit
        path = self.paths[f]
        label = f"file {path!r} (row group {r})"
        result = None
        try:
            pf = pq.ParquetFile(path)
            batches = pf.iter_batches(batch_size=self.batch_rows, row_groups=[r],
                                      columns=list(columns), use_threads=self.n_threads == 1)
            start = sum(self.row_groups[f][:r])
            for batch in batches:
                frame = _to_pandas(batch, start)
                start += batch.num_rows
                part = function(frame, label, *args)
                result = part if result is None else result.combine(part)
        except (DataSourceError, ValueError, TypeError, MemoryError):
            raise
        except Exception as err:           # pyarrow: ArrowInvalid, OSError, ...
            raise DataSourceError(f"cannot read {label}: {type(err).__name__}: {err} (a "
                                  "corrupt or truncated file?)") from None
        return result

    def map_reduce(self, function, columns, *args):
        """``function(frame, label, *args)`` on every batch, its results reduced with
        their ``combine`` method in file and row-group order (None for no rows)."""
        units = self._units()
        task = functools.partial(self._read_unit, columns=columns, function=function,
                                 args=args)
        total = None
        if self.n_threads == 1 or len(units) == 1:
            results = map(task, units)
            for part in results:
                if part is not None:
                    total = part if total is None else total.combine(part)
            return total
        with ThreadPoolExecutor(max_workers=self.n_threads) as pool:
            for part in pool.map(task, units):      # in order, whatever finishes first
                if part is not None:
                    total = part if total is None else total.combine(part)
        return total

    def first(self, function, columns, *args):
        """``function(frame, label, *args)`` on the first batch of rows."""
        for unit in self._units():
            if self.row_groups[unit[0]][unit[1]] == 0:
                continue
            import pyarrow.parquet as pq
            path = self.paths[unit[0]]
            label = f"file {path!r} (row group {unit[1]})"
            try:
                batch = next(pq.ParquetFile(path).iter_batches(
                    batch_size=self.batch_rows, row_groups=[unit[1]], columns=list(columns)))
            except Exception as err:
                raise DataSourceError(f"cannot read {label}: {type(err).__name__}: {err} "
                                      "(a corrupt or truncated file?)") from None
            return function(_to_pandas(batch, 0), label, *args)
        raise DataSourceError("the Parquet files hold no rows")


def _to_pandas(batch, start):
    """A pyarrow RecordBatch as a DataFrame indexed by row numbers in its file."""
    frame = batch.to_pandas(split_blocks=True)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


# ----------------------------------------------------------------------------------
# Dask DataFrames
# ----------------------------------------------------------------------------------
def _apply(function, frame, label, args):
    return function(frame, label, *args)


def _reduce(parts):
    total = None
    for part in parts:
        if part is not None:
            total = part if total is None else total.combine(part)
    return total


class DaskSource:
    """The partitions of a Dask DataFrame (see the module docstring).

    The function runs on each partition as a task of the frame's graph, so with a
    ``dask.distributed`` client it runs on the worker that holds (or computes) the
    partition; only the reduced results are sent to this process."""

    kind = "dask"

    def __init__(self, frame):
        self.frame = frame
        self.columns = [c for c in frame.columns]
        self.schema = {c: _dtype_kind(frame.dtypes[c]) for c in self.columns}
        self.n_rows = None              # known after the first pass
        self._token = None

    def check_columns(self, used):
        for name in used:
            if name not in self.schema:
                raise DataSourceError(f"the Dask DataFrame has no column {name!r}, which the "
                                      "model uses")

    def null_counts(self, used):
        return {}

    def fingerprint(self):
        from dask.base import tokenize
        if self._token is None:
            self._token = tokenize(self.frame)
        return self._token

    def describe(self):
        return {"kind": "dask", "n_partitions": int(self.frame.npartitions),
                "fingerprint": self.fingerprint()}

    def _parts(self, columns):
        return self.frame[list(columns)].to_delayed()

    def map_reduce(self, function, columns, *args):
        import dask

        parts = self._parts(columns)
        run = uuid.uuid4().hex[:16]
        mapped = [dask.delayed(_apply, pure=False)(
            function, part, f"partition {i} of the Dask DataFrame", args,
            # a key of its own per call: two passes with other arguments (another
            # model on the same frame) never share a result on a cluster
            dask_key_name=f"fastgibbs-{function.__name__}-{i}-{run}")
            for i, part in enumerate(parts)]
        total = _tree_reduce(mapped)
        return dask.compute(total)[0]

    def first(self, function, columns, *args):
        import dask

        part = self._parts(columns)[0]
        task = dask.delayed(_apply, pure=False)(function, part,
                                                "partition 0 of the Dask DataFrame", args)
        return dask.compute(task)[0]


def _tree_reduce(parts, width=16):
    """Reduce delayed results in groups of ``width``, keeping their order."""
    import dask

    level = list(parts)
    while len(level) > 1:
        level = [dask.delayed(_reduce, pure=False)(level[i:i + width])
                 for i in range(0, len(level), width)]
    return level[0] if level else dask.delayed(lambda: None)()
