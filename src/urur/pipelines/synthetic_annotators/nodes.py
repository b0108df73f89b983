from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import SyntheticAnnotatorsParams, TilingParams
from urur.io.atomic import staging_directories
from urur.synthetic import annotate_images

log = logging.getLogger(__name__)


def simulate_annotators(truth_dir: Path, image_manifest: pd.DataFrame, tiling: dict, params: dict) -> Path:
    """Every annotation patch of every image, labelled with patch-local mistakes."""
    grid = TilingParams.model_validate(tiling)
    p = SyntheticAnnotatorsParams.model_validate(params)
    with staging_directories("annotations") as (out_dir,):
        annotate_images(
            truth_dir,
            image_manifest,
            out_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            format=p.format,
            seed=p.seed,
            missing_fraction=p.missing_fraction,
            workers=p.workers,
        )
    log.info("Simulated %s annotator exports for %d images", p.format, len(image_manifest))
    return out_dir
