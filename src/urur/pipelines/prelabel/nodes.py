from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import RuntimeParams, TilingParams
from urur.dataset.annotation.export import copy_exports
from urur.dataset.annotation.merge import merge_annotations
from urur.io.atomic import staging_directories
from urur.prelabel import drafts, effort
from urur.prelabel.drafts import INDEX_DRAFTS, PrelabelParams, check_drafts, round_images
from urur.synthetic import review
from urur.training import fit
from urur.training.checkpoint import configuration_name

log = logging.getLogger(__name__)


def choose_round_one(image_manifest: pd.DataFrame, p: PrelabelParams) -> pd.DataFrame:
    """Which images are annotated from scratch (round 1) and which get drafts (round 2)."""
    p = PrelabelParams.model_validate(p)
    rounds = drafts.choose_round_one(
        image_manifest, p.round_one.scene_fraction, p.round_one.seed, p.round_one.images
    )
    log.info("Round one: %d of %d images from scratch", (rounds["round"] == 1).sum(), len(rounds))
    return rounds


def merge_round_one(
    annotations_dir: Path,
    image_manifest: pd.DataFrame,
    images_dir: Path,
    rounds: pd.DataFrame,
    grid: TilingParams,
    runtime: RuntimeParams,
) -> Path:
    """Merge round one's exports into the masks the pre-labelling model trains on."""
    ids = round_images(rounds, 1)
    with staging_directories("round_one_masks") as (masks_dir,):
        merge_annotations(
            image_manifest[image_manifest["image_id"].isin(ids)],
            annotations_dir,
            masks_dir,
            images_dir=images_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            workers=runtime.workers,
        )
    log.info("Merged round one's annotations of %d images", len(ids))
    return masks_dir


def train_prelabel_model(images_dir: Path, masks_dir: Path, rounds: pd.DataFrame, p: PrelabelParams) -> dict:
    """Train the pre-labelling model (``prelabel.training.model``) on round one; returns which
    checkpoint drafts use.

    Checkpoints go to ``<checkpoint_dir>/<model>-<configuration digest>``, as the training stage's:
    another configuration trains beside them, never over them.
    """
    p = PrelabelParams.model_validate(p)
    train_ids = round_images(rounds, 1)
    out_dir = Path(p.checkpoint_dir) / configuration_name(p.training, train_ids)
    result = fit(p.training, train_ids, images_dir, masks_dir, out_dir)
    checkpoint = result.checkpoint
    log.info(
        "Pre-labelling %s trained for %d iterations: %s", p.training.model, p.training.iterations, checkpoint
    )
    return {"model": p.training.model, "checkpoint": str(checkpoint), "iterations": p.training.iterations}


def draft(
    images_dir: Path, rounds: pd.DataFrame, model: dict, grid: TilingParams, p: PrelabelParams
) -> tuple[Path, pd.DataFrame]:
    """Predict round two's images and cut the predictions into drafts with uncertainty rankings."""
    p = PrelabelParams.model_validate(p)
    with staging_directories("prelabel_drafts") as (drafts_dir,):
        ranking = drafts.draft_images(
            model["checkpoint"],
            round_images(rounds, 2),
            images_dir,
            drafts_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            num_classes=len(p.training.classes),
            margin=p.margin,
            score=p.score,
            label_studio_images=p.label_studio_images,
        )
    log.info("Drafted %d patches of %d images", len(ranking), ranking["image_id"].nunique())
    return drafts_dir, ranking


def simulate_corrections(
    truth_dir: Path,
    image_manifest: pd.DataFrame,
    annotations_dir: Path,
    drafts_dir: Path,
    rounds: pd.DataFrame,
    p: PrelabelParams,
) -> tuple[Path, pd.DataFrame]:
    """Simulated round two: annotators correct the drafts; round one's exports are carried along,
    so the folder holds every image's final export for the annotation merge."""
    p = PrelabelParams.model_validate(p)
    listing = check_drafts(drafts_dir)
    with staging_directories("corrected_annotations") as (out_dir,):
        copy_exports(annotations_dir, round_images(rounds, 1), out_dir)
        changes = review.simulate_corrections(
            truth_dir,
            image_manifest,
            Path(drafts_dir) / INDEX_DRAFTS,
            out_dir,
            image_ids=listing["images"],
            patch_size=listing["patch_size"],
            overlap=listing["overlap"],
            seed=p.correction_seed,
            review=p.review,
        )
    log.info(
        "Simulated corrections changed %d of %d pixels",
        changes["changed_pixels"].sum(),
        changes["pixels"].sum(),
    )
    return out_dir, changes


def report(
    drafts_dir: Path, corrected_dir: Path, masks_dir: Path, ranking: pd.DataFrame, p: PrelabelParams
) -> tuple[dict, pd.DataFrame]:
    """The effort/quality table (DVC metrics) and the per-patch changes beside their scores."""
    p = PrelabelParams.model_validate(p)
    changes = effort.count_changes(drafts_dir, corrected_dir)
    quality = effort.prediction_quality(drafts_dir, masks_dir, len(p.training.classes))
    summary = effort.effort_summary(changes, ranking, quality, p.top_share)
    log.info(
        "Pre-labels saved %.1f %% of the effort; %.0f %% of patches accepted unchanged; ranking ROC AUC %s "
        "(changed or not), %s (above the median correction)",
        summary["effort_saved_pct"],
        100 * summary["patches_unchanged_share"],
        summary["ranking_roc_auc"],  # None where every patch or none was corrected (undefined)
        summary["ranking_roc_auc_above_median"],
    )
    return summary, changes.merge(ranking, on=["image_id", "patch_id"], how="left")


def compare_with_truth(
    truth_dir: Path, image_manifest: pd.DataFrame, masks_dir: Path, rounds: pd.DataFrame
) -> pd.DataFrame:
    """Final masks of from-scratch and pre-labelled images against the synthetic truth."""
    table = effort.truth_agreement(truth_dir, image_manifest, masks_dir, rounds)
    log.info(
        "Agreement with the truth (mIoU): %s", dict(zip(table["group"], table["mIoU"].round(4), strict=True))
    )
    return table
