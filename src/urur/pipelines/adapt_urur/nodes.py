from __future__ import annotations

import functools
from pathlib import Path

from urur.config import RuntimeParams
from urur.dataset.releases import UrurReleaseParams, list_urur, stage_release, urur_label_lut, urur_labels
from urur.dataset.sources import describe_source


def adapt_urur(release_dir: Path, p: UrurReleaseParams, runtime: RuntimeParams, environment: str):
    """Images, masks (label_order remapped to the README's values), manifest, the release's split
    and the dataset's source record."""
    source = describe_source(release_dir, environment)
    labels_of = functools.partial(urur_labels, lut=urur_label_lut(p.label_order))
    items = list_urur(release_dir)
    return *stage_release(items, source="urur", labels_of=labels_of, workers=runtime.workers), source
