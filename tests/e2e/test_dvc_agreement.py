"""Kedro and DVC agree about what exists: what a plain ``kedro run`` built, DVC knows, so that
``dvc status``, ``dvc repro`` and ``dvc exp run`` neither rerun it nor delete it, and no command
rewrites a tracked file or phones home."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.kedro_project import make_project

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
# What a run may change among git's tracked files: DVC's record of the stages, and the small
# metrics and curves DVC's convention commits (.gitignore).
RECORDS = ("dvc.lock", "data/08_reporting/")


def _env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no telemetry switch set (the committed config must do it)."""
    env = {k: v for k, v in os.environ.items() if k not in {"KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK"}}
    return {**env, "PATH": f"{BIN}:{env['PATH']}", "COLUMNS": "400", **extra}  # log lines unwrapped


def _run(root: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=root, env=_env(), capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, f"{cmd}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".urur-run.lock"
    }


def _tracked_changes(root: Path) -> list[str]:
    return _run(root, "git", "status", "--porcelain", "--untracked-files=no").stdout.splitlines()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git clone of the tiny project after ``kedro run --pipeline=train_urur`` (what ``make run`` runs)."""
    root = make_project(tmp_path_factory.mktemp("agree"))
    (root / "data/08_reporting/training/plots").mkdir(parents=True, exist_ok=True)
    _run(root, "git", "init", "-q")
    _run(root, "git", "add", "-A")
    _run(root, *GIT, "commit", "-qm", "clone")
    pyproject = (root / "pyproject.toml").read_bytes()
    result = _run(root, "kedro", "run", "--pipeline=train_urur")
    assert "Recorded in DVC" in result.stdout + result.stderr
    # Nothing phoned home, and the project id kedro-telemetry writes was not written.
    assert "heap" not in (result.stdout + result.stderr).lower()
    assert (root / "pyproject.toml").read_bytes() == pyproject
    return root


def test_a_kedro_run_rewrites_no_tracked_file_but_dvc_records(built: Path) -> None:
    changed = [line[3:] for line in _tracked_changes(built)]
    assert "dvc.lock" in changed
    assert all(path.startswith(RECORDS) for path in changed), changed


def test_after_kedro_run_dvc_is_up_to_date_and_repro_reruns_nothing(built: Path) -> None:
    assert "Data and pipelines are up to date" in _run(built, "dvc", "status").stdout
    before = _checksums(built / "data")
    repro = _run(built, "dvc", "repro").stdout
    assert "Running stage" not in repro, repro
    assert _checksums(built / "data") == before
    metrics = _run(built, "dvc", "metrics", "show").stdout + _run(built, "dvc", "metrics", "show").stderr
    assert "failed to load" not in metrics.lower()
    # The test metrics come first and hold numbers only.
    assert metrics.splitlines()[1].startswith("data/08_reporting/test_metrics.json"), metrics
    test_metrics = json.loads((built / "data/08_reporting/test_metrics.json").read_text())
    assert all(isinstance(value, int | float) for value in test_metrics.values()), test_metrics


def test_dvc_exp_run_trains_a_variant_and_loses_nothing(built: Path) -> None:
    data = built / "data"
    models = data / "06_models/training"
    (baseline,) = [p.name for p in models.iterdir()]
    before = _checksums(data)
    curves = _checksums(data / "08_reporting/training_runs")
    params = (built / "params.yaml").read_text()
    _run(built, "git", "add", "-A")  # the baseline's results committed, as the README says
    _run(built, *GIT, "commit", "-qm", "baseline")

    result = _run(built, "dvc", "exp", "run", "-S", "training.lr=0.02")  # the README's form
    assert "Running stage 'training'" in result.stdout
    assert "Running stage 'ingestion'" not in result.stdout

    after = _checksums(data)
    assert not set(before) - set(after), sorted(set(before) - set(after))
    # The baseline's checkpoints and curves are as they were; the variant has its own.
    assert {k: v for k, v in after.items() if k.startswith(f"06_models/training/{baseline}/")} == {
        k: v for k, v in before.items() if k.startswith(f"06_models/training/{baseline}/")
    }
    assert _checksums(data / "08_reporting/training_runs").items() >= curves.items()
    variants = sorted(p.name for p in models.iterdir() if p.name != baseline)
    assert len(variants) == 1 and list((models / variants[0]).rglob("*.pt"))
    summary = json.loads((data / "06_models/training_summary.json").read_text())
    assert Path(summary["run_dir"]).name == variants[0]
    # -S changed that one value of the file Kedro reads through conf/base/parameters_training.yml.
    edited = yaml.safe_load((built / "conf/base/parameters_training.yml").read_text())
    assert edited["training"].pop("lr") == 0.02
    original = yaml.safe_load(params)
    original["training"].pop("lr")
    assert edited == original
    assert "Data and pipelines are up to date" in _run(built, "dvc", "status").stdout

    shown = json.loads(_run(built, "dvc", "exp", "show", "--json").stdout)
    experiments = [exp["revs"][0]["data"] for rev in shown for exp in rev["experiments"] or []]
    (variant,) = experiments
    shown_training = variant["params"]["params.yaml"]["data"]["training"]
    lr = shown_training["lr"]
    # Each params file declared once: DVC shows the file's lists as they are, not concatenated.
    assert shown_training["scale_range"] == yaml.safe_load(params)["training"]["scale_range"]
    test_miou = variant["metrics"]["data/08_reporting/test_metrics.json"]["data"]["test/mIoU"]
    workspace = json.loads((data / "08_reporting/test_metrics.json").read_text())
    assert lr == 0.02 and test_miou == workspace["test/mIoU"]

    # Back to the baseline's record: DVC checks out its model and leaves the variant's checkpoints
    # in the store; garbage collection of the cache does not touch the store either.
    store = _checksums(models)
    _run(built, "git", "checkout", "-q", "HEAD", "--", "dvc.lock", "params.yaml")
    _run(built, "dvc", "checkout", "--force")
    _run(built, "dvc", "gc", "--workspace", "--force")
    assert _checksums(models) == store
    best = data / "06_models/trained/best.pt"
    assert hashlib.md5(best.read_bytes()).hexdigest() == before["06_models/trained/best.pt"]


def test_a_run_with_other_parameters_is_not_recorded_as_the_files(built: Path) -> None:
    lock = (built / "dvc.lock").read_text()
    result = _run(built, "kedro", "run", "--pipelines", "split", "--params", "split.seed=5")
    assert "not recorded in DVC: --params split.seed" in result.stdout + result.stderr
    assert (built / "dvc.lock").read_text() == lock
    assert "split" in _run(built, "dvc", "status").stdout  # the outputs now differ from the record


def test_params_yaml_is_the_training_parameters_and_survives_dvc_overrides(tmp_path: Path) -> None:
    """`dvc exp run -S training.lr=...` edits params.yaml (DVC's default), which Kedro reads as
    conf/base/parameters_training.yml: one line changes."""
    from dvc.utils.hydra import apply_overrides

    link = ROOT / "conf/base/parameters_training.yml"
    assert link.is_symlink() and link.resolve() == (ROOT / "params.yaml").resolve()
    copy = tmp_path / "params.yaml"
    original = (ROOT / "params.yaml").read_text()
    copy.write_text(original)
    apply_overrides(copy, ["training.lr=0.02"])
    lines = zip(original.splitlines(), copy.read_text().splitlines(), strict=True)
    changed = [(a, b) for a, b in lines if a != b]
    assert len(changed) == 1 and changed[0][1].split("#")[0].strip() == "lr: 0.02"
    assert yaml.safe_load(copy.read_text())["training"]["lr"] == 0.02
