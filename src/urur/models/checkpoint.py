"""Rebuild a trained model from its checkpoint file alone, and pick a training run's checkpoint.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` reads: ``model``,
``optimizer``, ``scheduler`` state dicts (tensors on the CPU), ``iteration``, ``best`` (monitor
score and iteration), ``history``, ``rng`` and ``meta`` = {model, num_classes, options,
class_names, mean, std, seed, params, train_ids_sha256, git_commit, versions}. The layout follows
torchvision's segmentation reference (model/optimizer/lr_scheduler/epoch) with mmengine's
``meta``. :mod:`urur.training.checkpoint` writes it (and resumes from it); this module only reads
it, so prediction and evaluation need nothing from training.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from urur.errors import UrurError
from urur.models import build_model

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "iteration", "meta")
META_KEYS = ("model", "num_classes", "options", "class_names", "mean", "std", "params")


class CheckpointError(UrurError, ValueError):
    """A checkpoint that cannot be used: corrupt, of another model or configuration."""


def run_checkpoint(run: Mapping[str, Any], which: Literal["best", "last"] = "best") -> str | Path:
    """The checkpoint of a training run to use: ``which`` one of the run's ``best_checkpoint`` and
    ``last_checkpoint`` (the training summary's keys, and :class:`urur.training.FitResult`'s), the
    last where the run has no best (it validated nothing)."""
    return run.get(f"{which}_checkpoint") or run["last_checkpoint"]


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a folder, a corrupt, truncated or foreign
    file, or one whose ``meta`` cannot describe its model is a :class:`CheckpointError` naming it."""
    path = Path(path)
    if path.is_dir():
        found = sorted(str(p.relative_to(path)) for p in path.rglob("*.pt"))
        raise CheckpointError(
            f"checkpoint {path} is a folder, not a checkpoint file; pass one of its .pt files "
            f"({', '.join(found[:5]) + (' ...' if len(found) > 5 else '') if found else 'it holds none'})"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {error}. The file is corrupt or truncated (or not a "
            "checkpoint): delete it and resume from an earlier one, or retrain"
        ) from error
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    missing += [f"meta.{k}" for k in META_KEYS if not missing and k not in state["meta"]]
    if missing:
        raise CheckpointError(f"{path} is not a urur training checkpoint: it lacks {', '.join(missing)}")
    problems = _meta_problems(state["meta"])
    if problems:
        raise CheckpointError(
            f"checkpoint {path} has a malformed meta: {'; '.join(problems)}. It cannot say how to "
            "normalise input or name its classes: retrain, or fix its meta with torch.load/torch.save"
        )
    return state


def _meta_problems(meta: Mapping[str, Any]) -> list[str]:
    """What in ``meta`` does not describe a model: class names and normalisation of the right size."""
    problems = []
    classes, names = meta["num_classes"], meta["class_names"]
    if not isinstance(classes, int) or classes < 1:
        problems.append(f"num_classes {classes!r} is not a positive integer")
    elif not isinstance(names, list | tuple) or len(names) != classes:
        problems.append(f"class_names {names!r} does not name its {classes} classes")
    for key in ("mean", "std"):
        values = meta[key]
        if (
            not isinstance(values, list | tuple)
            or len(values) != 3
            or not all(isinstance(v, int | float) for v in values)
        ):
            problems.append(f"{key} {values!r} is not three numbers (R, G, B)")
        elif key == "std" and min(values) <= 0:
            problems.append(f"std {values!r} has a value <= 0")
    return problems


def _check_expected(path: Path, meta: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    diffs = [
        f"{key} {meta.get(key)!r} (expected {value!r})"
        for key, value in expected.items()
        if value is not None and meta.get(key) != value
    ]
    if diffs:
        raise CheckpointError(f"checkpoint {path} holds another model: {'; '.join(diffs)}")


def load_model_state(path: Path, model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load weights only when every name and shape fits: never a silent partial load."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and own[k].shape != state_dict[k].shape
    ]
    if missing or unexpected or mismatched:
        details = [
            f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", mismatched))
            if items
        ]
        raise CheckpointError(
            f"weights in {path} do not fit the model (another model, width or class count?): "
            + "; ".join(details)
        )
    model.load_state_dict(state_dict)


def build_model_from_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    model: str | None = None,
    num_classes: int | None = None,
    options: Mapping[str, object] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's model (eval mode, on ``map_location``) and its ``meta``.

    ``model``, ``num_classes`` and ``options`` are optional expectations (what the caller is
    configured for): a checkpoint of another model, width or class count is a
    :class:`CheckpointError` before any weight is loaded.
    """
    path = Path(path)
    state = load_checkpoint(path, map_location)
    meta = state["meta"]
    _check_expected(
        path,
        meta,
        {"model": model, "num_classes": num_classes, "options": dict(options) if options else None},
    )
    options_from_meta = {k: v for k, v in meta["options"].items() if k != "pretrained_backbone"}
    try:
        network = build_model(meta["model"], meta["num_classes"], **options_from_meta)
    except ValueError as error:
        raise CheckpointError(f"cannot rebuild the model of {path}: {error}") from error
    load_model_state(path, network, state["model"])
    return network.to(map_location).eval(), meta
