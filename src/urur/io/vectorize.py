"""A label raster as polygons in a GeoPackage (``urur predict --vector``), in bounded memory.

One feature per connected region of one class (4-connected: pixels sharing an edge, GDAL's
polygonize default), with its ``class_value``, ``class_name``, ``pixels`` and ``area_m2``
(``pixels`` x the pixel's area in square metres; NULL where the CRS is not projected, as
for geographic or missing CRSs, whose pixel area is no fixed number of square metres). Pixels
of 255 (no data) get no feature.

The raster is read in strips of ``block_rows`` rows, so memory holds one strip (and its
polygons) whatever the raster's size, plus the regions still open at the strip's bottom. A
strip's regions are labelled (:func:`scipy.ndimage.label`, one class at a time) and the labels
polygonized (:func:`rasterio.features.shapes`, GDAL's polygonize), which gives exactly one
polygon per region of the strip. A region that continues into the next strip (same class on
both sides of the cut) is kept open; the region labels of the two rows either side of the cut
say which parts belong together (a union-find over parts), and once no part of a region touches
the current strip's bottom row its parts are dissolved (:func:`shapely.union_all`, the shared
edges along the cuts are identical, so the union is one polygon) and written. Geometry is built
in pixel coordinates (integers, exact) and moved to the raster's CRS last, so edges of
neighbouring strips match bit for bit.

``simplify`` (pixels; 0 keeps the pixel edges; default 0.75) simplifies each strip's polygons as a coverage
(:func:`shapely.coverage_simplify`, Visvalingam-Whyatt on the shared edges): neighbouring
polygons keep one common edge, so simplification opens no gaps and makes no overlaps between
them. The strip's outer boundary (the raster's border, the edges of no-data areas and the cut
rows) is kept as it is, so parts still meet exactly along the cuts. The areas are the pixel
counts', not the simplified polygons'. The tolerance is roughly the square root of the area of
the triangles removed: 0.75 removes the one-pixel steps of a diagonal edge (triangles of 0.5 px²)
and keeps the corners of regions two pixels wide (1 px² triangles); 1 would cut those.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import shapely
import shapely.geometry
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.transform import Affine
from scipy import ndimage

from urur.classes import IGNORE_INDEX
from urur.defaults import DEFAULT_SIMPLIFY
from urur.errors import UrurError
from urur.io.atomic import atomic_path
from urur.io.raster import raster_info, read_windows
from urur.io.windows import Window

BLOCK_ROWS = 1024
WRITE_BATCH = 20_000  # features per append to the GeoPackage
FIELDS = ("class_value", "class_name", "pixels", "area_m2")


class VectorizeError(UrurError, ValueError):
    """The label raster cannot be vectorized as asked; the message says the fix."""


@dataclass(eq=False)
class _Region:
    """A connected region being assembled from its parts in successive strips (a union-find node)."""

    value: int
    parts: list[shapely.Geometry]
    pixels: int
    merged_into: _Region | None = field(default=None, repr=False)

    def root(self) -> _Region:
        region = self
        while region.merged_into is not None:
            region = region.merged_into
        return region

    def absorb(self, other: _Region) -> None:
        """Take ``other``'s parts (both are roots of the same class)."""
        if other is not self:
            self.parts += other.parts
            self.pixels += other.pixels
            other.parts, other.merged_into = [], self


def _strip_regions(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, W) int32 region labels of ``strip`` (1..n, 0 on no data; regions of one class and
    4-connected) and the class value of each label (index 0 unused)."""
    labels = np.zeros(strip.shape, np.int32)
    values = [0]
    present = np.flatnonzero(np.bincount(strip.ravel(), minlength=256))
    for value in present[present != IGNORE_INDEX]:
        regions, count = ndimage.label(strip == value)  # 4-connected by default
        np.add(regions, len(values) - 1, out=labels, where=regions > 0)
        values += [int(value)] * count
    return labels, np.asarray(values, np.int64)


def _polygons(labels: np.ndarray, row: int, count: int, simplify: float) -> list[shapely.Geometry]:
    """The polygon of each of the ``count`` regions of ``labels`` (index = label - 1), in pixel
    coordinates of the raster (the strip starts at ``row``), simplified as a coverage."""
    polygons: list[shapely.Geometry] = [None] * count
    for geometry, label in shapes(
        labels, mask=labels > 0, connectivity=4, transform=Affine.translation(0, row)
    ):
        polygons[int(label) - 1] = shapely.geometry.shape(geometry)
    if simplify > 0:
        polygons = list(shapely.coverage_simplify(polygons, simplify, simplify_boundary=False))
    return polygons


def _regions(path: Path, height: int, width: int, simplify: float, block_rows: int) -> Iterator[_Region]:
    """Every connected region of the label raster ``path``, complete, strip by strip."""
    strips = [Window(row, 0, min(block_rows, height - row), width) for row in range(0, height, block_rows)]
    # Labels and classes of the previous strip's bottom row, and that row's open regions by label.
    above: tuple[np.ndarray, np.ndarray] | None = None
    open_regions: dict[int, _Region] = {}
    for window, strip in zip(strips, read_windows(path, strips), strict=True):
        labels, values = _strip_regions(strip)
        count = len(values) - 1
        pixels = np.bincount(labels.ravel(), minlength=count + 1)
        polygons = _polygons(labels, window.row, count, simplify)
        regions = [_Region(int(values[i]), [polygons[i - 1]], int(pixels[i])) for i in range(1, count + 1)]
        if above is not None:
            above_labels, above_values = above
            same = (above_labels > 0) & (labels[0] > 0) & (above_values == strip[0])
            for top, bottom in set(zip(above_labels[same].tolist(), labels[0][same].tolist(), strict=True)):
                open_regions[top].root().absorb(regions[bottom - 1].root())
        last = window.row + window.height == height
        below = set() if last else {int(label) for label in np.unique(labels[-1]) if label}
        # Candidates: the regions open above this strip (continued here or not) and this strip's;
        # a dict, not a set, so that features come out in the same order every run.
        candidates = dict.fromkeys(region.root() for region in [*open_regions.values(), *regions])
        open_regions = {label: regions[label - 1] for label in below}
        still_open = {region.root() for region in open_regions.values()}
        yield from (region for region in candidates if region not in still_open)
        above = (labels[-1].copy(), strip[-1].copy())


def _square_metres_per_pixel(crs: str | None, transform: tuple[float, ...] | None) -> float | None:
    if crs is None or transform is None or not CRS.from_user_input(crs).is_projected:
        return None
    _, metres = CRS.from_user_input(crs).linear_units_factor
    a, b, _, d, e, _ = transform[:6]
    return abs(a * e - b * d) * metres**2


def vectorize_labels(
    labels_path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    class_names: Sequence[str],
    simplify: float = DEFAULT_SIMPLIFY,
    block_rows: int = BLOCK_ROWS,
    replace: bool = True,
) -> int:
    """Write the regions of the label raster ``labels_path`` to the GeoPackage ``output``
    atomically (see the module docstring); returns the number of features.

    ``class_names`` name the values 0..N-1; a value outside them is an error naming it.
    ``replace=False``: ``FileExistsError`` rather than replace an ``output`` that appeared meanwhile.
    """
    labels_path, output = Path(labels_path), Path(output)
    if output.suffix.lower() != ".gpkg":
        raise VectorizeError(f"the vector output is a GeoPackage: give a .gpkg path, not {output}")
    if simplify < 0 or block_rows < 1:
        raise VectorizeError(
            f"need simplify >= 0 pixels and block_rows >= 1, got {simplify} and {block_rows}"
        )
    info = raster_info(labels_path)
    if info.bands != 1 or info.dtype != "uint8":
        raise VectorizeError(
            f"{labels_path} is not a label raster (one uint8 band): {info.bands} x {info.dtype}"
        )
    a, b, c, d, e, f = info.transform if info.transform is not None else Affine.identity()[:6]

    def to_crs(xy: np.ndarray) -> np.ndarray:  # pixel (col, row) -> the raster's CRS
        return xy @ np.array([[a, d], [b, e]]) + np.array([c, f])

    pixel_area = _square_metres_per_pixel(info.crs, info.transform)
    features = 0
    with atomic_path(output, replace=replace) as tmp:
        batch: list[_Region] = []

        def flush() -> None:
            nonlocal features
            if not batch and features:
                return
            geometry = shapely.transform(
                np.array([_dissolve(region) for region in batch], dtype=object), to_crs
            )
            value = np.array([region.value for region in batch], np.int32)
            if (value >= len(class_names)).any():
                raise VectorizeError(
                    f"{labels_path} holds class value {value.max()} but only {len(class_names)} classes are "
                    "named: vectorize it with its model's class names"
                )
            count = np.array([region.pixels for region in batch], np.int64)
            area = count * pixel_area if pixel_area is not None else np.full(len(batch), np.nan)
            name = np.array([class_names[v] for v in value], dtype=object)
            with warnings.catch_warnings():  # a raster without a CRS is written without one
                warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
                pyogrio.raw.write(
                    tmp,
                    np.array(shapely.to_wkb(geometry), dtype=object),
                    [value, name, count, area],
                    list(FIELDS),
                    layer=output.stem,
                    driver="GPKG",
                    geometry_type="Polygon",
                    crs=info.crs,
                    append=features > 0,
                )
            features += len(batch)
            batch.clear()

        for region in _regions(labels_path, info.height, info.width, simplify, block_rows):
            batch.append(region)
            if len(batch) >= WRITE_BATCH:
                flush()
        flush()  # the last batch; a raster of no data only still gets its (empty) layer
    return features


def _dissolve(region: _Region) -> shapely.Geometry:
    """The region's polygon: its parts, one per strip it spans, joined along the cuts."""
    return region.parts[0] if len(region.parts) == 1 else shapely.union_all(region.parts)
