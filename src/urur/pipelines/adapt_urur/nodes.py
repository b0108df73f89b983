from __future__ import annotations

import functools
from pathlib import Path

from urur.adapters import UrurReleaseParams, list_urur, stage_release, urur_label_lut, urur_labels
from urur.config import RuntimeParams


def adapt_urur(release_dir: Path, p: UrurReleaseParams, runtime: RuntimeParams):
    """Images, masks (label_order remapped to the README's values), manifest and the release's split."""
    labels_of = functools.partial(urur_labels, lut=urur_label_lut(p.label_order))
    return stage_release(list_urur(release_dir), source="urur", labels_of=labels_of, workers=runtime.workers)
