"""Rebuilding a model from its checkpoint alone (urur.models.checkpoint): expectations, weights that
do not fit and unreadable files are refused naming the file; a run's best checkpoint, else its last."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from urur.classes import URUR_CLASSES
from urur.models.checkpoint import (
    CheckpointError,
    build_model_from_checkpoint,
    load_checkpoint,
    load_model_state,
    run_checkpoint,
)


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


META = {
    "model": "stdc",
    "num_classes": 2,
    "options": {"width": 0.125},
    "class_names": ["a", "b"],
    "mean": [1.0, 2.0, 3.0],
    "std": [1, 2, 3],
    "params": {},
}


def _state(**meta: object) -> dict:
    return {"model": {}, "optimizer": {}, "scheduler": {}, "iteration": 1, "meta": {**META, **meta}}


def test_a_folder_is_refused_naming_up_to_five_of_its_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path)
    assert str(error.value) == (
        f"checkpoint {tmp_path} is a folder, not a checkpoint file; pass one of its .pt files (it holds none)"
    )
    for name in ("run/iter_2.pt", "best.pt", "run/iter_1.pt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path)
    assert str(error.value).endswith("(best.pt, run/iter_1.pt, run/iter_2.pt)")
    (tmp_path / "run/iter_3.pt").write_bytes(b"")
    (tmp_path / "run/iter_4.pt").write_bytes(b"")
    with pytest.raises(CheckpointError) as error:  # five: all named
        load_checkpoint(tmp_path)
    assert str(error.value).endswith("(best.pt, run/iter_1.pt, run/iter_2.pt, run/iter_3.pt, run/iter_4.pt)")
    (tmp_path / "run/iter_5.pt").write_bytes(b"")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path)
    assert str(error.value).endswith(
        "(best.pt, run/iter_1.pt, run/iter_2.pt, run/iter_3.pt, run/iter_4.pt ...)"
    )


def test_unreadable_and_foreign_files_are_refused_word_for_word(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path / "missing.pt")
    assert str(error.value) == f"checkpoint {tmp_path / 'missing.pt'} does not exist; check the path"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(bad)
    message = str(error.value)
    assert message.startswith(f"cannot read checkpoint {bad}: ") and isinstance(
        error.value.__cause__, Exception
    )
    assert message.endswith(
        ". The file is corrupt or truncated (or not a checkpoint): delete it and resume from an earlier "
        "one, or retrain"
    )
    cases = {
        "list.pt": ([1, 2], "model, optimizer, scheduler, iteration, meta"),
        "partial.pt": ({"model": {}, "iteration": 3}, "optimizer, scheduler, meta"),
        "meta.pt": ({**_state(), "meta": {"model": "stdc", "options": {}}}, (
            "meta.num_classes, meta.class_names, meta.mean, meta.std, meta.params"
        )),
    }  # fmt: skip
    for name, (state, lacking) in cases.items():
        torch.save(state, tmp_path / name)
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(tmp_path / name)
        assert str(error.value) == f"{tmp_path / name} is not a urur training checkpoint: it lacks {lacking}"


@pytest.mark.parametrize(
    ("meta", "problems"),
    [
        ({"num_classes": 0}, "num_classes 0 is not a positive integer"),
        ({"num_classes": 2.0}, "num_classes 2.0 is not a positive integer"),
        ({"class_names": ["a"]}, "class_names ['a'] does not name its 2 classes"),
        ({"class_names": "ab"}, "class_names 'ab' does not name its 2 classes"),
        ({"mean": [1, 2]}, "mean [1, 2] is not three numbers (R, G, B)"),
        ({"mean": (1, 2, "3")}, "mean (1, 2, '3') is not three numbers (R, G, B)"),
        ({"std": [1, 0, 2]}, "std [1, 0, 2] has a value <= 0"),
        ({"std": None, "num_classes": -1}, (
            "num_classes -1 is not a positive integer; std None is not three numbers (R, G, B)"
        )),
    ],
)  # fmt: skip
def test_a_meta_that_cannot_describe_its_model_is_refused(tmp_path: Path, meta: dict, problems: str) -> None:
    torch.save(_state(**meta), tmp_path / "c.pt")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path / "c.pt")
    assert str(error.value) == (
        f"checkpoint {tmp_path / 'c.pt'} has a malformed meta: {problems}. It cannot say how to normalise "
        "input or name its classes: retrain, or fix its meta with torch.load/torch.save"
    )


def test_a_good_meta_with_a_positive_std_and_tuples_loads(tmp_path: Path) -> None:
    torch.save(_state(std=(0.5, 1, 2), class_names=("a", "b")), tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt")["meta"]["std"] == (0.5, 1, 2)
    torch.save(_state(num_classes=1, class_names=["building"]), tmp_path / "one.pt")  # a binary mask model
    assert load_checkpoint(tmp_path / "one.pt")["meta"]["num_classes"] == 1


class Pickled:
    """Any class a pickle may name: weights-only loading refuses to run its code."""


def test_a_checkpoint_that_would_run_code_is_not_loaded(tmp_path: Path) -> None:
    torch.save({**_state(), "history": [Pickled()]}, tmp_path / "code.pt")
    with pytest.raises(CheckpointError, match=r"(?s)^cannot read checkpoint .*code\.pt: .*Pickled"):
        load_checkpoint(tmp_path / "code.pt")


def test_every_unmet_expectation_is_named_and_unset_ones_are_not_checked(tmp_path: Path) -> None:
    torch.save(_state(), tmp_path / "c.pt")
    with pytest.raises(CheckpointError) as error:
        build_model_from_checkpoint(
            tmp_path / "c.pt", model="wsdnet", num_classes=3, options={"width": 0.125}
        )
    assert str(error.value) == (
        f"checkpoint {tmp_path / 'c.pt'} holds another model: model 'stdc' (expected 'wsdnet'); "
        "num_classes 2 (expected 3)"
    )
    torch.save(_state(model="pspnet"), tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError) as error:
        build_model_from_checkpoint(tmp_path / "unknown.pt", options={})  # an empty expectation: none
    assert str(error.value).startswith(
        f"cannot rebuild the model of {tmp_path / 'unknown.pt'}: unknown model"
    )


def test_weights_load_only_when_every_name_and_shape_fits() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    good = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    load_model_state(Path("w.pt"), model, good)
    assert all((v == 0.5).all() for v in model.state_dict().values())
    bad = {k: v for k, v in good.items() if k != "1.bias"}
    bad |= {"0.weight": torch.zeros(4, 2), **{f"extra{k}": torch.zeros(1) for k in range(6)}}
    with pytest.raises(CheckpointError) as error:
        load_model_state(Path("w.pt"), model, bad)
    assert str(error.value) == (
        "weights in w.pt do not fit the model (another model, width or class count?): missing: 1.bias; "
        "unexpected: extra0, extra1, extra2, extra3, extra4 ...; shape: 0.weight (4, 2) vs model (3, 2)"
    )
    assert all((v == 0.5).all() for v in model.state_dict().values())  # nothing half-loaded
    five = {**good, **{f"extra{k}": torch.zeros(1) for k in range(5)}}
    with pytest.raises(CheckpointError, match=r"unexpected: extra0, extra1, extra2, extra3, extra4$"):
        load_model_state(Path("w.pt"), model, five)
    with pytest.raises(CheckpointError, match=r"\(another model, width or class count\?\): missing: 1.bias$"):
        load_model_state(Path("w.pt"), model, {k: v for k, v in good.items() if k != "1.bias"})


def test_the_rebuilt_model_leaves_out_the_pretrained_backbone_option(checkpoint: str, tmp_path: Path) -> None:
    state = torch.load(checkpoint, weights_only=True)
    state["meta"]["options"] = {**state["meta"]["options"], "pretrained_backbone": "/nowhere/weights.pt"}
    torch.save(state, tmp_path / "c.pt")
    model, meta = build_model_from_checkpoint(tmp_path / "c.pt", "cpu")
    assert meta["options"]["pretrained_backbone"] == "/nowhere/weights.pt" and not model.training
