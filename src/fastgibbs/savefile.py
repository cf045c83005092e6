"""Saved fits: ``fit.save(path)`` and :func:`load`.

File format: one NumPy ``.npz`` archive (a zip file, readable by ``numpy.load`` in
any language with a zip and .npy reader) with three members, written without pickles:

- ``draws.npy``: float64 (chains, draws, n_params), the post-warmup draws;
- ``warmup.npy``: float64 (chains, warmup, n_params);
- ``metadata.npy``: uint8 bytes of a UTF-8 JSON object: ``format`` and
  ``format_version``, ``sha256`` of both arrays and of the fit record, ``versions``
  that wrote it (fastgibbs, numpy, python) and ``fit``, the record: every field of
  the Fit but the arrays, the data and the formulae spec, i.e. the model (formula,
  family, names, group terms and levels, blocks, priors, the fixed-effects design of
  :mod:`fastgibbs.fixed_design`) and the run (seed, thin, timing, backend, workers).

The record's checksum is the SHA-256 of its canonical JSON (sorted keys, no spaces).
Checksums detect corruption and hand edits; they are not signatures. Whatever the
checksums say, :func:`load` checks the record field by field against the structure
written here and raises ValueError for anything else, before building the Fit.

Floats in the JSON are written with ``repr`` and so read back exactly; draws are
bit-identical after a round trip. Format 1 files (development builds of 0.1.0 before
the record had a checksum) are refused: the version is not under any checksum, so
reading them would let an edited file skip the check by claiming version 1. Arrays a
fit cannot produce (no chains, no draws, values that are not finite) are refused too.
The data are not saved; the fixed-effects design keeps a few rows of the fitted
predictors (see :mod:`fastgibbs.fixed_design`).
"""
import dataclasses
import hashlib
import json
import os
from pathlib import Path
import platform
import secrets
import warnings
import zipfile
import zlib

import numpy as np

from . import priors as _priors
from . import structured as _structured
from .fixed_design import check_record, describe, rebuild
from .lme4 import BlockInfo

__all__ = ["load", "write"]

FORMAT_NAME = "fastgibbs.fit"
FORMAT_VERSION = 2          # 2: the record has a checksum and the fixed-effects design
MEMBERS = ("draws", "warmup", "metadata")
ZIP_MAGIC = b"PK\x03\x04"
PRIOR_TYPES = {cls.__name__: cls for cls in (_priors.Normal, _priors.InvGamma,
                                             _priors.HalfCauchy, _priors.InvWishart,
                                             _priors.HuangWand,
                                             _priors.Gamma, _priors.Beta)}
# structured priors (fastgibbs.structured) hold priors (sd, rho, phi): written nested
PRIOR_TYPES.update({cls.__name__: cls for cls in _structured.STRUCTURED})
NEW_FILE_MODE = 0o666       # less the umask, as open() gives


def _version():
    from . import __version__
    return __version__


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def _record_digest(record):
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value):
    """JSON-ready copy of ``value``: tuples -> lists, numpy scalars/arrays -> Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


# ----------------------------------------------------------------------------------
# Codecs: Fit field <-> JSON
# ----------------------------------------------------------------------------------
def _prior_to_json(prior):
    fields = {f.name: _prior_to_json(v) if type(v).__name__ in PRIOR_TYPES else _plain(v)
              for f in dataclasses.fields(prior) if f.init for v in [getattr(prior, f.name)]}
    return {"type": type(prior).__name__, **fields}


def _prior_from_json(entry):
    entry = {k: _prior_from_json(v) if isinstance(v, dict) and "type" in v else v
             for k, v in entry.items()}
    cls = PRIOR_TYPES[entry.pop("type")]
    return cls(**entry)


def _seed_to_json(seed):
    """None, an int or a list of ints as is; a SeedSequence as its entropy, spawn_key
    and pool_size (what re-creates it)."""
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": _plain(seed.entropy), "spawn_key": [int(k) for k in seed.spawn_key],
                "pool_size": int(seed.pool_size)}
    seed = _plain(seed)
    if seed is None or isinstance(seed, int) or (
            isinstance(seed, list) and all(isinstance(s, int) for s in seed)):
        return seed
    return {"repr": repr(seed)}


def _seed_from_json(seed):
    if isinstance(seed, dict) and "entropy" in seed:
        return np.random.SeedSequence(seed["entropy"], spawn_key=tuple(seed["spawn_key"]),
                                      pool_size=seed["pool_size"])
    return seed["repr"] if isinstance(seed, dict) else seed


def _block_from_json(entry):
    return BlockInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})


def _fixed_design_to_json(fit):
    if fit.fixed_design is not None:            # a loaded fit: write back what was read
        return fit.fixed_design
    return describe(fit.fixed_spec, fit.fixed_names, fit.formula)


# Fit fields not written: the arrays (own members), the data, design and formulae spec
# (not portable; the spec is rebuilt from fixed_design), and the summary cache.
NOT_SAVED = {"draws_array", "warmup_array", "fixed_spec", "data", "design", "_summary_cache"}
# (to JSON, from JSON) per Fit field; any other field is written as plain JSON and read
# back as is (tests/test_export.py checks that every field survives a round trip).
CODECS = {
    "names": (list, tuple),
    "fixed_names": (list, tuple),
    "term_index": (lambda ti: {t: _plain(np.asarray(c)) for t, c in ti.items()},
                   lambda ti: {t: np.asarray(c, dtype=np.intp) for t, c in ti.items()}),
    "levels": (_plain, lambda lv: {t: tuple(v) for t, v in lv.items()}),
    "blocks": (lambda bs: [_plain(dataclasses.asdict(b)) for b in bs],
               lambda bs: tuple(_block_from_json(b) for b in bs)),
    "priors": (lambda ps: {k: _prior_to_json(p) for k, p in ps.items()},
               lambda ps: {k: _prior_from_json(p) for k, p in ps.items()}),
    "seed": (_seed_to_json, _seed_from_json),
    "offset_terms": (list, tuple),
}


def _saved_fields():
    from .results import Fit
    return [f.name for f in dataclasses.fields(Fit) if f.init and f.name not in NOT_SAVED]


def _metadata(fit):
    fields = {}
    for name in _saved_fields():
        if name == "fixed_design":
            fields[name] = _fixed_design_to_json(fit)
            continue
        encode = CODECS.get(name, (_plain, None))[0]
        fields[name] = encode(getattr(fit, name))
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {"draws": _digest(fit.draws_array), "warmup": _digest(fit.warmup_array),
                   "fit": _record_digest(fields)},
        "versions": {"fastgibbs": _version(), "numpy": np.__version__,
                     "python": platform.python_version()},
        "fit": fields,
    }


# ----------------------------------------------------------------------------------
# The record's structure (each check raises ValueError naming the field)
# ----------------------------------------------------------------------------------
def _fail(field, what):
    raise ValueError(f"field {field!r} of the fit record {what}")


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value, field, unique=False):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(field, "must be a list of strings")
    if unique and len(set(value)) != len(value):
        _fail(field, "has duplicates")
    return value


def _mapping(value, field, check):
    if not isinstance(value, dict):
        _fail(field, "must be an object")
    for key, item in value.items():
        if not check(item):
            _fail(field, f"has a bad entry {key!r}")
    return value


def _check_seed(seed):
    if seed is None or _is_int(seed) or (isinstance(seed, list) and all(map(_is_int, seed))):
        return
    if isinstance(seed, dict) and set(seed) == {"repr"} and isinstance(seed["repr"], str):
        return
    if isinstance(seed, dict) and set(seed) == {"entropy", "spawn_key", "pool_size"} \
            and (_is_int(seed["entropy"]) or (isinstance(seed["entropy"], list)
                                               and all(map(_is_int, seed["entropy"])))) \
            and isinstance(seed["spawn_key"], list) and all(map(_is_int, seed["spawn_key"])) \
            and _is_int(seed["pool_size"], 1):
        return
    _fail("seed", "is not a seed")


def _check_prior(entry):
    if not isinstance(entry, dict) or entry.get("type") not in PRIOR_TYPES:
        return False
    names = {f.name for f in dataclasses.fields(PRIOR_TYPES[entry["type"]]) if f.init}
    nested = [v for v in entry.values() if isinstance(v, dict)]     # structured priors
    return set(entry) == names | {"type"} and all(_check_prior(v) for v in nested)


def _check_fields(stored, n_params):
    """Check every field of the record ``stored`` (a dict from JSON)."""
    from .results import Fit

    if not isinstance(stored, dict):
        raise ValueError("the fit record must be an object")
    fields = {f.name: f for f in dataclasses.fields(Fit) if f.init and f.name not in NOT_SAVED}
    unknown = sorted(set(stored) - set(fields))
    if unknown:
        raise ValueError(f"the fit record has unknown field(s) {unknown}")
    required = [name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in stored]
    if missing:
        raise ValueError(f"the fit record lacks field(s) {missing}")
    for name in stored:
        if name not in CHECKS:
            raise ValueError(f"no structure known for field {name!r}")
    names = _strings(stored["names"], "names", unique=True)
    if len(names) != n_params:
        _fail("names", f"has {len(names)} names for {n_params} parameters in the draws")
    for name, value in stored.items():
        CHECKS[name](value, stored, n_params)
    _check_consistency(stored)


def _check_consistency(stored):
    """The names the blocks imply are the fit's: group sds, correlations, and one group
    effect per level at the positions term_index gives."""
    names = stored["names"]
    known = set(names)
    blocks = [_block_from_json(b) for b in stored.get("blocks", [])]
    terms = [term for block in blocks for term in block.terms]
    if set(stored["term_index"]) != set(terms) or len(terms) != len(set(terms)):
        _fail("blocks", "do not match the group terms of term_index")
    n_groups = stored.get("n_groups", {})
    for block in blocks:
        if n_groups.get(block.factor, len(block.levels)) != len(block.levels):
            _fail("n_groups", f"does not match the levels of {block.factor!r}")
        needed = [term + "_sigma" for term in block.terms] + list(block.correlation_names)
        if not set(needed) <= known:
            _fail("names", f"lack the parameters of {block.factor!r}")
        for term in block.terms:
            if stored["levels"][term] != list(block.levels) or [
                    names[c] for c in stored["term_index"][term]] != [
                    f"{term}[{level}]" for level in block.levels]:
                _fail("term_index", f"does not point at the effects of {term!r}")
    from .families import FAMILY_NAMES, get_family
    if stored["family"] not in FAMILY_NAMES:
        _fail("family", f"is not one of {FAMILY_NAMES}")
    try:
        family = get_family(stored["family"], **stored.get("family_options", {}))
    except (TypeError, ValueError) as err:
        _fail("family_options", f"do not make a {stored['family']} family: {err}")
    for name in family.dispersion:
        if name not in known:
            _fail("names", f"lack {name!r} of a {stored['family']} model")


def _check_term_index(value, stored, n_params):
    _mapping(value, "term_index",
             lambda cols: isinstance(cols, list)
             and all(_is_int(c) and c < n_params for c in cols))
    levels = stored.get("levels")
    if not isinstance(levels, dict) or set(levels) != set(value) or any(
            not isinstance(levels[t], list) or len(levels[t]) != len(value[t]) for t in value):
        _fail("levels", "does not match term_index")


def _check_blocks(value, stored, n_params):
    keys = {f.name for f in dataclasses.fields(BlockInfo)}
    if not isinstance(value, list):
        _fail("blocks", "must be a list")
    for block in value:
        if not isinstance(block, dict) or set(block) != keys:
            _fail("blocks", "has a malformed block")
        if not isinstance(block["factor"], str):
            _fail("blocks", "has a non-string factor")
        lhs = block["lhs"]
        if not (isinstance(lhs, str) or (isinstance(lhs, list) and lhs
                                         and all(isinstance(s, str) for s in lhs))):
            _fail("blocks", "has a malformed lhs")
        for key in ("variables", "columns", "levels"):
            _strings(block[key], f"blocks {key}")
        if not isinstance(block["correlated"], bool):
            _fail("blocks", "has a non-boolean 'correlated'")
        for column in block["columns"]:
            term = f"{column}|{block['factor']}"
            if len(stored.get("term_index", {}).get(term, ())) != len(block["levels"]):
                _fail("blocks", f"do not match term_index for {term!r}")


CHECKS = {
    "formula": lambda v, s, n: isinstance(v, str) or _fail("formula", "must be a string"),
    "family": lambda v, s, n: isinstance(v, str) or _fail("family", "must be a string"),
    "names": lambda v, s, n: None,                  # checked first, in _check_fields
    "term_index": _check_term_index,
    "levels": lambda v, s, n: _mapping(v, "levels", lambda lv: isinstance(lv, list) and all(
        isinstance(x, str) for x in lv)),
    "fixed_names": lambda v, s, n: set(_strings(v, "fixed_names", unique=True)) <= set(
        s["names"]) or _fail("fixed_names", "are not all parameters"),
    "n_obs": lambda v, s, n: _is_int(v) or _fail("n_obs", "must be a count"),
    "n_groups": lambda v, s, n: _mapping(v, "n_groups", _is_int),
    "priors": lambda v, s, n: _mapping(v, "priors", _check_prior),
    "seed": lambda v, s, n: _check_seed(v),
    "thin": lambda v, s, n: _is_int(v, 1) or _fail("thin", "must be a positive integer"),
    "timing": lambda v, s, n: _mapping(v, "timing", _is_number),
    "backend": lambda v, s, n: isinstance(v, str) or _fail("backend", "must be a string"),
    "n_jobs": lambda v, s, n: _is_int(v, 1) or _fail("n_jobs", "must be a positive integer"),
    "blocks": _check_blocks,
    "n_dropped": lambda v, s, n: _is_int(v) or _fail("n_dropped", "must be a count"),
    "n_cells": lambda v, s, n: v is None or _is_int(v) or _fail("n_cells", "must be a count"),
    "fixed_design": lambda v, s, n: v is None or check_record(v, s["fixed_names"]),
    "sampler": lambda v, s, n: _mapping(v, "sampler", _is_number),
    "offset_terms": lambda v, s, n: _strings(v, "offset_terms"),
    "offset_array": lambda v, s, n: isinstance(v, bool) or _fail("offset_array",
                                                                  "must be true or false"),
    "weights_column": lambda v, s, n: v is None or isinstance(v, str) or _fail(
        "weights_column", "must be a column name or null"),
    "weights_array": lambda v, s, n: isinstance(v, bool) or _fail("weights_array",
                                                                   "must be true or false"),
    "family_options": lambda v, s, n: _check_family_options(v),
    # streamed fits (issue 17): kind, paths, n_files, n_partitions, n_rows, fingerprint
    "data_source": lambda v, s, n: v is None or _mapping(v, "data_source", lambda x: (
        isinstance(x, str) or _is_int(x) or (isinstance(x, list) and all(
            isinstance(p, str) for p in x)))),
    "structures": lambda v, s, n: _mapping(v, "structures", lambda r: isinstance(r, dict)
                                           and r.get("kind") in _structured.KINDS),
}


def _check_family_options(value):
    """{"link": str, "nu": number, "categories": [str, ...], "levels": [str, str]}, each
    optional."""
    checks = {"link": lambda v: isinstance(v, str), "nu": _is_number,
              "categories": lambda v: isinstance(v, list) and len(v) >= 2
              and all(isinstance(c, str) for c in v),
              "levels": lambda v: isinstance(v, list) and len(v) == 2
              and all(isinstance(c, str) for c in v)}
    if not isinstance(value, dict):
        _fail("family_options", "must be an object")
    for key, item in value.items():
        if key not in checks or not checks[key](item):
            _fail("family_options", f"has a bad entry {key!r}")


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------
def _fit_kwargs(stored, draws, warmup):
    """Fit constructor arguments from the checked record and the arrays."""
    kwargs = {"draws_array": draws, "warmup_array": warmup, "fixed_spec": None, "data": None}
    for name in _saved_fields():
        if name in stored:         # fields a file lacks keep their defaults
            decode = CODECS.get(name, (None, None))[1]
            kwargs[name] = stored[name] if decode is None else decode(stored[name])
    record = kwargs.get("fixed_design")
    if isinstance(record, dict) and ("rhs" in record or "bars" in record):
        try:
            kwargs["fixed_spec"] = rebuild(record)
        except ValueError as err:   # the draws are still worth having
            warnings.warn(f"the loaded fit cannot evaluate new data (predict): {err}",
                          RuntimeWarning, stacklevel=4)
    return kwargs


def _read(fh):
    """Fit keyword arguments from an open file; raises on any defect."""
    if fh.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
        raise ValueError("it is not a zip archive (fit.save writes .npz archives)")
    fh.seek(0)
    archive = np.load(fh, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError("not an .npz archive")
    with archive:
        missing = [m for m in MEMBERS if m not in archive.files]
        if missing:
            raise ValueError(f"missing member(s) {', '.join(missing)}")
        meta_bytes = archive["metadata"]
        draws = archive["draws"]
        warmup = archive["warmup"]
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise ValueError("metadata is not a byte array")
    meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"metadata does not describe a {FORMAT_NAME!r} file")
    version = meta.get("format_version")
    if _is_int(version, 1) and version < FORMAT_VERSION:
        raise ValueError(f"format version {version} predates the checksum of the fit "
                         "record, so edits to it cannot be detected; refit the model and "
                         "save it again")
    if not _is_int(version, 1) or version != FORMAT_VERSION:
        raise ValueError(f"format version {version!r} is not one this fastgibbs "
                         f"({_version()}) reads ({FORMAT_VERSION}); upgrade fastgibbs")
    sums = meta.get("sha256")
    if not isinstance(sums, dict):
        raise ValueError("metadata has no checksums")
    for name, array in (("draws", draws), ("warmup", warmup)):
        if _digest(array) != sums.get(name):
            raise ValueError(f"checksum of {name} does not match: the file is corrupted")
    stored = meta.get("fit")
    if _record_digest(stored) != sums.get("fit"):
        raise ValueError("checksum of the fit record does not match: the file was edited "
                         "or is corrupted")
    if draws.dtype != np.float64 or warmup.dtype != np.float64:
        raise ValueError(f"draws must be float64, got {draws.dtype} and {warmup.dtype}")
    if draws.ndim != 3 or warmup.ndim != 3 or draws.shape[2] != warmup.shape[2] \
            or warmup.shape[0] != draws.shape[0]:
        raise ValueError(f"array shapes {draws.shape} and {warmup.shape} do not match")
    if draws.shape[0] < 1 or draws.shape[1] < 1:
        raise ValueError(f"draws has shape {draws.shape}: a fit has at least one chain "
                         "and one draw per chain")
    _check_fields(stored, draws.shape[2])
    _check_finite(draws, warmup, stored["names"])
    return _fit_kwargs(stored, draws, warmup)


def _check_finite(draws, warmup, names):
    """Refuse inf or nan in the arrays: the sampler stops at a draw that is not finite
    (samplers/chain.py), so a fit never keeps one."""
    for field, array in (("draws", draws), ("warmup", warmup)):
        bad = ~np.isfinite(array)
        if bad.any():
            column = int(np.flatnonzero(bad.any(axis=(0, 1)))[0])
            raise ValueError(f"{field} of {names[column]!r}: {int(bad.sum())} value(s) are "
                             "not finite (inf or nan), which no fit keeps (the sampler stops "
                             "at such a draw)")


def load(path):
    """Read a fit written by :meth:`Fit.save`.

    Returns
    -------
    Fit
        With the same draws (bit-identical), names, levels, blocks, priors, seed and
        timing. ``fit.data`` is None, so ``predict`` needs ``newdata``, which it
        evaluates exactly as the original fit did (categorical levels and transforms
        such as ``scale(x)`` included), and ``to_arviz`` has no ``observed_data``.

    Raises
    ------
    OSError
        If ``path`` cannot be opened (``FileNotFoundError`` if it does not exist).
    ValueError
        If the file is not a saved fastgibbs fit, is truncated, corrupted or edited
        (checksums, structure), or was written by a newer format version.
    """
    from .results import Fit

    path = os.fspath(path)
    with open(path, "rb") as fh:     # a missing or unreadable path raises OSError as usual
        try:
            kwargs = _read(fh)
            return Fit(**kwargs)
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile,
                zlib.error, SyntaxError, MemoryError, AttributeError, IndexError,
                RecursionError, OverflowError) as exc:
            raise ValueError(f"{path!r} is not a readable fastgibbs fit file "
                             f"(truncated, corrupted, edited or another format): "
                             f"{exc}") from exc


# ----------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------
def _new_file(directory, prefix):
    """(fd, path) of a new file in ``directory`` with the user's default permissions
    (0o666 less the umask, unlike mkstemp's 0o600)."""
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE), path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {directory!r}")


def write(fit, path):
    """Write ``fit`` to exactly ``path`` (see :meth:`Fit.save`); returns the Path."""
    path = Path(os.fspath(path))
    folder = str(path.parent) if str(path.parent) else "."
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {str(path)!r}: folder {folder!r} does not exist")
    meta = json.dumps(_metadata(fit), ensure_ascii=False).encode("utf-8")
    fd, tmp = _new_file(folder, path.name + ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, draws=fit.draws_array, warmup=fit.warmup_array,
                     metadata=np.frombuffer(meta, dtype=np.uint8))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
