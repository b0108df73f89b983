"""Annotation patch grids, cropping and merging overlapping patches back into one mask.

The grid follows the paper (section 3.3): square patches of ``patch_size`` with ``overlap``
pixels shared between neighbours (stride = patch_size - overlap); the last patch of a row or
column sits flush with the border so no patch reaches outside the image.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Window:
    """A rectangle of an image: top-left ``row``, ``col`` and its ``height``, ``width``."""

    row: int
    col: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)


def _starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    starts.append(length - size)
    return starts


def patch_grid(height: int, width: int, patch_size: int = 1000, overlap: int = 120) -> list[Window]:
    """Windows covering a ``height`` x ``width`` image, in row-major order.

    A side shorter than ``patch_size`` gets a single patch of that side's length.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if not 0 <= overlap < patch_size:
        raise ValueError(
            f"overlap must be in [0, patch_size), got overlap={overlap}, patch_size={patch_size}"
        )
    stride = patch_size - overlap
    return [
        Window(r, c, min(patch_size, height), min(patch_size, width))
        for r in _starts(height, patch_size, stride)
        for c in _starts(width, patch_size, stride)
    ]


def patch_id(image_id: str, window: Window) -> str:
    """Stable name of the annotation patch of ``image_id`` at ``window`` (its top-left corner)."""
    return f"{image_id}_r{window.row:05d}_c{window.col:05d}"
