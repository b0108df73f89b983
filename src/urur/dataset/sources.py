"""Which raw data the chain reads: a user's own, or the embedded synthetic source.

A user's scenes and annotator exports live in ``data/01_raw/scenes`` and
``data/01_raw/annotations`` and are only ever read. The synthetic source is generated into its
own place, ``data/01_raw/synthetic/{scenes,truth,annotations}``, so generating it can never
touch a user's files. The choice is one setting, ``data_source`` in ``conf/*/globals.yml``.

A built dataset records which source it came from (:func:`describe_source`): a run that would
read another source, or the same folder changed since, must not reuse it (:func:`check_source`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Literal

from urur.config import ConfigError

log = logging.getLogger(__name__)

DATA_SOURCES = ("auto", "synthetic", "user")
USER_SCENES = Path("data/01_raw/scenes")
USER_SCENE_TABLE = USER_SCENES / "scenes.csv"


def resolve_data_source(setting: str, project_root: Path) -> Literal["synthetic", "user"]:
    """``auto`` is the user's data where ``data/01_raw/scenes/scenes.csv`` exists, else synthetic."""
    if setting not in DATA_SOURCES:
        raise ConfigError(
            f"data_source is {setting!r}; expected one of {list(DATA_SOURCES)} (conf/<env>/globals.yml)"
        )
    if setting == "auto":
        return "user" if (Path(project_root) / USER_SCENE_TABLE).is_file() else "synthetic"
    return setting  # type: ignore[return-value]


class DatasetSourceError(ConfigError):
    """A built dataset came from another source than the one a run reads."""


def _portable(folder: Path) -> str:
    """``folder`` relative to the project root a run works in, so a moved or cloned project matches."""
    absolute = folder.absolute()
    return (absolute.relative_to(Path.cwd()) if absolute.is_relative_to(Path.cwd()) else absolute).as_posix()


def describe_source(folder: str | os.PathLike, environment: str) -> dict[str, Any]:
    """The environment and raw folder a dataset is built from, with a digest of the folder's files.

    The folder is recorded relative to the working directory (the project root). The digest
    covers each file's relative path and size (hidden names left out), not its bytes: one
    ``stat`` per file keeps it cheap for a multi-GB release, and copies or DVC checkouts, which
    change modification times, do not change it. An edit that keeps a file's size is not seen.
    """
    root = Path(folder)
    files = []
    for current, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith("."):
                path = Path(current) / name
                files.append((path.relative_to(root).as_posix(), path.stat().st_size))
    files.sort()
    listing = "".join(f"{rel}\t{size}\n" for rel, size in files)
    return {
        "environment": environment,
        "folder": _portable(root),
        "files": len(files),
        "bytes": sum(size for _, size in files),
        "digest": hashlib.sha256(listing.encode()).hexdigest(),
    }


def _described(source: dict[str, Any]) -> str:
    if source.get("digest") is None:
        return f"{source['folder']} (absent)"
    files, size, digest = source["files"], source["bytes"], source["digest"][:12]
    return f"{source['folder']} ({files} files, {size} bytes, digest {digest})"


def check_source(
    recorded: dict[str, Any], environment: str, folder: str | os.PathLike, *, record: str | os.PathLike
) -> None:
    """Refuse a dataset (its ``record``, :func:`describe_source`) built elsewhere than from ``folder`` now.

    A release deleted after its dataset was built leaves nothing to compare: the dataset is
    reused with a warning, so a user may free the disk a download took.
    """
    folder, record = Path(folder), _portable(Path(record))
    same_place = recorded.get("environment") == environment and recorded.get("folder") == _portable(folder)
    present = folder.is_dir()
    if same_place and not present:
        log.warning("%s is gone: reusing the dataset built from it (%s) unchecked", _portable(folder), record)
        return
    current = describe_source(folder, environment) if present else {"folder": _portable(folder)}
    if same_place and current["digest"] == recorded.get("digest"):
        return
    rebuild = "kedro run" if environment == "base" else f"kedro run --env {environment}"
    raise DatasetSourceError(
        f"{record}: this dataset was built by environment {recorded.get('environment')} from "
        f"{_described(recorded)}, but this run (environment {environment}) reads {_described(current)}; "
        f"`{rebuild}` rebuilds it from what this run reads (replacing it and the results trained on it), "
        "or give this source its own data_root in conf/<env>/globals.yml"
    )
