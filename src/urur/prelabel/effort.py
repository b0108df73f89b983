"""What the drafts saved: pixels the annotators changed, the ranking's worth, the pre-labels' quality.

The effort/quality table (:func:`effort_summary`) compares correcting the drafts with labelling
every pixel from scratch, judges whether the uncertainty ranking put the patches that needed
corrections first, and scores the pre-labels against the final merged masks.
:func:`truth_agreement` compares the final masks of both rounds with the synthetic truth.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from scipy.stats import rankdata, spearmanr

from urur.classes import URUR_CLASSES
from urur.dataset.annotation.formats import AnnotationError, read_export
from urur.dataset.tiling import patch_grid
from urur.evaluation.metrics import confusion_matrix, segmentation_metrics
from urur.io.layout import mask_path
from urur.io.raster import raster_info, read_raster
from urur.prelabel.drafts import INDEX_DRAFTS, PREDICTION_FOLDER, PrelabelError, check_drafts, round_images
from urur.synthetic.annotators import truth_window


def count_changes(drafts_dir: str | Path, corrected_dir: str | Path) -> pd.DataFrame:
    """Pixels the annotators changed in each draft patch, read back from their corrected exports.

    A corrected export must hold exactly the drafts' patches (same grid): otherwise an error
    names the export and the patch ids that differ.
    """
    listing = check_drafts(drafts_dir)
    rows = []
    for image_id in listing["images"]:
        info = raster_info(mask_path(Path(drafts_dir) / PREDICTION_FOLDER, image_id))
        windows = patch_grid(info.height, info.width, listing["patch_size"], listing["overlap"])
        drafts, _, _ = read_export(Path(drafts_dir) / INDEX_DRAFTS, image_id, windows, format="index")
        expected = set(drafts)
        try:
            corrected, found, source = read_export(
                corrected_dir, image_id, windows, num_classes=listing["num_classes"]
            )
        except AnnotationError as error:
            raise PrelabelError(
                f"the corrected export of {image_id} does not match its drafts' patch grid "
                f"({listing['patch_size']} px, overlap {listing['overlap']}):\n{error}"
            ) from error
        if found != expected:
            raise PrelabelError(
                f"{source}: corrected export holds patches {sorted(found - expected)[:5]} that its drafts "
                f"({Path(drafts_dir) / INDEX_DRAFTS / image_id}) do not have; the drafts' grid is "
                f"{listing['patch_size']} px with overlap {listing['overlap']}. Correct the drafts of "
                "this run (re-import them) instead of patches cut on another grid"
            )
        rows += [
            {
                "image_id": image_id,
                "patch_id": pid,
                "pixels": drafts[pid].size,
                "changed_pixels": int(np.count_nonzero(corrected[pid] != drafts[pid])),
            }
            for pid in drafts
        ]
    return pd.DataFrame(rows, columns=["image_id", "patch_id", "pixels", "changed_pixels"])


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``positive`` (Mann-Whitney U, ties counted half);
    NaN when one of the two groups is empty."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def prediction_quality(
    drafts_dir: str | Path, masks_dir: str | Path, num_classes: int = len(URUR_CLASSES)
) -> dict[str, float | list[float]]:
    """Pre-labels (whole predictions) against the final merged masks, one confusion matrix over all."""
    listing = check_drafts(drafts_dir)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for image_id in listing["images"]:
        prediction = read_raster(mask_path(Path(drafts_dir) / PREDICTION_FOLDER, image_id))
        confusion += confusion_matrix(prediction, read_raster(mask_path(masks_dir, image_id)), num_classes)
    return segmentation_metrics(confusion)


def effort_summary(
    changes: pd.DataFrame, ranking: pd.DataFrame, quality: dict, top_share: float = 0.2
) -> dict[str, float | None]:
    """The effort/quality table: what the drafts saved against labelling every pixel from scratch.

    ``effort_saved_pct`` = 100 x (1 - changed pixels / patch pixels), the from-scratch baseline
    labelling every pixel (100 %). The ranking works if changed patches score high: ROC AUC of
    ``score`` for "patch changed" (undefined, None, when every patch or none was changed), ROC
    AUC for "patch needed more correction than the median patch" (defined as long as the
    patches differ; it judges the ordering when weak drafts leave no patch untouched), Spearman's
    rank correlation of score and changed share, and the share of changed pixels in the
    ``top_share`` of patches by score.
    """
    table = changes.merge(ranking[["patch_id", "score"]], on="patch_id", how="left", validate="one_to_one")
    if table["score"].isna().any():
        missing = table.loc[table["score"].isna(), "patch_id"].tolist()[:5]
        raise PrelabelError(
            f"patches {missing} have corrections but no uncertainty score; rerun the prelabel stage"
        )
    changed = table["changed_pixels"].to_numpy()
    changed_share = changed / table["pixels"].to_numpy()
    scores = table["score"].to_numpy()
    pixels = int(table["pixels"].sum())
    top = table.sort_values("score", ascending=False, kind="stable").head(math.ceil(top_share * len(table)))
    summary = {
        "patches": len(table),
        "patches_unchanged_share": float(np.mean(changed == 0)),
        "pixels_changed_share": float(changed.sum() / pixels),
        "scratch_pixels_share": 1.0,
        "effort_saved_pct": float(100 * (1 - changed.sum() / pixels)),
        "ranking_roc_auc": roc_auc(scores, changed > 0),
        "ranking_roc_auc_above_median": roc_auc(scores, changed_share > np.median(changed_share)),
        "ranking_spearman": float(spearmanr(scores, changed_share).statistic)
        if len(np.unique(scores)) > 1 and len(np.unique(changed_share)) > 1
        else float("nan"),  # undefined for a constant column
        "top_patches_correction_share": float(top["changed_pixels"].sum() / changed.sum())
        if changed.sum()
        else float("nan"),
        "prelabel_aAcc": quality["aAcc"],
        "prelabel_mIoU": quality["mIoU"],
    }
    names = URUR_CLASSES[: len(quality["IoU"])]
    summary |= {f"prelabel_IoU_{name}": iou for name, iou in zip(names, quality["IoU"], strict=True)}
    # JSON has no NaN (DVC and strict parsers refuse it): an undefined value is null.
    return {
        key: None if isinstance(value, float) and math.isnan(value) else value
        for key, value in summary.items()
    }


def truth_agreement(
    truth_dir: str | Path,
    image_manifest: pd.DataFrame,
    masks_dir: str | Path,
    rounds: pd.DataFrame,
    num_classes: int = len(URUR_CLASSES),
) -> pd.DataFrame:
    """Final masks against the synthetic truth: from scratch (round 1) beside pre-labelled (round 2)."""
    records = image_manifest.set_index("image_id")
    rows = []
    for number, group in ((1, "from_scratch"), (2, "prelabelled")):
        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        ids = round_images(rounds, number)
        for image_id in ids:
            path, window = truth_window(Path(truth_dir), {"image_id": image_id, **records.loc[image_id]})
            with rasterio.open(path) as src:
                truth = src.read(1, window=window)
            # The mask is the target so its ignore pixels (image fill) are left out.
            confusion += confusion_matrix(truth, read_raster(mask_path(masks_dir, image_id)), num_classes)
        metrics = segmentation_metrics(confusion)
        rows.append({"group": group, "images": len(ids), "aAcc": metrics["aAcc"], "mIoU": metrics["mIoU"]})
    return pd.DataFrame(rows)
