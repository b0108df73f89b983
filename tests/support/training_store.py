"""A tiny raster store (tiled GeoTIFF images and masks) for the training tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from urur.io.layout import image_path, mask_path
from urur.io.raster import write_raster


def stripes_mask(size: int) -> np.ndarray:
    """Three classes in 8-pixel vertical stripes: any crop of 16 px or more passes the ratio rule."""
    return ((np.arange(size)[None, :] // 8) % 3 * np.ones((size, 1))).astype(np.uint8)


def write_store(
    root: Path,
    ids: list[str],
    size: int = 64,
    mask_fn: Callable[[int], np.ndarray] = stripes_mask,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Random RGB images and ``mask_fn(size)`` masks for ``ids``; returns (images_dir, masks_dir)."""
    rng = np.random.default_rng(seed)
    images_dir, masks_dir = root / "images", root / "masks"
    for image_id in ids:
        write_raster(image_path(images_dir, image_id), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        write_raster(mask_path(masks_dir, image_id), mask_fn(size))
    return images_dir, masks_dir
