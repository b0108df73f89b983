"""A trained checkpoint on the test split, the paper's way, then its FPS and peak memory: the one entry
the evaluation stage and the comparison's runs share; and the validation metrics training picks its
best checkpoint by.

:func:`evaluate_checkpoint` rebuilds the model from its checkpoint on the configured device, runs
:func:`~urur.evaluation.evaluate.evaluate_images` in the configured paradigm, reduces the confusion
matrix to mIoU, mF1 and aAcc (leaving ``excluded_classes`` out of the means), adds the branch
diagnostic of two-branch models and the speed test (:mod:`urur.evaluation.speed`), and returns the
tables the evaluation stage saves.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from urur.config import ConfigError
from urur.devices import resolve_device
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import (
    branch_metrics,
    contribution_key,
    evaluate_images,
    evaluate_zeroed_branches,
    predict_logits,
)
from urur.evaluation.metrics import segmentation_metrics
from urur.evaluation.speed import measure_speed_memory
from urur.models.checkpoint import build_model_from_checkpoint
from urur.models.common import BRANCHES, TwoBranchModel

log = logging.getLogger(__name__)


@dataclass
class CheckpointEvaluation:
    """What the evaluation stage saves of one checkpoint's test evaluation."""

    # Numbers only (DVC metrics): test_images, test/mIoU, test/mF1, test/aAcc; with the branch
    # ablation each branch's zeroed mIoU and contribution in points; with the speed test fps,
    # seconds_per_image and peak_memory_mb.
    metrics: dict[str, float]
    evaluated: dict[str, str]  # model, checkpoint (file name); with the speed test its input and device
    per_class: pd.DataFrame  # class_name, IoU, F1, target_pixels, predicted_pixels
    per_image: pd.DataFrame  # EvaluationResult.per_image
    confusion: pd.DataFrame  # a target column, then one column per predicted class


def evaluate_checkpoint(
    checkpoint: str | Path,
    image_ids: Sequence[str],
    images_dir: Path,
    masks_dir: Path,
    image_manifest: pd.DataFrame,
    evaluation: EvaluationParams,
    predictions_dir: Path | None = None,
) -> CheckpointEvaluation:
    """``checkpoint`` on the test images ``image_ids`` as ``evaluation`` says (see the module docstring).

    Predictions are written to ``predictions_dir`` as label rasters in the palette of the
    checkpoint's classes (:mod:`urur.io.label_raster`) where ``evaluation.write_predictions``; the
    speed test runs on one random image of the largest test image's height and width
    (``image_manifest``).
    """
    device = resolve_device(evaluation.device, "evaluation.device")
    model, meta = build_model_from_checkpoint(checkpoint, device)
    class_names = list(meta["class_names"])
    split = (model, image_ids, images_dir, masks_dir, len(class_names))
    options = {
        "mode": evaluation.mode,
        "window": evaluation.window,
        "overlap": evaluation.overlap,
        "downsample": evaluation.downsample,
        "mean": meta["mean"],
        "std": meta["std"],
        "device": device,
    }
    result = evaluate_images(
        *split,
        **options,
        predictions_dir=predictions_dir if evaluation.write_predictions else None,
        class_names=class_names,
    )
    excluded = _excluded_indices(evaluation.excluded_classes, class_names)
    scores = segmentation_metrics(result.confusion, excluded)
    evaluated = {"model": meta["model"], "checkpoint": Path(checkpoint).name}
    metrics = {
        "test_images": len(image_ids),
        "test/mIoU": scores["mIoU"],
        "test/mF1": scores["mF1"],
        "test/aAcc": scores["aAcc"],
    }
    if evaluation.branch_ablation:
        metrics |= _branch_ablation(split, options, excluded, scores["mIoU"], meta["model"])
    if evaluation.speed.enabled:
        speed_metrics, speed_evaluated = _speed_test(
            model, len(class_names), image_ids, image_manifest, evaluation, device
        )
        metrics |= speed_metrics
        evaluated |= speed_evaluated
    return CheckpointEvaluation(
        metrics=metrics,
        evaluated=evaluated,
        per_class=_class_table(class_names, scores, result.confusion),
        per_image=result.per_image,
        confusion=pd.DataFrame(result.confusion, index=class_names, columns=class_names)
        .rename_axis("target")
        .reset_index(),
    )


def _excluded_indices(excluded_classes: Sequence[str], class_names: list[str]) -> list[int]:
    """Indices of ``evaluation.excluded_classes``, each refused unless the checkpoint has it."""
    unknown = sorted(set(excluded_classes) - set(class_names))
    if unknown:
        raise ConfigError(
            f"evaluation.excluded_classes names {unknown}, not classes of the checkpoint {class_names}; "
            "fix conf/<env>/parameters_evaluation.yml"
        )
    return [class_names.index(name) for name in excluded_classes]


def _branch_ablation(
    split: tuple[nn.Module, Sequence[str], Path, Path, int],
    options: dict[str, Any],
    excluded: list[int],
    miou: float,
    model_name: str,
) -> dict[str, float]:
    """Each branch's zeroed mIoU and contribution of a two-branch model; nothing (said in a log line)
    for a model of one branch."""
    model = split[0]
    if not isinstance(model, TwoBranchModel):
        log.info("Branch ablation skipped: %s has one branch (evaluation.branch_ablation)", model_name)
        return {}
    zeroed = evaluate_zeroed_branches(*split, **options)
    metrics = branch_metrics(
        miou, {b: segmentation_metrics(r.confusion, excluded)["mIoU"] for b, r in zeroed.items()}
    )
    log.info(
        "Branch contributions (test mIoU points lost with the branch zeroed): %s",
        ", ".join(f"{b} {metrics[contribution_key(b)]:.1f}" for b in BRANCHES),
    )
    return metrics


def _speed_test(
    model: nn.Module,
    num_classes: int,
    image_ids: Sequence[str],
    image_manifest: pd.DataFrame,
    evaluation: EvaluationParams,
    device: torch.device,
) -> tuple[dict[str, float], dict[str, str]]:
    """FPS and peak memory on one image of the largest test height and width, and what was timed."""
    sizes = image_manifest.set_index("image_id").loc[image_ids, ["height", "width"]]
    height, width = (int(v) for v in sizes.max())
    # Timed in the evaluation's paradigm (sliding windows, downsampled or whole), as the paper's Table 4.
    paradigm = functools.partial(
        predict_logits,
        model,
        num_classes=num_classes,
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
    metrics = {key: speed[key] for key in ("fps", "seconds_per_image", "peak_memory_mb")}
    return metrics, {"speed_input": f"1x3x{height}x{width}", "speed_device": speed["device"]}


def _class_table(class_names: list[str], scores: dict, confusion: np.ndarray) -> pd.DataFrame:
    """Per-class IoU and F1 with each class's target and predicted pixel counts."""
    return pd.DataFrame(
        {
            "class_name": class_names,
            "IoU": scores["IoU"],
            "F1": scores["F1"],
            "target_pixels": confusion.sum(axis=1),
            "predicted_pixels": confusion.sum(axis=0),
        }
    )


def validation_metrics(model: nn.Module, **evaluate_kwargs: Any) -> dict[str, float]:
    """mIoU, mF1 and aAcc of ``model`` on the val images (the trainer logs them as ``val/...``);
    ``evaluate_kwargs`` are :func:`~urur.evaluation.evaluate.evaluate_images`'."""
    metrics = evaluate_images(model, progress=False, **evaluate_kwargs).metrics
    return {name: float(metrics[name]) for name in ("mIoU", "mF1", "aAcc")}
