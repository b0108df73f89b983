"""The release adapters' parts by value: folder listings and their errors, pairing, the DeepGlobe
split lists and warnings, the Inria names, the URUR label table, one item's manifest row and the
split of a whole release (issue 21: each message and each manifest value pinned)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image
from rasterio.transform import Affine

from tests.support.releases import rgb, write_deepglobe, write_inria, write_urur
from urur.classes import IGNORE_INDEX, URUR_CLASSES
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
    list_deepglobe,
    list_inria,
    list_urur,
    stage_deepglobe,
    urur_label_lut,
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
    with rasterio.open(mask_path(tmp_path / "masks", "vienna3")) as mask:
        assert mask.transform == transform and mask.crs.to_string() == "EPSG:32633"
    wrong = functools.partial(lambda path: (np.zeros((64, 64), np.uint8), {}))
    with pytest.raises(ReleaseLayoutError) as error:
        _adapt_item(item, tmp_path / "images", tmp_path / "masks", "inria", wrong)
    assert str(error.value) == (
        f"label map {tmp_path / 'label.tif'} is 64x64 but image {image} is 64x48; "
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
