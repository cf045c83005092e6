"""`import fastgibbs` stays light: the slow dependencies load where they are used.

Each of these modules takes 0.1-0.5 s to import (formulae pulls in scipy.interpolate);
benchmarks/bench_overhead.py measures the import time against numpy + pandas.
"""
import subprocess
import sys

import pytest

HEAVY = ["formulae", "scipy.stats", "scipy.interpolate", "matplotlib"]


def modules_after(code):
    """Names from HEAVY in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_import_fastgibbs_loads_none_of_the_heavy_modules():
    assert modules_after("import fastgibbs") == []


def test_the_probe_sees_a_heavy_module_when_it_is_used():
    # the check above is not vacuous: building a design with a call in its formula does
    # load formulae (a sum of numeric columns does not: test_plain_design)
    code = ("import fastgibbs as fg\n"
            "fg.Model('Reaction ~ log(Days + 1) + (1 | Subject)', fg.datasets.load('sleepstudy'))")
    assert "formulae" in modules_after(code)


@pytest.mark.parametrize("module", ["cli", "study", "sbc", "simulate", "plots", "diagnostics"])
def test_submodules_load_none_of_the_heavy_modules(module):
    assert modules_after(f"import fastgibbs.{module}") == []
