"""A comparison table's runs: every row once per seed, each trained and evaluated exactly as the
training and evaluation stages do (:func:`~urur.experiments.train.train_on_split`,
:func:`~urur.evaluation.protocol.evaluate_checkpoint`), all in this process, each saved as a DVC
experiment."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from urur.dataset.split import split_ids
from urur.devices import describe_machine
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import BRANCHES, contribution_key
from urur.evaluation.protocol import evaluate_checkpoint
from urur.experiments.tables import CompareParams, CompareRow, summarise
from urur.experiments.train import train_on_split
from urur.models.checkpoint import run_checkpoint
from urur.training import TrainingParams
from urur.training.checkpoint import configuration_name
from urur.training.config import TrainingRunParams
from urur.training.tracking import save_experiment

log = logging.getLogger(__name__)
# What `dvc exp show` lists per comparison run, beside the training's own curves and val metrics.
EXPERIMENT_METRICS = ("test/mIoU", "test/mF1", "test/aAcc", "fps", "peak_memory_mb")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def validation_curve(live_dir: Path) -> dict[str, list]:
    """The run's validation mIoU at each validation (DVCLive's ``plots/metrics/val/mIoU.tsv``), so
    the report can tell a row that learns faster from one that ends higher."""
    path = live_dir / "plots" / "metrics" / "val" / "mIoU.tsv"
    curve = pd.read_csv(path, sep="\t") if path.is_file() else pd.DataFrame({"step": [], "mIoU": []})
    return {"val_steps": curve["step"].astype(int).tolist(), "val_mIoU": curve["mIoU"].astype(float).tolist()}


def run_table(
    table_plan: dict,
    images_dir: Path,
    masks_dir: Path,
    dataset_split: pd.DataFrame,
    image_manifest: pd.DataFrame,
    training: TrainingParams,
    evaluation: EvaluationParams,
    compare: CompareParams,
    predictions_dir: Path,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row of one table's plan (:func:`urur.experiments.plan.plan_tables`) trained and
    evaluated once per seed; returns the mean ± std table (:func:`urur.experiments.tables.summarise`)
    and one row per run. Seed 0's test predictions of ``compare.keep_predictions``' rows go to
    ``predictions_dir/<row>``."""
    table = table_plan["table"]
    train_ids = split_ids(dataset_split, "train")
    test_ids = split_ids(dataset_split, "test")
    records = []
    for row in map(CompareRow.model_validate, table_plan["rows"]):
        for seed in range(row.seeds or compare.seeds):
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
            summary = train_on_split(images_dir, masks_dir, dataset_split, params, row_evaluation, run)
            row_predictions = predictions_dir / row.name if keep else None
            if row_predictions is not None:
                row_predictions.mkdir()
            checkpoint = run_checkpoint(summary, row_evaluation.checkpoint)
            result = evaluate_checkpoint(
                checkpoint, test_ids, images_dir, masks_dir, image_manifest, row_evaluation, row_predictions
            )
            metrics, evaluated = result.metrics, result.evaluated
            log.info("%s: %s, seed %d: test mIoU %.4f", table, row.name, seed, metrics["test/mIoU"])
            experiment = save_experiment(
                f"{table}-{_slug(row.name)}-seed{seed}",
                run.live_dir,
                compare.experiment_record,
                params={"compare": {"table": table, "row": row.name, "paradigm": row.mode}},
                metrics={k: metrics.get(k) for k in EXPERIMENT_METRICS},
            )
            records.append({
                "row": row.name, "model": row.model, "mode": row.mode, "seed": seed,
                "beyond_paper": row.beyond_paper,
                "mIoU": metrics["test/mIoU"], "mF1": metrics["test/mF1"], "aAcc": metrics["test/aAcc"],
                "fps": metrics.get("fps"), "peak_memory_mb": metrics.get("peak_memory_mb"),
                **{f"{b}_branch_points": metrics.get(contribution_key(b), np.nan) for b in BRANCHES},
                "speed_input": evaluated.get("speed_input"),
                "speed_device": evaluated.get("speed_device"),
                **validation_curve(Path(run.live_dir)),
                "checkpoint": run_checkpoint(summary),
                "experiment": experiment,
            })  # fmt: skip
    runs = pd.DataFrame(records)
    measured_on = (
        f"{describe_machine()}; timed on {runs['speed_device'].iloc[0]} at {runs['speed_input'].iloc[0]}"
    )
    return summarise(runs, table, measured_on, training.classes), runs
