"""The model matrix: every family x every random-effect structure the formula accepts.

Each cell has (a) a Geweke joint-distribution test (tests/geweke.py) on a tiny design
and (b) agreement of posterior means and sds with an independent reference: the plain
NumPy random-walk Metropolis sampler of tests/reference_sampler.py, run once by
``python tests/make_matrix_references.py`` on the datasets in tests/data/matrix/
(committed with its output, tests/data/matrix_references.json). A cell the library
cannot fit must raise before sampling (``REFUSED``).

Adding a family: add it to FAMILIES (with its Geweke and reference priors and
its data generator below); adding a structure: add it at the end of STRUCTURES with a
data generator (a structured prior on a term: also to ``structured_prior``); then
regenerate the references for the new cells only.

Structured cells (rw1, rw2, ar1, ar1_by, icar, bym2, icar_g): the structure is the
prior of the term "1|t" ("1|r:t" for ar1_by), so geweke_priors / reference_priors take
the structure; their Geweke tests use geweke.StructuredGeweke, their references the
structured log prior of reference_sampler.py (tests/structured_prior.py).
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
    # structured group effects (fastgibbs.structured): the structure is the prior of the
    # term "1|t" (or "1|r:t"), given by structured_prior below
    "rw1": ("1 + x + (1 | t)", "time"),
    "rw2": ("1 + x + (1 | t)", "time"),
    "ar1": ("1 + x + (1 | t)", "time"),
    "ar1_by": ("1 + x + (1 | r:t)", "time_by"),
    "icar": ("1 + x + (1 | t)", "area"),
    "bym2": ("1 + x + (1 | t)", "area"),
    "icar_g": ("1 + x + (1 | t) + (1 | g)", "area_g"),
}
# the structures of STRUCTURES made before the structured ones: their seeds keep the
# stride they were made with (see cell_seed)
N_PLAIN_STRUCTURES = 10

# Time levels of the structured layouts: unequal gaps, whole numbers of a 2-year unit
# (steps 1, 2, 1, 1, 3, 2, 1), so that a random walk's steps are scaled by the gaps and
# an AR(1) may have rho < 0. Areas: a 4-cycle a-b-c-d with e hanging off d, a pair
# f-g (a second component) and an island h (Freni-Sterrantino et al. 2018: each
# component scaled and constrained on its own, the island an independent effect).
YEARS = (1950, 1952, 1956, 1958, 1960, 1966, 1970, 1972)
BY_YEARS = YEARS[:6]
AREAS = tuple("abcdefgh")
EDGES = (("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("d", "e"), ("f", "g"))


def structured_prior(structure, geweke=False):
    """(term, structured prior without its sd prior) of a structured structure, or None.
    Geweke tests get proper, light-tailed Beta priors on rho and phi; the references
    weakly informative ones."""
    rho = fg.Beta(3.0, 2.0) if geweke else fg.Beta(2.0, 2.0)
    phi = fg.Beta(2.0, 2.0) if geweke else fg.Beta(1.5, 1.5)
    prior = {"rw1": fg.RandomWalk(order=1, unit=2.0),
             "rw2": fg.RandomWalk(order=2, unit=2.0),
             "ar1": fg.AR1(rho=rho, unit=2.0),
             "ar1_by": fg.AR1(by="r", rho=rho, unit=2.0),
             "icar": fg.ICAR(list(EDGES), levels=list(AREAS)),
             "bym2": fg.BYM2(list(EDGES), levels=list(AREAS), phi=phi),
             "icar_g": fg.ICAR(list(EDGES), levels=list(AREAS))}.get(structure)
    if prior is None:
        return None
    return ("1|r:t" if structure == "ar1_by" else "1|t"), prior


def with_structure(priors, structure, geweke=False):
    """``priors`` with the cell's structured prior on its term, carrying the sd prior
    ``priors`` gives that term."""
    found = structured_prior(structure, geweke)
    if found is None:
        return priors
    term, prior = found
    return dict(priors, **{term: prior.with_sd(priors[term])})

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
    """The seed of a cell's dataset and reference run (make_matrix_references.py). The
    first N_PLAIN_STRUCTURES structures keep the stride they were made with; later ones
    get seeds from 5000 on."""
    position = SEED_POSITION.get(family, FAMILIES.index(family))
    index = list(STRUCTURES).index(structure)
    if index < N_PLAIN_STRUCTURES:
        return 1000 + position * N_PLAIN_STRUCTURES + index
    return 5000 + position * 100 + index


def geweke_seed(family, structure):
    """The seed of a cell's Geweke design: its index among the cells when the matrix had
    N_PLAIN_STRUCTURES structures (so those designs stay as they were), else from 1000 on."""
    index = list(STRUCTURES).index(structure)
    if index < N_PLAIN_STRUCTURES:
        return FAMILIES.index(family) * N_PLAIN_STRUCTURES + index
    return 1000 + FAMILIES.index(family) * 100 + index


def is_structured(structure):
    return structured_prior(structure) is not None


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
    elif kind == "time":                    # t: numeric years (YEARS)
        frame = {"t": np.repeat(YEARS, n_per)}
    elif kind == "time_by":                 # one series of BY_YEARS per region r
        frame = {"r": np.repeat(["P", "Q"], n_per * len(BY_YEARS)),
                 "t": np.tile(np.repeat(BY_YEARS, n_per), 2)}
    elif kind in ("area", "area_g"):        # t: the areas (AREAS); area_g: plus g
        frame = {"t": np.repeat(AREAS, n_per)}
        if kind == "area_g":
            g = np.tile(np.arange(3), len(frame["t"]) // 3 + 1)[:len(frame["t"])]
            rng.shuffle(g)
            frame["g"] = g
    else:
        raise ValueError(kind)
    data = pd.DataFrame({k: np.asarray(v) if k == "t" and kind.startswith("time")
                         else np.asarray(v).astype(str) for k, v in frame.items()})
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
def geweke_priors(design, structure=None):
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
    return with_structure(out, structure, geweke=True)


def reference_priors(design, structure=None):
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
    return with_structure(out, structure)


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
    if is_structured(structure):             # smooth effects: a scaled random walk
        key = data["t"].astype(str) if structure != "ar1_by" \
            else data["r"] + ":" + data["t"].astype(str)
        levels = list(dict.fromkeys(key))     # in data order (time order per series)
        path = np.cumsum(rng.normal(size=len(levels))) * TRUE["sd"] / 2
        effect = dict(zip(levels, path - path.mean()))
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
    columns = ("g", "a", "b", "c", "obs", "r") + (() if structure.startswith(("rw", "ar"))
                                                  else ("t",))
    data = pd.read_csv(dataset_path(family, structure), dtype={c: str for c in columns})
    return data
