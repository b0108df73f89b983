"""evaluate_checkpoint: what the evaluation stage saves of a checkpoint's test evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.training_store import write_store
from urur.classes import URUR_CLASSES
from urur.config import ConfigError
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import evaluate_images
from urur.evaluation.metrics import segmentation_metrics
from urur.evaluation.protocol import evaluate_checkpoint, validation_metrics
from urur.models.checkpoint import build_model_from_checkpoint

IDS = ["t0", "t1"]


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    images, masks = write_store(tmp_path, IDS, size=64)
    return images, masks, pd.DataFrame({"image_id": IDS, "height": 64, "width": [64, 48]})


def test_a_checkpoint_evaluation_holds_the_metrics_tables_and_predictions_the_stage_saves(
    store: tuple, checkpoint: str, tmp_path: Path
) -> None:
    images, masks, manifest = store
    params = EvaluationParams(device="cpu", speed={"enabled": True, "warmup": 0, "runs": 1})
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    result = evaluate_checkpoint(checkpoint, IDS, images, masks, manifest, params, predictions)
    assert list(result.metrics) == [
        "test_images",
        "test/mIoU",
        "test/mF1",
        "test/aAcc",
        "test/mIoU_deep_zeroed",
        "test/mIoU_shallow_zeroed",
        "test/deep_branch_contribution_points",
        "test/shallow_branch_contribution_points",
        "fps",
        "seconds_per_image",
        "peak_memory_mb",
    ]
    assert all(isinstance(value, (int, float)) for value in result.metrics.values())
    assert result.evaluated["model"] == "wsdnet"
    assert result.evaluated["checkpoint"] == "best.pt"
    assert result.evaluated["speed_input"] == "1x3x64x64"  # the largest test height and width
    assert result.evaluated["speed_device"].startswith("cpu")
    # The same numbers as the protocol run by hand on the rebuilt model.
    model, meta = build_model_from_checkpoint(checkpoint)
    by_hand = evaluate_images(
        model, IDS, images, masks, len(URUR_CLASSES), mean=meta["mean"], std=meta["std"], progress=False
    )
    assert result.metrics["test_images"] == 2
    assert result.metrics["test/mIoU"] == pytest.approx(by_hand.metrics["mIoU"])
    assert result.metrics["test/aAcc"] == pytest.approx(by_hand.metrics["aAcc"])
    assert result.per_class["class_name"].tolist() == list(URUR_CLASSES)
    assert result.per_class["target_pixels"].sum() == 2 * 64 * 64
    np.testing.assert_array_equal(result.confusion.drop(columns="target").to_numpy(), by_hand.confusion)
    assert result.confusion["target"].tolist() == list(URUR_CLASSES)
    assert result.per_image["image_id"].tolist() == IDS
    assert sorted(p.name for p in predictions.glob("*.tif")) == ["t0.tif", "t1.tif"]


def test_excluded_classes_leave_the_means_and_unknown_ones_are_refused(
    store: tuple, checkpoint: str, tmp_path: Path
) -> None:
    images, masks, manifest = store
    quick = {"device": "cpu", "branch_ablation": False, "speed": {"enabled": False}}
    excluded = URUR_CLASSES[:1]
    params = EvaluationParams(**quick, write_predictions=False, excluded_classes=excluded)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    result = evaluate_checkpoint(checkpoint, IDS, images, masks, manifest, params, predictions)
    assert list(result.metrics) == ["test_images", "test/mIoU", "test/mF1", "test/aAcc"]
    assert list(result.evaluated) == ["model", "checkpoint"]
    confusion = result.confusion.drop(columns="target").to_numpy()
    assert result.metrics["test/mIoU"] == pytest.approx(segmentation_metrics(confusion, [0])["mIoU"])
    assert not any(predictions.iterdir())  # write_predictions: false
    with pytest.raises(ConfigError, match=r"excluded_classes names \['nowhere'\], not classes"):
        evaluate_checkpoint(
            checkpoint, IDS, images, masks, manifest, EvaluationParams(**quick, excluded_classes=["nowhere"])
        )


def test_validation_metrics_are_the_three_headline_numbers_as_floats(store: tuple, checkpoint: str) -> None:
    images, masks, _ = store
    model, _ = build_model_from_checkpoint(checkpoint)
    scores = validation_metrics(
        model, image_ids=IDS, images_dir=images, masks_dir=masks, num_classes=len(URUR_CLASSES)
    )
    full = evaluate_images(model, IDS, images, masks, len(URUR_CLASSES), progress=False).metrics
    assert scores == {name: pytest.approx(float(full[name])) for name in ("mIoU", "mF1", "aAcc")}
    assert all(type(value) is float for value in scores.values())
