"""The report: sections from what exists, what is missing named with its command, stale tables refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from urur.classes import URUR_CLASSES
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import branch_metrics
from urur.io.datasets import FigureFolderDataset, OptionalDataset
from urur.pipelines.reporting import create_pipeline
from urur.pipelines.reporting.nodes import ReportingParams
from urur.pipelines.reporting.pipeline import after
from urur.reporting.document import Image, Note, Table, to_markdown
from urur.reporting.figures import class_iou_chart
from urur.reporting.report import ReportInputs, build_sections, dvc_hashes
from urur.training import TrainingParams
from urur.training.config import TrainingRunParams

STATS = {
    "images": 16,
    "resolution_height": 128,
    "resolution_width": 128,
    "distinct_resolutions": 1,
    "pixels_millions": 0.26,
    "annotation_density": 1.0,
    "classes": 8,
    "instances": 400,
    "avg_classes_per_image": 6.1,
    "avg_classes_per_region": 2.9,
    "avg_instances_per_image": 25.0,
    "avg_instances_per_region": 4.0,
    "cities": 2,
    "context_richness": 0.41,
}


def _per_class(names) -> pd.DataFrame:
    return pd.DataFrame({"class_name": list(names), "IoU": np.linspace(0.1, 0.8, len(names))})


def _blocks(sections, kind):
    return [b for s in sections for b in s.blocks if isinstance(b, kind)]


def test_report_before_training_says_what_is_missing_and_reports_the_dataset() -> None:
    sections = build_sections(ReportInputs(class_names=URUR_CLASSES, dataset_stats=STATS))
    missing = " ".join(n.text for n in _blocks(sections, Note) if n.missing)
    assert "kedro run --pipeline=train_urur" in missing  # the model's metrics and figures
    assert "kedro run --pipeline=compare_urur" in missing  # Tables 4-6
    table1 = _blocks(sections, Table)[0].frame
    assert table1["dataset"].tolist() == [
        "this dataset",
        "DeepGlobe (quoted from the paper)",
        "Inria Aerial (quoted from the paper)",
        "URUR (quoted from the paper)",
    ]
    assert table1.loc[3, "context_richness"] == 0.883 and table1.loc[0, "images"] == 16
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


def test_dvc_hashes_lists_every_stage_output(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n  split:\n    cmd: x\n    outs:\n    - path: data/05_model_input/split.csv\n"
        "      hash: md5\n      md5: abc\n      size: 10\n"
    )
    table = dvc_hashes(lock)
    assert table.to_dict("records") == [
        {"stage": "split", "path": "data/05_model_input/split.csv", "md5": "abc", "size": 10, "files": None}
    ]
    assert dvc_hashes(tmp_path / "absent.lock") is None


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


def test_reporting_pipeline_runs_with_nothing_trained(tmp_path: Path, monkeypatch) -> None:
    """The standalone report reads optional inputs; in a whole run it waits for the stages it reads."""
    monkeypatch.chdir(tmp_path)
    report = create_pipeline()
    catalog = DataCatalog(
        {name: MemoryDataset(None) for name in report.inputs() if name.endswith("_if_present")}
        | {
            "dataset_stats_if_present": MemoryDataset(STATS),
            "report_figures": MemoryDataset(copy_mode="assign"),
        }
        | {
            "params:training": MemoryDataset(TrainingParams(model="wsdnet")),
            "params:evaluation": MemoryDataset(EvaluationParams()),
            "params:training_run": MemoryDataset(TrainingRunParams(live_dir=str(tmp_path / "live"))),
            "params:reporting": MemoryDataset(ReportingParams()),
        }
    )
    SequentialRunner().run(report, catalog)
    html, markdown = catalog.load("report_html"), catalog.load("report_markdown")
    assert "this dataset" in html and "kedro run --pipeline=train_urur" in html
    assert "<img" not in html and "> **Missing:**" in markdown


def test_in_a_whole_run_the_report_reads_what_the_chain_writes() -> None:
    report = create_pipeline()
    chain = Pipeline([Node(lambda: {}, None, "test_metrics", name="evaluate")])
    wired = after(report, chain)
    assert "test_metrics" in wired.inputs() and "test_metrics_if_present" not in wired.inputs()
    assert wired.inputs() - {"test_metrics"} == report.inputs() - {"test_metrics_if_present"}
    order = [node.name for node in (chain + wired).nodes]
    assert order.index("evaluate") < order.index("write_report")  # Kedro orders the report after it
