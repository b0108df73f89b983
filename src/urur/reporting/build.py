"""The reporting stage's two steps, from whatever a run has produced so far: the figures whose
inputs exist (:func:`draw_figures`), then the report as HTML and Markdown (:func:`write_report`)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from urur.dataset.split import split_ids
from urur.devices import describe_machine
from urur.evaluation.config import EvaluationParams
from urur.reporting import figures as fig
from urur.reporting.config import ReportingParams
from urur.reporting.document import to_html, to_markdown
from urur.reporting.headline import CheckpointRecord, checkpoint_record, failure_images, percent
from urur.reporting.report import (
    TRAIN_COMMAND,
    ReportInputs,
    build_sections,
    dvc_hashes,
    error_figure,
    stale_classes,
)
from urur.training import TrainingParams
from urur.training.checkpoint import git_commit
from urur.training.config import TrainingRunParams

log = logging.getLogger(__name__)

REPORTING_PIPELINE = "reporting"  # its DVC stage writes the report: no hash of it while it is written


def read_checkpoint_record(training_summary: dict | None) -> CheckpointRecord | None:
    """The evaluated (best) checkpoint's iteration and validation metrics (both nodes read them:
    memory-mapped, it costs nothing); None before training or where the checkpoint is not here."""
    path = (training_summary or {}).get("best_checkpoint")
    if path is None:
        return None
    if not Path(path).is_file():
        log.warning("Report: checkpoint %s is not here; the headline goes without its validation", path)
        return None
    return checkpoint_record(path)


def draw_figures(
    test_class_metrics: pd.DataFrame | None,
    test_confusion: pd.DataFrame | None,
    test_image_metrics: pd.DataFrame | None,
    test_predictions: Path | None,
    compare_predictions: Path | None,
    images_dir: Path | None,
    masks_dir: Path | None,
    dataset_split: pd.DataFrame | None,
    training_summary: dict | None,
    compare_table4: pd.DataFrame | None,
    compare_table5: pd.DataFrame | None,
    compare_table6: pd.DataFrame | None,
    training: TrainingParams,
    run: TrainingRunParams,
    reporting: ReportingParams,
) -> dict[str, Figure]:
    """The figures whose inputs exist (saved by the catalog's matplotlib dataset)."""
    class_names = list(training.classes)
    figures: dict[str, Figure] = {}
    if test_class_metrics is not None and not stale_classes(test_class_metrics, class_names):
        figures["class_iou"] = fig.class_iou_chart(test_class_metrics)
    if test_confusion is not None and list(test_confusion["target"]) == class_names:
        figures["confusion"] = fig.confusion_chart(test_confusion)
    series = fig.read_live_series(run.live_dir)
    if series:
        checkpoint = read_checkpoint_record(training_summary)
        best = checkpoint.iteration if checkpoint is not None else None
        figures["training_curves"] = fig.training_curves(series, best)
    folders = (test_predictions, images_dir, masks_dir)
    if test_image_metrics is not None and all(x is not None for x in folders):
        mious = dict(zip(test_image_metrics["image_id"].astype(str), test_image_metrics["mIoU"], strict=True))
        for label, image_id in failure_images(test_image_metrics, reporting.error_images):
            sources = fig.error_map_sources(image_id, images_dir, masks_dir, test_predictions)
            missing = [str(path) for path in sources if not path.is_file()]
            if missing:  # evaluation.write_predictions: false, say; the report names the gap
                log.warning("Report: no error map of %s (%s missing)", image_id, ", ".join(missing))
                continue
            title = f"{label.capitalize()} test image by mIoU: {image_id} (mIoU {percent(mious[image_id])})"
            figures[error_figure(image_id)] = fig.read_error_map(sources, class_names, title)
    if compare_predictions is not None and all(x is not None for x in (*folders, dataset_split)):
        # The paper's Figure 3: this run's model beside compare_urur's (ISDNet, WSDNet) on the same crops.
        predictions = {f"{training.model} (this run)": test_predictions}
        predictions |= {
            f"{p.name} (compare_urur)": p for p in sorted(compare_predictions.iterdir()) if p.is_dir()
        }
        # The comparison may test on a split of its own (compare.split): the dataset's test images
        # that every model predicted.
        ids = [
            image_id
            for image_id in split_ids(dataset_split, "test")
            if all((Path(folder) / f"{image_id}.tif").is_file() for folder in predictions.values())
        ][: reporting.panel_images]
        if ids:
            figures["prediction_panels"] = fig.prediction_panels(
                ids, images_dir, masks_dir, predictions, class_names, reporting.panel_crop
            )
        else:
            log.warning("Report: no test image predicted by this run and compare_urur alike: no Figure 3")
    tables = {"table4": compare_table4, "table5": compare_table5, "table6": compare_table6}
    curves = fig.comparison_curves({key: table for key, table in tables.items() if table is not None})
    if curves is not None:
        figures["comparison_curves"] = curves
    log.info("Report figures: %s", ", ".join(figures) or "none (nothing trained yet)")
    return figures


def write_report(
    figures: dict[str, bytes],
    dataset_stats: dict | None,
    dataset_class_stats: pd.DataFrame | None,
    annotation_qa: pd.DataFrame | None,
    prelabel_effort: dict | None,
    prelabel_ranking: pd.DataFrame | None,
    prelabel_truth_agreement: pd.DataFrame | None,
    training_summary: dict | None,
    test_metrics: dict | None,
    test_evaluation: dict | None,
    test_class_metrics: pd.DataFrame | None,
    test_image_metrics: pd.DataFrame | None,
    test_confusion: pd.DataFrame | None,
    dataset_split: pd.DataFrame | None,
    compare_table4: pd.DataFrame | None,
    compare_table5: pd.DataFrame | None,
    compare_table6: pd.DataFrame | None,
    training: TrainingParams,
    evaluation: EvaluationParams,
    reporting: ReportingParams,
) -> tuple[str, str]:
    """The report as self-contained HTML and as Markdown (figures linked from ``figure_dir``)."""
    inputs = ReportInputs(
        class_names=list(training.classes),
        figures=figures,
        dataset_stats=dataset_stats,
        dataset_class_stats=dataset_class_stats,
        annotation_qa=annotation_qa,
        prelabel_effort=prelabel_effort,
        prelabel_ranking=prelabel_ranking,
        prelabel_truth_agreement=prelabel_truth_agreement,
        training_summary=training_summary,
        test_metrics={**(test_evaluation or {}), **test_metrics} if test_metrics is not None else None,
        test_class_metrics=test_class_metrics,
        test_image_metrics=test_image_metrics,
        test_confusion=test_confusion,
        dataset_split=dataset_split,
        checkpoint=read_checkpoint_record(training_summary),
        monitor=training.monitor,
        error_images=reporting.error_images,
        comparison={"table4": compare_table4, "table5": compare_table5, "table6": compare_table6},
        run={
            "command": TRAIN_COMMAND,
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git commit": git_commit() or "not a git checkout",
            "machine": describe_machine(),
            "checkpoint": (training_summary or {}).get("best_checkpoint") or "none",
            "parameters": {
                "training": training.model_dump(mode="json"),
                "evaluation": evaluation.model_dump(mode="json"),
            },
            "dvc_hashes": dvc_hashes(reporting.dvc_root, skip_pipeline=REPORTING_PIPELINE),
        },
    )
    sections = build_sections(inputs)
    missing = sum(getattr(b, "missing", False) for s in sections for b in s.blocks)
    log.info(
        "Report written (%d sections, %d figures, %d notes on what is missing)",
        len(sections),
        len(figures),
        missing,
    )
    return to_html(reporting.title, sections, figures), to_markdown(
        reporting.title, sections, reporting.figure_dir
    )
