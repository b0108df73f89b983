from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import RuntimeParams, TilingParams
from urur.dataset.tiling import tile_images
from urur.io.atomic import staging_directories
from urur.io.stamp import check_stamp

log = logging.getLogger(__name__)


def tile(
    images_dir: Path, image_manifest: pd.DataFrame, grid: TilingParams, runtime: RuntimeParams
) -> tuple[Path, pd.DataFrame]:
    """Cut every UHR image into overlapping annotation patches to hand to annotators."""
    check_stamp(images_dir, image_manifest, producer="ingestion")
    with staging_directories("patches") as (patches_dir,):
        patch_manifest = tile_images(
            image_manifest,
            images_dir,
            patches_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            workers=runtime.workers,
        )
    log.info("Cut %d images into %d annotation patches", len(image_manifest), len(patch_manifest))
    return patches_dir, patch_manifest
