"""Write the model matrix's datasets and reference posteriors.

For every fitted cell of tests/matrix.py: simulate its dataset (seeded) into
tests/data/matrix/<family>__<structure>.csv, run the plain random-walk Metropolis
sampler of tests/reference_sampler.py under the cell's reference priors, and store
each parameter's posterior mean, sd, their Monte Carlo standard errors and bulk ESS
(computed by ArviZ, not by fastgibbs) in tests/data/matrix_references.json.

    PYTHONPATH=src python tests/make_matrix_references.py [--cells family:structure ...]
        [--jobs 2]

About a minute per cell on this project's machine; structured cells (their term's
prior from matrix.structured_prior, the design with the structure attached) run a
shorter chain, STRUCTURED_RUN, about 15-45 s each.
"""
import argparse
from concurrent.futures import ProcessPoolExecutor
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import matrix  # noqa: E402
import reference_sampler  # noqa: E402

# (warmup, draws, thin) of the random-walk Metropolis run per cell
RUN = (20000, 120000, 10)
STRUCTURED_RUN = (8000, 40000, 10)


def run_cell(cell):
    from fastgibbs.design import build_design
    from fastgibbs.gmrf import attach_structures
    from fastgibbs.priors import resolve_priors
    from fastgibbs.samplers.problem import parameter_layout

    family, structure = cell
    seed = matrix.cell_seed(family, structure)
    data = matrix.make_reference_dataset(family, structure, seed)
    matrix.DATA.mkdir(parents=True, exist_ok=True)
    data.to_csv(matrix.dataset_path(family, structure), index=False)
    data = matrix.load_reference_dataset(family, structure)
    design = build_design(matrix.formula(family, structure), data,
                          **matrix.family_kwargs(family))
    priors = resolve_priors(design, matrix.reference_priors(design, structure))
    design = attach_structures(design, priors)       # structured terms: the field's levels
    post = reference_sampler.LogPosterior(design, priors)
    t0 = time.perf_counter()
    warmup, draws, thin = STRUCTURED_RUN if matrix.is_structured(structure) else RUN
    draws, acceptance = reference_sampler.sample(post, n_warmup=warmup, n_draws=draws,
                                                 thin=thin, seed=seed)
    names, _ = parameter_layout(design)
    values = post.to_parameters(draws, names)            # (chains, draws, params)
    out = reference_sampler.summary(values, names)
    return f"{family}:{structure}", {
        "formula": matrix.formula(family, structure), "family": family,
        "link": design.family.link,
        "n_obs": design.n_obs, "acceptance": acceptance,
        "seconds": time.perf_counter() - t0, "chains": draws.shape[0],
        "draws_per_chain": draws.shape[1], "parameters": out}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", nargs="*", help="family:structure (default: all)")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    cells = matrix.fitted_cells() if not args.cells else \
        [tuple(c.split(":")) for c in args.cells]
    existing = json.loads(matrix.REFERENCES.read_text()) if matrix.REFERENCES.exists() else {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for key, result in pool.map(run_cell, cells):
            existing[key] = result
            low = min(v["ess_bulk"] for v in result["parameters"].values())
            print(f"{key}: acceptance {result['acceptance']:.2f}, min ESS {low:.0f}, "
                  f"{result['seconds']:.0f} s", flush=True)
            matrix.REFERENCES.write_text(json.dumps(dict(sorted(existing.items())), indent=1))


if __name__ == "__main__":
    main()
