from __future__ import annotations

from pathlib import Path

from urur.config import RuntimeParams
from urur.dataset.releases import DeepGlobeParams, stage_deepglobe
from urur.dataset.sources import describe_source


def adapt_deepglobe(release_dir: Path, p: DeepGlobeParams, runtime: RuntimeParams, environment: str):
    """Images, masks (RGB palette -> class values, 0 = unknown), manifest, split and the dataset's
    source record."""
    source = describe_source(release_dir, environment)
    return *stage_deepglobe(release_dir, p, workers=runtime.workers), source
