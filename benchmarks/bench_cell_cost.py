"""Cost per sweep and per cell of the GLMM kernels on the Stan-reference models (issue 13):
sampling only, one chain, one core, 3,000 sweeps after warmup.

    PYTHONPATH=src python benchmarks/bench_cell_cost.py
"""
import sys; sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import fastgibbs as fg
from sweeps import kernel_for, time_sweeps
from bench_table import STAN_MODELS
for name in ("grouseticks", "epil", "cbpp_olre"):
    formula, dataset, family = STAN_MODELS[name]
    data = fg.datasets.load(dataset)
    if name == "cbpp_olre":
        data["obs"] = [str(i + 1) for i in range(len(data))]
    m = fg.Model(formula, data, family=family)
    k, bg = kernel_for(m)
    t = time_sweeps(k, bg, 3000)
    cells = m.problem.n_cells
    print(f"{name}: {t*1e6:.0f} us per sweep, {cells} cells, {t/cells*1e9:.0f} ns per cell per sweep")
