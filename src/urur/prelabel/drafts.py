"""ISDNet-assisted pre-labelling: annotators correct a model's drafts instead of starting blank.

The paper (section 3.3, "Efficient Annotation") trained ISDNet on the first, hand-annotated
images and had annotators adjust its masks on the rest. Here:

1. :func:`choose_round_one` picks the images annotated from scratch (about a third of the raw
   scenes, cities mixed, deterministic);
2. the trainer (:func:`urur.training.fit`) trains ISDNet on their merged masks;
3. :func:`draft_images` predicts every other image whole at full resolution, one image at a time
   (memory bounded by one image's logits), and cuts the prediction on the annotation patch grid
   into drafts annotators import, with a per-patch uncertainty score and a per-image ranking;
4. annotators correct the drafts (:func:`simulate_corrections` plays them on synthetic data);
5. :func:`count_changes` and :func:`effort_summary` measure what the drafts saved.

Draft folder layout (published whole; ``drafts.json`` lists what it holds):
``index/<image_id>/<patch_id>.png``, ``rgb/<image_id>/<patch_id>.png``, ``cvat/<image_id>.zip``
(:mod:`urur.dataset.annotation_export`), ``label_studio/<image_id>.json`` (Label Studio tasks, one per
patch, the draft as the model's brush-RLE ``predictions`` scored by the patch's uncertainty)
with ``label_studio/label_config.xml`` (the project's labeling config; :mod:`urur.dataset.label_studio`),
``prelabels/<image_id>.tif`` (the whole prediction, usable as ``annotation.prelabels``) and
``ranking/<image_id>.csv`` (patches, most uncertain first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from scipy.stats import rankdata, spearmanr

from urur.classes import URUR_CLASSES, URUR_PALETTE
from urur.dataset.annotation import AnnotationError, read_export
from urur.dataset.annotation_export import write_annotation_export
from urur.dataset.label_studio import DEFAULT_IMAGE_ROOT, LABEL_CONFIG, label_config, patch_tasks, write_tasks
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.evaluation.evaluate import predict_logits
from urur.evaluation.metrics import confusion_matrix, segmentation_metrics
from urur.io.atomic import atomic_path
from urur.io.label_raster import write_label_raster
from urur.io.layout import image_path, mask_path
from urur.io.raster import raster_info, read_raster
from urur.models.checkpoint import build_model_from_checkpoint
from urur.preprocessing import normalize, to_tensor
from urur.synthetic.annotators import AnnotatorHabits, simulate_annotations, truth_window
from urur.synthetic.noise import stable_int
from urur.training import TrainingParams

DRAFT_FORMATS = ("index", "rgb", "cvat")
LABEL_STUDIO_FOLDER = "label_studio"
DRAFTS_MANIFEST = "drafts.json"
PREDICTION_FOLDER = "prelabels"
RANKING_FOLDER = "ranking"
RANKING_COLUMNS = (
    "image_id",
    "patch_id",
    "row",
    "col",
    "height",
    "width",
    "entropy",
    "low_margin",
    "score",
    "rank",
)
PARAMS_FILE = "conf/<env>/parameters_prelabel.yml"


class PrelabelError(ValueError):
    """Pre-labelling inputs that cannot be used; the message names the file and the fix."""


class RoundOneParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scene_fraction: float = Field(1 / 3, gt=0.0, le=1.0)  # share of raw scenes annotated from scratch
    seed: int = 0
    images: tuple[str, ...] | None = None  # explicit image ids instead of the scene draw


class ReviewParams(BaseModel):
    """What the simulated round-two annotators overlook when they review a draft.

    A person checking a draft redraws the regions that are visibly wrong, not every pixel: a
    disagreement thinner than ``min_error_width`` px (a boundary drawn a pixel off) or covering
    fewer than ``min_error_area`` px stays, as it would in their own from-scratch masks (the
    defaults match :class:`urur.synthetic.annotators.AnnotatorHabits`: 1 px boundary shifts,
    confused objects up to 400 px). ``1`` and ``1`` fix every wrong pixel.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_error_width: int = Field(3, ge=1)
    min_error_area: int = Field(400, ge=1)


class PrelabelParams(BaseModel):
    """The ``prelabel`` section of ``conf/<env>/parameters_prelabel.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, title=f"prelabel ({PARAMS_FILE})")
    round_one: RoundOneParams = Field(default_factory=RoundOneParams)
    training: TrainingParams = Field(
        default_factory=lambda: TrainingParams(model="isdnet", model_options={"width": 0.25})
    )
    checkpoint_dir: str = "data/06_models/prelabel"
    margin: float = Field(0.2, gt=0.0, le=1.0)  # top-2 softmax margin below which a pixel is unsure
    score: str = Field("entropy", pattern="^(entropy|low_margin)$")  # what ranks the patches
    correction_seed: int = 2
    review: ReviewParams = Field(default_factory=ReviewParams)
    top_share: float = Field(0.2, gt=0.0, le=1.0)  # the "top 20 %" of patches by score
    # Label Studio tasks' data.image: this + "<image_id>/<patch_id>.png" (the tiling stage's patches)
    label_studio_images: str = DEFAULT_IMAGE_ROOT


def choose_round_one(
    image_manifest: pd.DataFrame,
    scene_fraction: float = 1 / 3,
    seed: int = 0,
    images: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``image_id, scene_id, city, round`` (1 = from scratch, 2 = pre-labelled) for every image.

    Without ``images``, round one is every image of ``round(scene_fraction * scenes)`` scenes (at
    least one), taken city by city in turn (cities sorted, scenes in a seeded order within each),
    so the model sees every city early. Whole scenes, because images of one scene are alike.
    """
    table = image_manifest[["image_id", "scene_id"]].astype(str).copy()
    table["city"] = image_manifest["city"].astype(str) if "city" in image_manifest else table["scene_id"]
    if images is not None:
        unknown = sorted(set(images) - set(table["image_id"]))
        if unknown:
            raise PrelabelError(
                f"prelabel.round_one.images lists {unknown[:5]}, not in the image manifest; "
                f"fix the list in {PARAMS_FILE}"
            )
        chosen = set(images)
    else:
        scenes = table.drop_duplicates("scene_id")
        by_city = {
            city: sorted(group["scene_id"], key=lambda scene: stable_int(f"{seed}:{scene}"))
            for city, group in scenes.groupby("city", sort=True)
        }
        longest = max(map(len, by_city.values()))
        turns = [queue[k] for k in range(longest) for queue in by_city.values() if k < len(queue)]
        count = max(1, round(scene_fraction * len(scenes)))
        chosen_scenes = set(turns[:count])
        chosen = set(table.loc[table["scene_id"].isin(chosen_scenes), "image_id"])
    if not chosen or len(chosen) == len(table):
        which = "no image" if not chosen else f"all {len(table)} images"
        raise PrelabelError(
            f"round one (annotated from scratch) would hold {which}: pre-labelling needs both "
            f"images to train on and images to pre-label. Set prelabel.round_one.scene_fraction "
            f"or prelabel.round_one.images in {PARAMS_FILE} to a proper subset"
        )
    table["round"] = np.where(table["image_id"].isin(chosen), 1, 2)
    return table.sort_values("image_id").reset_index(drop=True)


def round_images(rounds: pd.DataFrame, number: int) -> list[str]:
    """Image ids of round ``number`` (1 or 2), sorted."""
    return sorted(rounds.loc[rounds["round"] == number, "image_id"].astype(str))


def uncertainty_maps(logits: torch.Tensor, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (uint8), entropy / log K (0 = sure, 1 = uniform) and small-margin flags of (1, K, H, W) logits.

    A pixel's margin is its top softmax probability minus the second; below ``margin`` it is unsure.
    """
    probabilities = torch.softmax(logits[0].float(), dim=0)
    top2 = probabilities.topk(2, dim=0)
    entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=0) / math.log(logits.shape[1])
    low_margin = (top2.values[0] - top2.values[1]) < margin
    labels = top2.indices[0].to(torch.uint8)
    return labels.numpy(), entropy.numpy(), low_margin.numpy()


def patch_scores(
    image_id: str, entropy: np.ndarray, low_margin: np.ndarray, patch_size: int, overlap: int, score: str
) -> pd.DataFrame:
    """One ranking row per patch: mean entropy, share of small-margin pixels, ``score``, rank (1 = first)."""
    rows = []
    for window in patch_grid(*entropy.shape, patch_size, overlap):
        rows.append(
            {
                "image_id": image_id,
                "patch_id": patch_id(image_id, window),
                "row": window.row,
                "col": window.col,
                "height": window.height,
                "width": window.width,
                "entropy": float(crop(entropy, window).mean()),
                "low_margin": float(crop(low_margin, window).mean()),
            }
        )
    table = pd.DataFrame(rows)
    table["score"] = table[score]
    table["rank"] = rankdata(-table["score"].to_numpy(), method="ordinal").astype(int)
    return table.sort_values("rank").reset_index(drop=True)[list(RANKING_COLUMNS)]


def model_version(checkpoint: str | Path) -> str:
    """What Label Studio shows as the drafts' model: ``<configuration folder>/<checkpoint>``."""
    checkpoint = Path(checkpoint)
    return f"{checkpoint.parent.name}/{checkpoint.stem}"


def write_drafts(
    labels: np.ndarray,
    image_id: str,
    out_dir: Path,
    patch_size: int,
    overlap: int,
    *,
    ranking: pd.DataFrame,
    version: str,
    image_root: str = DEFAULT_IMAGE_ROOT,
    num_classes: int = len(URUR_CLASSES),
) -> None:
    """Cut ``labels`` on the annotation grid into index, URUR-palette and CVAT drafts under
    ``out_dir``, and Label Studio tasks whose predictions carry ``version`` and the ranking's score."""
    patches = {
        patch_id(image_id, window): np.ascontiguousarray(crop(labels, window))
        for window in patch_grid(*labels.shape, patch_size, overlap)
    }
    for fmt in DRAFT_FORMATS:
        write_annotation_export(out_dir / fmt, image_id, patches, fmt)
    tasks = patch_tasks(
        image_id,
        patches,
        URUR_CLASSES[:num_classes],
        image_root=image_root,
        model_version=version,
        scores=dict(zip(ranking["patch_id"], ranking["score"], strict=True)),
    )
    write_tasks(out_dir / LABEL_STUDIO_FOLDER / f"{image_id}.json", tasks)


def draft_images(
    checkpoint: str | Path,
    image_ids: Sequence[str],
    images_dir: str | Path,
    out_dir: str | Path,
    *,
    patch_size: int = 1000,
    overlap: int = 120,
    num_classes: int = len(URUR_CLASSES),
    margin: float = 0.2,
    score: str = "entropy",
    label_studio_images: str = DEFAULT_IMAGE_ROOT,
) -> pd.DataFrame:
    """Draft every image of ``image_ids`` into ``out_dir`` (layout in the module docstring).

    Images are predicted whole at full resolution one after the other; only one image's logits
    exist at a time. ``drafts.json`` is written last, so a folder without it is incomplete.
    Returns the ranking of all patches (columns :data:`RANKING_COLUMNS`).
    """
    if not image_ids:
        raise PrelabelError("no images to pre-label: round two is empty")
    # A checkpoint of another class count is a CheckpointError naming the file.
    model, meta = build_model_from_checkpoint(checkpoint, "cpu", num_classes=num_classes)
    out_dir = Path(out_dir)
    with atomic_path(out_dir / LABEL_STUDIO_FOLDER / LABEL_CONFIG) as tmp:
        tmp.write_text(label_config(URUR_CLASSES[:num_classes], URUR_PALETTE))
    rankings = []
    for image_id in image_ids:
        source = image_path(images_dir, image_id)
        pixels = read_raster(source)
        image = normalize(to_tensor(pixels), meta["mean"], meta["std"])[None]
        del pixels
        logits = predict_logits(model, image, num_classes)
        del image
        labels, entropy, low_margin = uncertainty_maps(logits, margin)
        del logits
        ranking = patch_scores(image_id, entropy, low_margin, patch_size, overlap, score)
        write_drafts(
            labels,
            image_id,
            out_dir,
            patch_size,
            overlap,
            ranking=ranking,
            version=model_version(checkpoint),
            image_root=label_studio_images,
            num_classes=num_classes,
        )
        info = raster_info(source)
        write_label_raster(
            mask_path(out_dir / PREDICTION_FOLDER, image_id),
            labels,
            class_names=meta["class_names"],
            crs=info.crs,
            transform=info.transform,
        )
        (out_dir / RANKING_FOLDER).mkdir(parents=True, exist_ok=True)
        ranking.to_csv(out_dir / RANKING_FOLDER / f"{image_id}.csv", index=False)
        rankings.append(ranking)
    listing = {
        "images": list(image_ids),
        "patch_size": patch_size,
        "overlap": overlap,
        "num_classes": num_classes,
        "checkpoint": str(checkpoint),
    }
    (out_dir / DRAFTS_MANIFEST).write_text(json.dumps(listing, indent=2))
    return pd.concat(rankings, ignore_index=True)


def check_drafts(drafts_dir: str | Path) -> dict:
    """The draft folder's ``drafts.json``, after checking every listed draft is there.

    A folder without it, or missing a listed draft, was left by an interrupted run.
    """
    drafts_dir = Path(drafts_dir)
    listing_file = drafts_dir / DRAFTS_MANIFEST
    fix = "a previous run was interrupted while writing it; delete the folder and rerun the prelabel stage"
    if not listing_file.is_file():
        raise PrelabelError(f"draft folder {drafts_dir} has no {DRAFTS_MANIFEST}: {fix}")
    listing = json.loads(listing_file.read_text())
    for image_id in listing["images"]:
        expected = (
            drafts_dir / "cvat" / f"{image_id}.zip",
            drafts_dir / LABEL_STUDIO_FOLDER / f"{image_id}.json",
            drafts_dir / "index" / image_id,
            mask_path(drafts_dir / PREDICTION_FOLDER, image_id),
        )
        absent = [str(path) for path in expected if not path.exists()]
        if absent:
            raise PrelabelError(f"draft folder {drafts_dir} lacks {', '.join(absent)}: {fix}")
    return listing


def noticed_errors(wrong: np.ndarray, min_width: int = 1, min_area: int = 1) -> np.ndarray:
    """The part of a disagreement map (bool) a reviewer notices: regions at least ``min_width`` px
    thick (a binary opening removes thinner slivers) and ``min_area`` px large (8-connected),
    with the wrong pixels on their rim."""
    core = ndimage.binary_opening(wrong, np.ones((min_width, min_width), bool)) if min_width > 1 else wrong
    regions, _ = ndimage.label(core, np.ones((3, 3), bool))
    large = np.bincount(regions.ravel()) >= min_area
    large[0] = False
    seen = large[regions]
    return wrong & ndimage.binary_dilation(seen, np.ones((3, 3), bool)) if min_width > 1 else seen


def correct_patch(
    draft: np.ndarray, truth: np.ndarray, annotated: np.ndarray, review: ReviewParams | None = None
) -> np.ndarray:
    """An annotator's correction: where they notice the draft disagrees with the truth
    (:func:`noticed_errors`) they draw their own label (``annotated``: the truth with their usual
    mistakes); elsewhere the draft stays."""
    review = review or ReviewParams(min_error_width=1, min_error_area=1)
    fix = noticed_errors(draft != truth, review.min_error_width, review.min_error_area)
    return np.where(fix, annotated, draft)


def simulate_corrections(
    truth: np.ndarray,
    image_id: str,
    drafts: dict[str, np.ndarray],
    patch_size: int,
    overlap: int,
    seed: int,
    habits: AnnotatorHabits | None = None,
    review: ReviewParams | None = None,
) -> dict[str, np.ndarray]:
    """Corrected draft of every patch of one image (annotators' mistakes seeded per patch)."""
    windows = patch_grid(*truth.shape, patch_size, overlap)
    annotated = simulate_annotations(truth, image_id, windows, seed, habits=habits)
    return {
        pid: correct_patch(drafts[pid], crop(truth, window), annotated[pid], review)
        for window, pid in ((w, patch_id(image_id, w)) for w in windows)
    }


def correct_images(
    truth_dir: str | Path,
    image_manifest: pd.DataFrame,
    drafts_dir: str | Path,
    out_dir: str | Path,
    *,
    seed: int,
    review: ReviewParams | None = None,
    export_format: str = "cvat",
) -> pd.DataFrame:
    """Round two on synthetic data: correct every drafted image, export as ``export_format``.

    Returns the exact pixels each patch's correction changed (``image_id, patch_id, pixels,
    changed_pixels``).
    """
    listing = check_drafts(drafts_dir)
    records = image_manifest.set_index("image_id").loc[listing["images"]].reset_index()
    rows = []
    for record in records.to_dict("records"):
        image_id = str(record["image_id"])
        path, window = truth_window(Path(truth_dir), record)
        with rasterio.open(path) as src:
            truth = src.read(1, window=window)
        windows = patch_grid(*truth.shape, listing["patch_size"], listing["overlap"])
        drafts, _, _ = read_export(Path(drafts_dir) / "index", image_id, windows, format="index")
        corrected = simulate_corrections(
            truth, image_id, drafts, listing["patch_size"], listing["overlap"], seed, review=review
        )
        write_annotation_export(out_dir, image_id, corrected, export_format)
        rows += [
            {
                "image_id": image_id,
                "patch_id": pid,
                "pixels": drafts[pid].size,
                "changed_pixels": int(np.count_nonzero(corrected[pid] != drafts[pid])),
            }
            for pid in corrected
        ]
    return pd.DataFrame(rows, columns=["image_id", "patch_id", "pixels", "changed_pixels"])


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
        drafts, _, _ = read_export(Path(drafts_dir) / "index", image_id, windows, format="index")
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
                f"({Path(drafts_dir) / 'index' / image_id}) do not have; the drafts' grid is "
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
