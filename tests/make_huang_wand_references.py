"""Reference posteriors of the correlated-slopes cells of the model matrix under the
matrix half-t prior (fg.HuangWand), for tests/test_huang_wand.py.

The model matrix pins fg.InvWishart for its correlated cells (its references predate
the new default); this runs the same plain random-walk Metropolis sampler
(tests/reference_sampler.py, which writes the Huang-Wand density with the auxiliaries
integrated out) on the committed matrix datasets with HUANG_WAND_PRIOR instead, and
stores means, sds and their Monte Carlo errors in
tests/data/huang_wand_references.json.

    PYTHONPATH=src python tests/make_huang_wand_references.py [--cells family ...]
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fastgibbs as fg  # noqa: E402
import matrix  # noqa: E402
import reference_sampler  # noqa: E402

OUT = Path(__file__).parent / "data" / "huang_wand_references.json"
STRUCTURE = "corr_slope_crossed"
HUANG_WAND_PRIOR = fg.HuangWand(nu=2.0, scale=[1.0, 0.7])


def priors(design):
    out = matrix.reference_priors(design)
    out[design.blocks[0].covariance_key] = HUANG_WAND_PRIOR
    return out


def run(family, seed=7):
    from fastgibbs.design import build_design
    from fastgibbs.priors import resolve_priors
    from fastgibbs.samplers.problem import parameter_layout

    data = matrix.load_reference_dataset(family, STRUCTURE)
    design = build_design(matrix.formula(family, STRUCTURE), data,
                          **matrix.family_kwargs(family))
    post = reference_sampler.LogPosterior(design, resolve_priors(design, priors(design)))
    t0 = time.perf_counter()
    draws, acceptance = reference_sampler.sample(post, n_warmup=20000, n_draws=100000,
                                                 thin=10, seed=seed)
    names, _ = parameter_layout(design)
    values = post.to_parameters(draws, names)
    out = reference_sampler.summary(values, names)
    return {"formula": matrix.formula(family, STRUCTURE), "prior": repr(HUANG_WAND_PRIOR),
            "acceptance": acceptance, "seconds": time.perf_counter() - t0, "parameters": out}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", nargs="*", default=["gaussian"], help="families")
    args = parser.parse_args(argv)
    existing = json.loads(OUT.read_text()) if OUT.exists() else {}
    for family in args.cells:
        result = run(family)
        existing[f"{family}:{STRUCTURE}"] = result
        low = min(v["ess_bulk"] for v in result["parameters"].values())
        print(f"{family}: acceptance {result['acceptance']:.2f}, min ESS {low:.0f}, "
              f"{result['seconds']:.0f} s", flush=True)
        OUT.write_text(json.dumps(dict(sorted(existing.items())), indent=1))


if __name__ == "__main__":
    main()
