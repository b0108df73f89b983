"""Label Studio: the brush RLE against hand-made streams and the reference package, tasks, the
labeling config, and exports read back like CVAT zips (same checks, errors naming the file)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import urur.dataset.annotation.formats
from tests.support.annotation_exports import WINDOWS, example_labels, example_labels_with_ignore, merge_export
from urur.classes import URUR_CLASSES, URUR_PALETTE
from urur.dataset.annotation.export import write_annotation_export
from urur.dataset.annotation.formats import AnnotationError, read_export
from urur.dataset.annotation.label_studio import (
    FROM_NAME,
    TO_NAME,
    BrushRleError,
    decode_brush_rle,
    encode_brush_rle,
    label_config,
    patch_tasks,
)
from urur.dataset.tiling import crop, patch_id
from urur.io.windows import Window

HEADER = "00000000000000000000000000001000" + "00111" + "0010" + "0011" + "0111" + "1111"  # 8 values


def _bytes(bits: str) -> list[int]:
    bits += "0" * (-len(bits) % 8)
    return [int(bits[k : k + 8], 2) for k in range(0, len(bits), 8)]


def test_a_hand_made_mask_encodes_to_the_hand_written_stream():
    # 1x2 mask [0, 255]: RGBA 0 0 0 0 255 255 255 255, two runs of 4 (flag 1, size 3 bits, count - 1 = 3).
    runs = "1" + "00" + "011" + "00000000" + "1" + "00" + "011" + "11111111"
    # 53 + 28 = 81 bits: 7 bits of padding, as label-studio-converter pads.
    assert encode_brush_rle(np.array([[0, 255]], np.uint8)) == _bytes(HEADER + runs)
    np.testing.assert_array_equal(decode_brush_rle(_bytes(HEADER + runs), 1, 2), [[0, 255]])


def test_decoder_reads_literal_blocks_as_label_studio_s_editor_writes_them():
    # Two pixels in one literal block of 8 values (flag 0, count - 1 = 7 in the 3-bit field).
    literal = "0" + "00" + "111" + "".join(f"{v:08b}" for v in (1, 2, 3, 0, 9, 9, 9, 200))
    alpha = decode_brush_rle(_bytes(HEADER + literal), 1, 2)
    np.testing.assert_array_equal(alpha, [[0, 200]])


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    smooth = np.zeros((300, 400), np.uint8)
    smooth[20:250, 30:390] = 255  # runs of 17..256 and > 65536 RGBA values
    return [
        np.array([[255]], np.uint8),
        np.zeros((1, 1), np.uint8),
        (rng.random((7, 9)) > 0.5).astype(np.uint8) * 255,
        np.repeat((rng.random((5, 1)) > 0.5).astype(np.uint8) * 255, 3, axis=1),  # runs of 12 (4-bit)
        smooth,
        np.full((300, 300), 255, np.uint8),  # one run of 360000: 6 blocks of 2**16 or less
    ]


@pytest.mark.parametrize("k", range(6))
def test_encoding_is_label_studio_converter_s_byte_for_byte_and_each_decodes_the_other(k):
    brush = pytest.importorskip("label_studio_converter.brush")
    mask = _masks()[k]
    rle = encode_brush_rle(mask)
    assert rle == brush.mask2rle(mask)
    reference_alpha = brush.decode_rle(rle).reshape(*mask.shape, 4)[:, :, 3]
    np.testing.assert_array_equal(reference_alpha, mask)
    np.testing.assert_array_equal(decode_brush_rle(rle, *mask.shape), mask)


def test_hostile_or_broken_streams_are_refused_before_allocating():
    good = encode_brush_rle(np.zeros((2, 3), np.uint8))
    with pytest.raises(BrushRleError, match="holds 24 values, not the 40000000000 of a 100000x100000"):
        decode_brush_rle(good, 100_000, 100_000)
    with pytest.raises(BrushRleError, match="holds 24 values, not the 28 of a 1x7"):
        decode_brush_rle(good, 1, 7)
    with pytest.raises(BrushRleError, match="not a list of byte values"):
        decode_brush_rle([*good[:-1], 256], 2, 3)
    with pytest.raises(BrushRleError, match="fewer than its 53-bit header"):
        decode_brush_rle(good[:5], 2, 3)
    with pytest.raises(BrushRleError, match="more than any encoding of a 2x3 mask"):
        decode_brush_rle(good + [0] * 1000, 2, 3)
    with pytest.raises(BrushRleError, match="word size 16"):
        decode_brush_rle(_bytes(HEADER[:32] + "01111" + HEADER[37:] + "0" * 40), 1, 2)
    with pytest.raises(BrushRleError, match="ends after 4 of its 8 values"):
        decode_brush_rle(_bytes(HEADER + "1" + "00" + "011" + "00000000"), 1, 2)
    with pytest.raises(BrushRleError, match="runs past its 8 values"):
        decode_brush_rle(_bytes(HEADER + "1" + "01" + "1111" + "00000000"), 1, 2)  # a run of 16


def test_label_config_lists_every_class_with_its_colour_and_ignore():
    root = ET.fromstring(label_config(URUR_CLASSES, URUR_PALETTE))
    image, brush = root.find("Image"), root.find("BrushLabels")
    assert image.get("name") == TO_NAME and image.get("value") == f"${TO_NAME}"
    assert brush.get("name") == FROM_NAME and brush.get("toName") == TO_NAME
    labels = {label.get("value"): label.get("background") for label in brush.findall("Label")}
    assert list(labels) == [*URUR_CLASSES, "ignore"]
    assert labels["building"] == "#e6e6e6" and labels["road"] == "#f06450" and labels["ignore"] == "#ffffff"


def test_tasks_hold_one_region_per_class_present_as_predictions_or_annotations():
    labels = np.zeros((3, 4), np.uint8)
    labels[:, 2:] = 7
    labels[0, 0] = 255
    patches = {"img_r00000_c00000": labels}
    [task] = patch_tasks(
        "img", patches, URUR_CLASSES, model_version="stdc-ab/best", scores={"img_r00000_c00000": 0.25}
    )
    assert task["data"] == {
        "image": "/data/local-files/?d=patches/img/img_r00000_c00000.png",
        "image_id": "img",
        "patch_id": "img_r00000_c00000",
    }
    [prediction] = task["predictions"]
    assert prediction["model_version"] == "stdc-ab/best" and prediction["score"] == 0.25
    regions = {r["value"]["brushlabels"][0]: r for r in prediction["result"]}
    assert sorted(regions) == ["ignore", "others", "road"]
    for name, value in (("others", 0), ("road", 7), ("ignore", 255)):
        region = regions[name]
        assert (region["type"], region["from_name"], region["to_name"]) == ("brushlabels", FROM_NAME, TO_NAME)
        assert (region["original_height"], region["original_width"], region["value"]["format"]) == (
            3,
            4,
            "rle",
        )
        np.testing.assert_array_equal(decode_brush_rle(region["value"]["rle"], 3, 4) == 255, labels == value)
    [exported] = patch_tasks("img", patches, URUR_CLASSES, image_root="http://host:8000/")
    assert exported["data"]["image"] == "http://host:8000/img/img_r00000_c00000.png"
    assert "predictions" not in exported and exported["annotations"][0]["was_cancelled"] is False


# --- exports read as annotator exports -------------------------------------------------------


def _export(folder: Path, labels: np.ndarray, image_id: str = "img") -> Path:
    """A Label Studio export of ``labels`` on the test grid, as a list of tasks."""
    patches = {patch_id(image_id, w): np.ascontiguousarray(crop(labels, w)) for w in WINDOWS}
    path = folder / f"{image_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(patch_tasks(image_id, patches, URUR_CLASSES)))
    return path


def _edit(path: Path, edit) -> None:
    tasks = json.loads(path.read_text())
    edit(tasks)
    path.write_text(json.dumps(tasks))


def _regions(tasks: list, k: int = 0) -> list:
    return tasks[k]["annotations"][0]["result"]


def test_written_export_merges_back_to_the_labels_with_ignore(tmp_path):
    labels = example_labels_with_ignore()
    _export(tmp_path, labels)
    mask, qa = merge_export(tmp_path)
    np.testing.assert_array_equal(mask, labels)
    assert qa["source"] == "img.json" and qa["patches_found"] == len(WINDOWS) == 12
    assert qa["ignore_pixels"] == 6 * 18 and qa["overlap_agreement"] == 1.0


def test_the_annotation_writer_s_label_studio_export_replaces_the_image_s_other_exports(tmp_path):
    labels = example_labels(2)
    patches = {patch_id("img", w): np.ascontiguousarray(crop(labels, w)) for w in WINDOWS}
    write_annotation_export(tmp_path, "img", patches, "cvat")
    path = write_annotation_export(tmp_path, "img", patches, "label_studio")
    assert path == tmp_path / "img.json" and sorted(p.name for p in tmp_path.iterdir()) == ["img.json"]
    np.testing.assert_array_equal(merge_export(tmp_path, format="label_studio")[0], labels)


def test_regions_paint_in_order_unpainted_pixels_are_ignore_and_names_ignore_case(tmp_path):
    labels = example_labels(1)
    path = _export(tmp_path, labels)
    window = WINDOWS[0]
    top = np.zeros((window.height, window.width), np.uint8)
    top[:2, :] = 255

    def edit(tasks):
        regions = _regions(tasks)
        for region in regions:
            region["value"]["brushlabels"] = [region["value"]["brushlabels"][0].upper()]
        regions.append(
            {**regions[0], "value": {"format": "rle", "rle": encode_brush_rle(top), "brushlabels": ["Water"]}}
        )
        # Task 2: only the first row painted (alpha 200: over half opaque), the rest unlabelled.
        row = np.zeros((window.height, window.width), np.uint8)
        row[0] = 200
        tasks[1]["annotations"][0]["result"] = [
            {**regions[0], "value": {"format": "rle", "rle": encode_brush_rle(row), "brushlabels": ["road"]}}
        ]

    _edit(path, edit)
    patches, _, _ = read_export(tmp_path, "img", WINDOWS)
    first = patches[patch_id("img", WINDOWS[0])]
    np.testing.assert_array_equal(first[:2], 6)  # the later region is on top
    np.testing.assert_array_equal(first[2:], crop(labels, window)[2:])
    second = patches[patch_id("img", WINDOWS[1])]
    assert (second[0] == 7).all() and (second[1:] == 255).all()


def test_patch_found_by_its_image_url_when_the_task_has_no_patch_id(tmp_path):
    labels = example_labels(3)
    path = _export(tmp_path, labels)
    pids = [patch_id("img", w) for w in WINDOWS]

    def edit(tasks):
        for k, task in enumerate(tasks):
            url = [
                f"/data/local-files/?d=patches/img/{pids[k]}.png",
                f"/data/upload/3/0f3a9c1e-{pids[k]}.png",  # Label Studio's name for an uploaded file
                f"http://host:8000/img/{pids[k]}.png",
            ][k % 3]
            task["data"] = {"image": url}

    _edit(path, edit)
    patches, found, _ = read_export(tmp_path, "img", WINDOWS)
    assert found == set(pids)
    for window in WINDOWS:
        np.testing.assert_array_equal(patches[patch_id("img", window)], crop(labels, window))


def test_cancelled_or_absent_annotations_are_missing_patches(tmp_path):
    path = _export(tmp_path, example_labels())

    def edit(tasks):
        tasks[0]["annotations"][0]["was_cancelled"] = True
        tasks[1]["annotations"] = []

    _edit(path, edit)
    first, second = (f"{path}:{patch_id('img', w)}" for w in WINDOWS[:2])
    with pytest.raises(AnnotationError, match="2 annotation patch") as error:
        merge_export(tmp_path)
    assert f"{first}: missing" in str(error.value) and f"{second}: missing" in str(error.value)


def test_unknown_label_is_named_with_the_file_the_task_and_the_fix(tmp_path):
    path = _export(tmp_path, example_labels())

    def edit(tasks):
        tasks[4]["id"] = 57
        _regions(tasks, 4)[0]["value"]["brushlabels"] = ["Tree"]

    _edit(path, edit)
    pid = patch_id("img", WINDOWS[4])
    with pytest.raises(
        AnnotationError, match=f"{path}:{pid} \\(task 57\\): brush label 'Tree' is not a URUR class"
    ) as error:
        merge_export(tmp_path)
    assert "others, building" in str(error.value) and "label_config.xml" in str(error.value)


def test_size_mismatch_bad_rle_and_other_region_types_name_the_patch(tmp_path):
    path = _export(tmp_path, example_labels())

    def edit(tasks):
        _regions(tasks, 0)[0]["original_width"] = 1000
        _regions(tasks, 1)[0]["value"]["rle"] = _regions(tasks, 1)[0]["value"]["rle"][:9]
        _regions(tasks, 2).append(
            {"type": "polygonlabels", "value": {"points": [], "polygonlabels": ["road"]}}
        )
        _regions(tasks, 3)[0]["value"]["brushlabels"] = ["road", "water"]

    _edit(path, edit)
    with pytest.raises(AnnotationError, match="4 annotation patch") as error:
        merge_export(tmp_path)
    message = str(error.value)
    first, second, third, fourth = (f"{path}:{patch_id('img', w)}" for w in WINDOWS[:4])
    assert f"{first}: has a brush region of 12x1000 pixels but its window is 12x12" in message
    assert f"{second}: has a " in message and "brush region whose RLE ends after" in message
    assert f"{third}: has a polygonlabels region; only brush regions (brushlabels) are read" in message
    assert f"{fourth}: has a brush region labelled ['road', 'water']; give each region one label" in message


def test_hostile_sizes_are_refused_before_decoding(tmp_path, monkeypatch):
    path = _export(tmp_path, example_labels())

    def edit(tasks):
        region = _regions(tasks, 0)[0]
        region["original_width"] = region["original_height"] = 100_000  # size check first, no allocation
        _regions(tasks, 1)[0]["value"]["rle"] = encode_brush_rle(np.zeros((3000, 3000), np.uint8))

    _edit(path, edit)
    with pytest.raises(AnnotationError) as error:
        merge_export(tmp_path)
    assert "100000x100000 pixels but its window is 12x12" in str(error.value)
    assert "holds 36000000 values, not the 576 of a 12x12 RGBA mask" in str(error.value)
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_LABEL_STUDIO_BYTES", 1000)
    with pytest.raises(
        AnnotationError, match=f"{path} is \\d+ bytes, more than 1000 for one image's Label Studio"
    ):
        merge_export(tmp_path)


def test_broken_files_duplicates_and_ambiguous_exports_are_named(tmp_path):
    path = tmp_path / "img.json"
    path.write_text("{not json")
    with pytest.raises(
        AnnotationError, match=f"{path} is not JSON .*export the project again from Label Studio"
    ):
        merge_export(tmp_path)
    path.write_text(json.dumps({"data": {}}))
    with pytest.raises(AnnotationError, match=r"holds a JSON dict, not the list of tasks.*not JSON-MIN"):
        merge_export(tmp_path)
    path.write_text(json.dumps([{"data": {"text": "x"}}]))
    with pytest.raises(AnnotationError, match=r"task 1 has no data\.patch_id nor data\.image"):
        merge_export(tmp_path)
    _export(tmp_path, example_labels())
    _edit(path, lambda tasks: tasks.append(tasks[0]))
    with pytest.raises(AnnotationError, match=f"two tasks hold patch {patch_id('img', WINDOWS[0])}"):
        merge_export(tmp_path)
    _export(tmp_path, example_labels())
    (tmp_path / "img.zip").write_bytes(b"")
    with pytest.raises(AnnotationError, match=f"has {tmp_path / 'img.zip'} and {path}; keep only"):
        merge_export(tmp_path)
    with pytest.raises(AnnotationError, match=r"no Label Studio export .*other\.json for image other"):
        merge_export(tmp_path, "other", format="label_studio")


def _brush(label: object, layer: np.ndarray, **value) -> dict:
    """A hand-written brushlabels region of ``layer`` (alpha per pixel) named ``label``."""
    height, width = layer.shape
    return {
        "type": "brushlabels",
        "original_height": height,
        "original_width": width,
        "value": {"rle": encode_brush_rle(layer), "brushlabels": [label], **value},
    }


def test_a_hand_written_task_reads_its_last_live_annotation_and_paints_alpha_128_and_up(tmp_path):
    window = Window(0, 0, 1, 4)
    road = _brush("road", np.full((1, 4), 255, np.uint8))
    # No "format" key: Label Studio's default is rle. Alpha 127 stays unlabelled, 128 is painted.
    water = _brush("Water", np.array([[127, 128, 129, 255]], np.uint8))
    tasks = [
        {
            "id": 7,
            "data": {"patch_id": "img_r00000_c00000"},
            "annotations": [
                {"result": [road]},  # superseded by the later annotation
                # Skipped: a result that is no region, a region type that holds no labels.
                {"result": ["not a region", {"type": "rectangle", "value": {}}, water]},
                {"was_cancelled": True, "result": [road]},
            ],
        }
    ]
    (tmp_path / "img.json").write_text(json.dumps(tasks))
    patches, found, source = read_export(tmp_path, "img", [window])
    labels = patches["img_r00000_c00000"]
    assert labels.dtype == np.uint8 and labels.tolist() == [[255, 6, 6, 6]]
    assert found == {"img_r00000_c00000"} and source == str(tmp_path / "img.json")


def test_hand_written_broken_regions_and_a_missing_task_are_each_named(tmp_path):
    windows = [Window(0, 2 * k, 1, 2) for k in range(5)]
    layer = np.full((1, 2), 255, np.uint8)
    regions = [
        {**_brush("road", layer), "value": None},
        _brush("road", layer, format="png"),
        _brush("water", layer, rle="abc"),
        {"type": "polygonlabels", "value": {"points": [], "polygonlabels": ["road"]}},
    ]
    tasks = [
        {"id": 10 + k, "data": {"patch_id": patch_id("img", w)}, "annotations": [{"result": [region]}]}
        for k, (w, region) in enumerate(zip(windows, regions, strict=False))
    ]  # the fifth window has no task
    path = tmp_path / "img.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", windows)
    fix = "export the project again from Label Studio as JSON"
    assert str(error.value).splitlines() == [
        "image img: 5 annotation patch(es) cannot be used:",
        f"  {path}:img_r00000_c00000 (task 10): has a brush region labelled None; give each region one label",
        f"  {path}:img_r00000_c00002 (task 11): has a 'road' brush region without an RLE mask; {fix}",
        f"  {path}:img_r00000_c00004 (task 12): has a 'water' brush region without an RLE mask; {fix}",
        f"  {path}:img_r00000_c00006 (task 13): has a polygonlabels region; only brush regions "
        "(brushlabels) are read: redraw it with the brush",
        f"  {path}:img_r00000_c00008: missing (expected at this path)",
        "Re-export these patches.",
    ]
    with pytest.raises(AnnotationError, match=f"no CVAT export {tmp_path / 'img.zip'} for image img"):
        read_export(tmp_path, "img", windows, format="cvat")
    path.write_text(json.dumps([{"data": {"image": ""}}]))
    with pytest.raises(AnnotationError, match=rf"{path}: task 1 has no data\.patch_id nor data\.image"):
        read_export(tmp_path, "img", windows)


def test_a_file_of_exactly_the_size_limit_is_read_and_one_byte_more_is_refused(tmp_path, monkeypatch):
    path = _export(tmp_path, example_labels())
    size = path.stat().st_size
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_LABEL_STUDIO_BYTES", size)
    assert set(read_export(tmp_path, "img", WINDOWS)[0]) == {patch_id("img", w) for w in WINDOWS}
    monkeypatch.setattr(urur.dataset.annotation.formats, "MAX_LABEL_STUDIO_BYTES", size - 1)
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS)
    assert str(error.value) == (
        f"{path} is {size} bytes, more than {size - 1} for one image's Label Studio export; the file "
        "is damaged or hostile, or holds more than one image: export each image's tasks as <image_id>.json"
    )


def test_a_task_that_is_not_an_object_and_a_duplicate_task_are_named_in_full(tmp_path):
    path = tmp_path / "img.json"
    path.write_text(json.dumps(["img_r00000_c00000"]))
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS)
    assert str(error.value) == (
        f"{path}: task 1 has no data.patch_id nor data.image naming its patch; "
        "export the project again from Label Studio as JSON"
    )
    task = {"data": {"patch_id": "img_r00000_c00000"}}
    path.write_text(json.dumps([task, task]))
    with pytest.raises(AnnotationError) as error:
        read_export(tmp_path, "img", WINDOWS)
    assert str(error.value) == (
        f"{path}: two tasks hold patch img_r00000_c00000; delete the duplicate task in Label Studio "
        "and export again"
    )


def test_label_studio_converter_reads_the_export_with_the_label_config(tmp_path):
    """The reference converter parses label_config() with Label Studio's own config parser and
    turns the export's regions into one PNG per label: each is its class's pixels."""
    converter = pytest.importorskip("label_studio_converter")
    labels = example_labels_with_ignore()[:12, :12]
    tasks = patch_tasks("img", {"img_r00000_c00000": labels}, URUR_CLASSES)
    tasks[0]["id"] = 1
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    (tmp_path / "png").mkdir()
    convert = converter.Converter(config=label_config(URUR_CLASSES, URUR_PALETTE), project_dir=None)
    convert.convert(str(tmp_path / "export.json"), str(tmp_path / "png"), "BRUSH_TO_PNG", is_dir=False)
    names = {**dict(enumerate(URUR_CLASSES)), 255: "ignore"}
    layers = {path.name: np.asarray(Image.open(path)) for path in (tmp_path / "png").iterdir()}
    assert sorted(layers) == sorted(
        f"task-1-annotation-1-by--{FROM_NAME}-{names[v]}-0.png" for v in np.unique(labels).tolist()
    )
    for value in np.unique(labels).tolist():
        layer = layers[f"task-1-annotation-1-by--{FROM_NAME}-{names[value]}-0.png"]
        np.testing.assert_array_equal(layer == 255, labels == value)
