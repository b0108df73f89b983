"""Segmentation metrics from one confusion matrix per split (mmseg's definitions).

A split's metrics come from a single confusion matrix accumulated over every pixel of every
image, never from an average of per-image or per-batch scores: ``confusion_matrix`` is summed
image by image, ``segmentation_metrics`` reduces it once.

- IoU_c = TP / (TP + FP + FN), F1_c = 2TP / (2TP + FP + FN);
- a class with an empty union (absent from target and prediction) is NaN and left out of
  ``mIoU`` and ``mF1``, as mmseg does;
- ``aAcc`` = correctly labelled pixels / labelled pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from urur.classes import IGNORE_INDEX


def _as_numpy(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy()
    return np.asarray(labels)


def confusion_matrix(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts; rows are target classes, columns predictions.

    ``pred`` and ``target`` are label arrays of the same shape (numpy or torch, any shape).
    Target pixels equal to ``ignore_index`` are left out. A target value that is neither a class
    nor ``ignore_index`` is an error (a mask that does not fit the class table), and so is a
    predicted value outside the classes.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    pred, target = _as_numpy(pred), _as_numpy(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    # int64 before ``target * num_classes + pred``: uint8 masks would wrap around past 255.
    target, pred = target.reshape(-1).astype(np.int64), pred.reshape(-1).astype(np.int64)
    valid = target != ignore_index
    target, pred = target[valid], pred[valid]
    for name, values in (("target", target), ("prediction", pred)):
        bad = (values < 0) | (values >= num_classes)
        if bad.any():
            raise ValueError(
                f"{name} holds values {np.unique(values[bad])[:10].tolist()} outside the class values "
                f"0..{num_classes - 1} (and {ignore_index} = ignore): check the class table of the masks"
            )
    counts = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)  # bincount counts in int64


def segmentation_metrics(
    confusion: np.ndarray, exclude: Sequence[int] = ()
) -> dict[str, float | list[float]]:
    """``mIoU``, ``mF1``, ``aAcc`` (0..1) and per-class ``IoU`` and ``F1`` lists (NaN: class absent).

    Classes in ``exclude`` (values) keep their per-class scores but are left out of the means,
    as DeepGlobe's "unknown" is.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {confusion.shape}")
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    union = tp + fp + fn
    present = union > 0
    counted = present.copy()
    counted[list(exclude)] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(present, tp / union, np.nan)
        f1 = np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan)
    total = confusion.sum()
    return {
        "mIoU": float(iou[counted].mean()) if counted.any() else np.nan,
        "mF1": float(f1[counted].mean()) if counted.any() else np.nan,
        "aAcc": float(tp.sum() / total) if total > 0 else np.nan,
        "IoU": iou.tolist(),
        "F1": f1.tolist(),
    }
