"""The release adapters' parts by value: folder listings and their errors, pairing, the DeepGlobe
split lists and warnings, the Inria names, the URUR label table, one item's manifest row and the
split of a whole release (issue 21: each message and each manifest value pinned)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from rasterio.transform import Affine

from tests.support.releases import rgb, write_deepglobe, write_inria, write_urur
from urur.classes import DEEPGLOBE_CLASSES, IGNORE_INDEX, URUR_CLASSES
from urur.dataset.ingestion import MANIFEST_COLUMNS
from urur.dataset.leaks import pixel_checksum
from urur.dataset.releases import (
    DeepGlobeParams,
    ReleaseItem,
    ReleaseLayoutError,
    _adapt_item,
    _listing,
    _paired,
    adapt_release,
    deepglobe_labels,
    inria_labels,
    list_deepglobe,
    list_inria,
    list_urur,
    stage_deepglobe,
    urur_label_lut,
    urur_labels,
)
from urur.dataset.split import split_images
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster


def test_a_listing_names_two_levels_of_folders_and_counts_the_top_files(tmp_path: Path) -> None:
    assert _listing(tmp_path / "absent") == f"{tmp_path / 'absent'} does not exist"
    (tmp_path / "b/inner").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "b/inner/file.png").write_bytes(b"")
    (tmp_path / "x.txt").write_text("")
    (tmp_path / "y.txt").write_text("")
    assert _listing(tmp_path) == f"{tmp_path} holds folders ['a/', 'b/', 'b/inner/'] and 2 files at the top"
    empty = tmp_path / "a"
    assert _listing(empty) == f"{empty} holds folders none and 0 files at the top"


def test_images_pair_with_labels_of_the_same_stem_and_a_missing_label_is_named(tmp_path: Path) -> None:
    images, labels = tmp_path / "image", tmp_path / "label"
    images.mkdir()
    labels.mkdir()
    for name in ("b", "a"):
        (images / f"{name}.png").write_bytes(b"")
        (labels / f"{name}.png").write_bytes(b"")
    (images / "notes.txt").write_text("")
    assert _paired(images, labels, "val", ".png", ".png") == [
        ReleaseItem("a", images / "a.png", labels / "a.png", "val"),
        ReleaseItem("b", images / "b.png", labels / "b.png", "val"),
    ]
    (images / "c.png").write_bytes(b"")
    with pytest.raises(ReleaseLayoutError) as error:
        _paired(images, labels, "val", ".png", ".png")
    assert (
        str(error.value)
        == f"{images / 'c.png'} has no label map {labels / 'c.png'}; the download is incomplete"
    )


def test_an_unknown_urur_layout_is_described_with_both_known_ones(tmp_path: Path) -> None:
    (tmp_path / "train_images").mkdir()
    with pytest.raises(ReleaseLayoutError) as error:
        list_urur(tmp_path)
    assert str(error.value) == (
        "no URUR release found: expected PNG images and label maps in one of the layouts "
        "{split}/image + {split}/label or imgs/{split} + labels/{split} for split in train/val/test, "
        f"but {tmp_path} holds folders ['train_images/'] and 0 files at the top. "
        "Unpack the release there or move its folders into one of those layouts."
    )
    # The layout's folders present but empty: no release either.
    for split in ("train", "val", "test"):
        (tmp_path / "imgs" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
    with pytest.raises(ReleaseLayoutError, match="no URUR release found"):
        list_urur(tmp_path)
    write_urur(tmp_path / "release", "split_first")
    items = list_urur(tmp_path / "release")
    assert items[0] == ReleaseItem(
        "train_0",
        tmp_path / "release/train/image/train_0.png",
        tmp_path / "release/train/label/train_0.png",
        "train",
    )


def test_the_urur_label_table_maps_each_named_value_and_ignores_the_rest() -> None:
    lut = urur_label_lut(None)
    assert lut.dtype == np.uint8 and lut.shape == (256,)
    assert lut[: len(URUR_CLASSES)].tolist() == list(range(len(URUR_CLASSES)))
    assert (lut[len(URUR_CLASSES) :] == IGNORE_INDEX).all()
    with pytest.raises(ReleaseLayoutError) as error:
        urur_label_lut(["others", "houses", "others"])
    assert str(error.value) == (
        f"label_order ['others', 'houses', 'others'] must name each of {list(URUR_CLASSES)} at most once "
        "(unknown: ['houses'])"
    )
    with pytest.raises(ReleaseLayoutError, match=r"\(unknown: \[\]\)"):
        urur_label_lut(["others", "others"])  # a name twice, none unknown


def test_deepglobe_split_lists_name_images_by_id_file_name_or_path(tmp_path: Path) -> None:
    write_deepglobe(tmp_path)
    (tmp_path / "train.txt").write_text("land/100_sat.jpg 101\n102_mask.png\n")
    (tmp_path / "val.txt").write_text("103.jpg\n")
    (tmp_path / "test.txt").write_text("104_sat.jpg\n")
    splits = {item.image_id: item.split for item in list_deepglobe(tmp_path)}
    assert splits == {
        "100": "train",
        "101": "train",
        "102": "train",
        "103": "val",
        "104": "test",
        "105": None,
    }


def test_deepglobe_names_at_most_twenty_images_without_masks(tmp_path: Path, caplog) -> None:
    write_deepglobe(tmp_path)
    for k in range(23):
        Image.fromarray(rgb(k)).save(tmp_path / f"{200 + k}_sat.jpg")
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        items = list_deepglobe(tmp_path)
    assert [item.image_id for item in items] == ["100", "101", "102", "103", "104", "105"]
    names = ", ".join(f"{200 + k}_sat.jpg" for k in range(20))
    assert caplog.messages == [
        f"23 images under {tmp_path} have no <id>_mask.png and are left out of the dataset: {names} and 3 "
        "more. Restore their masks from the release to use them."
    ]
    caplog.clear()
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb(1)).save(tmp_path / "sub/300_sat.jpg")  # no mask anywhere in its folder
    for k in range(3, 23):
        (tmp_path / f"{200 + k}_sat.jpg").unlink()
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        list_deepglobe(tmp_path)
    assert caplog.messages == [
        f"3 images under {tmp_path} have no <id>_mask.png and are left out of the dataset: 200_sat.jpg, "
        "201_sat.jpg, 202_sat.jpg. Restore their masks from the release to use them."
    ]
    with pytest.raises(ReleaseLayoutError) as error:
        list_deepglobe(tmp_path / "sub")
    assert str(error.value) == (
        "no DeepGlobe land-cover pairs <id>_sat.jpg + <id>_mask.png found: "
        f"{tmp_path / 'sub'} holds folders none and 1 files at the top. "
        "Unpack the land-cover train folder there."
    )


def test_inria_names_must_be_a_city_and_a_number(tmp_path: Path) -> None:
    root = tmp_path / "AerialImageDataset"
    write_inria(root)
    assert len(list_inria(root, (1,), (6,))) == 6
    (root / "train/images/tile_7.tif").write_bytes(b"")
    (root / "train/gt/tile_7.tif").write_bytes(b"")
    with pytest.raises(ReleaseLayoutError) as error:
        list_inria(root, (1,), (6,))
    assert (
        str(error.value)
        == f"{root / 'train/images/tile_7.tif'}: expected a name <city><number>.tif, e.g. austin1.tif"
    )
    empty = tmp_path / "empty"
    (empty / "train/images").mkdir(parents=True)
    (empty / "train/gt").mkdir(parents=True)
    with pytest.raises(ReleaseLayoutError) as error:
        list_inria(empty, (1,), (6,))
    assert (
        str(error.value)
        == f"no GeoTIFFs in {empty / 'train/images'}; unpack the release's train folder there"
    )
    with pytest.raises(ReleaseLayoutError) as error:
        list_inria(tmp_path / "nothing", (1,), (6,))
    assert str(error.value) == (
        f"no Inria release found: expected train/images/ and train/gt/, but {tmp_path / 'nothing'} does not "
        "exist. Point the adapter at the AerialImageDataset folder of the unpacked release."
    )


def _georeferenced(path: Path, pixels: np.ndarray) -> Affine:
    transform = Affine(0.5, 0, 1000.0, 0, -0.5, 2000.0)
    with rasterio.open(
        path, "w", driver="GTiff", width=pixels.shape[1], height=pixels.shape[0], count=pixels.shape[2],
        dtype="uint8", crs="EPSG:32633", transform=transform,
    ) as dst:  # fmt: skip
        dst.write(np.moveaxis(pixels, -1, 0))
    return transform


def test_one_item_becomes_its_image_its_mask_and_a_manifest_row(tmp_path: Path) -> None:
    pixels = rgb(3)[:, :48]
    image = tmp_path / "vienna3.tif"
    transform = _georeferenced(image, pixels)
    labels = np.arange(64 * 48).reshape(64, 48) % 2
    reader = functools.partial(
        lambda path, values: (values.astype(np.uint8), {"odd_pixels": 7}), values=labels
    )
    item = ReleaseItem("vienna3", image, tmp_path / "label.tif", "val", "vienna")
    row = _adapt_item(item, tmp_path / "images", tmp_path / "masks", "inria", reader)
    assert row == {
        "image_id": "vienna3",
        "scene_id": "vienna3",
        "city": "vienna",
        "source": "inria",
        "capture_date": "",
        "path": "vienna3.tif",
        "row_off": 0,
        "col_off": 0,
        "height": 64,
        "width": 48,
        "bands_in": 3,
        "dtype_in": "uint8",
        "rgb_bands": "1 2 3",
        "fill_pixels": 0,
        "checksum": pixel_checksum(pixels),
        "crs": "EPSG:32633",
        "transform": "[0.5, 0.0, 1000.0, 0.0, -0.5, 2000.0]",  # the GDAL order, as ingestion writes it
        "split": "val",
        "odd_pixels": 7,
    }
    assert list(row)[: len(MANIFEST_COLUMNS)] == list(MANIFEST_COLUMNS)
    np.testing.assert_array_equal(read_raster(image_path(tmp_path / "images", "vienna3")), pixels)
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "vienna3"), bands=[1]), labels)
    for written in (image_path(tmp_path / "images", "vienna3"), mask_path(tmp_path / "masks", "vienna3")):
        with rasterio.open(written) as raster:  # both keep the release's georeferencing
            assert raster.transform == transform and raster.crs.to_string() == "EPSG:32633", written
    wrong = functools.partial(lambda path: (np.zeros((32, 48), np.uint8), {}))  # rows != columns
    with pytest.raises(ReleaseLayoutError) as error:
        _adapt_item(item, tmp_path / "images", tmp_path / "masks", "inria", wrong)
    assert str(error.value) == (
        f"label map {tmp_path / 'label.tif'} is 32x48 but image {image} is 64x48; "
        "the pair does not belong together"
    )
    unsafe = ReleaseItem("../up", image, image, None)
    with pytest.raises(ReleaseLayoutError) as error:
        _adapt_item(unsafe, tmp_path / "images", tmp_path / "masks", "inria", reader)
    assert str(error.value) == f"{image}: its name is not a safe image id; rename it"


def _items(root: Path, splits: dict[str, str | None]) -> list[ReleaseItem]:
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for k, (image_id, split) in enumerate(splits.items()):
        Image.fromarray(rgb(k)).save(root / f"{image_id}.png")
        items.append(ReleaseItem(image_id, root / f"{image_id}.png", root / f"{image_id}.png", split))
    return items


def _labels(path: Path) -> tuple[np.ndarray, dict[str, int]]:
    return np.zeros((64, 64), np.uint8), {}


def test_a_release_keeps_its_split_or_is_split_by_the_ratios_and_a_partial_split_is_refused(
    tmp_path: Path,
) -> None:
    listed = {"c": "test", "a": "train", "b": "val"}
    manifest, table = adapt_release(
        _items(tmp_path / "r1", listed),
        tmp_path / "i1",
        tmp_path / "m1",
        source="urur",
        labels_of=_labels,
        workers=1,
    )
    assert manifest["image_id"].tolist() == ["a", "b", "c"] and list(manifest.columns) == list(
        MANIFEST_COLUMNS
    )
    assert table["split"].tolist() == ["train", "val", "test"] and table["group"].tolist() == ["a", "b", "c"]
    # Sorted rows are numbered afresh (items came c, a, b), and each names its release.
    pd.testing.assert_index_equal(manifest.index, pd.RangeIndex(3))
    pd.testing.assert_index_equal(table.index, pd.RangeIndex(3))
    assert manifest["source"].tolist() == ["urur", "urur", "urur"]
    unlisted = dict.fromkeys("abcdefghij")
    manifest, table = adapt_release(
        _items(tmp_path / "r2", unlisted), tmp_path / "i2", tmp_path / "m2",
        source="deepglobe", labels_of=_labels, ratios=(0.5, 0.2, 0.3), seed=4, workers=1,
    )  # fmt: skip
    pd.testing.assert_frame_equal(table, split_images(manifest, ratios=(0.5, 0.2, 0.3), seed=4))
    assert split_images(manifest, ratios=(0.5, 0.2, 0.3), seed=5)["split"].tolist() != table["split"].tolist()
    partial = {"a": "train", "b": None, "c": "test", "d": None}
    with pytest.raises(ReleaseLayoutError) as error:
        adapt_release(
            _items(tmp_path / "r3", partial), tmp_path / "i3", tmp_path / "m3",
            source="deepglobe", labels_of=_labels, workers=1,
        )  # fmt: skip
    assert str(error.value) == "the split lists of the deepglobe release do not name images ['b', 'd']"


def test_deepglobe_logs_each_mask_with_pixels_of_no_class(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    root = tmp_path / "dg"
    write_deepglobe(root)
    for image_id, pixels in (("101", 1), ("104", 3)):
        mask = np.array(Image.open(root / f"{image_id}_mask.png"))
        mask[0, :pixels] = (200, 90, 100)  # red after thresholding: no class
        Image.fromarray(mask).save(root / f"{image_id}_mask.png")
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        _, _, manifest, table = stage_deepglobe(root, DeepGlobeParams(ratios=(0.5, 0.25, 0.25)), workers=1)
    assert caplog.messages == [
        f"{root / '101_mask.png'}: 1 pixel (0.024 %) of no class colour after thresholding (JPEG artefacts "
        "at class borders?) labelled unknown (limit: deepglobe.max_off_palette_share)",
        f"{root / '104_mask.png'}: 3 pixels (0.073 %) of no class colour after thresholding (JPEG artefacts "
        "at class borders?) labelled unknown (limit: deepglobe.max_off_palette_share)",
    ]
    assert (
        table["split"].value_counts().to_dict()
        == split_images(manifest, (0.5, 0.25, 0.25))["split"].value_counts().to_dict()
    )


def test_urur_image_folders_without_their_label_folders_are_no_release(tmp_path: Path) -> None:
    """Both folders of a split must exist: images alone are not taken for an incomplete release."""
    for split in ("train", "val", "test"):
        (tmp_path / split / "image").mkdir(parents=True)
        (tmp_path / split / "image" / f"{split}_0.png").write_bytes(b"")
    with pytest.raises(ReleaseLayoutError) as error:
        list_urur(tmp_path)
    assert str(error.value) == (
        "no URUR release found: expected PNG images and label maps in one of the layouts "
        "{split}/image + {split}/label or imgs/{split} + labels/{split} for split in train/val/test, "
        f"but {tmp_path} holds folders ['test/', 'train/', 'val/', 'test/image/', 'train/image/', "
        "'val/image/'] and 0 files at the top. "
        "Unpack the release there or move its folders into one of those layouts."
    )


def test_deepglobe_warns_of_an_image_named_in_a_split_list_even_in_a_folder_without_masks(
    tmp_path: Path, caplog
) -> None:
    """A listed id promises a mask: its image is named although no mask sits beside it."""
    write_deepglobe(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/300_sat.jpg").write_bytes(b"")
    (tmp_path / "sub/301_sat.jpg").write_bytes(b"")  # not listed: the quiet mask-less kind
    (tmp_path / "train.txt").write_text("100\n300\n")
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        list_deepglobe(tmp_path)
    assert caplog.messages == [
        f"1 images under {tmp_path} have no <id>_mask.png and are left out of the dataset: sub/300_sat.jpg. "
        "Restore their masks from the release to use them."
    ]


def test_deepglobe_names_twenty_missing_masks_in_full_and_tells_the_count_beyond(
    tmp_path: Path, caplog
) -> None:
    """Exactly 20 images are all named; the 21st is only counted."""
    write_deepglobe(tmp_path)
    for k in range(20):
        (tmp_path / f"{200 + k}_sat.jpg").write_bytes(b"")
    names = ", ".join(f"{200 + k}_sat.jpg" for k in range(20))
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        list_deepglobe(tmp_path)
    assert caplog.messages == [
        f"20 images under {tmp_path} have no <id>_mask.png and are left out of the dataset: {names}. "
        "Restore their masks from the release to use them."
    ]
    caplog.clear()
    (tmp_path / "220_sat.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="urur.dataset.releases"):
        list_deepglobe(tmp_path)
    assert caplog.messages == [
        f"21 images under {tmp_path} have no <id>_mask.png and are left out of the dataset: {names} and 1 "
        "more. Restore their masks from the release to use them."
    ]


def test_inria_items_carry_their_image_and_mask_and_need_the_gt_folder(tmp_path: Path) -> None:
    root = tmp_path / "AerialImageDataset"
    write_inria(root)
    austin = [item for item in list_inria(root, (1,), (6,)) if item.city == "austin"]
    images, masks = root / "train/images", root / "train/gt"
    assert austin == [
        ReleaseItem(f"austin{n}", images / f"austin{n}.tif", masks / f"austin{n}.tif", split, "austin")
        for n, split in ((1, "val"), (11, "train"), (6, "test"))
    ]
    images_only = tmp_path / "images_only"
    (images_only / "train/images").mkdir(parents=True)
    (images_only / "train/images/austin1.tif").write_bytes(b"")
    with pytest.raises(ReleaseLayoutError) as error:
        list_inria(images_only, (1,), (6,))
    assert str(error.value) == (
        f"no Inria release found: expected train/images/ and train/gt/, but {images_only} holds folders "
        "['train/', 'train/images/'] and 0 files at the top. "
        "Point the adapter at the AerialImageDataset folder of the unpacked release."
    )


def test_inria_names_at_most_ten_bad_mask_values(tmp_path: Path) -> None:
    path = tmp_path / "gt.png"
    Image.fromarray(np.arange(1, 13, dtype=np.uint8).reshape(3, 4)).save(path)  # 12 bad values
    with pytest.raises(ReleaseLayoutError) as error:
        inria_labels(path)
    assert str(error.value) == (
        f"{path} holds values [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; Inria masks are 0 and 255 only: "
        "re-download the file"
    )


def test_label_readers_take_the_label_band_of_a_file_with_more_bands(tmp_path: Path) -> None:
    """A mask saved with an alpha band still reads as its labels: the alpha is not a class."""
    urur = tmp_path / "urur.png"
    values = np.array([[0, 1], [2, 255]], np.uint8)
    Image.fromarray(np.dstack([values, np.full((2, 2), 255, np.uint8)])).save(urur)  # grey + alpha
    labels, _ = urur_labels(urur, urur_label_lut(None))
    assert labels.tolist() == [[0, 1], [2, 255]]
    inria = tmp_path / "inria.tif"
    with rasterio.open(
        inria, "w", driver="GTiff", width=2, height=2, count=2, dtype="uint8",
        crs="EPSG:32614", transform=Affine(0.3, 0, 500000.0, 0, -0.3, 3400000.0),
    ) as dst:  # fmt: skip
        dst.write(np.array([[[0, 255], [255, 0]], [[255, 255], [255, 255]]], np.uint8))
    labels, _ = inria_labels(inria)
    assert labels.tolist() == [[0, 1], [1, 0]]
    deepglobe = tmp_path / "deepglobe.png"
    forest_rgba = np.tile(np.array([0, 255, 0, 255], np.uint8), (2, 2, 1))
    Image.fromarray(forest_rgba).save(deepglobe)
    labels, counts = deepglobe_labels(deepglobe)
    assert labels.tolist() == [[4, 4], [4, 4]] and counts == {"off_palette_pixels": 0}


def test_deepglobe_channels_of_128_and_above_count_as_full(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    mask = np.array(
        [[(128, 128, 0), (127, 255, 255), (128, 127, 128)], [(127, 127, 127), (128, 128, 128), (0, 128, 0)]],
        np.uint8,
    )
    Image.fromarray(mask).save(path)
    labels, counts = deepglobe_labels(path)
    # by hand: yellow = agriculture, cyan = urban, magenta = rangeland; black, white, green
    assert [[DEEPGLOBE_CLASSES[v] for v in row] for row in labels.tolist()] == [
        ["agriculture", "urban", "rangeland"],
        ["unknown", "barren", "forest"],
    ]
    assert counts == {"off_palette_pixels": 0}


def test_deepglobe_off_palette_share_of_one_percent_is_allowed_and_more_refused(tmp_path: Path) -> None:
    """The default limit is 1 %: 1 of 100 pixels passes, 2 are refused with the colours named."""
    path = tmp_path / "mask.png"
    mask = np.zeros((10, 10, 3), np.uint8)
    mask[..., 1] = 255  # forest
    mask[3, 4] = (200, 90, 100)  # red after thresholding: no class
    Image.fromarray(mask).save(path)
    labels, counts = deepglobe_labels(path)
    assert counts == {"off_palette_pixels": 1} and labels[3, 4] == 0 and (labels == 4).sum() == 99
    mask[7, 1] = (255, 100, 0)
    Image.fromarray(mask).save(path)
    with pytest.raises(ReleaseLayoutError) as error:
        deepglobe_labels(path)
    assert str(error.value) == (
        f"{path}: 2.0% of its pixels (2) have colours of no class even after thresholding at 128, "
        "e.g. [(200, 90, 100), (255, 100, 0)]; that is above deepglobe.max_off_palette_share = 0.01 "
        "(conf/base/parameters_deepglobe.yml). The file is damaged or not a land-cover mask: "
        "replace it, or raise the share to label those pixels unknown."
    )
    labels, counts = deepglobe_labels(path, max_off_palette_share=0.02)  # 2 of 100: at the limit
    assert counts == {"off_palette_pixels": 2}


def test_an_item_image_is_written_as_its_first_three_bands(tmp_path: Path) -> None:
    """An RGBA image keeps its RGB (the manifest's ``rgb_bands``), not the alpha."""
    pixels = np.random.default_rng(5).integers(0, 256, (8, 6, 4), dtype=np.uint8)
    image = tmp_path / "a.png"
    Image.fromarray(pixels).save(image)
    item = ReleaseItem("a", image, image, "train")
    reader = functools.partial(lambda path: (np.zeros((8, 6), np.uint8), {}))
    row = _adapt_item(item, tmp_path / "images", tmp_path / "masks", "urur", reader)
    written = read_raster(image_path(tmp_path / "images", "a"))
    np.testing.assert_array_equal(written, pixels[..., :3])
    assert row["bands_in"] == 4 and row["checksum"] == pixel_checksum(pixels[..., :3])


def _labels_read_here(path: Path) -> tuple[np.ndarray, dict[str, int]]:
    return np.zeros((64, 64), np.uint8), {"reader_pid": os.getpid()}


def test_a_release_without_split_lists_is_split_with_the_default_ratios_and_seed(tmp_path: Path) -> None:
    items = _items(tmp_path / "r", dict.fromkeys("abcdefghij"))
    manifest, table = adapt_release(
        items, tmp_path / "i", tmp_path / "m", source="urur", labels_of=_labels_read_here, workers=1
    )
    pd.testing.assert_frame_equal(table, split_images(manifest, ratios=(0.7, 0.1, 0.2), seed=0))
    other_seed = split_images(manifest, ratios=(0.7, 0.1, 0.2), seed=1)
    assert other_seed["split"].tolist() != table["split"].tolist()  # so the seed is told apart


def test_one_worker_reads_every_label_in_this_process_and_shows_progress(tmp_path: Path, capsys) -> None:
    """``workers=1`` runs inline (no pool to start for a small release) under a named progress bar."""
    items = _items(tmp_path / "r", dict.fromkeys("abc", "train"))
    manifest, _ = adapt_release(
        items, tmp_path / "i", tmp_path / "m", source="inria", labels_of=_labels_read_here, workers=1
    )
    assert manifest["reader_pid"].tolist() == [os.getpid()] * 3
    assert "adapting inria" in capsys.readouterr().err


def test_a_partial_split_names_at_most_ten_unlisted_images(tmp_path: Path) -> None:
    partial = {"a": "train", **dict.fromkeys("bcdefghijkl")}
    with pytest.raises(ReleaseLayoutError) as error:
        adapt_release(
            _items(tmp_path / "r", partial), tmp_path / "i", tmp_path / "m",
            source="urur", labels_of=_labels, workers=1,
        )  # fmt: skip
    assert str(error.value) == (
        "the split lists of the urur release do not name images "
        "['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']"
    )


def test_deepglobe_stages_its_release_split_by_the_params_seed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    root = tmp_path / "dg"
    write_deepglobe(root)
    params = DeepGlobeParams(ratios=(0.5, 0.25, 0.25), seed=3)
    images_dir, masks_dir, manifest, table = stage_deepglobe(root, params, workers=1)
    assert manifest["source"].tolist() == ["deepglobe"] * 6
    pd.testing.assert_frame_equal(table, split_images(manifest, ratios=(0.5, 0.25, 0.25), seed=3))
    assert split_images(manifest, ratios=(0.5, 0.25, 0.25))["split"].tolist() != table["split"].tolist()
    # Staged beside each other, each named for what it holds (a leftover says what it was).
    assert images_dir.parent == masks_dir.parent == tmp_path / "staging"
    assert images_dir.name.startswith("urur-images-") and masks_dir.name.startswith("urur-masks-")
    assert sorted(p.name for p in images_dir.glob("*.tif")) == [f"{100 + k}.tif" for k in range(6)]
