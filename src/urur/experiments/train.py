"""One training run on the split, as the training stage makes it and every comparison run repeats
it: the train split fitted, validated on the val split in the evaluation's paradigm (which picks the
best checkpoint), the best and last checkpoints published."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pandas as pd

from urur.config import ConfigError
from urur.dataset.split import split_ids
from urur.evaluation.config import EvaluationParams
from urur.evaluation.protocol import validation_metrics
from urur.io.atomic import atomic_directory, link_or_copy, publish_copy
from urur.training import TrainingParams, fit
from urur.training.checkpoint import configuration_name
from urur.training.config import TrainingRunParams

log = logging.getLogger(__name__)


def publish_model(checkpoints: dict[str, Path | None], model_dir: str | Path) -> dict[str, Path | None]:
    """The run's best and last checkpoints as ``<model_dir>/{best,last}.pt`` (hard links into the
    checkpoint store, replaced whole); returns their new paths."""
    model_dir = Path(model_dir)
    with atomic_directory(model_dir) as staging:
        for kind, path in checkpoints.items():
            if path is not None:
                link_or_copy(path, staging / f"{kind}.pt")
    return {kind: path and model_dir / f"{kind}.pt" for kind, path in checkpoints.items()}


def train_on_split(
    images_dir: Path,
    masks_dir: Path,
    dataset_split: pd.DataFrame,
    training: TrainingParams,
    evaluation: EvaluationParams,
    run: TrainingRunParams,
) -> dict:
    """Train the configured model on the train split, validating on the val split in the
    evaluation's paradigm.

    Checkpoints accumulate in ``run.checkpoint_dir/<model>-<configuration digest>`` across runs
    (a rerun of the same configuration resumes from them, another one starts its own folder);
    the best and last are published in ``run.model_dir`` where set, and the returned summary names
    them for the evaluation stage.
    """
    class_names = training.classes
    val_ids = split_ids(dataset_split, "val")
    if not val_ids:
        raise ConfigError(
            "the val split is empty: nothing to validate on or pick the best checkpoint by; "
            "give split.ratios a positive val share (conf/base/parameters_split.yml)"
        )
    validate = functools.partial(
        validation_metrics,
        image_ids=val_ids,
        images_dir=images_dir,
        masks_dir=masks_dir,
        num_classes=len(class_names),
        mode=evaluation.mode,
        window=evaluation.window,
        overlap=evaluation.overlap,
        downsample=evaluation.downsample,
        mean=training.mean,
        std=training.std,
    )
    train_ids = split_ids(dataset_split, "train")
    out_dir = Path(run.checkpoint_dir) / configuration_name(training, train_ids)
    live_dir = Path(run.runs_live_dir) / out_dir.name if run.runs_live_dir else Path(run.live_dir)
    result = fit(training, train_ids, images_dir, masks_dir, out_dir, validate=validate, live_dir=live_dir)
    if live_dir != Path(run.live_dir):
        publish_copy(live_dir, run.live_dir)
    checkpoints = {"best": result.best_checkpoint, "last": result.last_checkpoint}
    if run.model_dir:
        checkpoints = publish_model(checkpoints, run.model_dir)
    summary = {
        "model": training.model,
        "best_checkpoint": str(checkpoints["best"]) if checkpoints["best"] else None,
        "last_checkpoint": str(checkpoints["last"]),
        "iterations": training.iterations,
        "run_dir": str(out_dir),
        "weights_sha256": result.weights_sha256,
    }
    log.info("Trained %s: best checkpoint %s", training.model, summary["best_checkpoint"])
    return summary
