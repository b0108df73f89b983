from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.classes import URUR_CLASSES
from urur.config import DatasetStatsParams, RuntimeParams
from urur.dataset.stats import dataset_statistics
from urur.io.stamp import check_stamp

log = logging.getLogger(__name__)


def compute_dataset_stats(
    masks_dir: Path, image_manifest: pd.DataFrame, p: DatasetStatsParams, runtime: RuntimeParams
) -> tuple[dict, pd.DataFrame]:
    """The dataset's row of the paper's Table 1, plus per-class pixel and instance counts."""
    check_stamp(masks_dir, image_manifest, producer="annotation")
    stats, per_class = dataset_statistics(
        masks_dir,
        image_manifest,
        num_classes=len(URUR_CLASSES),
        class_names=URUR_CLASSES,
        region_size=p.region_size,
        regions_per_image=p.regions_per_image,
        min_instance_pixels=p.min_instance_pixels,
        seed=p.seed,
        q=p.q,
        workers=runtime.workers,
    )
    log.info("Context richness R = %.3f over %d images", stats["context_richness"], stats["images"])
    return stats, per_class
