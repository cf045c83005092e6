"""Response families: each module defines one (see families/base.py)."""
from .base import Family, Response
from .binomial import Bernoulli, Binomial
from .cumulative import Cumulative
from .gaussian import Gaussian
from .negbinomial import NegativeBinomial
from .poisson import Poisson
from .probit import BernoulliProbit
from .student_t import StudentT

__all__ = ["Family", "Response", "get_family", "FAMILY_NAMES", "LINKS"]

_FAMILIES = {cls.name: cls for cls in (Gaussian, Bernoulli, Binomial, Poisson, NegativeBinomial,
                                       StudentT, Cumulative)}
FAMILY_NAMES = tuple(_FAMILIES)
# spellings of other packages that mean the same family
_ALIASES = {"normal": "gaussian", "negbinomial": "negativebinomial",
            "negative_binomial": "negativebinomial", "nb": "negativebinomial",
            "student": "t", "studentt": "t", "student_t": "t", "ordinal": "cumulative"}
# family -> {link: class}; the first link is the default
LINKS = {"gaussian": {"identity": Gaussian}, "bernoulli": {"logit": Bernoulli,
                                                          "probit": BernoulliProbit},
         "binomial": {"logit": Binomial}, "poisson": {"log": Poisson},
         "negativebinomial": {"log": NegativeBinomial}, "t": {"identity": StudentT},
         "cumulative": {"probit": Cumulative}}
_WHY = {("binomial", "probit"): "the probit link is available for bernoulli responses "
                                "(one latent variable per trial); use family='bernoulli' "
                                "on one row per trial",
        ("cumulative", "logit"): "the cumulative family is sampled with the probit link only "
                                 "(the cumulative logit has no exact augmentation here; see "
                                 "fastgibbs.families.cumulative)"}


def get_family(family, link=None, **options):
    """The :class:`Family` for a name (or a Family instance, returned as is), with
    ``link`` (None: the family's default) and its ``options`` (a fixed ``nu`` of the t
    family, the ``categories`` of a cumulative one)."""
    if isinstance(family, Family):
        if link is not None and link != family.link:
            raise ValueError(f"link={link!r} does not match the family given, "
                             f"{family.name!r} with the {family.link} link")
        return family
    if not isinstance(family, str):
        raise TypeError(f"family must be a string, got {type(family).__name__}")
    key = _ALIASES.get(family.lower(), family.lower())
    if key not in _FAMILIES:
        raise ValueError(f"family must be one of {FAMILY_NAMES}, got {family!r}")
    links = LINKS[key]
    if link is None:
        link = next(iter(links))
    if not isinstance(link, str):
        raise TypeError(f"link must be a string, got {type(link).__name__}")
    if link.lower() not in links:
        why = _WHY.get((key, link.lower()))
        raise ValueError(f"link={link!r} is not available for the {key} family "
                         f"(links: {', '.join(links)})" + (f": {why}" if why else ""))
    return links[link.lower()](**options)
