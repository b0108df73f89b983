"""A team's DVC remote: push a tracked folder, lose the cache and the copy, pull it back whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.kedro_project import make_project
from tests.support.tools import folder_bytes, run_tool

pytestmark = pytest.mark.e2e


def test_push_empty_cache_pull_gives_the_same_bytes(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    remote = tmp_path / "bucket"  # stands in for s3://team-bucket/urur (README)

    def run(*cmd: str) -> str:
        return run_tool(root, *cmd, timeout=300).stdout

    (root / "dvc.lock").unlink(missing_ok=True)  # this project's lock names outputs the copy never built
    run("git", "init", "-q")
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    run("dvc", "init", "-q")
    run("dvc", "config", "core.analytics", "false")
    run("dvc", "remote", "add", "-d", "team", str(remote))
    # A stage's outputs (dvc repro) and a download the team tracks itself (dvc add).
    run("dvc", "repro", "synthetic")
    release = root / "data/01_raw/deepglobe"
    release.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(3):
        (release / f"{k}_sat.jpg").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    run("dvc", "add", "data/01_raw/deepglobe")
    tracked = [root / "data/01_raw/synthetic/scenes", root / "data/01_raw/synthetic/truth", release]
    original = {str(folder): folder_bytes(folder) for folder in tracked}
    assert all(original.values())
    targets = ("synthetic", "data/01_raw/deepglobe.dvc")  # what this copy built; a full repro pushes all
    run("dvc", "push", *targets)
    shutil.rmtree(root / ".dvc/cache")
    for folder in tracked:
        shutil.rmtree(folder)
    run("dvc", "pull", *targets)
    assert {str(folder): folder_bytes(folder) for folder in tracked} == original
    assert "in sync" in run("dvc", "status", "--cloud", *targets)
