"""The two inference paradigms of the paper's comparison (section 5.3).

- Global: :func:`whole_inference` shrinks the image by ``downsample``, predicts once and brings
  the logits back to full size (bilinear).
- Local: :func:`slide_inference` predicts overlapping windows laid out by
  :func:`urur.dataset.tiling.patch_grid` and averages the logits where windows overlap (mmseg's "slide"
  mode), so each window's model sees at most ``window`` x ``window`` pixels.

Both run under ``torch.inference_mode`` and need the model in eval mode: a model left in training
mode would return losses or use batch statistics of single windows.
"""

from __future__ import annotations

import torch
from torch import nn

from urur.dataset.tiling import patch_grid
from urur.io.windows import Window
from urur.models.common import resize


def _check_inputs(model: nn.Module, image: torch.Tensor) -> None:
    if model.training:
        raise ValueError("inference needs the model in eval mode: call model.eval() first")
    if image.ndim != 4:
        raise ValueError(f"image must be (N, C, H, W), got shape {tuple(image.shape)}")


@torch.inference_mode()
def whole_inference(model: nn.Module, image: torch.Tensor, downsample: float = 1) -> torch.Tensor:
    """Logits (N, K, H, W) of the model run once on the image shrunk ``downsample`` times."""
    _check_inputs(model, image)
    if downsample < 1:
        raise ValueError(f"downsample must be >= 1, got {downsample}")
    size = image.shape[-2:]
    small = (max(1, round(size[0] / downsample)), max(1, round(size[1] / downsample)))
    return resize(model(resize(image, small)), size)


@torch.inference_mode()
def slide_inference(
    model: nn.Module,
    image: torch.Tensor,
    num_classes: int,
    window: int = 1000,
    overlap: int = 120,
    batch_size: int = 1,
) -> torch.Tensor:
    """Logits (N, K, H, W) averaged over ``window``-sized crops overlapping by ``overlap`` pixels.

    ``batch_size`` crops go through the model together (each crop of every image in the batch).
    """
    _check_inputs(model, image)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n, _, height, width = image.shape
    windows = patch_grid(height, width, patch_size=window, overlap=overlap)
    logits = image.new_zeros((n, num_classes, height, width))
    counts = image.new_zeros((1, 1, height, width))
    for start in range(0, len(windows), batch_size):
        group = windows[start : start + batch_size]
        crops = torch.cat([image[(..., *w.slices)] for w in group])
        predictions = model(crops)
        if predictions.shape[1] != num_classes:
            raise ValueError(
                f"model returned {predictions.shape[1]} classes, expected num_classes={num_classes}"
            )
        for index, win in enumerate(group):
            _accumulate(logits, counts, predictions[index * n : (index + 1) * n], win)
    return logits.div_(counts)


def _accumulate(logits: torch.Tensor, counts: torch.Tensor, prediction: torch.Tensor, win: Window) -> None:
    rows, cols = win.slices
    logits[:, :, rows, cols] += prediction
    counts[:, :, rows, cols] += 1
