"""The model matrix (tests/matrix.py): every family x every random-effect structure.

Per cell: a Geweke joint-distribution test of the kernel on a tiny design, and
agreement of every posterior mean and sd with the independent reference sampler
(tests/reference_sampler.py, results in tests/data/matrix_references.json) on the
cell's committed dataset. Cells the library cannot fit must raise before sampling.
Planted bugs (the kernel told a different prior from the simulator) show that the
Geweke tests have power for every family.

Tolerances: Geweke z-scores and reference z-scores are compared with a Bonferroni
threshold over the quantities of one test (tests/stats.py, ALPHA = 1e-4); the
reference's standard error combines both samplers' Monte Carlo errors (MCSE of the
mean; of the sd, from ArviZ for the reference and from our draws' ESS for ours).

Structured cells (rw1, rw2, ar1, ar1_by, icar, bym2, icar_g; issue 15): Geweke through
geweke.StructuredGeweke at STRUCTURED_GEWEKE_N sweeps for all 8 families in the default
tier (and at N_ITER in the slow tier), reference agreement for gaussian, bernoulli and
poisson in the default tier and for the other families in the slow tier; four planted
structured bugs must fail.

Beyond the cells: Geweke tests with the sweep's non-centred and collapsed moves switched
off (each move must keep the joint distribution on its own; a wrong centred step hid
behind them), and with a non-zero offset for the augmented families (no cell has one).
"""
import json
import warnings

import numpy as np
import pytest

import fastgibbs as fg
from fastgibbs import diagnostics
from fastgibbs.design import build_design

import matrix
from geweke import N_ITER, QUICK, Geweke, StructuredGeweke, assert_geweke
from stats import z_threshold

REFERENCES = json.loads(matrix.REFERENCES.read_text()) if matrix.REFERENCES.exists() else {}
DRAWS = 1500 if QUICK else 5000
# Structured cells (7 structures x 8 families) run shorter Geweke chains in the default
# tier (the z-tests stay valid, power drops; test_structured_geweke_at_length runs them
# at N_ITER in the slow tier) and their reference agreement beyond these families in
# the slow tier
STRUCTURED_GEWEKE_N = 1500 if QUICK else 3000
# and their reference fits are shorter (warmup, draws per chain): the z-scores' standard
# errors follow from the draws' ESS, so only the power drops
STRUCTURED_FIT = (500, 1500 if QUICK else 2000)
STRUCTURED_DEFAULT_FAMILIES = ("gaussian", "bernoulli", "poisson")


def _tiered(cells):
    """Structured cells of families beyond STRUCTURED_DEFAULT_FAMILIES marked slow."""
    return [pytest.param(f, s, marks=pytest.mark.slow)
            if matrix.is_structured(s) and f not in STRUCTURED_DEFAULT_FAMILIES
            else (f, s) for f, s in cells]


def _geweke_design(family, structure):
    rng = np.random.default_rng(matrix.geweke_seed(family, structure))
    data = matrix.layout(matrix.STRUCTURES[structure][1], 3, rng)
    data = matrix.placeholder_response(data, family, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # placeholder responses may be one-class
        return build_design(matrix.formula(family, structure), data,
                            **matrix.family_kwargs(family))


@pytest.mark.statistical
@pytest.mark.parametrize("family,structure", matrix.fitted_cells())
def test_geweke(family, structure):
    design = _geweke_design(family, structure)
    priors = matrix.geweke_priors(design, structure)
    if matrix.is_structured(structure):
        z = StructuredGeweke(design, priors).z_scores(n=STRUCTURED_GEWEKE_N)
    else:
        z = Geweke(design, priors).z_scores()
    assert_geweke(z, f"{family} x {structure}")


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("family,structure", [c for c in matrix.fitted_cells()
                                              if matrix.is_structured(c[1])])
def test_structured_geweke_at_length(family, structure):
    """The structured cells' Geweke tests at the plain cells' length (N_ITER sweeps)."""
    design = _geweke_design(family, structure)
    z = StructuredGeweke(design, matrix.geweke_priors(design, structure)).z_scores(seed=7)
    assert_geweke(z, f"{family} x {structure}, {len(z)} moments")


@pytest.mark.statistical
@pytest.mark.parametrize("family,structure", _tiered(matrix.fitted_cells()))
def test_agrees_with_reference(family, structure):
    key = f"{family}:{structure}"
    if key not in REFERENCES:
        pytest.fail(f"no reference for {key}: run tests/make_matrix_references.py")
    ref = REFERENCES[key]["parameters"]
    data = matrix.load_reference_dataset(family, structure)
    design = build_design(matrix.formula(family, structure), data,
                          **matrix.family_kwargs(family))
    warmup, draws = STRUCTURED_FIT if matrix.is_structured(structure) else (1000, DRAWS)
    fit = fg.fit(matrix.formula(family, structure), data, **matrix.family_kwargs(family),
                 priors=matrix.reference_priors(design, structure), chains=4, warmup=warmup,
                 draws=draws, seed=20261201)
    names = list(ref)
    assert names == list(fit.names)
    x = np.stack([fit.draws(n) for n in names], axis=-1)       # (chains, draws, params)
    mean, sd = x.mean(axis=(0, 1)), x.reshape(-1, len(names)).std(axis=0)
    mcse_mean = diagnostics.mcse_mean(x)
    mcse_sd = diagnostics.mcse_sd(x)
    ref_mean = np.array([ref[n]["mean"] for n in names])
    ref_sd = np.array([ref[n]["sd"] for n in names])
    se_mean = np.hypot(mcse_mean, [ref[n]["mcse_mean"] for n in names])
    se_sd = np.hypot(mcse_sd, [ref[n]["mcse_sd"] for n in names])
    z = np.concatenate([(mean - ref_mean) / se_mean, (sd - ref_sd) / se_sd])
    limit = z_threshold(len(z))
    worst = int(np.argmax(np.abs(z)))
    label = (names * 2)[worst] + (" mean" if worst < len(names) else " sd")
    assert np.abs(z).max() < limit, (
        f"{key}: {label} differs from the reference by {z[worst]:.2f} standard errors "
        f"(limit {limit:.2f}); fastgibbs {np.concatenate([mean, sd])[worst]:.4f}, reference "
        f"{np.concatenate([ref_mean, ref_sd])[worst]:.4f}")
    assert fit.summary()["r_hat"].max() < 1.05


@pytest.mark.parametrize("cell", sorted(matrix.REFUSED))
def test_refused_before_sampling(cell):
    family, structure = cell
    error, match = matrix.REFUSED[cell]
    data = matrix.make_reference_dataset(family, structure, 1)      # data of this cell
    design = build_design(matrix.formula(family, structure), data,
                          **matrix.family_kwargs(family)) if matrix.is_structured(structure) \
        else None
    priors = {} if design is None else matrix.reference_priors(design, structure)
    with pytest.raises(error, match=match):
        fg.Model(matrix.formula(family, structure), data, **matrix.family_kwargs(family),
                 priors=priors)


# ---- power: planted bugs -----------------------------------------------------------
PLANTED = {
    # family: (structure, key, what the kernel is told instead)
    "gaussian": ("one_factor", "sigma", fg.InvGamma(5.0, 3.0)),
    "bernoulli": ("crossed2", "1|b", fg.InvGamma(6.0, 0.9)),
    "binomial": ("nested2", "1|a:b", fg.InvGamma(6.0, 0.9)),
    "poisson": ("one_factor", "1|g", fg.InvGamma(6.0, 0.9)),
    "negativebinomial": ("one_factor", "alpha", fg.Gamma(8.0, 1.5)),
    "probit": ("crossed2", "1|b", fg.InvGamma(6.0, 0.9)),
}


@pytest.mark.statistical
@pytest.mark.parametrize("family", sorted(PLANTED))
def test_geweke_catches_a_planted_bug(family):
    structure, key, wrong = PLANTED[family]
    design = _geweke_design(family, structure)
    priors = matrix.geweke_priors(design)
    z = Geweke(design, priors, kernel_priors=dict(priors, **{key: wrong})).z_scores()
    assert np.max(np.abs(z)) > z_threshold(len(z)), np.round(z, 2)


# the kernel (or the simulator) told another structured prior: a structured Geweke cell
# must fail. (cell, what the kernel is told instead of the term's structured prior, or
# None when the simulator's random walk ignores the gaps instead; sweeps). Measured
# max |z| / limit at the default length: 10.8 / 4.5, 8.6 / 4.5 (seeds 1, 2: 8.6, 7.2;
# at 6,000 sweeps 4.3-6.9, hence 10,000), 6.2 / 4.5, 39.5 / 4.5.
PLANTED_STRUCTURED = {
    "ar1 rho prior Beta(1, 1) for Beta(3, 2)": (("bernoulli", "ar1"),
                                                fg.AR1(rho=fg.Beta(1.0, 1.0), unit=2.0),
                                                STRUCTURED_GEWEKE_N),
    "rw1 steps not scaled by the gaps": (("gaussian", "rw1"), None, 10000),
    "rw2 told unit 1 for 2": (("poisson", "rw2"), fg.RandomWalk(order=2, unit=1.0),
                              STRUCTURED_GEWEKE_N),
    "bym2 phi prior Beta(1, 3) for Beta(2, 2)": (("gaussian", "bym2"),
                                                 fg.BYM2(list(matrix.EDGES),
                                                         levels=list(matrix.AREAS),
                                                         phi=fg.Beta(1.0, 3.0)),
                                                 STRUCTURED_GEWEKE_N),
}


@pytest.mark.statistical
@pytest.mark.parametrize("case", sorted(PLANTED_STRUCTURED))
def test_structured_geweke_catches_a_planted_bug(case, monkeypatch):
    (family, structure), told, n = PLANTED_STRUCTURED[case]
    design = _geweke_design(family, structure)
    priors = matrix.geweke_priors(design, structure)
    term, _ = matrix.structured_prior(structure)
    if told is None:
        # the simulator's walk at equally spaced times: one unit per step
        import structured_prior
        spaced = structured_prior.time_series
        monkeypatch.setattr(structured_prior, "time_series", lambda *a: [
            (m, np.arange(len(t), dtype=float)) for m, t in spaced(*a)])
        kernel_priors = None
    else:
        kernel_priors = dict(priors, **{term: told.with_sd(priors[term].sd)})
    z = StructuredGeweke(design, priors, kernel_priors).z_scores(n=n)
    assert np.max(np.abs(z)) > z_threshold(len(z)), np.round(z, 2)


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_geweke_with_half_cauchy_priors(family):
    """Heavy-tailed half-Cauchy sds make the successive chain sticky (long excursions
    to large sds), so this check of the auxiliary-variable path runs twice as long."""
    design = _geweke_design(family, "crossed2")
    priors = dict(matrix.geweke_priors(design), **{"1|a": fg.HalfCauchy(0.5),
                                                   "1|b": fg.HalfCauchy(0.3)})
    if family == "gaussian":
        priors["sigma"] = fg.HalfCauchy(1.0)
    n = 6000 if QUICK else 40000
    assert_geweke(Geweke(design, priors).z_scores(n=n), f"{family} half-Cauchy")


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_geweke_three_levels_with_a_top_sd_near_zero(family):
    """Issue 12's hard case for the nested chain draw and the collapsed sd step: (1 | a/b/c)
    with the top sd held near 0.03 by its prior (InvGamma(30, 0.03)), where the
    centred and non-centred steps alone crawl; the collapsed step (given beta, the
    deepest level collapsed too) must still leave the joint distribution invariant."""
    design = _geweke_design(family, "nested3")
    priors = dict(matrix.geweke_priors(design), **{"1|a": fg.InvGamma(30.0, 0.03)})
    n = 6000 if QUICK else 30000
    assert_geweke(Geweke(design, priors).z_scores(n=n), f"{family} nested3, top sd ~ 0.03")


def test_committed_cell_datasets_re_create_from_their_seeds():
    """make_matrix_references.py would remake every committed dataset as it is (so the
    references can be regenerated cell by cell), whatever order families were added in."""
    for family, structure in matrix.fitted_cells():
        made = matrix.make_reference_dataset(family, structure,
                                             matrix.cell_seed(family, structure))
        saved = matrix.load_reference_dataset(family, structure)
        assert list(made.columns) == list(saved.columns) and len(made) == len(saved)
        for column in made.columns:
            a, b = made[column].to_numpy(), saved[column].to_numpy()
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b.astype(float), rtol=1e-9, atol=1e-12,
                                           err_msg=f"{family}:{structure} {column}")
            else:
                assert (a.astype(str) == b.astype(str)).all(), (family, structure, column)


def test_reference_structured_priors_are_the_textbook_ones():
    """tests/structured_prior.py (the Geweke prior draws and the reference sampler's
    structured log prior) against textbook forms: RW2 at equal gaps is D2' D2 (Rue &
    Held 2005 eq. 3.40); the non-centred map M gives covariance M M' = Q^+ and
    satisfies the constraints; each ICAR component's marginal variances have
    geometric mean 1 and the island variance 1 (Sorbye & Rue 2014); the AR1 factor
    gives corr rho^|lag| at the cell's unequal gaps."""
    import structured_prior as sp

    Q, cons = sp.rw_precision(np.arange(6.0), 2)
    D2 = np.diff(np.eye(6), n=2, axis=0)
    np.testing.assert_allclose(Q, D2.T @ D2, atol=1e-12)
    for structure in ("rw1", "rw2", "icar"):
        data = matrix.make_reference_dataset("gaussian", structure, 0)
        design = build_design(matrix.formula("gaussian", structure), data)
        term, prior = matrix.structured_prior(structure)
        Q, cons = sp.fixed_precision(design, term, prior)
        M = sp.noncentred_map(Q, cons)
        assert M.shape[1] == Q.shape[0] - len(cons)
        np.testing.assert_allclose(cons @ M, 0.0, atol=1e-10)
        np.testing.assert_allclose(M @ M.T, np.linalg.pinv(Q), atol=1e-8)
        if structure == "icar":              # components abcde, fg; island h
            var = np.diag(M @ M.T)
            for members in ([0, 1, 2, 3, 4], [5, 6], [7]):
                assert abs(np.mean(np.log(var[members]))) < 1e-10
    data = matrix.make_reference_dataset("gaussian", "ar1", 0)
    design = build_design(matrix.formula("gaussian", "ar1"), data)
    term, prior = matrix.structured_prior("ar1")
    ((m, t),) = sp.time_series(design, term, prior)
    np.testing.assert_allclose(t, (np.array(matrix.YEARS) - 1950) / 2.0 + 975.0)
    L = sp.ar1_factor(t, np.array([-0.6]))[0]
    lag = np.abs(t[:, None] - t[None, :])
    np.testing.assert_allclose(L @ L.T, (-0.6) ** lag, atol=1e-12)


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson", "cumulative"])
def test_geweke_without_fixed_effects(family):
    """No fixed-effect columns (``0 + ...``; the cumulative family drops its intercept):
    beta is empty in every kernel step, including the rows written on the user's scale
    (a consistency check there refused every such model for a while, and no test saw
    it)."""
    rng = np.random.default_rng(77)
    data = matrix.placeholder_response(matrix.layout("nested2", 3, rng), family, rng)
    fixed = "1" if family == "cumulative" else "0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # placeholder responses may be one-class
        design = build_design(f"{matrix.response_lhs(family)} ~ {fixed} + (1 | a/b)", data,
                              **matrix.family_kwargs(family))
    assert design.n_fixed == 0
    assert_geweke(Geweke(design, matrix.geweke_priors(design)).z_scores(),
                  f"{family} without fixed effects")


# the sweep's moves one subset at a time (Geweke.interweave / .collapse): (family,
# structure, interweave, collapse). Each move leaves the joint distribution invariant on
# its own, so every subset must pass; the full sweep can hide a wrong centred step (a
# diagonal block's InvGamma shape a + (J + 1)/2 for a + J/2 passed every full-sweep cell,
# since the non-centred step after it redraws the sd given eta = u / sd and repairs most
# of the error: its bias in u^2 shows at 150,000 sweeps, max |z| 8.3 against 2.4 for the
# right shape), which the centred-only cells catch at once; so do the structured cells
# for an RW1 / ICAR sd shape a + J/2 for a + rank/2, which passed the full-sweep cells,
# and a BYM2 phi step with (J - 1)/2 log(1 - phi) for J/2, which passed every test).
STEP_SUBSETS = [
    ("gaussian", "one_factor", False, False),
    ("gaussian", "crossed2", False, False),
    ("bernoulli", "one_factor", False, False),
    ("gaussian", "nested2", False, True),
    ("gaussian", "corr_slope_crossed", False, False),
    ("gaussian", "rw1", False, False),
    ("gaussian", "icar", False, False),
    ("gaussian", "ar1", False, False),
    ("gaussian", "bym2", False, False),
]


@pytest.mark.statistical
@pytest.mark.parametrize("family,structure,interweave,collapse", STEP_SUBSETS)
def test_geweke_with_moves_switched_off(family, structure, interweave, collapse):
    design = _geweke_design(family, structure)
    priors = matrix.geweke_priors(design, structure)
    geweke = (StructuredGeweke if matrix.is_structured(structure) else Geweke)(design, priors)
    geweke.interweave, geweke.collapse = interweave, collapse
    z = geweke.z_scores(n=N_ITER)
    assert_geweke(z, f"{family} x {structure}, interweave={interweave}, collapse={collapse}")


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["bernoulli", "binomial", "probit", "poisson",
                                    "negativebinomial", "cumulative"])
def test_geweke_with_an_offset(family):
    """A non-zero offset (the other Geweke designs have none): each family's latent
    variables and linear terms must carry it: a Polya-Gamma b = y - n/2 without its
    -omega * offset, or a probit b = n e + sum (z - e) that keeps n * offset (e = eta +
    offset), passed every other Geweke cell. The simulators add it to eta
    (Geweke.simulate_y)."""
    rng = np.random.default_rng(matrix.geweke_seed(family, "one_factor") + 1)
    data = matrix.layout(matrix.STRUCTURES["one_factor"][1], 3, rng)
    data = matrix.placeholder_response(data, family, rng)
    offset = np.round(rng.normal(0.0, 0.7, len(data)), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # placeholder responses may be one-class
        design = build_design(matrix.formula(family, "one_factor"), data, offset=offset,
                              **matrix.family_kwargs(family))
    assert np.ptp(design.offset) > 1.0
    z = Geweke(design, matrix.geweke_priors(design)).z_scores()
    assert_geweke(z, f"{family} x one_factor with an offset")


@pytest.mark.statistical
@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson", "t"])
def test_geweke_without_group_effects(family):
    """No grouping term (the kernel's fixed-only draw, Kernel.draw_location_fixed_only),
    with prior means away from 0 so that the prior's linear term counts (a draw that
    dropped it passed every test whose priors are centred at 0)."""
    rng = np.random.default_rng(78)
    data = matrix.placeholder_response(matrix.layout("g", 4, rng), family, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # placeholder responses may be one-class
        design = build_design(f"{matrix.response_lhs(family)} ~ 1 + x", data,
                              **matrix.family_kwargs(family))
    assert not design.blocks
    priors = dict(matrix.geweke_priors(design), Intercept=fg.Normal(0.8, 0.5),
                  x=fg.Normal(-0.5, 0.4))
    assert_geweke(Geweke(design, priors).z_scores(), f"{family} without group effects")
