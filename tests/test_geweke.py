"""Geweke (2004, JASA 99(467)) joint-distribution tests of the Gaussian Gibbs kernel.

Two simulators of p(theta, y) must agree:
- marginal-conditional: theta ~ prior, y ~ p(y | theta), independently;
- successive-conditional: alternate y ~ p(y | theta) and one Gibbs sweep theta | y.
Any wrong full conditional (in any block, including the interweaving step and the
half-Cauchy auxiliaries) shifts the successive-conditional moments. Moments are
compared with z-scores whose standard errors use the successive chain's ESS.
A planted bug (the kernel told a different prior from the simulator) must be caught.
"""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import invwishart

from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.priors import HalfCauchy, InvGamma, InvWishart, Normal, resolve_priors
from fastgibbs.samplers.gaussian import gaussian_problem, run_sweeps, with_response

from stats import z_threshold

N_SUCCESSIVE = 40000
N_MARGINAL = 40000


def _design(kind):
    rng = np.random.default_rng(11)
    if kind == "nested":
        g = np.repeat(np.arange(4), 3)
        data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size)})
        formula = "y ~ 1 + x + (1 | g)"
    elif kind == "crossed":
        a = np.repeat(np.arange(3), 4)
        b = np.tile(np.arange(3), 4)[: a.size]
        data = pd.DataFrame({"a": a.astype(str), "b": b.astype(str), "x": rng.normal(size=a.size)})
        formula = "y ~ 1 + x + (1 | a) + (1 | b)"
    elif kind in ("slopes", "corr_slopes"):
        g = np.repeat(np.arange(4), 4)
        data = pd.DataFrame({"g": g.astype(str), "x": rng.normal(size=g.size)})
        formula = "y ~ 1 + x + (1 + x || g)" if kind == "slopes" else "y ~ 1 + x + (1 + x | g)"
    data["y"] = 0.0
    return build_design(formula, data)


def _prior_draw_variance(prior, rng, size=None):
    if isinstance(prior, InvGamma):
        return prior.scale / rng.gamma(prior.shape, size=size)
    return (prior.scale * np.abs(rng.standard_cauchy(size=size))) ** 2


def _simulate_y(design, beta, u, sigma2, rng):
    mu = design.X @ beta
    off = 0
    for block in design.blocks:
        q = block.n_re
        uk = u[off:off + q * block.n_groups].reshape(block.n_groups, q)
        mu = mu + (block.Z * uk[block.group]).sum(axis=1)
        off += q * block.n_groups
    return mu + np.sqrt(sigma2) * rng.standard_normal(design.n_obs)


def _prior_state(design, priors, rng):
    """theta ~ prior: beta, u, flat covariances (re_cov), sigma2."""
    beta = np.array([rng.normal(priors[n].mu, priors[n].sigma) for n in design.fixed_names])
    sigma2 = _prior_draw_variance(priors["sigma"], rng)
    covs, u = [], []
    for block in design.blocks:
        if block.correlated:
            prior = priors[block.covariance_key]
            cov = np.atleast_2d(invwishart.rvs(prior.df, prior.scale, random_state=rng))
        else:
            cov = np.diag([_prior_draw_variance(priors[term], rng) for term in block.terms])
        covs.append(cov.ravel())
        L = np.linalg.cholesky(cov)
        u.append((rng.standard_normal((block.n_groups, block.n_re)) @ L.T).ravel())
    return beta, np.concatenate(u), np.concatenate(covs), sigma2


def _test_functions(design, beta, u, re_cov, sigma2, y):
    """g(theta, y): first and second moments, log variances, correlations and a
    data-parameter cross moment."""
    logvar, corr, off = [], [], 0
    for block in design.blocks:
        q = block.n_re
        cov = re_cov[off:off + q * q].reshape(q, q)
        logvar.extend(np.log(np.diag(cov)))
        if block.correlated:
            corr.append(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
        off += q * q
    logvar = np.array(logvar)
    return np.concatenate([beta, beta ** 2, [np.log(sigma2)], logvar, logvar ** 2, corr,
                           u[:2], u[:2] ** 2, [beta[0] * y.mean()]])


def _marginal(design, priors, rng):
    out = []
    for _ in range(N_MARGINAL):
        beta, u, re_cov, sigma2 = _prior_state(design, priors, rng)
        y = _simulate_y(design, beta, u, sigma2, rng)
        out.append(_test_functions(design, beta, u, re_cov, sigma2, y))
    return np.array(out)


def _successive(design, priors, kernel_priors, rng):
    problem = gaussian_problem(design, kernel_priors, center=False)
    beta, u, re_cov, sigma2 = _prior_state(design, priors, rng)
    tau2 = np.concatenate([np.diag(re_cov[o:o + q * q].reshape(q, q))
                           for o, q in zip(np.cumsum([0, *(problem.n_re ** 2)[:-1]]),
                                           problem.n_re)])
    vc_xi = np.where(problem.vc_kind == 1, problem.vc_b ** 2, 1.0)
    state = {"beta": beta, "u": u, "tau2": tau2, "vc_xi": vc_xi, "re_cov": re_cov,
             "sigma": np.array([sigma2, problem.vc_b[0] ** 2 if len(problem.vc_b) else 1.0])}
    bg = np.random.Generator(np.random.PCG64(rng.integers(2 ** 63))).bit_generator
    rows = []
    for _ in range(N_SUCCESSIVE):
        y = _simulate_y(design, state["beta"], state["u"], state["sigma"][0], rng)
        problem = with_response(problem, design, y)
        run_sweeps(problem, state, bg, 0, 1)
        rows.append(_test_functions(design, state["beta"], state["u"], state["re_cov"],
                                    state["sigma"][0], y))
    return np.array(rows)


def _geweke_z(marginal, successive):
    ess = diagnostics.ess_mean(successive.T[:, None, :].transpose(1, 2, 0))
    se = np.sqrt(successive.var(axis=0) / ess + marginal.var(axis=0) / len(marginal))
    return (successive.mean(axis=0) - marginal.mean(axis=0)) / se


PRIORS = {
    "inv_gamma": lambda d: {"Intercept": Normal(0.5, 1.0), "x": Normal(0, 1),
                            "sigma": InvGamma(3.0, 2.0),
                            **{t: InvGamma(3.0, 2.0) for b in d.blocks for t in b.terms}},
    "inv_wishart": lambda d: {"Intercept": Normal(0.5, 1.0), "x": Normal(0, 1),
                              "sigma": InvGamma(3.0, 2.0),
                              **{b.covariance_key: InvWishart(5.0, [[1.0, 0.3], [0.3, 0.5]])
                                 for b in d.blocks}},
    "half_cauchy": lambda d: {"Intercept": Normal(0.5, 1.0), "x": Normal(0, 1),
                              "sigma": HalfCauchy(1.0),
                              **{t: HalfCauchy(0.7) for b in d.blocks for t in b.terms}},
}


@pytest.mark.statistical
@pytest.mark.parametrize("kind,prior", [("nested", "inv_gamma"), ("crossed", "inv_gamma"),
                                        ("nested", "half_cauchy"), ("slopes", "inv_gamma"),
                                        ("corr_slopes", "inv_wishart")])
def test_geweke_joint_distribution(kind, prior):
    design = _design(kind)
    priors = resolve_priors(design, PRIORS[prior](design))
    rng = np.random.default_rng(2024)
    z = _geweke_z(_marginal(design, priors, rng), _successive(design, priors, priors, rng))
    limit = z_threshold(len(z))
    assert np.all(np.abs(z) < limit), f"Geweke z-scores {np.round(z, 2)} exceed {limit:.2f}"


@pytest.mark.statistical
def test_geweke_catches_a_planted_bug():
    """Power check: the kernel is given sigma ~ InvGamma(3.6, 2) while data are simulated
    from InvGamma(3, 2) (like an off-by-something shape in the variance update)."""
    design = _design("nested")
    priors = resolve_priors(design, PRIORS["inv_gamma"](design))
    wrong = dict(priors, sigma=InvGamma(3.6, 2.0))
    rng = np.random.default_rng(2024)
    z = _geweke_z(_marginal(design, priors, rng), _successive(design, priors, wrong, rng))
    assert np.max(np.abs(z)) > z_threshold(len(z))
