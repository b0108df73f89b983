"""The paper's evaluation protocol (section 5.3) and its FPS / peak-memory protocol.

:func:`evaluate_images` runs a model over a set of test images, each whole and at full
resolution, and accumulates **one** confusion matrix over the set (metrics are reduced from it
once, never averaged over images). Images are streamed one at a time, so memory is bounded by
one image, its mask and its logits. ``mode`` picks the paradigm:

- ``"whole"``: the full-resolution image in one forward pass (WSDNet, ISDNet: the paper's way);
- ``"global"``: the image shrunk ``downsample`` times, logits resized back (global paradigm);
- ``"slide"``: ``window``-pixel windows overlapping by ``overlap`` pixels, logits averaged over
  overlaps (local paradigm, mmseg's "slide" mode).

:func:`measure_speed_memory` is ISDNet's FPS protocol (REFERENCE.md): random 1x3xHxW input,
no gradients, warm-up runs, then timed runs each bracketed by device synchronisation;
FPS = runs / total time. Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU and the
process's peak resident set (VmHWM, reset just before the warm-up, after the heap that earlier work
freed is handed back to the OS) on the CPU.
``benchmarks/bench_models.py`` measures through it too, so both report the same quantity.

:func:`evaluate_zeroed_branches` is the branch-contribution diagnostic of the two-branch models
(WSDNet, ISDNet): the same evaluation once more per branch, that branch's feature zeroed where it
enters the fusion; :func:`branch_metrics` turns the results into test_metrics.json's keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from urur.devices import describe_device, peak_memory_mb, release_freed_heap, reset_peak_rss
from urur.evaluation.metrics import confusion_matrix, segmentation_metrics
from urur.evaluation.paradigms import slide_inference, whole_inference
from urur.io.label_raster import write_label_raster
from urur.io.layout import find_mask, image_path
from urur.io.raster import raster_info, read_raster
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


def _write_prediction(path: Path, labels: np.ndarray, source: Path, class_names: Sequence[str]) -> None:
    """The label raster of ``labels`` (:mod:`urur.io.label_raster`) with ``source``'s georeferencing."""
    info = raster_info(source)
    write_label_raster(path, labels, class_names=class_names, crs=info.crs, transform=info.transform)


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
            source = image_path(images_dir, image_id)
            mask_file = find_mask(masks_dir, image_id)
            pixels = read_raster(source)
            mask = read_raster(mask_file, bands=[1])
            if pixels.ndim != 3 or pixels.shape[2] != 3:
                raise ValueError(f"{source} is not an RGB image (array shape {pixels.shape})")
            if mask.shape != pixels.shape[:2]:
                raise ValueError(
                    f"mask {mask_file} is {mask.shape[0]}x{mask.shape[1]} but image {source} is "
                    f"{pixels.shape[0]}x{pixels.shape[1]}: rebuild the mask from this image"
                )
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
                _write_prediction(Path(predictions_dir) / f"{image_id}.tif", labels, source, class_names)
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


def measure_speed_memory(
    model: nn.Module,
    height: int,
    width: int,
    device: str | torch.device = "cpu",
    warmup: int = 1,
    runs: int = 2,
    *,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
    bf16: bool = False,
    channels_last: bool = False,
) -> dict[str, object]:
    """FPS and peak memory of ``model`` on one random 1x3x``height``x``width`` image (ISDNet's protocol).

    ``predict`` replaces ``model(image)`` for other paradigms (sliding windows, downsampling).
    Returns ``fps``, ``seconds_per_image`` (mean), ``seconds_each``, ``peak_memory_mb``,
    ``memory_kind`` and ``device``. On the CPU the peak is the whole process's resident set
    during the runs (model weights and interpreter included), reset before the warm-up where the
    kernel allows it (else the process's lifetime peak, which is what a fresh process measures).
    """
    if warmup < 0 or runs < 1:
        raise ValueError(f"need warmup >= 0 and runs >= 1, got warmup={warmup}, runs={runs}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(device, memory_format=memory_format)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, height, width, generator=generator).to(device, memory_format=memory_format)
    predict = predict or model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        memory_kind = "torch.cuda.max_memory_allocated"
    else:
        trimmed = release_freed_heap()
        if reset_peak_rss():
            memory_kind = "peak RSS of the process during the runs (VmHWM, reset before warm-up"
            memory_kind += ", freed heap returned first)" if trimmed else ")"
        else:
            memory_kind = "peak RSS of the process over its lifetime (ru_maxrss)"
    times = []
    with torch.inference_mode(), autocast:
        for iteration in range(warmup + runs):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            logits = predict(image)
            if cuda:
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
            del logits  # one image's logits must not stay alive during the next run
            if iteration >= warmup:
                times.append(elapsed)
    peak = peak_memory_mb(device)
    return {
        "fps": len(times) / float(np.sum(times)),
        "seconds_per_image": float(np.mean(times)),
        "seconds_each": times,
        "peak_memory_mb": float(peak),
        "memory_kind": memory_kind,
        "device": describe_device(device),
    }
