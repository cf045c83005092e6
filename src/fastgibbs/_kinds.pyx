"""Kernel codes as Python enums (defined once, in _kinds.pxd): Family, VariancePrior,
Covariance and Status; and BOUNDS_CHECKED, True when the extensions were built with
bounds, wraparound and initialization checks (FASTGIBBS_CYTHON_DEBUG=1)."""

cdef extern from *:
    """
    #ifndef FASTGIBBS_BOUNDSCHECK
    #define FASTGIBBS_BOUNDSCHECK 0
    #endif
    """
    int FASTGIBBS_BOUNDSCHECK

BOUNDS_CHECKED = bool(FASTGIBBS_BOUNDSCHECK)
