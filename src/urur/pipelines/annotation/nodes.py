from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import AnnotationParams, RuntimeParams, TilingParams
from urur.dataset.annotation.merge import merge_annotations
from urur.io.atomic import staging_directories
from urur.io.stamp import check_stamp, write_stamp

log = logging.getLogger(__name__)


def merge(
    annotations_dir: Path,
    image_manifest: pd.DataFrame,
    images_dir: Path,
    grid: TilingParams,
    p: AnnotationParams,
    runtime: RuntimeParams,
) -> tuple[Path, pd.DataFrame]:
    """Merge each image's annotated patches into one mask (image fill -> 255, ignore) and check
    the annotators' agreement."""
    check_stamp(images_dir, image_manifest, producer="ingestion")
    with staging_directories("masks") as (masks_dir,):
        qa = merge_annotations(
            image_manifest,
            annotations_dir,
            masks_dir,
            images_dir=images_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            prelabels_dir=Path(p.prelabels) if p.prelabels else None,
            on_missing=p.on_missing,
            workers=runtime.workers,
        )
        write_stamp(masks_dir, image_manifest)
    log.info("Merged annotations of %d images", len(qa))
    return masks_dir, qa
