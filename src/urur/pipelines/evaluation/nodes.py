from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.dataset.split import split_ids
from urur.evaluation.config import EvaluationParams
from urur.evaluation.protocol import evaluate_checkpoint
from urur.io.atomic import staging_directories
from urur.models.checkpoint import run_checkpoint

log = logging.getLogger(__name__)


def evaluate(
    images_dir: Path,
    masks_dir: Path,
    dataset_split: pd.DataFrame,
    image_manifest: pd.DataFrame,
    training_summary: dict,
    evaluation: EvaluationParams,
) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, pd.DataFrame, Path]:
    """The trained model on the test split, the paper's way; then its FPS and peak memory.

    Returns the metrics (numbers only: DVC metrics; with ``branch_ablation``, a two-branch model's
    mIoU with each branch zeroed and each branch's contribution in points), what was evaluated and
    how it was timed (model, checkpoint, speed input and device), per-class and per-image tables,
    the confusion matrix and the folder of predicted masks (label rasters in the palette of the
    checkpoint's classes, georeferenced like the images, :mod:`urur.io.label_raster`).
    """
    checkpoint = run_checkpoint(training_summary, evaluation.checkpoint)
    test_ids = split_ids(dataset_split, "test")
    with staging_directories("predictions") as (predictions_dir,):
        result = evaluate_checkpoint(
            checkpoint, test_ids, images_dir, masks_dir, image_manifest, evaluation, predictions_dir
        )
    metrics, evaluated = result.metrics, result.evaluated
    log.info(
        "Test mIoU %.4f, mF1 %.4f, aAcc %.4f over %d images (%s)",
        metrics["test/mIoU"], metrics["test/mF1"], metrics["test/aAcc"], len(test_ids), evaluated["model"],
    )  # fmt: skip
    return metrics, evaluated, result.per_class, result.per_image, result.confusion, predictions_dir
