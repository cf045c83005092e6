"""The model matrix: every family x every random-effect structure the formula accepts.

Each cell has (a) a Geweke joint-distribution test (tests/geweke.py) on a tiny design
and (b) agreement of posterior means and sds with an independent reference: the plain
NumPy random-walk Metropolis sampler of tests/reference_sampler.py, run once by
``python tests/make_matrix_references.py`` on the datasets in tests/data/matrix/
(committed with its output, tests/data/matrix_references.json). A cell the library
cannot fit must raise before sampling (``REFUSED``).

Adding a family: add it to FAMILIES (with its Geweke and reference priors and
its data generator below); adding a structure: add it to STRUCTURES with a
data generator; then regenerate the references.
"""
from pathlib import Path

import numpy as np
import pandas as pd

import fastgibbs as fg

DATA = Path(__file__).parent / "data" / "matrix"
REFERENCES = Path(__file__).parent / "data" / "matrix_references.json"

# a family label of the matrix (also the dataset file prefix) -> fit()'s arguments;
# new labels go at the end, so that the seeds of existing cells stay as they were
FAMILIES = ("gaussian", "bernoulli", "binomial", "poisson", "negativebinomial", "probit",
            "cumulative", "t")
# families whose priors, data and reference likelihood are here but whose reference
# posteriors are not made yet; add them to FAMILIES once make_matrix_references.py has
# run on them
PENDING_FAMILIES = ()
FIT_ARGS = {"probit": {"family": "bernoulli", "link": "probit"}}


def family_kwargs(label):
    """Keyword arguments (family, link) of fit/Model/build_design for a family label."""
    return dict(FIT_ARGS.get(label, {"family": label}))


# structure -> (right-hand side, grouping layout)
STRUCTURES = {
    "one_factor": ("1 + x + (1 | g)", "g"),
    "crossed2": ("1 + x + (1 | a) + (1 | b)", "crossed2"),
    "crossed3": ("1 + x + (1 | a) + (1 | b) + (1 | c)", "crossed3"),
    "nested2": ("1 + x + (1 | a/b)", "nested2"),
    "nested3": ("1 + x + (1 | a/b/c)", "nested3"),
    "obs_level": ("1 + x + (1 | g) + (1 | obs)", "g"),
    "corr_slope_crossed": ("1 + x + (1 + x | g) + (1 | b)", "crossed_gb"),
    "uncorr_slopes": ("1 + x + (1 + x || g)", "g"),
    "slope_only": ("1 + x + (0 + x | g)", "g"),
    "group_predictor": ("1 + x + gx + (1 | g)", "g"),
}

# cells that must be refused before sampling: (family, structure) -> (error, match)
REFUSED = {
    ("gaussian", "obs_level"): (ValueError, "one observation per level"),
    # binary data cannot be overdispersed: the variance would rest on its prior alone
    ("bernoulli", "obs_level"): (ValueError, "binary"),
    ("probit", "obs_level"): (ValueError, "binary"),
    ("t", "obs_level"): (ValueError, "one observation per level"),
    # one ordinal observation per level cannot tell a variance from the latent scale
    ("cumulative", "obs_level"): (ValueError, "one observation per level"),
}


def response_lhs(family):
    return "p(s, n)" if family == "binomial" else "y"


def formula(family, structure):
    return f"{response_lhs(family)} ~ {STRUCTURES[structure][0]}"


def cells():
    """Every (family, structure) pair."""
    return [(f, s) for f in FAMILIES for s in STRUCTURES]


# The seed position of a family whose cells were made at another place in FAMILIES:
# t's datasets and references were made while t was the 7th family, as cumulative's
# were on another branch; both keep position 6, so the committed files re-create.
SEED_POSITION = {"t": 6}


def cell_seed(family, structure):
    """The seed of a cell's dataset and reference run (make_matrix_references.py)."""
    position = SEED_POSITION.get(family, FAMILIES.index(family))
    return 1000 + position * len(STRUCTURES) + list(STRUCTURES).index(structure)


def fitted_cells():
    return [c for c in cells() if c not in REFUSED]


# ----------------------------------------------------------------------------------
# Grouping layouts and covariates
# ----------------------------------------------------------------------------------
def layout(kind, n_per, rng):
    """Grouping columns for a layout: a DataFrame of string columns and x, gx, obs."""
    if kind == "g":
        g = np.repeat(np.arange(5), n_per)
        frame = {"g": g}
    elif kind == "crossed2":
        a = np.repeat(np.arange(4), 3 * n_per // 2)
        b = np.tile(np.arange(3), len(a) // 3 + 1)[:len(a)]
        rng.shuffle(b)
        frame = {"a": a, "b": b}
    elif kind == "crossed3":
        n = 5 * n_per
        frame = {"a": rng.integers(0, 3, n), "b": rng.integers(0, 3, n),
                 "c": rng.integers(0, 3, n)}
        for col in frame.values():            # every level present
            col[:3] = np.arange(3)
    elif kind == "nested2":
        a = np.repeat(np.arange(3), 2 * n_per)
        b = np.tile(np.repeat(np.arange(2), n_per), 3)
        frame = {"a": a, "b": b}
    elif kind == "nested3":
        m = max(n_per // 2, 2)              # rows per a:b:c group; 2 x 2 x 2 groups
        a = np.repeat(np.arange(2), 4 * m)
        b = np.tile(np.repeat(np.arange(2), 2 * m), 2)
        c = np.tile(np.repeat(np.arange(2), m), 4)
        frame = {"a": a, "b": b, "c": c}
    elif kind == "crossed_gb":
        g = np.repeat(np.arange(5), n_per)
        b = np.tile(np.arange(3), len(g) // 3 + 1)[:len(g)]
        rng.shuffle(b)
        frame = {"g": g, "b": b}
    else:
        raise ValueError(kind)
    data = pd.DataFrame({k: np.asarray(v).astype(str) for k, v in frame.items()})
    n = len(data)
    data["x"] = np.round(rng.normal(size=n), 3)
    data["obs"] = [f"o{i}" for i in range(n)]
    if "g" in data:
        level = {lvl: np.round(rng.normal(), 3) for lvl in sorted(data["g"].unique())}
        data["gx"] = data["g"].map(level).astype(float)
    else:
        data["gx"] = 0.0
    return data


def placeholder_response(data, family, rng):
    """A response column of the right kind (Geweke tests simulate their own)."""
    n = len(data)
    if family in ("gaussian", "t"):
        data["y"] = rng.normal(size=n)
    elif family in ("bernoulli", "probit"):
        data["y"] = np.arange(n) % 2
    elif family == "binomial":
        data["n"] = 1 + np.arange(n) % 4
        data["s"] = np.minimum(np.arange(n) % 3, data["n"])
    elif family == "cumulative":            # 3 categories: 2 thresholds
        data["y"] = 1 + np.arange(n) % 3
    else:
        data["y"] = np.arange(n) % 4
    return data


# ----------------------------------------------------------------------------------
# Priors (explicit, so the references use exactly the same)
# ----------------------------------------------------------------------------------
def geweke_priors(design):
    """Proper, light-tailed priors for Geweke tests: heavy tails send the
    successive-conditional chain on long excursions that make its ESS unreliable
    (test_model_matrix.py checks half-Cauchy priors separately, with longer chains)."""
    family = design.family.name
    out = {}
    counts = family in ("poisson", "negativebinomial")
    for name in design.fixed_names:
        mu = 0.5 if (name == "Intercept" and counts) else 0.0
        out[name] = fg.Normal(mu, 0.4 if counts else 0.7)
    if family in ("gaussian", "t"):
        out["sigma"] = fg.InvGamma(4.0, 3.0)
    if family == "t":
        out["nu"] = fg.Gamma(8.0, 2.0)
    if family == "negativebinomial":
        out["alpha"] = fg.Gamma(8.0, 2.0)
    if family == "cumulative":
        out["threshold"] = fg.Normal(0.0, 1.0)
    for block in design.blocks:
        if block.correlated:
            out[block.covariance_key] = fg.InvWishart(6.0, np.diag([0.6, 0.4]) * 3.0)
            continue
        for term in block.terms:
            out[term] = fg.InvGamma(4.0, 0.9)
    return out


def reference_priors(design):
    """Weakly informative priors for the reference comparisons."""
    family = design.family.name
    out = {name: fg.Normal(0.0, 3.0) for name in design.fixed_names}
    if family in ("gaussian", "t"):
        out["sigma"] = fg.HalfCauchy(2.0)
    if family == "t":
        out["nu"] = fg.Gamma(2.0, 0.1)
    if family == "negativebinomial":
        out["alpha"] = fg.Gamma(2.0, 0.2)
    if family == "cumulative":
        out["threshold"] = fg.Normal(0.0, 3.0)
    for block in design.blocks:
        if block.correlated:
            out[block.covariance_key] = fg.InvWishart(4.0, np.eye(block.n_re))
        else:
            for term in block.terms:
                out[term] = fg.HalfCauchy(1.0)
    return out


# ----------------------------------------------------------------------------------
# Reference datasets
# ----------------------------------------------------------------------------------
REFERENCE_SIZE = {"gaussian": 6, "bernoulli": 24, "binomial": 6, "poisson": 6,
                  "negativebinomial": 8, "probit": 24, "t": 6, "cumulative": 16}
TRUE = {"Intercept": 0.3, "x": 0.6, "gx": -0.5, "sd": 0.7, "sigma": 0.8, "alpha": 4.0,
        "nu": 4.0}


def make_reference_dataset(family, structure, seed):
    """Data with one draw of a response from fixed 'true' values (moderate effects)."""
    rng = np.random.default_rng(seed)
    data = layout(STRUCTURES[structure][1], REFERENCE_SIZE[family], rng)
    n = len(data)
    eta = TRUE["Intercept"] + TRUE["x"] * data["x"].to_numpy()
    if structure == "group_predictor":
        eta = eta + TRUE["gx"] * data["gx"].to_numpy()
    for col in ("g", "a", "b", "c"):
        if col in data and col in STRUCTURES[structure][0]:
            key = data[col] if col != "b" or "a/b" not in STRUCTURES[structure][0] \
                else data["a"] + ":" + data["b"]
            levels = sorted(key.unique())
            effect = dict(zip(levels, TRUE["sd"] * rng.normal(size=len(levels))))
            eta = eta + key.map(effect).to_numpy()
    if structure == "obs_level":
        eta = eta + 0.5 * rng.normal(size=n)
    if structure in ("uncorr_slopes", "corr_slope_crossed", "slope_only"):
        slope = dict(zip(sorted(data["g"].unique()), 0.4 * rng.normal(size=5)))
        eta = eta + data["g"].map(slope).to_numpy() * data["x"].to_numpy()
    if family == "gaussian":
        data["y"] = np.round(eta + TRUE["sigma"] * rng.normal(size=n), 4)
    elif family == "bernoulli":
        data["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    elif family == "t":
        data["y"] = np.round(eta + TRUE["sigma"] * rng.standard_t(TRUE["nu"], size=n), 4)
    elif family == "probit":
        from scipy.special import ndtr
        data["y"] = (rng.random(n) < ndtr(eta)).astype(int)
    elif family == "cumulative":            # 4 categories; the intercept is in the cuts
        cuts = np.array([-0.4, 0.5, 1.3])
        data["y"] = 1 + np.sum(eta[:, None] + rng.normal(size=n)[:, None] > cuts, axis=1)
    elif family == "binomial":
        data["n"] = rng.integers(2, 9, n)
        data["s"] = rng.binomial(data["n"], 1 / (1 + np.exp(-eta)))
    elif family == "poisson":
        data["y"] = rng.poisson(np.exp(eta + 0.5))
    else:
        mu = np.exp(eta + 0.5)
        data["y"] = rng.poisson(rng.gamma(TRUE["alpha"], mu / TRUE["alpha"]))
    return data


def dataset_path(family, structure):
    return DATA / f"{family}__{structure}.csv"


def load_reference_dataset(family, structure):
    """The committed dataset (level columns as strings)."""
    data = pd.read_csv(dataset_path(family, structure), dtype={c: str for c in
                                                               ("g", "a", "b", "c", "obs")})
    return data
