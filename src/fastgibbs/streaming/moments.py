"""The column moments of streamed data, read as fastgibbs.moments.ArrayMoments reads
them from arrays: the internal scaling (samplers/problem.py) and the default priors
(priors.py) of a streamed design use this object (``design.moments``)."""
__all__ = ["StreamedMoments"]


class StreamedMoments:
    """Moments from the second pass (fastgibbs.streaming.accumulate.MomentPass).

    ``keep``: the fixed-effect columns kept by the rank check, as indices into the
    coded columns (None: all)."""

    def __init__(self, found, keep=None):
        self.found = found
        self.keep = None if keep is None else list(keep)

    def subset(self, keep):
        """The moments with only the fixed columns ``keep`` (indices of the current
        columns)."""
        current = self._columns()
        return StreamedMoments(self.found, [current[c] for c in keep])

    def _columns(self):
        return list(range(len(self.found.x.mean))) if self.keep is None else self.keep

    def x(self, c, center=True):
        return self.found.x.mean_sd(self._columns()[c], center=center)

    def x_all_ones(self, c):
        return bool(self.found.x.ones[self._columns()[c]])

    def z(self, k, c, center=True):
        return self.found.z[k].mean_sd(c, center=center)

    def y(self, center=True):
        return self.found.y.mean_sd(0, center=center)

    @property
    def has_offset(self):
        return self.found.any_offset

    def prior_scale(self, family):
        return family.prior_scale_from(self)

    def dispersion_priors(self, family):
        return family.dispersion_priors_from(self)

    @property
    def spread(self):
        """Weighted sum of squares of y - offset about its mean."""
        return float(self.found.y.m2[0])

    @property
    def weight(self):
        return float(self.found.y.weight)

