"""Fuzz test (issue 11 "Done when"): random data frames, formulas, priors and sampling
arguments find no crash, hang, non-finite draw or unexplained exception.

The cases (tests/fuzz_cases.py) run in a child process, so that a segmentation fault
fails this test (naming the case) instead of killing pytest. Budget: about
FUZZ_SECONDS of cases (default 18) plus the child's start; FASTGIBBS_FUZZ_SECONDS
and FASTGIBBS_TEST_SEED run longer or other cases, e.g.
``FASTGIBBS_FUZZ_SECONDS=600 FASTGIBBS_TEST_SEED=7 pytest tests/test_fuzz.py``.
"""
import json
import os
from pathlib import Path
import subprocess
import sys

from conftest import TEST_SEED

FUZZ_SECONDS = float(os.environ.get("FASTGIBBS_FUZZ_SECONDS", "18"))
START_SECONDS = 60          # the child's imports on a loaded machine, and the last case
MIN_CASES = 30              # fewer means the fuzzer did not really run
CASES = Path(__file__).resolve().parent / "fuzz_cases.py"


def _environment():
    env = dict(os.environ, MPLBACKEND="Agg")
    if env.get("PYTHONPATH"):            # development runs: keep src importable
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p)
                                            for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return env


def _last_case(stdout):
    cases = [line for line in stdout.splitlines() if line.startswith("case ")]
    return cases[-1] if cases else "(before the first case)"


def test_fuzzed_inputs_fail_cleanly_or_fit_finitely():
    try:
        result = subprocess.run([sys.executable, str(CASES), str(TEST_SEED), str(FUZZ_SECONDS)],
                                capture_output=True, text=True, env=_environment(),
                                timeout=FUZZ_SECONDS + START_SECONDS)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        raise AssertionError(f"the fuzzer hung in {_last_case(out)}") from None
    assert result.returncode == 0, (
        f"the fuzzer died (exit {result.returncode}) in {_last_case(result.stdout)}:\n"
        f"{result.stderr[-3000:]}")
    report = json.loads(result.stdout.rsplit("REPORT ", 1)[1])
    assert report["cases"] >= MIN_CASES, report
    assert report["fitted"] > 0 and report["refused"] > 0, report
    problems = "\n".join(f"{p['stage']}: {p['error']}: {p['message']} (at {p.get('at')})\n"
                         f"    {p['case']}" for p in report["problems"])
    assert not report["problems"], f"{len(report['problems'])} problem(s):\n{problems}"
