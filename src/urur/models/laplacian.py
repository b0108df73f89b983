"""Laplacian-pyramid high-frequency input of the shallow branch (ISDNet, WSDNet eq. 2).

``H_i = g_i(I) - U(g_{i+1}(I))`` with ``g_{i+1} = downsample(blur(g_i))``, ``g_0 = I``. As in
ISDNet's public code: the blur is the 5x5 binomial kernel (outer product of ``[1, 4, 6, 4, 1] / 16``)
applied per channel with reflect padding, downsampling keeps every second pixel (even rows and
columns), and ``U`` inserts zeros between pixels, multiplies by 4 and blurs again. Level 1 is
brought to full size by bilinear interpolation (align_corners=False) and concatenated after level 0,
so an RGB image becomes 6 channels: ``[H_0 (3 channels), U_bilinear(H_1) (3 channels)]``.

Odd sides work: ``g_{i+1}`` has ``ceil(side / 2)`` pixels and ``U`` crops its output to the size of
``g_i``.

On a 5120 x 5120 image the 6-channel output alone takes 630 MB (float32) and the first layer fed
with it another 840 MB or more; :func:`apply_in_strips` computes "Laplacian then first layer" in
horizontal strips with overlapping halos so neither full-size intermediate exists at once.
:func:`laplacian_stdc` is the shallow branch ISDNet and WSDNet share: Laplacian input -> STDC
up to 1/16, with everything up to 1/8 in such strips in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from urur.models.backbones.stdc import STDCShallow
from urur.models.common import resize

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur_axis(padded: torch.Tensor, dim: int, stride: int) -> torch.Tensor:
    """The 5-tap binomial filter along ``dim`` of a 2-padded tensor, keeping every ``stride``-th output."""
    count = -(-(padded.shape[dim] - 4) // stride)
    index = [slice(None)] * padded.ndim
    out = None
    for offset, tap in enumerate(BINOMIAL_5):
        index[dim] = slice(offset, offset + stride * (count - 1) + 1, stride)
        term = padded[tuple(index)]
        out = term * (tap / 16.0) if out is None else out.add_(term, alpha=tap / 16.0)
    return out


class LaplacianPyramidInput(nn.Module):
    """(N, C, H, W) image -> (N, C * levels, H, W) high-frequency residuals, level 0 first."""

    def __init__(self, levels: int = 2) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = levels

    def blur(self, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
        """Reflect-padded binomial blur; ``stride=2`` is ``blur(x)[..., ::2, ::2]`` at 1/4 of the cost.

        The 5x5 kernel is separable: it runs as a 5-tap sum of shifted (strided) views along the
        rows, then along the columns. Element-wise sums are several times faster on the CPU than
        a depthwise convolution, and only the kept (strided) outputs are computed.
        """
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
        return _blur_axis(_blur_axis(padded, 2, stride), 3, stride)

    @staticmethod
    def _upsample_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
        """Zero insertion by 2 along ``dim`` then the reflect-padded 5-tap blur, x2: polyphase.

        Even outputs see taps (1, 6, 1) / 8 on x[i-1], x[i], x[i+1]; odd outputs (1, 1) / 2 on
        x[i], x[i+1]. Reflect padding of the zero-inserted signal puts x[1] before x[0] and
        repeats x[-1] after the end. No zero-filled full-size tensor is built or blurred.
        """
        size = x.shape[dim]
        before = x.narrow(dim, 1, 1) if size > 1 else x.narrow(dim, 0, 1)
        after = x.narrow(dim, size - 1, 1)
        previous = torch.cat([before, x.narrow(dim, 0, size - 1)], dim)
        following = torch.cat([x.narrow(dim, 1, size - 1), after], dim)
        even = (previous + following).add_(x, alpha=6).mul_(0.125)
        odd = (x + following).mul_(0.5)
        shape = list(x.shape)
        shape[dim] *= 2
        return torch.stack([even, odd], dim + 1).reshape(shape)

    def upsample(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Zero-insertion upsampling by 2 (x4 keeps the mean), blurred, cropped to ``size``."""
        up = self._upsample_axis(self._upsample_axis(x, 2), 3)
        return up[:, :, : size[0], : size[1]]

    def residuals(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``[H_0, H_1, ...]`` at their own sizes (full, 1/2, ...)."""
        current = image
        out = []
        for _ in range(self.levels):
            down = self.blur(current, stride=2)
            out.append(current - self.upsample(down, current.shape[-2:]))
            current = down
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        size = image.shape[-2:]
        return torch.cat([resize(level, size) for level in self.residuals(image)], dim=1)


STRIP_ALIGN = 32


def apply_in_strips(
    fn: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    downscale: int,
    rows: int = 512,
    halo: int = 32,
) -> torch.Tensor:
    """``fn(image)`` computed on horizontal strips of ``rows`` rows, each read with ``halo`` extra rows.

    Exact when ``fn`` is local (an output row depends only on input rows within ``halo`` of it;
    the Laplacian input followed by a 3x3 conv reaches about 15 rows) and shrinks the height by
    ``downscale`` (rows of ``fn``'s output = ceil(input rows / downscale)). ``rows`` and ``halo``
    are multiples of 32 so every strip starts on a multiple of 32 and each stride-2 sampling
    inside ``fn`` keeps the phase it has on the whole image. Only one strip's intermediates are
    alive at a time; use it at inference (BatchNorm in training mode would see per-strip statistics).
    """
    if rows % STRIP_ALIGN or halo % STRIP_ALIGN or rows <= 0:
        raise ValueError(
            f"rows and halo must be positive multiples of {STRIP_ALIGN}, got rows={rows}, halo={halo}"
        )
    if STRIP_ALIGN % downscale:
        raise ValueError(f"downscale must divide {STRIP_ALIGN}, got {downscale}")
    height = image.shape[-2]
    out_height = -(-height // downscale)
    out: torch.Tensor | None = None
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        start = max(0, top - halo)
        part = fn(image[:, :, start : min(height, bottom + halo)])
        first, count = (top - start) // downscale, -(-bottom // downscale) - top // downscale
        if out is None:
            out = part.new_empty((*part.shape[:2], out_height, part.shape[-1]))
        out[:, :, top // downscale : top // downscale + count] = part[:, :, first : first + count]
    assert out is not None  # height >= 1, so the loop ran
    return out


STRIP_ROWS = 2560  # default strip height of the shallow branch in eval mode (docs/models.md)
STRIP_HALO = 64  # rows; the shallow branch up to 1/8 reaches about 50 rows (measured in tests)


def laplacian_stdc(
    laplacian: LaplacianPyramidInput, stdc: STDCShallow, image: torch.Tensor, strip_rows: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The shallow branch of ISDNet and WSDNet: ``stdc(laplacian(image))``, the (1/8, 1/16) maps.

    In eval mode, images taller than ``strip_rows`` go through the Laplacian input, the STDC stem
    and its first stage (everything up to 1/8) strip by strip (:func:`apply_in_strips`, exact
    with a ``STRIP_HALO``-row halo): the full-size 6-channel input and the 1/2- and 1/4-size
    maps with their BatchNorm copies never coexist, which keeps a 5120 x 5120 image well under
    3 GB on the CPU. ``strip_rows=None`` never uses strips; training mode never does (BatchNorm
    would see per-strip statistics).
    """

    def features_1_8(x: torch.Tensor) -> torch.Tensor:
        return stdc.stages[0](stdc.stem(laplacian(x)))

    if stdc.training or strip_rows is None or image.shape[-2] <= strip_rows:
        feat_8 = features_1_8(image)
    else:
        feat_8 = apply_in_strips(features_1_8, image, 8, rows=strip_rows, halo=STRIP_HALO)
    return feat_8, stdc.stages[1](feat_8)
