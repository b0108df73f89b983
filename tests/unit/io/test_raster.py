"""Raster store IO: round trips, windowed reads, georeferencing, layout and read errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from urur.io.raster import (
    GEOTIFF_BLOCK_SIZE,
    RasterReadError,
    raster_info,
    read_raster,
    read_valid,
    read_windows,
    read_windows_with_valid,
    write_raster,
    write_world_file,
)
from urur.io.windows import Window

UTM_TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0)
TRANSFORM = (0.5, 0.1, 500000.0, 0.2, -0.5, 4000000.0)  # rotated, so the world file's order is checked


@pytest.fixture(scope="module")
def rgb_image() -> np.ndarray:
    # Larger than one 256 tile on both sides so windows cross tile borders.
    return np.random.default_rng(0).integers(0, 256, (300, 280, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def rgb_tif(tmp_path_factory, rgb_image):
    path = tmp_path_factory.mktemp("store") / "image.tif"
    write_raster(path, rgb_image, crs="EPSG:32633", transform=UTM_TRANSFORM)
    return path


def test_geotiff_round_trip_keeps_pixels_and_georeferencing(rgb_tif, rgb_image):
    info = raster_info(rgb_tif)
    assert (info.height, info.width, info.bands, info.dtype) == (300, 280, 3, "uint8")
    assert info.crs == "EPSG:32633"
    assert info.transform == UTM_TRANSFORM
    np.testing.assert_array_equal(read_raster(rgb_tif), rgb_image)


@pytest.mark.parametrize(
    "window",
    [Window(0, 0, 300, 280), Window(250, 250, 50, 30), Window(17, 3, 260, 1), Window(255, 0, 2, 280)],
)
def test_window_read_equals_slicing(rgb_tif, rgb_image, window):
    np.testing.assert_array_equal(read_raster(rgb_tif, window), rgb_image[window.slices])


def test_random_window_reads_equal_slicing(rgb_tif, rgb_image):
    rng = np.random.default_rng(1)
    for _ in range(10):
        height, width = rng.integers(1, 300), rng.integers(1, 280)
        window = Window(int(rng.integers(0, 301 - height)), int(rng.integers(0, 281 - width)), height, width)
        np.testing.assert_array_equal(read_raster(rgb_tif, window), rgb_image[window.slices])


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_read_windows_through_one_open_file_equal_slicing(tmp_path, rgb_image, suffix):
    path = tmp_path / f"image{suffix}"
    write_raster(path, rgb_image)
    # Out of order on purpose: PNG rows must be decoded again from the top for the last window.
    windows = [Window(0, 0, 100, 280), Window(100, 0, 200, 280), Window(5, 270, 7, 10), None]
    reads = list(read_windows(path, windows, bands=[2, 3]))
    for window, pixels in zip(windows[:3], reads, strict=False):
        np.testing.assert_array_equal(pixels, rgb_image[window.slices][..., 1:])
    np.testing.assert_array_equal(reads[3], rgb_image[..., 1:])


def test_band_selection_is_one_based_and_single_band_is_2d(rgb_tif, rgb_image):
    np.testing.assert_array_equal(read_raster(rgb_tif, bands=[3, 1]), rgb_image[..., [2, 0]])
    single = read_raster(rgb_tif, Window(5, 6, 7, 8), bands=[2])
    np.testing.assert_array_equal(single, rgb_image[5:12, 6:14, 1])
    with pytest.raises(RasterReadError, match=r"image\.tif has bands 1\.\.3"):
        read_raster(rgb_tif, bands=[4])


def test_window_outside_the_image_is_an_error_naming_the_file(rgb_tif):
    with pytest.raises(RasterReadError, match=r"not inside .*image\.tif \(300x280\)"):
        read_raster(rgb_tif, Window(290, 0, 20, 10))


def test_geotiff_is_tiled_and_compressed_for_windowed_reads(rgb_tif):
    with rasterio.open(rgb_tif) as dataset:
        assert dataset.block_shapes == [(GEOTIFF_BLOCK_SIZE, GEOTIFF_BLOCK_SIZE)] * 3
        assert dataset.compression.name.lower() == "zstd"
        assert dataset.interleaving.name.lower() == "pixel"


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32])
def test_single_band_round_trip_of_other_dtypes(tmp_path, dtype):
    array = (np.random.default_rng(2).random((40, 50)) * 1000).astype(dtype)
    write_raster(tmp_path / "band.tif", array)
    info = raster_info(tmp_path / "band.tif")
    assert (info.bands, info.dtype, info.crs, info.transform) == (1, np.dtype(dtype).name, None, None)
    np.testing.assert_array_equal(read_raster(tmp_path / "band.tif"), array)


def test_crs_without_epsg_code_round_trips_as_wkt(tmp_path, rgb_image):
    crs = CRS.from_proj4(
        "+proj=tmerc +lat_0=0 +lon_0=15.5 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=m"
    )
    write_raster(tmp_path / "custom.tif", rgb_image[:16, :16], crs=crs.to_wkt(), transform=UTM_TRANSFORM)
    stored = raster_info(tmp_path / "custom.tif").crs
    assert not stored.startswith("EPSG:")
    assert CRS.from_user_input(stored) == crs


def test_png_round_trip_is_exact_and_has_no_georeferencing(tmp_path, rgb_image):
    write_raster(tmp_path / "image.png", rgb_image)
    info = raster_info(tmp_path / "image.png")
    assert (info.crs, info.transform) == (None, None)
    np.testing.assert_array_equal(read_raster(tmp_path / "image.png"), rgb_image)
    np.testing.assert_array_equal(
        read_raster(tmp_path / "image.png", Window(3, 4, 5, 6)), rgb_image[3:8, 4:10]
    )


def test_png_keeps_16_bit_rgb(tmp_path):
    array = np.random.default_rng(3).integers(0, 2**16, (20, 30, 3), dtype=np.uint16)
    write_raster(tmp_path / "deep.png", array)
    np.testing.assert_array_equal(read_raster(tmp_path / "deep.png"), array)


def test_jpeg_round_trip_is_close(tmp_path):
    smooth = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)
    array = np.stack([smooth, smooth[::-1], smooth.T], axis=-1)
    write_raster(tmp_path / "image.jpg", array)
    decoded = read_raster(tmp_path / "image.jpg")
    assert decoded.shape == array.shape
    assert np.abs(decoded.astype(int) - array).mean() < 2


def test_png_and_jpeg_refuse_georeferencing_instead_of_dropping_it(tmp_path, rgb_image):
    with pytest.raises(ValueError, match=r"image\.png: PNG cannot hold a CRS"):
        write_raster(tmp_path / "image.png", rgb_image, crs="EPSG:32633")
    assert not (tmp_path / "image.png").exists()


def test_unsupported_suffix_and_bad_arrays_are_rejected(tmp_path, rgb_image):
    with pytest.raises(ValueError, match=r"image\.bmp: unsupported raster suffix"):
        write_raster(tmp_path / "image.bmp", rgb_image)
    with pytest.raises(ValueError, match=r"flat\.tif: expected a non-empty"):
        write_raster(tmp_path / "flat.tif", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"mask\.tif: convert the boolean"):
        write_raster(tmp_path / "mask.tif", np.zeros((4, 4), bool))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, rgb_image):
    write_raster(tmp_path / "image.tif", rgb_image)
    before = (tmp_path / "image.tif").read_bytes()
    with pytest.raises(ValueError, match=r"image\.tif: convert the boolean"):
        write_raster(tmp_path / "image.tif", np.zeros((4, 4), bool))
    assert (tmp_path / "image.tif").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tif"]


@pytest.mark.parametrize("name", ["noise.tif", "noise.png", "noise.jpg"])
def test_corrupt_file_error_names_the_file(tmp_path, name):
    (tmp_path / name).write_bytes(np.random.default_rng(4).bytes(4000))
    with pytest.raises(RasterReadError, match=rf"cannot read raster .*{name}.*corrupt, truncated"):
        raster_info(tmp_path / name)


@pytest.mark.parametrize("name", ["cut.tif", "cut.png", "cut.jpg"])
def test_truncated_file_error_names_the_file(tmp_path, rgb_image, name):
    write_raster(tmp_path / name, rgb_image)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(RasterReadError, match=rf"cannot read raster .*{name}.*re-export or re-download"):
        read_raster(tmp_path / name)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"raster .*absent\.tif does not exist"):
        read_raster(tmp_path / "absent.tif")


def test_mask_band_nodata_and_colour_table_round_trip(tmp_path, rgb_image):
    valid = np.ones(rgb_image.shape[:2], bool)
    valid[:7, 3:] = False
    write_raster(tmp_path / "m.tif", rgb_image, crs="EPSG:32650", transform=TRANSFORM, valid=valid)
    assert raster_info(tmp_path / "m.tif").masked
    np.testing.assert_array_equal(read_valid(tmp_path / "m.tif"), valid)
    window = Window(2, 1, 20, 30)
    ((pixels, window_valid),) = read_windows_with_valid(tmp_path / "m.tif", [window], bands=[3, 1])
    np.testing.assert_array_equal(pixels, rgb_image[window.slices][..., [2, 0]])
    np.testing.assert_array_equal(window_valid, valid[window.slices])
    labels = (rgb_image[..., 0] % 9).astype(np.uint8)
    labels[labels == 8] = 255
    colours = {0: (0, 0, 0, 255), 1: (230, 230, 230, 255), 255: (255, 255, 255, 0)}
    write_raster(tmp_path / "l.tif", labels, nodata=255, colormap=colours)
    with rasterio.open(tmp_path / "l.tif") as dataset:
        assert dataset.nodata == 255
        assert dataset.colormap(1)[1] == (230, 230, 230, 255)
        assert dataset.colormap(1)[255] == (255, 255, 255, 0)
    np.testing.assert_array_equal(read_valid(tmp_path / "l.tif"), labels != 255)
    write_raster(tmp_path / "plain.tif", labels)
    assert not raster_info(tmp_path / "plain.tif").masked
    assert read_valid(tmp_path / "plain.tif").all()


def test_alpha_band_is_not_taken_as_fill(tmp_path):
    # GDAL calls the fourth band of a 4-band uint8 file alpha; for satellite data it is near-infrared.
    write_raster(tmp_path / "rgbn.tif", np.zeros((8, 8, 4), np.uint8))
    assert not raster_info(tmp_path / "rgbn.tif").masked


def test_world_file_and_aux_xml_georeference_a_png_for_gdal(tmp_path, rgb_image):
    path = tmp_path / "patch.png"
    write_raster(path, rgb_image)
    write_world_file(path, "EPSG:32650", TRANSFORM)
    a, b, c, d, e, f = TRANSFORM
    lines = [float(v) for v in (tmp_path / "patch.pgw").read_text().split()]
    assert lines == pytest.approx([a, d, b, e, c + a / 2 + b / 2, f + d / 2 + e / 2])
    with rasterio.open(path) as dataset:
        assert dataset.crs.to_epsg() == 32650
        assert tuple(dataset.transform)[:6] == pytest.approx(TRANSFORM)
    np.testing.assert_array_equal(read_raster(path), rgb_image)  # pixels untouched
    write_world_file(tmp_path / "plain.png", None, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.pgw", "patch.png", "patch.png.aux.xml"]


def test_png_refuses_mask_nodata_and_colour_table(tmp_path, rgb_image):
    with pytest.raises(ValueError, match=r"PNG cannot hold a CRS, transform, nodata, mask or colour table"):
        write_raster(tmp_path / "x.png", rgb_image[..., 0], nodata=255)
    with pytest.raises(ValueError, match=r"mask shape \(2, 2\) differs"):
        write_raster(tmp_path / "x.tif", rgb_image, valid=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="a colour table needs one uint8 band"):
        write_raster(tmp_path / "x.tif", rgb_image, colormap={0: (0, 0, 0, 255)})
