"""Response families: each module defines one (see families/base.py)."""
from .base import Family, Response
from .binomial import Bernoulli, Binomial
from .gaussian import Gaussian
from .negbinomial import NegativeBinomial
from .poisson import Poisson

__all__ = ["Family", "Response", "get_family", "FAMILY_NAMES"]

_FAMILIES = {cls.name: cls for cls in (Gaussian, Bernoulli, Binomial, Poisson, NegativeBinomial)}
FAMILY_NAMES = tuple(_FAMILIES)
# spellings of other packages that mean the same family
_ALIASES = {"normal": "gaussian", "negbinomial": "negativebinomial",
            "negative_binomial": "negativebinomial", "nb": "negativebinomial"}


def get_family(family):
    """The :class:`Family` for a name (or a Family instance, returned as is)."""
    if isinstance(family, Family):
        return family
    if not isinstance(family, str):
        raise TypeError(f"family must be a string, got {type(family).__name__}")
    key = _ALIASES.get(family.lower(), family.lower())
    if key not in _FAMILIES:
        raise ValueError(f"family must be one of {FAMILY_NAMES}, got {family!r}")
    return _FAMILIES[key]()
