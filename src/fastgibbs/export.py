"""Fits out of fastgibbs: ArviZ ``InferenceData``, tidy pandas draws, and files.

File format (``fit.save(path)`` / :func:`load`): one NumPy ``.npz`` archive (a zip
file, readable by ``numpy.load`` in any language with a zip and .npy reader) with
three members, written without pickles:

- ``draws.npy``: float64 (chains, draws, n_params), the post-warmup draws;
- ``warmup.npy``: float64 (chains, warmup, n_params);
- ``metadata.npy``: uint8 bytes of a UTF-8 JSON object: ``format`` and
  ``format_version``, ``sha256`` of both arrays, ``versions`` that wrote it
  (fastgibbs, numpy, python) and ``fit``, every field of the Fit but the arrays, the
  data and the formulae spec: the model (formula, family, names, group terms and
  levels, blocks, priors) and the run (seed, thin, timing, backend, workers).

Floats in the JSON are written with ``repr`` and so read back exactly; draws are
bit-identical after a round trip. The data and the formulae spec are not saved.
"""
import dataclasses
import hashlib
import json
import os
from pathlib import Path
import platform
import re
import tempfile
import zipfile
import zlib

import numpy as np
import pandas as pd

from . import priors as _priors
from .chains import seed_label
from .lme4 import BlockInfo

__all__ = ["ExportMixin", "load"]

FORMAT_NAME = "fastgibbs.fit"
FORMAT_VERSION = 1
MEMBERS = ("draws", "warmup", "metadata")
PRIOR_TYPES = {cls.__name__: cls for cls in (_priors.Normal, _priors.InvGamma,
                                             _priors.HalfCauchy, _priors.InvWishart)}
ARVIZ_HINT = "pip install fastgibbs[arviz]"


def _import_arviz():
    try:
        import arviz
    except ImportError as exc:
        raise ImportError(f"to_arviz needs ArviZ, an optional dependency: {ARVIZ_HINT}") from exc
    return arviz


def _version():
    from . import __version__
    return __version__


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


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


def _prior_to_json(prior):
    fields = {f.name: _plain(getattr(prior, f.name)) for f in dataclasses.fields(prior)}
    return {"type": type(prior).__name__, **fields}


def _prior_from_json(entry):
    entry = dict(entry)
    cls = PRIOR_TYPES.get(entry.pop("type", None))
    if cls is None:
        raise ValueError(f"unknown prior type in file: {entry!r}")
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


# Fit fields not written: the arrays (own members), the data and formulae spec (not
# portable), and the summary cache.
NOT_SAVED = {"draws_array", "warmup_array", "fixed_spec", "data", "_summary_cache"}
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
}


def _saved_fields():
    from .results import Fit
    return [f.name for f in dataclasses.fields(Fit) if f.init and f.name not in NOT_SAVED]


def _metadata(fit):
    fields = {}
    for name in _saved_fields():
        encode = CODECS.get(name, (_plain, None))[0]
        fields[name] = encode(getattr(fit, name))
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {"draws": _digest(fit.draws_array), "warmup": _digest(fit.warmup_array)},
        "versions": {"fastgibbs": _version(), "numpy": np.__version__,
                     "python": platform.python_version()},
        "fit": fields,
    }


def _fit_kwargs(meta, draws, warmup):
    """Fit constructor arguments from the JSON metadata and the arrays."""
    stored = meta["fit"]
    n_params = len(stored["names"])
    if draws.ndim != 3 or warmup.ndim != 3 or draws.shape[2] != n_params \
            or warmup.shape[2] != n_params or warmup.shape[0] != draws.shape[0]:
        raise ValueError(f"array shapes {draws.shape} and {warmup.shape} do not match "
                         f"{n_params} parameters")
    if draws.dtype != np.float64 or warmup.dtype != np.float64:
        raise ValueError(f"draws must be float64, got {draws.dtype} and {warmup.dtype}")
    kwargs = {"draws_array": draws, "warmup_array": warmup, "fixed_spec": None, "data": None}
    for name in _saved_fields():
        if name in stored:         # fields a file lacks keep their defaults
            decode = CODECS.get(name, (None, None))[1]
            kwargs[name] = stored[name] if decode is None else decode(stored[name])
    return kwargs


def _read(fh):
    """Fit keyword arguments from an open file; raises on any defect."""
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
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"format version {version!r} is not one this fastgibbs "
                         f"({_version()}) reads (<= {FORMAT_VERSION}); upgrade fastgibbs")
    for name, array in (("draws", draws), ("warmup", warmup)):
        if _digest(array) != meta["sha256"][name]:
            raise ValueError(f"checksum of {name} does not match: the file is corrupted")
    return _fit_kwargs(meta, draws, warmup)


def load(path):
    """Read a fit written by :meth:`Fit.save`.

    Returns
    -------
    Fit
        With the same draws (bit-identical), names, levels, blocks, priors, seed and
        timing; ``fit.data`` and ``fit.fixed_spec`` are None, so ``predict`` needs
        ``newdata`` and ``to_arviz`` has no ``observed_data``.

    Raises
    ------
    OSError
        If ``path`` cannot be opened (``FileNotFoundError`` if it does not exist).
    ValueError
        If the file is not a fastgibbs fit, is truncated or corrupted (checksums), or
        was written by a newer format version.
    """
    from .results import Fit

    path = os.fspath(path)
    with open(path, "rb") as fh:     # a missing or unreadable path raises OSError as usual
        try:
            kwargs = _read(fh)
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile,
                zlib.error, SyntaxError, MemoryError, AttributeError, IndexError) as exc:
            raise ValueError(f"{path!r} is not a readable fastgibbs fit file "
                             f"(truncated, corrupted or another format): {exc}") from exc
    return Fit(**kwargs)


class ExportMixin:
    """Methods of :class:`fastgibbs.Fit` that hand the draws to other tools."""

    def save(self, path):
        """Write the fit to exactly ``path`` (no suffix is added) in the format of
        :mod:`fastgibbs.export`; read it back with :func:`fastgibbs.load`.

        The file is written to a temporary file next to ``path`` and renamed, so an
        interrupted save never leaves a half-written file under ``path``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(os.fspath(path))
        meta = json.dumps(_metadata(self), ensure_ascii=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, draws=self.draws_array, warmup=self.warmup_array,
                         metadata=np.frombuffer(meta, dtype=np.uint8))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    def to_dataframe(self, pars=None, warmup=False):
        """Tidy draws: one row per (chain, draw, parameter).

        Parameters
        ----------
        pars : str or list of str, optional
            Names, group terms or glob patterns (default: every parameter).
        warmup : bool
            The warmup draws instead of the post-warmup ones.

        Returns
        -------
        pandas.DataFrame
            Columns ``chain`` and ``draw`` (0-based, as in ArviZ), ``parameter``
            (categorical, in the order of ``fit.names``) and ``value``; rows ordered by
            parameter, chain, draw. Pivot to one column per parameter with
            ``df.pivot(index=["chain", "draw"], columns="parameter", values="value")``.
        """
        source = self.warmup_array if warmup else self.draws_array
        if pars is None:
            cols = np.arange(len(self.names))
        else:
            if isinstance(pars, str):
                pars = [pars]
            cols = np.array(list(dict.fromkeys(
                int(c) for p in pars for c in self._columns(p)[0])), dtype=np.intp)
        n_chains, n_draws = source.shape[:2]
        k = len(cols)
        values = source[:, :, cols].transpose(2, 0, 1).reshape(-1)
        return pd.DataFrame({
            "chain": np.tile(np.repeat(np.arange(n_chains), n_draws), k),
            "draw": np.tile(np.arange(n_draws), n_chains * k),
            "parameter": pd.Categorical.from_codes(np.repeat(np.arange(k), n_chains * n_draws),
                                                   categories=[self.names[c] for c in cols]),
            "value": values,
        })

    def _arviz_layout(self):
        """(scalar columns, {term: dim}, coords) for the InferenceData variables."""
        grouped = {int(c) for cols in self.term_index.values() for c in cols}
        scalars = [i for i in range(len(self.names)) if i not in grouped]
        dims, coords = {}, {}
        for block in self.blocks:
            dim = block.factor
            # a dimension must not clash with a variable or with another set of levels
            while dim in self.names or dim in self.term_index or dim in ("chain", "draw") \
                    or (dim in coords and coords[dim] != list(block.levels)):
                dim += "_level"
            coords[dim] = list(block.levels)
            for term in block.terms:
                dims[term] = dim
        for term in self.term_index:     # terms without a block (not expected)
            if term not in dims:
                dims[term] = term + "_level"
                coords[dims[term]] = list(self.levels[term])
        return scalars, dims, coords

    def _arviz_group(self, array, scalars):
        out = {self.names[i]: np.ascontiguousarray(array[:, :, i]) for i in scalars}
        for term, cols in self.term_index.items():
            out[term] = array[:, :, np.asarray(cols)]
        return out

    def _observed(self):
        """({response name: y as fitted}, {"trials": trials} or None), or (None, None)
        when the data are not at hand."""
        if self.data is None:
            return None, None
        from .design import build_design
        try:
            design = build_design(self.formula, self.data, family=self.family,
                                  na_action="drop" if self.n_dropped else "raise")
        except Exception:       # data changed since fitting: leave observed_data out
            return None, None
        y = np.asarray(design.y, dtype=float)
        if y.shape != (self.n_obs,):
            return None, None
        name, constant = design.response, None
        if self.family == "binomial" and design.trials is not None:
            # "p(successes, trials)": name the variables after the two columns
            match = re.fullmatch(r"\s*p\(\s*(.+?)\s*,\s*(.+?)\s*\)\s*", name)
            successes, trials = match.groups() if match else (name, "trials")
            name = successes
            constant = {trials: np.asarray(design.trials, dtype=float)}
        return {name: y}, constant

    def to_arviz(self):
        """The draws as an ``arviz.InferenceData`` (needs ``pip install fastgibbs[arviz]``).

        Groups:

        - ``posterior`` (and ``warmup_posterior`` when there is warmup): every
          parameter that is not a group effect is its own variable over (chain, draw),
          named as in ``fit.names`` (``"sigma"``, ``"1|state_sigma"``); each group term
          is one variable over (chain, draw, <factor>), e.g. ``"1|state"`` with
          dimension ``"state"`` whose coordinates are the level labels. ArviZ labels
          its rows ``"1|state[AL]"``, as fastgibbs does.
        - ``observed_data``: the response as fitted (rows with missing values dropped),
          over ``obs_id``, when ``fit.data`` is available (not after :func:`load`);
          binomial fits ``p(s, n) ~ ...`` name it ``s`` and add the trials ``n`` as
          ``constant_data``.

        There is no ``sample_stats`` group: a Gibbs sampler has no step size,
        acceptance rate, tree depth or divergences to report.
        """
        az = _import_arviz()
        scalars, dims, coords = self._arviz_layout()
        observed, constant = self._observed()
        attrs = {"inference_library": "fastgibbs", "inference_library_version": _version(),
                 "formula": self.formula, "family": self.family, "thin": int(self.thin),
                 "sampling_time": float(self.timing.get("sampling", np.nan)),
                 "seed": "" if self.seed is None else seed_label(self.seed)}
        kwargs = {}
        if self.n_warmup:
            kwargs.update(warmup_posterior=self._arviz_group(self.warmup_array, scalars),
                          save_warmup=True)
        if observed is not None:
            kwargs["observed_data"] = observed
            dims.update({name: ["obs_id"] for name in observed})
        if constant is not None:
            kwargs["constant_data"] = constant
            dims.update({name: ["obs_id"] for name in constant})
        return az.from_dict(
            posterior=self._arviz_group(self.draws_array, scalars),
            coords=coords, dims={k: v if isinstance(v, list) else [v] for k, v in dims.items()},
            posterior_attrs=dict(attrs), posterior_warmup_attrs=dict(attrs), **kwargs)
