"""Draw datasets from a model: parameters from the prior (or given), then y | parameters.

Used by ``Model.simulate`` for simulation studies and simulation-based calibration.
"""
import numpy as np

from .priors import HalfCauchy, InvGamma, InvWishart

__all__ = ["simulate_datasets", "draw_parameters"]


def _draw_sd(prior, rng):
    if isinstance(prior, InvGamma):
        return float(np.sqrt(prior.scale / rng.gamma(prior.shape)))
    if isinstance(prior, HalfCauchy):
        return float(prior.scale * abs(rng.standard_cauchy()))
    raise TypeError(f"cannot draw a standard deviation from {prior!r}")


def _block_covariance(model, block, params, rng):
    """Sigma_k for one block, from ``params`` if given there, else from the prior."""
    terms = block.terms
    sd_names = [t + "_sigma" for t in terms]
    corr_names = list(block.correlation_names)
    if all(n in params for n in sd_names + corr_names):
        sds = np.array([params[n] for n in sd_names])
        corr = np.eye(len(terms))
        k = 0
        for c in range(len(terms)):
            for c2 in range(c + 1, len(terms)):
                corr[c, c2] = corr[c2, c] = params[corr_names[k]]
                k += 1
        return corr * np.outer(sds, sds)
    if block.correlated:
        prior = model.priors[block.covariance_key]
        assert isinstance(prior, InvWishart)
        from scipy.stats import invwishart  # slow to import: loaded on first use

        return np.atleast_2d(invwishart.rvs(prior.df, prior.scale, random_state=rng))
    return np.diag([_draw_sd(model.priors[t], rng) ** 2 for t in terms])


def draw_parameters(model, rng, params=None):
    """One parameter set as {name: value} for every parameter of ``model``: values in
    ``params`` are kept, the rest drawn from the prior (group effects from
    N(0, Sigma_k) given the block's covariance)."""
    params = dict(params or {})
    out = {}
    for name in model.design.fixed_names:
        prior = model.priors[name]
        out[name] = float(params[name]) if name in params else float(rng.normal(prior.mu, prior.sigma))
    if model.family == "gaussian":
        out["sigma"] = float(params["sigma"]) if "sigma" in params \
            else _draw_sd(model.priors["sigma"], rng)
    for block in model.design.blocks:
        cov = _block_covariance(model, block, params, rng)
        sds = np.sqrt(np.diag(cov))
        for term, sd in zip(block.terms, sds):
            out[term + "_sigma"] = float(sd)
        if block.correlated:
            k = 0
            for c in range(block.n_re):
                for c2 in range(c + 1, block.n_re):
                    out[block.correlation_names[k]] = float(cov[c, c2] / (sds[c] * sds[c2]))
                    k += 1
        L = np.linalg.cholesky(cov + 1e-300 * np.eye(block.n_re))
        u = rng.standard_normal((block.n_groups, block.n_re)) @ L.T
        for j, level in enumerate(block.levels):
            for c, term in enumerate(block.terms):
                name = f"{term}[{level}]"
                out[name] = float(params[name]) if name in params else float(u[j, c])
    return out


def simulate_response(model, values, rng):
    """y | parameters for the model's design."""
    design = model.design
    eta = design.X @ np.array([values[n] for n in design.fixed_names]) if design.n_fixed \
        else np.zeros(design.n_obs)
    for block in design.blocks:
        u = np.array([[values[f"{t}[{lvl}]"] for t in block.terms] for lvl in block.levels])
        eta = eta + (block.Z * u[block.group]).sum(axis=1)
    if model.family == "gaussian":
        return eta + values["sigma"] * rng.standard_normal(design.n_obs)
    prob = 1.0 / (1.0 + np.exp(-np.clip(eta, -700, 700)))
    return rng.binomial(design.trials.astype(np.int64), prob).astype(float)


def simulate_datasets(model, params=None, n=1, seed=None):
    """``n`` datasets ``{"y", "params"}``; dataset i uses SeedSequence(seed).spawn(n)[i]."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if params is not None and not isinstance(params, dict):
        raise TypeError("params must be a dict of parameter values by name")
    if params:
        unknown = sorted(set(params) - set(model.names))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown[:5]} in params")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = []
    for child in root.spawn(n):
        rng = np.random.default_rng(child)
        values = draw_parameters(model, rng, params)
        out.append({"y": simulate_response(model, values, rng), "params": values})
    return out
