"""The simulated reviewer: round-two annotators correcting the pre-labelling drafts on synthetic data.

A person checking a draft redraws the regions that are visibly wrong (against the synthetic
truth), drawing them with their usual mistakes (:mod:`urur.synthetic.annotators`), and leaves
the rest as drafted, slivers and specks they overlook included (:class:`ReviewParams`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from pydantic import Field
from scipy import ndimage

from urur.config import Section
from urur.dataset.annotation.export import write_annotation_export
from urur.dataset.annotation.formats import read_export
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.synthetic.annotators import AnnotatorHabits, simulate_annotations, truth_window


class ReviewParams(Section):
    """What the simulated round-two annotators overlook when they review a draft.

    A person checking a draft redraws the regions that are visibly wrong, not every pixel: a
    disagreement thinner than ``min_error_width`` px (a boundary drawn a pixel off) or covering
    fewer than ``min_error_area`` px stays, as it would in their own from-scratch masks (the
    defaults match :class:`urur.synthetic.annotators.AnnotatorHabits`: 1 px boundary shifts,
    confused objects up to 400 px). ``1`` and ``1`` fix every wrong pixel.
    """

    min_error_width: int = Field(3, ge=1)
    min_error_area: int = Field(400, ge=1)


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


def correct_patches(
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


def simulate_corrections(
    truth_dir: str | Path,
    image_manifest: pd.DataFrame,
    drafts_dir: str | Path,
    out_dir: str | Path,
    *,
    image_ids: Sequence[str],
    patch_size: int,
    overlap: int,
    seed: int,
    review: ReviewParams | None = None,
    export_format: str = "cvat",
) -> pd.DataFrame:
    """Round two on synthetic data: correct the drafts of ``image_ids``, export as ``export_format``.

    ``drafts_dir`` is an index-PNG export of the drafts, cut on the ``patch_size``/``overlap``
    grid. Returns the exact pixels each patch's correction changed (``image_id, patch_id, pixels,
    changed_pixels``).
    """
    records = image_manifest.set_index("image_id").loc[list(image_ids)].reset_index()
    rows = []
    for record in records.to_dict("records"):
        image_id = str(record["image_id"])
        path, window = truth_window(Path(truth_dir), record)
        with rasterio.open(path) as src:
            truth = src.read(1, window=window)
        windows = patch_grid(*truth.shape, patch_size, overlap)
        drafts, _, _ = read_export(drafts_dir, image_id, windows, format="index")
        corrected = correct_patches(truth, image_id, drafts, patch_size, overlap, seed, review=review)
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
