"""Build the Cython kernels.

Every ``src/fastgibbs/*.pyx`` becomes an extension module linked against numpy's
static random library (``npyrandom``) and ``npymath``, so kernels can draw from a
numpy ``bitgen_t`` without the GIL.

Environment switches:
- ``FASTGIBBS_CYTHON_DEBUG=1``: bounds checks, wraparound and initialized checks on.
- ``FASTGIBBS_COVERAGE=1``: line tracing for coverage of Cython code.
- ``FASTGIBBS_BUILD_ONLY=_core,_polyagamma``: build only these modules (development).
"""
import glob
import os
from os.path import join

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTGIBBS_CYTHON_DEBUG") == "1"
COVERAGE = os.environ.get("FASTGIBBS_COVERAGE") == "1"

DIRECTIVES = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "linetrace": COVERAGE,
}

numpy_lib_dirs = [
    join(np.get_include(), "..", "..", "random", "lib"),
    join(np.get_include(), "..", "lib"),
]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("FASTGIBBS_BOUNDSCHECK", "1"))     # fastgibbs._kinds.BOUNDS_CHECKED
if COVERAGE:
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

# the diagnostics' autocovariance sums may be reassociated, so that they vectorize
# (sums of products in any order; no NaN, infinity or signed-zero semantics change)
EXTRA_FLAGS = {"_diagnostics": ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"]}

extensions = [
    Extension(
        "fastgibbs." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[np.get_include()],
        library_dirs=numpy_lib_dirs,
        libraries=["npyrandom", "npymath"],
        define_macros=macros,
        extra_compile_args=["-O3", *EXTRA_FLAGS.get(os.path.splitext(os.path.basename(path))[0], [])],
    )
    for path in sorted(glob.glob(join("src", "fastgibbs", "*.pyx")))
]
ONLY = os.environ.get("FASTGIBBS_BUILD_ONLY")
if ONLY:
    extensions = [e for e in extensions if e.name.split(".")[-1] in ONLY.split(",")]

# the directives are not part of cythonize's dependency check: regenerate the C code
# whenever a debug or coverage build is asked for, so no stale C file slips through
# extensions compile in parallel (_core.c alone takes most of a minute at -O3)
setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES,
                            force=DEBUG or COVERAGE),
      options={"build_ext": {"parallel": os.cpu_count() or 1}})
