"""The project's report: what a run produced, section by section, with the paper's numbers beside
it. Every input may be absent (``None``): a section then says what is missing and which command
produces it, and the rest is still reported. A results table whose classes differ from the
dataset's (an older run) is refused with the command that rebuilds it, never mixed in."""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from urur.evaluation.evaluate import contribution_key, zeroed_key
from urur.models import MODEL_NAMES, model_class
from urur.models.common import TwoBranchModel
from urur.reporting.comparison import paper_orderings
from urur.reporting.document import Image, Note, Section, Table
from urur.reporting.paper import PAPER_HARDWARE, TABLE1_QUOTED

log = logging.getLogger(__name__)

TRAIN_COMMAND = "kedro run --pipeline=train_urur"
COMPARE_COMMAND = "kedro run --pipeline=compare_urur"
COMPARISON_TABLES = {
    "table4": "Table 4: models on the test split",
    "table5": "Table 5: WSDNet's deep-branch downsampling",
    "table6": "Table 6: WSDNet's auxiliary losses",
}


@dataclass
class ReportInputs:
    """What the run left in the catalog (``None`` where it does not exist yet)."""

    class_names: Sequence[str]
    figures: Mapping[str, bytes] = field(default_factory=dict)
    dataset_stats: Mapping[str, Any] | None = None
    dataset_class_stats: pd.DataFrame | None = None
    annotation_qa: pd.DataFrame | None = None
    prelabel_effort: Mapping[str, Any] | None = None
    prelabel_ranking: pd.DataFrame | None = None
    prelabel_truth_agreement: pd.DataFrame | None = None
    training_summary: Mapping[str, Any] | None = None
    test_metrics: Mapping[str, Any] | None = None
    test_class_metrics: pd.DataFrame | None = None
    comparison: Mapping[str, pd.DataFrame | None] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)


def stale_classes(frame: pd.DataFrame, class_names: Sequence[str]) -> str | None:
    """Why ``frame`` (with a ``class_name`` column) belongs to another class list, or None."""
    found = [str(name) for name in dict.fromkeys(frame["class_name"])]
    if found == list(class_names):
        return None
    return f"its classes {found} are not this dataset's {list(class_names)}"


def _refused(what: str, path: str, reason: str, command: str) -> Note:
    log.warning("Report: %s (%s) refused: %s", what, path, reason)
    return Note(
        f"{what} ({path}) is refused: {reason}; it is from an older run. Rerun `{command}`.", missing=True
    )


def table1(stats: Mapping[str, Any]) -> pd.DataFrame:
    """Table 1 with this dataset's row first and the paper's quoted rows for reference."""
    resolution = f"{stats['resolution_height']}×{stats['resolution_width']}"
    per_image_region = (
        f"{stats['avg_classes_per_image']:.1f}/{stats['avg_classes_per_region']:.1f}",
        f"{stats['avg_instances_per_image']:.0f}/{stats['avg_instances_per_region']:.0f}",
    )
    own = {
        "dataset": "this dataset",
        "images": stats["images"],
        "resolution": resolution if stats.get("distinct_resolutions", 1) == 1 else f"up to {resolution}",
        "type": "fine",
        "pixels": f"{stats['pixels_millions']:.0f}M",
        "density": round(stats["annotation_density"], 3),
        "classes": stats["classes"],
        "instances": f"{stats['instances'] / 1000:.1f}K",
        "classes_per_image_region": per_image_region[0],
        "instances_per_image_region": per_image_region[1],
        "cities": stats["cities"],
        "context_richness": round(stats["context_richness"], 3),
    }
    rows = [own] + [{**row, "dataset": f"{row['dataset']} (quoted from the paper)"} for row in TABLE1_QUOTED]
    return pd.DataFrame(rows)


def _dataset_section(inputs: ReportInputs) -> Section:
    section = Section("Dataset (Table 1)")
    if inputs.dataset_stats is None:
        section.blocks.append(
            Note(
                f"No dataset statistics yet: run `{TRAIN_COMMAND}` (or `kedro run "
                "--pipelines dataset_stats` on built masks).",
                missing=True,
            )
        )
    else:
        section.blocks.append(
            Table(
                table1(inputs.dataset_stats),
                "Table 1: this dataset beside the paper's quoted rows (theirs are not recomputed)",
            )
        )
    if inputs.dataset_class_stats is not None:
        section.blocks.append(Table(inputs.dataset_class_stats, "Per-class pixels and instances"))
    return section


def _annotation_section(inputs: ReportInputs) -> Section:
    section = Section("Annotation QA and pre-labelling")
    qa = inputs.annotation_qa
    if qa is None:
        section.blocks.append(Note(f"No annotation QA table: run `{TRAIN_COMMAND}`.", missing=True))
    else:
        summary = pd.DataFrame(
            [
                {
                    "images": len(qa),
                    "patches expected": int(qa["patches_expected"].sum()),
                    "patches missing": int(qa["patches_missing"].sum()),
                    "patches invalid": int(qa["patches_invalid"].sum()),
                    "patches from pre-labels": int(qa["patches_from_prelabel"].sum()),
                    "mean overlap agreement": qa["overlap_agreement"].mean(),
                    "worst pair agreement": qa["min_pair_agreement"].min(),
                }
            ]
        )
        section.blocks.append(
            Table(summary, "Annotation QA over all images (data/08_reporting/annotation_qa.csv)")
        )
        worst = qa.nsmallest(5, "min_pair_agreement")[
            ["image_id", "overlap_agreement", "min_pair_agreement", "worst_pair_a", "worst_pair_b"]
        ]
        section.blocks.append(Table(worst, "Images whose overlapping patches agree least"))
    if inputs.prelabel_effort is None:
        section.blocks.append(
            Note("No pre-labelling table: run `kedro run --pipelines prelabel`.", missing=True)
        )
    else:
        effort = pd.DataFrame(
            {"measure": list(inputs.prelabel_effort), "value": list(inputs.prelabel_effort.values())}
        )
        section.blocks.append(
            Table(effort, "Pre-labelling: effort saved and the uncertainty ranking's quality")
        )
    if inputs.prelabel_ranking is not None:
        top = inputs.prelabel_ranking.sort_values("rank").head(10)
        section.blocks.append(
            Table(top, "Patches annotators should check first (uncertainty ranking, top 10)")
        )
    if inputs.prelabel_truth_agreement is not None:
        section.blocks.append(
            Table(
                inputs.prelabel_truth_agreement,
                "Final masks against the truth, pre-labelled images beside those labelled from scratch",
            )
        )
    return section


def _points(value: float) -> str:
    return f"{value:+.1f}".replace("-", "\N{MINUS SIGN}")


def branch_contributions(metrics: Mapping[str, Any]) -> Note | None:
    """The branch diagnostic in one line, read plainly where the deep branch adds under a point;
    None for single-branch models (a two-branch model measured without it gets a missing note)."""
    if zeroed_key("deep") not in metrics:
        name = metrics.get("model")
        if name in MODEL_NAMES and issubclass(model_class(name), TwoBranchModel):
            return Note(
                f"Branch contributions of {name}: not measured; set evaluation.branch_ablation: true "
                "and rerun `kedro run --pipelines evaluation`.",
                missing=True,
            )
        return None
    deep, shallow = (metrics[contribution_key(b)] for b in ("deep", "shallow"))
    text = (
        f"Branch contributions (test mIoU, %): full {100 * metrics['test/mIoU']:.1f}, "
        f"deep branch zeroed {100 * metrics[zeroed_key('deep')]:.1f} ({_points(-deep)} points), "
        f"shallow branch zeroed {100 * metrics[zeroed_key('shallow')]:.1f} ({_points(-shallow)} points)."
    )
    if deep < 1.0:
        text += " The deep branch contributes nothing measurable: the model is its shallow branch."
    return Note(text)


def _model_section(inputs: ReportInputs) -> Section:
    section = Section("Trained model")
    metrics = inputs.test_metrics
    if metrics is None:
        section.blocks.append(
            Note(
                f"No trained and evaluated model yet (data/08_reporting/test_metrics.json is "
                f"missing): run `{TRAIN_COMMAND}`.",
                missing=True,
            )
        )
    else:
        section.blocks.append(
            Table(
                pd.DataFrame({"metric": list(metrics), "value": list(metrics.values())}),
                "Test metrics (data/08_reporting/test_metrics.json)",
            )
        )
        branches = branch_contributions(metrics)
        if branches is not None:
            section.blocks.append(branches)
    per_class = inputs.test_class_metrics
    reason = stale_classes(per_class, inputs.class_names) if per_class is not None else None
    if reason:
        section.blocks.append(
            _refused(
                "The per-class test table",
                "data/08_reporting/test_class_metrics.csv",
                reason,
                "kedro run --pipelines evaluation",
            )
        )
    elif per_class is not None:
        section.blocks.append(Table(per_class, "Per-class test metrics"))
    captions = {
        "class_iou": "Test IoU per class",
        "confusion": "Confusion matrix, each target row normalised",
        "training_curves": "Training losses and validation metrics (DVCLive)",
        "prediction_panels": "Test crops | ground truth | predictions (Figure 3 of the paper)",
    }
    for name, caption in captions.items():
        if name in inputs.figures:
            section.blocks.append(Image(name, caption))
        elif metrics is not None:
            section.blocks.append(
                Note(
                    f"Figure '{caption}' could not be drawn: its inputs are missing; "
                    f"rerun `{TRAIN_COMMAND}`.",
                    missing=True,
                )
            )
    return section


def _comparison_section(inputs: ReportInputs) -> Section:
    section = Section("Comparison and ablations (Tables 4-6)")
    for key, caption in COMPARISON_TABLES.items():
        table = inputs.comparison.get(key)
        if table is None:
            section.blocks.append(
                Note(
                    f"{caption}: not produced yet; `{COMPARE_COMMAND}` trains and evaluates "
                    "every row (several models, several seeds).",
                    missing=True,
                )
            )
            continue
        reason = (
            stale_classes(
                table.explode("class_names").rename(columns={"class_names": "class_name"}), inputs.class_names
            )
            if "class_names" in table
            else None
        )
        if reason:
            section.blocks.append(
                _refused(caption, f"data/08_reporting/compare/{key}.parquet", reason, COMPARE_COMMAND)
            )
        else:
            numeric = [c for c in table.columns if c.endswith(("_mean", "_std"))]  # in the parquet and JSON
            section.blocks.append(
                Table(table.drop(columns=[*numeric, "class_names"], errors="ignore"), caption)
            )
            orderings = paper_orderings(table, key)
            if not orderings.empty:
                title = f"{caption.split(':')[0]}: the paper's ordering in this run"
                section.blocks.append(Table(orderings, title))
    section.blocks.append(
        Note(
            f"The paper's rows were measured on {PAPER_HARDWARE}; this project's on "
            "the machine named in each table."
        )
    )
    return section


def _run_section(inputs: ReportInputs) -> Section:
    section = Section("Run: parameters, code, data, machine")
    run = dict(inputs.run)
    hashes = run.pop("dvc_hashes", None)
    params = run.pop("parameters", {})
    section.blocks.append(
        Table(
            pd.DataFrame({"item": list(run), "value": [str(v) for v in run.values()]}),
            "How to reproduce this report",
        )
    )
    flat = pd.json_normalize(params, sep=".").T.reset_index() if params else None
    if flat is not None:
        flat.columns = ["parameter", "value"]
        section.blocks.append(Table(flat.astype(str), "Parameters of the run"))
    if hashes is None or hashes.empty:
        section.blocks.append(Note("No dvc.lock: data hashes appear after `dvc repro`.", missing=True))
    else:
        section.blocks.append(Table(hashes, "DVC data hashes (dvc.lock)"))
    return section


def build_sections(inputs: ReportInputs) -> list[Section]:
    """Every section of the report, in reading order."""
    return [
        _dataset_section(inputs),
        _annotation_section(inputs),
        _model_section(inputs),
        _comparison_section(inputs),
        _run_section(inputs),
    ]


def dvc_hashes(lock_file: str | Path) -> pd.DataFrame | None:
    """Every stage output's path and hash in ``dvc.lock`` (None where there is no lock file)."""
    path = Path(lock_file)
    if not path.is_file():
        return None
    lock = yaml.safe_load(path.read_text()) or {}
    rows = [
        {
            "stage": stage,
            "path": out["path"],
            "md5": out.get("md5", ""),
            "size": out.get("size"),
            "files": out.get("nfiles"),
        }
        for stage, spec in (lock.get("stages") or {}).items()
        for out in spec.get("outs", [])
    ]
    return pd.DataFrame(rows, columns=["stage", "path", "md5", "size", "files"])


def machine() -> str:
    """The machine in a few words: OS, CPU count, Python, torch and the GPU where there is one."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {gpu}"
    )
