"""The command line, driven as a subprocess: exit codes, output and files."""
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fastgibbs as fg


def run(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    if env.get("PYTHONPATH"):            # development runs: keep src importable from any cwd
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p)
                                            for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return subprocess.run([sys.executable, "-m", "fastgibbs", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "nes.csv"
    fg.datasets.load("nes2000").to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def saved_fit(csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fit.npz"
    result = run("fit", str(csv), "real_ideo ~ partyid7 + (1 | state)", "--chains", "2",
                 "--draws", "300", "--warmup", "100", "--seed", "3",
                 "--prior", "partyid7=normal(0,1)", "--prior", "1|state=invgamma(0.5, 0.5)",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_fit_prints_summary_and_saves(saved_fit):
    out, result = saved_fit
    assert "Fixed effects" in result.stdout and "partyid7" in result.stdout
    assert out.is_file()
    fit = fg.load(out)
    assert fit.draws().shape[:2] == (2, 300)
    assert str(fit.priors["partyid7"]) == "Normal(0, 1)"
    assert result.stderr == ""          # no progress bar when piped


def test_fit_reads_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "d.parquet"
    fg.datasets.load("nes2000").to_parquet(path)
    result = run("fit", str(path), "real_ideo ~ partyid7 + (1 | state)", "--chains", "1",
                 "--draws", "50", "--warmup", "10")
    assert result.returncode == 0, result.stderr


def test_summary_of_saved_fit(saved_fit):
    out, first = saved_fit
    result = run("summary", str(out))
    assert result.returncode == 0, result.stderr
    assert "Fixed effects" in result.stdout


@pytest.mark.parametrize("kind,pars", [("trace", ["partyid7", "sigma"]), ("rank", ["sigma"]),
                                       ("density", ["partyid7"]), ("pairs", ["partyid7", "sigma"]),
                                       ("intervals", ["1|state"]), ("autocorr", ["sigma"])])
def test_plot_writes_png(saved_fit, tmp_path, kind, pars):
    out, _ = saved_fit
    png = tmp_path / f"{kind}.png"
    result = run("plot", str(out), "--kind", kind, "--pars", *pars, "--out", str(png))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_example_writes_its_folder(tmp_path):
    result = run("example", "--draws", "200", "--out", "ex", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "real_ideo ~ 1 + partyid7 + (1 | state)" in result.stdout
    for name in ("trace.png", "state_intervals.png", "nes2000_fit.npz"):
        assert (tmp_path / "ex" / name).is_file()


@pytest.mark.parametrize("args,message", [
    (["fit", "missing.csv", "y ~ x"], "not found"),
    (["fit", "{csv}", "real_ideo ~ partyid7 +"], "cannot parse formula"),
    (["fit", "{csv}", "real_ideo ~ nope + (1 | state)"], "'nope'"),
    (["fit", "{csv}", "real_ideo ~ partyid7 + (1 | state)", "--family", "poisson"], "family"),
    (["fit", "{csv}", "real_ideo ~ partyid7 + (1 | state)", "--prior", "partyid7=normal(0"],
     "bad prior"),
    (["fit", "{csv}", "real_ideo ~ partyid7 + (1 | state)", "--prior", "x=student(3)"],
     "unknown distribution"),
    (["summary", "nofit.npz"], "not found"),
])
def test_bad_input_one_line_no_traceback(csv, args, message):
    result = run(*[a.format(csv=csv) for a in args])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_traceback(csv):
    result = run("--debug", "fit", str(csv), "real_ideo ~ nope + (1 | state)")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
