"""The embedded synthetic dataset: scenes, their files, and the simulated annotators."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from scipy import ndimage

from urur.classes import URUR_CLASSES, URUR_PALETTE, rgb_to_index
from urur.dataset.annotation.export import instance_colours, write_annotation_export
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.windows import Window
from urur.synthetic import (
    SceneSpec,
    annotate_images,
    generate_scenes,
    simulate_annotations,
    synthesize_scene,
)
from urur.synthetic.annotators import AnnotatorHabits
from urur.synthetic.appearance import render_rows, scene_look
from urur.synthetic.cities import city_style
from urur.synthetic.layout import BUILDING, SceneLayout, render_layout
from urur.synthetic.noise import SmoothField, hash_uniform

NUM_CLASSES = len(URUR_CLASSES)


@pytest.fixture(scope="module")
def scene512():
    return synthesize_scene(SceneSpec(seed=0, city_index=1, scene_index=0, size=512))


@pytest.fixture(scope="module")
def small_scene():
    return synthesize_scene(SceneSpec(seed=0, city_index=0, scene_index=0, size=256))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """2 cities x 1 scene of 256² GeoTIFFs, generated on two processes."""
    root = tmp_path_factory.mktemp("synthetic")
    table = generate_scenes(
        root / "scenes", root / "truth", num_cities=2, scenes_per_city=1, scene_size=256, seed=3, workers=2
    )
    return root, table


# --- randomness building blocks ---------------------------------------------------------------


def test_hash_uniform_depends_only_on_seed_and_keys():
    rows, cols = np.arange(5)[:, None], np.arange(7)[None, :]
    values = hash_uniform(11, rows, cols)
    assert values.shape == (5, 7) and values.dtype == np.float32
    assert ((values >= 0) & (values < 1)).all()
    np.testing.assert_array_equal(values[2:4], hash_uniform(11, rows[2:4], cols))
    assert not np.array_equal(values, hash_uniform(12, rows, cols))
    assert hash_uniform(11, -3, 4) != hash_uniform(11, 3, 4)


def test_smooth_field_rows_match_the_whole_field():
    field = SmoothField(np.random.default_rng(0), 90, 70, cell=20, octaves=3)
    whole = field.rows(0, 90)
    np.testing.assert_allclose(np.concatenate([field.rows(0, 33), field.rows(33, 90)]), whole, atol=1e-5)
    # Smooth: neighbouring pixels differ much less than the field varies overall.
    assert np.abs(np.diff(whole, axis=1)).mean() < 0.1 * whole.std()


# --- scenes in memory -------------------------------------------------------------------------


def test_scene_is_deterministic_for_a_seed(small_scene):
    again = synthesize_scene(SceneSpec(seed=0, city_index=0, scene_index=0, size=256))
    np.testing.assert_array_equal(again.labels, small_scene.labels)
    np.testing.assert_array_equal(again.image, small_scene.image)
    other = synthesize_scene(SceneSpec(seed=1, city_index=0, scene_index=0, size=256))
    assert (other.labels != small_scene.labels).mean() > 0.2
    assert not np.array_equal(other.image, small_scene.image)


def test_strip_height_does_not_change_the_scene():
    style = city_style(5, 2)
    planes = [
        render_layout(SceneLayout(np.random.default_rng(9), 200, 150, style), rows) for rows in (200, 37)
    ]
    for whole, strips in zip(*planes, strict=True):
        np.testing.assert_array_equal(whole, strips)
    labels, tone, pattern = planes[0]
    look = scene_look(np.random.default_rng(1), style, dt.date(2020, 6, 1), 200)
    whole = render_rows(labels, tone, pattern, look, 0, 200)
    pieces = np.concatenate([render_rows(labels, tone, pattern, look, a, b) for a, b in ((0, 61), (61, 200))])
    np.testing.assert_array_equal(whole, pieces)


def test_moderate_scene_has_every_class(scene512):
    counts = np.bincount(scene512.labels.ravel(), minlength=NUM_CLASSES)
    assert len(counts) == NUM_CLASSES, "values outside the URUR classes"
    assert (counts > 0).all(), f"classes absent: {[URUR_CLASSES[c] for c in np.flatnonzero(counts == 0)]}"
    assert scene512.image.shape == (512, 512, 3) and scene512.image.dtype == np.uint8


def test_class_colours_are_separable(scene512):
    pixels = scene512.image.reshape(-1, 3).astype(np.float64)
    labels = scene512.labels.ravel()
    means = np.array([pixels[labels == c].mean(axis=0) for c in range(NUM_CLASSES)])
    distance = np.linalg.norm(means[:, None] - means[None, :], axis=-1)
    distance[np.eye(NUM_CLASSES, dtype=bool)] = np.inf
    assert distance.min() > 12, f"closest class mean colours are {distance.min():.1f} apart"
    # Texture differs too: woodland is rougher than water.
    stds = [pixels[labels == c].std(axis=0).mean() for c in range(NUM_CLASSES)]
    assert stds[URUR_CLASSES.index("woodland")] > 2 * stds[URUR_CLASSES.index("water")]


def test_scene_has_rich_context(scene512):
    count = ndimage.label(scene512.labels == BUILDING)[1]
    assert count > 30
    areas = np.concatenate(
        [np.bincount(ndimage.label(scene512.labels == c)[0].ravel())[1:] for c in range(8)]
    )
    assert len(areas) > 100
    low, high = np.percentile(areas, [10, 90])
    assert high > 20 * low and areas.max() > 10_000, "objects should span several scales"


def test_layout_has_no_isolated_pixels(scene512):
    labels = np.pad(scene512.labels, 1, mode="edge")
    centre = labels[1:-1, 1:-1]
    alone = (
        (labels[:-2, 1:-1] != centre)
        & (labels[2:, 1:-1] != centre)
        & (labels[1:-1, :-2] != centre)
        & (labels[1:-1, 2:] != centre)
    )
    assert alone.sum() == 0


def test_cities_differ_in_style_and_land_use():
    styles = [city_style(0, c) for c in range(4)]
    assert len({s.tint for s in styles}) == 4
    assert len({round(s.urban_fraction, 3) for s in styles}) == 4
    assert city_style(0, 2) == city_style(0, 2)


def test_too_small_scene_is_rejected():
    with pytest.raises(ValueError, match="at least 64"):
        synthesize_scene(SceneSpec(0, 0, 0, 32))


# --- scene files ------------------------------------------------------------------------------


def test_scene_table_schema(generated):
    root, table = generated
    assert list(table.columns) == ["scene_id", "city", "source", "capture_date", "file"]
    on_disk = pd.read_csv(root / "scenes" / "scenes.csv")
    pd.testing.assert_frame_equal(on_disk, table)
    assert table["scene_id"].is_unique and len(table) == 2
    assert list(table["city"]) == ["city00", "city01"]
    for row in table.itertuples():
        assert (root / "scenes" / row.file).is_file()
        assert (root / "truth" / f"{row.scene_id}.tif").is_file()
        dt.date.fromisoformat(row.capture_date)
    assert not [p for p in (root / "scenes").iterdir() if p.name.startswith(".")], "temporary files left"


def test_geotiff_has_crs_transform_and_matches_truth(generated):
    root, table = generated
    origins = []
    for row in table.itertuples():
        with rasterio.open(root / "scenes" / row.file) as src:
            assert src.count == 3 and src.dtypes == ("uint8",) * 3
            assert src.crs.to_epsg() in (32649, 32650, 32651)
            assert (src.transform.a, src.transform.e) == (0.5, -0.5)
            assert src.block_shapes[0] == (256, 256)
            image = np.moveaxis(src.read(), 0, -1)
            origins.append((src.transform.c, src.transform.f))
            crs, transform = src.crs, src.transform
        with rasterio.open(root / "truth" / f"{row.scene_id}.tif") as truth:
            assert truth.count == 1 and truth.crs == crs and truth.transform == transform
            labels = truth.read(1)
        city, scene = int(row.scene_id[4:6]), int(row.scene_id[-2:])
        expected = synthesize_scene(SceneSpec(3, city, scene, 256))
        np.testing.assert_array_equal(labels, expected.labels)
        np.testing.assert_array_equal(image, expected.image)
    assert len(set(origins)) == len(origins)


def test_generated_files_are_byte_identical_across_runs(generated, tmp_path):
    root, table = generated
    generate_scenes(
        tmp_path / "s", tmp_path / "t", num_cities=2, scenes_per_city=1, scene_size=256, seed=3, workers=1
    )
    for row in table.itertuples():
        assert (tmp_path / "s" / row.file).read_bytes() == (root / "scenes" / row.file).read_bytes()
    assert (tmp_path / "s" / "scenes.csv").read_bytes() == (root / "scenes" / "scenes.csv").read_bytes()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # PNG/JPEG carry none
@pytest.mark.parametrize(
    ("image_format", "bit_depth", "bands"), [("png", 8, 3), ("png", 16, 3), ("jpg", 8, 3), ("tif", 16, 4)]
)
def test_other_image_formats(tmp_path, image_format, bit_depth, bands):
    table = generate_scenes(
        tmp_path / "s",
        tmp_path / "t",
        num_cities=1,
        scenes_per_city=1,
        scene_size=96,
        seed=0,
        image_format=image_format,
        bit_depth=bit_depth,
        bands=bands,
        workers=1,
    )
    path = tmp_path / "s" / table.loc[0, "file"]
    assert path.suffix == f".{image_format}"
    reference = synthesize_scene(SceneSpec(0, 0, 0, 96), bands=bands).image
    with rasterio.open(path) as src:
        assert src.count == bands and src.dtypes[0] == f"uint{bit_depth}"
        data = np.moveaxis(src.read(), 0, -1)
        if bands == 4:
            assert src.descriptions == ("red", "green", "blue", "nir")
    if bit_depth == 16:
        assert data.max() < 4096  # 12 significant bits
        np.testing.assert_array_equal(data >> 4, reference)
    elif image_format == "jpg":
        assert np.abs(data.astype(int) - reference).mean() < 8  # lossy but close
    else:
        np.testing.assert_array_equal(data, reference)
    if bands == 4:  # near-infrared: vegetation bright, water dark
        labels = synthesize_scene(SceneSpec(0, 0, 0, 96)).labels
        nir = reference[..., 3].astype(float)
        vegetation = np.isin(labels, [URUR_CLASSES.index("farmland"), URUR_CLASSES.index("woodland")])
        assert nir[vegetation].mean() > nir[labels == URUR_CLASSES.index("water")].mean() + 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_format": "bmp"}, "image_format must be one of"),
        ({"bit_depth": 12}, "bit_depth must be 8 or 16"),
        ({"bands": 1}, "bands must be 3"),
        ({"image_format": "png", "bands": 4}, "near-infrared"),
        ({"image_format": "jpg", "bit_depth": 16}, "JPEG is 8-bit only"),
        ({"num_cities": 0}, "at least 1"),
    ],
)
def test_bad_generation_parameters(tmp_path, kwargs, message):
    params = {"num_cities": 1, "scenes_per_city": 1, "scene_size": 64, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_scenes(tmp_path / "s", tmp_path / "t", **params)
    assert not (tmp_path / "s" / "scenes.csv").exists()


# --- simulated annotators ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def annotated(small_scene):
    windows = patch_grid(256, 256, patch_size=100, overlap=12)
    return windows, simulate_annotations(small_scene.labels, "img", windows, seed=4)


def test_annotations_are_mostly_but_not_exactly_the_truth(small_scene, annotated):
    windows, patches = annotated
    assert list(patches) == [patch_id("img", w) for w in windows]
    agree = np.array([(patches[patch_id("img", w)] == small_scene.labels[w.slices]).mean() for w in windows])
    assert agree.mean() > 0.95
    assert (agree < 1).any()
    for mask in patches.values():
        assert mask.dtype == np.uint8 and mask.max() < NUM_CLASSES


def test_neighbouring_patches_disagree_somewhere_in_their_overlap(annotated):
    windows, patches = annotated
    disagreements = 0
    for a, b in itertools.pairwise(windows):
        if a.row != b.row:
            continue
        shared = slice(b.col, a.col + a.width)  # columns both patches cover
        left = patches[patch_id("img", a)][:, shared.start - a.col : shared.stop - a.col]
        right = patches[patch_id("img", b)][:, : shared.stop - b.col]
        disagreements += int((left != right).any())
    assert disagreements > 0


def test_annotations_are_deterministic_and_independent_per_patch(small_scene, annotated):
    windows, patches = annotated
    subset = simulate_annotations(small_scene.labels, "img", windows[3:5], seed=4)
    for pid, mask in subset.items():
        np.testing.assert_array_equal(mask, patches[pid])
    other = simulate_annotations(small_scene.labels, "img", windows, seed=5)
    assert any(not np.array_equal(other[pid], patches[pid]) for pid in patches)


def test_careful_annotators_copy_the_truth(small_scene):
    careful = AnnotatorHabits(shift_probability=0, dilate_probability=0, mislabel_probability=0)
    windows = patch_grid(256, 256, 100, 12)
    patches = simulate_annotations(small_scene.labels, "img", windows, seed=0, habits=careful)
    for window in windows:
        np.testing.assert_array_equal(patches[patch_id("img", window)], small_scene.labels[window.slices])


def test_missing_fraction_leaves_patches_unannotated(small_scene):
    windows = patch_grid(256, 256, 100, 12)
    half = simulate_annotations(small_scene.labels, "img", windows, seed=0, missing_fraction=0.5)
    assert 0 < len(half) < len(windows)
    assert simulate_annotations(small_scene.labels, "img", windows, seed=0, missing_fraction=1.0) == {}
    with pytest.raises(ValueError, match="missing_fraction"):
        simulate_annotations(small_scene.labels, "img", windows, seed=0, missing_fraction=1.5)


def test_bad_truth_is_rejected(small_scene):
    with pytest.raises(ValueError, match="uint8 label map"):
        simulate_annotations(small_scene.labels.astype(np.int32), "img", [], seed=0)
    with pytest.raises(ValueError, match="reaches outside"):
        simulate_annotations(small_scene.labels, "img", [Window(200, 0, 100, 100)], seed=0)
    eight = small_scene.labels.copy()
    eight[3, 4] = len(URUR_CLASSES)
    with pytest.raises(ValueError, match=r"truth of img has value 8; URUR classes are 0\.\.7"):
        simulate_annotations(eight, "img", [], seed=0)


def _read_png(data: bytes | Path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data) if isinstance(data, bytes) else data))


def test_index_and_rgb_exports_round_trip(tmp_path, annotated):
    _, patches = annotated
    index_dir = write_annotation_export(tmp_path, "img", patches, "index")
    assert index_dir == tmp_path / "img"
    for pid, mask in patches.items():
        np.testing.assert_array_equal(_read_png(index_dir / f"{pid}.png"), mask)
    rgb_dir = write_annotation_export(tmp_path / "rgb", "img", patches, "rgb")
    for pid, mask in patches.items():
        rgb = _read_png(rgb_dir / f"{pid}.png")
        assert rgb.shape == (*mask.shape, 3)
        np.testing.assert_array_equal(rgb_to_index(rgb), mask)


def test_cvat_export_round_trips_through_its_labelmap(tmp_path, annotated):
    _, patches = annotated
    zip_path = write_annotation_export(tmp_path, "img", patches, "cvat")
    assert zip_path == tmp_path / "img.zip"
    with zipfile.ZipFile(zip_path) as archive:
        lines = archive.read("labelmap.txt").decode().splitlines()
        assert lines[0] == "# label:color_rgb:parts:actions"
        colour_of = {}
        for line in lines[1:]:
            name, rgb, parts, actions = line.split(":")
            assert parts == actions == ""
            colour_of[name] = tuple(int(v) for v in rgb.split(","))
        assert list(colour_of) == ["background", *URUR_CLASSES[1:]]
        palette = np.array(
            [colour_of["background"], *(colour_of[n] for n in URUR_CLASSES[1:])], dtype=np.uint8
        )
        np.testing.assert_array_equal(palette, URUR_PALETTE)
        assert archive.read("ImageSets/Segmentation/default.txt").decode().split() == list(patches)
        for pid, mask in patches.items():
            np.testing.assert_array_equal(
                rgb_to_index(_read_png(archive.read(f"SegmentationClass/{pid}.png")), palette), mask
            )
            objects = _read_png(archive.read(f"SegmentationObject/{pid}.png"))
            packed = objects[..., 0].astype(int) << 16 | objects[..., 1].astype(int) << 8 | objects[..., 2]
            expected = sum(ndimage.label(mask == c)[1] for c in range(1, NUM_CLASSES))
            assert len(np.unique(packed[mask != 0])) == expected
            assert (packed[mask == 0] == 0).all()


def test_cvat_exports_of_equal_masks_are_equal_bytes_at_any_time(tmp_path, annotated, monkeypatch):
    _, patches = annotated
    first = write_annotation_export(tmp_path / "one", "img", patches, "cvat").read_bytes()
    # A day later (zipfile stamps entries with time.time() unless told otherwise).
    later = time.time() + 86400
    monkeypatch.setattr(zipfile.time, "time", lambda: later)
    second = write_annotation_export(tmp_path / "two", "img", patches, "cvat").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "two" / "img.zip") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_instance_colours_are_distinct():
    colours = instance_colours(3000)
    assert tuple(colours[0]) == (0, 0, 0)
    assert tuple(colours[1]) == (128, 0, 0)  # Pascal VOC's first colour
    assert len({tuple(c) for c in colours}) == 3001


def test_export_rejects_bad_input_and_writes_nothing(tmp_path, annotated):
    _, patches = annotated
    bad = dict(patches)
    bad[next(iter(bad))] = np.full((100, 100), 9, dtype=np.uint8)
    with pytest.raises(ValueError, match="URUR class values"):
        write_annotation_export(tmp_path, "img", bad, "cvat")
    with pytest.raises(ValueError, match="format must be one of"):
        write_annotation_export(tmp_path, "img", patches, "coco")
    assert list(tmp_path.iterdir()) == []


def _manifest(table: pd.DataFrame, size: int = 256, split: int = 2) -> pd.DataFrame:
    side = size // split
    return pd.DataFrame(
        [
            {
                "image_id": f"{scene}_{r}{c}",
                "scene_id": scene,
                "row_off": r * side,
                "col_off": c * side,
                "height": side,
                "width": side,
            }
            for scene in table["scene_id"]
            for r in range(split)
            for c in range(split)
        ]
    )


@pytest.mark.parametrize("export_format", ["index", "rgb", "cvat", "label_studio"])
def test_annotate_images_reads_each_image_window_and_merges_back(tmp_path, generated, export_format):
    from urur.dataset.annotation.merge import merge_image_annotations

    root, table = generated
    manifest = _manifest(table)
    out = tmp_path / "annotations"
    first = manifest.loc[0, "image_id"]
    earlier = "index" if export_format == "cvat" else "cvat"
    write_annotation_export(out, first, {}, earlier)  # an earlier run's export of one image
    (out / "notes.txt").write_text("not ours")
    summary = annotate_images(
        root / "truth", manifest, out, patch_size=100, overlap=12, format=export_format, seed=2, workers=2
    )
    assert list(summary["image_id"]) == list(manifest["image_id"])
    assert (summary["patches"] == len(patch_grid(128, 128, 100, 12))).all()
    assert sorted(p.name for p in out.iterdir()) == sorted([*summary["export"], "notes.txt"])
    row = manifest.iloc[3]
    with rasterio.open(root / "truth" / f"{row.scene_id}.tif") as src:
        truth = src.read(1)[row.row_off : row.row_off + 128, row.col_off : row.col_off + 128]
    merged, _ = merge_image_annotations(row.image_id, 128, 128, out, patch_size=100, overlap=12)
    agreement = (merged == truth).mean()
    assert 0.9 < agreement < 1


def test_annotate_images_explains_bad_manifests(tmp_path, generated):
    root, table = generated
    manifest = _manifest(table)
    with pytest.raises(ValueError, match="lacks columns"):
        annotate_images(root / "truth", manifest.drop(columns="row_off"), tmp_path / "a")
    with pytest.raises(ValueError, match=r"format must be one of \(.*'cvat'.*\), got 'png'"):
        annotate_images(root / "truth", manifest, tmp_path / "a", format="png")
    with pytest.raises(FileNotFoundError, match="no truth raster"):
        annotate_images(root / "truth", manifest.assign(scene_id="nowhere"), tmp_path / "a")
    with pytest.raises(ValueError, match="does not fit"):
        annotate_images(root / "truth", manifest.assign(row_off=200), tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_sixteen_bit_conversion_is_strip_invariant(small_scene):
    from urur.synthetic.scenes import to_sixteen_bit

    whole = to_sixteen_bit(small_scene.image, seed=7)
    strips = np.concatenate(
        [to_sixteen_bit(small_scene.image[:100], 7), to_sixteen_bit(small_scene.image[100:], 7, 100)]
    )
    np.testing.assert_array_equal(whole, strips)
    np.testing.assert_array_equal(whole >> 4, small_scene.image)
    assert len(np.unique(whole & 15)) == 16  # the dither uses all low bits
