"""Label rasters open in QGIS with their legend: a Cloud-Optimised GeoTIFF (overviews, COG layout,
colour table), class names as GDAL category names, a QGIS style beside it, a preview with a legend."""

from __future__ import annotations

import ctypes
import glob
import os
from xml.etree import ElementTree

import numpy as np
import pytest
import rasterio

from urur.classes import DEEPGLOBE_CLASSES, DEEPGLOBE_PALETTE, IGNORE_COLOUR, URUR_CLASSES, URUR_PALETTE
from urur.io.label_raster import (
    preview_with_legend,
    style_paths,
    write_label_preview,
    write_label_raster,
    write_label_raster_like,
)
from urur.io.raster import read_raster, write_raster

CRS = "EPSG:32650"
TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4400000.0)


def gdal_category_names(path) -> list[str]:
    """Band 1's category names as GDAL itself reads them (``GDALGetRasterCategoryNames``, what
    gdalinfo prints as "Categories"), through the libgdal rasterio ships: no GDAL Python bindings
    or gdalinfo binary is installed here."""
    libs = glob.glob(os.path.join(os.path.dirname(rasterio.__file__) + ".libs", "libgdal*.so*"))
    if not libs:
        pytest.skip("rasterio's bundled libgdal not found (rasterio built against a system GDAL)")
    gdal = ctypes.CDLL(libs[0])
    pointer = ctypes.c_void_p
    gdal.GDALOpen.restype, gdal.GDALOpen.argtypes = pointer, [ctypes.c_char_p, ctypes.c_int]
    gdal.GDALGetRasterBand.restype, gdal.GDALGetRasterBand.argtypes = pointer, [pointer, ctypes.c_int]
    gdal.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    gdal.GDALGetRasterCategoryNames.argtypes = [pointer]
    gdal.GDALClose.argtypes = [pointer]
    gdal.GDALGetMetadata.restype, gdal.GDALGetMetadata.argtypes = pointer, [pointer, ctypes.c_char_p]
    gdal.GDALAllRegister()
    dataset = gdal.GDALOpen(str(path).encode(), 0)
    assert dataset, f"GDAL cannot open {path}"
    try:
        # The GeoTIFF driver loads the .aux.xml lazily, on the first metadata or georeferencing
        # request (gdalinfo and QGIS make several); a bare category request would not trigger it.
        gdal.GDALGetMetadata(dataset, None)
        names = gdal.GDALGetRasterCategoryNames(gdal.GDALGetRasterBand(dataset, 1))
        found = []
        while names and names[len(found)] is not None:
            found.append(names[len(found)].decode())
        return found
    finally:
        gdal.GDALClose(dataset)


def _labels(height: int = 700, width: int = 600) -> np.ndarray:
    labels = (np.add.outer(np.arange(height) // 90, np.arange(width) // 70) % 8).astype(np.uint8)
    labels[:5, :7] = 255
    return labels


def test_label_raster_is_a_cog_with_overviews_colours_and_category_names(tmp_path):
    path = tmp_path / "labels.tif"
    labels = _labels()
    write_label_raster(path, labels, class_names=URUR_CLASSES, crs=CRS, transform=TRANSFORM)
    np.testing.assert_array_equal(read_raster(path), labels)
    with rasterio.open(path) as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert dataset.overviews(1) == [2, 4]  # halvings until one 256² tile holds it: 350, 175
        assert dataset.profile["tiled"] and dataset.block_shapes == [(256, 256)]
        assert dataset.nodata == 255 and dataset.crs.to_string() == CRS
        assert tuple(dataset.transform)[:6] == TRANSFORM
        table = dataset.colormap(1)
        overview = dataset.read(1, out_shape=(350, 300))  # read from the overview
    assert [table[v][:3] for v in range(8)] == [tuple(c) for c in URUR_PALETTE.tolist()]
    assert table[255][3] == 0  # no data transparent
    # Mode resampling: each overview pixel is a value of the 2 x 2 pixels under it.
    below = labels.reshape(350, 2, 300, 2)
    assert (below == overview[:, None, :, None]).any(axis=(1, 3)).all()
    assert gdal_category_names(path) == list(URUR_CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.qml", "labels.tif", "labels.tif.aux.xml"]


def test_qml_is_a_paletted_qgis_style_with_values_colours_and_names(tmp_path):
    path = tmp_path / "deepglobe.tif"
    write_label_raster(path, np.zeros((40, 50), np.uint8), class_names=DEEPGLOBE_CLASSES)
    _, qml = style_paths(path)
    root = ElementTree.parse(qml).getroot()
    assert root.tag == "qgis"
    renderer = root.find("pipe/rasterrenderer")
    assert (renderer.get("type"), renderer.get("band")) == ("paletted", "1")
    entries = [(e.get("value"), e.get("color"), e.get("label")) for e in renderer.iter("paletteEntry")]
    expected = [
        (str(v), "#{:02x}{:02x}{:02x}".format(*c), name)
        for v, (name, c) in enumerate(zip(DEEPGLOBE_CLASSES, DEEPGLOBE_PALETTE.tolist(), strict=True))
    ]
    assert entries == expected
    # DeepGlobe classes get DeepGlobe's colours in the raster too (not URUR's).
    with rasterio.open(path) as dataset:
        assert dataset.colormap(1)[1][:3] == (0, 255, 255)
    assert gdal_category_names(path) == list(DEEPGLOBE_CLASSES)


def test_class_names_needing_xml_escapes_survive(tmp_path):
    names = ["a<b", 'c"d', "e&f"]
    path = tmp_path / "odd.tif"
    write_label_raster(path, np.zeros((8, 8), np.uint8), class_names=names)
    assert [e.get("label") for e in ElementTree.parse(style_paths(path)[1]).iter("paletteEntry")] == names
    assert gdal_category_names(path) == names


def test_too_short_a_palette_and_bad_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="2 colours for 3 classes"):
        write_label_raster(
            tmp_path / "x.tif",
            np.zeros((8, 8), np.uint8),
            class_names=["a", "b", "c"],
            palette=URUR_PALETTE[:2],
        )
    with pytest.raises(ValueError, match="uint8"):
        write_label_raster(tmp_path / "x.tif", np.zeros((8, 8), np.int32), class_names=["a"])
    assert list(tmp_path.iterdir()) == []


def test_replace_false_keeps_an_existing_raster_and_its_style(tmp_path):
    path = tmp_path / "labels.tif"
    write_label_raster(path, np.ones((8, 8), np.uint8), class_names=URUR_CLASSES)
    with pytest.raises(FileExistsError):
        write_label_raster(path, np.zeros((8, 8), np.uint8), class_names=["x", "y"], replace=False)
    assert (read_raster(path) == 1).all() and gdal_category_names(path) == list(URUR_CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.qml", "labels.tif", "labels.tif.aux.xml"]


def test_preview_has_a_legend_with_every_class_colour(tmp_path):
    labels = _labels(300, 400)
    path = tmp_path / "preview.png"
    write_label_preview(path, labels, class_names=URUR_CLASSES)
    preview = read_raster(path)
    assert preview.shape[0] >= 300 and preview.shape[1] > 400 + 100
    legend = preview[:, 400:].reshape(-1, 3)
    colours = {tuple(c) for c in np.unique(legend, axis=0).tolist()}
    # Every class swatch and the "no data" one (white; the background is white too).
    assert {tuple(c) for c in URUR_PALETTE.tolist()} | {IGNORE_COLOUR} <= colours
    # Text is drawn: dark pixels besides the black swatch of "others".
    black_swatch_free = preview[:, 400 + 60 :]
    assert (black_swatch_free.max(axis=-1) < 60).sum() > 200
    np.testing.assert_array_equal(preview[:300, :400][5:, 7:], URUR_PALETTE[labels[5:, 7:]])


def test_preview_legend_of_a_tiny_map_is_taller_than_the_map():
    preview = preview_with_legend(np.zeros((10, 10), np.uint8), URUR_CLASSES, URUR_PALETTE)
    assert preview.shape[0] > 8 * 12 and preview.shape[1] > 10
    np.testing.assert_array_equal(preview[:10, :10], 0)


def test_a_prediction_takes_its_images_georeferencing_and_its_classes_colours(tmp_path):
    """Evaluation's and pre-labelling's label rasters: a DeepGlobe model's labels in DeepGlobe colours."""
    image = tmp_path / "image.tif"
    write_raster(image, np.zeros((40, 50, 3), np.uint8), crs=CRS, transform=TRANSFORM)
    labels = np.arange(40 * 50, dtype=np.uint8).reshape(40, 50) % len(DEEPGLOBE_CLASSES)
    write_label_raster_like(tmp_path / "pred.tif", labels, image, class_names=DEEPGLOBE_CLASSES)
    with rasterio.open(tmp_path / "pred.tif") as dataset:
        assert dataset.crs.to_string() == CRS and tuple(dataset.transform)[:6] == TRANSFORM
        assert [dataset.colormap(1)[v][:3] for v in range(7)] == [
            tuple(c) for c in DEEPGLOBE_PALETTE.tolist()
        ]
    np.testing.assert_array_equal(read_raster(tmp_path / "pred.tif"), labels)
