"""The report: sections from what exists, what is missing named with its command, stale tables refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.support.reporting import STATS
from urur.classes import IGNORE_INDEX, URUR_CLASSES
from urur.evaluation.evaluate import branch_metrics
from urur.io.datasets import FigureFolderDataset, OptionalDataset
from urur.io.layout import image_path, mask_path
from urur.io.raster import write_raster
from urur.reporting.build import draw_figures
from urur.reporting.config import ReportingParams
from urur.reporting.document import Image, KeyFigures, Note, Table, to_html, to_markdown
from urur.reporting.figures import (
    ERROR_COLOURS,
    class_iou_chart,
    comparison_curves,
    error_codes,
    error_map,
    smooth,
    training_curves,
)
from urur.reporting.headline import CheckpointRecord, checkpoint_record, failure_images, largest_leaks
from urur.reporting.report import (
    ReportInputs,
    build_sections,
    dvc_hashes,
    effort_table,
    error_figure,
    most_uncertain,
)
from urur.training import TrainingParams
from urur.training.checkpoint import save_checkpoint
from urur.training.config import TrainingRunParams


def _per_class(names) -> pd.DataFrame:
    return pd.DataFrame({"class_name": list(names), "IoU": np.linspace(0.1, 0.8, len(names))})


def _blocks(sections, kind):
    return [b for s in sections for b in s.blocks if isinstance(b, kind)]


def test_report_before_training_says_what_is_missing_and_reports_the_dataset() -> None:
    sections = build_sections(ReportInputs(class_names=URUR_CLASSES, dataset_stats=STATS))
    missing = " ".join(n.text for n in _blocks(sections, Note) if n.missing)
    assert "kedro run --pipeline=train_urur" in missing  # the model's metrics and figures
    assert "kedro run --pipeline=compare_urur" in missing  # Tables 4-6
    table1 = _blocks(sections, Table)[0].frame.set_index("measure")  # one column per dataset
    assert table1.columns.tolist() == [
        "this dataset",
        "DeepGlobe (quoted from the paper)",
        "Inria Aerial (quoted from the paper)",
        "URUR (quoted from the paper)",
    ]
    assert table1.loc["context_richness", "URUR (quoted from the paper)"] == 0.883
    assert table1.loc["images", "this dataset"] == 16
    assert not _blocks(sections, Image)


def test_results_of_an_older_run_with_other_classes_are_refused_not_mixed_in() -> None:
    old = _per_class(["background", "building"])
    table4 = pd.DataFrame({"model": ["wsdnet"], "mIoU": [0.5], "class_names": [["background", "building"]]})
    sections = build_sections(
        ReportInputs(class_names=URUR_CLASSES, test_class_metrics=old, comparison={"table4": table4})
    )
    refused = [n.text for n in _blocks(sections, Note) if "refused" in n.text]
    assert len(refused) == 2
    assert "test_class_metrics.csv" in refused[0] and "kedro run --pipelines evaluation" in refused[0]
    assert "table4.parquet" in refused[1] and "compare_urur" in refused[1]
    assert all("building" not in b.frame.to_string() for b in _blocks(sections, Table) if "IoU" in b.frame)


def _branch_notes(model: str, miou: float, zeroed: dict[str, float] | None) -> list[Note]:
    metrics = {"model": model, "test/mIoU": miou} | (branch_metrics(miou, zeroed) if zeroed else {})
    sections = build_sections(ReportInputs(class_names=URUR_CLASSES, test_metrics=metrics))
    assert to_markdown("r", sections, "f").count("Branch contributions") == int(model != "stdc")
    return [n for n in _blocks(sections, Note) if "Branch contributions" in n.text]


def test_the_trained_model_section_shows_what_each_branch_contributes() -> None:
    """A model that is its shallow branch (issue 17's WSDNet at 150 iterations) gets the plain
    reading; one whose deep branch carries 21 points does not, and a zeroing that helps is a gain."""
    (idle,) = _branch_notes("wsdnet", 0.446, {"deep": 0.441, "shallow": 0.041})
    assert idle.text == (
        "Branch contributions (test mIoU, %): full 44.6, deep branch zeroed 44.1 (−0.5 points), "
        "shallow branch zeroed 4.1 (−40.5 points). The deep branch contributes nothing "
        "measurable: the model is its shallow branch."
    )
    assert not idle.missing
    (used,) = _branch_notes("isdnet", 0.716, {"deep": 0.502, "shallow": 0.719})
    assert used.text == (
        "Branch contributions (test mIoU, %): full 71.6, deep branch zeroed 50.2 (−21.4 points), "
        "shallow branch zeroed 71.9 (+0.3 points)."
    )
    assert _branch_notes("stdc", 0.611, None) == []  # one branch: nothing to zero
    (unmeasured,) = _branch_notes("wsdnet", 0.446, None)
    assert unmeasured.missing and "evaluation.branch_ablation: true" in unmeasured.text


def test_dvc_hashes_are_the_files_as_they_are_not_the_lock(tmp_path: Path) -> None:
    """A lock left by an earlier run records another md5 and size: the table shows the file's own
    (hashlib's md5 of it, its size) and says the lock differs; the report's own stage is left out."""
    from dvc.repo import Repo

    plain, tmp_path = tmp_path / "plain", tmp_path / "project"
    plain.mkdir()
    tmp_path.mkdir()
    Repo.init(str(tmp_path), no_scm=True).close()
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  make:\n    cmd: kedro run --pipelines make\n    outs: [metrics.json, folder]\n"
        "  reporting:\n    cmd: kedro run --pipelines reporting\n    outs: [report.html]\n"
        "  absent:\n    cmd: kedro run --pipelines absent\n    outs: [never.csv]\n"
    )
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  make:\n    cmd: kedro run --pipelines make\n    outs:\n"
        f"    - path: metrics.json\n      hash: md5\n      md5: {'91d68a0f' * 4}\n      size: 351\n"
    )
    content = b'{"test/mIoU": 0.63}\n'
    (tmp_path / "metrics.json").write_bytes(content)
    (tmp_path / "report.html").write_text("<html>")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.bin").write_bytes(b"a" * 10)
    (tmp_path / "folder" / "b.bin").write_bytes(b"b" * 5)
    table = dvc_hashes(tmp_path, skip_pipeline="reporting").set_index("path")
    assert table.index.tolist() == ["metrics.json", "folder", "never.csv"]
    metrics = table.loc["metrics.json"]
    assert metrics["md5"] == hashlib.md5(content).hexdigest() and metrics["size"] == len(content)
    assert metrics["dvc.lock"] == f"differs: {'91d68a0f' * 4}"
    folder = table.loc["folder"]
    assert folder["md5"].endswith(".dir") and (folder["size"], folder["files"]) == (15, 2)
    assert folder["dvc.lock"] == "not recorded"
    assert table.loc["never.csv", "md5"] == "missing"
    assert dvc_hashes(plain, skip_pipeline="reporting") is None


def test_optional_dataset_loads_none_until_the_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    dataset = OptionalDataset({"type": "urur.io.datasets.JSONDataset", "filepath": str(path)})
    assert dataset.load() is None
    path.write_text(json.dumps({"a": 1}))
    assert dataset.load() == {"a": 1}


def test_figure_folder_dataset_round_trips_png_bytes(tmp_path: Path) -> None:
    dataset = FigureFolderDataset(str(tmp_path / "figures"))
    dataset.save({"iou": class_iou_chart(_per_class(URUR_CLASSES))})
    loaded = dataset.load()
    assert list(loaded) == ["iou"] and loaded["iou"].startswith(b"\x89PNG")
    dataset.save({})  # a later run without figures leaves none of the old ones
    assert dataset.load() == {}


CLASSES = ("others", "road", "water")
SPLIT = pd.DataFrame(
    {
        "image_id": ["a1", "a2", "b1", "v1", "t1"],
        "scene_id": ["cityA_s0", "cityA_s0", "cityB_s3", "cityA_s1", "cityB_s4"],
        "city": ["cityA", "cityA", "cityB", "cityA", "cityB"],
        "split": ["test", "test", "test", "val", "train"],
    }
)
IMAGE_METRICS = pd.DataFrame(
    {"image_id": ["a1", "a2", "b1"], "pixels": [16, 16, 16], "aAcc": [0.9, 0.5, 0.7], "mIoU": [0.8, 0.3, 0.6]}
)
# Rows = target: 45 % of road goes to others, 10 % of others and 8 % of water to road.
CONFUSION = pd.DataFrame(
    {"target": list(CLASSES), "others": [90, 45, 0], "road": [10, 55, 8], "water": [0, 0, 92]}
)


def _trained_inputs(**overrides) -> ReportInputs:
    metrics = {"model": "stdc", "test/mIoU": 0.6312, "test/mF1": 0.7, "test/aAcc": 0.81, "test_images": 3}
    values = {
        "class_names": CLASSES,
        "test_metrics": metrics,
        "test_class_metrics": pd.DataFrame({"class_name": CLASSES, "IoU": [0.7, 0.41, 0.9]}),
        "test_confusion": CONFUSION,
        "test_image_metrics": IMAGE_METRICS,
        "dataset_split": SPLIT,
        "checkpoint": CheckpointRecord(350, 0.62, {"mIoU": 0.62, "mF1": 0.71, "aAcc": 0.8}),
        "training_summary": {"best_checkpoint": "data/06_models/x/best.pt", "iterations": 400},
    }
    return ReportInputs(**(values | overrides))


def test_the_headline_comes_first_with_test_and_val_and_what_they_rest_on() -> None:
    sections = build_sections(_trained_inputs())
    headline = sections[0]
    assert headline.title.startswith("Headline")
    key = next(b for b in headline.blocks if isinstance(b, KeyFigures))
    assert key.figures == {
        "test mIoU": "63.1 %",
        "test mF1": "70.0 %",
        "test aAcc": "81.0 %",
        "val mIoU (same checkpoint)": "62.0 %",
    }
    table = next(b for b in headline.blocks if isinstance(b, Table)).frame.set_index("split")
    assert table.loc["test", ["mIoU (%)", "images", "scenes", "cities"]].tolist() == [63.1, 3, 2, 2]
    assert table.loc["val", ["mIoU (%)", "images", "scenes", "cities"]].tolist() == [62.0, 1, 1, 1]
    notes = " ".join(b.text for b in headline.blocks if isinstance(b, Note))
    assert "3 images from 2 scenes (cityA_s0, cityB_s3) in 2 cities" in notes
    assert "a first look" in notes  # under 5 scenes
    assert "iteration 350 of 400, the best val/mIoU" in notes
    assert "Weakest classes (test IoU): road 41.0 %, others 70.0 %, water 90.0 %." in notes
    assert "45.0 % of road pixels predicted as others; 10.0 % of others pixels predicted as road" in notes


def test_largest_leaks_are_the_largest_off_diagonal_shares_of_each_target_row() -> None:
    counts = CONFUSION[list(CLASSES)].to_numpy(dtype=float)
    shares = counts / counts.sum(axis=1, keepdims=True)
    expected = sorted(
        (
            (shares[r, c], CLASSES[r], CLASSES[c])
            for r in range(3)
            for c in range(3)
            if r != c and shares[r, c]
        ),
        reverse=True,
    )
    assert largest_leaks(CONFUSION, count=5) == [(t, p, pytest.approx(v)) for v, t, p in expected]


def test_the_failures_section_lists_images_worst_first_and_shows_worst_and_best() -> None:
    assert failure_images(IMAGE_METRICS, 1) == [("worst", "a2"), ("best", "a1")]
    assert failure_images(IMAGE_METRICS, 2) == [("worst", "a2"), ("worst", "b1"), ("best", "a1")]
    figures = {error_figure("a2"): b"png", error_figure("a1"): b"png"}
    failures = build_sections(_trained_inputs(figures=figures))[2]  # after the headline and training
    table = next(b for b in failures.blocks if isinstance(b, Table)).frame
    assert table["image"].tolist() == ["a2", "b1", "a1"] and table["mIoU (%)"].tolist() == [30.0, 60.0, 80.0]
    assert table["scene"].tolist() == ["cityA_s0", "cityB_s3", "cityA_s0"]
    images = [b for b in failures.blocks if isinstance(b, Image)]
    assert [i.name for i in images] == ["errors_a2", "errors_a1"]
    assert images[0].caption.startswith("Worst test image by mIoU (a2, 30.0 %)")


def test_checkpoint_record_reads_the_iteration_and_validation_the_checkpoint_saved(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = [
        {"iteration": 2.0, "train/loss": 1.0, "val/mIoU": 0.4, "val/aAcc": 0.7},
        {"iteration": 4.0, "train/loss": 0.5, "val/mIoU": 0.6, "val/aAcc": 0.8},
    ]
    path = save_checkpoint(
        tmp_path / "best.pt",
        model=model,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
        iteration=4,
        meta={"model": "x"},
        best={"score": 0.6, "iteration": 4},
        history=history,
        data_state={"seed": 0, "micro_step": 4},
    )
    assert checkpoint_record(path) == CheckpointRecord(4, 0.6, {"mIoU": 0.6, "aAcc": 0.8})


def test_the_ten_most_uncertain_patches_are_the_global_top_ten_by_score() -> None:
    """The ranking's ``rank`` is per image: image b's second patch outranks image a's first."""
    rng = np.random.default_rng(0)
    scores = rng.random(24)
    ranking = pd.DataFrame(
        {
            "image_id": np.repeat(["a", "b", "c"], 8),
            "patch_id": [f"{i}_r{k:05d}_c00000" for i in "abc" for k in range(8)],
            "score": scores,
            "entropy": scores,
            "low_margin": scores,
        }
    )
    ranking["rank"] = ranking.groupby("image_id")["score"].rank(ascending=False).astype(int)
    top = most_uncertain(ranking)
    assert top["score"].tolist() == sorted(scores, reverse=True)[:10]
    assert top["rank"].tolist() == list(range(1, 11))
    assert top["patch (offset)"].iloc[0] == ranking.loc[scores.argmax(), "patch_id"][2:]


def test_annotation_qa_counts_the_pre_labelled_patches_not_only_the_filled_ones() -> None:
    qa = pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "patches_expected": [9, 9],
            "patches_missing": [0, 1],
            "patches_invalid": [0, 0],
            "patches_from_prelabel": [0, 1],
            "overlap_agreement": [0.9, 0.8],
            "min_pair_agreement": [0.7, 0.6],
            "worst_pair_a": ["a_r00000_c00000", "b_r00000_c00056"],
            "worst_pair_b": ["a_r00000_c00056", "b_r00056_c00056"],
        }
    )
    scores = np.linspace(0.9, 0.1, 9)
    ranking = pd.DataFrame(
        {"image_id": ["b"] * 9, "patch_id": [f"b_{k}" for k in range(9)], "rank": range(1, 10)}
        | {"score": scores, "entropy": scores, "low_margin": scores}
    )
    sections = build_sections(
        ReportInputs(class_names=URUR_CLASSES, annotation_qa=qa, prelabel_ranking=ranking)
    )
    tables = {t.caption.split(" (")[0]: t for t in _blocks(sections, Table)}
    summary, worst = (
        tables["Annotation QA over all images"],
        tables["Images whose overlapping patches agree least"],
    )
    values = dict(zip(summary.frame["measure"], summary.frame["value"], strict=True))
    assert (
        values["patches pre-labelled"] == 9
        and values["missing or invalid patches filled from pre-labels"] == 1
    )
    assert values["images pre-labelled (drafted by the model, then corrected)"] == 1
    assert worst.frame["worst pair (patch offsets)"].tolist() == [
        "r00000_c00056 / r00056_c00056",
        "r00000_c00000 / r00000_c00056",
    ]


def test_pre_labelling_metrics_are_named_in_words() -> None:
    effort = {
        "effort_saved_pct": 87.8,
        "ranking_roc_auc": None,
        "prelabel_IoU_road": 0.42,
        "prelabel_mIoU": 0.73,
    }
    table = effort_table(effort)
    assert table["measure"].tolist() == [
        "labelling effort saved against labelling from scratch (%)",
        "uncertainty ranking: ROC AUC for 'patch corrected at all'",
        "pre-label IoU: road",
        "pre-label mIoU against the final masks",
    ]
    assert table["value"].tolist() == [87.8, "undefined (every patch or none was corrected)", 0.42, 0.73]
    assert not any("_" in name for name in table["measure"])


def test_training_curves_draw_each_loss_term_on_its_own_axis_and_lr_apart() -> None:
    steps = np.arange(1, 201)
    series = {
        "train/loss_wsl": pd.DataFrame({"step": steps, "value": np.linspace(100, 20, 200)}),
        "train/loss": pd.DataFrame({"step": steps, "value": np.linspace(102, 21, 200)}),
        "train/loss_seg": pd.DataFrame({"step": steps, "value": np.geomspace(2.0, 0.1, 200)}),
        "train/lr": pd.DataFrame({"step": steps, "value": np.linspace(0.01, 0.0, 200)}),
        "val/mIoU": pd.DataFrame({"step": [100, 200], "value": [0.4, 0.6]}),
    }
    figure = training_curves(series, best_iteration=200)
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "loss_seg", "loss_wsl", "lr", "Validation"]
    assert [ax.get_yscale() for ax in axes] == [
        "linear",
        "log",
        "linear",
        "linear",
        "linear",
    ]  # seg spans 20x
    raw, smoothed = axes[1].lines[:2]
    assert raw.get_alpha() < 0.5 and smoothed.get_alpha() is None
    np.testing.assert_allclose(smoothed.get_ydata(), smooth(series["train/loss_seg"]["value"], 10))
    assert all(ax.lines[-1].get_xdata()[0] == 200 for ax in axes)  # the checkpoint's iteration marked


def test_comparison_curves_draw_one_panel_per_table_with_a_line_and_a_band_per_row() -> None:
    def table(rows: dict[str, list[float]]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "row": list(rows),
                "val_steps": [[100, 200] if values else None for values in rows.values()],
                "val_mIoU_mean": list(rows.values()),
                "val_mIoU_min": [[v - 0.1 for v in values] for values in rows.values()],
                "val_mIoU_max": [[v + 0.1 for v in values] for values in rows.values()],
            }
        )

    tables = {
        "table4": table({"WSDNet": [0.4, 0.6], "STDC": [0.5, 0.55], "GLNet": []}),  # quoted rows: None
        "table5": table({"dwt": [0.4, 0.6]}),
        "table6": pd.DataFrame({"row": ["wsl"], "mIoU_mean": [0.5]}),  # written before the curves
    }
    figure = comparison_curves(tables)
    assert [ax.get_title() for ax in figure.axes] == ["Table 4", "Table 5"]
    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["WSDNet", "STDC"]
    np.testing.assert_allclose(lines[0].get_ydata(), [40.0, 60.0])
    band = figure.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert (band.min(), band.max()) == pytest.approx((30.0, 70.0))
    assert comparison_curves({"table6": tables["table6"]}) is None


def test_smoothing_is_a_bias_corrected_exponential_average() -> None:
    values = pd.Series([4.0, 0.0, 2.0])
    alpha = 2 / (3 + 1)
    weights = [(1 - alpha) ** k for k in range(3)]
    expected = [
        4.0,
        (0 + (1 - alpha) * 4) / sum(weights[:2]),
        (2 + weights[1] * 0 + weights[2] * 4) / sum(weights),
    ]
    np.testing.assert_allclose(smooth(values, 3), expected)


def test_the_error_map_marks_correct_wrong_and_ignored_pixels() -> None:
    truth = np.array([[0, 1], [2, IGNORE_INDEX]], dtype=np.uint8)
    prediction = np.array([[0, 2], [2, 1]], dtype=np.uint8)
    assert error_codes(truth, prediction).tolist() == [[0, 1], [0, 2]]
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    figure = error_map(image, truth, prediction, CLASSES, "Worst test image")
    assert figure._suptitle.get_text() == "Worst test image: 33.3 % of its annotated pixels wrong"
    panel = figure.axes[3].images[0].get_array()
    assert (panel[0, 1] == ERROR_COLOURS[1]).all() and (panel[1, 1] == ERROR_COLOURS[2]).all()


def test_the_html_has_no_scrolling_wrapper_and_renders_key_figures() -> None:
    sections = build_sections(_trained_inputs())
    page = to_html("r", sections, {})
    assert "overflow-x" not in page and "overflow-wrap:anywhere" in page
    assert "<div class='key'><div><b>63.1 %</b><span>test mIoU</span></div>" in page
    assert "**63.1 %** test mIoU · **70.0 %** test mF1" in to_markdown("r", sections, "f")


def test_draw_figures_maps_the_errors_of_the_worst_and_best_test_images(tmp_path: Path) -> None:
    """From the image, mask and prediction rasters: the worst image (a2) shows its wrong pixels,
    the best (a1) none; the curves mark no checkpoint where training left none."""
    folders = {name: tmp_path / name for name in ("images", "masks", "predictions")}
    for folder in folders.values():
        folder.mkdir()
    truth = np.tile(np.array([0, 1, 2, 1], dtype=np.uint8), (4, 1))
    for image_id in IMAGE_METRICS["image_id"]:
        write_raster(image_path(folders["images"], image_id), np.zeros((4, 4, 3), dtype=np.uint8))
        write_raster(mask_path(folders["masks"], image_id), truth)
        prediction = truth.copy()
        if image_id == "a2":
            prediction[0] = 0  # 3 of its 16 pixels wrong
        if image_id != "b1":  # b1: no prediction written, no error map (neither worst nor best here)
            write_raster(folders["predictions"] / f"{image_id}.tif", prediction)
    figures = draw_figures(
        None,
        None,
        IMAGE_METRICS,
        folders["predictions"],
        None,
        folders["images"],
        folders["masks"],
        SPLIT,
        None,
        *(None, None, None),  # no comparison tables
        TrainingParams(model="stdc", class_names=list(CLASSES)),
        TrainingRunParams(live_dir=str(tmp_path / "live")),
        ReportingParams(),
    )
    assert list(figures) == ["errors_a2", "errors_a1"]
    worst_two = draw_figures(
        *(None, None, IMAGE_METRICS, folders["predictions"], None, folders["images"], folders["masks"]),
        *(SPLIT, None, None, None, None, TrainingParams(model="stdc", class_names=list(CLASSES))),
        *(TrainingRunParams(live_dir=str(tmp_path / "live")), ReportingParams(error_images=2)),
    )
    assert list(worst_two) == ["errors_a2", "errors_a1"]  # b1, second worst, has no prediction
    titles = [f._suptitle.get_text() for f in figures.values()]
    assert titles == [
        "Worst test image by mIoU: a2 (mIoU 30.0 %): 18.8 % of its annotated pixels wrong",
        "Best test image by mIoU: a1 (mIoU 80.0 %): 0.0 % of its annotated pixels wrong",
    ]


def test_comparison_tables_name_one_machine_once_not_per_row() -> None:
    def table(machines: list[str]) -> pd.DataFrame:
        rows = {
            "row": ["WSDNet", "ISDNet", "GLNet"],
            "seeds": [3, 3, 0],
            "mIoU (%)": ["42.0 ± 2.3", "38.7", None],
        }
        means = {
            "mIoU_mean": [0.42, 0.387, np.nan],
            "mIoU_std": [0.023, 0.0, np.nan],
            "paper mIoU (%)": [46.9, 45.8, 41.2],
        }
        return pd.DataFrame(rows | means | {"measured on": [*machines, "RTX 2080Ti (the paper)"]})

    def rendered(*machines: str) -> tuple[list[Table], str]:
        sections = build_sections(
            ReportInputs(class_names=URUR_CLASSES, comparison={"table4": table(list(machines))})
        )
        comparison = next(s for s in sections if s.title.startswith("Comparison"))
        return [b for b in comparison.blocks if isinstance(b, Table)], comparison.blocks[-1].text

    (same, _), note = rendered("laptop, 2 CPUs", "laptop, 2 CPUs")  # Table 4 and its ordering
    assert "measured on" not in same.frame and note.endswith("this project's on laptop, 2 CPUs.")
    (mixed, _), note = rendered("laptop", "server")
    assert mixed.frame["measured on"].tolist() == ["laptop", "server", "RTX 2080Ti (the paper)"]
    assert note.endswith("the machine named in each table.")
