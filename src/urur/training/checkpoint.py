"""Checkpoints that rebuild their model alone and resume a run exactly.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` reads: ``model``,
``optimizer``, ``scheduler`` state dicts (tensors on the CPU), ``iteration``, ``best`` (monitor
score and iteration), ``history``, ``rng`` (python, numpy, torch and CUDA states, and the data
sampler's position) and ``meta`` = {model, num_classes, options, class_names, mean, std, seed,
params, train_ids_sha256, git_commit, versions}. The layout follows torchvision's segmentation
reference (model/optimizer/lr_scheduler/epoch) with mmengine's ``meta``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from urur.errors import UrurError
from urur.io.atomic import atomic_path
from urur.models import build_model
from urur.training.config import RESUME_NEUTRAL_FIELDS, TrainingParams

logger = logging.getLogger(__name__)

CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "iteration", "meta")
META_KEYS = ("model", "num_classes", "options", "class_names", "mean", "std", "params")


class CheckpointError(UrurError, ValueError):
    """A checkpoint that cannot be used: corrupt, of another model or configuration."""


def git_commit() -> str | None:
    """The source tree's commit, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def ids_digest(ids: Sequence[str]) -> str:
    """A short fingerprint of the train split, so a resumed run is known to draw the same images."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def configuration_name(params: TrainingParams, train_ids: Sequence[str]) -> str:
    """``<model>-<digest>`` of everything that changes what a run computes.

    Runs of one configuration share a checkpoint folder of this name (and resume each other);
    another configuration, e.g. a ``dvc exp run -S training.lr=...``, gets its own folder.
    """
    settings = params.model_dump(mode="json", exclude=set(RESUME_NEUTRAL_FIELDS))
    text = json.dumps({"params": settings, "train_ids": ids_digest(train_ids)}, sort_keys=True)
    return f"{params.model}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def build_meta(
    params: TrainingParams, class_names: Sequence[str], train_ids: Sequence[str]
) -> dict[str, Any]:
    """Everything needed to rebuild the model and to tell whether a run may resume."""
    import albumentations

    return {
        "model": params.model,
        "num_classes": len(class_names),
        "options": dict(params.model_options),
        "class_names": list(class_names),
        "mean": list(params.mean),
        "std": list(params.std),
        "seed": params.seed,
        "params": params.model_dump(mode="json"),
        "train_ids_sha256": ids_digest(train_ids),
        "git_commit": git_commit(),
        "versions": {
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "numpy": np.__version__,
            "albumentations": albumentations.__version__,
        },
    }


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous()
    if isinstance(value, Mapping):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def rng_states() -> dict[str, Any]:
    """Python, numpy and torch generator states in types ``weights_only`` loading accepts."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    states: dict[str, Any] = {
        "python": list(random.getstate()),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Mapping[str, Any]) -> None:
    """Undo :func:`rng_states`: what dropout and any global draw see continues where it stopped."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = dict(states["numpy"])
    numpy_state["state"] = {
        **numpy_state["state"],
        "key": numpy_state["state"]["key"].numpy().astype(np.uint32),
    }
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    iteration: int,
    meta: Mapping[str, Any],
    best: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    data_state: Mapping[str, int],
) -> Path:
    """Write one checkpoint atomically: a reader never sees a half-written file."""
    state = {
        "model": _to_cpu(model.state_dict()),
        "optimizer": _to_cpu(optimizer.state_dict()),
        "scheduler": scheduler.state_dict(),
        "iteration": iteration,
        "best": dict(best),
        "history": [dict(h) for h in history],
        "rng": {**_to_cpu(rng_states()), "data": dict(data_state)},
        "meta": dict(meta),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


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


def resume_mismatch(meta: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between a checkpoint's configuration and this run's, ignoring parameters that
    do not change the computation (:data:`RESUME_NEUTRAL_FIELDS`)."""
    diffs = []
    for key in ("model", "num_classes", "class_names", "train_ids_sha256"):
        if meta.get(key) != current.get(key):
            diffs.append(f"{key}: checkpoint {meta.get(key)!r}, now {current.get(key)!r}")
    old, new = meta["params"], current["params"]
    for key in sorted(set(old) | set(new)):
        if key not in RESUME_NEUTRAL_FIELDS and old.get(key) != new.get(key):
            diffs.append(f"{key}: checkpoint {old.get(key)!r}, now {new.get(key)!r}")
    return diffs
