"""The paper's evaluation protocol (section 5.3); its FPS and peak memory: :mod:`urur.evaluation.speed`.

:func:`evaluate_images` runs a model over a set of test images, each whole and at full
resolution, and accumulates **one** confusion matrix over the set (metrics are reduced from it
once, never averaged over images). Images are streamed one at a time, so memory is bounded by
one image, its mask and its logits. ``mode`` picks the paradigm:

- ``"whole"``: the full-resolution image in one forward pass (WSDNet, ISDNet: the paper's way);
- ``"global"``: the image shrunk ``downsample`` times, logits resized back (global paradigm);
- ``"slide"``: ``window``-pixel windows overlapping by ``overlap`` pixels, logits averaged over
  overlaps (local paradigm, mmseg's "slide" mode).

:func:`evaluate_zeroed_branches` is the branch-contribution diagnostic of the two-branch models
(WSDNet, ISDNet): the same evaluation once more per branch, that branch's feature zeroed where it
enters the fusion; :func:`branch_metrics` turns the results into test_metrics.json's keys.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from urur.evaluation.metrics import confusion_matrix, segmentation_metrics
from urur.evaluation.paradigms import slide_inference, whole_inference
from urur.io.label_raster import write_label_raster_like
from urur.io.layout import find_mask, image_path
from urur.io.raster import read_raster
from urur.models.common import BRANCHES, zero_branch
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor

MODES: tuple[str, ...] = ("whole", "slide", "global")


@dataclass
class EvaluationResult:
    """One split's evaluation: the accumulated confusion matrix, per-image rows and the metrics."""

    confusion: np.ndarray  # int64 (K, K); rows = target, columns = prediction
    per_image: pd.DataFrame  # image_id, pixels (labelled), aAcc, mIoU, seconds (inference)
    metrics: dict[str, float | list[float]]  # segmentation_metrics(confusion)


def predict_logits(
    model: nn.Module,
    image: torch.Tensor,
    num_classes: int,
    mode: str = "whole",
    window: int = 1000,
    overlap: int = 120,
    downsample: float = 4,
) -> torch.Tensor:
    """(1, K, H, W) logits of a normalised (1, 3, H, W) image under paradigm ``mode``."""
    if mode == "slide":
        return slide_inference(model, image, num_classes, window=window, overlap=overlap)
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; valid modes are {', '.join(MODES)}")
    logits = whole_inference(model, image, downsample=downsample if mode == "global" else 1)
    if logits.shape[1] != num_classes:
        raise ValueError(f"model returned {logits.shape[1]} classes, expected num_classes={num_classes}")
    return logits


def _read_image_and_mask(source: Path, mask_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image and its mask, refused where the image is not RGB or the sizes differ."""
    pixels = read_raster(source)
    mask = read_raster(mask_file, bands=[1])
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{source} is not an RGB image (array shape {pixels.shape})")
    if mask.shape != pixels.shape[:2]:
        raise ValueError(
            f"mask {mask_file} is {mask.shape[0]}x{mask.shape[1]} but image {source} is "
            f"{pixels.shape[0]}x{pixels.shape[1]}: rebuild the mask from this image"
        )
    return pixels, mask


def evaluate_images(
    model: nn.Module,
    image_ids: Sequence[str],
    images_dir: str | Path,
    masks_dir: str | Path,
    num_classes: int,
    *,
    mode: str = "whole",
    window: int = 1000,
    overlap: int = 120,
    downsample: float = 4,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    device: str | torch.device = "cpu",
    predictions_dir: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``model`` on ``image_ids`` the paper's way; see the module docstring.

    The model is moved to ``device`` and run in eval mode; its previous train/eval mode is
    restored afterwards, so a trainer can validate mid-run. With ``predictions_dir``, every
    prediction is written as ``<id>.tif``: a label raster (class values as a Cloud-Optimised
    GeoTIFF coloured with the palette of ``class_names``, named by them, with a QGIS style beside
    it; :mod:`urur.io.label_raster`) carrying the image's CRS and transform.
    """
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; valid modes are {', '.join(MODES)}")
    if not image_ids:
        raise ValueError(f"no images to evaluate in {images_dir}: the split is empty")
    if predictions_dir is not None and (class_names is None or len(class_names) != num_classes):
        raise ValueError(
            f"writing predictions needs the names of the {num_classes} classes (class_names), "
            f"got {class_names}"
        )
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    rows = []
    try:
        for image_id in tqdm(image_ids, desc="evaluate", unit="image", disable=not progress, leave=False):
            source, mask_file = image_path(images_dir, image_id), find_mask(masks_dir, image_id)
            pixels, mask = _read_image_and_mask(source, mask_file)
            image = normalize(to_tensor(pixels), mean, std)[None].to(device)
            del pixels
            start = time.perf_counter()
            logits = predict_logits(model, image, num_classes, mode, window, overlap, downsample)
            labels = logits.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
            seconds = time.perf_counter() - start
            del image, logits
            try:
                counts = confusion_matrix(labels, mask, num_classes)
            except ValueError as error:
                raise ValueError(f"{mask_file}: {error}") from error
            confusion += counts
            scores = segmentation_metrics(counts)
            rows.append(
                {
                    "image_id": image_id,
                    "pixels": int(counts.sum()),
                    "aAcc": scores["aAcc"],
                    "mIoU": scores["mIoU"],
                    "seconds": seconds,
                }
            )
            if predictions_dir is not None:
                write_label_raster_like(
                    Path(predictions_dir) / f"{image_id}.tif", labels, source, class_names=class_names
                )
    finally:
        model.train(was_training)
    per_image = pd.DataFrame(rows, columns=["image_id", "pixels", "aAcc", "mIoU", "seconds"])
    return EvaluationResult(confusion=confusion, per_image=per_image, metrics=segmentation_metrics(confusion))


def evaluate_zeroed_branches(
    model: nn.Module,
    image_ids: Sequence[str],
    images_dir: str | Path,
    masks_dir: str | Path,
    num_classes: int,
    **options: Any,
) -> dict[str, EvaluationResult]:
    """Branch -> the split evaluated with that branch's feature zeroed at the fusion.

    A model that has not learnt to use a branch scores the same without it, which its test mIoU
    alone never shows. ``options`` are :func:`evaluate_images`' (no predictions are written).
    """
    results = {}
    for branch in BRANCHES:
        with zero_branch(model, branch):
            results[branch] = evaluate_images(
                model, image_ids, images_dir, masks_dir, num_classes, **options, predictions_dir=None
            )
    return results


def zeroed_key(branch: str) -> str:
    """The metrics key of the test mIoU with ``branch`` zeroed (a fraction, like ``test/mIoU``)."""
    return f"test/mIoU_{branch}_zeroed"


def contribution_key(branch: str) -> str:
    """The metrics key of the mIoU points (x100) ``branch`` adds: full minus ``branch`` zeroed."""
    return f"test/{branch}_branch_contribution_points"


def branch_metrics(miou: float, zeroed_miou: Mapping[str, float]) -> dict[str, float]:
    """Each branch's zeroed mIoU, then each branch's contribution in points (numbers only: DVC metrics)."""
    zeroed = {zeroed_key(branch): float(value) for branch, value in zeroed_miou.items()}
    points = {contribution_key(branch): 100.0 * (miou - value) for branch, value in zeroed_miou.items()}
    return zeroed | points
