"""The entry of a training run: check everything, then train in this process or launch one per device.

Layers, each importing only the next: this module -> :mod:`urur.training.distributed` (the ranks
and their process group) -> :mod:`urur.training.trainer` (the loop one process runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from urur.training.config import TrainingParams
from urur.training.distributed import fit_process, launch, launched_world_size
from urur.training.trainer import FitJob, FitResult, Validate, prepare, train, training_device


def fit(
    params: TrainingParams | Mapping[str, Any],
    train_ids: Sequence[str],
    images_dir: str | Path,
    masks_dir: str | Path,
    out_dir: str | Path,
    validate: Validate | None = None,
    live_dir: str | Path | None = None,
) -> FitResult:
    """Train ``params.model`` on random crops of ``train_ids``; checkpoints go to ``out_dir/checkpoints``.

    ``validate(model) -> {metric: value}`` runs every ``val_interval`` iterations and at the end
    (model in eval mode); its metrics are logged as ``val/<name>`` and pick the best checkpoint
    by ``params.monitor``. With ``devices > 1`` it must be picklable (a module-level function or
    ``functools.partial``). ``live_dir`` turns on DVCLive logging there.

    Parameters, split, image headers, devices and any existing checkpoint are checked before long
    work (:func:`urur.training.trainer.prepare`), once: a single process trains from what the check
    built. Under torchrun this process is one rank of the launcher's group and trains as such.
    """
    params = params if isinstance(params, TrainingParams) else TrainingParams.model_validate(params)
    job = FitJob(
        params,
        [str(i) for i in train_ids],
        Path(images_dir),
        Path(masks_dir),
        Path(out_dir),
        validate,
        live_dir,
    )
    if launched_world_size() > 1:
        return fit_process(job)
    device = training_device(params, processes=params.devices)
    prepared = prepare(job)
    if params.devices > 1:
        return launch(job)[0]
    return train(job, prepared, device)
