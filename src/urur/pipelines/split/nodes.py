from __future__ import annotations

import logging

import pandas as pd

from urur.config import SplitParams
from urur.dataset.split import split_images

log = logging.getLogger(__name__)


def split(image_manifest: pd.DataFrame, p: SplitParams) -> pd.DataFrame:
    """Assign each image to train, val or test."""
    table = split_images(image_manifest, ratios=p.ratios, seed=p.seed)
    log.info("Split sizes: %s", table["split"].value_counts().to_dict())
    return table
