"""Rectangles of an image, shared by the patch grid (urur.dataset.tiling) and windowed raster reads."""

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

    def is_inside(self, height: int, width: int) -> bool:
        """Whether the window is non-empty and lies within a ``height`` x ``width`` image."""
        return (
            self.row >= 0
            and self.col >= 0
            and self.height > 0
            and self.width > 0
            and self.row + self.height <= height
            and self.col + self.width <= width
        )
