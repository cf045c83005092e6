"""Fit an ``fg.Model``'s exact model (same design, same priors) in JAGS, for the
benchmark ratios of ``bench_table.py``. Never used by the tests.

JAGS (4.3, with rjags and its ``glm`` module, from ``apt-get install jags r-cran-rjags``)
runs through ``jags/run_jags.R``: ``jobs`` R processes at once, each with
``chains / jobs`` chains, so JAGS uses the cores as fastgibbs does. The draws come back
under fastgibbs's parameter names, so both engines' ESS come from one implementation
(``fastgibbs.diagnostics``).

Supported: gaussian and bernoulli families; intercept-only group terms ``(1 | g)``
(any number of factors, nested or crossed: every level of every factor is its own
term); priors ``fg.Normal`` on fixed effects, ``fg.InvGamma`` (on a variance) or
``fg.HalfCauchy`` (on an sd) on sigma and group sds.
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pandas as pd

import fastgibbs as fg

HERE = os.path.dirname(os.path.abspath(__file__))


def available():
    """True when Rscript, JAGS and rjags are installed."""
    if shutil.which("Rscript") is None or shutil.which("jags") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(rjags)"], capture_output=True)
    return probe.returncode == 0


def _sd_prior(name, prior, prec):
    """JAGS lines giving precision ``prec`` and sd ``name`` from a fastgibbs prior."""
    if isinstance(prior, fg.InvGamma):
        return [f"{prec} ~ dgamma({prior.shape!r}, {prior.scale!r})",
                f"{name} <- pow({prec}, -0.5)"]
    if isinstance(prior, fg.HalfCauchy):
        return [f"{name} ~ dt(0, {1.0 / prior.scale ** 2!r}, 1) T(0,)",
                f"{prec} <- pow({name}, -2)"]
    raise TypeError(f"no JAGS prior for {prior!r}")


def model_text(model, priors):
    """The JAGS program of ``model`` (an fg.Model) under ``priors`` (explicit, by
    fastgibbs name: every fixed effect, ``sigma`` (gaussian) and every ``1|g``)."""
    design = model.design
    family = design.family.name
    factors = [b for b in design.blocks]
    if any(b.Z.shape[1] != 1 or b.columns != ("1",) for b in factors):
        raise ValueError("jags_runner handles intercept-only group terms only")
    eta = "inprod(X[i, ], beta[])" + "".join(f" + u{k}[g{k}[i]]" for k in range(len(factors)))
    lines = ["model {", "  for (i in 1:N) {"]
    if family == "gaussian":
        lines += [f"    y[i] ~ dnorm({eta}, prec_y)"]
    elif family == "bernoulli":
        lines += [f"    logit(p[i]) <- {eta}", "    y[i] ~ dbern(p[i])"]
    else:
        raise ValueError(f"jags_runner has no {family} family")
    lines += ["  }"]
    for m, name in enumerate(design.fixed_names):
        prior = priors[name]
        lines.append(f"  beta[{m + 1}] ~ dnorm({prior.mu!r}, {1.0 / prior.sigma ** 2!r})")
    for k, block in enumerate(factors):
        lines += [f"  for (j in 1:J{k}) {{ u{k}[j] ~ dnorm(0, prec{k}) }}"]
        lines += ["  " + x for x in _sd_prior(f"sd{k}", priors[block.terms[0]], f"prec{k}")]
    if family == "gaussian":
        lines += ["  " + x for x in _sd_prior("sigma", priors["sigma"], "prec_y")]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _names(model):
    """JAGS node name -> fastgibbs parameter name."""
    design = model.design
    names = {f"beta[{m + 1}]": n for m, n in enumerate(design.fixed_names)}
    if design.family.name == "gaussian":
        names["sigma"] = "sigma"
    for k, block in enumerate(design.blocks):
        term = block.terms[0]
        names[f"sd{k}"] = term + "_sigma"
        for j, level in enumerate(block.levels):
            names[f"u{k}[{j + 1}]"] = f"{term}[{level}]"
    return names


def _run_one(args):
    return subprocess.run(args, capture_output=True, text=True)


def run(model, priors, chains=4, warmup=1000, draws=4000, seed=1, jobs=2):
    """Fit ``model`` in JAGS: a dict with ``draws`` (chains, draws, params) in the order
    of ``names`` (fastgibbs's parameter names), ``compile`` and ``sampling`` seconds
    (the slowest process: they run at once), and ``version``."""
    design = model.design
    data = {"N": design.n_obs, "X": design.X.tolist(), "y": design.y.tolist()}
    for k, block in enumerate(design.blocks):
        data[f"g{k}"] = (block.group + 1).tolist()
        data[f"J{k}"] = int(block.n_groups)
    names = _names(model)
    per_job = [chains // jobs + (1 if j < chains % jobs else 0) for j in range(jobs)]
    per_job = [c for c in per_job if c]
    with tempfile.TemporaryDirectory() as tmp:
        bug = os.path.join(tmp, "model.bug")
        with open(bug, "w") as f:
            f.write(model_text(model, priors))
        with open(os.path.join(tmp, "data.json"), "w") as f:
            json.dump(data, f)
        monitors = sorted({n.split("[")[0] for n in names})
        calls = [["Rscript", os.path.join(HERE, "jags", "run_jags.R"), bug,
                  os.path.join(tmp, "data.json"), ",".join(monitors),
                  os.path.join(tmp, f"out{j}.csv"), str(c), str(warmup), str(draws),
                  str(seed * 10 + j)] for j, c in enumerate(per_job)]
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            done = list(pool.map(_run_one, calls))
        for result in done:
            if result.returncode != 0:
                raise RuntimeError("JAGS failed:\n" + result.stderr[-2000:])
        arrays, info = [], []
        order = list(names)
        for j in range(len(calls)):
            table = pd.read_csv(os.path.join(tmp, f"out{j}.csv"))
            for _, chain in table.groupby("chain"):
                arrays.append(chain[order].to_numpy())
            with open(os.path.join(tmp, f"out{j}.csv.json")) as f:
                info.append(json.load(f))
    return {"draws": np.stack(arrays), "names": [names[n] for n in order],
            "compile": max(i["compile"] for i in info),
            "sampling": max(i["sampling"] for i in info),
            "version": f"JAGS {info[0]['jags']} / rjags {info[0]['version']} (glm module)"}
