"""Prior distributions accepted by :func:`fastgibbs.fit`.

Priors are frozen dataclasses that validate themselves on construction; the kernels
receive plain floats. Keys of the ``priors`` dict:

- a fixed-effect name (``"Intercept"``, ``"partyid7"``, ``"sector[Public]"``):
  :class:`Normal` on the coefficient;
- ``"sigma"``: prior on the residual variance (:class:`InvGamma`) or sd
  (:class:`HalfCauchy`) of gaussian models;
- ``"alpha"``: :class:`Gamma` prior on the negative binomial's dispersion;
- ``"nu"``: :class:`Gamma` prior on the t family's degrees of freedom, or a number,
  which fixes nu;
- ``"threshold"``: :class:`Normal` prior on every threshold of a cumulative model
  (independent, restricted to ordered thresholds);
- a group term (``"1|state"``, ``"x|g"``): prior on that term's variance or sd;
- a correlated term (``"1 + x|g"``): :class:`HuangWand` (the default) or
  :class:`InvWishart` prior on its covariance matrix.

Defaults (used for every key not given; see :func:`default_priors`) are weakly
informative and scaled to the data, so that results do not change when y or x are
rescaled (the convention of rstanarm and brms). Models of other families use their
link scale: sd(y) below is replaced by 1, and mean(y) by 0 (logit link) or by the log
of the mean count per unit of exposure (log link). y is y - offset when there is one.

- slope of predictor x: ``Normal(0, 2.5 * sd(y) / sd(x))``;
- ``Intercept``: ``Normal(mean(y), 10 * sd(y) * (1 + sum_x |mean(x)| / sd(x)))``,
  wide enough to cover any intercept that predictors far from 0 imply; in a model
  without an intercept, each level of a factor coded by one indicator per level
  (``y ~ 0 + f``, the cell means) gets the same prior (the sum over the slopes only);
- every standard deviation (``sigma`` and group sds): ``HalfCauchy(sd(y))``, for the
  sd of a varying slope of z ``HalfCauchy(sd(y) / sd(z))``
  (Gelman 2006, Bayesian Analysis 1(3): proper, flat near 0 and heavy tailed, so a
  near-zero group sd is neither forced up nor pinned down as InvGamma(eps, eps) does);
- the covariance of a correlated term ``(1 + x | g)`` (key ``"1 + x|g"``): the
  matrix half-t prior ``HuangWand(nu=2, scale=[s_1, ..., s_q])`` (Huang & Wand 2013,
  Bayesian Analysis 8(2)) with s_c the scale the same column gets under ``||``:
  sd(y) for the intercept and sd(y) / sd(z_c) for a slope column. Each sd is then
  half-t(2, s_c), flat near 0 like the half-Cauchy of ``(1 + x || g)``, and every
  correlation uniform on (-1, 1), so ``|`` and ``||`` agree where the data say little
  about the correlation. (The previous default ``InvWishart(q + 1, diag(s_c^2))``
  gives each variance an InvGamma(1, s_c^2 / 2) marginal, whose density vanishes
  at 0 and so pulls weakly identified sds upward; ask for it explicitly if wanted.)
- the negative binomial's ``alpha``: ``Gamma(0.01, 0.01)`` (brms's default): nearly
  flat in log alpha from 0.01 to 100;
- the t family's ``nu``: ``Gamma(2, 0.1)`` (Juarez & Steel 2010; brms's default);
- the cumulative family's ``threshold``: the probit intercept's default,
  ``Normal(0, 10 * (1 + sum_x |mean(x)| / sd(x)))``.
"""
from dataclasses import dataclass
import numbers
import re
import sys

import numpy as np

from ._kinds import VariancePrior
from .moments import ArrayMoments

__all__ = ["Normal", "InvGamma", "HalfCauchy", "InvWishart", "HuangWand", "Gamma", "Beta"]

# kind codes of the kernels (defined once, in _kinds.pxd)
KIND_INV_GAMMA = int(VariancePrior.PRIOR_INV_GAMMA)
KIND_HALF_CAUCHY = int(VariancePrior.PRIOR_HALF_CAUCHY)

# Representable priors. A variance (the scale of an inverse-gamma prior's bulk, an
# inverse-Wishart diagonal) must itself be a normal double in [2.2e-308, 1.8e308]. The
# kernels work on the data's own scale (samplers/problem.py standardises y and x), so a
# standard deviation is checked there, after rescaling: its square must then be a
# finite normal double (SD_MIN, SD_MAX).
VARIANCE_MIN = sys.float_info.min
VARIANCE_MAX = sys.float_info.max
SD_MIN = float(np.sqrt(VARIANCE_MIN))
SD_MAX = float(np.sqrt(VARIANCE_MAX))


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:30] + "..."


def _number(value, what, requirement="finite"):
    """``value`` (a real number, numpy scalars included) as a finite float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {_shown(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = float("inf")
    if not np.isfinite(out):
        raise ValueError(f"{what} must be {requirement}, got {_shown(value)}")
    return out


def _positive_finite(value, what):
    out = _number(value, what, "positive and finite")
    if out <= 0:
        raise ValueError(f"{what} must be positive and finite, got {_shown(value)}")
    return out


def _in_range(value, low, high, what, why):
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:.2g} and {high:.2g} ({why}), "
                         f"got {_shown(value)}")
    return value


@dataclass(frozen=True)
class Normal:
    """Normal(mu, sigma) prior on a fixed-effect coefficient (sigma is the sd).

    mu finite, sigma positive and finite; on the data's own scale (where the sampler
    works, see samplers/problem.py) the prior must also be representable, which the
    model checks when it is built."""

    mu: float = 0.0
    sigma: float = 1.0

    def __post_init__(self):
        mu = _number(self.mu, "Normal mu")
        sigma = _positive_finite(self.sigma, "Normal sigma")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    def __str__(self):
        return f"Normal({self.mu:.4g}, {self.sigma:.4g})"


@dataclass(frozen=True)
class InvGamma:
    """InvGamma(shape, scale) prior on a VARIANCE: density proportional to
    v^(-shape-1) exp(-scale / v)."""

    shape: float = 1.0
    scale: float = 1.0

    def __post_init__(self):
        shape = _positive_finite(self.shape, "InvGamma shape")
        scale = _positive_finite(self.scale, "InvGamma scale")
        # the prior's mode scale / (shape + 1) locates its bulk: it must be a variance
        # the kernels can hold
        mode = scale / (shape + 1.0)
        if not VARIANCE_MIN <= mode <= VARIANCE_MAX:
            raise ValueError(f"InvGamma({shape!r}, {scale!r}) cannot be represented: its mode "
                             f"scale / (shape + 1) = {mode:.3g} must be between "
                             f"{VARIANCE_MIN:.2g} and {VARIANCE_MAX:.2g}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "scale", scale)

    kind = KIND_INV_GAMMA

    def kernel_args(self):
        """(kind, a, b) for the kernels."""
        return KIND_INV_GAMMA, self.shape, self.scale

    def __str__(self):
        return f"InvGamma({self.shape:.4g}, {self.scale:.4g})"


@dataclass(frozen=True)
class HalfCauchy:
    """Half-Cauchy(0, scale) prior on a STANDARD DEVIATION, sampled through its
    inverse-gamma mixture (Wand et al. 2011, Bayesian Analysis 6(4))."""

    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "scale", _positive_finite(self.scale, "HalfCauchy scale"))

    def kernel_args(self):
        """(kind, a, b) for the kernels; b carries the scale A."""
        return KIND_HALF_CAUCHY, 0.5, self.scale

    def __str__(self):
        return f"HalfCauchy({self.scale:.4g})"


VARIANCE_PRIORS = (InvGamma, HalfCauchy)


def default_priors(design):
    """The default prior for every key of ``design`` (see the module docstring).

    The scale comes from the family: gaussian models use mean(y - offset) and
    sd(y - offset); other families their link scale (location from the family,
    scale 1)."""
    from .families import get_family

    family = get_family(design.family if design.family is not None else "gaussian")
    # the columns' moments: from the arrays, or from the sums of a streamed design
    moments = getattr(design, "moments", None) or ArrayMoments(design)
    mean_y, sd_y = moments.prior_scale(family)
    out = {}
    names = design.fixed_names

    def mean(c):
        return moments.x(c)[0]

    def sd(c):
        return moments.x(c)[1]

    means = cell_mean_columns(design)
    slopes = [c for c, name in enumerate(names) if name != "Intercept" and c not in means]
    sds = {c: sd(c) for c in slopes}
    shift = sum(abs(mean(c)) / sds[c] for c in slopes if sds[c] > 0)
    for c, name in enumerate(names):
        if name == "Intercept" or c in means:
            out[name] = Normal(mean_y, 10.0 * sd_y * (1.0 + shift))
        else:
            scale = sds[c] if sds[c] > 0 else moments.x(c, center=False)[1]
            out[name] = Normal(0.0, 2.5 * sd_y / scale)
    out.update(moments.dispersion_priors(family))
    if not getattr(family, "has_intercept", True):      # cumulative: its thresholds
        out["threshold"] = family.threshold_prior(shift)
    for k, block in enumerate(design.blocks):
        if block.correlated:
            out[block.covariance_key] = HuangWand(nu=2.0, scale=default_sd_scales(
                design, k, moments, sd_y))
        else:
            for c, (term, col) in enumerate(zip(block.terms, block.columns)):
                sd_z = moments.z(k, c)[1]
                out[term] = HalfCauchy(sd_y if col == "1" or sd_z == 0 else sd_y / sd_z)
    return out


def cell_mean_columns(design):
    """The fixed-effect columns that take the intercept's place in a model without one:
    a factor coded by one indicator per level (``0 + f``; every cell of ``0 + f:h``),
    each coefficient the mean of its level. Their default prior is the intercept's."""
    if "Intercept" in design.fixed_names:
        return set()
    terms = getattr(getattr(design, "fixed_spec", None), "fixed", None)
    if terms is None or len(terms.names) != len(design.fixed_names):
        return set()
    return set(np.flatnonzero(terms.cell_means()).tolist())


def default_sd_scales(design, k, moments, sd_y):
    """The sd scale of every column of block k: sd(y) for the intercept and
    sd(y) / sd(z_c) for a slope column (the HalfCauchy scales of ``||``)."""
    scales = []
    for c, col in enumerate(design.blocks[k].columns):
        sd_z = moments.z(k, c)[1]
        scales.append(sd_y if col == "1" or sd_z == 0 else sd_y / sd_z)
    return np.array(scales, dtype=float)


def resolve_priors(design, priors):
    """Merge user ``priors`` over the defaults; check every key and type."""
    if priors is None:
        priors = {}
    if not isinstance(priors, dict):
        raise TypeError(f"priors must be a dict, got {type(priors).__name__}")
    resolved = default_priors(design)
    fixed = dict(getattr(design.family, "fixed_parameters", {}) or {})
    if fixed:       # parameters the family holds fixed (t's nu): a number, not a prior
        priors = {k: v for k, v in priors.items()
                  if not (isinstance(k, str) and _squeezed(k) in fixed)}
    dropped = {_squeezed(n): n for n in getattr(design, "dropped_fixed", ()) or ()}
    for key in priors:
        if isinstance(key, str) and key not in resolved and _squeezed(key) in dropped:
            raise ValueError(f"prior key {key!r} names the fixed effect "
                             f"{dropped[_squeezed(key)]!r}, which was dropped as aliased with "
                             "earlier columns (design.dropped_fixed); it has no coefficient "
                             f"to put a prior on. Valid keys: {', '.join(resolved)}")
    priors = normalise_keys(priors, resolved)
    for key, prior in priors.items():
        if key not in resolved:
            raise ValueError(f"unknown prior key {key!r}; valid keys: {', '.join(resolved)}")
        if key in design.fixed_names or key == "threshold":
            if not isinstance(prior, Normal):
                what = "the thresholds" if key == "threshold" else "fixed effect"
                raise TypeError(f"prior for {what} {key!r} must be fg.Normal, got {prior!r}")
        elif isinstance(resolved[key], COVARIANCE_PRIORS):
            if not isinstance(prior, COVARIANCE_PRIORS):
                raise TypeError(f"prior for correlated term {key!r} must be fg.HuangWand or "
                                f"fg.InvWishart, got {prior!r}")
            q = resolved[key].dim
            if isinstance(prior, HuangWand):
                # no scale: the default's; one number: the same scale for every column
                prior = prior.with_dim(q, resolved[key].scale)
            if prior.dim != q:
                raise ValueError(f"{type(prior).__name__} scale for {key!r} must be "
                                 + (f"{q} x {q}" if isinstance(prior, InvWishart)
                                    else f"one sd scale per column ({q})")
                                 + f", got {prior.dim}")
        elif isinstance(resolved[key], Gamma):
            if not isinstance(prior, Gamma):
                extra = " or a positive number (which fixes nu)" if key == "nu" else ""
                raise TypeError(f"prior for {key!r} must be fg.Gamma(shape, rate){extra}, "
                                f"got {prior!r}")
        elif _is_structured(prior):
            # a structured prior on a group term (fastgibbs.structured): its sd prior
            # defaults to the term's; the structure is checked against the data later
            if key not in {t for block in design.blocks for t in block.terms}:
                raise TypeError(f"{prior} is a prior on the effects of a group term such as "
                                f"'1|year', not on {key!r}")
            if prior.sd is None:
                prior = prior.with_sd(resolved[key])
        elif not isinstance(prior, VARIANCE_PRIORS):
            raise TypeError(f"prior for {key!r} must be fg.InvGamma (on the variance) or "
                            f"fg.HalfCauchy (on the sd), got {prior!r}")
        resolved[key] = prior
    check_dispersion_priors(design, resolved)
    return resolved


def _squeezed(key):
    return re.sub(r"\s+", "", key)


def normalise_keys(priors, valid):
    """``priors`` with each key spelled as in ``valid``, whatever its whitespace
    (``"1 + Days | Subject"`` -> ``"1 + Days|Subject"``, ``"1|state "`` -> ``"1|state"``).

    A key that is not a string, matches no valid key, or names one parameter twice is
    refused with a ValueError / TypeError listing the valid keys."""
    by_squeezed = {}
    for key in valid:
        by_squeezed.setdefault(_squeezed(key), []).append(key)
    out = {}
    for key, prior in priors.items():
        if not isinstance(key, str):
            raise TypeError(f"prior keys must be strings, got {key!r}")
        if key in valid:
            name = key
        else:
            matches = by_squeezed.get(_squeezed(key), [])
            if not matches:
                raise ValueError(f"unknown prior key {key!r}; valid keys: {', '.join(valid)}")
            if len(matches) > 1:
                raise ValueError(f"prior key {key!r} is ambiguous: it matches "
                                 f"{', '.join(map(repr, matches))}; write one exactly")
            name = matches[0]
        if name in out:
            raise ValueError(f"two prior keys name {name!r}; give one")
        out[name] = prior
    return out


@dataclass(frozen=True)
class Gamma:
    """Gamma(shape, rate) prior on a positive dispersion parameter, such as the
    negative binomial's ``alpha``: density proportional to a^(shape-1) exp(-rate a)."""

    shape: float = 1.0
    rate: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "shape", _positive_finite(self.shape, "Gamma shape"))
        object.__setattr__(self, "rate", _positive_finite(self.rate, "Gamma rate"))

    def __str__(self):
        return f"Gamma({self.shape:.4g}, {self.rate:.4g})"


# The kernels slice-sample log alpha (negative binomial) and log nu (t) within
# [-DISPERSION_LOG_LIMIT, DISPERSION_LOG_LIMIT] (nb_log_target, nu_log_target in
# _core.pyx): a Gamma prior's mass beyond is cut off. MAX_UNREACHED is the most of a
# prior's mass that may lie beyond (check_dispersion_priors).
DISPERSION_LOG_LIMIT = 30.0
MAX_UNREACHED = 1e-6
# The likelihood's factor at the low end, per observation: the negative binomial's
# vanishes like alpha for each positive count, the t's like sqrt(nu) (or faster) for
# each observation
LOW_END_POWER = {"alpha": 1.0, "nu": 0.5}


def check_dispersion_priors(design, priors):
    """Refuse a Gamma prior on ``alpha`` or ``nu`` whose posterior would be cut off by
    the sampler's range exp(+-DISPERSION_LOG_LIMIT), before sampling.

    Above exp(30) the likelihood is flat (the Poisson and normal limits), so the
    posterior keeps the prior's mass there: more than MAX_UNREACHED is refused. Below
    exp(-30) it vanishes (see LOW_END_POWER), so the mass that counts is that of the
    prior times the likelihood of one positive count (alpha) or of the observations
    (nu); Gamma(0.01, 0.01), the default on alpha, has 71% of its own mass below
    exp(-30) but 7e-16 once one count is seen."""
    from .families import get_family

    family = get_family(design.family if design.family is not None else "gaussian")
    dispersion = set(family.dispersion)             # without a t's fixed nu
    low, high = np.exp(-DISPERSION_LOG_LIMIT), np.exp(DISPERSION_LOG_LIMIT)
    for key, power in LOW_END_POWER.items():
        prior = priors.get(key)
        if not isinstance(prior, Gamma) or key not in dispersion:
            continue
        from scipy.special import gammainc, gammaincc  # ~0.15 s: only where needed

        if key == "nu":
            weights = getattr(design, "weights", None)
            power *= float(np.sum(weights)) if weights is not None else design.n_obs
        above = float(gammaincc(prior.shape, prior.rate * high))
        below = float(gammainc(prior.shape + power, prior.rate * low))
        for mass, where in (
                (above, f"its mass above exp({DISPERSION_LOG_LIMIT:g}) = {high:.3g}"),
                (below, f"its mass below exp(-{DISPERSION_LOG_LIMIT:g}) = {low:.3g}, "
                        f"weighed by the likelihood there (~{key}^{power:g})")):
            if mass > MAX_UNREACHED:
                raise ValueError(
                    f"the prior {prior} on {key!r} puts a fraction {mass:.2g} of {where}, "
                    f"beyond the range the sampler can reach (it slice-samples log {key} "
                    f"in [-{DISPERSION_LOG_LIMIT:g}, {DISPERSION_LOG_LIMIT:g}]); choose a "
                    "Gamma(shape, rate) whose bulk lies in that range")


@dataclass(frozen=True)
class InvWishart:
    """InvWishart(df, scale) prior on the COVARIANCE matrix of a correlated group term
    such as ``"1 + Days|Subject"``: density proportional to
    |S|^(-(df + q + 1)/2) exp(-tr(scale S^{-1}) / 2); needs df > q - 1.

    ``scale`` is a q x q symmetric positive definite matrix (or a length-q vector for a
    diagonal one) in the order of the term's columns."""

    df: float
    scale: object

    def __post_init__(self):
        object.__setattr__(self, "df", _positive_finite(self.df, "InvWishart df"))
        try:
            scale = np.array(self.scale, dtype=float)      # a copy: the caller's may change
        except (TypeError, ValueError):
            raise TypeError(f"InvWishart scale must be a matrix or vector of numbers, "
                            f"got {self.scale!r}") from None
        if scale.ndim == 1:
            scale = np.diag(scale)
        if scale.ndim != 2 or scale.shape[0] != scale.shape[1] or scale.shape[0] == 0 \
                or not np.all(np.isfinite(scale)):
            raise ValueError("InvWishart scale must be a finite square matrix or a vector")
        diagonal = np.diag(scale)
        if np.any(diagonal < VARIANCE_MIN) or np.any(diagonal > VARIANCE_MAX):
            raise ValueError(f"InvWishart scale: every diagonal entry (a variance) must be "
                             f"between {VARIANCE_MIN:.2g} and {VARIANCE_MAX:.2g}, got "
                             f"{diagonal.tolist()}")
        if not np.allclose(scale, scale.T) or np.linalg.eigvalsh(scale).min() <= 0:
            raise ValueError("InvWishart scale must be symmetric positive definite")
        if self.df <= scale.shape[0] - 1:
            raise ValueError(f"InvWishart df must be > q - 1 = {scale.shape[0] - 1}")
        scale.setflags(write=False)
        object.__setattr__(self, "scale", scale)

    @property
    def dim(self):
        """q, the dimension of the covariance matrix."""
        return self.scale.shape[0]

    def __eq__(self, other):
        return isinstance(other, InvWishart) and self.df == other.df \
            and np.array_equal(self.scale, other.scale)

    def __hash__(self):
        return hash((self.df, self.scale.tobytes()))

    def __str__(self):
        diag = ", ".join(f"{v:.4g}" for v in np.diag(self.scale))
        return f"InvWishart({self.df:.4g}, diag({diag}){'' if np.count_nonzero(self.scale - np.diag(np.diag(self.scale))) == 0 else ' + off-diagonal'})"


HUANG_WAND_MAX_NU = 100.0   # beyond, the Sigma / a_c Gibbs steps mix too slowly to use


@dataclass(frozen=True, eq=False)
class HuangWand:
    """Matrix half-t prior on the COVARIANCE matrix Sigma (q x q) of a correlated group
    term such as ``"1 + Days|Subject"`` (Huang & Wand 2013, Bayesian Analysis 8(2),
    eq. 2): with auxiliary variances a_c ~ InvGamma(1/2, 1/A_c^2), c = 1..q,

        Sigma | a ~ InvWishart(nu + q - 1, 2 nu diag(1/a_1, ..., 1/a_q)).

    Each sd sqrt(Sigma_cc) is then half-t with ``nu`` degrees of freedom and scale A_c
    (half-Cauchy at nu = 1), and at ``nu = 2`` every correlation is uniform on (-1, 1)
    (Huang & Wand 2013, eq. 3 and sec. 2). Larger nu thins the sds' tails and pulls
    the correlations towards 0. All its conditionals are conjugate: the sampler draws
    Sigma from its inverse-Wishart conditional and then each a_c from an inverse gamma.
    The default prior of a correlated term (see :func:`default_priors`).

    Parameters
    ----------
    nu : float, default 2
        Degrees of freedom of the half-t sds, in (0, 100] (larger nu mixes too slowly:
        0.05 effective draws per draw of the sds at nu = 100 on sleepstudy).
    scale : float or sequence of q floats, optional
        The scales A_c (sds, in the units of y per unit of the term's column c) in the
        order of the term's columns, each > 0; one number is used for every column.
        Omitted: the defaults of ``||`` for the same columns (sd(y) for the
        intercept, sd(y) / sd(z_c) for a slope column)."""

    nu: float = 2.0
    scale: object = None

    def __post_init__(self):
        object.__setattr__(self, "nu", _positive_finite(self.nu, "HuangWand nu"))
        if self.nu > HUANG_WAND_MAX_NU:
            raise ValueError(f"HuangWand nu must be at most {HUANG_WAND_MAX_NU:g}, got "
                             f"{self.nu:g}: with more degrees of freedom Sigma and its "
                             "auxiliary variances are so tied that the Gibbs sampler barely "
                             "moves (sleepstudy: 0.005 effective draws per draw at nu = 1000, "
                             "sds off by 3x at 1e5). For independent, light-tailed sds use "
                             "an uncorrelated term (x || g) with fg.HalfCauchy or "
                             "fg.InvGamma priors")
        if self.scale is None:
            return
        if isinstance(self.scale, (str, bytes)):
            raise TypeError(f"HuangWand scale must be a number or a sequence of sd scales, "
                            f"got {_shown(self.scale)}")
        try:
            scale = np.atleast_1d(np.array(self.scale, dtype=float))    # a copy
        except (TypeError, ValueError):
            raise TypeError(f"HuangWand scale must be a number or a sequence of sd scales, "
                            f"got {_shown(self.scale)}") from None
        if scale.ndim != 1 or scale.size == 0:
            raise ValueError(f"HuangWand scale must be one sd scale per column of the term "
                             f"(a vector), got shape {scale.shape}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"HuangWand scale: every entry must be positive and finite, got "
                             f"{_shown(scale.tolist())}")
        if np.any(scale < SD_MIN) or np.any(scale > SD_MAX):
            raise ValueError(f"HuangWand scale: every entry (an sd) must be between "
                             f"{SD_MIN:.2g} and {SD_MAX:.2g}, got {_shown(scale.tolist())}")
        scale.setflags(write=False)
        object.__setattr__(self, "scale", scale)

    @property
    def dim(self):
        """q, the number of scales (None when the scale is left to the default)."""
        return None if self.scale is None else self.scale.shape[0]

    def with_dim(self, q, default_scale):
        """This prior for a term of q columns: the default scales if none were given,
        one given number repeated q times."""
        if self.scale is None:
            return HuangWand(self.nu, default_scale)
        if self.scale.shape[0] == 1 and q > 1:
            return HuangWand(self.nu, np.repeat(self.scale, q))
        return self

    def __eq__(self, other):
        if not isinstance(other, HuangWand) or self.nu != other.nu:
            return False
        if self.scale is None or other.scale is None:
            return self.scale is None and other.scale is None
        return np.array_equal(self.scale, other.scale)

    def __hash__(self):
        return hash((self.nu, None if self.scale is None else self.scale.tobytes()))

    def __repr__(self):
        if self.scale is None:
            return f"HuangWand(nu={self.nu!r})"
        return f"HuangWand(nu={self.nu!r}, scale={self.scale.tolist()!r})"

    def __str__(self):
        if self.scale is None:
            return f"HuangWand(nu={self.nu:.4g})"
        return f"HuangWand(nu={self.nu:.4g}, scale=[{', '.join(f'{v:.4g}' for v in self.scale)}])"


COVARIANCE_PRIORS = (InvWishart, HuangWand)


@dataclass(frozen=True)
class Beta:
    """Beta(a, b) prior on a quantity in (0, 1): density proportional to
    x^(a-1) (1-x)^(b-1). Used by fg.BYM2 (phi) and fg.AR1 (on (1 + rho) / 2)."""

    a: float = 1.0
    b: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "a", _positive_finite(self.a, "Beta a"))
        object.__setattr__(self, "b", _positive_finite(self.b, "Beta b"))

    def __str__(self):
        return f"Beta({self.a:.4g}, {self.b:.4g})"


def _is_structured(prior):
    from .structured import STRUCTURED
    return isinstance(prior, STRUCTURED)
