"""The project's report: what a run produced, section by section, with the paper's numbers beside
it. Every input may be absent (``None``): a section then says what is missing and which command
produces it, and the rest is still reported. A results table whose classes differ from the
dataset's (an older run) is refused with the command that rebuilds it, never mixed in."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from urur.evaluation.evaluate import contribution_key, zeroed_key
from urur.experiments.paper import PAPER_HARDWARE, TABLE1_QUOTED
from urur.experiments.tables import paper_orderings
from urur.io.dvc_record import parse_kedro_command
from urur.models import MODEL_NAMES, model_class
from urur.models.common import TwoBranchModel
from urur.reporting.document import Image, KeyFigures, Note, Section, Table
from urur.reporting.headline import (
    CheckpointRecord,
    Coverage,
    failure_images,
    largest_leaks,
    percent,
    split_coverage,
    weakest_classes,
)

log = logging.getLogger(__name__)

TRAIN_COMMAND = "kedro run --pipeline=train_urur"
COMPARE_COMMAND = "kedro run --pipeline=compare_urur"
HEADLINE_METRICS = ("mIoU", "mF1", "aAcc")
FEW_SCENES = 5  # below this many test scenes the headline says the figures are a first look
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
    test_image_metrics: pd.DataFrame | None = None
    test_confusion: pd.DataFrame | None = None
    dataset_split: pd.DataFrame | None = None
    checkpoint: CheckpointRecord | None = None
    monitor: str = "val/mIoU"  # what chose the checkpoint (training.monitor)
    error_images: int = 1  # worst and best test images shown with their error maps
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


def table1_by_measure(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with one row per measure and one column per dataset: four columns fit any page,
    where twelve measures across do not."""
    frame = table.set_index("dataset").T.astype(object)
    return frame.rename_axis(None, axis=1).reset_index(names="measure")


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
                table1_by_measure(table1(inputs.dataset_stats)),
                "Table 1: this dataset beside the paper's quoted rows (theirs are not recomputed)",
            )
        )
    if inputs.dataset_class_stats is not None:
        section.blocks.append(Table(inputs.dataset_class_stats, "Per-class pixels and instances"))
    return section


def _annotation_summary(qa: pd.DataFrame, ranking: pd.DataFrame | None) -> pd.DataFrame:
    """The QA table in one column: what was annotated, how it was checked, what the model drafted."""
    rows = {
        "images": len(qa),
        "patches expected": int(qa["patches_expected"].sum()),
        "patches missing": int(qa["patches_missing"].sum()),
        "patches invalid": int(qa["patches_invalid"].sum()),
        "missing or invalid patches filled from pre-labels": int(qa["patches_from_prelabel"].sum()),
    }
    if ranking is not None:  # every patch the pre-labelling model drafted is ranked
        rows["images pre-labelled (drafted by the model, then corrected)"] = int(
            ranking["image_id"].nunique()
        )
        rows["patches pre-labelled"] = len(ranking)
    rows |= {
        "mean overlap agreement": float(qa["overlap_agreement"].mean()),
        "worst pair agreement": float(qa["min_pair_agreement"].min()),
    }
    return pd.DataFrame({"measure": list(rows), "value": list(rows.values())}, dtype=object)


def _patch_offset(patch_id: str, image_id: str) -> str:
    """``<image_id>_r00880_c01048`` -> ``r00880_c01048``: the patch within its image."""
    return str(patch_id).removeprefix(f"{image_id}_")


def least_agreeing(qa: pd.DataFrame, count: int = 5) -> pd.DataFrame:
    """The images whose overlapping patches agree least, the worst pair named by its offsets."""
    worst = qa.nsmallest(count, "min_pair_agreement")
    pairs = [
        f"{_patch_offset(a, i)} / {_patch_offset(b, i)}"
        for i, a, b in zip(worst["image_id"], worst["worst_pair_a"], worst["worst_pair_b"], strict=True)
    ]
    return pd.DataFrame(
        {
            "image": worst["image_id"],
            "overlap agreement": worst["overlap_agreement"],
            "worst pair agreement": worst["min_pair_agreement"],
            "worst pair (patch offsets)": pairs,
        }
    )


def most_uncertain(ranking: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The ``count`` patches of highest uncertainty score over all images (the ranking's ``rank``
    is per image: its rank 1 of every image is not the global top)."""
    top = ranking.sort_values(["score", "patch_id"], ascending=[False, True], kind="stable").head(count)
    return pd.DataFrame(
        {
            "rank": range(1, len(top) + 1),
            "image": top["image_id"],
            "patch (offset)": [
                _patch_offset(p, i) for p, i in zip(top["patch_id"], top["image_id"], strict=True)
            ],
            "score": top["score"],
            "entropy": top["entropy"],
            "low margin": top["low_margin"],
            "rank in its image": top["rank"],
        }
    )


# prelabel_effort.json's keys (urur.prelabel.effort.effort_summary) as a reader says them.
EFFORT_NAMES = {
    "effort_saved_pct": "labelling effort saved against labelling from scratch (%)",
    "patches": "patches drafted and corrected",
    "patches_unchanged_share": "share of drafts accepted unchanged",
    "pixels_changed_share": "share of drafted pixels the annotators corrected",
    "scratch_pixels_share": "share of pixels labelled when labelling from scratch",
    "ranking_roc_auc": "uncertainty ranking: ROC AUC for 'patch corrected at all'",
    "ranking_roc_auc_above_median": "uncertainty ranking: ROC AUC for 'more corrected than the median'",
    "ranking_spearman": "uncertainty ranking: Spearman correlation of score and corrected share",
    "top_patches_correction_share": "share of all corrections in the top-ranked patches (prelabel.top_share)",
    "prelabel_aAcc": "pre-label pixel accuracy against the final masks",
    "prelabel_mIoU": "pre-label mIoU against the final masks",
}
EFFORT_CLASS_PREFIX = "prelabel_IoU_"


def effort_table(effort: Mapping[str, Any]) -> pd.DataFrame:
    """``prelabel_effort.json`` in words, in the file's order; an undefined value (null) says why."""
    names = [
        f"pre-label IoU: {key.removeprefix(EFFORT_CLASS_PREFIX)}"
        if key.startswith(EFFORT_CLASS_PREFIX)
        else EFFORT_NAMES.get(key, key.replace("_", " "))
        for key in effort
    ]
    values = ["undefined (every patch or none was corrected)" if v is None else v for v in effort.values()]
    return pd.DataFrame({"measure": names, "value": values}, dtype=object)


def _annotation_section(inputs: ReportInputs) -> Section:
    section = Section("Annotation QA and pre-labelling")
    qa = inputs.annotation_qa
    if qa is None:
        section.blocks.append(Note(f"No annotation QA table: run `{TRAIN_COMMAND}`.", missing=True))
    else:
        section.blocks.append(
            Table(
                _annotation_summary(qa, inputs.prelabel_ranking),
                "Annotation QA over all images (data/08_reporting/annotation_qa.csv)",
            )
        )
        section.blocks.append(Table(least_agreeing(qa), "Images whose overlapping patches agree least"))
    if inputs.prelabel_effort is None:
        section.blocks.append(
            Note("No pre-labelling table: run `kedro run --pipelines prelabel`.", missing=True)
        )
    else:
        section.blocks.append(
            Table(
                effort_table(inputs.prelabel_effort),
                "Pre-labelling: effort saved and the uncertainty ranking's quality",
            )
        )
    if inputs.prelabel_ranking is not None:
        section.blocks.append(
            Table(
                most_uncertain(inputs.prelabel_ranking),
                "Patches annotators should check first: the 10 most uncertain over all images",
            )
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


def error_figure(image_id: str) -> str:
    """The key of a test image's error-map figure (the PNG's file stem)."""
    return f"errors_{image_id}"


def _classes_match(frame: pd.DataFrame | None, column: str, class_names: Sequence[str]) -> bool:
    return frame is not None and [str(n) for n in frame[column]] == list(class_names)


def _scenes_text(coverage: Coverage) -> str:
    scenes = f"{len(coverage.scenes)} scene{'s' * (len(coverage.scenes) != 1)}"
    if len(coverage.scenes) <= 3:
        scenes += f" ({', '.join(coverage.scenes)})"
    cities = f"{len(coverage.cities)} cit{'ies' if len(coverage.cities) != 1 else 'y'}"
    return (
        f"{coverage.images} images from {scenes} in {cities}"
        if coverage.cities
        else (f"{coverage.images} images from {scenes}")
    )


def _headline_section(inputs: ReportInputs) -> Section:
    section = Section("Headline: how good the model is, on what")
    metrics = inputs.test_metrics
    if metrics is None:
        section.blocks.append(
            Note(
                f"No trained and evaluated model yet (data/08_reporting/test_metrics.json is "
                f"missing): run `{TRAIN_COMMAND}`.",
                missing=True,
            )
        )
        return section
    validation = inputs.checkpoint.validation if inputs.checkpoint is not None else {}
    key = {f"test {m}": percent(metrics[f"test/{m}"]) for m in HEADLINE_METRICS if f"test/{m}" in metrics}
    if "mIoU" in validation:
        key["val mIoU (same checkpoint)"] = percent(validation["mIoU"])
    section.blocks.append(KeyFigures(key))
    split = inputs.dataset_split
    coverage = {name: split_coverage(split, name) for name in ("test", "val")} if split is not None else {}
    rows = []
    for name, values in (
        ("test", {m: metrics.get(f"test/{m}") for m in HEADLINE_METRICS}),
        ("val", validation),
    ):
        if not any(v is not None for v in values.values()):
            continue
        cover = coverage.get(name)
        rows.append(
            {"split": name}
            | {
                f"{m} (%)": round(100 * values[m], 1) if values.get(m) is not None else None
                for m in HEADLINE_METRICS
            }
            | {
                "images": cover.images if cover else metrics.get("test_images") if name == "test" else None,
                "scenes": len(cover.scenes) if cover else None,
                "cities": len(cover.cities) if cover and cover.cities else None,
            }
        )
    section.blocks.append(Table(pd.DataFrame(rows), "Test and validation metrics, and what they rest on"))
    if "test" in coverage:
        text = f"The test figures rest on {_scenes_text(coverage['test'])}."
        if len(coverage["test"].scenes) < FEW_SCENES:
            text += (
                f" Under {FEW_SCENES} scenes, one scene's content decides each class's IoU: read them as "
                "a first look at this model, not a measurement of it."
            )
        section.blocks.append(Note(text))
    summary = inputs.training_summary or {}
    if inputs.checkpoint is not None:
        total = summary.get("iterations")
        section.blocks.append(
            Note(
                f"Model {metrics.get('model', summary.get('model', '?'))}, checkpoint "
                f"{summary.get('best_checkpoint', '?')}: iteration {inputs.checkpoint.iteration}"
                + (f" of {total}" if total else "")
                + f", the best {inputs.monitor} of the run's validations; test and val figures are both this "
                "checkpoint's."
            )
        )
    per_class = inputs.test_class_metrics
    if per_class is not None and not stale_classes(per_class, inputs.class_names):
        weakest = ", ".join(f"{name} {percent(iou)}" for name, iou in weakest_classes(per_class))
        section.blocks.append(Note(f"Weakest classes (test IoU): {weakest}."))
    if _classes_match(inputs.test_confusion, "target", inputs.class_names):
        leaks = "; ".join(
            f"{percent(share)} of {target} pixels predicted as {predicted}"
            for target, predicted, share in largest_leaks(inputs.test_confusion)
        )
        if leaks:
            section.blocks.append(Note(f"Largest confusions on the test split: {leaks}."))
    return section


def image_table(image_metrics: pd.DataFrame, split: pd.DataFrame | None) -> pd.DataFrame:
    """``test_image_metrics.csv`` worst image first, with each image's scene and city (from the split)."""
    table = image_metrics.sort_values(["mIoU", "image_id"], kind="stable")
    if split is not None:
        where = [c for c in ("scene_id", "city") if c in split]
        table = table.merge(split[["image_id", *where]], on="image_id", how="left", validate="one_to_one")
    frame = pd.DataFrame({"image": table["image_id"]})
    for column, name in (("scene_id", "scene"), ("city", "city")):
        if column in table:
            frame[name] = table[column]
    frame["mIoU (%)"] = (100 * table["mIoU"]).round(1)
    frame["aAcc (%)"] = (100 * table["aAcc"]).round(1)
    for column in ("pixels", "seconds"):
        if column in table:
            frame[column] = table[column]
    return frame


def _failures_section(inputs: ReportInputs) -> Section:
    section = Section("Where the model fails: test images, worst and best")
    images = inputs.test_image_metrics
    if images is None:
        if inputs.test_metrics is not None:
            section.blocks.append(
                Note(
                    "No per-image test table (data/08_reporting/test_image_metrics.csv): rerun "
                    "`kedro run --pipelines evaluation`.",
                    missing=True,
                )
            )
        return section
    section.blocks.append(
        Table(
            image_table(images, inputs.dataset_split), "Per test image, worst first (test_image_metrics.csv)"
        )
    )
    mious = dict(zip(images["image_id"].astype(str), images["mIoU"], strict=True))
    for label, image_id in failure_images(images, inputs.error_images):
        name = error_figure(image_id)
        if name in inputs.figures:
            caption = (
                f"{label.capitalize()} test image by mIoU ({image_id}, {percent(mious[image_id])}): image, "
                "truth, prediction and error map (grey correct, red wrong, white ignored)"
            )
            section.blocks.append(Image(name, caption))
        else:
            section.blocks.append(
                Note(
                    f"The error map of {image_id} could not be drawn: its image, mask or prediction is "
                    f"missing; rerun `{TRAIN_COMMAND}`.",
                    missing=True,
                )
            )
    return section


def _training_section(inputs: ReportInputs) -> Section:
    section = Section("Training")
    if "training_curves" in inputs.figures:
        section.blocks.append(
            Image(
                "training_curves",
                "Each loss term on its own axis (raw faint, smoothed bold), the learning rate and the "
                "validation metrics (DVCLive, data/08_reporting/training)",
            )
        )
    elif inputs.test_metrics is not None:
        section.blocks.append(
            Note(
                f"No training curves (DVCLive's data/08_reporting/training): rerun `{TRAIN_COMMAND}`.",
                missing=True,
            )
        )
    return section


def _model_section(inputs: ReportInputs) -> Section:
    section = Section("Trained model: every test figure")
    metrics = inputs.test_metrics
    if metrics is not None:
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
    if "prediction_panels" in inputs.figures:
        caption = (
            "Test crops | ground truth | this run's and compare_urur's predictions (Figure 3 of the paper)"
        )
        section.blocks.append(Image("prediction_panels", caption))
    return section


MACHINE_COLUMN = "measured on"


def _one_machine(tables: Sequence[pd.DataFrame]) -> str | None:
    """The machine every measured row (seeds > 0) of ``tables`` names, or None where they differ:
    then each table keeps its column, else one sentence names it (the column repeats it per row)."""
    machines = {
        str(m) for t in tables if MACHINE_COLUMN in t for m in t.loc[t["seeds"] > 0, MACHINE_COLUMN].dropna()
    }
    return machines.pop() if len(machines) == 1 else None


def _comparison_section(inputs: ReportInputs) -> Section:
    section = Section("Comparison and ablations (Tables 4-6)")
    machine_name = _one_machine([t for t in inputs.comparison.values() if t is not None])
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
            curves = ["val_steps", "val_mIoU_min", "val_mIoU_max"]  # drawn in the curves figure
            dropped = [*numeric, *curves, "class_names", *([MACHINE_COLUMN] if machine_name else [])]
            section.blocks.append(Table(table.drop(columns=dropped, errors="ignore"), caption))
            orderings = paper_orderings(table, key)
            if not orderings.empty:
                title = f"{caption.split(':')[0]}: the paper's ordering in this run"
                section.blocks.append(Table(orderings, title))
    if "comparison_curves" in inputs.figures:
        section.blocks.append(
            Image(
                "comparison_curves",
                "Validation mIoU while training, per row (mean over seeds, range shaded): a row that "
                "learns faster rises sooner, one that ends higher ends higher",
            )
        )
    ours = (
        f"this project's on {machine_name}"
        if machine_name
        else "this project's on the machine named in each table"
    )
    section.blocks.append(Note(f"The paper's rows were measured on {PAPER_HARDWARE}; {ours}."))
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
        section.blocks.append(
            Note("No DVC project here: data hashes appear in a DVC checkout.", missing=True)
        )
    else:
        section.blocks.append(
            Table(
                hashes,
                "DVC data: each stage output's md5 and size as the files are now, against dvc.lock "
                "(a kedro run records its stages there when it ends)",
            )
        )
    return section


def build_sections(inputs: ReportInputs) -> list[Section]:
    """Every section of the report, in reading order: the answer first, the evidence after."""
    return [
        _headline_section(inputs),
        _training_section(inputs),
        _failures_section(inputs),
        _model_section(inputs),
        _dataset_section(inputs),
        _annotation_section(inputs),
        _comparison_section(inputs),
        _run_section(inputs),
    ]


def dvc_hashes(root: str | Path, skip_pipeline: str) -> pd.DataFrame | None:
    """Every DVC stage output's md5, size and file count as it is on disk, hashed by DVC itself
    (its state database skips files unchanged since it last hashed them), and whether dvc.lock
    records the same; the stages that run ``skip_pipeline`` (the report, still being written) are
    left out. None where there is no DVC project at ``root``."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc_data.hashfile.build import build

    try:
        repo = Repo(
            str(root), config={"core": {"no_scm": True}}
        )  # hashing needs no git (a copy of the project)
    except DvcException as error:
        log.info("Report: no DVC data hashes (%s)", error)
        return None
    rows = []
    with repo:
        for stage in repo.index.stages:
            command = parse_kedro_command(stage.addressing, getattr(stage, "cmd", "") or "")
            if command is not None and command.pipeline == skip_pipeline:
                continue
            for out in stage.outs:
                row = {"stage": stage.addressing, "path": out.def_path}
                locked = out.hash_info.value if out.hash_info else None
                if Path(out.fs_path).exists():
                    _, meta, obj = build(
                        out.cache, out.fs_path, out.fs, out.hash_name, ignore=out.dvcignore, dry_run=True
                    )
                    actual = obj.hash_info.value
                    row |= {"md5": actual, "size": meta.size, "files": meta.nfiles}
                    row["dvc.lock"] = (
                        "same" if locked == actual else f"differs: {locked}" if locked else "not recorded"
                    )
                else:
                    row |= {
                        "md5": "missing",
                        "size": None,
                        "files": None,
                        "dvc.lock": locked or "not recorded",
                    }
                rows.append(row)
    return pd.DataFrame(rows, columns=["stage", "path", "md5", "size", "files", "dvc.lock"])
