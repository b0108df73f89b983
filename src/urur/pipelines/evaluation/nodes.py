from __future__ import annotations

import functools
import logging
from pathlib import Path

import pandas as pd

from urur.config import ConfigError
from urur.devices import resolve_device
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import (
    branch_metrics,
    contribution_key,
    evaluate_images,
    evaluate_zeroed_branches,
    measure_speed_memory,
    predict_logits,
)
from urur.evaluation.metrics import segmentation_metrics
from urur.io.atomic import staging_directories
from urur.models.checkpoint import build_model_from_checkpoint, run_checkpoint
from urur.models.common import BRANCHES, TwoBranchModel
from urur.pipelines.training.nodes import split_ids

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
    device = resolve_device(evaluation.device, "evaluation.device")
    model, meta = build_model_from_checkpoint(checkpoint, device)
    class_names = list(meta["class_names"])
    test_ids = split_ids(dataset_split, "test")
    split = (model, test_ids, images_dir, masks_dir, len(class_names))
    options = {
        "mode": evaluation.mode,
        "window": evaluation.window,
        "overlap": evaluation.overlap,
        "downsample": evaluation.downsample,
        "mean": meta["mean"],
        "std": meta["std"],
        "device": device,
    }
    with staging_directories("predictions") as (predictions_dir,):
        result = evaluate_images(
            *split,
            **options,
            predictions_dir=predictions_dir if evaluation.write_predictions else None,
            class_names=class_names,
        )
    unknown = sorted(set(evaluation.excluded_classes) - set(class_names))
    if unknown:
        raise ConfigError(
            f"evaluation.excluded_classes names {unknown}, not classes of the checkpoint {class_names}; "
            "fix conf/<env>/parameters_evaluation.yml"
        )
    excluded = [class_names.index(n) for n in evaluation.excluded_classes]
    m = segmentation_metrics(result.confusion, excluded)
    evaluated = {"model": meta["model"], "checkpoint": Path(checkpoint).name}
    metrics = {
        "test_images": len(test_ids),
        "test/mIoU": m["mIoU"],
        "test/mF1": m["mF1"],
        "test/aAcc": m["aAcc"],
    }
    if evaluation.branch_ablation and isinstance(model, TwoBranchModel):
        zeroed = evaluate_zeroed_branches(*split, **options)
        metrics |= branch_metrics(
            m["mIoU"], {b: segmentation_metrics(r.confusion, excluded)["mIoU"] for b, r in zeroed.items()}
        )
        log.info(
            "Branch contributions (test mIoU points lost with the branch zeroed): %s",
            ", ".join(f"{b} {metrics[contribution_key(b)]:.1f}" for b in BRANCHES),
        )
    elif evaluation.branch_ablation:
        log.info("Branch ablation skipped: %s has one branch (evaluation.branch_ablation)", meta["model"])
    if evaluation.speed.enabled:
        sizes = image_manifest.set_index("image_id").loc[test_ids, ["height", "width"]]
        height, width = (int(v) for v in sizes.max())
        # Timed in the evaluation's paradigm (sliding windows, downsampled or whole), as the paper's Table 4.
        paradigm = functools.partial(
            predict_logits,
            model,
            num_classes=len(class_names),
            mode=evaluation.mode,
            window=evaluation.window,
            overlap=evaluation.overlap,
            downsample=evaluation.downsample,
        )
        speed = measure_speed_memory(
            model,
            height,
            width,
            device,
            warmup=evaluation.speed.warmup,
            runs=evaluation.speed.runs,
            predict=paradigm,
        )
        metrics |= {
            "fps": speed["fps"],
            "seconds_per_image": speed["seconds_per_image"],
            "peak_memory_mb": speed["peak_memory_mb"],
        }
        evaluated |= {"speed_input": f"1x3x{height}x{width}", "speed_device": speed["device"]}
    per_class = pd.DataFrame(
        {
            "class_name": class_names,
            "IoU": m["IoU"],
            "F1": m["F1"],
            "target_pixels": result.confusion.sum(axis=1),
            "predicted_pixels": result.confusion.sum(axis=0),
        }
    )
    confusion = pd.DataFrame(result.confusion, index=class_names, columns=class_names)
    confusion = confusion.rename_axis("target").reset_index()
    log.info(
        "Test mIoU %.4f, mF1 %.4f, aAcc %.4f over %d images (%s)",
        m["mIoU"], m["mF1"], m["aAcc"], len(test_ids), meta["model"],
    )  # fmt: skip
    return metrics, evaluated, per_class, result.per_image, confusion, predictions_dir
