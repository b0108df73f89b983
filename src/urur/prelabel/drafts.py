"""ISDNet-assisted pre-labelling: annotators correct a model's drafts instead of starting blank.

The paper (section 3.3, "Efficient Annotation") trained ISDNet on the first, hand-annotated
images and had annotators adjust its masks on the rest. Here:

1. :func:`choose_round_one` picks the images annotated from scratch (about a third of the raw
   scenes, cities mixed, deterministic);
2. the trainer (:func:`urur.training.fit`) trains ISDNet on their merged masks;
3. :func:`draft_images` predicts every other image whole at full resolution, one image at a time
   (memory bounded by one image's logits), and cuts the prediction on the annotation patch grid
   into drafts annotators import, with a per-patch uncertainty score and a per-image ranking
   (:mod:`urur.prelabel.ranking`);
4. annotators correct the drafts (:func:`urur.synthetic.review.simulate_corrections` plays them
   on synthetic data);
5. :mod:`urur.prelabel.effort` measures what the drafts saved.

Draft folder layout (published whole; ``drafts.json`` lists what it holds):
``index/<image_id>/<patch_id>.png``, ``rgb/<image_id>/<patch_id>.png``, ``cvat/<image_id>.zip``
(:mod:`urur.dataset.annotation.export`), ``label_studio/<image_id>.json`` (Label Studio tasks, one
per patch, the draft as the model's brush-RLE ``predictions`` scored by the patch's uncertainty)
with ``label_studio/label_config.xml`` (the project's labeling config;
:mod:`urur.dataset.annotation.label_studio`), ``prelabels/<image_id>.tif`` (the whole prediction,
usable as ``annotation.prelabels``) and ``ranking/<image_id>.csv`` (patches, most uncertain first).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from urur.classes import URUR_CLASSES, URUR_PALETTE
from urur.config import Section, section_config
from urur.dataset.annotation.export import write_annotation_export
from urur.dataset.annotation.label_studio import (
    DEFAULT_IMAGE_ROOT,
    LABEL_CONFIG,
    label_config,
    patch_tasks,
    write_tasks,
)
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.errors import UrurError
from urur.evaluation.evaluate import predict_logits
from urur.io.atomic import atomic_path
from urur.io.label_raster import write_label_raster_like
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster
from urur.models.checkpoint import build_model_from_checkpoint
from urur.prelabel.ranking import patch_scores, uncertainty_maps
from urur.preprocessing import normalize, to_tensor
from urur.synthetic.noise import stable_int
from urur.synthetic.review import ReviewParams
from urur.training import TrainingParams

DRAFT_FORMATS = ("index", "rgb", "cvat")
INDEX_DRAFTS = "index"  # the drafts' class-value PNGs: the export read back to compare corrections
LABEL_STUDIO_FOLDER = "label_studio"
DRAFTS_MANIFEST = "drafts.json"
PREDICTION_FOLDER = "prelabels"
RANKING_FOLDER = "ranking"
PARAMS_FILE = "conf/<env>/parameters_prelabel.yml"


class PrelabelError(UrurError, ValueError):
    """Pre-labelling inputs that cannot be used; the message names the file and the fix."""


class RoundOneParams(Section):
    scene_fraction: float = Field(1 / 3, gt=0.0, le=1.0)  # share of raw scenes annotated from scratch
    seed: int = 0
    images: tuple[str, ...] | None = None  # explicit image ids instead of the scene draw


class PrelabelParams(Section):
    """The ``prelabel`` section of ``conf/<env>/parameters_prelabel.yml``."""

    model_config = section_config("prelabel", PARAMS_FILE)
    round_one: RoundOneParams = Field(default_factory=RoundOneParams)
    training: TrainingParams = Field(
        default_factory=lambda: TrainingParams(model="isdnet", model_options={"width": 0.25})
    )
    checkpoint_dir: str = "data/06_models/prelabel"
    margin: float = Field(0.2, gt=0.0, le=1.0)  # top-2 softmax margin below which a pixel is unsure
    score: str = Field("entropy", pattern="^(entropy|low_margin)$")  # what ranks the patches
    correction_seed: int = 2  # the simulated round-two annotators' (urur.synthetic.review)
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
        write_label_raster_like(
            mask_path(out_dir / PREDICTION_FOLDER, image_id), labels, source, class_names=meta["class_names"]
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
            drafts_dir / INDEX_DRAFTS / image_id,
            mask_path(drafts_dir / PREDICTION_FOLDER, image_id),
        )
        absent = [str(path) for path in expected if not path.exists()]
        if absent:
            raise PrelabelError(f"draft folder {drafts_dir} lacks {', '.join(absent)}: {fix}")
    return listing
