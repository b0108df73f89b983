"""Raw satellite scenes -> validated 8-bit RGB UHR images in the raster store (paper section 3.2).

The paper cut 752 scenes of 10240 x 10240 into 3008 images of 5120 x 5120: each raw scene is
split into ``split_factor`` x ``split_factor`` equal images. Here:

- Inputs are GeoTIFF, PNG or JPEG scenes, 8- or 16-bit, 3 or 4 bands, listed in a scene table
  (CSV: ``scene_id, city, source, capture_date, file``, ``file`` relative to the raw folder;
  spaces after the commas are allowed). Two optional columns, empty meaning "default":

  - ``rgb_bands``: the 1-based band numbers that become R, G, B, e.g. ``3 2 1`` for a
    blue-green-red stack such as Landsat 8 B2, B3, B4 (also ``3;2;1``, or ``"3,2,1"`` in quotes).
    Default: the ``rgb_bands`` argument, ``1 2 3``, so RGBN and RGBA imagery keep their first
    three bands. Checked against the file's band count before any pixel is read.
  - ``nodata``: a pixel value that marks fill in this scene (a pixel is fill where all three
    chosen bands equal it), in addition to what the file itself marks.

- Fill: a pixel is fill where the file's own mask says so in all three chosen bands (its
  nodata tag, mask band or alpha band, as GDAL reads them), where the ``nodata`` column's value
  is in all three bands, or, with ``zero_is_fill`` (for files whose fill carries no tag), where
  all three are 0. Fill is left out of the stretch and becomes an internal mask band of every
  image cut from the scene (0 in the pixels), which the annotation merge turns into the ignore
  value 255 in the masks.
- 8-bit scenes are kept as they are. 16-bit scenes become 8-bit by a per-band linear stretch
  between the ``low_pct`` and ``high_pct`` percentiles (2 and 98 by default) of the valid
  pixels, clipped to 0..255 and rounded. The percentiles come from the whole raw scene (a
  decimated sample, every ``step``-th row and column, see :func:`stretch_sample`), so all
  images cut from one scene share one stretch and show no seams or brightness jumps.
- Each image is written as a tiled GeoTIFF ``<out_dir>/<image_id>.tif`` with the raw CRS and
  its own transform (the raw transform shifted by the window offset). Scenes without
  georeferencing (PNG, JPEG) give images with ``crs`` and ``transform`` ``None``.
- Leakage: a file listed under two scene ids, or two scenes with identical cuts, is refused
  (the same pixels would land in two splits).
- ``image_id`` is :func:`urur.dataset.tiling.patch_id` of the scene id and the window,
  ``<scene_id>_r<row_off:05d>_c<col_off:05d>``: the same naming as annotation patches, it
  sorts in row-major order and says where in the scene the image lies.
- Windowed reads keep memory at one output image plus the stretch sample per worker,
  whatever the size of the dataset.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from urur.dataset.tiling import Window, patch_id
from urur.io.layout import image_path
from urur.io.raster import (
    DRIVERS_BY_SUFFIX,
    RasterInfo,
    raster_info,
    read_raster,
    read_windows,
    read_windows_with_valid,
    window_transform,
    write_raster,
)
from urur.parallel import map_items

logger = logging.getLogger(__name__)

SCENE_TABLE_COLUMNS = ("scene_id", "city", "source", "capture_date", "file")
OPTIONAL_SCENE_COLUMNS = ("rgb_bands", "nodata")
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
STRETCH_SAMPLE_SIDE = 1024
# Rows read at a time: a multiple of the raster store's 256 tile rows.
STRIP_HEIGHT = 512
# Scene ids become file names, so they must be safe in every file system.
SCENE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class IngestionError(ValueError):
    """Raw scenes or the scene table cannot be ingested as they are."""


def _listing(items: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def parse_rgb_bands(text: str) -> tuple[int, ...]:
    """``"3 2 1"``, ``"3,2,1"`` or ``"3;2;1"`` -> ``(3, 2, 1)``: three positive band numbers."""
    parts = [part for part in re.split(r"[\s,;]+", text.strip()) if part]
    if len(parts) != 3 or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise ValueError(f"rgb_bands {text!r} is not three band numbers (1-based), e.g. '3 2 1'")
    return tuple(int(part) for part in parts)


def _parse_nodata(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"nodata {text!r} is not a number; give the fill value, e.g. 0, or leave it empty")
    return value


def _scene_bands(row: Mapping[str, str], default: Sequence[int]) -> tuple[int, ...]:
    text = str(row.get("rgb_bands") or "").strip()
    return parse_rgb_bands(text) if text else tuple(default)


def _scene_nodata(row: Mapping[str, str], zero_is_fill: bool) -> float | None:
    text = str(row.get("nodata") or "").strip()
    return _parse_nodata(text) if text else (0.0 if zero_is_fill else None)


def _scene_files(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.rglob("*") if p.is_file() and p.suffix.lower() in DRIVERS_BY_SUFFIX)


def validate_scene_table(
    table: pd.DataFrame, raw_dir: str | os.PathLike, *, source: str = "the scene table"
) -> pd.DataFrame:
    """Check the scene table against ``raw_dir`` and return a clean copy (all columns strings).

    ``source`` names the table (its CSV path) in the error messages.
    """
    raw_dir = Path(raw_dir)
    missing_columns = [column for column in SCENE_TABLE_COLUMNS if column not in table.columns]
    if missing_columns:
        raise IngestionError(
            f"{source} lacks columns {missing_columns} (found {list(table.columns)}); "
            f"it needs {list(SCENE_TABLE_COLUMNS)}"
        )
    if table.empty:
        raise IngestionError(f"{source} lists no scenes; add one row per raw scene file in {raw_dir}")
    table = table.copy()
    for column in SCENE_TABLE_COLUMNS + OPTIONAL_SCENE_COLUMNS:
        if column in table.columns:
            table[column] = table[column].fillna("").astype(str).str.strip()
    bad_ids = [scene_id for scene_id in table["scene_id"] if not SCENE_ID_PATTERN.fullmatch(scene_id)]
    if bad_ids:
        raise IngestionError(
            f"{source} has empty or unsafe scene ids {_listing([repr(i) for i in bad_ids])}; use letters, "
            "digits, '.', '_' and '-' (they become file names)"
        )
    duplicated = sorted(set(table.loc[table["scene_id"].duplicated(), "scene_id"]))
    if duplicated:
        raise IngestionError(
            f"{source} lists scene ids more than once: {_listing(duplicated)}; make them unique"
        )
    bad_cells = []
    for record in table.to_dict("records"):
        for column, parse in (("rgb_bands", parse_rgb_bands), ("nodata", _parse_nodata)):
            if record.get(column):
                try:
                    parse(record[column])
                except ValueError as error:
                    bad_cells.append(f"scene {record['scene_id']!r}: {error}")
    if bad_cells:
        raise IngestionError(f"{source} has bad optional columns: {_listing(bad_cells)}")
    files = table["file"].map(lambda f: os.path.normpath(f))
    repeated = files[files.duplicated(keep=False)]
    if not repeated.empty:
        ids_of = table["scene_id"].groupby(repeated).agg(lambda ids: " and ".join(map(repr, ids)))
        pairs = [f"{file} as {ids}" for file, ids in ids_of.items()]
        raise IngestionError(
            f"{source} lists the same file under several scene ids: {_listing(pairs)}; its pixels would "
            "land in two splits. Keep one row per file."
        )
    if not raw_dir.is_dir():
        raise IngestionError(f"raw folder {raw_dir} does not exist; put the raw scenes there or fix the path")
    unsupported = [f for f in table["file"] if Path(f).suffix.lower() not in DRIVERS_BY_SUFFIX]
    if unsupported:
        raise IngestionError(
            f"{source} lists files of unsupported types: {_listing(unsupported)}; "
            f"convert them to one of {', '.join(sorted(DRIVERS_BY_SUFFIX))}"
        )
    missing_files = [f for f in table["file"] if not (raw_dir / f).is_file()]
    if missing_files:
        present = [str(p.relative_to(raw_dir)) for p in _scene_files(raw_dir)]
        raise IngestionError(
            f"{source} lists files missing from {raw_dir}: {_listing(missing_files)} (the folder holds "
            f"{_listing(present) if present else 'no scene files'}); add them, or fix or remove their rows"
        )
    listed = {(raw_dir / f).resolve() for f in table["file"]}
    unlisted = [p for p in _scene_files(raw_dir) if p.resolve() not in listed]
    if unlisted:
        logger.warning(
            "%d scene files in %s are not in %s and are skipped: %s",
            len(unlisted),
            raw_dir,
            source,
            _listing([p.name for p in unlisted]),
        )
    return table


def load_scene_table(path: str | os.PathLike, raw_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read and validate the scene table CSV; ``raw_dir`` defaults to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"scene table {path} does not exist; create it (columns {list(SCENE_TABLE_COLUMNS)})"
        )
    try:
        # skipinitialspace: "scene_id, city, ..." (spaces after the commas) is a common way to write it.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        table.columns = table.columns.str.strip()
    except pd.errors.EmptyDataError as error:
        raise IngestionError(
            f"scene table {path} is empty; write the header "
            f"{','.join(SCENE_TABLE_COLUMNS)} and one row per scene"
        ) from error
    return validate_scene_table(
        table, path.parent if raw_dir is None else raw_dir, source=f"scene table {path}"
    )


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


def stretch_sample(
    path: str | os.PathLike,
    bands: Sequence[int],
    max_side: int = STRETCH_SAMPLE_SIDE,
    *,
    nodata: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every ``step``-th row and column of the whole raster, ``step = ceil(longer side / max_side)``,
    and which of those pixels are valid (``None``: the scene has no fill rule, all are valid).

    Equal to ``read_raster(path, bands=bands)[::step, ::step]`` but read in strips of rows, so
    only one strip of the full-resolution scene is in memory at a time. Fill is defined in the
    module docstring (``nodata``: the scene's fill value, if any).
    """
    info = raster_info(path)
    step = max(1, math.ceil(max(info.height, info.width) / max_side))
    strip_height = step * max(1, STRIP_HEIGHT // step)
    strips = _strips(Window(0, 0, info.height, info.width), strip_height)
    samples, valid = [], []
    for pixels, strip_valid in _read_with_fill(path, info, strips, bands, nodata):
        # Copies, not views: a view would keep every full-resolution strip alive.
        samples.append(pixels[::step, ::step].copy())
        if strip_valid is not None:
            valid.append(strip_valid[::step, ::step].copy())
    return np.concatenate(samples, axis=0), (np.concatenate(valid, axis=0) if valid else None)


def _read_with_fill(
    path: Path, info: RasterInfo, windows: Sequence[Window], bands: Sequence[int], nodata: float | None
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Pixels of each window and their validity (``None`` when the scene has no fill rule)."""
    reads = (
        read_windows_with_valid(path, windows, bands=bands)
        if info.masked
        else zip(read_windows(path, windows, bands=bands), itertools.repeat(None))
    )
    for pixels, valid in reads:
        if nodata is not None:
            not_fill = (pixels != nodata).any(axis=-1)
            valid = not_fill if valid is None else valid & not_fill
        yield pixels, valid


def _strips(window: Window, height: int) -> list[Window]:
    """``window`` cut into full-width strips of ``height`` rows (the last may be shorter)."""
    return [
        Window(window.row + row, window.col, min(height, window.height - row), window.width)
        for row in range(0, window.height, height)
    ]


def _read_uint8(
    path: Path,
    info: RasterInfo,
    window: Window,
    bands: Sequence[int],
    limits: np.ndarray | None,
    nodata: float | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``to_uint8`` of a window, converted strip by strip so no 16-bit copy of it ever exists,
    and its validity (``None``: no fill rule); fill pixels are set to 0."""
    out = np.empty((window.height, window.width, len(bands)), dtype=np.uint8)
    valid = None
    strips = _strips(window, STRIP_HEIGHT)
    for strip, (pixels, strip_valid) in zip(
        strips, _read_with_fill(path, info, strips, bands, nodata), strict=True
    ):
        rows = slice(strip.row - window.row, strip.row - window.row + strip.height)
        out[rows] = to_uint8(pixels, limits=limits)
        if strip_valid is not None:
            if valid is None:
                valid = np.ones((window.height, window.width), dtype=bool)
            valid[rows] = strip_valid
    if valid is not None:
        out[~valid] = 0
    return out, valid


def stretch_limits(
    sample: np.ndarray, low_pct: float = 2, high_pct: float = 98, *, valid: np.ndarray | None = None
) -> np.ndarray:
    """Per-band ``[low, high]`` percentiles (numpy's linear interpolation), shape ``(bands, 2)``,
    over the pixels where ``valid`` (``(H, W)`` boolean) is True, or all pixels without it."""
    if not 0 <= low_pct < high_pct <= 100:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    bands = 1 if sample.ndim == 2 else sample.shape[-1]
    pixels = (sample if valid is None else sample[valid]).reshape(-1, bands)
    if pixels.size == 0:
        raise ValueError("no valid pixels to compute a stretch from")
    return np.percentile(pixels, [low_pct, high_pct], axis=0).T


@functools.lru_cache(maxsize=64)
def _stretch_table(low: float, high: float) -> np.ndarray:
    """uint8 value of every uint16 value: indexing this table is the stretch, with no float copy.

    Cached: a scene's strips all use the same few tables.
    """
    span = high - low if high > low else 1.0  # a constant band maps to 0
    values = (np.arange(2**16, dtype=np.float64) - low) * (255.0 / span)
    table = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def to_uint8(
    array: np.ndarray, low_pct: float = 2, high_pct: float = 98, *, limits: np.ndarray | None = None
) -> np.ndarray:
    """8-bit version of ``array`` (``(H, W)`` or ``(H, W, C)``).

    uint8 is returned unchanged. uint16 is stretched per band:
    ``clip(rint((x - low) * 255 / (high - low)), 0, 255)`` with ``limits`` (``(C, 2)`` from
    :func:`stretch_limits`, the scene-wide ones during ingestion) or, without them, the
    ``low_pct``/``high_pct`` percentiles of ``array`` itself.
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype != np.uint16:
        raise ValueError(f"to_uint8 handles uint8 and uint16 arrays, got {array.dtype}")
    if limits is None:
        limits = stretch_limits(array, low_pct, high_pct)
    bands = array[..., np.newaxis] if array.ndim == 2 else array
    if len(limits) != bands.shape[-1]:
        raise ValueError(f"got stretch limits for {len(limits)} bands but the array has {bands.shape[-1]}")
    out = np.empty(bands.shape, dtype=np.uint8)
    for band, (low, high) in enumerate(limits):
        out[..., band] = _stretch_table(float(low), float(high))[bands[..., band]]
    return out[..., 0] if array.ndim == 2 else out


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
            f"{source} hold the same pixels under different scene ids: {_listing(clashes)}. "
            "The same scene is listed twice (under another name or as a copy): keep one row per scene."
        )


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
    pixels, valid = _read_uint8(raw_path, info, window, rgb_bands, limits, nodata)
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
    raw_path = Path(raw_dir) / row["file"]
    out_dir = Path(out_dir)
    bands = _scene_bands(row, rgb_bands)
    nodata = _scene_nodata(row, zero_is_fill)
    info = _check_scene(raw_path, split_factor, allowed_bands, bands, row["scene_id"])
    limits = None
    if info.dtype != "uint8":
        sample, valid = stretch_sample(raw_path, bands, nodata=nodata)
        if valid is not None and not valid.any():
            raise IngestionError(
                f"raw scene {raw_path} (scene {row['scene_id']!r}) is all fill (nodata) in the sampled "
                "pixels; check its nodata value or zero_is_fill, or remove its row"
            )
        limits = stretch_limits(sample, low_pct, high_pct, valid=valid)
    rows = [
        _ingest_window(row, raw_path, info, window, out_dir, bands, limits, nodata)
        for window in _image_windows(info.height, info.width, split_factor)
    ]
    logger.info("ingested %s -> %d images in %s", raw_path, len(rows), out_dir)
    return rows


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
) -> pd.DataFrame:
    """Ingest every scene of ``scene_table`` into ``out_dir``; return the image manifest.

    All scene headers are checked first and every problem is reported at once, before any pixel
    is read. Scenes are then processed one per task on ``workers`` processes. ``out_dir`` is
    meant to be a staging folder that the caller publishes; it may not lie inside ``raw_dir``.
    The manifest has :data:`MANIFEST_COLUMNS`, sorted by ``image_id``; ``path`` is relative to
    ``out_dir`` and ``transform`` is a JSON list of the six affine numbers (or ``None``).
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if out_dir.resolve().is_relative_to(raw_dir.resolve()):
        raise IngestionError(
            f"output folder {out_dir} lies inside the raw folder {raw_dir}; choose another folder"
        )
    table = validate_scene_table(scene_table, raw_dir)
    problems = []
    for row in table.to_dict("records"):
        try:
            _check_scene(
                raw_dir / row["file"],
                split_factor,
                allowed_bands,
                _scene_bands(row, rgb_bands),
                row["scene_id"],
            )
        except (ValueError, FileNotFoundError) as error:
            problems.append(str(error))
    if problems:
        raise IngestionError(
            f"{len(problems)} of {len(table)} raw scenes in {raw_dir} cannot be ingested:\n- "
            + "\n- ".join(problems)
        )
    ingest_one = functools.partial(
        ingest_scene,
        raw_dir=raw_dir,
        out_dir=out_dir,
        split_factor=split_factor,
        rgb_bands=tuple(rgb_bands),
        allowed_bands=tuple(allowed_bands),
        low_pct=low_pct,
        high_pct=high_pct,
        zero_is_fill=zero_is_fill,
    )
    columns = [c for c in SCENE_TABLE_COLUMNS + OPTIONAL_SCENE_COLUMNS if c in table.columns]
    per_scene = map_items(
        ingest_one, table[columns].to_dict("records"), workers=workers, desc="ingesting scenes"
    )
    manifest = pd.DataFrame([row for rows in per_scene for row in rows], columns=list(MANIFEST_COLUMNS))
    check_duplicate_pixels(manifest, source=f"the scenes in {raw_dir}")
    logger.info(
        "ingested %d scenes from %s into %d images in %s", len(table), raw_dir, len(manifest), out_dir
    )
    return manifest.sort_values("image_id", ignore_index=True)
