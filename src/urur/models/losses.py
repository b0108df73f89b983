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
WSL_NORMALISATIONS: tuple[str, ...] = ("sum", "level_mean")  # sum: Eq. 4 read literally


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


def _haar_wsl_matrix(levels: int) -> tuple[torch.Tensor, list[int]]:
    """Haar packet coefficients of every level of one ``2**levels`` block, as one matrix.

    Returns the (levels * P, P) matrix, P = 4**levels pixels per block, whose rows are the level 1,
    2, ... coefficients of the block (each level is orthonormal, P rows), with each level's low
    children first, and the number of low rows per level (4**(l-1) parents x the level's
    sub-blocks). Built from :class:`WaveletPacket2D` itself applied to basis images, so the
    numbers are the transform's own.
    """
    side = 2**levels
    pixels = side * side
    basis = torch.eye(pixels).reshape(pixels, 1, side, side)
    rows, low_rows = [], []
    packet = WaveletPacket2D(levels=levels, wave="haar")
    for level, coeffs in enumerate(packet.iter_levels(basis), start=1):
        # coeffs: (pixels, 4**level bands, sub-blocks...); band index < 4**(level-1) = low child.
        bands = coeffs.reshape(pixels, 4**level, -1)
        rows.append(bands.reshape(pixels, -1).T)  # low bands come first in this flattening
        low_rows.append(4 ** (level - 1) * bands.shape[-1])
    return torch.cat(rows).contiguous(), low_rows


class WaveletSmoothLoss(nn.Module):
    """WSL (paper eq. 4): L2 on low-frequency, L1 on high-frequency wavelet-packet subbands.

    Both tensors go through ``levels`` levels of the wavelet-packet DWT. At level ``l`` each of
    the ``4**(l-1)`` subbands of level ``l-1`` splits into one low child (adds ``lambda_low`` x
    mean squared error between the two tensors' child) and three high children (each adds
    ``lambda_high`` x mean absolute error); means run over batch, channels and pixels of one child,
    and the terms are summed over children, parents and levels. L2 pins down the coarse structure
    while L1's value-independent gradient only asks the texture statistics to match.

    Computed on the transform of ``reconstruction - image`` (the DWT is linear). For haar every
    level's coefficients are a fixed linear map of each ``2**levels`` pixel block, so all levels
    come from one matrix product on the blocks (about 3x faster forward and backward than level
    by level at 512 x 512, same numbers); other wavelets go level by level.
    """

    def __init__(
        self,
        levels: int = 3,
        lambda_low: float = 1.0,
        lambda_high: float = 0.8,
        wave: str = "haar",
        normalisation: str = "sum",
    ) -> None:
        super().__init__()
        if normalisation not in WSL_NORMALISATIONS:
            valid = ", ".join(WSL_NORMALISATIONS)
            raise ValueError(f"unknown wsl_normalisation {normalisation!r}; valid values are {valid}")
        self.normalisation = normalisation
        self.levels = levels
        self.lambda_low = lambda_low
        self.lambda_high = lambda_high
        self.packet = WaveletPacket2D(levels=levels, wave=wave)
        matrix, self.low_rows = _haar_wsl_matrix(levels) if wave == "haar" else (None, [])
        self.register_buffer("haar_matrix", matrix, persistent=False)

    def forward(self, reconstruction: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if reconstruction.shape != image.shape:
            raise ValueError(
                f"reconstruction {tuple(reconstruction.shape)} and image {tuple(image.shape)} must have "
                "the same shape"
            )
        check_divisible(image.shape[-2], image.shape[-1], self.levels, what="Wavelet Smooth Loss input")
        difference = reconstruction - image
        if self.haar_matrix is not None:
            return self._haar(difference)
        channels = image.shape[1]
        total = image.new_zeros(())
        for level, coeffs in enumerate(self.packet.iter_levels(difference), start=1):
            parents = 4 ** (level - 1)
            n, _, height, width = coeffs.shape
            children = coeffs.reshape(n, 4, parents, channels, height, width)
            low = children[:, 0].pow(2).mean(dim=(0, 2, 3, 4))  # one MSE per parent
            high = children[:, 1:].abs().mean(dim=(0, 3, 4, 5))  # one MAE per (band, parent)
            total = total + self._level_term(level, low.sum(), high.sum())
        return total

    def _level_term(self, level: int, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """One level's weighted term from its summed low-child MSEs and high-child MAEs.

        ``sum`` is Eq. 4 read literally: level ``l`` adds ``4**(l-1)`` low and ``3 * 4**(l-1)``
        high terms, so each level weighs 4x the one before. ``level_mean`` (beyond the paper)
        averages each kind instead: every level adds one low and one high term.
        """
        if self.normalisation == "level_mean":
            parents = 4 ** (level - 1)
            low, high = low / parents, high / (3 * parents)
        return self.lambda_low * low + self.lambda_high * high

    def _haar(self, difference: torch.Tensor) -> torch.Tensor:
        """All levels from one product of the pixel blocks with :func:`_haar_wsl_matrix`.

        At level l every child has ``numel / 4**l`` coefficients, so the sum over parents of
        per-child means is the sum over all of the level's low (or high) coefficients divided by
        that count.
        """
        n, channels, height, width = difference.shape
        side = 2**self.levels
        pixels = side * side
        blocks = difference.reshape(n, channels, height // side, side, width // side, side)
        blocks = blocks.permute(0, 1, 2, 4, 3, 5).reshape(-1, pixels)
        coeffs = blocks @ self.haar_matrix.to(difference.dtype).T  # (blocks, levels * pixels)
        total = difference.new_zeros(())
        for level, low_rows in enumerate(self.low_rows, start=1):
            level_coeffs = coeffs[:, (level - 1) * pixels : level * pixels]
            count = difference.numel() / 4**level
            low = level_coeffs[:, :low_rows].pow(2).sum() / count
            high = level_coeffs[:, low_rows:].abs().sum() / count
            total = total + self._level_term(level, low, high)
        return total

    def extra_repr(self) -> str:
        return (
            f"levels={self.levels}, lambda_low={self.lambda_low}, lambda_high={self.lambda_high}, "
            f"normalisation={self.normalisation}"
        )


def sr_loss(pred: torch.Tensor, target: torch.Tensor, weight: float = SR_LOSS_WEIGHT) -> torch.Tensor:
    """ISDNet's super-resolution loss L_sr = 0.1 x MSE (the 0.1 is part of its definition).

    ``pred`` is resized to the target's size when they differ.
    """
    pred = resize(pred, target.shape[-2:])
    return weight * F.mse_loss(pred, target)


def _self_similarity(feature: torch.Tensor, eps: float) -> torch.Tensor:
    """(N, C, h, w) -> (N, hw, hw) self-similarity after L2-normalising each channel over positions."""
    flat = feature.flatten(2)
    flat = flat / (flat.norm(dim=2, keepdim=True) + eps)
    return flat.transpose(1, 2) @ flat


def sd_loss(deep_feature: torch.Tensor, sr_feature: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """ISDNet's structure-distillation loss L_sd, as its official code computes it.

    The super-resolution feature is detached (it teaches the deep feature, not the other way
    round) and resized bilinearly to the deep map's size, with no pooling; each channel of each
    map is L2-normalised over the positions (norm + ``eps``); the loss is the mean absolute
    difference of the two full (hw x hw) matrices F^T F. Channel counts may differ. Memory and
    time grow with (hw)^2: at ISDNet's 1/32 deep map of a 2560 crop, 6400^2 entries per image.
    """
    sr = resize(sr_feature.detach(), deep_feature.shape[-2:])
    return F.l1_loss(_self_similarity(deep_feature, eps), _self_similarity(sr, eps))
