from __future__ import annotations

from pathlib import Path

from urur.config import RuntimeParams
from urur.dataset.releases import InriaParams, inria_labels, list_inria, stage_release
from urur.dataset.sources import describe_source


def adapt_inria(release_dir: Path, p: InriaParams, runtime: RuntimeParams, environment: str):
    """Georeferenced images, 0/1 building masks, manifest, the split by image number and the
    dataset's source record."""
    source = describe_source(release_dir, environment)
    items = list_inria(release_dir, p.val_numbers, p.test_numbers)
    return *stage_release(items, source="inria", labels_of=inria_labels, workers=runtime.workers), source
