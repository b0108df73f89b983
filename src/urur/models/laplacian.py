"""Laplacian-pyramid high-frequency input of the shallow branch (ISDNet, WSDNet eq. 2).

``H_i = g_i(I) - U(g_{i+1}(I))`` with ``g_{i+1} = downsample(blur(g_i))``, ``g_0 = I``. As in
ISDNet's public code: the blur is the 5x5 binomial kernel (outer product of ``[1, 4, 6, 4, 1] / 16``)
applied per channel with reflect padding, downsampling keeps every second pixel (even rows and
columns), and ``U`` inserts zeros between pixels, multiplies by 4 and blurs again. Level 1 is
brought to full size by bilinear interpolation (align_corners=False) and concatenated after level 0,
so an RGB image becomes 6 channels: ``[H_0 (3 channels), U_bilinear(H_1) (3 channels)]``.

Odd sides work: ``g_{i+1}`` has ``ceil(side / 2)`` pixels and ``U`` crops its output to the size of
``g_i``.
"""

from __future__ import annotations

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

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
        return F.conv2d(padded, self.kernel.to(x.dtype).expand(channels, 1, 5, 5), groups=channels)

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
            down = self.blur(current)[:, :, ::2, ::2]
            out.append(current - self.upsample(down, current.shape[-2:]))
            current = down
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        size = image.shape[-2:]
        return torch.cat([resize(level, size) for level in self.residuals(image)], dim=1)
