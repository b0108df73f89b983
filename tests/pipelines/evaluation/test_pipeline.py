"""The ``evaluation`` Kedro pipeline: the training summary's checkpoint on the test split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.support.training_store import write_store
from urur.classes import URUR_CLASSES
from urur.evaluation.config import EvaluationParams
from urur.pipelines.evaluation import create_pipeline

OUTPUTS = (
    "test_metrics",
    "test_evaluation",
    "test_class_metrics",
    "test_image_metrics",
    "test_confusion",
    "test_predictions",
)


def test_evaluation_pipeline_evaluates_the_best_checkpoint_on_the_test_images_only(
    tmp_path: Path, monkeypatch, checkpoint: str
) -> None:
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    images, masks = write_store(tmp_path, ["a", "t0", "t1"], size=64)
    catalog = DataCatalog(
        {
            "uhr_images": MemoryDataset(images),
            "masks": MemoryDataset(masks),
            "dataset_split": MemoryDataset(
                pd.DataFrame({"image_id": ["a", "t0", "t1"], "split": ["train", "test", "test"]})
            ),
            "image_manifest": MemoryDataset(
                pd.DataFrame({"image_id": ["a", "t0", "t1"], "height": 64, "width": 64})
            ),
            "training_summary": MemoryDataset(
                {"best_checkpoint": checkpoint, "last_checkpoint": "missing.pt"}
            ),
            "params:evaluation": MemoryDataset(
                EvaluationParams(
                    device="cpu", branch_ablation=False, speed={"enabled": True, "warmup": 0, "runs": 1}
                )
            ),
        }
        | {name: MemoryDataset(copy_mode="assign") for name in OUTPUTS}
    )
    SequentialRunner().run(create_pipeline(), catalog)
    metrics = catalog.load("test_metrics")
    assert metrics["test_images"] == 2 and 0.0 <= metrics["test/mIoU"] <= 1.0 and metrics["fps"] > 0
    evaluated = catalog.load("test_evaluation")
    assert evaluated["speed_device"].startswith("cpu")
    assert evaluated | {"speed_device": "cpu"} == {
        "model": "wsdnet",
        "checkpoint": "best.pt",
        "speed_input": "1x3x64x64",
        "speed_device": "cpu",
    }
    assert catalog.load("test_image_metrics")["image_id"].tolist() == ["t0", "t1"]
    assert catalog.load("test_class_metrics")["class_name"].tolist() == list(URUR_CLASSES)
    assert catalog.load("test_confusion")["target"].tolist() == list(URUR_CLASSES)
    assert sorted(p.name for p in catalog.load("test_predictions").glob("*.tif")) == ["t0.tif", "t1.tif"]
