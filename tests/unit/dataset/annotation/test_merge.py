"""Annotated patches -> full-size masks: the merge, the pre-label fill, image fill, georeferencing and QA."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import rasterio

from tests.support.annotation_exports import (
    OVERLAP,
    SIZE,
    WINDOWS,
    H,
    W,
    example_labels,
    merge_export,
    png_bytes,
    write_cvat_zip,
    write_png_patches,
)
from tests.unit.dataset.test_tiling import _reference_merge
from urur.classes import URUR_PALETTE
from urur.dataset.annotation.formats import AnnotationError
from urur.dataset.annotation.merge import merge_annotations, merge_image_annotations
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster, write_raster


@pytest.mark.parametrize("kind", ["index", "rgb", "cvat"])
def test_consistent_patches_merge_back_to_the_labels(tmp_path, kind):
    labels = example_labels()
    if kind == "cvat":
        write_cvat_zip(tmp_path / "img.zip", "img", labels)
    else:
        write_png_patches(tmp_path, "img", labels, rgb=kind == "rgb")
    mask, qa = merge_export(tmp_path)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, labels)
    assert qa["patches_expected"] == qa["patches_found"] == len(WINDOWS) == 12  # 4 rows x 3 columns
    assert (qa["patches_missing"], qa["patches_invalid"], qa["patches_unexpected"]) == (0, 0, 0)
    assert qa["overlap_agreement"] == qa["min_pair_agreement"] == 1.0


def test_missing_patch_is_an_error_naming_the_expected_path(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    gone = tmp_path / "img" / f"{patch_id('img', WINDOWS[5])}.png"
    gone.unlink()
    with pytest.raises(
        AnnotationError, match=rf"1 annotation patch\(es\).*\n  {gone}: missing \(expected at this path\)"
    ) as error:
        merge_export(tmp_path)
    assert str(error.value) == (
        f"image img: 1 annotation patch(es) cannot be used:\n  {gone}: missing (expected at this path)\n"
        "Annotate or re-export these patches, or fill them from pre-label masks: set "
        "annotation.on_missing: prelabel and annotation.prelabels: <folder> holding "
        "<image_id>.tif or <image_id>.png (one band of class values, the image's size)."
    )
    with pytest.raises(AnnotationError, match="no pre-label for this image"):
        merge_export(tmp_path, on_missing="prelabel", prelabel_path=tmp_path / "nowhere.png")


def test_on_missing_prelabel_without_a_pre_label_says_where_one_goes(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    gone = tmp_path / "img" / f"{patch_id('img', WINDOWS[5])}.png"
    gone.unlink()
    fix = (
        "; put one there (one band of class values, the image's size, e.g. a model's prediction) "
        "or annotate these patches."
    )
    for prelabel_path, where in (
        (None, "no pre-label folder given: set annotation.prelabels"),
        (tmp_path / "nowhere.tif", str(tmp_path / "nowhere.tif")),
    ):
        with pytest.raises(AnnotationError) as error:
            merge_export(tmp_path, on_missing="prelabel", prelabel_path=prelabel_path)
        assert str(error.value) == (
            f"image img: 1 annotation patch(es) cannot be used:\n  {gone}: missing (expected at this path)\n"
            f"on_missing=prelabel, but there is no pre-label for this image ({where}){fix}"
        )


def test_missing_and_invalid_patches_fall_back_to_the_prelabel(tmp_path):
    labels = np.ones((H, W), np.uint8)
    write_png_patches(tmp_path / "ann", "img", labels)
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[5])}.png").unlink()
    invalid = np.full((12, 12), 200, np.uint8)
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[1])}.png").write_bytes(png_bytes(invalid))
    prelabel = example_labels(seed=3)
    write_raster(tmp_path / "img.png", prelabel)
    mask, qa = merge_export(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "img.png")
    patches = [crop(prelabel, w) if k in (1, 5) else crop(labels, w) for k, w in enumerate(WINDOWS)]
    np.testing.assert_array_equal(mask, _reference_merge(patches, WINDOWS, H, W))
    assert set(np.unique(mask)) > {1}  # the pre-label did fill something
    assert (
        qa["patches_found"],
        qa["patches_missing"],
        qa["patches_invalid"],
        qa["patches_from_prelabel"],
    ) == (len(WINDOWS) - 1, 1, 1, 2)


def test_prelabel_of_another_size_is_an_error_naming_it(tmp_path):
    write_png_patches(tmp_path / "ann", "img", example_labels())
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[0])}.png").unlink()
    write_raster(tmp_path / "img.png", np.zeros((H, W + 1), np.uint8))
    with pytest.raises(
        AnnotationError, match=rf"pre-label {tmp_path / 'img.png'} is 30x26 but its image is 30x25"
    ) as error:
        merge_export(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "img.png")
    assert str(error.value).endswith("30x25; regenerate the pre-label for this image")


def test_overlap_agreement_counts_disagreeing_pixels_per_neighbour_pair(tmp_path):
    # 10x10 image, patches of 6 with overlap 2 at rows/cols 0 and 4: four patches. Horizontal and
    # vertical neighbours share 6x2 = 12 pixels (4 pairs), diagonal ones 2x2 = 4 (2 pairs): 56
    # overlap pixels. Everything is 0 except pixel (5, 4) in the top-right patch, which is 5.
    # That pixel lies in the top-right patch's overlaps with all three others, so 3 pairs
    # disagree on one pixel: 53/56 overall; the diagonal pair (top-right, bottom-left) is worst
    # at 3/4.
    windows = patch_grid(10, 10, 6, 2)
    (tmp_path / "img").mkdir()
    for window in windows:
        patch = np.zeros((6, 6), np.uint8)
        if (window.row, window.col) == (0, 4):
            patch[5, 0] = 5
        (tmp_path / "img" / f"{patch_id('img', window)}.png").write_bytes(png_bytes(patch))
    mask, qa = merge_image_annotations("img", 10, 10, tmp_path, patch_size=6, overlap=2)
    assert qa["overlap_pixels"] == 56
    assert qa["overlap_agreement"] == pytest.approx(53 / 56)
    assert qa["min_pair_agreement"] == pytest.approx(3 / 4)
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == ("img_r00000_c00004", "img_r00004_c00000")
    assert not mask.any()  # (5, 4) belongs to the bottom-left patch (row 5 is past the row split)


def test_merge_annotations_writes_one_mask_per_image_and_a_qa_table(tmp_path, capsys):
    first, second = example_labels(1), example_labels(2)
    write_png_patches(tmp_path / "ann", "a", first)
    write_cvat_zip(tmp_path / "ann" / "b.zip", "b", second)
    manifest = pd.DataFrame({"image_id": ["a", "b"], "height": [H, H], "width": [W, W], "city": ["x", "y"]})
    qa = merge_annotations(
        manifest, tmp_path / "ann", tmp_path / "masks", patch_size=SIZE, overlap=OVERLAP, workers=1
    )
    assert list(qa["image_id"]) == ["a", "b"]
    assert (qa["patches_found"] == len(WINDOWS)).all()
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "a")), first)
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "b")), second)
    # The progress bar names the step.
    assert re.search(r"(^|\r)merging annotations: ", capsys.readouterr().err)
    with pytest.raises(ValueError, match=r"lacks columns \['height'\]"):
        merge_annotations(manifest.drop(columns="height"), tmp_path / "ann", tmp_path / "masks")


def test_image_fill_becomes_255_and_masks_are_georeferenced_geotiffs(tmp_path):
    labels = example_labels(5)
    write_png_patches(tmp_path / "ann", "a", labels)
    valid = np.ones((H, W), bool)
    valid[:, :7] = False  # a fill collar the annotators labelled anyway
    transform = (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0)
    write_raster(image_path(tmp_path / "images", "a"), np.zeros((H, W, 3), np.uint8), valid=valid)
    manifest = pd.DataFrame(
        {
            "image_id": ["a"],
            "path": ["a.tif"],
            "height": [H],
            "width": [W],
            "crs": ["EPSG:32650"],
            "transform": ["[0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0]"],
        }
    )
    qa = merge_annotations(
        manifest,
        tmp_path / "ann",
        tmp_path / "masks",
        images_dir=tmp_path / "images",
        patch_size=SIZE,
        overlap=OVERLAP,
        workers=1,
    )
    expected = labels.copy()
    expected[:, :7] = 255
    with rasterio.open(mask_path(tmp_path / "masks", "a")) as mask:
        np.testing.assert_array_equal(mask.read(1), expected)
        assert (mask.count, mask.dtypes[0], mask.nodata) == (1, "uint8", 255)
        assert mask.crs.to_epsg() == 32650 and tuple(mask.transform)[:6] == transform
        assert mask.colormap(1)[2] == (*URUR_PALETTE[2], 255) and mask.colormap(1)[255][3] == 0
        assert mask.profile["tiled"]
    assert (qa.loc[0, "fill_pixels"], qa.loc[0, "ignore_pixels"]) == (H * 7, H * 7)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # b's mask has none
def test_manifest_paths_and_missing_georeferencing_are_followed_per_image(tmp_path):
    """A ``path`` names the image's file in the store (empty: the store's layout); a missing
    (NaN) ``crs`` or ``transform``, as a manifest table holds it, gives a mask without them."""
    labels = example_labels(6)
    valid_a, valid_b = np.ones((H, W), bool), np.ones((H, W), bool)
    valid_a[:, :3] = False
    valid_b[:5] = False
    write_raster(tmp_path / "images" / "city" / "a_store.tif", np.zeros((H, W, 3), np.uint8), valid=valid_a)
    write_raster(image_path(tmp_path / "images", "b"), np.zeros((H, W, 3), np.uint8), valid=valid_b)
    for image_id in ("a", "b"):
        write_png_patches(tmp_path / "ann", image_id, labels)
    manifest = pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "path": ["city/a_store.tif", ""],
            "height": [H, H],
            "width": [W, W],
            "crs": ["EPSG:32650", np.nan],
            "transform": ["[0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0]", np.nan],
        }
    )
    qa = merge_annotations(
        manifest,
        tmp_path / "ann",
        tmp_path / "masks",
        images_dir=tmp_path / "images",
        patch_size=SIZE,
        overlap=OVERLAP,
        workers=1,
    )
    assert list(qa["fill_pixels"]) == [H * 3, 5 * W]
    with rasterio.open(mask_path(tmp_path / "masks", "a")) as mask:
        assert mask.crs.to_epsg() == 32650 and (mask.read(1)[:, :3] == 255).all()
    with rasterio.open(mask_path(tmp_path / "masks", "b")) as mask:
        assert mask.crs is None and (mask.read(1)[:5] == 255).all()
        np.testing.assert_array_equal(mask.read(1)[5:], labels[5:])


def test_missing_patch_message_says_what_exists(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    (tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png").unlink()
    with pytest.raises(
        AnnotationError, match=r"set annotation.on_missing: prelabel and annotation.prelabels"
    ) as error:
        merge_export(tmp_path)
    assert "stage" not in str(error.value)
    with pytest.raises(
        AnnotationError, match=r"no pre-label folder given: set annotation.prelabels.*annotate"
    ) as error:
        merge_export(tmp_path, on_missing="prelabel")
    assert "stage" not in str(error.value)


def test_bad_prelabels_and_validity_are_named(tmp_path):
    write_png_patches(tmp_path / "ann", "img", example_labels())
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[0])}.png").unlink()
    write_raster(tmp_path / "rgb.tif", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(
        AnnotationError, match=rf"pre-label {tmp_path / 'rgb.tif'} has 3 bands; a pre-label is one band"
    ):
        merge_export(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "rgb.tif")
    values = np.zeros((H, W), np.uint8)
    values[4, 4] = 9
    write_raster(tmp_path / "nine.tif", values)
    with pytest.raises(
        AnnotationError,
        match=rf"pre-label {tmp_path / 'nine.tif'} has values \[9\] outside the class values 0..7 .*regen",
    ):
        merge_export(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "nine.tif")
    write_png_patches(tmp_path / "whole", "img", example_labels())
    with pytest.raises(ValueError, match=r"validity of image img is \(30, 24\), expected \(30, 25\)"):
        merge_export(tmp_path / "whole", valid=np.ones((H, W - 1), bool))


def test_merge_annotations_takes_prelabels_from_the_folder_tif_first(tmp_path):
    """``prelabels_dir/<image_id>.tif`` or else ``.png`` fills the missing patches of each image."""
    labels = np.ones((H, W), np.uint8)
    ids = ["tif_only", "png_only", "both"]
    for image_id in ids:
        write_png_patches(tmp_path / "ann", image_id, labels)
        (tmp_path / "ann" / image_id / f"{patch_id(image_id, WINDOWS[0])}.png").unlink()
    from_tif, from_png = example_labels(seed=7), example_labels(seed=8)
    write_raster(mask_path(tmp_path / "pre", "tif_only"), from_tif)
    write_raster(tmp_path / "pre" / "png_only.png", from_png)
    write_raster(mask_path(tmp_path / "pre", "both"), from_tif)
    write_raster(tmp_path / "pre" / "both.png", from_png)
    # Image fill read from the raster store by the layout's name (no path column): a fill row.
    valid = np.ones((H, W), bool)
    valid[-2:] = False
    for image_id in ids:
        write_raster(image_path(tmp_path / "images", image_id), np.zeros((H, W, 3), np.uint8), valid=valid)
    manifest = pd.DataFrame({"image_id": ids, "height": [H] * 3, "width": [W] * 3})
    qa = merge_annotations(
        manifest,
        tmp_path / "ann",
        tmp_path / "masks",
        patch_size=SIZE,
        overlap=OVERLAP,
        prelabels_dir=str(tmp_path / "pre"),
        on_missing="prelabel",
        images_dir=str(tmp_path / "images"),
        workers=1,
    )
    assert list(qa["patches_from_prelabel"]) == [1, 1, 1]
    for image_id, prelabel in (("tif_only", from_tif), ("png_only", from_png), ("both", from_tif)):
        patches = [crop(prelabel, w) if k == 0 else crop(labels, w) for k, w in enumerate(WINDOWS)]
        expected = _reference_merge(patches, WINDOWS, H, W)
        expected[-2:] = 255
        np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", image_id)), expected)


def test_merge_annotations_defaults_are_the_paper_grid_and_eight_classes(tmp_path):
    # A 1000 x 1880 image is two 1000-pixel patches wide (columns 0 and 880): the paper's 120-pixel overlap.
    height, width = 1000, 1880
    windows = patch_grid(height, width)
    assert [(w.row, w.col) for w in windows] == [(0, 0), (0, 880)]
    labels = np.zeros((height, width), np.uint8)
    labels[:, 940:] = 7  # class 7 exists with 8 classes
    (tmp_path / "ann" / "big").mkdir(parents=True)
    for window in windows:
        (tmp_path / "ann" / "big" / f"{patch_id('big', window)}.png").write_bytes(
            png_bytes(crop(labels, window))
        )
    manifest = pd.DataFrame({"image_id": ["big"], "height": [height], "width": [width]})
    qa = merge_annotations(manifest, tmp_path / "ann", tmp_path / "masks", workers=1)
    assert qa.loc[0, "patches_found"] == 2 and qa.loc[0, "overlap_pixels"] == 1000 * 120
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "big")), labels)
    mask, _ = merge_image_annotations("big", height, width, tmp_path / "ann")
    np.testing.assert_array_equal(mask, labels)
    labels[0, 0] = 8  # not a class of the default table
    (tmp_path / "ann" / "big" / f"{patch_id('big', windows[0])}.png").write_bytes(
        png_bytes(crop(labels, windows[0]))
    )
    with pytest.raises(AnnotationError, match=r"values \[8\] outside the class values 0..7"):
        merge_annotations(manifest, tmp_path / "ann", tmp_path / "masks2", workers=1)


def test_a_single_patch_has_no_overlap_to_agree_on(tmp_path):
    labels = example_labels(9)[:SIZE, :SIZE]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / f"{patch_id('one', patch_grid(SIZE, SIZE, SIZE, OVERLAP)[0])}.png").write_bytes(
        png_bytes(labels)
    )
    mask, qa = merge_image_annotations("one", SIZE, SIZE, tmp_path, patch_size=SIZE, overlap=OVERLAP)
    np.testing.assert_array_equal(mask, labels)
    assert qa["overlap_pixels"] == 0
    assert np.isnan(qa["overlap_agreement"]) and np.isnan(qa["min_pair_agreement"])
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == ("", "")


def test_worst_pair_is_the_first_of_equally_bad_pairs(tmp_path):
    # Every patch is constant and differs from all its neighbours: every pair agrees nowhere
    # (0.0), so the first pair in row-major order, patches 0 and 1, is reported.
    (tmp_path / "img").mkdir()
    for k, window in enumerate(WINDOWS):
        (tmp_path / "img" / f"{patch_id('img', window)}.png").write_bytes(
            png_bytes(np.full((window.height, window.width), k, np.uint8))
        )
    _, qa = merge_export(tmp_path, num_classes=len(WINDOWS))
    assert qa["min_pair_agreement"] == 0.0 and qa["overlap_agreement"] == 0.0
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == (
        patch_id("img", WINDOWS[0]),
        patch_id("img", WINDOWS[1]),
    )


def test_overlap_agreement_skips_pairs_that_only_touch_or_lie_apart(tmp_path):
    # 6x10 image, patches of 4 with overlap 1: rows 0 and 2, columns 0, 3 and 6 (A0 A1 A2 over
    # B0 B1 B2). Counted by hand, pair by pair: A0-A1 4, A0-B0 8, A0-B1 2, A1-A2 4, A1-B0 2,
    # A1-B1 8, A1-B2 2, A2-B1 2, A2-B2 8, B0-B1 4, B1-B2 4 = 48 pixels; A0-A2, A0-B2, A2-B0 and
    # B0-B2 lie apart. B2 alone is class 1: its pairs A1-B2, A2-B2, B1-B2 (14 pixels) disagree.
    (tmp_path / "img").mkdir()
    for window in patch_grid(6, 10, 4, 1):
        value = 1 if (window.row, window.col) == (2, 6) else 0
        (tmp_path / "img" / f"{patch_id('img', window)}.png").write_bytes(
            png_bytes(np.full((4, 4), value, np.uint8))
        )
    _, qa = merge_image_annotations("img", 6, 10, tmp_path, patch_size=4, overlap=1)
    assert qa["overlap_pixels"] == 48 and qa["overlap_agreement"] == pytest.approx(34 / 48)
    assert qa["min_pair_agreement"] == 0.0
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == ("img_r00000_c00003", "img_r00002_c00006")
    # Without overlap, neighbours only touch (a shared edge or corner): nothing to agree on.
    (tmp_path / "touch").mkdir()
    for k, window in enumerate(patch_grid(6, 6, 3, 0)):
        (tmp_path / "touch" / f"{patch_id('touch', window)}.png").write_bytes(
            png_bytes(np.full((3, 3), k, np.uint8))
        )
    _, qa = merge_image_annotations("touch", 6, 6, tmp_path, patch_size=3, overlap=0)
    assert qa["overlap_pixels"] == 0 and np.isnan(qa["overlap_agreement"])
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == ("", "")
