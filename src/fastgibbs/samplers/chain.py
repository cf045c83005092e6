"""One chain: dispersed initial values, the kernel run in chunks (it writes draws on
the user's scale)."""
import numpy as np

from .. import _core
from ..chains import ChainStopped
from .._kinds import Covariance, Family as Kind, Status, VariancePrior

__all__ = ["SamplerError", "initial_state", "run_chain", "run_chain_at"]

MESSAGES = {
    Status.STATUS_CHOL_FIXED: "the fixed-effect precision matrix lost positive definiteness "
                              "(collinear predictors, a prior far too narrow, or weights so "
                              "large, ~1e13 per group and beyond, that the group effects' "
                              "precision swamps it? Rescale such weights)",
    Status.STATUS_CHOL_GROUP: "a group-effect precision matrix lost positive definiteness "
                              "(a group sd collapsed to 0 or exploded)",
    Status.STATUS_CHOL_WISHART: "an inverse-Wishart scale matrix lost positive definiteness",
}


class SamplerError(RuntimeError):
    """The kernel stopped: a numerical failure, or a draw that is not finite."""


def initial_state(problem, rng):
    """Dispersed initial values on the kernel's scale: sds spread over two orders of
    magnitude around the (internal) scale of y (sigma around y's sd about its mean,
    problem.sigma_start), group effects drawn from their prior
    at those sds, beta at its prior mean, half-Cauchy and matrix half-t auxiliaries at
    1/A^2."""
    # families without a residual variance run the Gaussian steps with sigma2 = 1
    sigma2 = (problem.sigma_start * np.exp(rng.uniform(-1.0, 1.0))) ** 2 \
        if problem.has_sigma else 1.0
    tau2 = np.exp(rng.uniform(-2.0, 0.5, size=problem.n_vc)) ** 2
    u = np.empty(problem.n_u)
    for k in range(len(problem.n_groups)):
        q, J, off = problem.n_re[k], problem.n_groups[k], problem.u_off[k]
        sds = np.sqrt(tau2[problem.vc_off[k]:problem.vc_off[k] + q])
        u[off:off + J * q] = (rng.standard_normal((J, q)) * sds).ravel()
    beta = problem.prior_mean.copy()      # least-norm where a prior is flat
    half_cauchy = problem.vc_kind == int(VariancePrior.PRIOR_HALF_CAUCHY)
    vc_xi = np.where(half_cauchy, 1.0 / np.maximum(problem.vc_b, 1e-150) ** 2, 1.0)
    for k in np.flatnonzero(problem.cov_kind == int(Covariance.COV_HUANG_WAND)):
        # matrix half-t auxiliaries a_c at 1/A_c^2, as the half-Cauchy ones
        at = slice(problem.vc_off[k], problem.vc_off[k] + problem.n_re[k])
        vc_xi[at] = 1.0 / np.maximum(problem.vc_b[at], 1e-150) ** 2
    kind, _, sigma_b = problem.sigma_prior
    xi_sigma = 1.0 / sigma_b ** 2 if kind == int(VariancePrior.PRIOR_HALF_CAUCHY) else 1.0
    parts = [np.diag(tau2[problem.vc_off[k]:problem.vc_off[k] + q]).ravel()
             for k, q in enumerate(problem.n_re)]
    state = {"beta": beta, "u": u, "tau2": tau2, "vc_xi": vc_xi.astype(float),
             "sigma": np.array([sigma2, xi_sigma]),
             "disp": _initial_dispersion(problem, rng),
             "re_cov": np.concatenate(parts) if parts else np.zeros(0)}
    if problem.structured is not None:
        st = problem.structured
        # rho (AR1: below 0 only on whole steps) and phi (BYM2) away from their bounds;
        # BYM2's s starts at 0 (the first sweep draws it with the effects)
        par = np.empty(st["n_par"])
        for k in np.flatnonzero(st["par"] >= 0):
            low = -0.8 if st["negative"][k] else 0.1
            par[st["par"][k]] = rng.uniform(low, 0.8)
        state["struct_par"] = par
        state["struct_aux"] = np.zeros(st["n_aux"])
    return state


def _initial_dispersion(problem, rng):
    """The kernel's dispersion state: alpha (negative binomial) dispersed around 1;
    Student-t nu between e and 20 (or its fixed value); cumulative thresholds."""
    args = problem.family_args or {}
    if problem.family == Kind.FAMILY_STUDENT_T:
        if args["nu_fixed"]:
            return np.array([float(args["nu"])])
        return np.array([np.exp(rng.uniform(1.0, 3.0))])
    if problem.family == Kind.FAMILY_CUMULATIVE:
        # cumulative thresholds: probits of the observed cumulative proportions, shifted
        # by a common jitter and spread by a common factor (so they stay in order)
        init = np.asarray(args["init_thresholds"], dtype=float)
        return (init - init.mean()) * np.exp(rng.uniform(-0.2, 0.2)) + init.mean() \
            + rng.uniform(-0.3, 0.3)
    return np.array([np.exp(rng.uniform(-1.0, 1.0))])


def run_chain_at(problem, indexed_seed, stop=None, check_signals=False, *, warmup_array,
                 draws_array, **kwargs):
    """run_chain for chain ``c`` of ``indexed_seed = (c, seed_seq)``, writing into
    ``warmup_array[c]`` and ``draws_array[c]`` (the fit's (chains, n, width) arrays)."""
    c, seed_seq = indexed_seed
    return run_chain(problem, seed_seq, stop=stop, check_signals=check_signals,
                     out=(warmup_array[c], draws_array[c]), **kwargs)


def _chunks(total, n_chunks):
    size = max(1, -(-total // n_chunks))
    while total > 0:
        yield min(size, total)
        total -= size


def run_kernel(kernel, bit_generator, warm, draws, thin, update_variances, interweave, stop,
               check_signals, names):
    """kernel.run with its status turned into exceptions."""
    status, _, bad = kernel.run(bit_generator, warm, draws, thin=thin,
                                update_variances=update_variances, interweave=interweave,
                                stop=stop, check_signals=check_signals)
    status = Status(status)
    if status == Status.STATUS_OK:
        return
    if status == Status.STATUS_INTERRUPTED:
        raise ChainStopped("the fit's other chains were stopped")
    if stop is not None:
        stop[0] = 1                     # tell the other chains of this fit to stop
    if status == Status.STATUS_NONFINITE:
        name = names[bad] if names is not None and 0 <= bad < len(names) else f"column {bad}"
        raise SamplerError(f"the sampler drew a value of {name!r} that is not finite (inf or "
                           "nan): the priors or the data's scale put it out of reach of "
                           "double precision; use a more informative prior")
    raise SamplerError("Gibbs sampler stopped: " + MESSAGES[status])


def run_chain(problem, seed_seq, n_warmup, n_draws, thin=1, interweave=True,
              on_progress=None, n_chunks=20, stop=None, check_signals=False, names=None,
              state=None, update_variances=True, out=None):
    """One chain from dispersed initial values (or ``state``): returns (warmup, draws,
    info) with warmup (n_warmup, width) and draws (n_draws, width) on the user's scale
    and info a dict (mh_tries, mh_accepts of the Poisson correction).

    ``on_progress(n_sweeps)`` is called after each of about ``n_chunks`` pieces per
    phase (the draws are identical either way); ``stop`` is the fit's shared int32
    flag and ``check_signals`` lets a main-thread chain notice Ctrl-C. ``out``: a pair
    of C-contiguous float arrays (n_warmup, width), (n_draws, width) to write into
    (e.g. one chain's slices of the fit's arrays, so they need no copy after)."""
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    if state is None:
        state = initial_state(problem, rng)
    kernel = _core.Kernel(problem, state)
    width = problem.row_width
    if out is None:
        warm = np.empty((n_warmup, width))
        draws = np.empty((n_draws, width))
    else:
        warm, draws = out
        if warm.shape != (n_warmup, width) or draws.shape != (n_draws, width):
            raise ValueError(f"out must hold ({n_warmup}, {width}) and ({n_draws}, {width}) rows")
    bg = rng.bit_generator

    def run(w, d):
        run_kernel(kernel, bg, w, d, thin, update_variances, interweave, stop,
                   check_signals, names)

    # Poisson: the first half of warmup runs the auxiliary mixture sampler without its
    # Metropolis-Hastings correction (Fruhwirth-Schnatter et al. 2009's approximate
    # sampler), which moves from dispersed starting values to the posterior at once;
    # every later sweep is corrected, so the kept draws follow the exact posterior.
    approximate = n_warmup // 2 if problem.family == Kind.FAMILY_POISSON else 0
    done = 0
    kernel.mh_correct = approximate == 0
    for size in _chunks(n_warmup, n_chunks if on_progress else 1):
        if done < approximate < done + size:      # switch the correction on mid-chunk
            run(warm[done:approximate], draws[:0])
            kernel.mh_correct = True
            run(warm[approximate:done + size], draws[:0])
        else:
            kernel.mh_correct = done >= approximate
            run(warm[done:done + size], draws[:0])
        done += size
        if on_progress:
            on_progress(size)
    kernel.mh_correct = True
    tries, accepts = kernel.mh_tries, kernel.mh_accepts
    done = 0
    for size in _chunks(n_draws, n_chunks if on_progress else 1):
        run(warm[:0], draws[done:done + size])
        done += size
        if on_progress:
            on_progress(size * thin)
    info = {"mh_tries": kernel.mh_tries - tries, "mh_accepts": kernel.mh_accepts - accepts}
    return warm, draws, info
