"""Weighted means and standard deviations that do not overflow: values are divided by
their largest magnitude first, so data of 1e154 (whose squares overflow doubles) or
1e-160 (whose squares underflow) get the same relative precision as data near 1."""
import numpy as np

__all__ = ["mean_sd"]


def mean_sd(values, weights=None, center=True):
    """(mean, sd) of ``values`` (n,) under frequency ``weights`` (n,) or None.

    ``center=False`` gives (0, root mean square): the spread around 0, for a model
    without an intercept. The sd divides by the total weight (as np.std)."""
    v = np.asarray(values, dtype=float)
    top = float(np.max(np.abs(v))) if v.size else 0.0
    if not np.isfinite(top) or top == 0.0:
        return (0.0, 0.0) if top == 0.0 else (np.nan, np.nan)
    u = v / top
    w = np.ones_like(u) if weights is None else np.asarray(weights, dtype=float)
    m = float(np.average(u, weights=w)) if center else 0.0
    sd = float(np.sqrt(np.average((u - m) ** 2, weights=w)))
    return m * top, sd * top
