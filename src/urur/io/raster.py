"""Raster read/write that keeps georeferencing: the raster store of the UHR images.

Ingested 5120 x 5120 images are stored as tiled GeoTIFFs and later stages (training crops,
annotation tiling, inference) read random windows of them, so the GeoTIFF layout is chosen for
fast windowed reads: 256 x 256 tiles, ZSTD compression with horizontal differencing
(``benchmarks/results/bench_raster_store.md`` compares no compression, LZW, DEFLATE and ZSTD at
256 and 512 tiles on a synthetic 5120² image: ZSTD reads a random 1024² window 2-2.5x faster than
DEFLATE or LZW at DEFLATE's size on disk; 256 tiles decode less wasted border than 512 tiles;
no compression reads about 2x faster again but is 40 % larger, which DVC's cache then stores
twice. Either way a window read is more than 20x faster than decoding the whole PNG.)

Arrays are ``(H, W, C)`` for several bands and ``(H, W)`` for one band, the layout numpy, Pillow
and the training code use; band numbers given to :func:`read_raster` are 1-based as in GDAL.
A transform is the 6-tuple ``(a, b, c, d, e, f)`` of ``affine.Affine``/rasterio:
``x = a * col + b * row + c``, ``y = d * col + e * row + f``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window as RioWindow

from urur.errors import UrurError
from urur.io.atomic import atomic_path, scratch_path
from urur.io.windows import Window

PNG_ZLEVEL = 1
DRIVERS_BY_SUFFIX = {".tif": "GTiff", ".tiff": "GTiff", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
GEOTIFF_BLOCK_SIZE = 256
GEOTIFF_COMPRESSION = "zstd"
JPEG_QUALITY = 95
READ_CACHE_MB = 16
WRITE_CACHE_MB = 64

Transform = tuple[float, float, float, float, float, float]


class RasterReadError(UrurError, ValueError):
    """A raster file cannot be read: corrupt, truncated, not an image, or a bad request."""


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, read from its header without decoding pixels.

    ``crs`` is ``"EPSG:<code>"`` when the CRS has one, else WKT, and ``None`` for files without
    georeferencing (PNG, JPEG); ``transform`` is ``None`` for those too. ``nodata`` is the file's
    nodata tag; ``masked`` says that some pixels may be fill (a nodata tag or a mask band; an
    alpha band is not taken as fill, see :func:`_fill_mask`): :func:`read_windows_with_valid`
    then tells which.
    """

    path: Path
    height: int
    width: int
    bands: int
    dtype: str
    crs: str | None
    transform: Transform | None
    nodata: float | None = None
    masked: bool = False


def driver_for(path: str | os.PathLike) -> str:
    """GDAL driver implied by the file suffix; the suffix is the only format switch users see."""
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS_BY_SUFFIX:
        raise ValueError(
            f"{path}: unsupported raster suffix {suffix!r}; use one of {', '.join(sorted(DRIVERS_BY_SUFFIX))}"
        )
    return DRIVERS_BY_SUFFIX[suffix]


def _unreadable(path: Path, error: Exception) -> RasterReadError:
    # rasterio's read errors say "see previous exception"; GDAL's own message is the cause.
    detail = str(error.__cause__ or error).rstrip(".")
    return RasterReadError(
        f"cannot read raster {path}: {detail}. The file is corrupt, truncated or not an image: "
        "re-export or re-download it, or remove it from the inputs."
    )


@contextlib.contextmanager
def _open(path: str | os.PathLike) -> Iterator[rasterio.io.DatasetReader]:
    """``rasterio.open`` for reading whose GDAL errors (at open or read) name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"raster {path} does not exist; check the path")
    try:
        with warnings.catch_warnings():
            # PNG and JPEG carry no georeferencing by design: that is reported as crs=None.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            # GDAL's whole-image PNG fast path returns a truncated PNG's missing rows as garbage
            # without an error; the row-by-row path reports them (about 20 % slower to decode).
            # Cached blocks never outlive one read (the file is closed after it), so a small block
            # cache only stops GDAL keeping a second copy of a large window (and was faster).
            env = rasterio.Env(GDAL_PNG_WHOLE_IMAGE_OPTIM="NO", GDAL_CACHEMAX=READ_CACHE_MB)
            with env, rasterio.open(path) as dataset:
                yield dataset
    except (RasterioError, CPLE_BaseError) as error:
        raise _unreadable(path, error) from error


def _crs_text(crs: CRS | None) -> str | None:
    if not crs:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()


def _fill_mask(flags: Sequence[MaskFlags]) -> bool:
    """A nodata tag or a mask band marks fill; an alpha band does not: GDAL reads the fourth band
    of many 4-band satellite files (near-infrared) as alpha."""
    return MaskFlags.nodata in flags or (MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags)


def _info(dataset: rasterio.io.DatasetReader, path: Path) -> RasterInfo:
    georeferenced = not dataset.transform.is_identity or dataset.crs is not None
    return RasterInfo(
        path=path,
        height=dataset.height,
        width=dataset.width,
        bands=dataset.count,
        dtype=dataset.dtypes[0],
        crs=_crs_text(dataset.crs),
        transform=tuple(dataset.transform)[:6] if georeferenced else None,
        nodata=dataset.nodata,
        masked=any(_fill_mask(flags) for flags in dataset.mask_flag_enums),
    )


def raster_info(path: str | os.PathLike) -> RasterInfo:
    """Size, bands, dtype and georeferencing of ``path`` (header only, cheap)."""
    with _open(path) as dataset:
        return _info(dataset, Path(path))


def read_raster(
    path: str | os.PathLike, window: Window | None = None, *, bands: Sequence[int] | None = None
) -> np.ndarray:
    """Pixels of ``path`` (or of ``window`` of it) as ``(H, W, C)``, or ``(H, W)`` for one band.

    Only the tiles under ``window`` are decoded for tiled GeoTIFFs, which is what makes random
    crops of the raster store cheap. ``bands`` are 1-based band numbers (default: all).
    """
    return next(read_windows(path, [window], bands=bands))


def read_windows(
    path: str | os.PathLike, windows: Iterable[Window | None], *, bands: Sequence[int] | None = None
) -> Iterator[np.ndarray]:
    """:func:`read_raster` of each window in turn, opening the file once.

    PNG and JPEG decode from the top: reading successive strips through one open file decodes
    the image once, where reopening it for every strip would decode it again each time.
    """
    path = Path(path)
    with _open(path) as dataset:
        band_numbers = _band_numbers(dataset, path, bands)
        for window in windows:
            yield _read_window(dataset, path, _inside(dataset, path, window), band_numbers)


def read_windows_with_valid(
    path: str | os.PathLike, windows: Iterable[Window | None], *, bands: Sequence[int] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`read_windows` plus each window's validity, boolean ``(H, W)``: False where every one
    of ``bands`` is invalid.

    Invalid means what GDAL's mask says: equal to the nodata tag or zero in a mask band (or
    transparent in an alpha band: call it only where :attr:`RasterInfo.masked`). A pixel with
    at least one valid band is valid (GDAL's rule for a dataset mask), so a dark pixel that
    hits the nodata value in one band only stays valid.
    """
    path = Path(path)
    with _open(path) as dataset:
        band_numbers = _band_numbers(dataset, path, bands)
        for window in windows:
            window = _inside(dataset, path, window)
            pixels = _read_window(dataset, path, window, band_numbers)
            masks = dataset.read_masks(
                band_numbers, window=RioWindow(window.col, window.row, window.width, window.height)
            )
            yield pixels, masks.any(axis=0)


def read_valid(path: str | os.PathLike, window: Window | None = None) -> np.ndarray:
    """Validity of ``path`` (or of ``window`` of it) over all bands, boolean ``(H, W)``; see
    :func:`read_windows_with_valid`. Only the mask is read, not the pixels."""
    path = Path(path)
    with _open(path) as dataset:
        window = _inside(dataset, path, window)
        masks = dataset.read_masks(window=RioWindow(window.col, window.row, window.width, window.height))
        return masks.any(axis=0)


def _band_numbers(dataset: rasterio.io.DatasetReader, path: Path, bands: Sequence[int] | None) -> list[int]:
    band_numbers = list(bands) if bands is not None else list(range(1, dataset.count + 1))
    if not band_numbers or not all(1 <= band <= dataset.count for band in band_numbers):
        raise RasterReadError(
            f"{path} has bands 1..{dataset.count}, cannot read bands {band_numbers}; ask for existing bands"
        )
    return band_numbers


def _inside(dataset: rasterio.io.DatasetReader, path: Path, window: Window | None) -> Window:
    """``window`` (``None``: the whole raster), checked to lie inside it."""
    window = window or Window(0, 0, dataset.height, dataset.width)
    if not window.is_inside(dataset.height, dataset.width):
        raise RasterReadError(
            f"{window} is not inside {path} ({dataset.height}x{dataset.width}); use a window within the image"
        )
    return window


def _read_window(
    dataset: rasterio.io.DatasetReader, path: Path, window: Window, band_numbers: list[int]
) -> np.ndarray:
    # Reading into a transposed view of an (H, W, C) buffer lets GDAL write the final layout
    # directly: no second copy of the image.
    out = np.empty((window.height, window.width, len(band_numbers)), dtype=dataset.dtypes[0])
    dataset.read(
        band_numbers,
        window=RioWindow(window.col, window.row, window.width, window.height),
        out=out.transpose(2, 0, 1),
    )
    return out[..., 0] if out.shape[2] == 1 else out


def _creation_options(driver: str, dtype: np.dtype) -> dict[str, object]:
    if driver == "GTiff":
        return {
            "tiled": True,
            "blockxsize": GEOTIFF_BLOCK_SIZE,
            "blockysize": GEOTIFF_BLOCK_SIZE,
            "compress": GEOTIFF_COMPRESSION,
            # Horizontal differencing for integers, floating-point prediction for floats.
            "predictor": 3 if np.issubdtype(dtype, np.floating) else 2,
            "interleave": "pixel",
            "bigtiff": "if_safer",
        }
    if driver == "JPEG":
        return {"quality": JPEG_QUALITY}
    # zlib level 1: about 4x faster than the default 6 on imagery, and no larger on noisy
    # satellite patches (PNG encoding dominates tiling time).
    return {"zlevel": PNG_ZLEVEL}


def write_raster(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    crs: str | CRS | None = None,
    transform: Transform | Affine | None = None,
    nodata: float | None = None,
    valid: np.ndarray | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    replace: bool = True,
) -> None:
    """Write ``array`` (``(H, W)`` or ``(H, W, C)``) to ``path`` atomically, format from the suffix.

    ``.tif``/``.tiff`` become tiled, ZSTD-compressed GeoTIFFs carrying ``crs`` and ``transform``,
    and optionally a ``nodata`` tag, an internal mask band (``valid``: boolean ``(H, W)``, False
    where the pixel is fill; GDAL, QGIS and :func:`read_valid` read it) and a colour table
    for one uint8 band (``colormap``: value -> RGBA). ``.png`` and ``.jpg`` cannot hold these, so
    passing them is an error rather than a silent loss (:func:`write_world_file` georeferences a
    PNG beside it). ``replace=False``: ``FileExistsError`` rather than replace a ``path`` that
    exists when the raster is complete (:func:`urur.io.atomic.atomic_path`).
    """
    path = Path(path)
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(
            f"cannot write {path}: expected a non-empty (H, W) or (H, W, C) array, got {array.shape}"
        )
    if array.dtype == np.bool_:
        raise ValueError(f"cannot write {path}: convert the boolean array to uint8 first")
    height, width = array.shape[:2]
    if valid is not None and valid.shape != (height, width):
        raise ValueError(
            f"cannot write {path}: mask shape {valid.shape} differs from image {(height, width)}"
        )
    with raster_writer(
        path,
        height,
        width,
        bands=1 if array.ndim == 2 else array.shape[2],
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        masked=valid is not None,
        colormap=colormap,
        replace=replace,
    ) as writer:
        for row in range(0, height, GEOTIFF_BLOCK_SIZE):
            rows = slice(row, row + GEOTIFF_BLOCK_SIZE)
            writer.write(array[rows], None if valid is None else valid[rows])


class RasterRowWriter:
    """Appends rows to an open raster top to bottom, in whole tile rows.

    Rows arrive in strips of any height; they are buffered and written a multiple of the
    GeoTIFF's 256-row tiles at a time, so GDAL never compresses a tile twice (a partial tile
    written, flushed and completed later is re-encoded and appended, growing the file).
    """

    def __init__(self, dataset: rasterio.io.DatasetWriter, path: Path, masked: bool) -> None:
        self._dataset, self._path, self._masked = dataset, path, masked
        self._pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._pending_rows = 0
        self.rows_written = 0

    def write(self, rows: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Append ``rows`` (``(h, W)`` or ``(h, W, C)``), with their validity if the raster is masked."""
        if rows.shape[1] != self._dataset.width or (valid is None) == self._masked:
            raise ValueError(
                f"cannot write {self._path}: rows of shape {rows.shape} (mask given: {valid is not None}) "
                f"do not fit a raster {self._dataset.width} wide (masked: {self._masked})"
            )
        if self.rows_written + self._pending_rows + len(rows) > self._dataset.height:
            raise ValueError(f"cannot write {self._path}: more rows than its height {self._dataset.height}")
        self._pending.append((rows, valid))
        self._pending_rows += len(rows)
        if self._pending_rows >= GEOTIFF_BLOCK_SIZE:
            self._flush(self._pending_rows - self._pending_rows % GEOTIFF_BLOCK_SIZE)

    def close(self) -> None:
        """Write what is buffered; the raster must then be complete."""
        self._flush(self._pending_rows)
        if self.rows_written != self._dataset.height:
            raise ValueError(
                f"cannot write {self._path}: got {self.rows_written} of its {self._dataset.height} rows"
            )

    def _flush(self, count: int) -> None:
        if not count:
            return
        pixels = np.concatenate([p if p.ndim == 3 else p[..., np.newaxis] for p, _ in self._pending])
        valid = np.concatenate([v for _, v in self._pending]) if self._masked else None
        window = RioWindow(0, self.rows_written, self._dataset.width, count)
        self._dataset.write(pixels[:count].transpose(2, 0, 1), window=window)
        if valid is not None:
            self._dataset.write_mask(valid[:count].astype(np.uint8) * 255, window=window)
        rest = (pixels[count:], None if valid is None else valid[count:])
        self._pending = [rest] if count < len(pixels) else []
        self._pending_rows = len(pixels) - count
        self.rows_written += count


class RasterBlockWriter:
    """Takes windows of a new tiled GeoTIFF in any order, each pixel once, and writes each
    256 x 256 block as soon as its last pixel has arrived: GDAL encodes every block once, and only
    blocks still incomplete are held (for windows arriving tile row by tile row, at most one row
    of blocks across the raster, none where the windows start on block borders)."""

    def __init__(self, dataset: rasterio.io.DatasetWriter, path: Path) -> None:
        self._dataset, self._path = dataset, path
        self._pending: dict[tuple[int, int], tuple[np.ndarray, list[int]]] = {}
        self.pixels_written = 0

    def write(self, window: Window, pixels: np.ndarray) -> None:
        """Place ``pixels`` (``(h, w)`` or ``(h, w, C)``) at ``window``."""
        height, width = self._dataset.height, self._dataset.width
        if pixels.shape[:2] != (window.height, window.width) or not window.is_inside(height, width):
            raise ValueError(
                f"cannot write {self._path}: pixels of shape {pixels.shape} at {window} do not fit "
                f"a raster of {height}x{width}"
            )
        pixels = pixels if pixels.ndim == 3 else pixels[..., np.newaxis]
        size = GEOTIFF_BLOCK_SIZE
        for top in range(window.row // size * size, window.row + window.height, size):
            for left in range(window.col // size * size, window.col + window.width, size):
                block = Window(top, left, min(size, height - top), min(size, width - left))
                rows = slice(max(top, window.row), min(top + block.height, window.row + window.height))
                cols = slice(max(left, window.col), min(left + block.width, window.col + window.width))
                part = pixels[
                    rows.start - window.row : rows.stop - window.row,
                    cols.start - window.col : cols.stop - window.col,
                ]
                self._place(block, rows, cols, part)
        self.pixels_written += window.height * window.width

    def _place(self, block: Window, rows: slice, cols: slice, part: np.ndarray) -> None:
        key = (block.row, block.col)
        if key not in self._pending:
            if part.shape[:2] == (block.height, block.width):  # the whole block at once
                self._write_block(block, part)
                return
            buffer = np.zeros((block.height, block.width, part.shape[2]), dtype=part.dtype)
            self._pending[key] = (buffer, [block.height * block.width])
        buffer, missing = self._pending[key]
        buffer[
            rows.start - block.row : rows.stop - block.row, cols.start - block.col : cols.stop - block.col
        ] = part
        missing[0] -= part.shape[0] * part.shape[1]
        if missing[0] <= 0:
            del self._pending[key]
            self._write_block(block, buffer)

    def _write_block(self, block: Window, pixels: np.ndarray) -> None:
        window = RioWindow(block.col, block.row, block.width, block.height)
        self._dataset.write(np.ascontiguousarray(pixels.transpose(2, 0, 1)), window=window)

    def close(self) -> None:
        """The raster must be complete."""
        expected = self._dataset.height * self._dataset.width
        if self._pending or self.pixels_written != expected:
            raise ValueError(f"cannot write {self._path}: got {self.pixels_written} of its {expected} pixels")


@contextlib.contextmanager
def _new_raster(
    path: Path,
    height: int,
    width: int,
    *,
    bands: int,
    dtype: np.dtype,
    crs: str | CRS | None,
    transform: Transform | Affine | None,
    nodata: float | None,
    masked: bool,
    colormap: dict[int, tuple[int, int, int, int]] | None,
    half_float: bool,
    replace: bool,
    cog_resampling: str | None = None,
) -> Iterator[rasterio.io.DatasetWriter]:
    """A raster opened for writing under a temporary name, published at ``path`` on success;
    ``cog_resampling``: as a Cloud-Optimised GeoTIFF with overviews resampled so (:func:`_to_cog`)."""
    driver = driver_for(path)
    extras = (crs, transform, nodata, colormap) + ((True,) if masked or half_float else ())
    if driver != "GTiff" and any(extra is not None for extra in extras):
        raise ValueError(
            f"cannot write {path}: {driver} cannot hold a CRS, transform, nodata, mask or colour table "
            "(nor half floats); use a .tif path"
        )
    if colormap is not None and (bands != 1 or dtype != np.uint8):
        raise ValueError(f"cannot write {path}: a colour table needs one uint8 band")
    if half_float and dtype != np.float32:
        raise ValueError(f"cannot write {path}: half floats are written from float32, not {dtype}")
    profile = {
        "driver": driver,
        "height": height,
        "width": width,
        "count": bands,
        "dtype": dtype.name,
        "crs": CRS.from_user_input(crs) if crs is not None else None,
        "transform": Affine(*transform[:6]) if transform is not None else None,
        "nodata": nodata,
        **_creation_options(driver, dtype),
        **({"nbits": 16} if half_float else {}),
    }
    with (
        atomic_path(path, replace=replace) as tmp,
        # No .aux.xml or .msk side-car files: they would be left behind under the temporary name.
        # A small block cache: written blocks go to the file, not into memory.
        rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_TIFF_INTERNAL_MASK="YES", GDAL_CACHEMAX=WRITE_CACHE_MB),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as dataset:
            # Before any pixel: once blocks are written, libtiff refuses to set the palette's
            # PhotometricInterpretation tag ("Cannot modify tag ... while writing", logged by GDAL).
            if colormap is not None:
                dataset.write_colormap(1, colormap)
            yield dataset
        if cog_resampling is not None:
            _to_cog(tmp, path, cog_resampling, dtype)


def _to_cog(path: Path, target: Path, resampling: str, dtype: np.dtype) -> None:
    """Rewrite the tiled GeoTIFF ``path`` (the temporary of ``target``) as a Cloud-Optimised
    GeoTIFF: the same tiles and compression, with internal overviews (halvings down to one tile) resampled by
    ``resampling`` ("mode" or "nearest" for labels) and laid out so a viewer reads only the
    level and tiles it shows. GDAL's COG driver only copies a finished raster, so the first file
    is a scratch one; its colour table, nodata tag and georeferencing are carried over. The
    overviews are computed tile by tile through a temporary file: memory stays bounded."""
    with scratch_path(target) as cog:
        rasterio.shutil.copy(
            path,
            cog,
            driver="COG",
            blocksize=GEOTIFF_BLOCK_SIZE,
            compress=GEOTIFF_COMPRESSION,
            predictor="FLOATING_POINT" if np.issubdtype(dtype, np.floating) else "YES",
            overview_resampling=resampling.upper(),
            bigtiff="IF_SAFER",
        )
        os.replace(cog, path)


@contextlib.contextmanager
def raster_writer(
    path: str | os.PathLike,
    height: int,
    width: int,
    *,
    bands: int = 1,
    dtype: str | np.dtype = "uint8",
    crs: str | CRS | None = None,
    transform: Transform | Affine | None = None,
    nodata: float | None = None,
    masked: bool = False,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    half_float: bool = False,
    replace: bool = True,
) -> Iterator[RasterRowWriter]:
    """A :class:`RasterRowWriter` for a new raster at ``path``, published atomically on success.

    What :func:`write_raster` writes, without the whole array in memory: rasters larger than
    memory are written strip by strip. ``masked`` adds an internal mask band (each strip then
    comes with its validity); ``half_float`` stores float32 as IEEE half floats (GeoTIFF
    ``NBITS=16``: half the size, read back as float32). A failure, or fewer rows than
    ``height``, leaves nothing at ``path``; ``replace`` as in :func:`write_raster`.
    """
    path = Path(path)
    with _new_raster(
        path, height, width, bands=bands, dtype=np.dtype(dtype), crs=crs, transform=transform,
        nodata=nodata, masked=masked, colormap=colormap, half_float=half_float, replace=replace,
    ) as dataset:  # fmt: skip
        writer = RasterRowWriter(dataset, path, masked)
        yield writer
        writer.close()


@contextlib.contextmanager
def raster_block_writer(
    path: str | os.PathLike,
    height: int,
    width: int,
    *,
    bands: int = 1,
    dtype: str | np.dtype = "uint8",
    crs: str | CRS | None = None,
    transform: Transform | Affine | None = None,
    nodata: float | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    half_float: bool = False,
    replace: bool = True,
    cog_resampling: str | None = None,
) -> Iterator[RasterBlockWriter]:
    """:func:`raster_writer` for pixels that arrive as windows in any order (:class:`RasterBlockWriter`):
    a GeoTIFF whose width never needs to fit in memory, not even one row of tiles of it.
    ``cog_resampling``: publish it as a Cloud-Optimised GeoTIFF whose overviews are resampled
    so ("mode", "nearest", "average"...; GDAL's names)."""
    path = Path(path)
    if driver_for(path) != "GTiff":
        raise ValueError(f"cannot write {path} window by window: only GeoTIFFs are tiled; use a .tif path")
    with _new_raster(
        path, height, width, bands=bands, dtype=np.dtype(dtype), crs=crs, transform=transform,
        nodata=nodata, masked=False, colormap=colormap, half_float=half_float, replace=replace,
        cog_resampling=cog_resampling,
    ) as dataset:  # fmt: skip
        writer = RasterBlockWriter(dataset, path)
        yield writer
        writer.close()


def window_transform(transform: Transform, window: Window) -> Transform:
    """Transform of ``window`` of a raster: pixel (0, 0) of the window is pixel (row, col) of the
    raster (= ``rasterio.windows.transform``)."""
    return tuple(Affine(*transform[:6]) @ Affine.translation(window.col, window.row))[:6]


def write_world_file(path: str | os.PathLike, crs: str | CRS | None, transform: Transform | None) -> None:
    """Georeference a PNG for GIS tools without touching its pixels: world file + ``.aux.xml``.

    The world file (``.pgw`` for ``.png``) holds the transform of the pixel *centres*
    (``a, d, b, e`` and the top-left pixel's centre); GDAL's side-car ``<name>.aux.xml`` holds
    the CRS, which GDAL and QGIS read (they ignore a ``.prj`` beside a PNG). A raster without
    georeferencing gets neither. Annotation tools only open the PNG, so they are unaffected.
    """
    if transform is None:
        return
    path = Path(path)
    a, b, c, d, e, f = transform[:6]
    centre = (c + a / 2 + b / 2, f + d / 2 + e / 2)
    world_suffix = path.suffix[:2] + path.suffix[-1] + "w"  # .png -> .pgw, .jpg -> .jgw
    with atomic_path(path.with_suffix(world_suffix)) as tmp:
        tmp.write_text("".join(f"{value!r}\n" for value in (a, d, b, e, *centre)))
    if crs is not None:
        srs = escape(CRS.from_user_input(crs).to_wkt())
        with atomic_path(path.with_name(path.name + ".aux.xml")) as tmp:
            tmp.write_text(
                f'<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping="1,2">{srs}</SRS>\n</PAMDataset>\n'
            )
