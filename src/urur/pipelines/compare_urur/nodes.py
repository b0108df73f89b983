from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.evaluation.config import EvaluationParams
from urur.experiments.run import run_table
from urur.experiments.tables import CompareParams, metrics_json
from urur.io.atomic import staging_directories
from urur.training import TrainingParams

log = logging.getLogger(__name__)


def compare_table(
    table_plan: dict,
    images_dir: Path,
    masks_dir: Path,
    dataset_split: pd.DataFrame,
    image_manifest: pd.DataFrame,
    training: TrainingParams,
    evaluation: EvaluationParams,
    compare: CompareParams,
) -> tuple[pd.DataFrame, dict, pd.DataFrame, Path]:
    """Train and evaluate every row of the plan's table once per seed
    (:func:`urur.experiments.run.run_table`); returns the mean ± std table, its DVC metrics, one row
    per run, and seed 0's test predictions of ``compare.keep_predictions``' rows."""
    table = table_plan["table"]
    with staging_directories(f"compare-{table}") as (predictions_dir,):
        table_frame, runs = run_table(
            table_plan,
            images_dir,
            masks_dir,
            dataset_split,
            image_manifest,
            training,
            evaluation,
            compare,
            predictions_dir,
        )
    log.info("%s:\n%s", table, table_frame[["row", "seeds", "mIoU (%)", "FPS"]].to_string(index=False))
    return table_frame, metrics_json(table_frame, compare.seeds), runs, predictions_dir
