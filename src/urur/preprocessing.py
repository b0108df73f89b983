"""Turning uint8 RGB pixels into model input: the normalisation every model was trained with.

Training, validation, evaluation and prediction all go through :func:`normalize` with the
statistics stored in the checkpoint, so a model never sees differently scaled input at test time.
Defaults are ImageNet's (RGB, 0-255), as ISDNet's official configs use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """An (H, W, 3) uint8 array as a (3, H, W) float32 tensor of 0-255 values."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()


def normalize(
    image: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """(…, 3, H, W) 0-255 float pixels minus ``mean``, divided by ``std`` (per channel)."""
    shape = (3, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(shape)
    std_t = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(shape)
    return (image - mean_t) / std_t
