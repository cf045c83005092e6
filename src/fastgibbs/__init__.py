"""fastgibbs: Gibbs samplers for Bayesian multilevel regression with a compiled core."""
__version__ = "0.1.0"
