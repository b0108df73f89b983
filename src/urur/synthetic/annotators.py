"""Simulated annotators: the truth with patch-local mistakes, exported the way real tools export.

In the paper each 5120² image is cut into 1000² patches with 120 px overlaps and every patch is
annotated on its own (section 3.3). Here each patch's "annotator" copies the truth and makes the
mistakes people make: boundaries drawn a pixel off, a class outlined a little too generously, an
occasional small object given a plausible wrong class. Mistakes are independent per patch (seeded
from (seed, patch id)), so two patches sometimes disagree inside their overlap, which is what the
annotation merge has to settle.

Exports are written in what a user's annotation team would hand over (index or URUR-palette
PNGs, CVAT "Segmentation mask 1.1" zips) by :mod:`urur.dataset.annotation.export`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window as RasterWindow
from scipy import ndimage

from urur.classes import URUR_CLASSES
from urur.dataset.annotation.export import ANNOTATION_FORMATS, write_annotation_export
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.windows import Window
from urur.parallel import map_items
from urur.synthetic.layout import (
    BARELAND,
    BUILDING,
    FARMLAND,
    GREENHOUSE,
    OTHERS,
    ROAD,
    WATER,
    WOODLAND,
)
from urur.synthetic.noise import stable_int

MANIFEST_COLUMNS = ("image_id", "scene_id", "row_off", "col_off", "height", "width")

# Classes an annotator plausibly mistakes a small object of each class for.
CONFUSIONS: dict[int, tuple[int, ...]] = {
    OTHERS: (BARELAND, ROAD),
    BUILDING: (GREENHOUSE, OTHERS),
    FARMLAND: (WOODLAND, BARELAND),
    GREENHOUSE: (BUILDING, OTHERS),
    WOODLAND: (FARMLAND, OTHERS),
    BARELAND: (OTHERS, FARMLAND),
    WATER: (OTHERS, WOODLAND),
    ROAD: (OTHERS, BARELAND),
}


@dataclass(frozen=True)
class AnnotatorHabits:
    """How careless the simulated annotators are (defaults: > 95 % of pixels right, never all)."""

    shift_probability: float = 0.65  # chance the patch's boundaries are drawn 1 px off (one axis)
    dilate_probability: float = 0.4  # chance one class is outlined 1 px too generously
    mislabel_probability: float = 0.3  # chance of confusing small objects in a patch
    max_mislabelled: int = 2  # small objects confused at most, when it happens
    small_object_area: int = 400  # px: only objects up to this size get confused (10 m x 10 m)


def _shifted(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask`` moved by (dy, dx) pixels, edges repeated: every boundary drawn off by the same amount."""
    padded = np.pad(mask, ((abs(dy), abs(dy)), (abs(dx), abs(dx))), mode="edge")
    rows = slice(abs(dy) - dy, abs(dy) - dy + mask.shape[0])
    cols = slice(abs(dx) - dx, abs(dx) - dx + mask.shape[1])
    return padded[rows, cols].copy()


def _mislabel_small_objects(mask: np.ndarray, rng: np.random.Generator, habits: AnnotatorHabits) -> None:
    """Give up to ``max_mislabelled`` small objects of one random class a plausible wrong class."""
    present = [int(c) for c in np.unique(mask)]
    value = present[int(rng.integers(len(present)))]
    objects, count = ndimage.label(mask == value)
    if count == 0:
        return
    areas = np.bincount(objects.ravel(), minlength=count + 1)[1:]
    small = np.flatnonzero(areas <= habits.small_object_area) + 1
    if small.size == 0:
        return
    chosen = rng.choice(small, size=min(habits.max_mislabelled, small.size), replace=False)
    confusions = CONFUSIONS[value]
    mask[np.isin(objects, chosen)] = confusions[int(rng.integers(len(confusions)))]


def annotate_patch(truth: np.ndarray, rng: np.random.Generator, habits: AnnotatorHabits) -> np.ndarray:
    """One annotator's mask of a patch: the truth with boundary jitter and occasional confusions."""
    mask = truth.copy()
    if rng.uniform() < habits.shift_probability:
        step = int(rng.choice((-1, 1)))
        mask = _shifted(mask, step, 0) if rng.uniform() < 0.5 else _shifted(mask, 0, step)
    if rng.uniform() < habits.dilate_probability:
        present = np.unique(mask)
        value = int(present[rng.integers(len(present))])
        mask[ndimage.binary_dilation(mask == value)] = value
    if rng.uniform() < habits.mislabel_probability:
        _mislabel_small_objects(mask, rng, habits)
    return mask


def simulate_annotations(
    truth: np.ndarray,
    image_id: str,
    windows: list[Window],
    seed: int,
    *,
    habits: AnnotatorHabits | None = None,
    missing_fraction: float = 0.0,
) -> dict[str, np.ndarray]:
    """Annotated mask of every patch of one image, keyed by patch id, in window order.

    Each patch's randomness comes only from (seed, patch id), so any subset of patches, in any
    process, gets the same masks. ``missing_fraction`` leaves that share of patches (in
    expectation) unannotated, like an unfinished annotation job.
    """
    if truth.ndim != 2 or truth.dtype != np.uint8:
        raise ValueError(
            f"truth of {image_id} must be an (H, W) uint8 label map, got {truth.dtype} {truth.shape}"
        )
    if truth.size and truth.max() >= len(URUR_CLASSES):
        raise ValueError(
            f"truth of {image_id} has value {truth.max()}; URUR classes are 0..{len(URUR_CLASSES) - 1}"
        )
    if not 0.0 <= missing_fraction <= 1.0:
        raise ValueError(f"missing_fraction must be in [0, 1], got {missing_fraction}")
    habits = habits or AnnotatorHabits()
    patches = {}
    for window in windows:
        if window.row + window.height > truth.shape[0] or window.col + window.width > truth.shape[1]:
            raise ValueError(f"window {window} of {image_id} reaches outside the {truth.shape} truth")
        pid = patch_id(image_id, window)
        rng = np.random.default_rng([seed, stable_int(pid)])
        if rng.uniform() < missing_fraction:
            continue
        patches[pid] = annotate_patch(truth[window.slices], rng, habits)
    return patches


@dataclass(frozen=True)
class _ImageJob:
    image_id: str
    truth_path: Path
    window: RasterWindow
    out_dir: Path
    patch_size: int
    overlap: int
    format: str
    seed: int
    missing_fraction: float
    habits: AnnotatorHabits = field(default_factory=AnnotatorHabits)


def _annotate_image(job: _ImageJob) -> dict[str, object]:
    with rasterio.open(job.truth_path) as src:
        truth = src.read(1, window=job.window)
    windows = patch_grid(truth.shape[0], truth.shape[1], job.patch_size, job.overlap)
    patches = simulate_annotations(
        truth, job.image_id, windows, job.seed, habits=job.habits, missing_fraction=job.missing_fraction
    )
    path = write_annotation_export(job.out_dir, job.image_id, patches, job.format)
    return {
        "image_id": job.image_id,
        "patches": len(patches),
        "missing": len(windows) - len(patches),
        "export": path.name,
    }


def truth_window(truth_dir: Path, record: dict) -> tuple[Path, RasterWindow]:
    """The truth raster of the image's scene and the image's window in it, checked to fit."""
    image_id, scene_id = record["image_id"], record["scene_id"]
    row_off, col_off, height, width = (int(record[k]) for k in ("row_off", "col_off", "height", "width"))
    path = truth_dir / f"{scene_id}.tif"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no truth raster for scene {scene_id!r} (image {image_id!r}); "
            "the simulated annotators only work on scenes made by urur.synthetic.generate_scenes"
        )
    with rasterio.open(path) as src:
        scene_height, scene_width = src.height, src.width
    if min(row_off, col_off) < 0 or row_off + height > scene_height or col_off + width > scene_width:
        raise ValueError(
            f"image {image_id!r} at rows {row_off}+{height}, cols {col_off}+{width} does not fit in "
            f"{path} ({scene_height}x{scene_width}); regenerate the image manifest from these scenes"
        )
    return path, RasterWindow(col_off, row_off, width, height)


def annotate_images(
    truth_dir: str | Path,
    image_manifest: pd.DataFrame,
    out_dir: str | Path,
    *,
    patch_size: int = 1000,
    overlap: int = 120,
    format: str = "index",
    seed: int = 0,
    workers: int | None = None,
    missing_fraction: float = 0.0,
    habits: AnnotatorHabits | None = None,
) -> pd.DataFrame:
    """Play the annotation team on every image of the manifest; one export per image in ``out_dir``.

    Each image's truth is read from its scene's truth raster with a windowed read (offsets from the
    manifest). Each image's export replaces that image's earlier one (see ``write_annotation_export``).
    Returns one row per image: ``image_id, patches, missing, export`` (the name inside ``out_dir``).
    """
    if format not in ANNOTATION_FORMATS:
        raise ValueError(f"format must be one of {ANNOTATION_FORMATS}, got {format!r}")
    absent = [column for column in MANIFEST_COLUMNS if column not in image_manifest.columns]
    if absent:
        raise ValueError(f"image manifest lacks columns {absent}; expected {list(MANIFEST_COLUMNS)}")
    truth_dir, out_dir = Path(truth_dir), Path(out_dir)
    habits = habits or AnnotatorHabits()
    jobs = [
        _ImageJob(
            str(record["image_id"]),
            *truth_window(truth_dir, record),
            out_dir,
            patch_size,
            overlap,
            format,
            seed,
            missing_fraction,
            habits,
        )
        for record in image_manifest.to_dict("records")
    ]
    rows = map_items(_annotate_image, jobs, workers=workers, desc="simulated annotators")
    return pd.DataFrame(rows, columns=["image_id", "patches", "missing", "export"])
