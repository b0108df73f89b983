from __future__ import annotations

from pathlib import Path

from urur.adapters import DeepGlobeParams, deepglobe_labels, list_deepglobe, stage_release
from urur.config import RuntimeParams


def adapt_deepglobe(release_dir: Path, p: DeepGlobeParams, runtime: RuntimeParams):
    """Images, masks (RGB palette -> class values, 0 = unknown), manifest and split."""
    return stage_release(
        list_deepglobe(release_dir),
        source="deepglobe",
        labels_of=deepglobe_labels,
        ratios=p.ratios,
        seed=p.seed,
        workers=runtime.workers,
    )
