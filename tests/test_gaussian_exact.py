"""With the variances held fixed, (beta, u) | y is Gaussian in closed form (Henderson's
mixed-model equations). The kernel's draws must match its mean and covariance."""
import numpy as np
import pandas as pd
import pytest

from fastgibbs import diagnostics
from fastgibbs.design import build_design
from fastgibbs.priors import HalfCauchy, Normal, resolve_priors
from fastgibbs.samplers.chain import run_chain
from fastgibbs.samplers.problem import build_problem

from stats import assert_z


def _nested_data(rng):
    n_groups, per = 12, 6
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.7, n_groups)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def _crossed_data(rng):
    a = np.repeat(np.arange(5), 8)
    b = np.tile(np.arange(4), 10)
    x = rng.normal(size=a.size)
    y = 2.0 - x + rng.normal(0, 1, 5)[a] + rng.normal(0, 0.5, 4)[b] + rng.normal(size=a.size)
    keep = rng.random(a.size) > 0.15          # unbalanced cells
    return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})[keep]


def _slopes_data(rng):
    g = np.repeat(np.arange(8), 7)
    x = rng.normal(size=g.size)
    y = 1.0 + x + rng.normal(0, 1, 8)[g] + rng.normal(0, 0.5, 8)[g] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def _odd_groups_data(rng):
    """7 groups of unequal sizes (an odd count: the one-factor loops that take groups
    two at a time end on a single one) and two covariates (p = 3)."""
    g = np.repeat(np.arange(7), [3, 5, 4, 6, 2, 5, 7])
    x = rng.normal(size=g.size)
    x2 = rng.normal(size=g.size)
    y = 0.5 + x - 0.5 * x2 + rng.normal(0, 0.8, 7)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "x2": x2, "g": g.astype(str)})


CASES = {
    "nested": ("y ~ 1 + x + (1 | g)", _nested_data),
    "odd_groups": ("y ~ 1 + x + x2 + (1 | g)", _odd_groups_data),
    "crossed": ("y ~ 1 + x + (1 | a) + (1 | b)", _crossed_data),
    "indep_slopes": ("y ~ 1 + x + (1 + x || g)", _slopes_data),
    "corr_slopes": ("y ~ 1 + x + (1 + x | g)", _slopes_data),
}


def _block_covariances(design):
    """Fixed group-effect covariances: 0.6 on the diagonal, correlation -0.5 in
    correlated blocks."""
    out = []
    for block in design.blocks:
        cov = np.eye(block.n_re) * 0.6
        if block.correlated:
            cov[~np.eye(block.n_re, dtype=bool)] = -0.3
        out.append(cov)
    return out


def _exact_posterior(design, priors, sigma2, covs):
    """Mean and covariance of (beta, u) given the variances, by dense algebra on the
    full design [X Z] (independent of the kernel's sufficient-statistic algebra)."""
    n = design.n_obs
    cols, prec_blocks = [design.X], []
    for k, block in enumerate(design.blocks):
        for j in range(block.n_groups):
            member = (block.group == j)
            for c in range(block.n_re):
                cols.append((block.Z[:, c] * member)[:, None])
            prec_blocks.append(np.linalg.inv(covs[k]))
    W = np.hstack(cols)
    p = design.n_fixed
    m0 = np.array([priors[nm].mu for nm in design.fixed_names])
    v0 = np.array([priors[nm].sigma ** 2 for nm in design.fixed_names])
    prior_prec = np.zeros((W.shape[1], W.shape[1]))
    prior_prec[:p, :p] = np.diag(1.0 / v0)
    pos = p
    for block_prec in prec_blocks:
        q = len(block_prec)
        prior_prec[pos:pos + q, pos:pos + q] = block_prec
        pos += q
    C = W.T @ W / sigma2 + prior_prec
    rhs = W.T @ design.y / sigma2
    rhs[:p] += m0 / v0
    cov = np.linalg.inv(C)
    assert W.shape[0] == n
    return cov @ rhs, cov


@pytest.mark.parametrize("case", sorted(CASES))
def test_location_draws_match_exact_gaussian(case, rng):
    formula, make = CASES[case]
    design = build_design(formula, make(rng))
    priors = resolve_priors(design, {"x": Normal(0, 3), "Intercept": Normal(1, 5)})
    problem = build_problem(design, priors, scaling=(0.0, 1.0))
    sigma2 = 0.8
    covs = _block_covariances(design)
    mean, cov = _exact_posterior(design, priors, sigma2, covs)

    n_chains, n_draws = 4, 5000
    # the kernel holds each block's covariance of the effects of Z / z_scale
    kernel_covs = [c * np.outer(z, z) for c, z in zip(covs, problem.transform.z_scale)]
    draws = []
    for seed in np.random.SeedSequence(7).spawn(n_chains):
        state = {"beta": np.zeros(problem.n_fixed), "u": np.zeros(problem.n_u),
                 "tau2": np.concatenate([np.diag(c) for c in kernel_covs]),
                 "vc_xi": np.ones(problem.n_vc), "sigma": np.array([sigma2, 1.0]),
                 "re_cov": np.concatenate([c.ravel() for c in kernel_covs])}
        _, d, _ = run_chain(problem, seed, 100, n_draws, state=state, update_variances=False)
        draws.append(d)
    draws = np.stack(draws)
    p = problem.n_fixed
    location = np.concatenate([draws[:, :, :p], draws[:, :, p + 1 + problem.n_hyper:]], axis=2)

    # means: z-test with MCSE from the bulk ESS of each coordinate
    est = location.mean(axis=(0, 1))
    se = diagnostics.mcse_mean(location)
    assert_z(est, mean, se, f"{case} posterior mean")
    # variances: the sample variance of ESS effective draws has se ~ var * sqrt(2 / ESS)
    # (normal kurtosis); the chain here is exact (one factor) or close to it.
    var_hat = location.reshape(-1, location.shape[2]).var(axis=0)
    ess = diagnostics.ess_sd(location)
    assert_z(var_hat, np.diag(cov), np.diag(cov) * np.sqrt(2.0 / ess), f"{case} posterior var")
    # one cross-covariance: intercept with the first group effect (the pair a poor
    # sampler gets wrong); se from the product's variance over its ESS.
    a, b = location[..., 0], location[..., p]
    prod = (a - mean[0]) * (b - mean[p])
    se_cov = diagnostics.mcse_mean(prod)
    assert_z(prod.mean(), cov[0, p], se_cov, f"{case} cov(Intercept, u_1)")


def test_one_factor_location_draws_are_independent(rng):
    """With one grouping factor the location block is an exact joint draw: successive
    draws of the intercept are uncorrelated."""
    design = build_design(CASES["nested"][0], _nested_data(rng))
    priors = resolve_priors(design, {"sigma": HalfCauchy(1.0)})
    problem = build_problem(design, priors, scaling=(0.0, 1.0))
    state = {"beta": np.zeros(2), "u": np.zeros(problem.n_u), "tau2": np.array([0.5]),
             "vc_xi": np.ones(1), "sigma": np.array([1.0, 1.0]), "re_cov": np.array([0.5])}
    _, d, _ = run_chain(problem, np.random.SeedSequence(3), 0, 20000, state=state,
                        update_variances=False)
    x = d[:, 0] - d[:, 0].mean()
    lag1 = (x[1:] @ x[:-1]) / (x @ x)
    # lag-1 autocorrelation of 20000 iid draws has sd 1/sqrt(20000) = 0.007
    assert abs(lag1) < 4.5 / np.sqrt(len(x))
