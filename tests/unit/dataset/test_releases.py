"""Public releases in their own layouts -> the chain's outputs, then training and evaluation.

Fixtures are written with Pillow and rasterio directly (not the project's writers), in exactly
the layouts of ../shared/REFERENCE.md; expected masks are the label arrays the fixtures drew.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from tests.support.kedro_project import make_project
from tests.support.releases import OTHER_ORDER, SIDE, rgb, write_deepglobe, write_inria, write_urur
from urur.classes import DEEPGLOBE_CLASSES, URUR_CLASSES
from urur.config import RuntimeParams
from urur.dataset.releases import (
    DeepGlobeParams,
    ReleaseLayoutError,
    inria_labels,
    list_deepglobe,
    list_inria,
    list_urur,
    urur_label_lut,
    urur_labels,
)
from urur.dataset.split import SPLITS
from urur.evaluation.metrics import segmentation_metrics
from urur.io.layout import image_path, mask_path
from urur.io.raster import raster_info, read_raster
from urur.pipelines.adapt_deepglobe.nodes import adapt_deepglobe


def test_urur_layouts_are_both_read_and_an_unknown_one_is_described(tmp_path: Path) -> None:
    for layout in ("split_first", "imgs_labels"):
        write_urur(tmp_path / layout, layout)
        items = list_urur(tmp_path / layout)
        assert sorted((i.image_id, i.split) for i in items) == sorted(
            (f"{s}_{k}", s) for k, s in enumerate(SPLITS * 2)
        )
    (tmp_path / "rehost/train_images").mkdir(parents=True)
    with pytest.raises(ReleaseLayoutError, match=r"imgs/\{split\} \+ labels/\{split\}.*train_images/"):
        list_urur(tmp_path / "rehost")


def test_urur_label_order_maps_names_to_readme_values() -> None:
    lut = urur_label_lut(OTHER_ORDER)
    assert lut[len(OTHER_ORDER) - 1] == 0  # "others", last in that order, is value 0 in the README
    assert lut[0] == URUR_CLASSES.index("building")
    with pytest.raises(ReleaseLayoutError, match="label_order"):
        urur_label_lut(["others", "houses"])


def test_urur_label_files_are_remapped_by_value_and_values_outside_the_table_named(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    values = np.array([[0, 7, 255], [3, 1, 0]], np.uint8)  # file values in OTHER_ORDER, 255 = ignore
    Image.fromarray(values).save(path)
    labels, counts = urur_labels(path, urur_label_lut(OTHER_ORDER))
    expected = [[URUR_CLASSES.index(OTHER_ORDER[v]) if v != 255 else 255 for v in row] for row in values]
    assert labels.tolist() == expected and labels.dtype == np.uint8 and counts == {}
    Image.fromarray(np.array([[0, 9, 8], [12, 9, 255]], np.uint8)).save(path)
    with pytest.raises(ReleaseLayoutError) as refused:
        urur_labels(path, urur_label_lut(None))
    assert str(refused.value) == (
        f"{path} holds label values [8, 9, 12] outside the class table (0..7, 255 = ignore); "
        "set urur_release.label_order to the release's order"
    )
    Image.fromarray(np.arange(8, 24, dtype=np.uint8).reshape(4, 4)).save(path)  # 16 values: ten named
    with pytest.raises(
        ReleaseLayoutError, match=r"holds label values \[8, 9, 10, 11, 12, 13, 14, 15, 16, 17\] outside"
    ):
        urur_labels(path, urur_label_lut(None))


def test_inria_masks_are_0_and_255_read_as_0_and_1(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(np.array([[0, 255, 255], [255, 0, 0]], np.uint8)).save(path)
    labels, counts = inria_labels(path)
    assert labels.tolist() == [[0, 1, 1], [1, 0, 0]] and labels.dtype == np.uint8 and counts == {}
    Image.fromarray(np.array([[0, 254, 1], [255, 1, 0]], np.uint8)).save(path)
    with pytest.raises(ReleaseLayoutError) as refused:
        inria_labels(path)
    assert str(refused.value) == (
        f"{path} holds values [1, 254]; Inria masks are 0 and 255 only: re-download the file"
    )


def test_deepglobe_split_lists_and_missing_release(tmp_path: Path) -> None:
    write_deepglobe(tmp_path / "dg")
    (tmp_path / "dg/train.txt").write_text("100_sat.jpg\n101_sat.jpg\n102_sat.jpg\n103_sat.jpg\n")
    (tmp_path / "dg/crossvali.txt").write_text("104_sat.jpg\n")
    (tmp_path / "dg/test.txt").write_text("105_sat.jpg\n")
    splits = {i.image_id: i.split for i in list_deepglobe(tmp_path / "dg")}
    assert splits == {
        "100": "train",
        "101": "train",
        "102": "train",
        "103": "train",
        "104": "val",
        "105": "test",
    }
    with pytest.raises(ReleaseLayoutError, match=r"_sat\.jpg.*Unpack"):
        list_deepglobe(tmp_path / "empty")


def test_inria_split_by_image_number_and_missing_folders(tmp_path: Path) -> None:
    write_inria(tmp_path / "AerialImageDataset")
    items = list_inria(tmp_path / "AerialImageDataset", (1, 2, 3, 4, 5), (6,))
    assert {(i.image_id, i.city, i.split) for i in items if i.city == "vienna"} == {
        ("vienna1", "vienna", "val"), ("vienna6", "vienna", "test"), ("vienna11", "vienna", "train")
    }  # fmt: skip
    with pytest.raises(ReleaseLayoutError, match=r"train/images/ and train/gt/.*AerialImageDataset"):
        list_inria(tmp_path, (1,), (6,))


def test_excluded_classes_leave_the_mean_only() -> None:
    confusion = np.array([[5, 5, 0], [0, 10, 0], [0, 10, 10]])
    # IoU by hand: class 0: 5/10, class 1: 10/25, class 2: 10/20
    assert segmentation_metrics(confusion)["mIoU"] == pytest.approx((0.5 + 0.4 + 0.5) / 3)
    scores = segmentation_metrics(confusion, exclude=[0])
    assert scores["mIoU"] == pytest.approx((0.4 + 0.5) / 2)
    assert scores["IoU"][0] == pytest.approx(0.5) and scores["aAcc"] == pytest.approx(25 / 40)


def _run_env(root: Path, env: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEDRO_ENV", env)  # what `kedro run --env` sets (urur.session)
    monkeypatch.chdir(root)
    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session:
        session.run(pipeline_names=["train_urur"])
    return root / "data" / env  # the environment's data_root (conf/<env>/globals.yml)


def _check_outputs(data: Path, expected: dict[str, np.ndarray]) -> pd.DataFrame:
    manifest = pd.read_parquet(data / "02_intermediate/image_manifest.parquet")
    assert sorted(manifest["image_id"]) == sorted(expected)
    for image_id, labels in expected.items():
        assert np.array_equal(read_raster(mask_path(data / "03_primary/masks", image_id)), labels)
        assert read_raster(image_path(data / "02_intermediate/images", image_id)).shape == (SIDE, SIDE, 3)
    assert json.loads((data / "06_models/training_summary.json").read_text())["best_checkpoint"]
    return pd.read_csv(data / "05_model_input/split.csv")


@pytest.mark.e2e
def test_urur_env_trains_and_evaluates_on_the_release(tmp_path: Path, monkeypatch) -> None:
    root = make_project(tmp_path)
    expected = write_urur(root / "data/01_raw/urur_release", "imgs_labels")
    (root / "conf/base/parameters_urur_release.yml").write_text(
        f"urur_release:\n  label_order: {OTHER_ORDER}\n"
    )
    data = _run_env(root, "urur", monkeypatch)
    split = _check_outputs(data, expected)
    assert dict(zip(split["image_id"], split["split"], strict=True)) == {i: i.split("_")[0] for i in expected}
    assert not (data / "03_primary/patches").exists()  # ingestion, tiling and merging were skipped
    metrics = json.loads((data / "08_reporting/test_metrics.json").read_text())
    assert metrics["test_images"] == 2


@pytest.mark.e2e
def test_deepglobe_env_leaves_unknown_out_of_the_reported_miou(tmp_path: Path, monkeypatch) -> None:
    root = make_project(tmp_path)
    expected = write_deepglobe(root / "data/01_raw/deepglobe")
    data = _run_env(root, "deepglobe", monkeypatch)
    split = _check_outputs(data, expected)
    assert set(split["split"]) == set(SPLITS)
    per_class = pd.read_csv(data / "08_reporting/test_class_metrics.csv")
    assert per_class["class_name"].tolist()[0] == "unknown" and len(per_class) == 7
    reported = json.loads((data / "08_reporting/test_metrics.json").read_text())["test/mIoU"]
    assert reported == pytest.approx(per_class["IoU"].iloc[1:].mean())  # NaN (absent) classes skipped


@pytest.mark.e2e
def test_inria_env_keeps_georeferencing_and_binary_masks(tmp_path: Path, monkeypatch) -> None:
    root = make_project(tmp_path)
    expected = write_inria(root / "data/01_raw/inria/AerialImageDataset")
    data = _run_env(root, "inria", monkeypatch)
    split = _check_outputs(data, {i: labels for i, (labels, _) in expected.items()})
    assert dict(zip(split["image_id"], split["split"], strict=True)) == {
        f"{city}{n}": s for city in ("austin", "vienna") for n, s in ((1, "val"), (6, "test"), (11, "train"))
    }
    for image_id, (_, transform) in expected.items():
        for path in (
            image_path(data / "02_intermediate/images", image_id),
            mask_path(data / "03_primary/masks", image_id),
        ):
            info = raster_info(path)
            assert info.crs == "EPSG:32614" and info.transform == pytest.approx(transform)
    per_class = pd.read_csv(data / "08_reporting/test_class_metrics.csv")
    assert per_class["class_name"].tolist() == ["background", "building"]


def _adapt_deepglobe(root: Path, monkeypatch: pytest.MonkeyPatch, **params) -> tuple[Path, pd.DataFrame]:
    """The adapt_deepglobe node on ``root``, staged under ``root``'s parent; (masks, manifest)."""
    monkeypatch.setenv("URUR_STAGING_DIR", str(root.parent / "staging"))
    _, masks, manifest, *_ = adapt_deepglobe(
        root, DeepGlobeParams(**params), RuntimeParams(workers=1), "deepglobe"
    )
    return masks, manifest


def test_deepglobe_off_palette_pixels_become_unknown_and_are_counted(tmp_path, monkeypatch, caplog) -> None:
    """A colour of no class after thresholding (a JPEG artefact at a class border) is unknown."""
    root = tmp_path / "dg"
    expected = write_deepglobe(root)
    mask = np.array(Image.open(root / "102_mask.png"))
    mask[5, 7] = (200, 90, 100)  # -> (255, 0, 0) at 128: red is no DeepGlobe class
    Image.fromarray(mask).save(root / "102_mask.png")
    with caplog.at_level("WARNING", logger="urur.dataset.releases"):
        masks, manifest = _adapt_deepglobe(root, monkeypatch)
    labels = read_raster(mask_path(masks, "102"))
    assert labels[5, 7] == DEEPGLOBE_CLASSES.index("unknown")
    expected["102"][5, 7] = 0
    for image_id, values in expected.items():
        np.testing.assert_array_equal(read_raster(mask_path(masks, image_id)), values)
    counts = dict(zip(manifest["image_id"], manifest["off_palette_pixels"], strict=True))
    assert counts == {"100": 0, "101": 0, "102": 1, "103": 0, "104": 0, "105": 0}
    warned = [r.getMessage() for r in caplog.records if "102_mask.png" in r.getMessage()]
    assert len(warned) == 1 and "1 pixel" in warned[0] and "unknown" in warned[0], caplog.text


def test_deepglobe_mask_above_the_off_palette_share_is_refused(tmp_path, monkeypatch) -> None:
    root = tmp_path / "dg"
    write_deepglobe(root)
    mask = np.array(Image.open(root / "103_mask.png"))
    mask[:2] = (200, 90, 100)  # 2 of 64 rows: 3.1 % of the pixels
    Image.fromarray(mask).save(root / "103_mask.png")
    with pytest.raises(ReleaseLayoutError, match=r"103_mask\.png.*3\.1.?%.*max_off_palette_share = 0\.01"):
        _adapt_deepglobe(root, monkeypatch)
    _, manifest = _adapt_deepglobe(root, monkeypatch, max_off_palette_share=0.05)
    assert manifest.set_index("image_id").loc["103", "off_palette_pixels"] == 2 * SIDE


def test_deepglobe_train_image_without_mask_is_named_in_a_warning(tmp_path, monkeypatch, caplog) -> None:
    root = tmp_path / "dg"
    write_deepglobe(root / "train")
    (root / "train/104_mask.png").unlink()
    (root / "train/105_mask.png").unlink()
    (root / "valid").mkdir()  # the release's valid/ folder: images only, by design
    Image.fromarray(rgb(9)).save(root / "valid/900_sat.jpg")
    with caplog.at_level("WARNING", logger="urur.dataset.releases"):
        items = list_deepglobe(root)
    assert sorted(i.image_id for i in items) == ["100", "101", "102", "103"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "2 images" in warnings[0] and "104_sat.jpg" in warnings[0] and "105_sat.jpg" in warnings[0]
    assert "900" not in warnings[0]
