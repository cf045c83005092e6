"""fastgibbs: Gibbs samplers for Bayesian multilevel regression with a compiled core."""
from . import datasets
from .api import Model, fit
from .export import load
from .formula import FormulaError
from .priors import HalfCauchy, InvGamma, InvWishart, Normal
from .results import Fit
from .sbc import sbc
from .study import study

__version__ = "0.1.0"

__all__ = ["fit", "load", "Fit", "Normal", "InvGamma", "HalfCauchy", "InvWishart", "FormulaError", "datasets",
           "study", "sbc", "__version__"]
