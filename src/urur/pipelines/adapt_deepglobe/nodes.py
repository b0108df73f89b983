from __future__ import annotations

from pathlib import Path

from urur.adapters import DeepGlobeParams, stage_deepglobe
from urur.config import RuntimeParams


def adapt_deepglobe(release_dir: Path, p: DeepGlobeParams, runtime: RuntimeParams):
    """Images, masks (RGB palette -> class values, 0 = unknown), manifest and split."""
    return stage_deepglobe(release_dir, p, workers=runtime.workers)
