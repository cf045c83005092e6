"""Weighted means and standard deviations that do not overflow: values are divided by
their largest magnitude first, so data of 1e154 (whose squares overflow doubles) or
1e-160 (whose squares underflow) get the same relative precision as data near 1."""
import numpy as np

__all__ = ["ArrayMoments", "mean_sd"]


def mean_sd(values, weights=None, center=True):
    """(mean, sd) of ``values`` (n,) under frequency ``weights`` (n,) or None.

    ``center=False`` gives (0, root mean square): the spread around 0, for a model
    without an intercept. The sd divides by the total weight (as np.std)."""
    v = np.asarray(values, dtype=float)
    top = float(np.max(np.abs(v))) if v.size else 0.0
    if not np.isfinite(top) or top == 0.0:
        return (0.0, 0.0) if top == 0.0 else (np.nan, np.nan)
    u = v / top
    if weights is None:     # the same sums as np.average with unit weights, bit for bit
        m = float(u.mean()) if center else 0.0
        u -= m
        u *= u
        return m * top, float(np.sqrt(u.mean())) * top
    w = np.asarray(weights, dtype=float)
    m = float(np.average(u, weights=w)) if center else 0.0
    sd = float(np.sqrt(np.average((u - m) ** 2, weights=w)))
    return m * top, sd * top


class ArrayMoments:
    """The weighted means and sds that the internal scaling (samplers/problem.py) and
    the default priors (priors.py) read from a design, computed from its arrays.

    A design streamed from files (fastgibbs.streaming) carries an object with the same
    methods, computed from sums over chunks, as ``design.moments``; these two are the
    only places that read the design's columns for moments. ``y_eff``: the response
    after the offset (gaussian) or the response (other families); default:
    ``design.y - design.offset``."""

    def __init__(self, design, y_eff=None, weights=None):
        self.design = design
        self.weights = getattr(design, "weights", None) if weights is None else weights
        self._y_eff = y_eff
        self._x = {}

    def x(self, c, center=True):
        """(mean, sd) of fixed-effect column c; (0, root mean square) if not center."""
        if (c, center) not in self._x:          # the default priors ask up to 3 times
            self._x[c, center] = mean_sd(self.design.X[:, c], self.weights, center=center)
        return self._x[c, center]

    def x_all_ones(self, c):
        return bool(np.all(self.design.X[:, c] == 1.0))

    def z(self, k, c, center=True):
        """(mean, sd) of column c of block k's Z; (0, rms) if not center."""
        return mean_sd(self.design.blocks[k].Z[:, c], self.weights, center=center)

    def y(self, center=True):
        """(mean, sd) of the effective response y_eff."""
        y_eff = self._y_eff
        if y_eff is None:
            y_eff = self.design.y - _offset(self.design)
        return mean_sd(y_eff, self.weights, center=center)

    @property
    def has_offset(self):
        return bool(np.any(_offset(self.design)))

    def prior_scale(self, family):
        """The family's (location, scale) of data-scaled default priors."""
        d = self.design
        return family.prior_scale(d.y, getattr(d, "trials", None), _offset(d), self.weights)

    def dispersion_priors(self, family):
        return family.default_dispersion_priors(self.design.y - _offset(self.design),
                                                self.weights)


def _offset(design):
    offset = getattr(design, "offset", None)
    return np.zeros(design.n_obs) if offset is None else offset
