"""Annotation patch grids, cropping and merging overlapping patches back into one mask.

The grid follows the paper (section 3.3): square patches of ``patch_size`` with ``overlap``
pixels shared between neighbours (stride = patch_size - overlap); the last patch of a row or
column sits flush with the border so no patch reaches outside the image.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from urur.io.atomic import atomic_directory
from urur.io.raster import raster_info, read_windows, window_transform, write_raster, write_world_file
from urur.io.windows import Window
from urur.parallel import map_items

PATCH_MANIFEST_COLUMNS = ("image_id", "patch_id", "row", "col", "height", "width", "path")


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


def crop(image: np.ndarray, window: Window) -> np.ndarray:
    """The part of ``image`` (``(H, W)`` or ``(H, W, C)``) under ``window``, as a view (no copy).

    A window reaching outside the image is an error: numpy would silently return a smaller view.
    """
    _require_inside(window, *image.shape[:2])
    return image[window.slices]


def _require_inside(window: Window, height: int, width: int) -> None:
    if not window.is_inside(height, width):
        raise ValueError(f"{window} is not inside the {height}x{width} image; use a window within the image")


def tile_image(
    image_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    image_id: str,
    patch_size: int = 1000,
    overlap: int = 120,
) -> list[dict]:
    """Cut one image into its annotation patches, written as ``out_dir/<image_id>/<patch_id>.png``.

    Patches stay plain PNGs, which every annotation tool opens; a georeferenced image also gets
    a world file and a ``.png.aux.xml`` (CRS) beside each patch, so QGIS overlays the patches
    on the image (:func:`urur.io.raster.write_world_file`).

    Each patch is a windowed read of the raster store, so the whole image is never in memory
    twice. The image's patch folder is published in one rename: annotators never see half of an
    image's patches. Returns the patch manifest rows (columns :data:`PATCH_MANIFEST_COLUMNS`,
    ``path`` relative to ``out_dir``).
    """
    info = raster_info(image_path)
    rows = []
    with atomic_directory(Path(out_dir) / image_id) as staging:
        windows = patch_grid(info.height, info.width, patch_size, overlap)
        for window, pixels in zip(windows, read_windows(image_path, windows), strict=True):
            name = patch_id(image_id, window)
            write_raster(staging / f"{name}.png", pixels)
            if info.transform is not None:
                write_world_file(staging / f"{name}.png", info.crs, window_transform(info.transform, window))
            rows.append(
                {
                    "image_id": image_id,
                    "patch_id": name,
                    "row": window.row,
                    "col": window.col,
                    "height": window.height,
                    "width": window.width,
                    "path": f"{image_id}/{name}.png",
                }
            )
    return rows


def _tile_manifest_row(
    row: dict, images_dir: Path, out_dir: Path, patch_size: int, overlap: int
) -> list[dict]:
    return tile_image(images_dir / row["path"], out_dir, row["image_id"], patch_size, overlap)


def tile_images(
    image_manifest: pd.DataFrame,
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    patch_size: int = 1000,
    overlap: int = 120,
    workers: int | None = None,
) -> pd.DataFrame:
    """:func:`tile_image` for every image of the manifest (columns ``image_id`` and ``path``,
    the image file relative to ``images_dir``), one image per worker; the patch manifest."""
    missing = {"image_id", "path"} - set(image_manifest.columns)
    if missing:
        raise ValueError(
            f"the image manifest lacks columns {sorted(missing)}; it must list image_id and path"
        )
    work = functools.partial(
        _tile_manifest_row,
        images_dir=Path(images_dir),
        out_dir=Path(out_dir),
        patch_size=patch_size,
        overlap=overlap,
    )
    per_image = map_items(work, image_manifest.to_dict("records"), workers=workers, desc="tiling")
    return pd.DataFrame([row for rows in per_image for row in rows], columns=list(PATCH_MANIFEST_COLUMNS))


def _axis_owners(intervals: Sequence[tuple[int, int]], length: int) -> np.ndarray:
    """For every position along one axis, the index of the interval in whose interior it lies deepest.

    Depth = distance to the interval's nearest end that is not an end of the image (the image
    border is no patch edge: nobody annotated beyond it); an interval spanning the whole axis is
    infinitely deep. Ties go to the earlier interval. ``-1`` marks positions no interval covers.
    """
    positions = np.arange(length, dtype=np.float64)
    best_depth = np.full(length, -1.0)
    owners = np.full(length, -1, dtype=np.int64)
    for index, (start, size) in enumerate(intervals):
        stop = start + size
        inside = positions[start:stop]
        from_start = inside - start if start > 0 else np.full(size, math.inf)
        from_stop = (stop - 1) - inside if stop < length else np.full(size, math.inf)
        depth = np.minimum(from_start, from_stop)
        deeper = depth > best_depth[start:stop]
        best_depth[start:stop][deeper] = depth[deeper]
        owners[start:stop][deeper] = index
    return owners


def _runs(owners: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, owner)`` of each maximal run of equal owners."""
    changes = np.flatnonzero(np.diff(owners)) + 1
    starts = np.concatenate(([0], changes))
    stops = np.concatenate((changes, [len(owners)]))
    return [(int(a), int(b), int(owners[a])) for a, b in zip(starts, stops, strict=True)]


def merge_patches(
    patches: Sequence[np.ndarray], windows: Sequence[Window], height: int, width: int
) -> np.ndarray:
    """Merge label patches (aligned with ``windows``) into one ``(height, width)`` label array.

    Overlap rule: a pixel takes the label of the covering patch in whose interior it lies
    deepest. A patch's depth at a pixel is the distance to its nearest edge that is not an image
    border (image borders are not patch edges). Equally deep patches are ordered by the depth
    along the other axis (the pixel's distance to the nearer of the two other edges), then by the
    row-major order of their positions. Annotators label the middle of a patch with the most
    context, so the patch that saw most around a pixel decides it.

    Why it is computed per axis: the windows form a grid, rows ``R_i`` x columns ``C_j``, so the
    patches covering pixel ``(r, c)`` are ``{(i, j): r in R_i, c in C_j}`` and a patch's depth is
    ``min(a_i, b_j)`` with ``a_i`` the row-axis depth of ``r`` in ``R_i`` and ``b_j`` the
    column-axis depth of ``c`` in ``C_j``; the tie-break key is ``max(a_i, b_j)``. With
    ``A = max a_i`` and ``B = max b_j``, no patch is deeper than ``min(A, B)``; say ``A <= B``:
    a patch reaching depth ``A`` needs ``a_i = A`` and ``b_j >= A``, and among those the key
    ``max(a_i, b_j) = b_j`` is largest exactly when ``b_j = B``. So the winners are
    ``argmax_i a_i x argmax_j b_j`` (symmetrically for ``A > B``), and row-major order among them
    picks the first row interval and the first column interval: the 2-D rule is the product of
    two 1-D rules. In 1-D, two neighbours overlapping by ``k`` pixels split it at its midpoint
    (the first ``ceil(k/2)`` pixels go to the earlier one). The merge is then a copy of one
    rectangle per pair of axis runs, about as cheap as pasting the patches. (Without the
    secondary key, row-major order would decide ties between a deep and a shallow patch along
    the other axis, and the owner regions would stop being rectangles.)
    """
    if len(patches) != len(windows):
        raise ValueError(f"got {len(patches)} patches for {len(windows)} windows; pass one patch per window")
    if not windows:
        raise ValueError("no patches to merge")
    for patch, window in zip(patches, windows, strict=True):
        if patch.shape[:2] != (window.height, window.width) or patch.ndim != 2:
            raise ValueError(
                f"patch at {window} has shape {patch.shape}, expected ({window.height}, {window.width})"
            )
        _require_inside(window, height, width)
    row_intervals = sorted({(w.row, w.height) for w in windows})
    col_intervals = sorted({(w.col, w.width) for w in windows})
    by_cell = {
        (row_intervals.index((w.row, w.height)), col_intervals.index((w.col, w.width))): k
        for k, w in enumerate(windows)
    }
    if len(by_cell) != len(windows) or len(windows) != len(row_intervals) * len(col_intervals):
        raise ValueError(
            "the windows do not form a grid (every row band crossed with every column band, once); "
            "merge patches made by patch_grid"
        )
    row_owners = _axis_owners(row_intervals, height)
    col_owners = _axis_owners(col_intervals, width)
    if (row_owners < 0).any() or (col_owners < 0).any():
        raise ValueError(f"the windows do not cover the whole {height}x{width} image")
    merged = np.empty((height, width), dtype=np.result_type(*patches))
    for row_start, row_stop, i in _runs(row_owners):
        for col_start, col_stop, j in _runs(col_owners):
            window = windows[by_cell[i, j]]
            merged[row_start:row_stop, col_start:col_stop] = patches[by_cell[i, j]][
                row_start - window.row : row_stop - window.row, col_start - window.col : col_stop - window.col
            ]
    return merged
