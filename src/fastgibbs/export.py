"""Fits out of fastgibbs: ArviZ ``InferenceData``, tidy pandas draws, and files
(``fit.save``; the format is in :mod:`fastgibbs.savefile`)."""
import re

import numpy as np
import pandas as pd

from .chains import seed_label

__all__ = ["ExportMixin"]

ARVIZ_HINT = "pip install fastgibbs[arviz]"
# dimensions of the InferenceData that a grouping factor's levels must not take the name of
# (a factor named obs_id, the natural name of an observation-level effect, relabelled the rows)
RESERVED_DIMS = ("chain", "draw", "obs_id", "cell_id")


def _import_arviz():
    try:
        import arviz
    except ImportError as exc:
        raise ImportError(f"to_arviz needs ArviZ, an optional dependency: {ARVIZ_HINT}") from exc
    return arviz


def _version():
    from . import __version__
    return __version__


class ExportMixin:
    """Methods of :class:`fastgibbs.Fit` that hand the draws to other tools."""

    def save(self, path):
        """Write the fit to exactly ``path`` (no suffix is added) in the format of
        :mod:`fastgibbs.savefile`; read it back with :func:`fastgibbs.load`.

        The file is written to a temporary file next to ``path`` (with the user's
        default permissions) and renamed, so an interrupted save never leaves a
        half-written file under ``path``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from .savefile import write
        return write(self, path)

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
            while dim in self.names or dim in self.term_index or dim in RESERVED_DIMS \
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
        """({response name: y as fitted}, {trials name: trials} or None), or (None, None)
        when neither the design nor the data are at hand."""
        design = getattr(self, "design", None)
        if design is None and self.data is not None:
            from .design import build_design
            try:
                design = build_design(self.formula, self.data, family=self.family,
                                      na_action="drop" if self.n_dropped else "raise")
            except Exception:       # data changed since fitting: leave observed_data out
                return None, None
        if design is None:
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

    def to_arviz(self, log_likelihood=None, posterior_predictive=None, pointwise="row",
                 seed=None, warmup=True):
        """The draws as an ``arviz.InferenceData`` (needs ``pip install fastgibbs[arviz]``).

        Groups:

        - ``posterior`` (and ``warmup_posterior`` when there is warmup and ``warmup``):
          every parameter that is not a group effect is its own variable over
          (chain, draw), named as in ``fit.names`` (``"sigma"``, ``"1|state_sigma"``);
          each group term is one variable over (chain, draw, <factor>), e.g.
          ``"1|state"`` with dimension ``"state"`` whose coordinates are the level
          labels. ArviZ labels its rows ``"1|state[AL]"``, as fastgibbs does.
        - ``observed_data``: the response as fitted (rows with missing values dropped),
          over ``obs_id``; binomial fits ``p(s, n) ~ ...`` name it ``s`` and add the
          trials ``n`` as ``constant_data``.
        - ``log_likelihood``: :meth:`log_likelihood` under the response's name, over
          ``obs_id`` (``pointwise="row"``) or ``cell_id`` (``pointwise="cell"``), so
          ``az.loo``, ``az.waic`` and ``az.compare`` work.
        - ``posterior_predictive``: one replicated response per draw (``predict(kind=
          "response", summary=False)`` with ``seed``), over ``obs_id``, for
          ``az.plot_ppc``.

        The last three need the fitted rows, which a fit keeps from ``fg.fit``,
        ``Model.sample`` and ``Model.refit`` (not after :func:`load`; observed_data
        is then rebuilt from ``fit.data`` when present). ``log_likelihood`` and
        ``posterior_predictive``: None (default) adds the group when the rows are
        available, True requires it, False leaves it out. Each is chains x draws x
        rows doubles: 440 MB for 13,757 rows and 4,000 draws.

        There is no ``sample_stats`` group: a Gibbs sampler has no step size,
        acceptance rate, tree depth or divergences to report.
        """
        az = _import_arviz()
        has_rows = getattr(self, "design", None) is not None
        for name, flag in (("log_likelihood", log_likelihood),
                           ("posterior_predictive", posterior_predictive)):
            if flag is not None and not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be None, True or False, got {flag!r}")
            if flag and not has_rows:
                raise ValueError(f"{name}: this fit does not keep the rows it was fitted to "
                                 "(a fit read by fg.load); use fit.log_likelihood(newdata) "
                                 "with the data")
        scalars, dims, coords = self._arviz_layout()
        observed, constant = self._observed()
        attrs = {"inference_library": "fastgibbs", "inference_library_version": _version(),
                 "formula": self.formula, "family": self.family, "thin": int(self.thin),
                 "sampling_time": float(self.timing.get("sampling", np.nan)),
                 "seed": "" if self.seed is None else seed_label(self.seed)}
        kwargs = {}
        if self.n_warmup and warmup:
            kwargs.update(warmup_posterior=self._arviz_group(self.warmup_array, scalars),
                          save_warmup=True)
        if observed is not None:
            kwargs["observed_data"] = observed
            dims.update({name: ["obs_id"] for name in observed})
        if constant is not None:
            kwargs["constant_data"] = constant
            dims.update({name: ["obs_id"] for name in constant})
        response = next(iter(observed)) if observed else "y"
        group_dims = {}
        if has_rows and log_likelihood is not False:
            values = self.log_likelihood(pointwise=pointwise)
            kwargs["log_likelihood"] = {response: values}
            group_dims["log_likelihood"] = {response: ["obs_id" if pointwise == "row"
                                                       else "cell_id"]}
        if has_rows and posterior_predictive is not False:
            y_rep = self.predict(summary=False, seed=seed)
            kwargs["posterior_predictive"] = {
                response: y_rep.reshape(self.n_chains, self.n_draws, -1)}
        base_dims = {k: v if isinstance(v, list) else [v] for k, v in dims.items()}
        if "log_likelihood" in group_dims and pointwise == "cell":
            # the same variable name over another dimension in this group only
            idata = az.from_dict(
                posterior=self._arviz_group(self.draws_array, scalars), coords=coords,
                dims=base_dims, posterior_attrs=dict(attrs),
                posterior_warmup_attrs=dict(attrs),
                **{k: v for k, v in kwargs.items() if k != "log_likelihood"})
            ll = az.from_dict(log_likelihood=kwargs["log_likelihood"],
                              dims=group_dims["log_likelihood"])
            idata.extend(ll)
            return idata
        return az.from_dict(
            posterior=self._arviz_group(self.draws_array, scalars),
            coords=coords, dims=base_dims,
            posterior_attrs=dict(attrs), posterior_warmup_attrs=dict(attrs), **kwargs)
