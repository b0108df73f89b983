from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.evaluation.config import EvaluationParams
from urur.experiments.train import train_on_split
from urur.training import TrainingParams
from urur.training.config import TrainingRunParams

log = logging.getLogger(__name__)


def train(
    images_dir: Path,
    masks_dir: Path,
    dataset_split: pd.DataFrame,
    training: TrainingParams,
    evaluation: EvaluationParams,
    run: TrainingRunParams,
) -> dict:
    """Train the configured model on the train split, validating on the val split
    (:func:`urur.experiments.train.train_on_split`); the summary names the best and last checkpoints
    for the evaluation stage."""
    summary = train_on_split(images_dir, masks_dir, dataset_split, training, evaluation, run)
    log.info("Trained %s: best checkpoint %s", training.model, summary["best_checkpoint"])
    return summary
