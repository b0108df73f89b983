"""Annotation exports read back (index PNG, RGB PNG, CVAT zip): their checks, and hostile files refused."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import urur.dataset.annotation.formats
from tests.support.annotation_exports import (
    CVAT_COLOURS,
    WINDOWS,
    example_labels,
    example_labels_with_ignore,
    merge_export,
    png_bytes,
    write_cvat_zip,
    write_png_patches,
)
from urur.classes import URUR_PALETTE, index_to_rgb
from urur.dataset.annotation.formats import AnnotationError, read_export
from urur.dataset.tiling import crop, patch_id
from urur.io.windows import Window


def test_invalid_label_value_names_the_patch(tmp_path):
    labels = example_labels()
    labels[0, 0] = 9
    write_png_patches(tmp_path, "img", labels)
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    with pytest.raises(
        AnnotationError, match=rf"(?s){bad}: values \[9\] outside the class values 0..7.*on_missing"
    ):
        merge_export(tmp_path)


def test_patch_of_the_wrong_size_names_the_patch(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[4])}.png"
    bad.write_bytes(png_bytes(np.zeros((12, 11), np.uint8)))
    with pytest.raises(AnnotationError, match=rf"{bad}: is 12x11 pixels but its window is 12x12"):
        merge_export(tmp_path)


def test_undecodable_patch_names_the_patch(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[3])}.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(AnnotationError, match=rf"{bad}: cannot be decoded as PNG"):
        merge_export(tmp_path)


def test_rgb_patch_with_an_unknown_colour_names_the_patch(tmp_path):
    labels = example_labels()
    write_png_patches(tmp_path, "img", labels, rgb=True)
    bad = tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png"
    rgb = index_to_rgb(crop(labels, WINDOWS[2]))
    rgb[3, 3] = (1, 2, 3)
    bad.write_bytes(png_bytes(rgb))
    with pytest.raises(AnnotationError, match=rf"{bad}: has colours outside the URUR palette.*\(1, 2, 3\)"):
        merge_export(tmp_path)


def test_format_index_refuses_an_rgb_patch(tmp_path):
    write_png_patches(tmp_path, "img", example_labels(), rgb=True)
    with pytest.raises(AnnotationError, match="has 3 channels, expected a single-channel class-value PNG"):
        merge_export(tmp_path, format="index")


@pytest.mark.parametrize("entry", ["../evil.png", "/abs.png", "SegmentationClass/../../evil.png"])
def test_cvat_zip_with_entries_outside_its_folder_is_refused(tmp_path, entry):
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels(), extra=[entry])
    with pytest.raises(AnnotationError, match=rf"{tmp_path / 'img.zip'}: entry '{entry}' points outside"):
        merge_export(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zip"]  # nothing was extracted


def test_cvat_labelmap_with_an_unknown_class_is_refused(tmp_path):
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels(), labelmap={**CVAT_COLOURS, "Car": (5, 5, 5)})
    with pytest.raises(
        AnnotationError, match=r"img.zip: labelmap.txt has label 'Car', which is not a URUR class"
    ):
        merge_export(tmp_path)


def test_cvat_patch_with_a_colour_missing_from_the_labelmap_names_the_member(tmp_path):
    labelmap = {name: rgb for name, rgb in CVAT_COLOURS.items() if name != "road"}
    labels = example_labels()
    write_cvat_zip(tmp_path / "img.zip", "img", labels, labelmap=labelmap)
    with pytest.raises(
        AnnotationError, match=r"img.zip:SegmentationClass/img_r00000_c00000.png: has colours that"
    ):
        merge_export(tmp_path)


def test_image_with_both_a_folder_and_a_zip_is_ambiguous(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels())
    with pytest.raises(AnnotationError, match=f"has {tmp_path / 'img'} and {tmp_path / 'img.zip'}; keep"):
        merge_export(tmp_path)
    _mask, qa = merge_export(tmp_path, format="cvat")
    assert qa["source"] == "img.zip"


@pytest.mark.parametrize("kind", ["index", "rgb", "cvat"])
def test_255_is_the_ignore_value_in_every_format(tmp_path, kind):
    labels = example_labels_with_ignore()
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
                    png_bytes(colours[crop(labels, window)]),
                )
    else:
        write_png_patches(tmp_path, "img", labels, rgb=kind == "rgb")
        if kind == "rgb":  # the ignore colour is white
            patch = np.asarray(Image.open(tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"))
            assert tuple(patch[3, 2]) == (255, 255, 255)
    mask, qa = merge_export(tmp_path)
    np.testing.assert_array_equal(mask, labels)  # consistent patches: the merge is the labels
    assert qa["ignore_pixels"] == 6 * 18 and qa["fill_pixels"] == 0


def _zip_with(path: Path, name: str, data: bytes) -> None:
    write_cvat_zip(path, "img", example_labels())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)


def test_oversized_zip_entry_is_refused_from_its_header(tmp_path, monkeypatch):
    # 1 MiB, so the test stays tiny
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_ENTRY_BYTES", 2**20)
    _zip_with(tmp_path / "img.zip", "SegmentationClass/big.png", bytes(2**20 + 1))
    with pytest.raises(
        AnnotationError, match=r"img\.zip: entry 'SegmentationClass/big\.png' declares 1048577 bytes"
    ) as error:
        merge_export(tmp_path)
    assert str(error.value).endswith(
        "1048577 bytes uncompressed, more than 1048576 bytes for one patch mask; the zip is damaged "
        "or hostile. Re-export the task from CVAT."
    )


def test_zip_bomb_entry_is_refused_by_its_compression_ratio(tmp_path):
    _zip_with(tmp_path / "img.zip", "SegmentationObject/zeros.png", bytes(8 * 2**20))  # ~1000:1
    with pytest.raises(
        AnnotationError, match=r"img\.zip: entry 'SegmentationObject/zeros\.png' is compressed \d+:1"
    ):
        merge_export(tmp_path)


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
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels())
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
        merge_export(tmp_path)
    message = str(error.value)
    assert f"img.zip:{bomb}: is a decompression bomb" in message
    assert f"img.zip:{junk}: cannot be decoded as PNG (not an image file)" in message
    assert "BytesIO" not in message


def test_oversized_png_is_refused_from_its_header_before_decoding(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    big = tmp_path / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    big.write_bytes(_png_header_only(5000, 5000))  # no pixel data: decoding it would fail
    with pytest.raises(AnnotationError, match=rf"{big}: is 5000x5000 pixels but its window is 12x12"):
        merge_export(tmp_path)


def test_cvat_colour_clash_transparency_bad_zip_and_option_typos_are_named(tmp_path):
    clash = {**CVAT_COLOURS, "road": CVAT_COLOURS["water"]}
    write_cvat_zip(tmp_path / "clash" / "img.zip", "img", example_labels(), labelmap=clash)
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt gives colour \(160, 170, 180\) to two"
    ):
        merge_export(tmp_path / "clash")
    write_png_patches(tmp_path / "alpha", "img", example_labels(), rgb=True)
    first = tmp_path / "alpha" / "img" / f"{patch_id('img', WINDOWS[0])}.png"
    rgba = np.dstack([np.asarray(Image.open(first)), np.full((12, 12), 128, np.uint8)])
    first.write_bytes(png_bytes(rgba))
    with pytest.raises(AnnotationError, match=rf"{first}: has transparent pixels; export it without"):
        merge_export(tmp_path / "alpha")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "img.zip").write_bytes(b"PK not really a zip")
    with pytest.raises(AnnotationError, match=r"img\.zip is not a readable zip .*re-export it from CVAT"):
        merge_export(tmp_path / "bad")
    with pytest.raises(ValueError, match=r"on_missing must be 'error' or 'prelabel', got 'prelabels'"):
        merge_export(tmp_path / "alpha", on_missing="prelabels")
    with pytest.raises(ValueError, match=r"unknown annotation format 'png'; use index, rgb, cvat"):
        merge_export(tmp_path / "alpha", format="png")


def test_png_patch_errors_name_the_patch_and_the_problem(tmp_path):
    labels = example_labels()
    first = f"{patch_id('img', WINDOWS[0])}.png"
    # Two channels (grey + alpha) are neither class values nor RGB.
    write_png_patches(tmp_path / "la", "img", labels, rgb=True)
    two = tmp_path / "la" / "img" / first
    two.write_bytes(png_bytes(np.dstack([crop(labels, WINDOWS[0])] * 2)))
    with pytest.raises(AnnotationError, match=rf"{two}: has pixel shape \(2,\), expected RGB"):
        merge_export(tmp_path / "la")
    # A PNG cut short: the header decodes, the pixel data does not.
    write_png_patches(tmp_path / "cut", "img", labels)
    cut = tmp_path / "cut" / "img" / first
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.raises(
        AnnotationError, match=rf"{cut}: cannot be decoded as PNG \(image file is truncated\)"
    ):
        merge_export(tmp_path / "cut")
    # format="rgb" refuses class-value (single-channel) patches.
    write_png_patches(tmp_path / "index", "img", labels)
    with pytest.raises(
        AnnotationError,
        match=rf"{tmp_path / 'index' / 'img' / first}: is single-channel, expected an RGB mask",
    ):
        merge_export(tmp_path / "index", format="rgb")


def _zip_with_labelmap(path: Path, labelmap: str) -> None:
    """A CVAT-style zip holding ``labelmap`` as its labelmap.txt and one (valid) patch."""
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("labelmap.txt", labelmap)
        archive.writestr(
            f"SegmentationClass/{patch_id('img', WINDOWS[0])}.png", png_bytes(example_labels()[:12, :12])
        )


def test_cvat_labelmap_and_zip_layout_errors_are_named(tmp_path):
    labels = example_labels()
    header = "# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
    _zip_with_labelmap(tmp_path / "line" / "img.zip", header + "road:190,200::\n")  # two numbers only
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt line 3 'road:190,200::' is not 'name:r,g,b::'"
    ):
        merge_export(tmp_path / "line")
    _zip_with_labelmap(tmp_path / "range" / "img.zip", header + "road:190,200,256::\n")
    with pytest.raises(AnnotationError, match=r"line 3 'road:190,200,256::' is not 'name:r,g,b::'"):
        merge_export(tmp_path / "range")
    _zip_with_labelmap(tmp_path / "nocolour" / "img.zip", header + "road\n")
    with pytest.raises(AnnotationError, match=r"line 3 'road' is not 'name:r,g,b::'"):
        merge_export(tmp_path / "nocolour")
    (tmp_path / "empty").mkdir()
    with zipfile.ZipFile(tmp_path / "empty" / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", "# label:color_rgb:parts:actions\n\n")
    with pytest.raises(
        AnnotationError, match=r"img\.zip: labelmap\.txt lists no labels; re-export from CVAT"
    ):
        merge_export(tmp_path / "empty")
    (tmp_path / "nolabelmap").mkdir()
    with zipfile.ZipFile(tmp_path / "nolabelmap" / "img.zip", "w") as archive:
        archive.writestr(f"SegmentationClass/{patch_id('img', WINDOWS[0])}.png", png_bytes(labels[:12, :12]))
    with pytest.raises(
        AnnotationError, match=r"img\.zip: no labelmap\.txt; export the task as 'Segmentation mask 1\.1'"
    ):
        merge_export(tmp_path / "nolabelmap")
    write_png_patches(tmp_path / "folder", "img", labels)
    with pytest.raises(
        AnnotationError, match=rf"no CVAT export {tmp_path / 'folder' / 'img.zip'} for image img; export"
    ):
        merge_export(tmp_path / "folder", format="cvat")


def test_read_export_names_every_missing_or_invalid_patch(tmp_path):
    labels = example_labels()
    write_png_patches(tmp_path, "img", labels)
    patches, found, source = read_export(tmp_path, "img", WINDOWS, format="index")
    assert source == str(tmp_path / "img") and found == {patch_id("img", w) for w in WINDOWS}
    for window in WINDOWS:
        np.testing.assert_array_equal(patches[patch_id("img", window)], crop(labels, window))
    gone = tmp_path / "img" / f"{patch_id('img', WINDOWS[2])}.png"
    gone.unlink()
    invalid = tmp_path / "img" / f"{patch_id('img', WINDOWS[7])}.png"
    invalid.write_bytes(png_bytes(np.full((12, 12), 8, np.uint8)))
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
    ) as error:
        merge_export(tmp_path)
    assert str(error.value).endswith(
        "1000 bytes; the zip is damaged or hostile. Re-export the task from CVAT."
    )


# --- hand-built exports whose expected masks and messages are written out by hand ---------------


def _palette_png(
    indices: list[list[int]], palette: list[tuple[int, int, int]], transparent: int | None = None
) -> bytes:
    """A palette-mode ("P") PNG of ``indices`` into ``palette``, as CVAT writes its masks;
    ``transparent``: the palette entry marked transparent (tRNS)."""
    pixels = np.array(indices, np.uint8)
    image = Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), pixels.tobytes())
    image.putpalette([channel for colour in palette for channel in colour])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **({} if transparent is None else {"transparency": transparent}))
    return buffer.getvalue()


def test_a_hand_written_cvat_zip_with_a_palette_mask_reads_to_the_classes_of_its_label_names(tmp_path):
    labelmap = (
        b"# label:color_rgb:parts:actions \xff (not UTF-8: replaced, the comment is skipped)\n"
        b"\n"
        b"background:0,0,0::\n"
        b"  Road :255, 0,0::\n"
        b"road:255,0,0::\n"  # the same label and colour twice is no clash
        b"Water:0,0,255::\n"
        b"IGNORE:255,255,255::\n"
    )
    png = _palette_png([[0, 1, 2], [3, 1, 0]], [(0, 0, 0), (255, 0, 0), (0, 0, 255), (255, 255, 255)])
    with zipfile.ZipFile(tmp_path / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", labelmap)
        archive.writestr("SegmentationClass/img_r00000_c00000.png", png)
        # Not patch masks: other folders, nested folders, other extensions.
        archive.writestr("SegmentationObject/img_r00000_c00003.png", png)
        archive.writestr("SegmentationClass/old/img_r00000_c00006.png", png)
        archive.writestr("SegmentationClass/img_r00000_c00009.txt", b"notes")
    patches, found, source = read_export(tmp_path, "img", [Window(0, 0, 2, 3)])
    labels = patches["img_r00000_c00000"]
    assert labels.dtype == np.uint8 and labels.tolist() == [[0, 7, 6], [255, 7, 0]]
    assert found == {"img_r00000_c00000"} and source == str(tmp_path / "img.zip")


def test_index_pngs_may_be_palette_pngs_and_rgb_pngs_may_be_opaque_rgba(tmp_path):
    window = Window(0, 0, 1, 3)
    (tmp_path / "index" / "img").mkdir(parents=True)
    # A palette PNG in a folder holds class values: its palette's colours are not read.
    (tmp_path / "index" / "img" / "img_r00000_c00000.png").write_bytes(
        _palette_png([[2, 0, 255]], [(9, 9, 9)] * 256)
    )
    patches, _, _ = read_export(tmp_path / "index", "img", [window])
    assert patches["img_r00000_c00000"].tolist() == [[2, 0, 255]]
    (tmp_path / "rgba" / "img").mkdir(parents=True)
    rgba = np.array([[(*URUR_PALETTE[7], 255), (*URUR_PALETTE[1], 255), (255, 255, 255, 255)]], np.uint8)
    (tmp_path / "rgba" / "img" / "img_r00000_c00000.png").write_bytes(png_bytes(rgba))
    patches, _, _ = read_export(tmp_path / "rgba", "img", [window], format="rgb")
    assert patches["img_r00000_c00000"].tolist() == [[7, 1, 255]]


@pytest.mark.parametrize(
    "entry", ["..\\evil.png", "C:evil.png", "c:\\evil.png", "SegmentationClass\\..\\..\\x.png"]
)
def test_windows_style_entries_outside_the_archive_are_refused_in_full(tmp_path, entry):
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels(), extra=[entry])
    with pytest.raises(AnnotationError) as error:
        merge_export(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'img.zip'}: entry {entry!r} points outside the archive's folder; the zip is unsafe, "
        "do not extract it. Re-export the task from CVAT."
    )


def test_entries_with_a_colon_or_dots_inside_their_names_are_safe(tmp_path):
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels(), extra=["notes/a:b.txt", "notes/v1..2.txt"])
    np.testing.assert_array_equal(merge_export(tmp_path)[0], example_labels())


def test_entry_limits_admit_an_entry_exactly_at_them(tmp_path, monkeypatch):
    """Sizes and ratios exactly at the limits are admitted, past them refused (limits lowered to
    the hand-built zips' own entries so the test stays tiny)."""
    formats = urur.dataset.annotation.formats
    _zip_with(tmp_path / "img.zip", "SegmentationObject/zeros.png", bytes(2**20))  # ~1000:1, 1 MiB
    with zipfile.ZipFile(tmp_path / "img.zip") as archive:
        infos = {info.filename: info for info in archive.infolist()}
    zeros = infos["SegmentationObject/zeros.png"]
    assert zeros.file_size == formats.MAX_RATIO_FREE_BYTES  # not above it: any ratio is admitted
    merge_export(tmp_path)
    # The ratio-free size one byte below the entry's: a ratio exactly at the limit is admitted,
    # one above it (the limit back at 200) refused.
    monkeypatch.setattr(formats, "MAX_RATIO_FREE_BYTES", 2**20 - 1)
    ratio = zeros.file_size / zeros.compress_size
    monkeypatch.setattr(formats, "MAX_ENTRY_RATIO", ratio)
    merge_export(tmp_path)
    monkeypatch.setattr(formats, "MAX_ENTRY_RATIO", 200)
    with pytest.raises(AnnotationError) as error:
        merge_export(tmp_path)
    assert str(error.value) == (
        f"{tmp_path / 'img.zip'}: entry 'SegmentationObject/zeros.png' is compressed {ratio:.0f}:1 "
        f"({zeros.compress_size} -> {2**20} bytes), more than 200:1 for a PNG mask; the zip is hostile "
        "(a zip bomb). Re-export the task from CVAT."
    )
    # An entry of exactly MAX_ENTRY_BYTES (the largest patch, read whole) passes the header check
    # and the read.
    write_cvat_zip(tmp_path / "plain" / "img.zip", "img", example_labels())
    with zipfile.ZipFile(tmp_path / "plain" / "img.zip") as archive:
        biggest = max(info.file_size for info in archive.infolist())
    monkeypatch.setattr(formats, "MAX_ENTRY_BYTES", biggest)
    np.testing.assert_array_equal(merge_export(tmp_path / "plain")[0], example_labels())


def test_a_large_stored_entry_is_no_zip_bomb(tmp_path, monkeypatch):
    """Stored (1:1) entries above the ratio-free size pass: only their ratio counts, not their size."""
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_RATIO_FREE_BYTES", 100)
    write_cvat_zip(tmp_path / "img.zip", "img", example_labels())
    with zipfile.ZipFile(tmp_path / "img.zip", "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("SegmentationObject/stored.png", bytes(1000))
    np.testing.assert_array_equal(merge_export(tmp_path)[0], example_labels())


def test_labelmap_errors_read_in_full(tmp_path):
    zip_path = tmp_path / "img.zip"
    names = "others, building, farmland, greenhouse, woodland, bareland, water, road"
    cases = {
        "road:0,0,256::\n": "line 1 'road:0,0,256::' is not 'name:r,g,b::'; re-export from CVAT",
        "car:1,1,1::\n": (
            f"has label 'car', which is not a URUR class ({names}; 'background' means others) nor "
            "'ignore'. Rename the label in the CVAT task and re-export."
        ),
        "road:1,1,1::\nwater:1,1,1::\n": (
            "gives colour (1, 1, 1) to two classes; give each label its own colour"
        ),
    }
    for labelmap, problem in cases.items():
        with zipfile.ZipFile(zip_path, "w") as archive:
            archive.writestr("labelmap.txt", labelmap)
        with pytest.raises(AnnotationError) as error:
            read_export(tmp_path, "img", [Window(0, 0, 1, 1)])
        assert str(error.value) == f"{zip_path}: labelmap.txt {problem}"


def test_a_report_lists_ten_unusable_patches_then_counts_the_rest(tmp_path):
    write_png_patches(tmp_path, "img", example_labels())
    paths = [tmp_path / "img" / f"{patch_id('img', w)}.png" for w in WINDOWS]
    for path in paths[:10]:
        path.unlink()
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS)
    listed = [f"  {path}: missing (expected at this path)" for path in paths[:10]]
    header = "image img: {} annotation patch(es) cannot be used:"
    assert str(error.value) == "\n".join([header.format(10), *listed, "Re-export these patches."])
    for path in paths[10:]:
        path.unlink()
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS)
    assert str(error.value) == "\n".join(
        [header.format(12), *listed, "  ... and 2 more", "Re-export these patches."]
    )


def test_a_patch_with_many_bad_values_lists_the_first_ten(tmp_path):
    (tmp_path / "img").mkdir()
    values = np.array([[*range(8, 19), 255, 7]], np.uint8)  # 11 values outside 0..7, then ignore and road
    (tmp_path / "img" / "img_r00000_c00000.png").write_bytes(png_bytes(values))
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", [Window(0, 0, 1, 13)])
    assert (
        f"{tmp_path / 'img' / 'img_r00000_c00000.png'}: values [8, 9, 10, 11, 12, 13, 14, 15, 16, 17] "
        "outside the class values 0..7 and 255 (ignore)\n"
    ) in str(error.value)


def test_a_cvat_label_beyond_num_classes_is_no_class(tmp_path):
    with zipfile.ZipFile(tmp_path / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", "background:0,0,0::\nroad:1,1,1::\n")
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", [Window(0, 0, 1, 1)], num_classes=7)
    assert (
        "has label 'road', which is not a URUR class (others, building, farmland, greenhouse, "
        "woodland, bareland, water; 'background' means others)"
    ) in str(error.value)


@pytest.mark.parametrize(("transparent", "refused"), [(1, True), (3, False)])
def test_a_cvat_palette_mask_is_refused_where_its_pixels_are_transparent(tmp_path, transparent, refused):
    """Palette transparency follows the RGBA rule: transparent pixels are refused, an unused
    transparent entry is not (before, the entry's colour was read and the transparency dropped)."""
    png = _palette_png([[0, 1, 2]], [(0, 0, 0), (255, 0, 0), (0, 0, 255), (9, 9, 9)], transparent)
    with zipfile.ZipFile(tmp_path / "img.zip", "w") as archive:
        archive.writestr("labelmap.txt", "background:0,0,0::\nroad:255,0,0::\nwater:0,0,255::\n")
        archive.writestr("SegmentationClass/img_r00000_c00000.png", png)
    if refused:
        with pytest.raises(AnnotationError, match=r"img_r00000_c00000\.png: has transparent pixels"):
            read_export(tmp_path, "img", [Window(0, 0, 1, 3)])
    else:
        patches, *_ = read_export(tmp_path, "img", [Window(0, 0, 1, 3)])
        assert patches["img_r00000_c00000"].tolist() == [[0, 7, 6]]
