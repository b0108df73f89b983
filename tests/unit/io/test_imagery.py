"""Any raster -> uint8 RGB: the decimated stretch sample, the percentile stretch and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.scenes import noise
from urur.io.imagery import read_uint8, stretch_limits, stretch_sample, to_uint8
from urur.io.raster import raster_info, write_raster
from urur.io.windows import Window


def test_stretch_sample_is_every_step_th_pixel_read_in_strips(tmp_path):
    array = noise((1100, 40, 3), np.uint16, seed=5)  # 1100 rows: three 506-row strips at step 11
    write_raster(tmp_path / "tall.tif", array)
    sample, valid = stretch_sample(tmp_path / "tall.tif", bands=(1, 2, 3), max_side=100)
    np.testing.assert_array_equal(sample, array[::11, ::11])
    assert valid is None  # no nodata tag, mask or fill value: every pixel counts
    array[:, :20] = 0
    write_raster(tmp_path / "fill.tif", array, nodata=0)
    sample, valid = stretch_sample(tmp_path / "fill.tif", bands=(1, 2, 3), max_side=100)
    np.testing.assert_array_equal(valid, (array[::11, ::11] != 0).any(axis=-1))


def test_to_uint8_stretch_edge_cases():
    image = noise((8, 9, 2), np.uint16, seed=6)
    eight_bit = noise((4, 4, 3))
    assert to_uint8(eight_bit) is eight_bit  # 8-bit imagery is kept as it is
    limits = np.array([[1000.0, 3000.0], [0.0, 65535.0]])
    expected = np.stack(
        [
            np.clip(np.round((image[..., k] - lo) * 255 / (hi - lo)), 0, 255)
            for k, (lo, hi) in enumerate(limits)
        ],
        axis=-1,
    )
    np.testing.assert_array_equal(to_uint8(image, limits=limits), expected)
    np.testing.assert_array_equal(to_uint8(np.full((3, 3), 7, np.uint16)), np.zeros((3, 3), np.uint8))
    single = image[..., 0]
    low, high = np.percentile(single, [10, 90])
    np.testing.assert_array_equal(
        to_uint8(single, 10, 90), np.clip(np.round((single - low) * 255 / (high - low)), 0, 255)
    )
    np.testing.assert_allclose(stretch_limits(image, 10, 90)[1], np.percentile(image[..., 1], [10, 90]))
    with pytest.raises(ValueError, match="float32"):
        to_uint8(image.astype(np.float32))


def test_stretch_defaults_are_the_2_and_98_percentiles_and_0_100_are_allowed():
    image = noise((16, 12, 3), np.uint16, seed=9)
    pixels = image.reshape(-1, 3)
    np.testing.assert_allclose(stretch_limits(image), np.percentile(pixels, [2, 98], axis=0).T)
    np.testing.assert_allclose(stretch_limits(image, 0, 100), np.stack([pixels.min(0), pixels.max(0)], 1))
    low, high = np.percentile(pixels, [2, 98], axis=0)
    expected = np.clip(np.round((image - low) * 255 / (high - low)), 0, 255).astype(np.uint8)
    got = to_uint8(image)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    # The valid mask selects pixels even when every pixel is valid (a full boolean mask).
    np.testing.assert_allclose(
        stretch_limits(image, 2, 98, valid=np.ones(image.shape[:2], bool)), stretch_limits(image)
    )
    for low_pct, high_pct in ((-1, 50), (50, 100.5), (50, 50)):
        with pytest.raises(ValueError, match=r"need 0 <= low_pct < high_pct <= 100"):
            stretch_limits(image, low_pct, high_pct)


def test_stretch_errors_say_what_is_wrong():
    image = noise((4, 4, 3), np.uint16, seed=27)
    with pytest.raises(ValueError, match=r"need 0 <= low_pct < high_pct <= 100, got 98, 2"):
        stretch_limits(image, 98, 2)
    with pytest.raises(ValueError, match=r"need 0 <= low_pct < high_pct <= 100, got 50, 50"):
        stretch_limits(image, 50, 50)
    with pytest.raises(ValueError, match=r"got stretch limits for 2 bands but the array has 3"):
        to_uint8(image, limits=np.array([[0, 1], [0, 1]]))
    image = noise((4, 4, 3), np.uint16, seed=29)
    with pytest.raises(ValueError, match=r"^no valid pixels to compute a stretch from$"):
        stretch_limits(image, valid=np.zeros((4, 4), bool))


def test_read_uint8_of_chosen_bands_fills_masked_and_nodata_pixels_alike(tmp_path):
    """A 4-band 8-bit GeoTIFF with both an internal mask and a nodata value: the chosen bands come
    back in their order, and a pixel is fill where the mask says so or where every band is nodata."""
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) + 1
    pixels[1, 2] = 0  # nodata in every band, valid by the mask
    valid = np.ones((2, 3), bool)
    valid[0, 1] = False  # masked out, its values not nodata
    write_raster(tmp_path / "scene.tif", pixels, nodata=0, valid=valid)
    info = raster_info(tmp_path / "scene.tif")
    out, fill_free = read_uint8(tmp_path / "scene.tif", info, Window(0, 0, 2, 3), (3, 1, 2), None, 0)
    expected_valid = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(fill_free, expected_valid)
    expected = pixels[..., [2, 0, 1]] * expected_valid[..., None]
    np.testing.assert_array_equal(out, expected)
