"""Any raster -> 8-bit RGB and its fill mask: the radiometry shared by ingestion and prediction.

- Inputs are GeoTIFF, PNG or JPEG, 8- or 16-bit, read band by band in the order ``bands``
  (1-based; e.g. ``(3, 2, 1)`` for a blue-green-red stack).
- Fill: a pixel is fill where the file's own mask says so in all chosen bands (its nodata tag,
  mask band or alpha band, as GDAL reads them), or where all chosen bands equal ``nodata`` (a
  value the caller gives, e.g. a scene table's ``nodata`` column or 0 for ``zero_is_fill``).
  Fill is left out of the stretch and set to 0 in the pixels; the caller gets it as a validity
  mask (``None`` where there is no fill rule).
- 8-bit rasters are kept as they are. 16-bit rasters become 8-bit by a per-band linear stretch
  between the ``low_pct`` and ``high_pct`` percentiles (2 and 98 by default) of the valid
  pixels, clipped to 0..255 and rounded. The percentiles come from the whole raster (a
  decimated sample, every ``step``-th row and column, see :func:`stretch_sample`), so all
  windows of one raster share one stretch and show no seams or brightness jumps.
- Reads go strip by strip, so no 16-bit copy of a window and no full-resolution copy of the
  raster is ever in memory.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from urur.io.raster import RasterInfo, raster_info, read_windows, read_windows_with_valid
from urur.io.windows import Window

STRETCH_SAMPLE_SIDE = 1024
# Rows read at a time: a multiple of the raster store's 256 tile rows.
STRIP_HEIGHT = 512


def stretch_sample(
    path: str | os.PathLike,
    bands: Sequence[int],
    max_side: int = STRETCH_SAMPLE_SIDE,
    *,
    nodata: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every ``step``-th row and column of the whole raster, ``step = ceil(longer side / max_side)``,
    and which of those pixels are valid (``None``: the raster has no fill rule, all are valid).

    Equal to ``read_raster(path, bands=bands)[::step, ::step]`` but read in strips of rows, so
    only one strip of the full-resolution raster is in memory at a time. Fill is defined in the
    module docstring (``nodata``: the raster's fill value, if any).
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
    """Pixels of each window and their validity (``None`` when the raster has no fill rule)."""
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


def read_uint8(
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

    Cached: a raster's strips all use the same few tables.
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
    :func:`stretch_limits`, the raster-wide ones during ingestion and prediction) or, without them, the
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
