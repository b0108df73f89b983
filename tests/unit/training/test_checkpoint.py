"""Checkpoint helpers by value: generator states survive a weights-only round trip, a
configuration's folder name is stable, a refused resume names each difference, a saved checkpoint
reads back whole, pruning keeps the newest and old runs are moved aside, not deleted."""

from __future__ import annotations

import hashlib
import io
import logging
import platform
import random
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from urur.models.checkpoint import CheckpointError
from urur.training import checkpoint as checkpoint_module
from urur.training.checkpoint import (
    BEST_NAME,
    _to_cpu,
    build_meta,
    configuration_name,
    git_commit,
    ids_digest,
    move_aside,
    periodic_checkpoints,
    periodic_name,
    prune,
    restore_rng_states,
    resume_from,
    resume_mismatch,
    rng_states,
    save_checkpoint,
)
from urur.training.config import TrainingParams


def _draws() -> tuple[list[float], list[float], list[float]]:
    return (
        [random.random() for _ in range(3)],
        np.random.random(3).tolist(),
        torch.rand(3).tolist(),
    )


def test_generator_states_resume_where_they_stopped_after_a_weights_only_round_trip() -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached second Gaussian in Python's state
    saved = io.BytesIO()
    torch.save(rng_states(), saved)
    expected = _draws()
    # Something else draws meanwhile (another run, a validation pass)...
    random.seed(7)
    np.random.seed(8)
    torch.manual_seed(9)
    _draws()
    saved.seek(0)
    restore_rng_states(torch.load(saved, weights_only=True))
    # ...and every generator continues exactly where the saved run stopped.
    assert _draws() == expected
    assert np.random.get_state(legacy=False)["state"]["key"].dtype == np.uint32


def test_configuration_names_are_stable_across_versions() -> None:
    """Existing checkpoint folders are found by this name: a change orphans every user's runs."""
    params = TrainingParams(model="stdc", model_options={"width": 0.125})
    assert configuration_name(params, ["a", "b"]) == "stdc-34d8a21e76a0"
    assert configuration_name(TrainingParams(), ["a", "b"]) == "wsdnet-d8ba0ecc1522"


def test_resume_mismatch_names_each_difference_and_ignores_how_a_run_runs() -> None:
    params = TrainingParams().model_dump(mode="json")
    meta = {
        "model": "wsdnet",
        "num_classes": 8,
        "class_names": ["a"],
        "train_ids_sha256": "x",
        "params": params,
    }
    assert resume_mismatch(meta, meta) == []
    current = {
        **meta,
        "model": "isdnet",
        "class_names": ["b"],
        "params": {**params, "lr": 0.5, "workers": 7, "keep_last": 1, "added": 1},
    }
    assert resume_mismatch(meta, current) == [
        "model: checkpoint 'wsdnet', now 'isdnet'",
        "class_names: checkpoint ['a'], now ['b']",
        "added: checkpoint None, now 1",
        f"lr: checkpoint {params['lr']!r}, now 0.5",
    ]
    other_split = {**meta, "num_classes": 7, "train_ids_sha256": "y"}
    assert resume_mismatch(meta, other_split) == [
        "num_classes: checkpoint 8, now 7",
        "train_ids_sha256: checkpoint 'x', now 'y'",
    ]


TINY = TrainingParams(model="stdc", model_options={"width": 0.125}, seed=5)


def test_meta_names_the_model_its_classes_normalisation_split_and_code() -> None:
    import albumentations

    meta = build_meta(TINY, ["water", "road"], ["b", "a"])
    assert {k: meta[k] for k in ("model", "num_classes", "options", "class_names", "seed")} == {
        "model": "stdc",
        "num_classes": 2,
        "options": {"width": 0.125},
        "class_names": ["water", "road"],
        "seed": 5,
    }
    assert (meta["mean"], meta["std"]) == (list(TINY.mean), list(TINY.std))
    assert meta["params"] == TINY.model_dump(mode="json")
    assert meta["train_ids_sha256"] == hashlib.sha256(b"b\na").hexdigest()[:16] == ids_digest(["b", "a"])
    assert meta["git_commit"] == git_commit()
    assert meta["versions"] == {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "albumentations": albumentations.__version__,
    }


def test_the_commit_is_the_source_trees_whatever_the_working_folder(monkeypatch, tmp_path: Path) -> None:
    source = Path(checkpoint_module.__file__).parent
    asked = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True)
    expected = asked.stdout.strip() if asked.returncode == 0 else None  # None outside a git checkout
    monkeypatch.chdir(tmp_path)  # no git repository here: the source tree's folder is asked
    assert git_commit() == expected
    if expected is not None:
        assert re.fullmatch(r"[0-9a-f]{40}", expected)
    monkeypatch.setenv("PATH", "")  # no git on the PATH: OSError, not a crash
    assert git_commit() is None


def test_a_checkpoint_before_its_first_commit_has_no_commit(tmp_path: Path) -> None:
    """``git rev-parse HEAD`` prints "HEAD" there and fails: the failure is what says so."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert git_commit(tmp_path) is None
    (tmp_path / "a").write_text("a")
    for args in (["add", "a"], ["-c", "user.name=u", "-c", "user.email=u@e", "commit", "-qm", "a"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True)
    assert git_commit(tmp_path) == head.stdout.strip()
    assert git_commit(tmp_path / "a") is None  # not a folder: git cannot start there


def _save(path: Path, iteration: int, model: nn.Module) -> Path:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5)
    meta = build_meta(TINY, ["a", "b"], ["x"])
    return save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        iteration=iteration,
        meta=meta,
        best={"score": 0.5, "iteration": 3},
        history=[{"iteration": 3, "val/mIoU": 0.5}],
        data_state={"epoch": 2, "position": 7},
    )


def test_a_saved_checkpoint_reads_back_whole_with_weights_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    path = _save(tmp_path / "run" / periodic_name(4), 4, model)
    assert path == tmp_path / "run" / "iter_00000004.pt"
    assert sorted(p.name for p in path.parent.iterdir()) == ["iter_00000004.pt"]  # nothing half-written left
    state = torch.load(path, weights_only=True)
    assert sorted(state) == ["best", "history", "iteration", "meta", "model", "optimizer", "rng", "scheduler"]
    assert state["iteration"] == 4 and state["best"] == {"score": 0.5, "iteration": 3}
    assert state["history"] == [{"iteration": 3, "val/mIoU": 0.5}]
    for name, tensor in model.state_dict().items():
        assert torch.equal(state["model"][name], tensor)
    momentum = state["optimizer"]["state"][0]["momentum_buffer"]
    assert momentum.device.type == "cpu" and momentum.is_contiguous() and not momentum.requires_grad
    assert state["scheduler"]["base_lrs"] == [0.1]
    assert state["rng"]["data"] == {"epoch": 2, "position": 7}
    assert sorted(state["rng"]) == sorted([*rng_states(), "data"])
    assert state["meta"]["class_names"] == ["a", "b"]


def test_tensors_go_to_the_cpu_detached_in_containers_of_their_own_type() -> None:
    weight = torch.ones(2, 3, requires_grad=True).t()  # a non-contiguous view
    moved = _to_cpu({"a": [weight, (1, weight)], "b": "text"})
    assert isinstance(moved["a"], list) and isinstance(moved["a"][1], tuple) and moved["b"] == "text"
    tensor = moved["a"][0]
    assert tensor.is_contiguous() and not tensor.requires_grad and torch.equal(tensor, weight.detach())


def test_periodic_checkpoints_sort_oldest_first_and_pruning_keeps_the_newest(tmp_path: Path) -> None:
    for iteration in (1000, 20, 300):
        (tmp_path / periodic_name(iteration)).write_bytes(b"")
    (tmp_path / BEST_NAME).write_bytes(b"")
    assert [p.name for p in periodic_checkpoints(tmp_path)] == [
        "iter_00000020.pt",
        "iter_00000300.pt",
        "iter_00001000.pt",
    ]
    prune(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "iter_00000300.pt", "iter_00001000.pt"]
    prune(tmp_path, keep_last=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "iter_00001000.pt"]


def test_a_run_resumes_from_its_newest_checkpoint_of_the_same_configuration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    meta = build_meta(TINY, ["a", "b"], ["x"])
    assert resume_from(TINY, tmp_path, meta) is None  # nothing to resume
    for iteration in (2, 4, 6):
        _save(tmp_path / periodic_name(iteration), iteration, nn.Linear(2, 3))
    assert resume_from(TINY, tmp_path, meta)["iteration"] == 6
    assert resume_from(TINY.model_copy(update={"resume": False}), tmp_path, meta) is None
    other = build_meta(TINY.model_copy(update={"lr": 0.5, "momentum": 0.5}), ["a", "b"], ["x"])
    with pytest.raises(CheckpointError) as error:
        resume_from(TINY, tmp_path, other)
    assert str(error.value) == (
        f"{tmp_path} holds checkpoints of another configuration (lr: checkpoint {TINY.lr!r}, now 0.5; "
        f"momentum: checkpoint {TINY.momentum!r}, now 0.5): "
        "train into another output folder, or set resume: false to start over (the old checkpoints are "
        "then moved aside, not deleted)"
    )


def test_old_checkpoints_are_moved_aside_not_deleted(tmp_path: Path, caplog) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    move_aside(empty)
    move_aside(tmp_path / "absent")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # nothing to keep: left as it is
    run = tmp_path / "run"
    run.mkdir()
    (run / periodic_name(1)).write_bytes(b"weights")
    with caplog.at_level(logging.WARNING, logger="urur.training.checkpoint"):
        move_aside(run)
    (aside,) = tmp_path.glob("run.previous-*")
    assert re.fullmatch(r"run\.previous-\d{8}-\d{6}", aside.name)
    assert not run.exists() and (aside / periodic_name(1)).read_bytes() == b"weights"
    assert caplog.messages == [f"resume is off: moved the previous checkpoints to {aside}"]
