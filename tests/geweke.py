"""Geweke (2004, JASA 99(467)) joint-distribution tests of the kernel, for any family.

Two simulators of p(theta, y) must agree:
- marginal-conditional: theta ~ prior, y ~ p(y | theta), independently;
- successive-conditional: alternate y ~ p(y | theta) and one Gibbs sweep theta | y.
The prior draws (``prior_rows``, NumPy and scipy.stats, vectorised) and the
response simulator (the family's ``simulate``) are written independently of the
kernel; any wrong full conditional (any block, the interweaving step, the
auxiliaries, the family's augmentation, a Metropolis-Hastings correction) shifts the
successive-conditional moments. Moments are compared by z-scores whose standard
errors use the successive chain's ESS, with a Bonferroni threshold over the moments.
"""
import dataclasses
import os

import numpy as np
from scipy import stats as sps

from fastgibbs import _core, diagnostics
from fastgibbs._kinds import Family as Kind
from fastgibbs.priors import Gamma, HalfCauchy, HuangWand, InvGamma, resolve_priors
from fastgibbs.samplers.problem import build_problem, parameter_layout

from stats import z_threshold

# FASTGIBBS_MATRIX_QUICK=1 (the bounds-checked CI tier) runs shorter chains: the
# z-tests stay valid (their standard errors follow the length), only power drops.
QUICK = os.environ.get("FASTGIBBS_MATRIX_QUICK") == "1"
N_ITER = 3000 if QUICK else 10000
BURN = 200
MAX_COUNT = 3000         # Poisson mixtures are tabulated for counts up to this


def _draw_sd(prior, rng, n):
    if isinstance(prior, InvGamma):
        return np.sqrt(prior.scale / rng.gamma(prior.shape, size=n))
    if isinstance(prior, HalfCauchy):
        return prior.scale * np.abs(rng.standard_cauchy(n))
    raise TypeError(prior)


class Geweke:
    """Both simulators for one design: ``priors`` simulate the data, ``kernel_priors``
    (default the same) are what the kernel is told (a planted bug when they differ).

    ``interweave`` and ``collapse`` (attributes, default True) switch the sweep's
    non-centred (interweaving) moves and collapsed sd step on or off in the successive
    chain: each move leaves the joint distribution invariant on its own, so the test
    holds for every setting, and with both off it checks the centred steps alone (a
    wrong centred step can hide behind the moves that follow it in the full sweep)."""

    interweave = True
    collapse = True

    def __init__(self, design, priors, kernel_priors=None):
        self.design = design
        self.priors = resolve_priors(design, priors)
        kernel_priors = self.priors if kernel_priors is None \
            else resolve_priors(design, kernel_priors)
        names, term_index = parameter_layout(design)
        self.names = names
        self.col = {n: i for i, n in enumerate(names)}
        self.problem = build_problem(design, kernel_priors, scaling=(0.0, 1.0))
        self.kind = design.family.kind
        if self.kind == Kind.FAMILY_POISSON:
            from fastgibbs.families.poisson import mixture_tables
            tables, _ = mixture_tables(np.arange(MAX_COUNT + 1.0))
            self.problem = dataclasses.replace(self.problem, mixtures=tables)
        if self.kind in (Kind.FAMILY_NEGBINOMIAL, Kind.FAMILY_STUDENT_T,
                         Kind.FAMILY_CUMULATIVE):
            # cells must be the rows whatever y is: every row has its own covariates
            # (Student-t, cumulative: its own y)
            assert self.problem.n_cells == design.n_obs
        self.dispersion = list(design.family.dispersion)
        # eta = A @ row (+ offset): the linear predictor as a matrix on a draw row
        width = len(names)
        A = np.zeros((design.n_obs, width))
        p = design.n_fixed
        A[:, :p] = design.X
        for block in design.blocks:
            for c, term in enumerate(block.terms):
                cols = np.asarray(term_index[term])[block.group]
                A[np.arange(design.n_obs), cols] += block.Z[:, c]
        self.A = A
        self.sd_cols = np.array([i for i, n in enumerate(names) if n.endswith("_sigma")], dtype=int)
        self.corr_cols = np.array([i for i, n in enumerate(names) if n.endswith("_corr")], dtype=int)
        self.disp_cols = np.array([self.col[n] for n in self.dispersion], dtype=int)
        self.u_cols = np.array([i for i, n in enumerate(names) if "[" in n][:2], dtype=int)

    # ---- test functions -----------------------------------------------------------
    def g(self, rows, ybar):
        """Moments of (theta, y) for rows (n, width) and mean(y) (n,): beta and beta^2,
        log dispersion, log sds and their squares, correlations, two group effects and
        their squares, m and beta_0 * m with m = mean(y) (log(1 + mean(y)) for counts)."""
        p = self.design.n_fixed
        beta = rows[:, :p]
        if self.design.family.link == "log":       # counts: mean(y) is too heavy-tailed
            ybar = np.log1p(ybar)
        logsd = np.log(rows[:, self.sd_cols])
        u = rows[:, self.u_cols]
        disp = rows[:, self.disp_cols]
        if self.kind == Kind.FAMILY_CUMULATIVE:       # thresholds: any sign
            disp = np.column_stack([disp, disp ** 2])
        else:
            disp = np.log(disp)
        return np.column_stack([beta, beta ** 2, disp, logsd,
                                logsd ** 2, rows[:, self.corr_cols], u, u ** 2, ybar,
                                beta[:, :1] * ybar[:, None]])

    def simulate_y(self, rows, rng):
        """y (n, n_obs) for parameter rows (n, width)."""
        eta = rows @ self.A.T + self.design.offset
        params = {n: rows[:, self.col[n]][:, None] for n in self.dispersion}
        return self.design.family.simulate(eta, params, rng, trials=self.design.trials)

    def prior_rows(self, n, rng):
        """n independent draws of theta from the prior, as draw rows (n, width)."""
        d, pri = self.design, self.priors
        rows = np.zeros((n, len(self.names)))
        for m, name in enumerate(d.fixed_names):
            rows[:, m] = rng.normal(pri[name].mu, pri[name].sigma, n)
        if self.kind == Kind.FAMILY_CUMULATIVE:
            # iid N(mu, s^2) thresholds restricted to the ordered ones: sorted iid draws
            prior = pri["threshold"]
            draws = np.sort(rng.normal(prior.mu, prior.sigma, (n, len(self.dispersion))), axis=1)
            rows[:, self.disp_cols] = draws
        for name in self.dispersion if self.kind != Kind.FAMILY_CUMULATIVE else ():
            prior = pri[name]
            rows[:, self.col[name]] = rng.gamma(prior.shape, 1.0 / prior.rate, n) \
                if isinstance(prior, Gamma) else _draw_sd(prior, rng, n)
        for block in d.blocks:
            q = block.n_re
            if block.correlated and isinstance(pri[block.covariance_key], HuangWand):
                # Huang & Wand (2013) eq. 2: a_c ~ InvGamma(1/2, 1/A_c^2), then
                # Sigma | a ~ InvWishart(nu + q - 1, 2 nu diag(1/a))
                prior = pri[block.covariance_key]
                a = sps.invgamma.rvs(0.5, scale=1.0 / prior.scale ** 2, size=(n, q),
                                     random_state=rng)
                cov = np.array([sps.invwishart.rvs(prior.nu + q - 1, np.diag(2 * prior.nu / ai),
                                                   random_state=rng) for ai in a])
                cov = cov.reshape(n, q, q)
            elif block.correlated:
                prior = pri[block.covariance_key]
                cov = sps.invwishart.rvs(prior.df, prior.scale, size=n, random_state=rng)
                cov = cov.reshape(n, q, q)
            else:
                cov = np.zeros((n, q, q))
                for c, term in enumerate(block.terms):
                    cov[:, c, c] = _draw_sd(pri[term], rng, n) ** 2
            sds = np.sqrt(np.einsum("nii->ni", cov))
            for c, term in enumerate(block.terms):
                rows[:, self.col[term + "_sigma"]] = sds[:, c]
            for k, name in enumerate(block.correlation_names):
                c, c2 = [(a, b) for a in range(q) for b in range(a + 1, q)][k]
                rows[:, self.col[name]] = cov[:, c, c2] / (sds[:, c] * sds[:, c2])
            L = np.linalg.cholesky(cov)
            u = np.einsum("nab,njb->nja", L, rng.standard_normal((n, block.n_groups, q)))
            for j, level in enumerate(block.levels):
                for c, term in enumerate(block.terms):
                    rows[:, self.col[f"{term}[{level}]"]] = u[:, j, c]
        return rows

    # ---- the two simulators -------------------------------------------------------
    def marginal(self, n, rng):
        rows = self.prior_rows(n, rng)
        y = self.simulate_y(rows, rng)
        return self.g(rows, y.mean(axis=1))

    def _state(self, row):
        """Kernel state (internal scale) from a user-scale row."""
        p, d = self.problem, self.design
        beta = row[:d.n_fixed]
        tau2, covs, u = [], [], []
        for block, zs in zip(d.blocks, p.transform.z_scale):
            f = p.transform.y_scale / zs           # user = kernel * f, per column
            sds = np.array([row[self.col[t + "_sigma"]] for t in block.terms]) / f
            corr = np.eye(block.n_re)
            for k, name in enumerate(block.correlation_names):
                c, c2 = [(a, b) for a in range(block.n_re) for b in range(a + 1, block.n_re)][k]
                corr[c, c2] = corr[c2, c] = row[self.col[name]]
            cov = corr * np.outer(sds, sds)
            tau2.extend(np.diag(cov))
            covs.append(cov.ravel())
            u.append((np.array([[row[self.col[f"{t}[{lvl}]"]] for t in block.terms]
                                for lvl in block.levels]) / f).ravel())
        sigma2 = row[self.col["sigma"]] ** 2 if "sigma" in self.col else 1.0
        if self.kind == Kind.FAMILY_CUMULATIVE:
            # the kernel's thresholds are at the centred predictors: gamma - x_center . beta
            disp = row[self.disp_cols] - float(np.sum(p.transform.x_center * beta))
        else:
            # alpha, nu, or a fixed nu (the kernel keeps it in the same place)
            disp = np.array([row[self.col[name]] for name in ("alpha", "nu") if name in self.col]
                            or [d.family.fixed_parameters.get("nu", 1.0)])
        return {"beta": p.transform.beta_to_internal(beta) if len(beta) else beta,
                "u": np.concatenate(u) if u else np.zeros(0), "tau2": np.array(tau2),
                "vc_xi": np.ones(p.n_vc), "sigma": np.array([sigma2, 1.0]), "disp": disp,
                "re_cov": np.concatenate(covs) if covs else np.zeros(0)}

    def _responder(self):
        """A function y -> kernel response update (precomputed linear maps)."""
        p, d = self.problem, self.design
        if self.kind == Kind.FAMILY_GAUSSIAN:
            tf = p.transform
            X_int = (d.X - tf.x_center) / tf.x_scale
            Z = [np.zeros((d.n_obs, b.n_groups * b.n_re)) for b in d.blocks]
            for z, b, zs in zip(Z, d.blocks, tf.z_scale):
                for c in range(b.n_re):
                    z[np.arange(d.n_obs), b.group * b.n_re + c] = b.Z[:, c] / zs[c]
            M = np.hstack([X_int] + Z).T          # (p + n_u, n_obs)

            def update(kernel, y):
                s = M @ y
                kernel.set_gaussian_response(float(y @ y), s[:d.n_fixed], s[d.n_fixed:])
            return update
        if self.kind in (Kind.FAMILY_NEGBINOMIAL, Kind.FAMILY_STUDENT_T,
                         Kind.FAMILY_CUMULATIVE):
            order = np.argsort(p.row_cell)

            def update(kernel, y):
                kernel.set_cell_response(y[order])
            return update

        def update(kernel, y):
            cell_y = np.bincount(p.row_cell, weights=y, minlength=p.n_cells)
            if self.kind == Kind.FAMILY_POISSON:
                assert cell_y.max() <= MAX_COUNT, "raise MAX_COUNT: a count beyond the tables"
                kernel.set_cell_response(cell_y, cell_y.astype(np.intp))
            else:
                kernel.set_cell_response(cell_y)
        return update

    def successive(self, n, rng, seed=11):
        row = self.prior_rows(1, rng)
        y = self.simulate_y(row, rng)[0]
        kernel = _core.Kernel(self.problem, self._state(row[0]))
        kernel.collapse = self.collapse
        update = self._responder()
        update(kernel, y)
        bg = np.random.Generator(np.random.PCG64(seed)).bit_generator
        out = np.empty((1, self.problem.row_width))
        nothing = np.empty((0, self.problem.row_width))
        rows = np.empty((n + BURN, self.problem.row_width))
        ybar = np.empty(n + BURN)
        for it in range(n + BURN):
            status, _, _ = kernel.run(bg, nothing, out, interweave=self.interweave)
            assert status == 0, f"kernel status {status}"
            rows[it] = out[0]
            y = self.simulate_y(rows[it:it + 1], rng)[0]
            ybar[it] = y.sum() / len(y)
            update(kernel, y)
        return self.g(rows[BURN:], ybar[BURN:])

    def z_scores(self, n=N_ITER, seed=2024):
        rng = np.random.default_rng(seed)
        marginal = self.marginal(n, rng)
        successive = self.successive(n, rng)
        ess = diagnostics.ess_mean(successive[None, :, :])
        se = np.sqrt(successive.var(axis=0) / ess + marginal.var(axis=0) / len(marginal))
        return (successive.mean(axis=0) - marginal.mean(axis=0)) / se


def assert_geweke(z, label=""):
    limit = z_threshold(len(z))
    assert np.all(np.abs(z) < limit), f"{label}: Geweke z-scores {np.round(z, 2)} exceed {limit:.2f}"


class StructuredGeweke(Geweke):
    """Geweke's simulators for a design with one structured term (fastgibbs.structured
    prior in ``priors``): its effects (and rho / phi) are drawn from the prior by
    tests/structured_prior.py (dense algebra on the constraint space, independent of the
    kernel's envelope factorisation and kriging); the kernel also gets rho / phi in its
    state. Extra moments: u_0 u_1, the mean of u^2 over the term's levels, and rho /
    phi and their squares."""

    def __init__(self, design, priors, kernel_priors=None):
        from fastgibbs.gmrf import attach_structures

        raw = design
        resolved = resolve_priors(raw, priors)
        design = attach_structures(raw, resolved)
        (self.term,) = design.structures
        super().__init__(design, priors)
        if kernel_priors is not None:          # a planted bug: the kernel is told these
            told = resolve_priors(raw, kernel_priors)
            problem = build_problem(attach_structures(raw, told), told, scaling=(0.0, 1.0))
            # keep the Poisson mixture tables the base class set for any count
            self.problem = dataclasses.replace(problem, mixtures=self.problem.mixtures)
        self.prior = resolved[self.term]
        self.par = {"ar1": "rho", "bym2": "phi"}.get(self.prior.kind)
        block = next(b for b in design.blocks if self.term in b.terms)
        self.u_all = np.array([self.col[f"{self.term}[{lvl}]"] for lvl in block.levels])
        self.u_cols = self.u_all[:2]

    def g(self, rows, ybar):
        base = super().g(rows, ybar)
        u = rows[:, self.u_all]
        extra = [u[:, 0] * u[:, 1], (u ** 2).mean(axis=1)]
        if self.par:
            x = rows[:, self.col[f"{self.term}_{self.par}"]]
            extra += [x, x ** 2]
        return np.column_stack([base] + extra)

    def prior_rows(self, n, rng):
        import structured_prior

        saved = self.priors                    # the sd, beta, dispersion; u replaced
        self.priors = {**saved, self.term: self.prior.sd}
        try:
            rows = super().prior_rows(n, rng)
        finally:
            self.priors = saved
        par = None
        if self.prior.kind == "ar1":
            # (1 + rho) / 2 ~ Beta(a, b), truncated to rho > 0 when a step is fractional
            par = 2.0 * rng.beta(self.prior.rho.a, self.prior.rho.b, n) - 1.0
            if not self.design.structures[self.term].whole_steps:
                while np.any(par <= 0):
                    bad = par <= 0
                    par[bad] = 2.0 * rng.beta(self.prior.rho.a, self.prior.rho.b, bad.sum()) - 1.0
        elif self.prior.kind == "bym2":
            par = rng.beta(self.prior.phi.a, self.prior.phi.b, n)
        if par is not None:
            rows[:, self.col[f"{self.term}_{self.par}"]] = par
        u = structured_prior.draw_effects(self.design, self.term, self.prior, n, rng, par)
        rows[:, self.u_all] = rows[:, [self.col[f"{self.term}_sigma"]]] * u
        return rows

    def _state(self, row):
        state = super()._state(row)
        state["struct_par"] = np.array([row[self.col[f"{self.term}_{self.par}"]]]
                                       if self.par else [])
        state["struct_aux"] = np.zeros(self.problem.structured["n_aux"])
        return state
