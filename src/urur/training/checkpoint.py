"""Writing checkpoints that resume a run exactly, and telling whether a run may resume from one.

The layout (:mod:`urur.models.checkpoint`, which reads it back and rebuilds the model) holds
everything a resumed run continues from: optimizer and scheduler states, ``best``, ``history``
and ``rng`` (python, numpy, torch and CUDA states, and the data sampler's position), and a
``meta`` that names the run's configuration (:func:`build_meta`, :func:`resume_mismatch`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from urur.io.atomic import atomic_path
from urur.models.checkpoint import CheckpointError, load_checkpoint
from urur.training.config import RESUME_NEUTRAL_FIELDS, TrainingParams

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"  # a run's folder under its out_dir: iter_XXXXXXXX.pt (the last few), best.pt
BEST_NAME = "best.pt"


def git_commit(folder: Path = Path(__file__).parent) -> str | None:
    """The commit of the checkout holding ``folder`` (the source tree's by default), or None
    outside a git checkout or before its first commit."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,  # before the first commit git prints "HEAD" and fails
            timeout=10,
            cwd=folder,
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
    np.random.set_state(states["numpy"])  # numpy reads the int64 tensor key back as uint32
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


def periodic_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Periodic checkpoints, oldest first."""
    return sorted(checkpoint_dir.glob("iter_*.pt"))


def periodic_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pt"


def prune(checkpoint_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` periodic checkpoints."""
    for old in periodic_checkpoints(checkpoint_dir)[:-keep_last]:
        old.unlink(missing_ok=True)


def resume_from(params: TrainingParams, checkpoint_dir: Path, meta: Mapping[str, Any]) -> dict | None:
    """The newest checkpoint to resume from, None for a fresh start; a checkpoint of another
    configuration is a :class:`CheckpointError` (never silently resumed or overwritten)."""
    found = periodic_checkpoints(checkpoint_dir)
    if not found:
        return None
    if not params.resume:
        return None
    state = load_checkpoint(found[-1])
    diffs = resume_mismatch(state["meta"], meta)
    if diffs:
        raise CheckpointError(
            f"{checkpoint_dir} holds checkpoints of another configuration ({'; '.join(diffs)}): "
            "train into another output folder, or set resume: false to start over (the old "
            "checkpoints are then moved aside, not deleted)"
        )
    return state


def move_aside(checkpoint_dir: Path) -> None:
    """Rename a folder of old checkpoints (``resume: false``) to ``<name>.previous-<time>``: kept,
    not resumed."""
    if checkpoint_dir.is_dir() and any(checkpoint_dir.iterdir()):
        aside = checkpoint_dir.with_name(f"{checkpoint_dir.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
        checkpoint_dir.rename(aside)
        logger.warning("resume is off: moved the previous checkpoints to %s", aside)
