from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pandas as pd

from urur.classes import URUR_CLASSES
from urur.config import ConfigError
from urur.evaluation.config import EvaluationParams
from urur.experiments.tables import (
    PARAMETERS_FILE,
    TABLES,
    CompareParams,
    CompareRow,
    check_rows,
    metrics_json,
    summarise,
    table_rows,
)
from urur.io.atomic import staging_directories
from urur.models.checkpoint import run_checkpoint
from urur.pipelines.evaluation.nodes import evaluate
from urur.pipelines.training.nodes import split_ids, train
from urur.reporting.report import machine
from urur.training import TrainingParams
from urur.training.checkpoint import configuration_name
from urur.training.config import TrainingRunParams
from urur.training.tracking import save_experiment

log = logging.getLogger(__name__)
# What `dvc exp show` lists per comparison run, beside the training's own curves and val metrics.
EXPERIMENT_METRICS = ("test/mIoU", "test/mF1", "test/aAcc", "fps", "peak_memory_mb")


def plan(compare: CompareParams, training: TrainingParams) -> tuple[dict, ...]:
    """Every table's runs (one plan per table), checked before any training: budget keys, model
    names, options and option values."""
    try:
        TrainingParams.model_validate({**training.model_dump(), **compare.budget})
    except ValueError as error:
        raise ConfigError(f"{PARAMETERS_FILE}: compare.budget: {error}") from error
    rows = {table: table_rows(compare, table) for table in TABLES}
    for table_runs in rows.values():
        check_rows(table_runs, training.model_options, len(training.class_names or URUR_CLASSES))
    log.info(
        "Comparison: %s x %d seeds", ", ".join(f"{t} {len(r)} rows" for t, r in rows.items()), compare.seeds
    )
    return tuple({"table": table, "rows": [row.model_dump() for row in rows[table]]} for table in TABLES)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


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
    """Train and evaluate every row of the plan's table once per seed with the training and evaluation
    stages' own functions, all on one machine in this process, each run saved as a DVC experiment
    (``dvc exp show``); returns the mean ± std table, its DVC metrics, one row per run, and seed 0's
    test predictions of ``compare.keep_predictions``' rows."""
    table = table_plan["table"]
    train_ids = split_ids(dataset_split, "train")
    records = []
    with staging_directories(f"compare-{table}") as (predictions_dir,):
        for row in map(CompareRow.model_validate, table_plan["rows"]):
            for seed in range(compare.seeds):
                settings = {**training.model_dump(), **compare.budget, **row.training, "seed": seed}
                settings |= {"model": row.model, "model_options": {**training.model_options, **row.options}}
                params = TrainingParams.model_validate(settings)
                keep = seed == 0 and row.name in compare.keep_predictions
                row_evaluation = evaluation.model_copy(update={"mode": row.mode, "write_predictions": keep})
                run = TrainingRunParams(
                    checkpoint_dir=f"{compare.run_dir}/checkpoints",
                    # Keyed like the checkpoints: a row that reuses another row's training (the
                    # ablations' baseline) reuses its curves too, for its experiment's record.
                    live_dir=f"{compare.run_dir}/live/{configuration_name(params, train_ids)}",
                )
                log.info("%s: %s (%s), seed %d", table, row.name, row.mode, seed)
                summary = train(images_dir, masks_dir, dataset_split, params, row_evaluation, run)
                metrics, evaluated, *_, predictions = evaluate(
                    images_dir, masks_dir, dataset_split, image_manifest, summary, row_evaluation
                )
                if keep:
                    shutil.move(predictions, predictions_dir / row.name)
                else:
                    shutil.rmtree(predictions, ignore_errors=True)
                experiment = save_experiment(
                    f"{table}-{_slug(row.name)}-seed{seed}",
                    run.live_dir,
                    compare.experiment_record,
                    params={"compare": {"table": table, "row": row.name, "paradigm": row.mode}},
                    metrics={k: metrics.get(k) for k in EXPERIMENT_METRICS},
                )
                records.append({
                    "row": row.name, "model": row.model, "mode": row.mode, "seed": seed,
                    "mIoU": metrics["test/mIoU"], "mF1": metrics["test/mF1"], "aAcc": metrics["test/aAcc"],
                    "fps": metrics.get("fps"), "peak_memory_mb": metrics.get("peak_memory_mb"),
                    "speed_input": evaluated.get("speed_input"),
                    "speed_device": evaluated.get("speed_device"),
                    "checkpoint": run_checkpoint(summary),
                    "experiment": experiment,
                })  # fmt: skip
    runs = pd.DataFrame(records)
    measured_on = f"{machine()}; timed on {runs['speed_device'].iloc[0]} at {runs['speed_input'].iloc[0]}"
    table_frame = summarise(runs, table, measured_on, training.class_names or URUR_CLASSES)
    log.info("%s:\n%s", table, table_frame[["row", "seeds", "mIoU (%)", "FPS"]].to_string(index=False))
    return table_frame, metrics_json(table_frame, compare.seeds), runs, predictions_dir
