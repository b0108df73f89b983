"""Label rasters that open in QGIS as a legend of class names: the one writer of predicted and
merged masks (``urur predict``, the evaluation's and the pre-labelling's predictions, merged
annotations).

A label raster is a single-band uint8 Cloud-Optimised GeoTIFF (GDAL's COG driver: 256 x 256
ZSTD tiles, internal overviews resampled by *mode*, so a zoomed-out view shows each block's
most frequent class rather than an arbitrary pixel), with the class palette as its colour table,
255 (:data:`urur.classes.IGNORE_INDEX`) as nodata and transparent, and beside it:

- ``<name>.tif.aux.xml``: the band's category names (GDAL's PAM side-car, where the GeoTIFF
  driver keeps them: TIFF has no tag for them), so ``gdalinfo`` lists "building", not 1;
- ``<name>.qml``: a QGIS style (paletted renderer: value, colour and class name per class),
  which QGIS applies by itself when it opens ``<name>.tif``, so its legend reads the class names.

The raster is published atomically (a temporary renamed); the side-cars follow it, each
atomically too, once it is in place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rasterio.crs import CRS

from urur.classes import IGNORE_COLOUR, IGNORE_INDEX, index_to_rgb, mask_colour_table, palette_for
from urur.io.atomic import atomic_path
from urur.io.raster import (
    GEOTIFF_BLOCK_SIZE,
    RasterBlockWriter,
    Transform,
    raster_block_writer,
    raster_info,
    write_raster,
)
from urur.io.windows import Window

OVERVIEW_RESAMPLING = "mode"
NODATA_NAME = "no data"  # the legend's name of IGNORE_INDEX pixels in previews


def _palette(path: Path, class_names: Sequence[str], palette: np.ndarray | None) -> np.ndarray:
    palette = palette_for(list(class_names)) if palette is None else np.asarray(palette)
    if len(palette) < len(class_names):
        raise ValueError(
            f"cannot write {path}: {len(palette)} colours for {len(class_names)} classes; "
            "pass a longer palette"
        )
    return palette[: len(class_names)]


def qgis_style(class_names: Sequence[str], palette: np.ndarray) -> str:
    """A QGIS layer style (``.qml``) drawing band 1 with the paletted renderer: one entry per class
    (value, colour, class name as the legend label); nodata stays transparent."""
    root = ElementTree.Element("qgis", version="3.28", styleCategories="Symbology")
    pipe = ElementTree.SubElement(root, "pipe")
    renderer = ElementTree.SubElement(
        pipe, "rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor=""
    )
    ElementTree.SubElement(renderer, "rasterTransparency")
    entries = ElementTree.SubElement(renderer, "colorPalette")
    for value, (name, colour) in enumerate(zip(class_names, palette, strict=True)):
        ElementTree.SubElement(
            entries,
            "paletteEntry",
            value=str(value),
            color="#{:02x}{:02x}{:02x}".format(*map(int, colour)),
            alpha="255",
            label=name,
        )
    ElementTree.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ElementTree.tostring(
        root, encoding="unicode"
    )


def _category_names(class_names: Sequence[str]) -> str:
    """GDAL's PAM side-car naming band 1's values 0..N-1 (what ``GDALSetRasterCategoryNames``
    would write, were PAM enabled while writing)."""
    root = ElementTree.Element("PAMDataset")
    band = ElementTree.SubElement(root, "PAMRasterBand", band="1")
    names = ElementTree.SubElement(band, "CategoryNames")
    for name in class_names:
        ElementTree.SubElement(names, "Category").text = name
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode") + "\n"


def style_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The side-cars of the label raster ``path``: its ``.aux.xml`` and its ``.qml``."""
    path = Path(path)
    return path.with_name(path.name + ".aux.xml"), path.with_suffix(".qml")


def _write_side_cars(path: Path, class_names: Sequence[str], palette: np.ndarray) -> None:
    aux, qml = style_paths(path)
    for side_car, text in ((aux, _category_names(class_names)), (qml, qgis_style(class_names, palette))):
        with atomic_path(side_car) as tmp:
            tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def label_raster_writer(
    path: str | os.PathLike,
    height: int,
    width: int,
    *,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    crs: str | CRS | None = None,
    transform: Transform | None = None,
    replace: bool = True,
) -> Iterator[RasterBlockWriter]:
    """A :class:`~urur.io.raster.RasterBlockWriter` of the label raster ``path`` (see the module
    docstring), its windows arriving in any order; published with its side-cars once complete.

    ``palette``: the class colours (default: :func:`urur.classes.palette_for` the class names);
    ``replace=False``: ``FileExistsError`` rather than replace a raster that appeared meanwhile
    (its side-cars are then left alone too).
    """
    path = Path(path)
    palette = _palette(path, class_names, palette)
    with raster_block_writer(
        path,
        height,
        width,
        crs=crs,
        transform=transform,
        nodata=IGNORE_INDEX,
        colormap=mask_colour_table(palette),
        replace=replace,
        cog_resampling=OVERVIEW_RESAMPLING,
    ) as writer:
        yield writer
    _write_side_cars(path, class_names, palette)


def write_label_raster(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    crs: str | CRS | None = None,
    transform: Transform | None = None,
    replace: bool = True,
) -> None:
    """:func:`label_raster_writer` of a whole (H, W) uint8 label array."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(
            f"cannot write {path}: labels must be an (H, W) uint8 array, got {labels.dtype} {labels.shape}"
        )
    height, width = labels.shape
    with label_raster_writer(
        path, height, width, class_names=class_names, palette=palette, crs=crs, transform=transform,
        replace=replace,
    ) as writer:  # fmt: skip
        for row in range(0, height, GEOTIFF_BLOCK_SIZE):
            rows = labels[row : row + GEOTIFF_BLOCK_SIZE]
            writer.write(Window(row, 0, rows.shape[0], width), rows)


def write_label_raster_like(
    path: str | os.PathLike, labels: np.ndarray, source: str | os.PathLike, *, class_names: Sequence[str]
) -> None:
    """:func:`write_label_raster` georeferenced like ``source``, the image it labels (GeoTIFF in,
    GeoTIFF out), coloured by ``class_names``' palette."""
    info = raster_info(source)
    write_label_raster(path, labels, class_names=class_names, crs=info.crs, transform=info.transform)


def preview_with_legend(labels: np.ndarray, class_names: Sequence[str], palette: np.ndarray) -> np.ndarray:
    """(H', W', 3) uint8: ``labels`` coloured with ``palette``, a legend to its right (a swatch
    and the name of every class, and "no data" in white where there are 255 pixels)."""
    entries = [(name, tuple(map(int, colour))) for name, colour in zip(class_names, palette, strict=True)]
    if (labels == IGNORE_INDEX).any():
        entries.append((NODATA_NAME, IGNORE_COLOUR))
    height, width = labels.shape
    size = int(np.clip(min(height, 4 * width) // 40, 12, 32))  # type size in pixels
    font = ImageFont.load_default(size=size)
    line, margin = round(size * 1.5), size
    text_width = max(font.getlength(name) for name, _ in entries)
    legend_width = int(2 * margin + size + size // 2 + text_width)
    canvas = Image.new("RGB", (width + legend_width, max(height, 2 * margin + line * len(entries))), "white")
    canvas.paste(Image.fromarray(index_to_rgb(labels, palette)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for index, (name, colour) in enumerate(entries):
        left, top = width + margin, margin + index * line
        draw.rectangle((left, top, left + size, top + size), fill=colour, outline=(128, 128, 128))
        draw.text((left + size + size // 2, top + size / 2), name, fill="black", font=font, anchor="lm")
    return np.asarray(canvas)


def write_label_preview(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    replace: bool = True,
) -> None:
    """Write :func:`preview_with_legend` as the PNG ``path``, atomically."""
    palette = _palette(Path(path), class_names, palette)
    write_raster(path, preview_with_legend(labels, class_names, palette), replace=replace)
