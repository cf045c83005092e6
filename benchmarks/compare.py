"""Fit the same multilevel models in fastgibbs and in the peer samplers that are installed.

Run (peers optional, see requirements-peers.txt):

    pip install -r benchmarks/requirements-peers.txt
    python benchmarks/compare.py --out benchmarks/COMPARISON.md

Models (identical data, likelihood and priors in every engine):

- ``nes2000``: ``real_ideo ~ 1 + partyid7 + (1 | state)`` (476 rows, 44 states), gaussian;
  Intercept ~ N(0, 10), partyid7 ~ N(0, 1), sigma^2 and sigma_state^2 ~ InvGamma(0.001, 0.001).
- ``contraception``: ``use ~ 1 + age + age2 + urbanY + livch1 + livch2 + livch3p
  + (1 | district)`` (1934 rows, 60 districts), bernoulli-logit; fixed effects ~ N(0, 10),
  sigma_district^2 ~ InvGamma(0.001, 0.001).
- ``crossed``: synthetic ``y ~ 1 + x + (1 | a) + (1 | b)``, N = 10^4 (``--crossed-n``),
  100 and 50 levels, gaussian; fixed effects ~ N(0, 10), every variance ~ InvGamma(0.001, 0.001).

Engines: fastgibbs (Gibbs), PyStan 3, PyMC and NumPyro (NUTS). The peers are written as a
good user of each would: one vectorised model with non-centred group effects
``b = tau[factor] * z, z ~ N(0, 1)``, variances as parameters with the inverse-gamma prior
(each engine samples them on the log scale), Stan's ``*_glm`` likelihoods, default
adaptation (NUTS target acceptance 0.8 everywhere). Every engine runs the same chains,
warmup and draws, at most ``--cores`` chains at a time.

Each (engine, model) fit runs in its own subprocess (``--worker-engine``), so that JAX, PyTensor
and httpstan's process pools never share an interpreter; the worker returns the draws of
the parameters in fastgibbs's names (``Intercept``, ``sigma``, ``1|state_sigma``,
``1|state[<level>]``, ...; the peers' raw variances and non-centred ``z`` are transformed
in one function, :func:`to_fastgibbs_names`). The parent then computes every diagnostic
with ONE implementation, ArviZ (``az.ess(method="bulk")``, ``az.mcse(method="mean")``,
``az.rhat``, all rank-normalised, Vehtari et al. 2021), over ALL parameters: fixed
effects, sds and every group effect.

Columns of the table:

- build s: fastgibbs: formula -> design -> sufficient statistics (its kernel is compiled
  at install); PyStan: ``stan.build`` (stanc + C++ compile; "cached" when httpstan already
  held the compiled program, which is shared by all three models); PyMC: model
  construction plus a 20-iteration one-chain pm.sample that compiles every function
  pm.sample needs into PyTensor's on-disk cache;
  NumPyro: JIT time, the sum of JAX's own trace, lowering and XLA-compile durations
  (``jax.monitoring`` events) during the run.
- sampling s: wall time of warmup + draws, compile excluded (for NumPyro the run's wall
  time minus its JIT time; for PyMC including its worker start-up and re-loading the
  cached compiled functions).
- min-ESS/s = min bulk-ESS / sampling s; fg ratio = fastgibbs's min-ESS/s / the engine's.
- agree: each fixed effect and sd (``sigma``, ``<term>_sigma``) satisfies
  |mean_fg - mean_engine| <= 4 sqrt(mcse_fg^2 + mcse_engine^2); the worst ratio is shown.
  No verdict when either engine's max R-hat exceeds 1.05.

If fastgibbs raises ValueError for a family it does not support yet, its row says so and
the peers still run. A failing fit is reported in its row (its own output goes to --log).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import util as importlib_util
from importlib.metadata import PackageNotFoundError, version as dist_version

import numpy as np
import pandas as pd

ENGINES = ("fastgibbs", "pystan", "pymc", "numpyro")
MODELS = ("nes2000", "contraception", "crossed")
AGREE_Z = 4.0          # agreement threshold in combined Monte Carlo standard errors
IG = (0.001, 0.001)    # inverse-gamma (shape, scale) on every variance
RHAT_OK = 1.05         # above this (either engine), no agreement verdict
SLOW = 1.3             # speed probe this much above its best: the machine is busy


# --------------------------------------------------------------------------- problems

@dataclass
class Problem:
    """One model, in a form every engine can take.

    ``X`` (n_obs, n_fixed) includes the intercept column; ``groups`` lists
    (term, codes 0..J_g-1, level labels); ``names`` is the parameter order used for the
    draws: fixed effects, ``sigma`` (gaussian), then per term ``<term>_sigma`` and
    ``<term>[<level>]``.
    """
    name: str
    title: str
    formula: str
    family: str                      # "gaussian" or "bernoulli"
    data: pd.DataFrame               # what fastgibbs receives
    y: np.ndarray
    X: np.ndarray
    fixed: list
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    groups: list                     # [(term, codes, labels)]
    names: list = field(init=False)

    def __post_init__(self):
        names = list(self.fixed) + (["sigma"] if self.family == "gaussian" else [])
        for term, _, labels in self.groups:
            names += [f"{term}_sigma"] + [f"{term}[{lab}]" for lab in labels]
        self.names = names

    @property
    def n_levels(self):
        return [len(labels) for _, _, labels in self.groups]

    def fg_priors(self, fg):
        priors = {k: fg.Normal(m, s) for k, m, s in zip(self.fixed, self.prior_mean, self.prior_sd)}
        if self.family == "gaussian":
            priors["sigma"] = fg.InvGamma(*IG)
        for term, _, _ in self.groups:
            priors[term] = fg.InvGamma(*IG)
        return priors

    def stacked_levels(self):
        """(factor of each level, 0-based, length J; global level index, shape (G, n_obs))."""
        offsets = np.concatenate([[0], np.cumsum(self.n_levels)[:-1]])
        factor = np.repeat(np.arange(len(self.groups)), self.n_levels)
        level = np.stack([codes + off for (_, codes, _), off in zip(self.groups, offsets)])
        return factor, level


def _group(term, column):
    labels = sorted(pd.unique(column.astype(str)))
    codes = pd.Categorical(column.astype(str), categories=labels).codes.astype(np.int64)
    return term, codes, labels


def make_problem(name, crossed_n=10_000):
    import fastgibbs as fg
    if name == "nes2000":
        d = fg.datasets.load("nes2000")
        X = np.column_stack([np.ones(len(d)), d["partyid7"].to_numpy(float)])
        return Problem(name, "NES 2000 `real_ideo ~ 1 + partyid7 + (1 | state)`",
                       "real_ideo ~ 1 + partyid7 + (1 | state)", "gaussian", d,
                       d["real_ideo"].to_numpy(float), X, ["Intercept", "partyid7"],
                       np.zeros(2), np.array([10.0, 1.0]), [_group("1|state", d["state"])])
    if name == "contraception":
        # exactly as /work/shared/reference/contraception.json prepares it
        c = fg.datasets.load("contraception")
        d = pd.DataFrame({
            "use": (c["use"] == "Y").astype(int), "age": c["age"].astype(float),
            "age2": c["age"].astype(float) ** 2, "urbanY": (c["urban"] == "Y").astype(float),
            "livch1": (c["livch"] == "1").astype(float), "livch2": (c["livch"] == "2").astype(float),
            "livch3p": (c["livch"] == "3+").astype(float), "district": c["district"]})
        fixed = ["Intercept", "age", "age2", "urbanY", "livch1", "livch2", "livch3p"]
        X = np.column_stack([np.ones(len(d))] + [d[k].to_numpy(float) for k in fixed[1:]])
        return Problem(name, "Contraception bernoulli `use ~ age + age2 + urbanY + livch1 + livch2 "
                       "+ livch3p + (1 | district)`",
                       "use ~ 1 + age + age2 + urbanY + livch1 + livch2 + livch3p + (1 | district)",
                       "bernoulli", d, d["use"].to_numpy(np.int64), X, fixed,
                       np.zeros(7), np.full(7, 10.0), [_group("1|district", d["district"])])
    if name == "crossed":
        # truth: Intercept 1, x 0.5, sd_a 0.5, sd_b 0.3, sigma 1; fixed seed
        rng = np.random.default_rng(20260101)
        n_a, n_b = 100, 50
        a = rng.integers(n_a, size=crossed_n)
        b = rng.integers(n_b, size=crossed_n)
        x = rng.standard_normal(crossed_n)
        y = (1.0 + 0.5 * x + 0.5 * rng.standard_normal(n_a)[a] + 0.3 * rng.standard_normal(n_b)[b]
             + rng.standard_normal(crossed_n))
        d = pd.DataFrame({"y": y, "x": x, "a": [f"a{i:03d}" for i in a],
                          "b": [f"b{i:02d}" for i in b]})
        X = np.column_stack([np.ones(crossed_n), x])
        return Problem(name, f"Crossed synthetic `y ~ 1 + x + (1 | a) + (1 | b)` "
                       f"({crossed_n} rows, {n_a} x {n_b} levels)",
                       "y ~ 1 + x + (1 | a) + (1 | b)", "gaussian", d, y, X, ["Intercept", "x"],
                       np.zeros(2), np.full(2, 10.0),
                       [_group("1|a", d["a"]), _group("1|b", d["b"])])
    raise ValueError(f"unknown model {name!r}")


def to_fastgibbs_names(problem, beta, tau2, z, sigma2=None):
    """Peers' raw draws -> (chain, draw, param) in ``problem.names`` order.

    beta (C, D, K); tau2 (C, D, G) group variances; z (C, D, J) non-centred effects over
    all factors' levels stacked; sigma2 (C, D) residual variance (gaussian).
    """
    factor, _ = problem.stacked_levels()
    tau = np.sqrt(tau2)
    b = tau[:, :, factor] * z
    cols = [beta]
    if problem.family == "gaussian":
        cols.append(np.sqrt(sigma2)[:, :, None])
    start = 0
    for g, n in enumerate(problem.n_levels):
        cols += [tau[:, :, g:g + 1], b[:, :, start:start + n]]
        start += n
    out = np.concatenate(cols, axis=2)
    assert out.shape[2] == len(problem.names)
    return out


# --------------------------------------------------------------------------- engines
# Each runner returns dict(draws=(C, D, P) in problem.names order, version, build_s,
# build_note, sampling_s, divergent, note).

def _version(*dists):
    out = []
    for d in dists:
        try:
            out.append(f"{d} {dist_version(d)}")
        except PackageNotFoundError:
            pass
    return " / ".join(out)


def run_fastgibbs(problem, cfg):
    """Median times of ``cfg.fg_repeats`` identical fits (same seed, same draws): one
    fit takes milliseconds, so a single timing would be mostly noise."""
    import fastgibbs as fg
    fits = []
    for _ in range(cfg.fg_repeats):
        try:
            fits.append(fg.fit(problem.formula, problem.data, family=problem.family,
                               priors=problem.fg_priors(fg), chains=cfg.chains, warmup=cfg.warmup,
                               draws=cfg.draws, seed=cfg.seed, n_jobs=min(cfg.cores, cfg.chains)))
        except ValueError as err:
            if "family" in str(err):
                return {"unavailable": f"family {problem.family!r} not available yet ({err})"}
            raise
    fit = fits[0]
    names = list(fit.names)
    missing = set(problem.names) - set(names)
    if missing:
        raise RuntimeError(f"fastgibbs fit lacks parameters {sorted(missing)[:5]}")
    draws = fit.draws_array[:, :, [names.index(n) for n in problem.names]]
    return {"draws": draws, "version": f"fastgibbs {fg.__version__} (Gibbs, {fit.backend}, "
            f"n_jobs={fit.n_jobs})",
            "build_s": float(np.median([f.timing["design"] for f in fits])), "build_note": "",
            "sampling_s": float(np.median([f.timing["sampling"] for f in fits])),
            "divergent": None, "note": f"median of {len(fits)} fits" if len(fits) > 1 else ""}


STAN_PROGRAM = """
// y ~ X beta + sum_g b_g[level_g]; b_g = tau_g * z_g (non-centred); gaussian or bernoulli-logit
data {
  int<lower=1> N;
  int<lower=1> K;
  matrix[N, K] X;
  vector[K] prior_mean;
  vector<lower=0>[K] prior_sd;
  int<lower=0, upper=1> is_bernoulli;
  vector[is_bernoulli ? 0 : N] y_real;
  array[is_bernoulli ? N : 0] int<lower=0, upper=1> y_int;
  int<lower=1> G;                              // grouping factors
  int<lower=1> J;                              // levels, all factors stacked
  array[J] int<lower=1, upper=G> factor;       // factor of each level
  array[G, N] int<lower=1, upper=J> level;     // stacked level of each row, per factor
  real<lower=0> ig_shape;
  real<lower=0> ig_scale;
}
parameters {
  vector[K] beta;
  array[is_bernoulli ? 0 : 1] real<lower=0> sigma2;   // residual variance
  vector<lower=0>[G] tau2;                            // group variances
  vector[J] z;
}
model {
  vector[G] tau = sqrt(tau2);
  vector[J] b = tau[factor] .* z;
  vector[N] alpha = b[level[1]];
  for (g in 2:G) alpha += b[level[g]];
  beta ~ normal(prior_mean, prior_sd);
  tau2 ~ inv_gamma(ig_shape, ig_scale);
  z ~ std_normal();
  if (is_bernoulli) {
    y_int ~ bernoulli_logit_glm(X, alpha, beta);
  } else {
    sigma2 ~ inv_gamma(ig_shape, ig_scale);
    y_real ~ normal_id_glm(X, alpha, beta, sqrt(sigma2[1]));
  }
}
"""


def run_pystan(problem, cfg):
    import httpstan.cache
    import httpstan.models
    import stan
    factor, level = problem.stacked_levels()
    bern = problem.family == "bernoulli"
    n = len(problem.y)
    data = {"N": n, "K": problem.X.shape[1], "X": problem.X, "prior_mean": problem.prior_mean,
            "prior_sd": problem.prior_sd, "is_bernoulli": int(bern),
            "y_real": np.zeros(0) if bern else problem.y,
            "y_int": problem.y.astype(int).tolist() if bern else [],
            "G": len(problem.groups), "J": int(sum(problem.n_levels)),
            "factor": (factor + 1).tolist(), "level": (level + 1).tolist(),
            "ig_shape": IG[0], "ig_scale": IG[1]}
    model_name = httpstan.models.calculate_model_name(STAN_PROGRAM)
    if cfg.fresh_compile and model_name in httpstan.cache.list_model_names():
        httpstan.cache.delete_model_directory(model_name)
    cached = model_name in httpstan.cache.list_model_names()
    t0 = time.perf_counter()
    model = stan.build(STAN_PROGRAM, data=data, random_seed=cfg.seed)
    build_s = time.perf_counter() - t0
    # httpstan runs the chains in a process pool of os.cpu_count() workers
    t0 = time.perf_counter()
    fit = model.sample(num_chains=cfg.chains, num_samples=cfg.draws, num_warmup=cfg.warmup)
    sampling_s = time.perf_counter() - t0

    def chains_first(name):
        a = np.asarray(fit[name])                  # (dims..., draws * chains), chain fastest
        a = a.reshape(a.shape[:-1] + (cfg.draws, cfg.chains))
        return np.moveaxis(np.moveaxis(a, -1, 0), -1, 1)   # (chains, draws, dims...)

    draws = to_fastgibbs_names(problem, chains_first("beta"), chains_first("tau2"),
                               chains_first("z"),
                               None if bern else chains_first("sigma2")[:, :, 0])
    return {"draws": draws, "version": _version("pystan", "httpstan"), "build_s": build_s,
            "build_note": "cached" if cached else "", "sampling_s": sampling_s,
            "divergent": int(np.sum(fit["divergent__"])), "note": ""}


def run_pymc(problem, cfg):
    import pymc as pm
    import pytensor.tensor as pt
    factor, level = problem.stacked_levels()
    bern = problem.family == "bernoulli"
    t0 = time.perf_counter()
    with pm.Model() as model:
        X = pt.as_tensor_variable(problem.X)
        beta = pm.Normal("beta", mu=problem.prior_mean, sigma=problem.prior_sd,
                         shape=problem.X.shape[1])
        tau2 = pm.InverseGamma("tau2", alpha=IG[0], beta=IG[1], shape=len(problem.groups))
        z = pm.Normal("z", 0.0, 1.0, shape=int(sum(problem.n_levels)))
        b = pt.sqrt(tau2)[factor] * z
        eta = pt.dot(X, beta) + b[level].sum(axis=0)
        if bern:
            pm.Bernoulli("y", logit_p=eta, observed=problem.y)
        else:
            sigma2 = pm.InverseGamma("sigma2", alpha=IG[0], beta=IG[1])
            pm.Normal("y", mu=eta, sigma=pt.sqrt(sigma2), observed=problem.y)
        # a 20-iteration single-chain run compiles everything pm.sample compiles (logp
        # and gradient, initial point, trace functions) into PyTensor's on-disk cache
        pm.sample(draws=10, tune=10, chains=1, cores=1, random_seed=cfg.seed,
                  init=cfg.pymc_init, progressbar=False, compute_convergence_checks=False)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=cfg.draws, tune=cfg.warmup, chains=cfg.chains,
                          cores=min(cfg.cores, cfg.chains), random_seed=cfg.seed, init=cfg.pymc_init,
                          progressbar=False, compute_convergence_checks=False)
    sampling_s = time.perf_counter() - t0
    post = idata.posterior
    draws = to_fastgibbs_names(problem, post["beta"].values, post["tau2"].values, post["z"].values,
                               None if bern else post["sigma2"].values)
    return {"draws": draws, "version": _version("pymc", "pytensor"), "build_s": build_s,
            "build_note": "", "sampling_s": sampling_s,
            "divergent": int(idata.sample_stats["diverging"].sum()), "note": f"init={cfg.pymc_init}"}


def run_numpyro(problem, cfg):
    # one XLA host device per chain; must precede the first jax import (worker process)
    import numpyro
    numpyro.set_host_device_count(cfg.chains)
    numpyro.enable_x64()
    import jax
    import jax.monitoring
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    # JAX reports the time of each trace, lowering and XLA compile; their sum is the JIT
    # time, taken out of the run's wall time (one run, not a second run to time)
    jit_events = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
    jit_s = [0.0]

    def on_event(event, seconds, **_):
        if event in jit_events:
            jit_s[0] += seconds

    jax.monitoring.register_event_duration_secs_listener(on_event)

    factor, level = problem.stacked_levels()
    bern = problem.family == "bernoulli"
    args = dict(X=jnp.asarray(problem.X), y=jnp.asarray(problem.y), factor=jnp.asarray(factor),
                level=jnp.asarray(level))

    def model(X, y, factor, level):
        beta = numpyro.sample("beta", dist.Normal(jnp.asarray(problem.prior_mean),
                                                  jnp.asarray(problem.prior_sd)))
        tau2 = numpyro.sample("tau2", dist.InverseGamma(IG[0], IG[1]).expand([len(problem.groups)]))
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([int(sum(problem.n_levels))]))
        b = jnp.sqrt(tau2)[factor] * z
        eta = X @ beta + b[level].sum(axis=0)
        if bern:
            numpyro.sample("y", dist.Bernoulli(logits=eta), obs=y)
        else:
            sigma2 = numpyro.sample("sigma2", dist.InverseGamma(IG[0], IG[1]))
            numpyro.sample("y", dist.Normal(eta, jnp.sqrt(sigma2)), obs=y)

    mcmc = MCMC(NUTS(model), num_warmup=cfg.warmup, num_samples=cfg.draws, num_chains=cfg.chains,
                chain_method="parallel", progress_bar=False, jit_model_args=True)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(cfg.seed), **args, extra_fields=("diverging",))
    post = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(post)                    # run() returns before pmap finishes
    wall_s = time.perf_counter() - t0
    post = {k: np.asarray(v) for k, v in post.items()}
    draws = to_fastgibbs_names(problem, post["beta"], post["tau2"], post["z"],
                               None if bern else post["sigma2"])
    divergent = int(np.sum(np.asarray(mcmc.get_extra_fields()["diverging"])))
    return {"draws": draws, "version": _version("numpyro", "jax") + " (CPU, x64)",
            "build_s": jit_s[0], "build_note": "JIT", "sampling_s": wall_s - jit_s[0],
            "divergent": divergent, "note": f"run incl. JIT {wall_s:.1f} s"}


RUNNERS = {"fastgibbs": run_fastgibbs, "pystan": run_pystan, "pymc": run_pymc,
           "numpyro": run_numpyro}
PEER_MODULES = {"pystan": "stan", "pymc": "pymc", "numpyro": "numpyro"}


def available(engine):
    if engine == "fastgibbs":
        return True
    return importlib_util.find_spec(PEER_MODULES[engine]) is not None


# --------------------------------------------------------------------------- worker

def worker(args):
    """Run one (engine, model) fit and save the result to ``args.result`` (npz)."""
    problem = make_problem(args.worker_model, args.crossed_n)
    res = RUNNERS[args.worker_engine](problem, args)
    meta = {k: v for k, v in res.items() if k != "draws"}
    arrays = {"meta": np.array(json.dumps(meta))}
    if "draws" in res:
        arrays["draws"] = np.asarray(res["draws"], dtype=np.float64)
    np.savez(args.result, **arrays)


def _probe_loop(_):
    t0 = time.perf_counter()
    sum(i * i for i in range(1_000_000))
    return time.perf_counter() - t0


def speed_probe(pool, cores):
    """Seconds for a fixed pure-Python loop run on ``cores`` processes at once (slowest
    process, best of 3). Taken before every fit, so that a machine slowed by other load
    during the run shows in the report."""
    return min(max(pool.map(_probe_loop, range(cores))) for _ in range(3))


def wait_for_quiet(pool, args, probes):
    """Probe the machine; while it runs slower than SLOW x its best probe so far, wait
    (at most ``args.quiet_wait`` seconds). Returns the last probe."""
    waited = 0.0
    while True:
        probe = speed_probe(pool, args.cores)
        probes.append(probe)
        if probe <= SLOW * min(probes) or waited >= args.quiet_wait:
            return probe
        time.sleep(5.0)
        waited += 5.0


def run_in_subprocess(engine, model, args, log, fresh_compile=False):
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.npz")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker-engine", engine,
               "--worker-model", model, "--result", result, "--chains", str(args.chains),
               "--warmup", str(args.warmup), "--draws", str(args.draws), "--seed", str(args.seed),
               "--cores", str(args.cores), "--crossed-n", str(args.crossed_n),
               "--pymc-init", args.pymc_init, "--fg-repeats", str(args.fg_repeats)]
        # (the worker ignores --quiet-wait and --timeout; the parent applies them)
        if fresh_compile:
            cmd.append("--fresh-compile")
        env = dict(os.environ)
        if args.fresh_compile and engine == "pymc":
            env["PYTENSOR_FLAGS"] = ",".join(filter(None, [
                env.get("PYTENSOR_FLAGS"), f"base_compiledir={os.path.join(tmp, 'pytensor')}"]))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=log, stderr=log, timeout=args.timeout, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(result):
            return {"error": f"exit code {proc.returncode}; see {log.name}"}
        with np.load(result) as z:
            meta = json.loads(str(z["meta"]))
            if "draws" in z:
                meta["draws"] = z["draws"]
        meta["wall_s"] = wall
        return meta


# --------------------------------------------------------------------------- diagnostics

def diagnose(draws, names):
    """Bulk-ESS, MCSE of the mean and R-hat for every parameter, all by ArviZ."""
    import arviz as az
    ds = az.convert_to_dataset({"theta": draws}, coords={"param": list(names)},
                               dims={"theta": ["param"]})
    return pd.DataFrame({
        "mean": draws.mean(axis=(0, 1)),
        "ess_bulk": az.ess(ds, method="bulk")["theta"].values,
        "mcse_mean": az.mcse(ds, method="mean")["theta"].values,
        "r_hat": az.rhat(ds)["theta"].values,
    }, index=list(names))


def agreement(problem, diag, ref):
    """Worst |mean difference| / combined MCSE over fixed effects and sds.

    MCSEs mean nothing for chains that have not mixed, so no verdict then.
    """
    worst_rhat = max(diag["r_hat"].max(), ref["r_hat"].max())
    if worst_rhat > RHAT_OK:
        return f"n/a: not converged (max R-hat {worst_rhat:.2f})"
    keys = [n for n in problem.names if "[" not in n]
    z = (diag.loc[keys, "mean"] - ref.loc[keys, "mean"]).abs() / np.sqrt(
        diag.loc[keys, "mcse_mean"] ** 2 + ref.loc[keys, "mcse_mean"] ** 2)
    worst = z.idxmax()
    ok = bool((z <= AGREE_Z).all())
    bad = int((z > AGREE_Z).sum())
    text = f"yes (worst {worst}: {z[worst]:.1f})" if ok else \
        f"**no**: {bad}/{len(keys)} (worst {worst}: {z[worst]:.1f})"
    return text


def fmt_s(x, note=""):
    s = f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}"
    return f"{s} ({note})" if note else s


def fmt_num(x):
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def table(problem, results):
    """Markdown table for one model; ``results`` maps engine -> worker result."""
    lines = ["| engine | version | build s | sampling s | min bulk-ESS (parameter) | min-ESS/s "
             "| fg ratio | max R-hat | divergent | agree with fastgibbs (4 MCSE) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    diags, rates = {}, {}
    for engine, res in results.items():
        if "draws" in res:
            diags[engine] = diagnose(res["draws"], problem.names)
            d = diags[engine]
            rates[engine] = d["ess_bulk"].min() / res["sampling_s"]
    fg_rate = rates.get("fastgibbs")
    for engine, res in results.items():
        if "draws" not in res:
            why = res.get("unavailable") or res.get("error") or res.get("skipped")
            lines.append(f"| {engine} | {res.get('version', '')} | – | – | – | – | – | – | – | {why} |")
            continue
        d = diags[engine]
        who = d["ess_bulk"].idxmin()
        ratio = "1" if engine == "fastgibbs" else (
            fmt_num(fg_rate / rates[engine]) if fg_rate and rates[engine] > 0 else "–")
        agree = "–" if engine == "fastgibbs" else (
            agreement(problem, d, diags["fastgibbs"]) if "fastgibbs" in diags else "no fastgibbs fit")
        div = "–" if res["divergent"] is None else str(res["divergent"])
        version = res["version"] + (f"; {res['note']}" if res.get("note") else "")
        lines.append(f"| {engine} | {version} | {fmt_s(res['build_s'], res['build_note'])} "
                     f"| {fmt_s(res['sampling_s'])}{' †' if res.get('slow') else ''} "
                     f"| {d['ess_bulk'].min():.0f} ({who}) "
                     f"| {fmt_num(rates[engine])} | {ratio} | {d['r_hat'].max():.3f} | {div} | {agree} |")
    means = ["", "Posterior means (fixed effects and sds):", "",
             "| engine | " + " | ".join(n for n in problem.names if "[" not in n) + " |",
             "|---|" + "---|" * sum("[" not in n for n in problem.names)]
    for engine, d in diags.items():
        means.append(f"| {engine} | " + " | ".join(
            f"{d.loc[n, 'mean']:.4g} ± {d.loc[n, 'mcse_mean']:.1g}"
            for n in problem.names if "[" not in n) + " |")
    return "\n".join(lines + means)


def header(args, engines):
    import arviz as az
    versions = ", ".join(filter(None, [_version("fastgibbs"), f"Python {platform.python_version()}",
                                       _version("numpy"), f"arviz {az.__version__}"]))
    return "\n".join([
        "# fastgibbs against other samplers",
        "",
        f"Generated by `benchmarks/compare.py` on {datetime.date.today().isoformat()}; "
        f"{platform.machine()} Linux, {os.cpu_count()} cores, {args.cores} chains at a time.",
        f"{versions}. Engines run: {', '.join(engines)}. Compile times: "
        + ("first use (`--fresh-compile`: empty httpstan and PyTensor caches; the Stan program "
           "is shared by all models, so it compiles once)." if args.fresh_compile else
           "as cached by the engines (httpstan, PyTensor) from earlier runs."),
        "",
        f"Every engine: {args.chains} chains x ({args.warmup} warmup + {args.draws} draws), "
        f"seed {args.seed}, same data, likelihood and priors (inverse-gamma"
        f"({IG[0]}, {IG[1]}) on every variance). min bulk-ESS is over ALL parameters "
        "(fixed effects, sds, every group effect), computed for every engine by ArviZ "
        "(`az.ess(method=\"bulk\")`) on draws mapped to fastgibbs's names; min-ESS/s divides "
        "it by the sampling wall time (compile / JIT excluded, shown as build s). fg ratio = "
        "fastgibbs's min-ESS/s / the engine's. agree: every fixed effect and sd within "
        f"{AGREE_Z:g} sqrt(mcse_fg^2 + mcse_engine^2) of fastgibbs (worst |diff|/combined MCSE "
        "shown).",
    ])


def footer(argv, probes):
    lo, med, hi = np.min(probes), np.median(probes), np.max(probes)
    shown, skip = [], False
    for a in argv:                         # the log path is of no use to a reader
        if skip or a == "--log" or a.startswith("--log="):
            skip = a == "--log"
            continue
        shown.append(shlex.quote(a))
    command = " ".join(["python", "benchmarks/compare.py"] + shown)
    return "\n".join([
        "## How to reproduce",
        "",
        "```",
        "python -m venv /tmp/peers-venv",
        "/tmp/peers-venv/bin/pip install -r benchmarks/requirements-peers.txt",
        "# fastgibbs from the source tree (kernel built in place) or `pip install .`",
        f"PYTHONPATH=src /tmp/peers-venv/bin/{command}",
        "```",
        "",
        "## Caveats",
        "",
        "- Gibbs and NUTS differ in cost per draw and in autocorrelation per draw: a Gibbs "
        "sweep is cheap but its draws can be more autocorrelated (most often a group sd's), a "
        "NUTS draw costs many gradient evaluations. Only min bulk-ESS per second of sampling "
        "is comparable, and an ESS estimate from 1000 draws per chain is itself noisy.",
        "- fastgibbs fits take milliseconds to seconds; their times are the median of "
        "`--fg-repeats` identical fits, from `fit.timing` (sampler only; the design is "
        "build s). The peers' times are wall clock around their sampling call, so they also "
        "hold fixed costs: httpstan's process pool and the JSON transfer of the draws "
        "(PyStan), worker start-up and loading the cached compiled functions (PyMC), and "
        "dispatch (NumPyro).",
        "- Chains at a time: fastgibbs runs `--cores` threads; httpstan a process pool of "
        "os.cpu_count() workers; PyMC `cores=--cores` processes; NumPyro pmaps the chains over "
        "one XLA host device per chain, so its 4 chains share the 2 cores at once.",
        "- NumPyro compiles on every run; its JIT time is the sum of JAX's own trace, lowering "
        "and compile durations (`jax.monitoring`) and is taken out of the run's wall time.",
        "- PyMC runs with `init=\"adapt_diag\"`: with its default, `jitter+adapt_diag`, the "
        "Contraception chains stick (a 4 x (200 + 200) trial: max R-hat 8.5, 600 of 800 draws "
        "divergent; the shared reference measurements record a PyMC failure with 4000 "
        "divergences on the same model). adapt_diag starts every chain at the same point, which weakens R-hat as a "
        "check.",
        "- The inverse-gamma(0.001, 0.001) prior on variances is the shared reference prior, "
        "not a recommendation: it has most of its mass near zero and makes the group-sd "
        "posteriors hard for HMC (the peers sample log variances).",
        f"- Machine speed: a fixed pure-Python loop on every core at once (the speed probe) "
        f"took {1e3 * lo:.0f} ms at best, {1e3 * med:.0f} ms median and {1e3 * hi:.0f} ms at "
        f"worst over the {len(probes)} probes of this run. Before each fit the script waits "
        f"(up to --quiet-wait s) until the probe is within {SLOW:g} x its best; † marks a fit "
        "with a slow probe just before or after it, whose time is likely inflated by other "
        "load. Each engine ran once per model, so a slow spell during a fit goes straight into "
        "its row.",
        "- Equal seeds do not give equal random streams across engines; agreement is judged "
        "by Monte Carlo error only, and only when both engines reached R-hat <= "
        f"{RHAT_OK:g}.",
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS))
    p.add_argument("--engines", default=",".join(ENGINES), help="comma list of " + ", ".join(ENGINES))
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cores", type=int, default=2, help="chains run at once (default 2)")
    p.add_argument("--crossed-n", type=int, default=10_000, help="rows of the crossed design")
    p.add_argument("--fresh-compile", action="store_true",
                   help="time first-use compiles: delete httpstan's cached build of the shared "
                        "program before the first PyStan fit, give every PyMC fit an empty "
                        "PyTensor compile directory")
    p.add_argument("--pymc-init", default="adapt_diag",
                   help="pm.sample init (default adapt_diag: PyMC's own default, jitter+adapt_diag, "
                        "starts Contraception's chains where they stick)")
    p.add_argument("--fg-repeats", type=int, default=5,
                   help="identical fastgibbs fits whose median time is reported (default 5)")
    p.add_argument("--quiet-wait", type=float, default=120,
                   help="seconds to wait before a fit for the machine's speed probe to recover "
                        "(default 120)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per fit before giving up")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--log", default=None, help="engines' own output (default: a temp file)")
    p.add_argument("--worker-engine", help=argparse.SUPPRESS)
    p.add_argument("--worker-model", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.worker_engine:
        return worker(args)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for e in engines:
        if e not in ENGINES:
            p.error(f"unknown engine {e!r}")
    for m in models:
        if m not in MODELS:
            p.error(f"unknown model {m!r}")
    present = [e for e in engines if available(e)]
    log_path = args.log or tempfile.mkstemp(prefix="compare-", suffix=".log")[1]
    print(f"engines installed: {', '.join(present)}; not installed: "
          f"{', '.join(sorted(set(engines) - set(present))) or 'none'}; engine output -> {log_path}",
          file=sys.stderr)
    sections = [header(args, present)]
    print(sections[0] + "\n", flush=True)
    stan_compiled = False   # --fresh-compile clears the cache once: the program is shared
    pool = concurrent.futures.ProcessPoolExecutor(args.cores)
    probes = [speed_probe(pool, args.cores) for _ in range(5)]   # calibration
    with open(log_path, "a") as log:
        for model in models:
            problem = make_problem(model, args.crossed_n)
            results = {}
            for engine in engines:
                if engine not in present:
                    results[engine] = {"skipped": "not installed"}
                    continue
                print(f"[{time.strftime('%H:%M:%S')}] {model}: {engine} ...", file=sys.stderr)
                before = wait_for_quiet(pool, args, probes)
                log.write(f"\n===== {model}: {engine} (speed probe {before:.3f} s) =====\n")
                log.flush()
                fresh = engine == "pystan" and args.fresh_compile and not stan_compiled
                stan_compiled |= engine == "pystan"
                try:
                    results[engine] = run_in_subprocess(engine, model, args, log, fresh)
                except subprocess.TimeoutExpired:
                    results[engine] = {"error": f"timed out after {args.timeout:.0f} s"}
                res = results[engine]
                after = speed_probe(pool, args.cores)
                probes.append(after)
                res["slow"] = max(before, after) > SLOW * min(probes)
                print(f"    {res.get('error') or res.get('unavailable') or 'done'}"
                      f" ({res.get('wall_s', 0):.1f} s wall)", file=sys.stderr)
            section = f"## {problem.title}\n\n{table(problem, results)}"
            print("\n" + section + "\n", flush=True)
            sections.append(section)
    pool.shutdown()
    sections.append(footer(argv, probes or [np.nan]))
    print(sections[-1], flush=True)
    report = "\n\n".join(sections) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
