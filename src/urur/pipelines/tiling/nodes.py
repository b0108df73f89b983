from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import TilingParams
from urur.io.atomic import staging_directories
from urur.tiling import tile_images

log = logging.getLogger(__name__)


def tile(images_dir: Path, image_manifest: pd.DataFrame, params: dict) -> tuple[Path, pd.DataFrame]:
    """Cut every UHR image into overlapping annotation patches to hand to annotators."""
    p = TilingParams.model_validate(params)
    with staging_directories("patches") as (patches_dir,):
        patch_manifest = tile_images(
            image_manifest,
            images_dir,
            patches_dir,
            patch_size=p.patch_size,
            overlap=p.overlap,
            workers=p.workers,
        )
    log.info("Cut %d images into %d annotation patches", len(image_manifest), len(patch_manifest))
    return patches_dir, patch_manifest
