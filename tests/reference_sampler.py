"""A deliberately plain reference sampler for the model matrix: random-walk
Metropolis on every parameter at once, in NumPy, many chains in parallel.

Slow but obviously right: the log posterior is written out term by term from the
model's definition, with no sufficient statistics, augmentation or Gibbs steps, so it
shares no code or algebra with the kernel. Parameters are unconstrained:
beta; log sigma (gaussian; Student-t, with log nu) or log alpha (negative binomial); per block either the
log sds of its columns (diagonal) or, for a correlated 2 x 2 block, (log s_1, log s_2,
atanh rho); and the group effects non-centred, u_j = L z_j with L the Cholesky factor
of the block's covariance and z_j ~ N(0, I). Jacobians of the transformations are
included. The proposal is N(0, (2.38^2 / d) C) with C the covariance of the warmup
draws (re-estimated in four rounds), as in Haario et al. (2001) but frozen after
warmup, so the sampling phase is a plain Metropolis chain.

Structured terms (fastgibbs.structured priors on a group term; the design must have
them attached, fastgibbs.gmrf.attach_structures, for its levels): the effects are
u = sd x with x non-centred from their prior as tests/structured_prior.py writes it
from Rue & Held (2005) and Riebler et al. (2016): RW1, RW2 and ICAR x = M z, z ~ N(0,
I_r), on an orthonormal basis of the sum-to-zero (RW2: and no-trend) constraint space,
so the constraints hold exactly at every draw; AR1 x = L(rho) z per series, L(rho) the
Cholesky factor of the correlations rho^|t_i - t_j|, with logit((1 + rho) / 2) a
parameter (Beta prior on (1 + rho) / 2, Jacobian included); BYM2
x = sqrt(1 - phi) v + sqrt(phi) M z with v, z ~ N(0, I) and logit(phi) a parameter.

Used by tests/make_matrix_references.py, which stores means, sds and Monte Carlo
errors in tests/data/matrix_references.json; the slow tier re-runs one cell.
"""
import numpy as np
from scipy.special import expit, gammaln, log_ndtr, ndtr

import fastgibbs as fg

import structured_prior


class LogPosterior:
    """log p(theta | y) for a fastgibbs Design under resolved priors, vectorised over
    rows of theta (chains, d)."""

    def __init__(self, design, priors):
        self.d = design
        self.priors = priors
        self.family = design.family.name
        self.link = design.family.link
        self.y = design.y
        self.trials = design.trials
        self.offset = design.offset
        self.w = np.ones(design.n_obs) if design.weights is None else design.weights
        names = []
        names += list(design.fixed_names)
        if self.family == "cumulative":     # the first threshold, then log gaps
            names += ["threshold[1]"] + [f"log gap {k}" for k in
                                         range(2, len(design.family.dispersion) + 1)]
        else:
            names += [f"log {n}" for n in design.family.dispersion]
        self.blocks = []
        structures = getattr(design, "structures", None) or {}
        for block in design.blocks:
            start = len(names)
            if block.terms[0] in structures:
                spec = self._structured_spec(block, block.terms[0])
                names += spec["names"]
                zstart = len(names)
                names += [f"z {block.terms[0]} {k}" for k in range(spec["nz"])]
                self.blocks.append((block, start, zstart, spec))
                continue
            if block.correlated:
                if block.n_re != 2:
                    raise NotImplementedError("reference sampler: correlated blocks of 2 only")
                names += [f"log {t}_sigma" for t in block.terms]
                names += ["atanh " + block.correlation_names[0]]
            else:
                names += [f"log {t}_sigma" for t in block.terms]
            zstart = len(names)
            names += [f"z {t}[{lvl}]" for lvl in block.levels for t in block.terms]
            self.blocks.append((block, start, zstart, None))
        self.names = names
        self.dim = len(names)

    # ---- structured terms (see the module docstring) ---------------------------------
    def _structured_spec(self, block, term):
        prior = self.priors[term]
        J = block.n_groups
        spec = {"kind": prior.kind, "prior": prior, "J": J, "names": [f"log {term}_sigma"]}
        if prior.kind == "ar1":
            spec["series"] = structured_prior.time_series(self.d, term, prior)
            spec["names"].append(f"logit (1 + {term}_rho) / 2")
            spec["nz"] = J
        else:
            spec["M"] = structured_prior.noncentred_map(
                *structured_prior.fixed_precision(self.d, term, prior))
            spec["nz"] = spec["M"].shape[1]
            if prior.kind == "bym2":
                spec["names"].append(f"logit {term}_phi")
                spec["nz"] += J                      # v first, then the ICAR part's z
        return spec

    @staticmethod
    def _logit_beta(prior, a):
        """(q, log density of a = logit q) for q ~ Beta(prior.a, prior.b): q^a (1 - q)^b
        up to a constant (the Beta density times the Jacobian q (1 - q))."""
        return expit(a), -prior.a * np.logaddexp(0.0, -a) - prior.b * np.logaddexp(0.0, a)

    def _structured(self, spec, theta, start, zstart):
        """(u (chains, J) in level order, log prior, {parameter: values})."""
        prior, J = spec["prior"], spec["J"]
        ls = theta[:, start]
        lp = self._log_prior_log_sd(prior.sd, ls)
        z = theta[:, zstart:zstart + spec["nz"]]
        lp = lp - 0.5 * np.sum(z * z, axis=1)
        extra = {}
        if spec["kind"] == "ar1":
            a = theta[:, start + 1]
            lp = np.where(np.abs(a) < 25.0, lp, -np.inf)      # rho within 1e-11 of +-1
            q, lq = self._logit_beta(prior.rho, np.clip(a, -25.0, 25.0))
            lp = lp + lq
            rho = 2.0 * q - 1.0
            extra["rho"] = rho
            x = np.zeros((theta.shape[0], J))
            for m, t in spec["series"]:
                L = structured_prior.ar1_factor(t, rho)
                x[:, m] = np.einsum("nij,nj->ni", L, z[:, m])
        elif spec["kind"] == "bym2":
            phi, lq = self._logit_beta(prior.phi, theta[:, start + 1])
            lp = lp + lq
            extra["phi"] = phi
            x = np.sqrt(1.0 - phi)[:, None] * z[:, :J] \
                + np.sqrt(phi)[:, None] * (z[:, J:] @ spec["M"].T)
        else:
            x = z @ spec["M"].T
        return np.exp(ls)[:, None] * x, lp, extra

    # ---- priors on the unconstrained scale -----------------------------------------
    @staticmethod
    def _log_prior_log_sd(prior, log_s):
        """log density of t = log s for a prior on the sd (HalfCauchy) or on the
        variance (InvGamma), including the Jacobian."""
        s = np.exp(log_s)
        if isinstance(prior, fg.HalfCauchy):
            A = prior.scale
            return np.log(2.0 / (np.pi * A)) - np.log1p((s / A) ** 2) + log_s
        if isinstance(prior, fg.InvGamma):
            v = s * s
            a, b = prior.shape, prior.scale
            return a * np.log(b) - gammaln(a) - (a + 1) * np.log(v) - b / v + np.log(2.0) + 2 * log_s
        raise TypeError(prior)

    def _covariance(self, block, theta, start):
        """(chains, q, q) Cholesky factor and the log prior of the block's variance part."""
        n = theta.shape[0]
        q = block.n_re
        if block.correlated:
            ls1, ls2, zr = theta[:, start], theta[:, start + 1], theta[:, start + 2]
            s1, s2, rho = np.exp(ls1), np.exp(ls2), np.tanh(zr)
            cov = np.empty((n, 2, 2))
            cov[:, 0, 0] = s1 * s1
            cov[:, 1, 1] = s2 * s2
            cov[:, 0, 1] = cov[:, 1, 0] = rho * s1 * s2
            prior = self.priors[block.covariance_key]
            det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2
            inv = np.empty_like(cov)
            inv[:, 0, 0] = cov[:, 1, 1] / det
            inv[:, 1, 1] = cov[:, 0, 0] / det
            inv[:, 0, 1] = inv[:, 1, 0] = -cov[:, 0, 1] / det
            if isinstance(prior, fg.HuangWand):
                # the auxiliaries a_k integrated out (Huang & Wand 2013, eq. 2):
                # |S|^-(nu + 2q)/2 prod_k (nu (S^-1)_kk + 1/A_k^2)^-(nu + q)/2
                nu, A = prior.nu, prior.scale
                lp = -(nu + 2 * q) / 2 * np.log(det) - (nu + q) / 2 * sum(
                    np.log(nu * inv[:, k, k] + 1.0 / A[k] ** 2) for k in range(q))
            else:
                # InvWishart(nu, S) density up to a constant
                nu, S = prior.df, prior.scale
                lp = -(nu + q + 1) / 2 * np.log(det) - 0.5 * np.einsum("ij,nji->n", S, inv)
            # Jacobian of (log s1, log s2, atanh rho) -> (S11, S22, S12): 4 s1^3 s2^3 (1 - rho^2)
            lp = lp + np.log(4.0) + 3 * ls1 + 3 * ls2 + np.log1p(-rho * rho)
            L = np.linalg.cholesky(cov)
            return L, lp
        L = np.zeros((n, q, q))
        lp = np.zeros(n)
        for c, term in enumerate(block.terms):
            ls = theta[:, start + c]
            L[:, c, c] = np.exp(ls)
            lp = lp + self._log_prior_log_sd(self.priors[term], ls)
        return L, lp

    def __call__(self, theta):
        d = self.d
        n = theta.shape[0]
        p = d.n_fixed
        lp = np.zeros(n)
        beta = theta[:, :p]
        for m, name in enumerate(d.fixed_names):
            pr = self.priors[name]
            lp += -0.5 * ((beta[:, m] - pr.mu) / pr.sigma) ** 2
        eta = beta @ d.X.T + self.offset
        pos = p
        disp = {}
        if self.family == "cumulative":
            # gamma_1 and log(gamma_k - gamma_{k-1}); Jacobian: the product of the gaps;
            # prior iid N(mu, s^2) on each gamma_k (restricted to ordered: a constant)
            K1 = len(d.family.dispersion)
            gam = self._thresholds(theta[:, pos:pos + K1])
            lp += np.sum(theta[:, pos + 1:pos + K1], axis=1)
            pr = self.priors["threshold"]
            lp += -0.5 * np.sum(((gam - pr.mu) / pr.sigma) ** 2, axis=1)
            disp["thresholds"] = gam
            pos += K1
        for name in d.family.dispersion if self.family != "cumulative" else ():
            t = theta[:, pos]
            pr = self.priors[name]
            if isinstance(pr, fg.Gamma):
                lp += pr.shape * t - pr.rate * np.exp(t)     # Gamma on alpha, Jacobian e^t
            else:
                lp += self._log_prior_log_sd(pr, t)
            disp[name] = np.exp(t)[:, None]
            pos += 1
        for block, start, zstart, spec in self.blocks:
            if spec is not None:
                u, lpc, _ = self._structured(spec, theta, start, zstart)
                lp += lpc
                eta += u[:, block.group] * block.Z[:, 0]
                continue
            q, J = block.n_re, block.n_groups
            L, lpc = self._covariance(block, theta, start)
            lp += lpc
            z = theta[:, zstart:zstart + J * q].reshape(n, J, q)
            lp += -0.5 * np.sum(z * z, axis=(1, 2))
            u = np.einsum("nab,njb->nja", L, z)               # (chains, J, q)
            eta += np.einsum("nic,ic->ni", u[:, block.group, :], block.Z)
        lp += self.log_likelihood(eta, disp)
        return np.where(np.isfinite(lp), lp, -np.inf)

    @staticmethod
    def _thresholds(t):
        """(chains, K - 1) thresholds from gamma_1 and the log gaps."""
        return np.cumsum(np.column_stack([t[:, 0], np.exp(t[:, 1:])]), axis=1)

    def log_likelihood(self, eta, disp):
        y, w = self.y, self.w
        if self.family == "gaussian":
            s = disp["sigma"]
            ll = -0.5 * ((y - eta) / s) ** 2 - np.log(s)
        elif self.family == "t":
            s, nu = disp["sigma"], disp["nu"]
            ll = (gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * np.log(nu)
                  - np.log(s) - 0.5 * (nu + 1.0) * np.log1p(((y - eta) / s) ** 2 / nu))
        elif self.family == "bernoulli" and self.link == "probit":
            ll = y * log_ndtr(eta) + (self.trials - y) * log_ndtr(-eta)
        elif self.family in ("bernoulli", "binomial"):
            ll = y * eta - self.trials * np.logaddexp(0.0, eta)
        elif self.family == "poisson":
            ll = y * eta - np.exp(eta)
        elif self.family == "cumulative":
            # P(y = k) = Phi(gamma_k - eta) - Phi(gamma_{k-1} - eta), gamma_0 = -inf, gamma_K = inf
            gam = disp["thresholds"]
            n = gam.shape[0]
            pad = np.full((n, 1), np.inf)
            cuts = np.hstack([-pad, gam, pad])
            k = y.astype(int)
            with np.errstate(divide="ignore"):
                ll = np.log(ndtr(cuts[:, k] - eta) - ndtr(cuts[:, k - 1] - eta))
        elif self.family == "negativebinomial":
            a = disp["alpha"]
            la = np.log(a)
            den = np.logaddexp(la, eta)
            ll = gammaln(y + a) - gammaln(a) + a * (la - den) + y * (eta - den)
        else:
            raise NotImplementedError(self.family)
        return ll @ w

    def to_parameters(self, theta, names):
        """Draws (..., d) -> values of fastgibbs parameters ``names`` (..., len(names))."""
        d = self.d
        shape = theta.shape[:-1]
        flat = theta.reshape(-1, self.dim)
        out = {}
        p = d.n_fixed
        for m, name in enumerate(d.fixed_names):
            out[name] = flat[:, m]
        pos = p
        if self.family == "cumulative":
            K1 = len(d.family.dispersion)
            gam = self._thresholds(flat[:, pos:pos + K1])
            for k, name in enumerate(d.family.dispersion):
                out[name] = gam[:, k]
            pos += K1
        for name in d.family.dispersion if self.family != "cumulative" else ():
            out[name] = np.exp(flat[:, pos])
            pos += 1
        for block, start, zstart, spec in self.blocks:
            if spec is not None:
                term = block.terms[0]
                u, _, extra = self._structured(spec, flat, start, zstart)
                out[term + "_sigma"] = np.exp(flat[:, start])
                for key, values in extra.items():
                    out[f"{term}_{key}"] = values
                for j, level in enumerate(block.levels):
                    out[f"{term}[{level}]"] = u[:, j]
                continue
            q, J = block.n_re, block.n_groups
            L, _ = self._covariance(block, flat, start)
            cov = L @ np.swapaxes(L, 1, 2)
            sds = np.sqrt(np.einsum("nii->ni", cov))
            for c, term in enumerate(block.terms):
                out[term + "_sigma"] = sds[:, c]
            if block.correlated:
                out[block.correlation_names[0]] = cov[:, 0, 1] / (sds[:, 0] * sds[:, 1])
            z = flat[:, zstart:zstart + J * q].reshape(-1, J, q)
            u = np.einsum("nab,njb->nja", L, z)
            for j, level in enumerate(block.levels):
                for c, term in enumerate(block.terms):
                    out[f"{term}[{level}]"] = u[:, j, c]
        return np.stack([out[nm] for nm in names], axis=-1).reshape(shape + (len(names),))


def sample(log_post, n_chains=32, n_warmup=40000, n_draws=200000, thin=20, seed=0):
    """Random-walk Metropolis: returns draws (n_chains, n_draws // thin, d) of the
    unconstrained parameters and the acceptance rate of the sampling phase.

    Warmup: the proposal covariance is re-estimated from the second half of the warmup
    draws so far at 1/8, 2/8, ..., 7/8 of warmup, and a scalar step factor is tuned
    towards acceptance 0.234 (Roberts, Gelman & Gilks 1997) every 500 iterations; both
    are then frozen for the sampling phase."""
    rng = np.random.default_rng(seed)
    d = log_post.dim
    theta = 0.1 * rng.standard_normal((n_chains, d))
    lp = log_post(theta)
    cov = np.eye(d) * 0.01
    factor = 2.38 ** 2 / d
    chol = np.linalg.cholesky(cov * factor)
    history = []
    rounds = set(int(n_warmup * k / 8) for k in range(1, 8))
    window_accepts = 0
    for it in range(n_warmup):
        prop = theta + rng.standard_normal((n_chains, d)) @ chol.T
        lp_prop = log_post(prop)
        accept = np.log(rng.random(n_chains)) < lp_prop - lp
        theta[accept] = prop[accept]
        lp[accept] = lp_prop[accept]
        window_accepts += accept.sum()
        if it % 5 == 0:
            history.append(theta.copy())
        if (it + 1) % 500 == 0:
            rate = window_accepts / (500 * n_chains)
            factor *= np.exp(2.0 * (rate - 0.234))
            window_accepts = 0
            chol = np.linalg.cholesky(cov * factor)
        if it + 1 in rounds:
            h = np.concatenate(history[len(history) // 2:])
            cov = np.cov(h.T) + 1e-10 * np.eye(d)
            chol = np.linalg.cholesky(cov * factor)
    out = np.empty((n_chains, n_draws // thin, d))
    accepted = 0
    for it in range(n_draws):
        prop = theta + rng.standard_normal((n_chains, d)) @ chol.T
        lp_prop = log_post(prop)
        accept = np.log(rng.random(n_chains)) < lp_prop - lp
        theta[accept] = prop[accept]
        lp[accept] = lp_prop[accept]
        accepted += accept.sum()
        if (it + 1) % thin == 0:
            out[:, it // thin] = theta
    return out, accepted / (n_chains * n_draws)


def summary(values, names):
    """{name: mean, sd, MCSE of both and bulk ESS} of reference draws ``values``
    (chains, draws, params), as the reference files record them."""
    import arviz as az

    out = {}
    for i, name in enumerate(names):
        x = values[:, :, i]
        out[name] = {"mean": float(x.mean()), "sd": float(x.std()),
                     "mcse_mean": float(az.mcse(x, method="mean")),
                     "mcse_sd": float(az.mcse(x, method="sd")),
                     "ess_bulk": float(az.ess(x, method="bulk"))}
    return out
