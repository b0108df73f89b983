"""Leak checks: the same pixels must never land in two splits under two scene ids.

Every image's manifest row carries :func:`pixel_checksum` of its pixels; images of different
scenes with equal checksums mean one scene was listed twice (under another name or as a copy).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from urur.dataset.scene_table import IngestionError, listing


def pixel_checksum(array: np.ndarray) -> str:
    """sha256 of the pixel bytes in row-major ``(H, W, C)`` order: independent of file compression.

    ``pixel_checksum(read_raster(path))`` verifies a stored image against its manifest row.
    """
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def check_duplicate_pixels(manifest: pd.DataFrame, *, source: str = "the image manifest") -> None:
    """Refuse images of different scenes with equal pixel checksums: one scene listed twice.

    Their copies would land in different splits (test content seen in training). Images that
    are entirely fill are left out: empty cuts of two scenes are equal without being a leak.
    """
    if "checksum" not in manifest.columns:
        return
    rows = manifest
    if {"fill_pixels", "height", "width"} <= set(manifest.columns):
        rows = manifest[
            manifest["fill_pixels"].astype(int)
            < manifest["height"].astype(int) * manifest["width"].astype(int)
        ]
    scene_of = rows["scene_id"] if "scene_id" in rows.columns else rows["image_id"]
    clashes = []
    for _, group in rows.groupby("checksum", sort=True):
        if scene_of[group.index].nunique() > 1:
            clashes.append(
                " = ".join(
                    f"{i} (scene {s})" for i, s in zip(group["image_id"], scene_of[group.index], strict=True)
                )
            )
    if clashes:
        raise IngestionError(
            f"{source} hold the same pixels under different scene ids: {listing(clashes)}. "
            "The same scene is listed twice (under another name or as a copy): keep one row per scene."
        )
