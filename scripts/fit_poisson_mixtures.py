"""Normal-mixture stand-ins for the density of eps = -log G, G ~ Gamma(nu, 1), used by
the Poisson family's auxiliary mixture sampler (src/fastgibbs/_core.pyx).

The kernel corrects every move with the exact density (Metropolis-Hastings), so these
mixtures affect only the acceptance rate, never the posterior. For each nu on a grid
(every integer up to 30, then geometric steps of 1.25 up to 1e7) the mixture of
``components(nu)`` normals minimises the f-weighted squared error of the log density,
    int f(e) (log f(e) - log f_mix(e))^2 de,
in standardised units z = (e - mean) / sd (mean -digamma(nu), variance trigamma(nu)),
by BFGS from quantile-spaced starting components. For nu between grid points the
kernel uses the grid point nearest in log nu, rescaled to nu's own mean and sd.

Writes src/fastgibbs/families/poisson_mixtures.npz. Run:
    python scripts/fit_poisson_mixtures.py
"""
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, polygamma

OUT = Path(__file__).resolve().parents[1] / "src" / "fastgibbs" / "families" / "poisson_mixtures.npz"


def grid():
    small = np.arange(1, 31, dtype=float)
    large = 30.0 * 1.25 ** np.arange(1, 200)
    return np.concatenate([small, large[large <= 1e7]])


def components(nu):
    return 10 if nu < 2 else 8 if nu < 5 else 6 if nu < 30 else 4


def standardized_log_density(z, nu):
    mean, sd = -digamma(nu), np.sqrt(polygamma(1, nu))
    e = mean + sd * z
    return -nu * e - np.exp(-e) - gammaln(nu) + np.log(sd)


def log_mix(z, w, m, s):
    comp = np.log(w)[:, None] - np.log(s)[:, None] - 0.5 * ((z[None, :] - m[:, None]) / s[:, None]) ** 2
    top = comp.max(axis=0)
    return top + np.log(np.exp(comp - top).sum(axis=0)) - 0.5 * np.log(2 * np.pi)


def unpack(theta, k):
    a, m, ls = theta[:k], theta[k:2 * k], theta[2 * k:]
    w = np.exp(a - a.max())
    return w / w.sum(), m, np.exp(ls)


def fit(nu):
    k = components(nu)
    z = np.linspace(-12, 8, 4001)
    logf = standardized_log_density(z, nu)
    f = np.exp(logf)
    keep = f > 1e-12
    z, logf, f = z[keep], logf[keep], f[keep]
    dz = z[1] - z[0]
    order = np.argsort(z)
    cdf = np.cumsum(f[order]) * dz
    qs = (np.arange(k) + 0.5) / k
    m0 = np.interp(qs, cdf / cdf[-1], z[order])
    theta0 = np.concatenate([np.zeros(k), m0, np.log(np.full(k, 1.5 / k ** 0.5))])

    def loss(theta):
        w, m, s = unpack(theta, k)
        err = logf - log_mix(z, w, m, s)
        return float(np.sum(f * err ** 2) * dz)

    best = minimize(loss, theta0, method="BFGS", options={"maxiter": 4000, "gtol": 1e-12})
    w, m, s = unpack(best.x, k)
    order = np.argsort(m)
    err = logf - log_mix(z, w[order], m[order], s[order])
    bulk = f > 1e-4 * f.max()
    return w[order], m[order], s[order], float(np.sqrt(best.fun)), float(np.abs(err[bulk]).max())


def main():
    nus, w, m, s, off, rms, worst = grid(), [], [], [], [0], [], []
    for nu in nus:
        wi, mi, si, r, e = fit(nu)
        w.append(wi)
        m.append(mi)
        s.append(si)
        off.append(off[-1] + len(wi))
        rms.append(r)
        worst.append(e)
        print(f"nu {nu:12.2f}: {len(wi)} components, weighted rms log error {r:.2e}, "
              f"max |log error| in the bulk {e:.2e}")
    np.savez(OUT, nu=nus, w=np.concatenate(w), m=np.concatenate(m), s=np.concatenate(s),
             off=np.array(off), rms=np.array(rms), worst=np.array(worst))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
