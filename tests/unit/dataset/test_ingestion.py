"""Ingestion: raw scene checks, 16-bit stretch and fill as ingestion applies them, cutting with
georeferencing kept, the manifest and its checksums."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest
import rasterio

from tests.support.scenes import RAW_TRANSFORM, noise, scene_row, write_table
from urur.config import IngestionParams, RuntimeParams
from urur.dataset.ingestion import MANIFEST_COLUMNS, ingest_scene, ingest_scenes, validate_raw_scene
from urur.dataset.leaks import pixel_checksum
from urur.dataset.scene_table import IngestionError, load_scene_table
from urur.io.raster import RasterReadError, raster_info, read_raster, write_raster
from urur.io.windows import Window
from urur.pipelines.ingestion.nodes import ingest


def tree_digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cut_images_keep_pixels_crs_and_shifted_transform(raw_dir, tmp_path):
    rows = ingest_scene(scene_row("a", "a.tif"), raw_dir, tmp_path / "out")
    raw_pixels = read_raster(raw_dir / "a.tif")
    assert [r["image_id"] for r in rows] == [
        "a_r00000_c00000",
        "a_r00000_c00048",
        "a_r00032_c00000",
        "a_r00032_c00048",
    ]
    a, b, c, d, e, f = RAW_TRANSFORM
    for row in rows:
        stored = tmp_path / "out" / row["path"]
        info = raster_info(stored)
        r, q = row["row_off"], row["col_off"]
        # Pixel (0, 0) of the cut is pixel (r, q) of the raw scene: same map coordinates.
        expected = (a, b, a * q + b * r + c, d, e, d * q + e * r + f)
        np.testing.assert_allclose(info.transform, expected)
        assert json.loads(row["transform"]) == pytest.approx(expected)
        assert info.crs == row["crs"] == "EPSG:32650"
        np.testing.assert_array_equal(read_raster(stored), raw_pixels[r : r + 32, q : q + 48])


def test_16_bit_stretch_matches_numpy_percentiles_over_the_whole_scene(raw_dir, tmp_path):
    rows = ingest_scene(scene_row("b", "b.tif"), raw_dir, tmp_path / "out", split_factor=2)
    raw = read_raster(raw_dir / "b.tif").astype(np.float64)
    expected = np.empty((64, 64, 3), np.uint8)
    for band in range(3):  # band 4 (near-infrared) is dropped
        low, high = np.percentile(raw[..., band], [2, 98])
        expected[..., band] = np.clip(np.round((raw[..., band] - low) / (high - low) * 255), 0, 255)
    stitched = np.empty_like(expected)
    for row in rows:
        image = read_raster(tmp_path / "out" / row["path"])
        assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
        stitched[row["row_off"] : row["row_off"] + 32, row["col_off"] : row["col_off"] + 32] = image
        assert (row["bands_in"], row["dtype_in"]) == (4, "uint16")
    # One stretch for the whole scene: the stitched cuts equal the stretch of the whole scene.
    np.testing.assert_array_equal(stitched, expected)


def test_tall_16_bit_scene_is_converted_strip_by_strip_with_one_decimated_stretch(tmp_path):
    raw = tmp_path / "raw"
    array = noise((1100, 16, 3), np.uint16, seed=11)  # cuts of 550 rows: strips of 512 + 38 rows
    array[:, :8] //= 4  # the left half darker, so the cuts' own percentiles would differ
    write_raster(raw / "tall.tif", array)
    rows = ingest_scene(scene_row("t", "tall.tif"), raw, tmp_path / "out")
    sample = array[::2, ::2].astype(np.float64)  # step = ceil(1100 / 1024) = 2
    low, high = np.percentile(sample.reshape(-1, 3), [2, 98], axis=0)
    expected = np.clip(np.round((array - low) / (high - low) * 255), 0, 255).astype(np.uint8)
    for row in rows:
        window = Window(row["row_off"], row["col_off"], row["height"], row["width"])
        np.testing.assert_array_equal(read_raster(tmp_path / "out" / row["path"]), expected[window.slices])


def test_rgb_bands_choose_and_order_the_kept_bands(tmp_path):
    raw = tmp_path / "raw"
    write_raster(raw / "bgrn.tif", noise((16, 16, 4), seed=7))
    rows = ingest_scene(
        scene_row("s", "bgrn.tif"), raw, tmp_path / "out", split_factor=1, rgb_bands=(3, 2, 1)
    )
    np.testing.assert_array_equal(
        read_raster(tmp_path / "out" / rows[0]["path"]), read_raster(raw / "bgrn.tif")[..., [2, 1, 0]]
    )
    with pytest.raises(
        IngestionError, match=r"rgb_bands \(1, 2, 5\) .*within 1\.\.4 of raw scene .*bgrn\.tif"
    ):
        ingest_scene(scene_row("s", "bgrn.tif"), raw, tmp_path / "out2", rgb_bands=(1, 2, 5))


@pytest.mark.parametrize(("name", "dtype"), [("s.tif", np.uint8), ("s.png", np.uint8), ("s.png", np.uint16)])
def test_png_jpeg_tiff_inputs_are_cut_exactly(tmp_path, name, dtype):
    raw = tmp_path / "raw"
    array = noise((32, 48, 3), dtype, seed=8)
    write_raster(raw / name, array)
    rows = ingest_scene(scene_row("s", name), raw, tmp_path / "out")
    expected = _reference_stretch(array, np.ones((32, 48), bool), 2, 98) if dtype == np.uint16 else array
    for row in rows:
        window = Window(row["row_off"], row["col_off"], row["height"], row["width"])
        np.testing.assert_array_equal(read_raster(tmp_path / "out" / row["path"]), expected[window.slices])
        assert (row["crs"], row["transform"]) == (None, None)
        assert raster_info(tmp_path / "out" / row["path"]).transform is None


def test_jpeg_input_is_cut_from_its_decoded_pixels(tmp_path):
    raw = tmp_path / "raw"
    smooth = np.add.outer(np.arange(32), np.arange(32)).astype(np.uint8) * 3
    write_raster(raw / "s.jpg", np.stack([smooth, smooth.T, 255 - smooth], axis=-1))
    rows = ingest_scene(scene_row("s", "s.jpg"), raw, tmp_path / "out")
    decoded = read_raster(raw / "s.jpg")
    for row in rows:
        window = Window(row["row_off"], row["col_off"], row["height"], row["width"])
        np.testing.assert_array_equal(read_raster(tmp_path / "out" / row["path"]), decoded[window.slices])


def test_manifest_schema_checksums_and_reproducibility(raw_dir, tmp_path):
    before = tree_digest(raw_dir)
    table = load_scene_table(raw_dir / "scenes.csv")
    serial = ingest_scenes(table, raw_dir, tmp_path / "one", workers=1)
    parallel = ingest_scenes(table, raw_dir, tmp_path / "two", workers=2)
    assert tree_digest(raw_dir) == before  # inputs unchanged, no side-car files added
    assert list(serial.columns) == list(MANIFEST_COLUMNS)
    assert len(serial) == 12 and serial["image_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(serial, parallel)
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(serial["path"])
    for row in serial.itertuples():
        stored = read_raster(tmp_path / "one" / row.path)
        assert row.checksum == pixel_checksum(stored) == hashlib.sha256(stored.tobytes()).hexdigest()
    png_rows = serial[serial["scene_id"] == "c"]
    assert png_rows["crs"].isna().all() and png_rows["transform"].isna().all()
    assert set(serial.loc[serial["scene_id"] == "b", "crs"]) == {"EPSG:4326"}


def test_manifest_checksum_is_independent_of_compression(raw_dir, tmp_path):
    rows = ingest_scene(scene_row("a", "a.tif"), raw_dir, tmp_path / "out")
    raw = read_raster(raw_dir / "a.tif")
    assert rows[0]["checksum"] == hashlib.sha256(np.ascontiguousarray(raw[:32, :48]).tobytes()).hexdigest()


def test_empty_raw_folder_is_named(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "notes.txt").write_text("no scenes here")
    table = pd.DataFrame([scene_row("a", "a.tif")])
    with pytest.raises(
        IngestionError, match=r"files missing from .*raw: a\.tif \(the folder holds no scene files\)"
    ):
        ingest_scenes(table, raw, tmp_path / "out")


def test_output_inside_the_raw_folder_is_refused(raw_dir):
    table = load_scene_table(raw_dir / "scenes.csv")
    with pytest.raises(IngestionError, match=r"lies inside the raw folder"):
        ingest_scenes(table, raw_dir, raw_dir / "out")


@pytest.mark.parametrize("name", ["noise.tif", "noise.png"])
def test_corrupt_scene_is_named(tmp_path, name):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / name).write_bytes(np.random.default_rng(9).bytes(3000))
    with pytest.raises(RasterReadError, match=rf"{name}.*corrupt, truncated or not an image"):
        validate_raw_scene(raw / name)
    with pytest.raises(IngestionError, match=rf"1 of 1 raw scenes .*\n- cannot read raster .*{name}"):
        ingest_scenes(pd.DataFrame([scene_row("n", name)]), raw, tmp_path / "out")


@pytest.mark.parametrize("name", ["cut.tif", "cut.png"])
def test_truncated_scene_is_named(tmp_path, name):
    raw = tmp_path / "raw"
    write_raster(raw / name, noise((64, 64, 3), seed=10))
    data = (raw / name).read_bytes()
    (raw / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(RasterReadError, match=rf"cannot read raster .*{name}"):
        validate_raw_scene(raw / name)
    with pytest.raises(RasterReadError, match=rf"cannot read raster .*{name}"):
        ingest_scenes(pd.DataFrame([scene_row("t", name)]), raw, tmp_path / "out", workers=1)


def test_size_not_divisible_by_split_factor_is_named(tmp_path):
    write_raster(tmp_path / "odd.tif", noise((63, 64, 3)))
    with pytest.raises(IngestionError, match=r"odd\.tif is 63x64 pixels, not divisible by split_factor 2"):
        validate_raw_scene(tmp_path / "odd.tif", split_factor=2)
    assert validate_raw_scene(tmp_path / "odd.tif", split_factor=1).height == 63


@pytest.mark.parametrize(("name", "bands"), [("two.png", 2), ("two.tif", 2), ("five.tif", 5)])
def test_wrong_band_count_is_named(tmp_path, name, bands):
    write_raster(tmp_path / name, noise((16, 16, bands)))
    with pytest.raises(IngestionError, match=rf"{name} has {bands} bands; accepted band counts are \(3, 4\)"):
        validate_raw_scene(tmp_path / name)


def test_unsupported_dtype_is_named(tmp_path):
    write_raster(tmp_path / "float.tif", np.zeros((16, 16, 3), np.float32))
    with pytest.raises(
        IngestionError, match=r"float\.tif has pixel type float32; accepted are uint8, uint16"
    ):
        validate_raw_scene(tmp_path / "float.tif")


def test_all_invalid_scenes_are_reported_together(raw_dir, tmp_path):
    write_raster(raw_dir / "odd.tif", noise((63, 64, 3)))
    write_raster(raw_dir / "five.tif", noise((16, 16, 5)))
    table = pd.DataFrame([scene_row("a", "a.tif"), scene_row("o", "odd.tif"), scene_row("f", "five.tif")])
    with pytest.raises(
        IngestionError, match=r"(?s)2 of 3 raw scenes.*odd\.tif is 63x64.*five\.tif has 5 bands"
    ):
        ingest_scenes(table, raw_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written before every scene passed its checks


def test_stored_images_are_uint8_rgb_geotiffs(raw_dir, tmp_path):
    rows = ingest_scene(scene_row("b", "b.tif"), raw_dir, tmp_path / "out")
    with rasterio.open(tmp_path / "out" / rows[0]["path"]) as dataset:
        assert dataset.driver == "GTiff" and dataset.count == 3 and dataset.dtypes[0] == "uint8"
        assert dataset.profile["tiled"]


def _reference_stretch(raw: np.ndarray, valid: np.ndarray, low_pct: float, high_pct: float) -> np.ndarray:
    """The 8-bit stretch by hand: numpy percentiles of the valid pixels, per band, fill set to 0."""
    out = np.zeros(raw.shape, np.uint8)
    for band in range(raw.shape[-1]):
        low, high = np.percentile(raw[..., band][valid].astype(np.float64), [low_pct, high_pct])
        out[..., band] = np.clip(np.round((raw[..., band] - low) / (high - low) * 255), 0, 255)
    out[~valid] = 0
    return out


def _stitch(manifest: pd.DataFrame, out_dir, shape) -> np.ndarray:
    stitched = np.zeros(shape, np.uint8)
    for row in manifest.to_dict("records"):
        window = Window(row["row_off"], row["col_off"], row["height"], row["width"])
        stitched[window.slices] = read_raster(out_dir / row["path"])
    return stitched


def test_ingest_scenes_defaults_stretch_16_bit_between_the_2_and_98_percentiles(tmp_path):
    raw = tmp_path / "raw"
    array = noise((64, 64, 3), np.uint16, seed=21) // 8 + 7000  # a narrow range, like real reflectance
    write_raster(raw / "s.tif", array)
    write_table(raw / "scenes.csv", [scene_row("s", "s.tif")])
    manifest = ingest_scenes(load_scene_table(raw / "scenes.csv"), raw, tmp_path / "out")
    expected = _reference_stretch(array, np.ones((64, 64), bool), 2, 98)
    np.testing.assert_array_equal(_stitch(manifest, tmp_path / "out", (64, 64, 3)), expected)


def _landsat_like(seed: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """A 16-bit blue-green-red stack in 7413..8608 with a zero-filled collar (about 20 %)."""
    rng = np.random.default_rng(seed)
    array = rng.integers(7413, 8609, (64, 64, 3), dtype=np.uint16)
    valid = np.ones((64, 64), bool)
    valid[:, :13] = False
    array[~valid] = 0
    return array, valid


@pytest.mark.parametrize("how", ["nodata_tag", "nodata_column", "zero_is_fill"])
def test_16_bit_stretch_uses_valid_pixels_only_and_fill_becomes_a_mask(tmp_path, how):
    raw = tmp_path / "raw"
    array, valid = _landsat_like()
    write_raster(
        raw / "s.tif",
        array,
        crs="EPSG:32650",
        transform=RAW_TRANSFORM,
        nodata=0 if how == "nodata_tag" else None,
    )
    row = scene_row("s", "s.tif") | ({"nodata": "0"} if how == "nodata_column" else {})
    pd.DataFrame([row]).to_csv(raw / "scenes.csv", index=False)
    manifest = ingest_scenes(
        load_scene_table(raw / "scenes.csv"), raw, tmp_path / "out", zero_is_fill=how == "zero_is_fill"
    )
    # With the zeros counted, the low limit would be 0 and valid pixels would use ~50 grey levels.
    expected = _reference_stretch(array, valid, 2, 98)
    np.testing.assert_array_equal(_stitch(manifest, tmp_path / "out", (64, 64, 3)), expected)
    assert manifest["fill_pixels"].sum() == np.count_nonzero(~valid)
    for row in manifest.to_dict("records"):
        with rasterio.open(tmp_path / "out" / row["path"]) as image:
            window = Window(row["row_off"], row["col_off"], row["height"], row["width"])
            np.testing.assert_array_equal(image.dataset_mask() > 0, valid[window.slices])
            assert image.crs == rasterio.crs.CRS.from_epsg(32650)


def test_an_all_fill_scene_is_refused_by_name(tmp_path):
    raw = tmp_path / "raw"
    write_raster(raw / "empty.tif", np.zeros((16, 16, 3), np.uint16), nodata=0)
    with pytest.raises(IngestionError, match=r"empty\.tif \(scene 'e'\) is all fill"):
        ingest_scene(scene_row("e", "empty.tif"), raw, tmp_path / "out")


def test_8_bit_nodata_keeps_pixels_and_becomes_a_mask(tmp_path):
    raw = tmp_path / "raw"
    array = noise((32, 32, 3), seed=23)
    array[:5] = 0
    write_raster(raw / "s.tif", array, crs="EPSG:32650", transform=RAW_TRANSFORM, nodata=0)
    rows = ingest_scene(scene_row("s", "s.tif"), raw, tmp_path / "out", split_factor=1)
    with rasterio.open(tmp_path / "out" / rows[0]["path"]) as image:
        np.testing.assert_array_equal(image.read().transpose(1, 2, 0), array)
        np.testing.assert_array_equal(image.dataset_mask() > 0, (array != 0).any(axis=-1))


def test_rgb_bands_column_reorders_a_bgr_stack_per_scene(tmp_path):
    raw = tmp_path / "raw"
    bgr = noise((16, 16, 3), seed=24)
    write_raster(raw / "bgr.tif", bgr)
    write_raster(raw / "rgb.tif", noise((16, 16, 3), seed=25))
    (raw / "scenes.csv").write_text(
        "scene_id, city, source, capture_date, file, rgb_bands\n"
        "b, hefei, l8, 2021-05-01, bgr.tif, 3 2 1\n"
        'r, hefei, gf2, 2021-05-01, rgb.tif, ""\n'
    )
    manifest = ingest_scenes(load_scene_table(raw / "scenes.csv"), raw, tmp_path / "out", split_factor=1)
    by_scene = manifest.set_index("scene_id")
    np.testing.assert_array_equal(read_raster(tmp_path / "out" / by_scene.loc["b", "path"]), bgr[..., ::-1])
    np.testing.assert_array_equal(
        read_raster(tmp_path / "out" / by_scene.loc["r", "path"]), read_raster(raw / "rgb.tif")
    )
    assert list(by_scene["rgb_bands"]) == ["3 2 1", "1 2 3"]


def test_quoted_comma_rgb_bands_and_bad_values_name_the_row(tmp_path):
    raw = tmp_path / "raw"
    write_raster(raw / "s.tif", noise((16, 16, 3), seed=26))
    (raw / "scenes.csv").write_text(
        'scene_id,city,source,capture_date,file,rgb_bands\ns,hefei,l8,2021-05-01,s.tif,"3,2,1"\n'
    )
    assert load_scene_table(raw / "scenes.csv")["rgb_bands"].tolist() == ["3,2,1"]
    (raw / "scenes.csv").write_text(
        "scene_id,city,source,capture_date,file,rgb_bands\ns,hefei,l8,2021-05-01,s.tif,3 2\n"
    )
    with pytest.raises(
        IngestionError, match=r"scenes\.csv has bad optional columns: scene 's': rgb_bands '3 2'"
    ):
        load_scene_table(raw / "scenes.csv")
    (raw / "scenes.csv").write_text(
        "scene_id,city,source,capture_date,file,rgb_bands\ns,hefei,l8,2021-05-01,s.tif,4 3 2\n"
    )
    with pytest.raises(
        IngestionError, match=r"scene 's': rgb_bands \(4, 3, 2\) .*1\.\.3 of raw scene .*s\.tif"
    ):
        ingest_scenes(load_scene_table(raw / "scenes.csv"), raw, tmp_path / "out", split_factor=1)
    (raw / "scenes.csv").write_text(
        "scene_id,city,source,capture_date,file,nodata\ns,hefei,l8,2021-05-01,s.tif,none\n"
    )
    with pytest.raises(IngestionError, match=r"scene 's': nodata 'none' is not a number"):
        load_scene_table(raw / "scenes.csv")


def test_a_copied_scene_under_another_id_is_refused_naming_both(raw_dir, tmp_path):
    (raw_dir / "copy.tif").write_bytes((raw_dir / "a.tif").read_bytes())
    write_table(raw_dir / "scenes.csv", [scene_row("a", "a.tif"), scene_row("z", "copy.tif")])
    with pytest.raises(IngestionError, match=r"a_r00000_c00000 \(scene a\) = z_r00000_c00000 \(scene z\)"):
        ingest_scenes(load_scene_table(raw_dir / "scenes.csv"), raw_dir, tmp_path / "out")


def test_the_ingestion_node_stretches_16_bit_between_the_2_and_98_percentiles(tmp_path, monkeypatch):
    """What the Kedro node (not only the library default) does with 16-bit scenes."""
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    raw = tmp_path / "raw"
    array = noise((64, 64, 3), np.uint16, seed=23) // 16 + 9000
    write_raster(raw / "s.tif", array)
    write_table(raw / "scenes.csv", [scene_row("s", "s.tif")])
    images_dir, manifest, _ = ingest(raw, IngestionParams(), RuntimeParams(workers=1), "base")
    expected = _reference_stretch(array, np.ones((64, 64), bool), 2, 98)
    np.testing.assert_array_equal(_stitch(manifest, images_dir, (64, 64, 3)), expected)


def test_ingestion_logs_what_it_read_and_wrote(raw_dir, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="urur.dataset.ingestion"):
        manifest = ingest_scenes(pd.read_csv(raw_dir / "scenes.csv", dtype=str), raw_dir, out, workers=1)
    messages = [record.getMessage() for record in caplog.records]
    assert f"ingested {raw_dir / 'a.tif'} -> 4 images in {out}" in messages
    assert f"ingested 3 scenes from {raw_dir} into {len(manifest)} images in {out}" in messages
    # Sorted by image id, with a fresh 0..n-1 index.
    assert list(manifest["image_id"]) == sorted(manifest["image_id"])
    assert list(manifest.index) == list(range(len(manifest)))


def test_split_factor_error_says_what_is_wrong(tmp_path):
    write_raster(tmp_path / "s.tif", noise((4, 4, 3), seed=28))
    with pytest.raises(ValueError, match=r"split_factor must be a positive integer, got 0"):
        validate_raw_scene(tmp_path / "s.tif", split_factor=0)


def test_a_scene_truncated_in_its_last_row_only_is_caught(tmp_path):
    # One-row strips, uncompressed: cutting 12 bytes off the file damages the last row and no other.
    array = noise((16, 8, 3), seed=29)
    profile = {"driver": "GTiff", "height": 16, "width": 8, "count": 3, "dtype": "uint8"}
    with rasterio.open(tmp_path / "s.tif", "w", **profile, tiled=False, blockysize=1) as dataset:
        dataset.write(array.transpose(2, 0, 1))
    data = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "s.tif").write_bytes(data[:-12])
    np.testing.assert_array_equal(read_raster(tmp_path / "s.tif", Window(14, 0, 1, 8)), array[14:15])
    with pytest.raises(RasterReadError, match=r"cannot read raster .*s\.tif"):
        validate_raw_scene(tmp_path / "s.tif")
    assert validate_raw_scene(tmp_path / "s.tif", check_pixels=False).height == 16


def test_header_errors_say_how_to_fix_them(tmp_path):
    write_raster(tmp_path / "float.tif", np.zeros((16, 16, 3), np.float32))
    with pytest.raises(IngestionError) as error:
        validate_raw_scene(tmp_path / "float.tif")
    assert str(error.value) == (
        f"raw scene {tmp_path / 'float.tif'} has pixel type float32; accepted are uint8, uint16: "
        "convert it to 8- or 16-bit unsigned integers"
    )
    write_raster(tmp_path / "five.tif", noise((16, 16, 5)))
    with pytest.raises(IngestionError) as error:
        validate_raw_scene(tmp_path / "five.tif")
    assert str(error.value) == (
        f"raw scene {tmp_path / 'five.tif'} has 5 bands; accepted band counts are (3, 4): "
        "export RGB or RGB+NIR/alpha imagery"
    )


def test_allowed_bands_and_the_scene_id_reach_the_header_checks(raw_dir, tmp_path):
    # b.tif has four bands: refused when only three are allowed, by ingest_scene and ingest_scenes.
    with pytest.raises(IngestionError, match=r"b\.tif has 4 bands; accepted band counts are \(3,\)"):
        ingest_scene(scene_row("b", "b.tif"), raw_dir, tmp_path / "one", allowed_bands=(3,))
    table = pd.DataFrame([scene_row("b", "b.tif")])
    with pytest.raises(IngestionError, match=r"b\.tif has 4 bands; accepted band counts are \(3,\)"):
        ingest_scenes(table, raw_dir, tmp_path / "two", allowed_bands=(3,), workers=1)
    with pytest.raises(IngestionError, match=r"^scene 'b': rgb_bands \(1, 2, 5\) must be three band numbers"):
        ingest_scene(scene_row("b", "b.tif"), raw_dir, tmp_path / "three", rgb_bands=(1, 2, 5))


def test_the_problems_of_several_scenes_are_listed_one_a_line(raw_dir, tmp_path):
    write_raster(raw_dir / "odd.tif", noise((63, 64, 3)))
    write_raster(raw_dir / "five.tif", noise((16, 16, 5)))
    table = pd.DataFrame([scene_row("o", "odd.tif"), scene_row("f", "five.tif")])
    with pytest.raises(IngestionError) as error:
        ingest_scenes(table, raw_dir, tmp_path / "out", workers=1)
    lines = str(error.value).split("\n")
    assert lines[0] == f"2 of 2 raw scenes in {raw_dir} cannot be ingested:"
    assert [line[:2] for line in lines[1:]] == ["- ", "- "]
    assert lines[1].startswith(f"- raw scene {raw_dir / 'odd.tif'} is 63x64 pixels")
    assert lines[2].startswith(f"- raw scene {raw_dir / 'five.tif'} has 5 bands")


def test_manifest_rows_of_ingest_scene_record_bands_and_fill(tmp_path):
    raw = tmp_path / "raw"
    array = noise((8, 8, 4), seed=30)
    array[0, :3] = 0  # three pixels black in every band: fill with zero_is_fill or nodata 0
    array[1, 0, 0] = 0  # black in one band only: never fill
    write_raster(raw / "s.tif", array)
    rows = ingest_scene(scene_row("s", "s.tif"), raw, tmp_path / "a", split_factor=1, rgb_bands=(3, 2, 1))
    assert (rows[0]["rgb_bands"], rows[0]["fill_pixels"]) == ("3 2 1", 0)  # zeros are pixels by default
    np.testing.assert_array_equal(read_raster(tmp_path / "a" / rows[0]["path"]), array[..., [2, 1, 0]])
    rows = ingest_scene(scene_row("s", "s.tif"), raw, tmp_path / "b", split_factor=1, zero_is_fill=True)
    assert rows[0]["fill_pixels"] == 3
    rows = ingest_scene(scene_row("s", "s.tif") | {"nodata": "0"}, raw, tmp_path / "d", split_factor=1)
    assert rows[0]["fill_pixels"] == 3
    with rasterio.open(tmp_path / "d" / rows[0]["path"]) as image:
        assert np.count_nonzero(image.dataset_mask() == 0) == 3


def test_ingest_scene_stretches_between_the_percentiles_it_is_given(tmp_path):
    raw = tmp_path / "raw"
    array = noise((32, 32, 3), np.uint16, seed=31)
    write_raster(raw / "s.tif", array)
    rows = ingest_scene(
        scene_row("s", "s.tif"), raw, tmp_path / "out", split_factor=1, low_pct=5, high_pct=90
    )
    expected = _reference_stretch(array, np.ones((32, 32), bool), 5, 90)
    np.testing.assert_array_equal(read_raster(tmp_path / "out" / rows[0]["path"]), expected)


def test_an_all_fill_8_bit_scene_has_no_stretch_to_refuse(tmp_path):
    raw = tmp_path / "raw"
    write_raster(raw / "empty.tif", np.zeros((16, 16, 3), np.uint8), nodata=0)
    rows = ingest_scene(scene_row("e", "empty.tif"), raw, tmp_path / "out")
    assert [row["fill_pixels"] for row in rows] == [64, 64, 64, 64]


def test_ingest_scenes_defaults_keep_black_pixels_and_name_the_table(tmp_path):
    raw = tmp_path / "raw"
    array = noise((8, 8, 3), seed=32)
    array[0, :2] = 0
    write_raster(raw / "s.tif", array)
    manifest = ingest_scenes(pd.DataFrame([scene_row("s", "s.tif")]), raw, tmp_path / "out", split_factor=1)
    assert manifest["fill_pixels"].tolist() == [0]
    with pytest.raises(IngestionError, match=r"^the scene table lists no scenes; "):
        ingest_scenes(pd.DataFrame(columns=list(scene_row("s", "s.tif"))), raw, tmp_path / "out2")
    with pytest.raises(IngestionError, match=r"^scenes\.csv lists no scenes; "):
        ingest_scenes(
            pd.DataFrame(columns=list(scene_row("s", "s.tif"))), raw, tmp_path / "out3", source="scenes.csv"
        )


def test_a_copied_scene_is_reported_as_the_scenes_of_the_raw_folder(raw_dir, tmp_path):
    (raw_dir / "copy.tif").write_bytes((raw_dir / "a.tif").read_bytes())
    table = pd.DataFrame([scene_row("a", "a.tif"), scene_row("z", "copy.tif")])
    with pytest.raises(IngestionError, match=rf"^the scenes in {raw_dir} hold the same pixels"):
        ingest_scenes(table, raw_dir, tmp_path / "out", workers=1)


def test_the_manifest_is_sorted_by_image_id_whatever_the_table_order(raw_dir, tmp_path, capsys):
    table = pd.DataFrame([scene_row("c", "pngs/c.png"), scene_row("a", "a.tif")])
    manifest = ingest_scenes(table, raw_dir, tmp_path / "out", workers=1)
    assert list(manifest["image_id"]) == [
        "a_r00000_c00000",
        "a_r00000_c00048",
        "a_r00032_c00000",
        "a_r00032_c00048",
        *sorted(manifest["image_id"][4:]),
    ]
    assert manifest["image_id"][4:].str.startswith("c_").all()
    assert list(manifest.index) == list(range(8))
    assert "\ringesting scenes:" in capsys.readouterr().err  # the progress bar says what it counts


def test_an_all_fill_16_bit_scene_is_refused_saying_what_to_check(tmp_path):
    raw = tmp_path / "raw"
    write_raster(raw / "empty.tif", np.zeros((16, 16, 3), np.uint16), nodata=0)
    with pytest.raises(IngestionError) as error:
        ingest_scene(scene_row("e", "empty.tif"), raw, tmp_path / "out")
    assert str(error.value) == (
        f"raw scene {raw / 'empty.tif'} (scene 'e') is all fill (nodata) in the sampled pixels; "
        "check its nodata value or zero_is_fill, or remove its row"
    )
