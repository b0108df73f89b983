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
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from urur.models.common import resize

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def binomial_kernel_2d() -> torch.Tensor:
    """The 5x5 binomial blur kernel, sum 1."""
    taps = torch.tensor(BINOMIAL_5) / 16.0
    return torch.outer(taps, taps)


class LaplacianPyramidInput(nn.Module):
    """(N, C, H, W) image -> (N, C * levels, H, W) high-frequency residuals, level 0 first."""

    def __init__(self, levels: int = 2) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = levels
        self.register_buffer("kernel", binomial_kernel_2d()[None, None], persistent=False)

    def blur(self, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
        """Reflect-padded binomial blur; ``stride=2`` is ``blur(x)[..., ::2, ::2]`` at 1/4 of the cost."""
        channels = x.shape[1]
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 5, 5)
        return F.conv2d(padded, kernel, stride=stride, groups=channels)

    def upsample(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Zero-insertion upsampling by 2 (x4 keeps the mean), blurred, cropped to ``size``."""
        n, channels, height, width = x.shape
        up = x.new_zeros(n, channels, 2 * height, 2 * width)
        up[:, :, ::2, ::2] = x * 4
        return self.blur(up)[:, :, : size[0], : size[1]]

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
