"""Rebuilding a model from its checkpoint alone (urur.models.checkpoint): expectations, weights that
do not fit and unreadable files are refused naming the file; a run's best checkpoint, else its last."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from urur.classes import URUR_CLASSES
from urur.models.checkpoint import CheckpointError, build_model_from_checkpoint, run_checkpoint


def test_the_checkpoint_rebuilds_its_model_in_eval_mode(checkpoint: str) -> None:
    model, meta = build_model_from_checkpoint(checkpoint, model="wsdnet", num_classes=8)
    assert not model.training and (meta["model"], meta["options"]) == ("wsdnet", {"width": 0.125})
    saved = torch.load(checkpoint, weights_only=True)["model"]
    assert all(torch.equal(value, saved[name]) for name, value in model.state_dict().items())


def test_another_model_is_refused_before_any_weight_is_loaded(checkpoint: str) -> None:
    for expectation, message in (
        ({"model": "isdnet"}, r"holds another model: model 'wsdnet' \(expected 'isdnet'\)"),
        ({"num_classes": 7}, r"num_classes 8 \(expected 7\)"),
        ({"options": {"width": 0.25}}, r"options \{'width': 0.125\} \(expected \{'width': 0.25\}\)"),
    ):
        with pytest.raises(CheckpointError, match=message):
            build_model_from_checkpoint(checkpoint, **expectation)


def test_weights_that_do_not_fit_their_meta_are_refused(checkpoint: str, tmp_path: Path) -> None:
    state = torch.load(checkpoint, weights_only=True)
    state["meta"]["options"] = {"width": 0.25}  # weights of width 0.125 under a 0.25 label
    torch.save(state, tmp_path / "relabelled.pt")
    with pytest.raises(CheckpointError, match=r"relabelled\.pt do not fit the model"):
        build_model_from_checkpoint(tmp_path / "relabelled.pt")
    state = torch.load(checkpoint, weights_only=True)
    state["meta"]["num_classes"] = 3  # weights of an 8-class head
    state["meta"]["class_names"] = list(URUR_CLASSES[:3])
    torch.save(state, tmp_path / "classes.pt")
    with pytest.raises(CheckpointError, match=r"classes.pt do not fit the model"):
        build_model_from_checkpoint(tmp_path / "classes.pt")


def test_unreadable_files_are_named(checkpoint: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad.pt"):
        build_model_from_checkpoint(bad)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(Path(checkpoint).read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: .*corrupt or truncated"):
        build_model_from_checkpoint(truncated)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a urur training checkpoint"):
        build_model_from_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match=r"missing.pt does not exist"):
        build_model_from_checkpoint(tmp_path / "missing.pt")


def test_a_run_uses_its_best_checkpoint_else_its_last() -> None:
    run = {"best_checkpoint": "run/best.pt", "last_checkpoint": "run/iter_00000400.pt"}
    assert run_checkpoint(run) == "run/best.pt"
    assert run_checkpoint(run, "last") == "run/iter_00000400.pt"
    # Without validation a run has no best: its summary says None, and its last stands in.
    assert run_checkpoint({**run, "best_checkpoint": None}) == "run/iter_00000400.pt"
    assert run_checkpoint({"last_checkpoint": "run/iter_00000400.pt"}) == "run/iter_00000400.pt"
