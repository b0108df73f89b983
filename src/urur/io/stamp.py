"""Which manifest a published folder belongs to, so a consumer never mixes two runs' outputs.

A stage with two outputs (a folder of rasters and its manifest table) saves them one after the
other; a run killed between the two saves leaves a new folder beside the old manifest. The
producer writes ``manifest.sha256`` into the folder before it is published: a digest of the
manifest's ``image_id`` and pixel ``checksum`` columns (strings, so the digest survives any
table format). Consumers call :func:`check_stamp` and refuse a folder whose stamp differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from urur.errors import UrurError

STAMP_NAME = "manifest.sha256"


class StaleOutputError(UrurError, ValueError):
    """A folder and the manifest it is read with were written by different runs."""


def manifest_digest(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted ``image_id checksum`` lines of an image manifest."""
    lines = sorted(f"{i} {c}" for i, c in zip(manifest["image_id"], manifest["checksum"], strict=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def write_stamp(folder: Path, manifest: pd.DataFrame) -> None:
    """Record in ``folder`` (still in staging) which manifest it goes with."""
    (Path(folder) / STAMP_NAME).write_text(manifest_digest(manifest) + "\n")


def check_stamp(folder: Path, manifest: pd.DataFrame, *, producer: str) -> None:
    """Refuse ``folder`` unless it was written together with ``manifest`` by stage ``producer``."""
    stamp = Path(folder) / STAMP_NAME
    recorded = stamp.read_text().strip() if stamp.is_file() else None
    if recorded != manifest_digest(manifest):
        reason = "has no stamp" if recorded is None else "was written by another run than the manifest"
        raise StaleOutputError(
            f"{folder} {reason} ({STAMP_NAME}); a run was probably interrupted between its saves. "
            f"Rerun the stage that writes both: `kedro run --pipelines {producer}` "
            f"(or `dvc repro {producer}`)."
        )
