"""fastgibbs: Gibbs samplers for Bayesian multilevel regression with a compiled core."""
from . import datasets
from .api import Model, fit
from .cv import cv
from .formula import FormulaError
from .polyagamma import polyagamma_mean, polyagamma_var, random_polyagamma
from .priors import Beta, Gamma, HalfCauchy, HuangWand, InvGamma, InvWishart, Normal
from .structured import AR1, BYM2, ICAR, RandomWalk
from .results import Fit
from .savefile import load
from .sbc import sbc
from .study import study

__version__ = "0.1.0"

__all__ = ["fit", "Model", "Fit", "load", "study", "sbc", "cv", "datasets",
           "Normal", "InvGamma", "HalfCauchy", "InvWishart", "HuangWand", "Gamma", "Beta", "FormulaError",
           "RandomWalk", "AR1", "ICAR", "BYM2",
           "random_polyagamma", "polyagamma_mean", "polyagamma_var", "__version__"]
