"""Tolerances for Monte Carlo tests.

Each statistical test compares m estimates with their truth using z-scores whose
standard errors come from the effective sample size. The threshold is Bonferroni
corrected, z = Phi^{-1}(1 - ALPHA / (2 m)), so a correct sampler fails one test
function with probability at most ALPHA. With ALPHA = 1e-4 and about 20 statistical
test functions in the suite, a spurious failure is expected less than once in 500
full runs (and never with the fixed seeds, which are part of the test).
"""
import numpy as np
from scipy.stats import norm

ALPHA = 1e-4


def z_threshold(m, alpha=ALPHA):
    """Two-sided Bonferroni z threshold for m simultaneous checks."""
    return float(norm.ppf(1.0 - alpha / (2.0 * m)))


def assert_z(estimate, truth, se, label="", alpha=ALPHA):
    """Assert |estimate - truth| <= z * se elementwise (Bonferroni over elements)."""
    estimate, truth, se = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                                for a in (estimate, truth, se)))
    z = np.abs(estimate - truth) / se
    limit = z_threshold(z.size, alpha)
    worst = int(np.argmax(z))
    assert z.max() <= limit, (f"{label}: |z| = {z.flat[worst]:.2f} > {limit:.2f} at index "
                              f"{worst} (estimate {estimate.flat[worst]:.5g}, "
                              f"truth {truth.flat[worst]:.5g}, se {se.flat[worst]:.3g})")
    return z


def assert_means_match_reference(fit, reference):
    """Every posterior mean within 4 sqrt(mcse_fg^2 + mcse_ref^2) of the reference's
    (the criterion of ../shared/reference/README.md)."""
    from fastgibbs import diagnostics
    for name, r in reference.items():
        x = fit.draws(name)
        tol = 4 * np.hypot(diagnostics.mcse_mean(x), r["mcse_mean"])
        assert abs(x.mean() - r["mean"]) <= tol, \
            f"{name}: mean {x.mean():.5f} vs reference {r['mean']:.5f} (tol {tol:.5f})"


def assert_sds_match_reference(fit, reference):
    """Every posterior sd within 4 combined MCSE of the reference's; the reference's
    MCSE of the sd is not recorded, so it is ours scaled by sqrt(ESS_fg / ESS_ref)."""
    from fastgibbs import diagnostics
    for name, r in reference.items():
        x = fit.draws(name)
        mcse_fg = diagnostics.mcse_sd(x)
        mcse_ref = mcse_fg * np.sqrt(diagnostics.ess_bulk(x) / r["ess_bulk"])
        tol = 4 * np.hypot(mcse_fg, mcse_ref)
        assert abs(x.std() - r["sd"]) <= tol, \
            f"{name}: sd {x.std():.5f} vs reference {r['sd']:.5f} (tol {tol:.5f})"
