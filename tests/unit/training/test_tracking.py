"""Comparison runs as DVC experiments: `dvc exp show` lists each with its params and metrics, the
user's workspace stays as it was, and a run without git or DVC still finishes."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from urur.settings import CONFIG_LOADER_ARGS
from urur.training.tracking import open_live, save_experiment

ROOT = Path(__file__).resolve().parents[3]

RECORD = "data/08_reporting/compare/run"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def _run_log(path: Path, losses: list[float]) -> Path:
    """A finished run's DVCLive folder, as the trainer writes it."""
    live = open_live(path)
    live.log_params({"model": "wsdnet", "seed": 0})
    for step, loss in enumerate(losses, start=1):
        live.step = step
        live.log_metric("train/loss", loss)
        live.make_summary()
    return path


def _dvc(cwd: Path, *args: str) -> str:
    dvc = Path(sys.executable).with_name("dvc")
    return subprocess.run([str(dvc), *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git + DVC project ignoring data/ as the project does (but its small metrics and the record)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    subprocess.run(["git", "init", "-q"], check=True)
    _dvc(tmp_path, "init", "-q")
    _dvc(tmp_path, "config", "core.analytics", "false")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run([*GIT, "commit", "-qm", "project"], check=True)
    return tmp_path


def test_each_saved_run_is_an_experiment_with_its_own_params_and_metrics(repo: Path) -> None:
    (repo / "notes.txt").write_text("the user's own, untracked\n")
    saved = {}
    for seed, (losses, miou) in enumerate([([2.0, 1.5], 0.41), ([2.2, 1.1], 0.47)]):
        run_dir = _run_log(repo / f"data/06_models/compare/live/table4/WSDNet-seed{seed}", losses)
        saved[seed] = save_experiment(
            f"table4-WSDNet-seed{seed}",
            run_dir,
            RECORD,
            params={"compare": {"table": "table4", "row": "WSDNet", "seed": seed}},
            metrics={"test/mIoU": miou, "fps": None},
        )
    assert all(len(commit) == 40 for commit in saved.values()) and saved[0] != saved[1]

    shown = json.loads(_dvc(repo, "exp", "show", "--json"))
    experiments = {  # [workspace, baseline commit]: the experiments hang off the baseline
        exp["name"]: exp["revs"][0]["data"] for rev in shown for exp in rev["experiments"] or []
    }
    assert sorted(experiments) == ["table4-WSDNet-seed0", "table4-WSDNet-seed1"]
    for seed, (loss, miou) in enumerate([(1.5, 0.41), (1.1, 0.47)]):
        data = experiments[f"table4-WSDNet-seed{seed}"]
        metrics = data["metrics"][f"{RECORD}/metrics.json"]["data"]
        params = data["params"][f"{RECORD}/params.yaml"]["data"]
        assert metrics["test"]["mIoU"] == miou and metrics["train"]["loss"] == loss and "fps" not in metrics
        assert params["compare"] == {"table": "table4", "row": "WSDNet", "seed": seed}
        assert params["model"] == "wsdnet"  # the trainer's params came along with the run's log
    # The second run replaced the record; the user's file and git's index are untouched.
    assert json.loads((repo / RECORD / "metrics.json").read_text())["test"]["mIoU"] == 0.47
    assert (repo / "notes.txt").read_text() == "the user's own, untracked\n"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    # The record is left to commit (small metrics, DVC's convention) beside the user's file; nothing staged.
    assert {"?? notes.txt", f"?? {RECORD}/dvc.yaml", f"?? {RECORD}/metrics.json"} <= set(status)
    assert all(line.startswith(("?? notes.txt", f"?? {RECORD}/")) for line in status)
    # Saving again under a name replaces that experiment rather than failing.
    run_dir = repo / "data/06_models/compare/live/table4/WSDNet-seed0"
    assert save_experiment("table4-WSDNet-seed0", run_dir, RECORD, {}, {})


def test_logging_leaves_a_git_repository_without_dvc_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVCLive's own Live runs `dvc init` here, and fails while the repository has no commit."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    subprocess.run(["git", "init", "-q"], check=True)
    for commits in (0, 1):
        if commits:
            (tmp_path / "README").write_text("x\n")
            subprocess.run(["git", "add", "README"], check=True)
            subprocess.run([*GIT, "commit", "-qm", "first"], check=True)
        run_dir = _run_log(tmp_path / f"live{commits}", [2.0, 1.0])
        assert json.loads((run_dir / "metrics.json").read_text())["train"]["loss"] == 1.0
        assert not (tmp_path / ".dvc").exists() and not (tmp_path / ".dvcignore").exists()


def test_without_git_the_run_is_recorded_and_the_reason_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    run_dir = _run_log(tmp_path / "live", [1.0])
    with caplog.at_level(logging.WARNING):
        assert save_experiment("table6-none-seed0", run_dir, RECORD, {}, {"test/mIoU": 0.3}) is None
    assert "Not saving experiment table6-none-seed0" in caplog.text and "dvc exp show" in caplog.text
    assert json.loads((tmp_path / RECORD / "metrics.json").read_text())["test"]["mIoU"] == 0.3


def test_inside_a_dvc_stage_dvc_records_the_stage_itself(
    repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DVC_ROOT", str(repo))
    run_dir = _run_log(repo / "live", [1.0])
    with caplog.at_level(logging.INFO):
        assert save_experiment("table5-cnn-seed1", run_dir, RECORD, {}, {}) is None
    assert "inside a DVC stage" in caplog.text
    assert all(rev["experiments"] is None for rev in json.loads(_dvc(repo, "exp", "show", "--json")))


def test_every_environment_keeps_its_record_where_git_tracks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dvc exp save` refuses a git-ignored dvc.yaml, so an environment whose record sits under its
    own data root (data/demo_uhr/...) would save no experiment, with only a warning to say so."""
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    envs = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "local")
    records = {}
    for env in envs:
        loader = OmegaConfigLoader(conf_source=str(ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
        records[env] = loader["parameters"]["compare"]["experiment_record"]
    assert records["base"] == RECORD and records["demo_uhr"] == "data/demo_uhr/08_reporting/compare/run"
    for env, record in records.items():
        for name in ("dvc.yaml", "metrics.json", "plots/metrics/train/loss.tsv"):
            ignored = subprocess.run(["git", "check-ignore", "-q", f"{record}/{name}"], check=False)
            assert ignored.returncode == 1, f"{env}: {record}/{name} is git-ignored"
    # The rest of an environment's data root stays ignored.
    checkpoint = subprocess.run(["git", "check-ignore", "-q", "data/demo_uhr/06_models/x.pt"], check=False)
    assert checkpoint.returncode == 0
