"""Whole-fit overhead: import time, the first fit in a fresh process, the summary of the
NES fit, and ``fastgibbs example`` (issue 12, item 2).

    PYTHONPATH=src python benchmarks/bench_overhead.py [--runs 7] [--compare OTHER/src]

Every figure comes from a new interpreter (``subprocess``), timed inside it with
``time.perf_counter`` (interpreter start-up excluded), except ``fastgibbs example``,
which is timed from outside as the user sees it (wall time, and the CPU time of the
process, which a loaded machine inflates less). Medians over ``--runs``.
``--compare`` times a second source tree (e.g. an older commit unpacked with
``git archive``, extensions built in place) with every run of the two trees
alternating, so that changes in machine load hit both alike.
"""
import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile

import numpy as np

NES = ('fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", fg.datasets.load("nes2000"), '
       'chains=4, warmup=1000, draws=4000, seed=1)')

IMPORT_BASE = """
import json, time
t = time.perf_counter()
import numpy, pandas
print(json.dumps({"numpy + pandas": time.perf_counter() - t}))
"""
IMPORT_FG = """
import json, time
t = time.perf_counter()
import fastgibbs
print(json.dumps({"fastgibbs": time.perf_counter() - t}))
"""
FIRST_FIT = f"""
import json, time
t0 = time.perf_counter()
import fastgibbs as fg
t1 = time.perf_counter()
fit = {NES}
t2 = time.perf_counter()
fit.summary()
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "fit": t2 - t1, "of which sampling": fit.timing["sampling"],
                  "summary": t3 - t2, "total": t3 - t0}}))
"""
WARM_SUMMARY = f"""
import json, time
import numpy as np
import fastgibbs as fg
from fastgibbs import diagnostics
fit = {NES}
diagnostics.summarize(fit.draws_array, names=list(fit.names))
times = []
for _ in range(15):
    t0 = time.perf_counter()
    diagnostics.summarize(fit.draws_array, names=list(fit.names))
    times.append(time.perf_counter() - t0)
print(json.dumps({{"summary ms": 1000 * float(np.median(times))}}))
"""
EXAMPLE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run([sys.executable, "-m", "fastgibbs", "example", "--out", OUT],
               capture_output=True, check=True)
wall = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu (user + sys)": usage.ru_utime + usage.ru_stime}))
"""
EXAMPLE_PHASES = """
import json, time
from pathlib import Path
marks = [("start", time.perf_counter())]
import matplotlib.figure
marks.append(("import matplotlib", time.perf_counter()))
import fastgibbs as fg
from fastgibbs import cli
marks.append(("import fastgibbs", time.perf_counter()))
fit = fg.fit(cli.NES_FORMULA, fg.datasets.load("nes2000"), priors=cli._nes_priors(fg),
             chains=4, warmup=1000, draws=4000, seed=1)
marks.append(("fit", time.perf_counter()))
text = str(fit)
marks.append(("print(fit)", time.perf_counter()))
out = Path(OUT)
cli._save_plot(fit.plot_trace(["Intercept", "partyid7", "sigma", "1|state_sigma"]),
               out / "trace.png")
marks.append(("trace plot + PNG", time.perf_counter()))
cli._save_plot(fit.plot_intervals("1|state"), out / "state_intervals.png")
marks.append(("intervals plot + PNG", time.perf_counter()))
fit.save(out / "nes2000_fit.npz")
marks.append(("fit.save", time.perf_counter()))
print(json.dumps({b[0]: b[1] - a[1] for a, b in zip(marks, marks[1:])}))
"""


# An installed fastgibbs has its modules byte-compiled (pip compiles them); a source tree
# on PYTHONPATH under PYTHONDONTWRITEBYTECODE=1 (set on the project's machines) compiles
# every module at every import, which inflated the import time by about 0.1 s. The runs
# here cache bytecode outside the tree, as an installed package would have it.
_PYCACHE = tempfile.mkdtemp(prefix="fastgibbs-pycache-")


def run_python(code, src):
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONPYCACHEPREFIX=_PYCACHE)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(code, trees, runs, extra=None):
    """{tree: {key: median over runs}}, the trees' runs alternating; ``extra``
    ``(name, code)`` is one more job in the alternation, on the first tree."""
    jobs = [(name, code, src) for name, src in trees.items()]
    if extra is not None:
        jobs.append((extra[0], extra[1], next(iter(trees.values()))))
    results = {name: [] for name, _, _ in jobs}
    for _ in range(runs):
        for name, job, src in jobs:
            results[name].append(run_python(job, src))
    return {name: {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
            for name, rows in results.items()}


def show(title, medians, unit="s"):
    for name, values in medians.items():
        text = ", ".join(f"{key} {value:.3f}" if unit == "s" else f"{key} {value:.1f}"
                         for key, value in values.items())
        print(f"{title} [{name}]: {text}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare", help="src folder of another fastgibbs tree")
    args = parser.parse_args()
    here = os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parent.parent / "src")
    trees = {"this": here}
    if args.compare:
        trees["compared"] = args.compare
    print(f"machine load average at start: {os.getloadavg()[0]:.2f}; medians of {args.runs}")
    for src in trees.values():  # compile the bytecode once, as installing would
        run_python(IMPORT_FG, src)

    imports = measure(IMPORT_FG, trees, args.runs, extra=("base", IMPORT_BASE))
    base = imports.pop("base")["numpy + pandas"]
    print(f"import numpy + pandas: {base:.3f} s")
    for name, values in imports.items():
        print(f"import fastgibbs [{name}]: {values['fastgibbs']:.3f} s "
              f"({values['fastgibbs'] / base:.2f}x numpy + pandas)")
    show("first NES fit in a fresh process, s", measure(FIRST_FIT, trees, args.runs))
    show("summary of the NES fit (48 parameters x 16,000 draws), warm",
         measure(WARM_SUMMARY, trees, args.runs), unit="ms")
    with tempfile.TemporaryDirectory() as tmp:
        show("fastgibbs example, s from the shell",
             measure(EXAMPLE.replace("OUT", repr(tmp)), trees, args.runs))
        show("  where its time goes, s", measure(EXAMPLE_PHASES.replace("OUT", repr(tmp)),
                                                 trees, args.runs))
    print(f"machine load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
