"""Annotated patches (index PNG, RGB PNG, CVAT zip) -> full-size masks and annotation QA."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

import urur.dataset.annotation.formats
from tests.unit.dataset.test_tiling import _reference_merge
from urur.classes import URUR_PALETTE, index_to_rgb
from urur.dataset.annotation.formats import AnnotationError, read_export
from urur.dataset.annotation.merge import merge_annotations, merge_image_annotations
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster, write_raster

H, W, SIZE, OVERLAP = 30, 25, 12, 4
WINDOWS = patch_grid(H, W, SIZE, OVERLAP)
# CVAT keeps whatever colours the task used: deliberately not the URUR palette.
CVAT_COLOURS = {
    "Background": (1, 2, 3),
    "BUILDING": (10, 20, 30),
    "farmland": (40, 50, 60),
    "greenhouse": (70, 80, 90),
    "woodland": (100, 110, 120),
    "bareland": (130, 140, 150),
    "water": (160, 170, 180),
    "road": (190, 200, 210),
}


def _labels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 8, (H, W), dtype=np.uint8)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_png_patches(folder: Path, image_id: str, labels: np.ndarray, rgb: bool = False) -> None:
    (folder / image_id).mkdir(parents=True)
    for window in WINDOWS:
        patch = crop(labels, window)
        (folder / image_id / f"{patch_id(image_id, window)}.png").write_bytes(
            _png_bytes(index_to_rgb(patch) if rgb else patch)
        )


def _write_cvat_zip(path: Path, image_id: str, labels: np.ndarray, labelmap=None, extra=()) -> None:
    labelmap = labelmap or CVAT_COLOURS
    colours = np.array(list(CVAT_COLOURS.values()), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "labelmap.txt",
            "# label:color_rgb:parts:actions\n"
            + "".join(f"{name}:{r},{g},{b}::\n" for name, (r, g, b) in labelmap.items()),
        )
        for window in WINDOWS:
            archive.writestr(
                f"SegmentationClass/{patch_id(image_id, window)}.png",
                _png_bytes(colours[crop(labels, window)]),
            )
        for name in extra:
            archive.writestr(name, b"x")


def _merge(folder: Path, image_id: str = "img", **kwargs):
    return merge_image_annotations(image_id, H, W, folder, patch_size=SIZE, overlap=OVERLAP, **kwargs)


@pytest.mark.parametrize("kind", ["index", "rgb", "cvat"])
def test_consistent_patches_merge_back_to_the_labels(tmp_path, kind):
    labels = _labels()
    if kind == "cvat":
        _write_cvat_zip(tmp_path / "img.zip", "img", labels)
    else:
        _write_png_patches(tmp_path, "img", labels, rgb=kind == "rgb")
    mask, qa = _merge(tmp_path)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, labels)
    assert qa["patches_expected"] == qa["patches_found"] == len(WINDOWS) == 12  # 4 rows x 3 columns
    assert (qa["patches_missing"], qa["patches_invalid"], qa["patches_unexpected"]) == (0, 0, 0)
    assert qa["overlap_agreement"] == qa["min_pair_agreement"] == 1.0


def test_invalid_label_value_names_the_patch(tmp_path):
    labels = _labels()
    labels[0, 0] = 9
    _write_png_patches(tmp_path, "img", labels)
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    with pytest.raises(
        AnnotationError, match=rf"(?s){bad}: values \[9\] outside the class values 0..7.*on_missing"
    ):
        _merge(tmp_path)


def test_patch_of_the_wrong_size_names_the_patch(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[4])}.png"
    bad.write_bytes(_png_bytes(np.zeros((12, 11), np.uint8)))
    with pytest.raises(AnnotationError, match=rf"{bad}: is 12x11 pixels but its window is 12x12"):
        _merge(tmp_path)


def test_undecodable_patch_names_the_patch(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[3])}.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(AnnotationError, match=rf"{bad}: cannot be decoded as PNG"):
        _merge(tmp_path)


def test_rgb_patch_with_an_unknown_colour_names_the_patch(tmp_path):
    labels = _labels()
    _write_png_patches(tmp_path, "img", labels, rgb=True)
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png"
    rgb = index_to_rgb(crop(labels, WINDOWS[2]))
    rgb[3, 3] = (1, 2, 3)
    bad.write_bytes(_png_bytes(rgb))
    with pytest.raises(AnnotationError, match=rf"{bad}: has colours outside the URUR palette.*\(1, 2, 3\)"):
        _merge(tmp_path)


def test_format_index_refuses_an_rgb_patch(tmp_path):
    _write_png_patches(tmp_path, "img", _labels(), rgb=True)
    with pytest.raises(AnnotationError, match="has 3 channels, expected a single-channel class-value PNG"):
        _merge(tmp_path, format="index")


def test_missing_patch_is_an_error_naming_the_expected_path(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    gone = tmp_path / "img" / f"{patch_id('img', WINDOWS[5])}.png"
    gone.unlink()
    with pytest.raises(
        AnnotationError, match=rf"1 annotation patch\(es\).*\n  {gone}: missing \(expected at this path\)"
    ):
        _merge(tmp_path)
    with pytest.raises(AnnotationError, match="no pre-label for this image"):
        _merge(tmp_path, on_missing="prelabel", prelabel_path=tmp_path / "nowhere.png")


def test_missing_and_invalid_patches_fall_back_to_the_prelabel(tmp_path):
    labels = np.ones((H, W), np.uint8)
    _write_png_patches(tmp_path / "ann", "img", labels)
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[5])}.png").unlink()
    invalid = np.full((12, 12), 200, np.uint8)
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[1])}.png").write_bytes(_png_bytes(invalid))
    prelabel = _labels(seed=3)
    write_raster(tmp_path / "img.png", prelabel)
    mask, qa = _merge(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "img.png")
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
    _write_png_patches(tmp_path / "ann", "img", _labels())
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[0])}.png").unlink()
    write_raster(tmp_path / "img.png", np.zeros((H, W + 1), np.uint8))
    with pytest.raises(
        AnnotationError, match=rf"pre-label {tmp_path / 'img.png'} is 30x26 but its image is 30x25"
    ):
        _merge(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "img.png")


@pytest.mark.parametrize("entry", ["../evil.png", "/abs.png", "SegmentationClass/../../evil.png"])
def test_cvat_zip_with_entries_outside_its_folder_is_refused(tmp_path, entry):
    _write_cvat_zip(tmp_path / "img.zip", "img", _labels(), extra=[entry])
    with pytest.raises(AnnotationError, match=rf"{tmp_path / 'img.zip'}: entry '{entry}' points outside"):
        _merge(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zip"]  # nothing was extracted


def test_cvat_labelmap_with_an_unknown_class_is_refused(tmp_path):
    _write_cvat_zip(tmp_path / "img.zip", "img", _labels(), labelmap={**CVAT_COLOURS, "Car": (5, 5, 5)})
    with pytest.raises(
        AnnotationError, match=r"img.zip: labelmap.txt has label 'Car', which is not a URUR class"
    ):
        _merge(tmp_path)


def test_cvat_patch_with_a_colour_missing_from_the_labelmap_names_the_member(tmp_path):
    labelmap = {name: rgb for name, rgb in CVAT_COLOURS.items() if name != "road"}
    labels = _labels()
    _write_cvat_zip(tmp_path / "img.zip", "img", labels, labelmap=labelmap)
    with pytest.raises(
        AnnotationError, match=r"img.zip:SegmentationClass/img_r00000_c00000.png: has colours that"
    ):
        _merge(tmp_path)


def test_image_with_both_a_folder_and_a_zip_is_ambiguous(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    _write_cvat_zip(tmp_path / "img.zip", "img", _labels())
    with pytest.raises(AnnotationError, match=f"has {tmp_path / 'img'} and {tmp_path / 'img.zip'}; keep"):
        _merge(tmp_path)
    _mask, qa = _merge(tmp_path, format="cvat")
    assert qa["source"] == "img.zip"


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
        (tmp_path / "img" / f"{patch_id('img', window)}.png").write_bytes(_png_bytes(patch))
    mask, qa = merge_image_annotations("img", 10, 10, tmp_path, patch_size=6, overlap=2)
    assert qa["overlap_pixels"] == 56
    assert qa["overlap_agreement"] == pytest.approx(53 / 56)
    assert qa["min_pair_agreement"] == pytest.approx(3 / 4)
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == ("img_r00000_c00004", "img_r00004_c00000")
    assert not mask.any()  # (5, 4) belongs to the bottom-left patch (row 5 is past the row split)


def test_merge_annotations_writes_one_mask_per_image_and_a_qa_table(tmp_path):
    first, second = _labels(1), _labels(2)
    _write_png_patches(tmp_path / "ann", "a", first)
    _write_cvat_zip(tmp_path / "ann" / "b.zip", "b", second)
    manifest = pd.DataFrame({"image_id": ["a", "b"], "height": [H, H], "width": [W, W], "city": ["x", "y"]})
    qa = merge_annotations(
        manifest, tmp_path / "ann", tmp_path / "masks", patch_size=SIZE, overlap=OVERLAP, workers=1
    )
    assert list(qa["image_id"]) == ["a", "b"]
    assert (qa["patches_found"] == len(WINDOWS)).all()
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "a")), first)
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "b")), second)
    with pytest.raises(ValueError, match=r"lacks columns \['height'\]"):
        merge_annotations(manifest.drop(columns="height"), tmp_path / "ann", tmp_path / "masks")


def _labels_with_ignore(seed: int = 4) -> np.ndarray:
    labels = _labels(seed)
    labels[3:9, 2:20] = 255
    return labels


@pytest.mark.parametrize("kind", ["index", "rgb", "cvat"])
def test_255_is_the_ignore_value_in_every_format(tmp_path, kind):
    labels = _labels_with_ignore()
    if kind == "cvat":
        # An "ignore" label with its own colour; 255 indexes the last row of this colour table.
        colours = np.zeros((256, 3), np.uint8)
        colours[:8] = list(CVAT_COLOURS.values())
        colours[255] = (250, 0, 250)
        (tmp_path).mkdir(exist_ok=True)
        with zipfile.ZipFile(tmp_path / "img.zip", "w") as archive:
            archive.writestr(
                "labelmap.txt",
                "".join(f"{n}:{r},{g},{b}::\n" for n, (r, g, b) in CVAT_COLOURS.items())
                + "Ignore:250,0,250::\n",
            )
            for window in WINDOWS:
                archive.writestr(
                    f"SegmentationClass/{patch_id('img', window)}.png",
                    _png_bytes(colours[crop(labels, window)]),
                )
    else:
        _write_png_patches(tmp_path, "img", labels, rgb=kind == "rgb")
        if kind == "rgb":  # the ignore colour is white
            patch = np.asarray(Image.open(tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"))
            assert tuple(patch[3, 2]) == (255, 255, 255)
    mask, qa = _merge(tmp_path)
    np.testing.assert_array_equal(mask, labels)  # consistent patches: the merge is the labels
    assert qa["ignore_pixels"] == 6 * 18 and qa["fill_pixels"] == 0


def test_image_fill_becomes_255_and_masks_are_georeferenced_geotiffs(tmp_path):
    labels = _labels(5)
    _write_png_patches(tmp_path / "ann", "a", labels)
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


def test_missing_patch_message_says_what_exists(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    (tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png").unlink()
    with pytest.raises(
        AnnotationError, match=r"set annotation.on_missing: prelabel and annotation.prelabels"
    ) as error:
        _merge(tmp_path)
    assert "stage" not in str(error.value)
    with pytest.raises(
        AnnotationError, match=r"no pre-label folder given: set annotation.prelabels.*annotate"
    ) as error:
        _merge(tmp_path, on_missing="prelabel")
    assert "stage" not in str(error.value)


def _zip_with(path: Path, name: str, data: bytes) -> None:
    _write_cvat_zip(path, "img", _labels())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)


def test_oversized_zip_entry_is_refused_from_its_header(tmp_path, monkeypatch):
    # 1 MiB, so the test stays tiny
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_ENTRY_BYTES", 2**20)
    _zip_with(tmp_path / "img.zip", "SegmentationClass/big.png", bytes(2**20 + 1))
    with pytest.raises(
        AnnotationError, match=r"img\.zip: entry 'SegmentationClass/big\.png' declares 1048577 bytes"
    ):
        _merge(tmp_path)


def test_zip_bomb_entry_is_refused_by_its_compression_ratio(tmp_path):
    _zip_with(tmp_path / "img.zip", "SegmentationObject/zeros.png", bytes(8 * 2**20))  # ~1000:1
    with pytest.raises(
        AnnotationError, match=r"img\.zip: entry 'SegmentationObject/zeros\.png' is compressed \d+:1"
    ):
        _merge(tmp_path)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with one byte of pixel data: what a
    decompression bomb looks like to ``Image.open``, at no cost to build."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_and_undecodable_zip_entries_name_zip_and_entry(tmp_path):
    _write_cvat_zip(tmp_path / "img.zip", "img", _labels())
    bomb, junk = (f"SegmentationClass/{patch_id('img', w)}.png" for w in WINDOWS[:2])
    rebuilt = tmp_path / "img2.zip"
    with zipfile.ZipFile(tmp_path / "img.zip") as source, zipfile.ZipFile(rebuilt, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            archive.writestr(
                info, {bomb: _png_header_only(20000, 20000), junk: b"not a png"}.get(info.filename, data)
            )
    rebuilt.replace(tmp_path / "img.zip")
    with pytest.raises(AnnotationError) as error:
        _merge(tmp_path)
    message = str(error.value)
    assert f"img.zip:{bomb}: is a decompression bomb" in message
    assert f"img.zip:{junk}: cannot be decoded as PNG (not an image file)" in message
    assert "BytesIO" not in message


def test_oversized_png_is_refused_from_its_header_before_decoding(tmp_path):
    _write_png_patches(tmp_path, "img", _labels())
    big = tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    big.write_bytes(_png_header_only(5000, 5000))  # no pixel data: decoding it would fail
    with pytest.raises(AnnotationError, match=rf"{big}: is 5000x5000 pixels but its window is 12x12"):
        _merge(tmp_path)


def test_cvat_colour_clash_transparency_bad_zip_and_option_typos_are_named(tmp_path):
    clash = {**CVAT_COLOURS, "road": CVAT_COLOURS["water"]}
    _write_cvat_zip(tmp_path / "clash" / "img.zip", "img", _labels(), labelmap=clash)
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt gives colour \(160, 170, 180\) to two"
    ):
        _merge(tmp_path / "clash")
    _write_png_patches(tmp_path / "alpha", "img", _labels(), rgb=True)
    first = tmp_path / "alpha" / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    rgba = np.dstack([np.asarray(Image.open(first)), np.full((12, 12), 128, np.uint8)])
    first.write_bytes(_png_bytes(rgba))
    with pytest.raises(AnnotationError, match=rf"{first}: has transparent pixels; export it without"):
        _merge(tmp_path / "alpha")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "img.zip").write_bytes(b"PK not really a zip")
    with pytest.raises(AnnotationError, match=r"img\.zip is not a readable zip .*re-export it from CVAT"):
        _merge(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"on_missing must be 'error' or 'prelabel', got 'prelabels'"):
        _merge(tmp_path / "alpha", on_missing="prelabels")
    with pytest.raises(ValueError, match=r"unknown annotation format 'png'; use index, rgb, cvat"):
        _merge(tmp_path / "alpha", format="png")


def test_png_patch_errors_name_the_patch_and_the_problem(tmp_path):
    labels = _labels()
    first = f"{patch_id('img', WINDOWS[0])}.png"
    # Two channels (grey + alpha) are neither class values nor RGB.
    _write_png_patches(tmp_path / "la", "img", labels, rgb=True)
    two = tmp_path / "la" / "img" / first
    two.write_bytes(_png_bytes(np.dstack([crop(labels, WINDOWS[0])] * 2)))
    with pytest.raises(AnnotationError, match=rf"{two}: has pixel shape \(2,\), expected RGB"):
        _merge(tmp_path / "la")
    # A PNG cut short: the header decodes, the pixel data does not.
    _write_png_patches(tmp_path / "cut", "img", labels)
    cut = tmp_path / "cut" / "img" / first
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.raises(
        AnnotationError, match=rf"{cut}: cannot be decoded as PNG \(image file is truncated\)"
    ):
        _merge(tmp_path / "cut")
    # format="rgb" refuses class-value (single-channel) patches.
    _write_png_patches(tmp_path / "index", "img", labels)
    with pytest.raises(
        AnnotationError,
        match=rf"{tmp_path / 'index' / 'img' / first}: is single-channel, expected an RGB mask",
    ):
        _merge(tmp_path / "index", format="rgb")


def _zip_with_labelmap(path: Path, labelmap: str) -> None:
    """A CVAT-style zip holding ``labelmap`` as its labelmap.txt and one (valid) patch."""
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("labelmap.txt", labelmap)
        archive.writestr(
            f"SegmentationClass/{patch_id('img', WINDOWS[0])}.png", _png_bytes(_labels()[:12, :12])
        )


def test_cvat_labelmap_and_zip_layout_errors_are_named(tmp_path):
    labels = _labels()
    header = "# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
    _zip_with_labelmap(tmp_path / "line" / "img.zip", header + "road:190,200::\n")  # two numbers only
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt line 3 'road:190,200::' is not 'name:r,g,b::'"
    ):
        _merge(tmp_path / "line")
    _zip_with_labelmap(tmp_path / "range" / "img.zip", header + "road:190,200,256::\n")
    with pytest.raises(AnnotationError, match=r"line 3 'road:190,200,256::' is not 'name:r,g,b::'"):
        _merge(tmp_path / "range")
    _zip_with_labelmap(tmp_path / "nocolour" / "img.zip", header + "road\n")
    with pytest.raises(AnnotationError, match=r"line 3 'road' is not 'name:r,g,b::'"):
        _merge(tmp_path / "nocolour")
    (tmp_path / "empty").mkdir()
    with zipfile.ZipFile(tmp_path / "empty" / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", "# label:color_rgb:parts:actions\n\n")
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt lists no labels; re-export from CVAT"
    ):
        _merge(tmp_path / "empty")
    (tmp_path / "nolabelmap").mkdir()
    with zipfile.ZipFile(tmp_path / "nolabelmap" / "img.zip", "w") as archive:
        archive.writestr(f"SegmentationClass/{patch_id('img', WINDOWS[0])}.png", _png_bytes(labels[:12, :12]))
    with pytest.raises(
        AnnotationError, match=r"img\.zip: no labelmap\.txt; export the task as 'Segmentation mask 1\.1'"
    ):
        _merge(tmp_path / "nolabelmap")
    _write_png_patches(tmp_path / "folder", "img", labels)
    with pytest.raises(
        AnnotationError, match=rf"no CVAT export {tmp_path / 'folder' / 'img.zip'} for image img; export"
    ):
        _merge(tmp_path / "folder", format="cvat")


def test_bad_prelabels_and_validity_are_named(tmp_path):
    _write_png_patches(tmp_path / "ann", "img", _labels())
    (tmp_path / "ann" / "img" / f"{patch_id('img', WINDOWS[0])}.png").unlink()
    write_raster(tmp_path / "rgb.tif", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(
        AnnotationError, match=rf"pre-label {tmp_path / 'rgb.tif'} has 3 bands; a pre-label is one band"
    ):
        _merge(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "rgb.tif")
    values = np.zeros((H, W), np.uint8)
    values[4, 4] = 9
    write_raster(tmp_path / "nine.tif", values)
    with pytest.raises(
        AnnotationError,
        match=rf"pre-label {tmp_path / 'nine.tif'} has values \[9\] outside the class values 0..7 .*regen",
    ):
        _merge(tmp_path / "ann", on_missing="prelabel", prelabel_path=tmp_path / "nine.tif")
    _write_png_patches(tmp_path / "whole", "img", _labels())
    with pytest.raises(ValueError, match=r"validity of image img is \(30, 24\), expected \(30, 25\)"):
        _merge(tmp_path / "whole", valid=np.ones((H, W - 1), bool))


def test_read_export_names_every_missing_or_invalid_patch(tmp_path):
    labels = _labels()
    _write_png_patches(tmp_path, "img", labels)
    patches, found, source = read_export(tmp_path, "img", WINDOWS, format="index")
    assert source == str(tmp_path / "img") and found == {patch_id("img", w) for w in WINDOWS}
    for window in WINDOWS:
        np.testing.assert_array_equal(patches[patch_id("img", window)], crop(labels, window))
    gone = tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png"
    gone.unlink()
    invalid = tmp_path / "img" / f"{patch_id('img', WINDOWS[7])}.png"
    invalid.write_bytes(_png_bytes(np.full((12, 12), 8, np.uint8)))
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS, format="index")
    message = str(error.value)
    assert f"  {gone}: missing (expected at this path)" in message
    assert f"  {invalid}: values [8] outside the class values 0..7" in message
    assert message.rstrip().endswith("Re-export these patches.")


def test_reading_an_entry_stops_past_the_size_limit_even_without_the_header_check(tmp_path, monkeypatch):
    """Second line of defence: were the header check bypassed, the read itself stops at the limit."""
    monkeypatch.setattr(urur.dataset.annotation.formats, "_check_entry", lambda info, zip_path: None)
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_ENTRY_BYTES", 1000)
    with zipfile.ZipFile(tmp_path / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", "background:0,0,0::\n")
        archive.writestr("SegmentationClass/img_r00000_c00000.png", bytes(1001))
    with pytest.raises(
        AnnotationError,
        match=r"img\.zip: entry 'SegmentationClass/img_r00000_c00000\.png' holds more than 1000 bytes",
    ):
        _merge(tmp_path)


def test_merge_annotations_takes_prelabels_from_the_folder_tif_first(tmp_path):
    """``prelabels_dir/<image_id>.tif`` or else ``.png`` fills the missing patches of each image."""
    labels = np.ones((H, W), np.uint8)
    ids = ["tif_only", "png_only", "both"]
    for image_id in ids:
        _write_png_patches(tmp_path / "ann", image_id, labels)
        (tmp_path / "ann" / image_id / f"{patch_id(image_id, WINDOWS[0])}.png").unlink()
    from_tif, from_png = _labels(seed=7), _labels(seed=8)
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
            _png_bytes(crop(labels, window))
        )
    manifest = pd.DataFrame({"image_id": ["big"], "height": [height], "width": [width]})
    qa = merge_annotations(manifest, tmp_path / "ann", tmp_path / "masks", workers=1)
    assert qa.loc[0, "patches_found"] == 2 and qa.loc[0, "overlap_pixels"] == 1000 * 120
    np.testing.assert_array_equal(read_raster(mask_path(tmp_path / "masks", "big")), labels)
    mask, _ = merge_image_annotations("big", height, width, tmp_path / "ann")
    np.testing.assert_array_equal(mask, labels)
    labels[0, 0] = 8  # not a class of the default table
    (tmp_path / "ann" / "big" / f"{patch_id('big', windows[0])}.png").write_bytes(
        _png_bytes(crop(labels, windows[0]))
    )
    with pytest.raises(AnnotationError, match=r"values \[8\] outside the class values 0..7"):
        merge_annotations(manifest, tmp_path / "ann", tmp_path / "masks2", workers=1)


def test_a_single_patch_has_no_overlap_to_agree_on(tmp_path):
    labels = _labels(9)[:SIZE, :SIZE]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / f"{patch_id('one', patch_grid(SIZE, SIZE, SIZE, OVERLAP)[0])}.png").write_bytes(
        _png_bytes(labels)
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
            _png_bytes(np.full((window.height, window.width), k, np.uint8))
        )
    _, qa = _merge(tmp_path, num_classes=len(WINDOWS))
    assert qa["min_pair_agreement"] == 0.0 and qa["overlap_agreement"] == 0.0
    assert (qa["worst_pair_a"], qa["worst_pair_b"]) == (
        patch_id("img", WINDOWS[0]),
        patch_id("img", WINDOWS[1]),
    )
