"""The ``urur`` console script as a user starts it: help, version, start-up cost, clean output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from tests.unit.predict.test_raster import CRS, TRANSFORM, _image
from urur.io.raster import write_raster

URUR = Path(sys.executable).with_name("urur")
HEAVY = ("torch", "rasterio", "kedro", "onnxruntime", "onnx", "numpy", "pandas")
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}


def _urur(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(URUR), *args], capture_output=True, text=True, env=ENV, check=False)


def test_help_and_version():
    short, long = _urur("-h"), _urur("--help")
    assert short.returncode == 0 and short.stdout == long.stdout
    assert "-h, --help" in short.stdout and "export-onnx" in short.stdout and "predict" in short.stdout
    done = _urur("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"urur {version('urur')}"
    assert "--onnx PATH" in _urur("predict", "-h").stdout


def test_help_imports_nothing_heavy_and_answers_within_a_second():
    """torch, GDAL and Kedro are imported inside the commands (6 s to import them on 2 cores)."""
    probe = "import sys, urur.commands; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split())
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    started = time.perf_counter()
    done = _urur("predict", "--help")
    assert done.returncode == 0 and "--tile INTEGER" in done.stdout
    assert time.perf_counter() - started < 1.0


def test_a_prediction_prints_no_deprecation_or_gdal_noise(tmp_path, checkpoint):
    """pytorch_wavelets' pkg_resources warning and libtiff's complaint about a colour table set
    after the pixels ("Cannot modify tag PhotometricInterpretation") used to end every run."""
    source = tmp_path / "scene.tif"
    write_raster(source, _image(96, 128), crs=CRS, transform=TRANSFORM)
    out = tmp_path / "labels.tif"
    args = ["--checkpoint", checkpoint, "--tile", "64", "--overlap", "16", "--preview", f"{tmp_path}/p.png"]
    done = _urur("predict", str(source), "-o", str(out), *args)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    for noise in ("pkg_resources", "Cannot modify tag", "Warning"):
        assert noise not in done.stderr, done.stderr
