"""Draw datasets from a model: parameters from the prior (or given), then y | parameters.

Used by ``Model.simulate`` for simulation studies and simulation-based calibration.
The response comes from the model's family (fastgibbs.families), with the model's
offset and trials.
"""
import numbers
from types import SimpleNamespace

import numpy as np

from .chains import as_seed_sequence, spawn_children
from .priors import Gamma, HalfCauchy, HuangWand, InvGamma, InvWishart

__all__ = ["simulate_datasets", "draw_parameters", "linear_predictor"]


def _draw_sd(prior, rng):
    if isinstance(prior, InvGamma):
        g = rng.gamma(prior.shape)      # underflows to 0 for a vague shape (0.001)
        return float(np.sqrt(prior.scale / g)) if g > 0 else float("inf")
    if isinstance(prior, HalfCauchy):
        return float(prior.scale * abs(rng.standard_cauchy()))
    raise TypeError(f"cannot draw a standard deviation from {prior!r}")


def _draw_invwishart(prior, rng):
    """One InvWishart(df, scale) draw: the inverse of a Wishart(df, scale^-1) draw by
    the Bartlett decomposition (numpy only)."""
    q = prior.scale.shape[0]
    C = np.linalg.cholesky(np.linalg.inv(prior.scale))
    A = np.zeros((q, q))
    for c in range(q):
        A[c, c] = np.sqrt(rng.chisquare(prior.df - c))
        A[c, :c] = rng.standard_normal(c)
    L = C @ A
    return np.linalg.inv(L @ L.T)


def _draw_huang_wand(prior, rng):
    """One draw of the matrix half-t prior (Huang & Wand 2013, eq. 2): a_c ~
    InvGamma(1/2, 1/A_c^2), then InvWishart(nu + q - 1, 2 nu diag(1/a_c))."""
    q = prior.scale.shape[0]
    # 1/a_c ~ Gamma(1/2) A_c^2; no InvWishart object, whose checks a rare extreme a_c
    # would fail
    psi = np.diag(2.0 * prior.nu * prior.scale ** 2 * rng.gamma(0.5, size=q))
    return _draw_invwishart(SimpleNamespace(df=prior.nu + q - 1.0, scale=psi), rng)


def _block_covariance(model, block, params, rng):
    """Sigma_k for one block: the sds (and correlations) given in ``params``, the others
    from the prior. The sds of a block of independent terms are drawn one by one; a
    correlated block's covariance is one draw, so its values are given all or none."""
    terms = block.terms
    sd_names = [t + "_sigma" for t in terms]
    if not block.correlated:
        return np.diag([float(params[n]) ** 2 if n in params
                        else _draw_sd(model.priors[t], rng) ** 2 for t, n in zip(terms, sd_names)])
    names = sd_names + list(block.correlation_names)
    given = [n for n in names if n in params]
    if not given:
        prior = model.priors[block.covariance_key]
        if isinstance(prior, HuangWand):
            return np.atleast_2d(_draw_huang_wand(prior, rng))
        assert isinstance(prior, InvWishart)
        return np.atleast_2d(_draw_invwishart(prior, rng))
    if len(given) != len(names):
        raise ValueError(f"params gives {given} but not every sd and correlation of the "
                         f"correlated term {block.covariance_key!r}: give all of {names} or "
                         "none (its covariance matrix is drawn from its prior as a whole)")
    sds = np.array([params[n] for n in sd_names], dtype=float)
    corr = np.eye(len(terms))
    k = 0
    for c in range(len(terms)):
        for c2 in range(c + 1, len(terms)):
            corr[c, c2] = corr[c2, c] = params[block.correlation_names[k]]
            k += 1
    if np.linalg.eigvalsh(corr)[0] <= 0:
        raise ValueError(f"params' correlations of {block.covariance_key!r} do not form a "
                         f"correlation matrix (it must be positive definite): "
                         f"{corr.round(6).tolist()}")
    return corr * np.outer(sds, sds)


def draw_parameters(model, rng, params=None):
    """One parameter set as {name: value} for every parameter of ``model``: values in
    ``params`` are kept, the rest drawn from the prior (group effects from
    N(0, Sigma_k) given the block's covariance)."""
    params = dict(params or {})
    structured = _draw_structured(model, params, rng)       # fastgibbs.structured terms
    out = {}
    for name in model.design.fixed_names:
        prior = model.priors[name]
        out[name] = float(params[name]) if name in params else float(rng.normal(prior.mu, prior.sigma))
    ordered = getattr(model.family, "draw_thresholds", None)      # cumulative
    if ordered is not None:
        out.update(ordered(model.priors, rng, params))
    for name in model.family.dispersion if ordered is None else ():
        if name in params:
            out[name] = float(params[name])
            continue
        prior = model.priors[name]
        out[name] = float(rng.gamma(prior.shape, 1.0 / prior.rate)) if isinstance(prior, Gamma) \
            else _draw_sd(prior, rng)
    for block in model.design.blocks:
        if any(t in structured for t in block.terms):     # its own block (gmrf)
            out.update(structured[block.terms[0]])
            continue
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


def _draw_structured(model, params, rng):
    """{term: {name: value}} of each structured term: its sd (and rho or phi) from
    ``params`` or the prior, and its effects from ``params`` (all of them) or drawn from
    the field's prior given those (fastgibbs.gmrf.draw_field)."""
    from .gmrf import draw_field, draw_rho
    out = {}
    for term, structure in (getattr(model.design, "structures", None) or {}).items():
        prior = model.priors[term]
        values = {}
        sd_name = f"{term}_sigma"
        values[sd_name] = float(params[sd_name]) if sd_name in params \
            else _draw_sd(prior.sd, rng)
        par = None
        if structure.kind in ("ar1", "bym2"):
            name = f"{term}_{'rho' if structure.kind == 'ar1' else 'phi'}"
            if name in params:
                par = float(params[name])
            elif structure.kind == "ar1":
                par = draw_rho(prior, structure.whole_steps, rng)
            else:
                par = float(rng.beta(prior.phi.a, prior.phi.b))
            values[name] = par
        block = next(b for b in model.design.blocks if term in b.terms)
        names = [f"{term}[{lvl}]" for lvl in block.levels]
        given = [n for n in names if n in params]
        if given and len(given) != len(names):
            raise ValueError(f"params gives {len(given)} of the {len(names)} effects of the "
                             f"structured term {term!r}: give all of them or none (they are "
                             "one field, drawn jointly)")
        u = [params[n] for n in names] if given else draw_field(structure, values[sd_name],
                                                                 par, rng)
        values.update({n: float(v) for n, v in zip(names, u)})
        out[term] = values
    return out


def linear_predictor(design, values):
    """eta (n_obs,) of ``design`` at the parameter values (a dict by name), with the
    offset."""
    eta = design.X @ np.array([values[n] for n in design.fixed_names]) if design.n_fixed \
        else np.zeros(design.n_obs)
    for block in design.blocks:
        u = np.array([[values[f"{t}[{lvl}]"] for t in block.terms] for lvl in block.levels])
        eta = eta + (block.Z * u[block.group]).sum(axis=1)
    return eta + design.offset


def simulate_response(model, values, rng):
    """y | parameters for the model's design."""
    design = model.design
    eta = linear_predictor(design, values)
    params = {name: values[name] for name in model.family.dispersion}
    return model.family.simulate(eta, params, rng, trials=design.trials)


def _check_params(model, params):
    unknown = sorted(set(params) - set(model.names))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown[:5]} in params")
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not np.isfinite(value):
            raise ValueError(f"params[{name!r}] must be a finite number, got {value!r}")
        if (name.endswith("_sigma") or name in model.family.dispersion) and value <= 0 \
                and not name.startswith("threshold["):
            raise ValueError(f"params[{name!r}] must be positive, got {value!r}")
        if name.endswith("_phi") and not 0.0 < value < 1.0:          # BYM2
            raise ValueError(f"params[{name!r}] must be in (0, 1), got {value!r}")
        if name.endswith("_rho") and not -1.0 < value < 1.0:          # AR1
            raise ValueError(f"params[{name!r}] must be in (-1, 1), got {value!r}")
        if name.endswith("_corr") and not -1.0 < value < 1.0:
            raise ValueError(f"params[{name!r}] must be a correlation in (-1, 1), got {value!r}")


def _check_finite_draws(model, values):
    """A prior too vague to draw from (InvGamma(0.001, 0.001) gives sd = inf in floating
    point) makes a meaningless dataset: say so, naming the parameter and its prior."""
    for name, value in values.items():
        if not np.isfinite(value):
            prior_key = name[:-len("_sigma")] if name.endswith("_sigma") else name
            prior = model.priors.get(prior_key) if hasattr(model.priors, "get") else None
            raise ValueError(
                f"drawing {name!r} from its prior {prior!r} gave {value!r}: the prior is too "
                f"diffuse to simulate datasets from; pass params={{{name!r}: ...}} (or a "
                f"proper prior)")


def simulate_datasets(model, params=None, n=1, seed=None):
    """``n`` datasets ``{"y", "params"}``; dataset i uses SeedSequence(seed).spawn(n)[i]."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if params is not None and not isinstance(params, dict):
        raise TypeError("params must be a dict of parameter values by name")
    if params:
        _check_params(model, params)
    out = []
    for child in spawn_children(as_seed_sequence(seed), n):    # seed itself is not changed
        rng = np.random.default_rng(child)
        values = draw_parameters(model, rng, params)
        _check_finite_draws(model, values)
        y = simulate_response(model, values, rng)
        if not np.all(np.isfinite(y)):
            raise ValueError("a simulated response is not finite: the parameters drawn from "
                             "the prior are too large; pass params= with values, or use "
                             "proper priors")
        out.append({"y": y, "params": values})
    return out
