"""ESS per CPU second of the group sds for several builds, measured in alternation.

Run:  python benchmarks/bench_sd_moves.py old=/path/to/old/src new=src [--rounds 2]
          [--models nes,sleepstudy,crossed,students,grouseticks,contraception]

Written for the change that skips the centred and non-centred sd moves of a factor
that is a chain by itself after its collapsed sd step (session 9): it moves the cost
per sweep and the ESS per draw of the sds in opposite directions, so the measure is
their ratio. Each round runs every tree once per model, in a fresh process with
``PYTHONPATH`` set to the tree's ``src`` (a built checkout); a run samples the model
``reps`` times (seeds 10, 11, ...) with 4 chains x (1000 warmup + ``draws``) one chain
after another (``n_jobs=1``), and reports the CPU seconds per fit (sampling only),
the bulk ESS of every group sd (mean over the seeds) and the smallest bulk ESS of all
parameters. The summary prints, per model and tree, the medians over rounds of CPU
per fit, of the sds' ESS and of (smallest sd ESS) / (CPU per fit).

Models: NES ``(1 | state)``, sleepstudy ``(Days || Subject)``, a synthetic crossed
``(1 | a) + (1 | b)`` (8,000 rows, 300 x 60 levels), bench_table's students in schools
in districts (a nested chain: unchanged by that change), lme4's grouseticks Poisson
with three factors, and bench_table's Contraception bernoulli.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# model -> (draws per chain, fits per run)
MODELS = {"nes": (4000, 6), "sleepstudy": (4000, 4), "crossed": (2000, 2),
          "students": (1000, 1), "grouseticks": (1000, 1), "contraception": (2000, 1)}

CHILD = r"""
import json, sys, time, warnings
sys.path.insert(0, {bench!r})
import numpy as np, pandas as pd
import fastgibbs as fg
import bench_table

def model(name):
    if name == "nes":
        return bench_table.nes()
    if name == "students":
        return bench_table.students()
    if name == "contraception":
        return bench_table.contraception()
    if name == "sleepstudy":
        return ("Reaction ~ Days + (Days || Subject)", fg.datasets.load("sleepstudy"),
                "gaussian", None)
    if name == "grouseticks":
        return ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                fg.datasets.load("grouseticks"), "poisson", None)
    rng = np.random.default_rng(3)
    n = 8000
    a, b = rng.integers(0, 300, n), rng.integers(0, 60, n)
    y = 0.3 * rng.normal(size=300)[a] + 0.5 * rng.normal(size=60)[b] + rng.normal(size=n)
    return ("y ~ 1 + (1 | a) + (1 | b)",
            pd.DataFrame({{"y": y, "a": a.astype(str), "b": b.astype(str)}}), "gaussian", None)

formula, data, family, priors = model({name!r})
m = fg.Model(formula, data, family=family, priors=priors)
cpu, sds, mins = 0.0, [], []
for seed in range({reps}):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c0 = time.process_time()
        fit = m.sample(chains=4, warmup=1000, draws={draws}, seed=10 + seed, n_jobs=1)
        cpu += time.process_time() - c0
        table = fit.summary()
    names = [n for n in table.index if n.endswith("_sigma")]
    sds.append(table.loc[names, "ess_bulk"].to_numpy())
    mins.append(float(table["ess_bulk"].min()))
print(json.dumps({{"cpu": cpu / {reps}, "sd_names": names,
                  "sd_ess": np.mean(sds, axis=0).tolist(), "min_ess": float(np.mean(mins))}}))
"""


def one_run(src, name):
    draws, reps = MODELS[name]
    code = CHILD.format(bench=str(HERE), name=name, draws=draws, reps=reps)
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd="/").stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", help="name=path/to/src")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.trees)
    models = args.models.split(",")
    print(f"load average at the start: {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    runs = {(m, t): [] for m in models for t in trees}
    for r in range(args.rounds):
        for m in models:
            for t, src in trees.items():
                res = one_run(src, m)
                runs[m, t].append(res)
                print(f"round {r + 1} {m:13s} {t:8s} CPU/fit {res['cpu']:7.3f} s  sd ESS "
                      f"{[round(v) for v in res['sd_ess']]}  min ESS {res['min_ess']:.0f}",
                      flush=True)
    print("\n| model | tree | CPU per fit, s | bulk ESS of the sds | smallest sd ESS per CPU s |")
    print("|---|---|---|---|---|")
    for m in models:
        for t in trees:
            rs = runs[m, t]
            cpu = float(np.median([x["cpu"] for x in rs]))
            ess = np.median([x["sd_ess"] for x in rs], axis=0)
            rate = float(np.median([min(x["sd_ess"]) / x["cpu"] for x in rs]))
            names = rs[0]["sd_names"]
            shown = ", ".join(f"{n} {v:,.0f}" for n, v in zip(names, ess))
            print(f"| {m} | {t} | {cpu:.3f} | {shown} | {rate:,.0f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
