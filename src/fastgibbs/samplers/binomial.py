"""Binomial and Bernoulli multilevel models by Polya-Gamma augmentation.

Rows that share the same fixed-effect row, the same varying-coefficient rows and the
same groups are collapsed into one binomial cell (successes and trials summed): the
likelihood is the same, and the kernel then draws one PG(n, eta) variate per cell
instead of n PG(1, eta) ones. The Gaussian kernel does the rest (see _core.pyx).
"""
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np

from . import gaussian

__all__ = ["BinomialProblem", "binomial_problem", "run_chain", "with_response"]


@dataclass(frozen=True, eq=False)
class BinomialProblem:
    """The Gaussian layout (offsets, priors, cell structure) plus the binomial cells."""

    layout: gaussian.GaussianProblem
    cells: dict
    n_obs: int
    row_cell: np.ndarray             # (n_obs,) the cell of each row

    @property
    def n_cells(self):
        return len(self.cells["n_trials"])


def _aggregate(design):
    """Unique (X row, Z rows, groups) patterns: inverse index and the pattern rows."""
    parts = [design.X] + [b.Z for b in design.blocks] + \
        [b.group[:, None].astype(float) for b in design.blocks]
    key = np.hstack(parts) if parts else np.zeros((design.n_obs, 0))
    if key.shape[1] == 0:
        return np.zeros(design.n_obs, dtype=np.intp), np.zeros(1, dtype=np.intp)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.intp), first


def binomial_problem(design, priors):
    """Cells and kernel layout for a bernoulli/binomial ``design``."""
    inverse, first = _aggregate(design)
    n_cells = len(first)
    successes = np.bincount(inverse, weights=design.y, minlength=n_cells)
    trials = np.bincount(inverse, weights=design.trials, minlength=n_cells)
    blocks = [SimpleNamespace(group=b.group[first], Z=np.ascontiguousarray(b.Z[first]),
                              n_groups=b.n_groups, n_re=b.n_re, terms=b.terms,
                              correlated=b.correlated, covariance_key=b.covariance_key,
                              correlation_names=b.correlation_names)
              for b in design.blocks]
    cell_design = SimpleNamespace(y=np.zeros(n_cells), X=np.asfortranarray(design.X[first]),
                                  fixed_names=design.fixed_names, blocks=blocks)
    layout = gaussian.gaussian_problem(cell_design, priors, center=False)
    layout = replace(layout, sd_y=1.0)   # initial values on the logit scale
    pair = gaussian._pair_cells(blocks)
    z_parts = [b.Z.ravel() for b in blocks]
    cells = {
        "X": np.ascontiguousarray(design.X[first]),
        "n_trials": trials,
        "kappa": successes - trials / 2.0,
        "Z": np.ascontiguousarray(np.concatenate(z_parts)) if z_parts else np.zeros(0),
        "z_off": np.concatenate([[0], np.cumsum([p.size for p in z_parts])[:-1]]).astype(np.intp)
        if z_parts else np.zeros(0, dtype=np.intp),
        "group": np.ascontiguousarray(np.concatenate([b.group for b in blocks])).astype(np.intp)
        if blocks else np.zeros(0, dtype=np.intp),
        "obs_cell": pair[5],
    }
    return BinomialProblem(layout=layout, cells=cells, n_obs=design.n_obs, row_cell=inverse)


def with_response(problem, design, y):
    """``problem`` with new successes ``y`` (same rows, trials and design)."""
    y = np.asarray(y, dtype=float)
    if y.shape != (design.n_obs,):
        raise ValueError(f"y must have shape ({design.n_obs},), got {y.shape}")
    if np.any(y < 0) or np.any(y > design.trials) or np.any(y != np.round(y)):
        raise ValueError("y must hold integer successes between 0 and the trials")
    successes = np.bincount(problem.row_cell, weights=y, minlength=problem.n_cells)
    cells = dict(problem.cells, kappa=successes - problem.cells["n_trials"] / 2.0)
    return replace(problem, cells=cells)


def run_chain(problem, seed_seq, n_warmup, n_draws, thin=1, interweave=True, on_progress=None):
    """One chain from dispersed initial values: (warmup, draws)."""
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    layout = problem.layout
    state = gaussian.initial_state(layout, rng)
    state["sigma"] = np.array([1.0, 1.0])
    return gaussian.run_sweeps_reporting(layout, state, rng.bit_generator, n_warmup, n_draws,
                                         thin, interweave=interweave, cells=problem.cells,
                                         on_progress=on_progress)
