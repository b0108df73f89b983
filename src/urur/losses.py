"""Training losses: segmentation cross entropy, WSDNet's Wavelet Smooth Loss, ISDNet's L_sr and L_sd.

Every function takes predictions first and targets second and returns a scalar tensor. Loss
weights that belong to a loss's definition live here (WSL's lambdas, L_sr's 0.1); the weight a
model gives a whole term (WSDNet's 0.1 on the auxiliary loss) lives in the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from urur.classes import IGNORE_INDEX
from urur.models.common import resize
from urur.models.wavelets import WaveletPacket2D, check_divisible

SR_LOSS_WEIGHT = 0.1


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Pixel-wise cross entropy of (N, K, h, w) logits against (N, H, W) class values.

    Logits of another size are bilinearly resized to the target's size first (mmseg's habit), so
    heads working at 1/8 can be trained against full-size labels.
    """
    if target.ndim != 3:
        raise ValueError(f"target must be (N, H, W) class values, got shape {tuple(target.shape)}")
    logits = resize(logits, target.shape[-2:])
    return F.cross_entropy(logits, target.long(), ignore_index=ignore_index)


class WaveletSmoothLoss(nn.Module):
    """WSL (paper eq. 4): L2 on low-frequency, L1 on high-frequency wavelet-packet subbands.

    Both tensors go through ``levels`` levels of the wavelet-packet DWT. At level ``l`` each of
    the ``4**(l-1)`` subbands of level ``l-1`` splits into one low child (adds ``lambda_low`` x
    mean squared error between the two tensors' child) and three high children (each adds
    ``lambda_high`` x mean absolute error); means run over batch, channels and pixels of one child,
    and the terms are summed over children, parents and levels. L2 pins down the coarse structure
    while L1's value-independent gradient only asks the texture statistics to match.
    """

    def __init__(
        self, levels: int = 3, lambda_low: float = 1.0, lambda_high: float = 0.8, wave: str = "haar"
    ) -> None:
        super().__init__()
        self.levels = levels
        self.lambda_low = lambda_low
        self.lambda_high = lambda_high
        self.packet = WaveletPacket2D(levels=levels, wave=wave)

    def forward(self, reconstruction: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if reconstruction.shape != image.shape:
            raise ValueError(
                f"reconstruction {tuple(reconstruction.shape)} and image {tuple(image.shape)} must have "
                "the same shape"
            )
        check_divisible(image.shape[-2], image.shape[-1], self.levels, what="Wavelet Smooth Loss input")
        channels = image.shape[1]
        total = image.new_zeros(())
        # The DWT is linear: transforming the difference equals differencing the transforms.
        for level, coeffs in enumerate(self.packet.iter_levels(reconstruction - image), start=1):
            parents = 4 ** (level - 1)
            n, _, height, width = coeffs.shape
            children = coeffs.reshape(n, 4, parents, channels, height, width)
            low = children[:, 0].pow(2).mean(dim=(0, 2, 3, 4))  # one MSE per parent
            high = children[:, 1:].abs().mean(dim=(0, 3, 4, 5))  # one MAE per (band, parent)
            total = total + self.lambda_low * low.sum() + self.lambda_high * high.sum()
        return total

    def extra_repr(self) -> str:
        return f"levels={self.levels}, lambda_low={self.lambda_low}, lambda_high={self.lambda_high}"


def sr_loss(pred: torch.Tensor, target: torch.Tensor, weight: float = SR_LOSS_WEIGHT) -> torch.Tensor:
    """ISDNet's super-resolution loss L_sr = 0.1 x MSE (the 0.1 is part of its definition).

    ``pred`` is resized to the target's size when they differ.
    """
    pred = resize(pred, target.shape[-2:])
    return weight * F.mse_loss(pred, target)


def _self_similarity(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, hw, hw) cosine similarity between every pair of positions."""
    flat = F.normalize(feature.flatten(2), dim=1)
    return flat.transpose(1, 2) @ flat


def sd_loss(deep_feature: torch.Tensor, sr_feature: torch.Tensor, grid: int = 16) -> torch.Tensor:
    """ISDNet's structure-distillation loss L_sd: L1 between normalised self-similarity matrices.

    Both features are average-pooled to at most ``grid`` x ``grid`` positions (the matrices grow
    with the fourth power of the side), each position's channel vector is L2-normalised, and the
    mean absolute difference of the two position-by-position similarity matrices is returned. The
    super-resolution side is detached: it teaches the deep feature, not the other way round.
    Channel counts may differ.
    """
    size = (min(grid, deep_feature.shape[-2]), min(grid, deep_feature.shape[-1]))
    deep = F.adaptive_avg_pool2d(deep_feature, size)
    sr = F.adaptive_avg_pool2d(sr_feature.detach(), size)
    return (_self_similarity(deep) - _self_similarity(sr)).abs().mean()
