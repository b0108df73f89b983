from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import RuntimeParams, SyntheticAnnotatorsParams, TilingParams
from urur.io.atomic import staging_directories
from urur.synthetic import annotate_images

log = logging.getLogger(__name__)


def simulate_annotators(
    truth_dir: Path,
    image_manifest: pd.DataFrame,
    grid: TilingParams,
    p: SyntheticAnnotatorsParams,
    runtime: RuntimeParams,
) -> Path:
    """Every annotation patch of every synthetic image, labelled with patch-local mistakes.

    Only images of scenes with a truth raster are synthetic: where the chain reads a user's data
    (``dvc repro`` still runs this stage), there are none and the export folder stays empty.
    """
    synthetic = image_manifest["scene_id"].map(lambda scene: (truth_dir / f"{scene}.tif").is_file())
    images = image_manifest[synthetic]
    with staging_directories("annotations") as (out_dir,):
        annotate_images(
            truth_dir,
            images,
            out_dir,
            patch_size=grid.patch_size,
            overlap=grid.overlap,
            format=p.format,
            seed=p.seed,
            missing_fraction=p.missing_fraction,
            workers=runtime.workers,
        )
    log.info("Simulated %s annotator exports for %d synthetic images", p.format, len(images))
    return out_dir
