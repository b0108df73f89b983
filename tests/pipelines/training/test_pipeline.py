"""The ``training`` Kedro pipeline: the train split fitted, the val split picking the best checkpoint."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.support.training_store import write_store
from urur.evaluation.config import EvaluationParams
from urur.pipelines.training import create_pipeline
from urur.reporting.headline import checkpoint_record
from urur.training import TrainingParams
from urur.training.config import TrainingRunParams


def test_training_pipeline_publishes_the_best_and_last_checkpoints_it_names(tmp_path: Path) -> None:
    ids = {"a": "train", "b": "train", "v": "val", "t": "test"}
    images, masks = write_store(tmp_path, list(ids), size=64)
    training = TrainingParams(
        model_options={"width": 0.125},
        crop_size=64,
        scale_range=(1.0, 1.0),
        batch_size=2,
        workers=0,
        iterations=2,
        val_interval=1,
        checkpoint_interval=1,
        device="cpu",
    )
    run = TrainingRunParams(
        checkpoint_dir=str(tmp_path / "store"),
        live_dir=str(tmp_path / "live"),
        model_dir=str(tmp_path / "model"),
    )
    catalog = DataCatalog(
        {
            "uhr_images": MemoryDataset(images),
            "masks": MemoryDataset(masks),
            "dataset_split": MemoryDataset(
                pd.DataFrame({"image_id": list(ids), "split": list(ids.values())})
            ),
            "params:training": MemoryDataset(training),
            "params:evaluation": MemoryDataset(EvaluationParams(device="cpu")),
            "params:training_run": MemoryDataset(run),
            "training_summary": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    summary = catalog.load("training_summary")
    assert summary["model"] == "wsdnet" and summary["iterations"] == 2
    assert summary["best_checkpoint"] == str(tmp_path / "model/best.pt")
    assert summary["last_checkpoint"] == str(tmp_path / "model/last.pt")
    assert Path(summary["run_dir"]).parent == tmp_path / "store"
    # The val split is what picked the best checkpoint: its val metrics are in it.
    record = checkpoint_record(summary["best_checkpoint"])
    assert record.monitor_score is not None and set(record.validation) == {"mIoU", "mF1", "aAcc"}
    assert (tmp_path / "live").is_dir()
