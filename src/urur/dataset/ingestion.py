"""Raw satellite scenes -> validated 8-bit RGB UHR images in the raster store (paper section 3.2).

The paper cut 752 scenes of 10240 x 10240 into 3008 images of 5120 x 5120: each raw scene is
split into ``split_factor`` x ``split_factor`` equal images. Here:

- Inputs are GeoTIFF, PNG or JPEG scenes, 8- or 16-bit, 3 or 4 bands, listed in a scene table
  (:mod:`urur.dataset.scene_table`: which file, which bands are R, G, B, which value is fill).
- Each image becomes 8-bit RGB with a fill mask as :mod:`urur.io.imagery` defines them: 8-bit
  kept, 16-bit stretched with the percentiles of the whole raw scene, so all images cut from one
  scene share one stretch. Fill (the file's own mask, the ``nodata`` column or, with
  ``zero_is_fill`` for files whose fill carries no tag, all three bands 0) becomes an internal
  mask band of every image cut from the scene (0 in the pixels), which the annotation merge
  turns into the ignore value 255 in the masks.
- Each image is written as a tiled GeoTIFF ``<out_dir>/<image_id>.tif`` with the raw CRS and
  its own transform (the raw transform shifted by the window offset). Scenes without
  georeferencing (PNG, JPEG) give images with ``crs`` and ``transform`` ``None``.
- Leakage: a file listed under two scene ids, or two scenes with identical cuts
  (:mod:`urur.dataset.leaks`), is refused (the same pixels would land in two splits).
- ``image_id`` is :func:`urur.dataset.tiling.patch_id` of the scene id and the window,
  ``<scene_id>_r<row_off:05d>_c<col_off:05d>``: the same naming as annotation patches, it
  sorts in row-major order and says where in the scene the image lies.
- Windowed reads keep memory at one output image plus the stretch sample per worker,
  whatever the size of the dataset.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from urur.dataset.leaks import check_duplicate_pixels, pixel_checksum
from urur.dataset.scene_table import (
    OPTIONAL_SCENE_COLUMNS,
    SCENE_TABLE_COLUMNS,
    IngestionError,
    scene_bands,
    scene_nodata,
    validate_scene_table,
)
from urur.dataset.tiling import patch_id
from urur.io.imagery import read_uint8, stretch_limits, stretch_sample
from urur.io.layout import image_path
from urur.io.raster import RasterInfo, raster_info, read_raster, window_transform, write_raster
from urur.io.windows import Window
from urur.parallel import map_items

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = (
    "image_id",
    "scene_id",
    "city",
    "source",
    "capture_date",
    "path",
    "row_off",
    "col_off",
    "height",
    "width",
    "bands_in",
    "dtype_in",
    "rgb_bands",
    "fill_pixels",
    "checksum",
    "crs",
    "transform",
)
ACCEPTED_DTYPES = ("uint8", "uint16")
ACCEPTED_BANDS = (3, 4)


def validate_raw_scene(
    path: str | os.PathLike,
    split_factor: int = 2,
    allowed_bands: Sequence[int] = ACCEPTED_BANDS,
    *,
    check_pixels: bool = True,
) -> RasterInfo:
    """Header checks of one raw scene, plus (``check_pixels``) a read of its last row.

    Reading the last row catches truncated files, the usual result of an interrupted copy; it
    costs one tile row for GeoTIFFs but a full decode for PNG/JPEG. Ingestion itself reads every
    pixel, so it skips that check.
    """
    if split_factor < 1:
        raise ValueError(f"split_factor must be a positive integer, got {split_factor}")
    info = raster_info(path)
    if info.dtype not in ACCEPTED_DTYPES:
        raise IngestionError(
            f"raw scene {path} has pixel type {info.dtype}; accepted are {', '.join(ACCEPTED_DTYPES)}: "
            "convert it to 8- or 16-bit unsigned integers"
        )
    if info.bands not in allowed_bands:
        raise IngestionError(
            f"raw scene {path} has {info.bands} bands; accepted band counts are {tuple(allowed_bands)}: "
            "export RGB or RGB+NIR/alpha imagery"
        )
    if info.height % split_factor or info.width % split_factor:
        raise IngestionError(
            f"raw scene {path} is {info.height}x{info.width} pixels, not divisible by split_factor "
            f"{split_factor}; crop it to a multiple of {split_factor} or change split_factor"
        )
    if check_pixels:
        read_raster(path, Window(info.height - 1, 0, 1, info.width))
    return info


def _image_windows(height: int, width: int, split_factor: int) -> list[Window]:
    tile_height, tile_width = height // split_factor, width // split_factor
    return [
        Window(i * tile_height, j * tile_width, tile_height, tile_width)
        for i in range(split_factor)
        for j in range(split_factor)
    ]


def _check_scene(
    path: Path, split_factor: int, allowed_bands: Sequence[int], rgb_bands: Sequence[int], scene_id: str
) -> RasterInfo:
    """Header checks ingestion needs; its own reads cover every pixel, so none are read here."""
    info = validate_raw_scene(path, split_factor, allowed_bands, check_pixels=False)
    if len(rgb_bands) != 3 or not all(1 <= band <= info.bands for band in rgb_bands):
        raise IngestionError(
            f"scene {scene_id!r}: rgb_bands {tuple(rgb_bands)} must be three band numbers within "
            f"1..{info.bands} of raw scene {path}; fix the rgb_bands column of its scene table row"
        )
    return info


@dataclass(frozen=True)
class _CheckedScene:
    """A scene-table row whose header passed the checks, with what its cut needs from them."""

    row: Mapping[str, str]
    info: RasterInfo
    bands: tuple[int, ...]
    nodata: float | None


def _ingest_window(
    row: Mapping[str, str],
    raw_path: Path,
    info: RasterInfo,
    window: Window,
    out_dir: Path,
    rgb_bands: Sequence[int],
    limits: np.ndarray | None,
    nodata: float | None,
) -> dict[str, object]:
    """Write one cut of a scene; its pixels are freed on return, before the next cut is read."""
    pixels, valid = read_uint8(raw_path, info, window, rgb_bands, limits, nodata)
    transform = window_transform(info.transform, window) if info.transform is not None else None
    image_id = patch_id(row["scene_id"], window)
    write_raster(image_path(out_dir, image_id), pixels, crs=info.crs, transform=transform, valid=valid)
    return {
        "image_id": image_id,
        **{column: row[column] for column in ("scene_id", "city", "source", "capture_date")},
        "path": image_path(".", image_id).as_posix(),
        "row_off": window.row,
        "col_off": window.col,
        "height": window.height,
        "width": window.width,
        "bands_in": info.bands,
        "dtype_in": info.dtype,
        "rgb_bands": " ".join(map(str, rgb_bands)),
        "fill_pixels": 0 if valid is None else int(valid.size - np.count_nonzero(valid)),
        "checksum": pixel_checksum(pixels),
        "crs": info.crs,
        "transform": json.dumps(list(transform)) if transform is not None else None,
    }


def _cut_scene(
    scene: _CheckedScene,
    raw_dir: Path,
    out_dir: Path,
    split_factor: int,
    low_pct: float,
    high_pct: float,
) -> list[dict[str, object]]:
    """Stretch limits of a checked scene (16-bit only), then its ``split_factor``² images."""
    row, info = scene.row, scene.info
    raw_path = raw_dir / row["file"]
    limits = None
    if info.dtype != "uint8":
        sample, valid = stretch_sample(raw_path, scene.bands, nodata=scene.nodata)
        if valid is not None and not valid.any():
            raise IngestionError(
                f"raw scene {raw_path} (scene {row['scene_id']!r}) is all fill (nodata) in the sampled "
                "pixels; check its nodata value or zero_is_fill, or remove its row"
            )
        limits = stretch_limits(sample, low_pct, high_pct, valid=valid)
    rows = [
        _ingest_window(row, raw_path, info, window, out_dir, scene.bands, limits, scene.nodata)
        for window in _image_windows(info.height, info.width, split_factor)
    ]
    logger.info("ingested %s -> %d images in %s", raw_path, len(rows), out_dir)
    return rows


def ingest_scene(
    row: Mapping[str, str],
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    split_factor: int = 2,
    *,
    rgb_bands: Sequence[int] = (1, 2, 3),
    allowed_bands: Sequence[int] = ACCEPTED_BANDS,
    low_pct: float = 2,
    high_pct: float = 98,
    zero_is_fill: bool = False,
) -> list[dict[str, object]]:
    """Cut one raw scene (a scene-table row) into ``split_factor``² GeoTIFFs; return manifest rows.

    The row's own ``rgb_bands`` and ``nodata`` (optional columns) win over the arguments.
    """
    raw_dir = Path(raw_dir)
    bands = scene_bands(row, rgb_bands)
    nodata = scene_nodata(row, zero_is_fill)
    info = _check_scene(raw_dir / row["file"], split_factor, allowed_bands, bands, row["scene_id"])
    scene = _CheckedScene(row, info, bands, nodata)
    return _cut_scene(scene, raw_dir, Path(out_dir), split_factor, low_pct, high_pct)


def _check_scenes(
    table: pd.DataFrame,
    raw_dir: Path,
    split_factor: int,
    allowed_bands: Sequence[int],
    rgb_bands: Sequence[int],
    zero_is_fill: bool,
) -> list[_CheckedScene]:
    """Every scene's header checked (one read each), every problem reported at once."""
    columns = [c for c in SCENE_TABLE_COLUMNS + OPTIONAL_SCENE_COLUMNS if c in table.columns]
    scenes, problems = [], []
    for row in table[columns].to_dict("records"):
        try:
            bands = scene_bands(row, rgb_bands)
            info = _check_scene(raw_dir / row["file"], split_factor, allowed_bands, bands, row["scene_id"])
        except (ValueError, FileNotFoundError) as error:
            problems.append(str(error))
            continue
        scenes.append(_CheckedScene(row, info, bands, scene_nodata(row, zero_is_fill)))
    if problems:
        raise IngestionError(
            f"{len(problems)} of {len(table)} raw scenes in {raw_dir} cannot be ingested:\n- "
            + "\n- ".join(problems)
        )
    return scenes


def ingest_scenes(
    scene_table: pd.DataFrame,
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split_factor: int = 2,
    workers: int | None = None,
    rgb_bands: Sequence[int] = (1, 2, 3),
    allowed_bands: Sequence[int] = ACCEPTED_BANDS,
    low_pct: float = 2,
    high_pct: float = 98,
    zero_is_fill: bool = False,
    source: str = "the scene table",
) -> pd.DataFrame:
    """Ingest every scene of ``scene_table`` into ``out_dir``; return the image manifest.

    The table is validated (:func:`urur.dataset.scene_table.validate_scene_table`, ``source``
    naming it in the messages) and all scene headers are checked first, every problem reported
    at once, before any pixel is read. Scenes are then processed one per task on ``workers``
    processes. ``out_dir`` is meant to be a staging folder that the caller publishes; it may not
    lie inside ``raw_dir``. The manifest has :data:`MANIFEST_COLUMNS`, sorted by ``image_id``;
    ``path`` is relative to ``out_dir`` and ``transform`` is a JSON list of the six affine
    numbers (or ``None``).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if out_dir.resolve().is_relative_to(raw_dir.resolve()):
        raise IngestionError(
            f"output folder {out_dir} lies inside the raw folder {raw_dir}; choose another folder"
        )
    table = validate_scene_table(scene_table, raw_dir, source=source)
    scenes = _check_scenes(table, raw_dir, split_factor, allowed_bands, rgb_bands, zero_is_fill)
    cut = functools.partial(
        _cut_scene,
        raw_dir=raw_dir,
        out_dir=out_dir,
        split_factor=split_factor,
        low_pct=low_pct,
        high_pct=high_pct,
    )
    per_scene = map_items(cut, scenes, workers=workers, desc="ingesting scenes")
    manifest = pd.DataFrame([row for rows in per_scene for row in rows], columns=list(MANIFEST_COLUMNS))
    check_duplicate_pixels(manifest, source=f"the scenes in {raw_dir}")
    logger.info(
        "ingested %d scenes from %s into %d images in %s", len(table), raw_dir, len(manifest), out_dir
    )
    return manifest.sort_values("image_id", ignore_index=True)
