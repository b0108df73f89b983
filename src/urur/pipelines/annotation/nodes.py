from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.annotation import merge_annotations
from urur.config import AnnotationParams, TilingParams
from urur.io.atomic import staging_directories

log = logging.getLogger(__name__)


def merge(
    annotations_dir: Path, image_manifest: pd.DataFrame, tiling: dict, params: dict
) -> tuple[Path, pd.DataFrame]:
    """Merge each image's annotated patches into one mask and check the annotators' agreement."""
    grid = TilingParams.model_validate(tiling)
    p = AnnotationParams.model_validate(params)
    with staging_directories("masks") as (masks_dir,):
        qa = merge_annotations(
            image_manifest,
            annotations_dir,
            masks_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            prelabels_dir=Path(p.prelabels) if p.prelabels else None,
            on_missing=p.on_missing,
            workers=p.workers,
        )
    log.info("Merged annotations of %d images", len(qa))
    return masks_dir, qa
