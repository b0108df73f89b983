"""Outputs appear whole or not at all: write under a temporary name, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; rename it onto ``target`` on success.

    The temporary keeps ``target``'s suffix so writers that infer the format from it work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; swap it in for ``target`` on success.

    A previous ``target`` is kept until the new one is complete, then removed. On failure the
    staging directory is deleted and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
    try:
        yield staging
        publish_directory(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def publish_directory(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames, so readers never see a half-written tree."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.rmdir(old)
        os.replace(target, old)
    try:
        _move(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; across filesystems copy beside ``target`` first, then rename."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        incoming = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.incoming-"))
        os.rmdir(incoming)
        shutil.copytree(source, incoming)
        os.replace(incoming, target)
        shutil.rmtree(source, ignore_errors=True)


def staging_root() -> Path:
    """Where stages build whole output directories before they are published.

    ``URUR_STAGING_DIR`` should sit on the same filesystem as ``data/`` so publishing is a
    rename, not a copy; the system temporary directory is the default.
    """
    root = Path(os.environ.get("URUR_STAGING_DIR") or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def staging_directories(*names: str) -> Iterator[tuple[Path, ...]]:
    """Fresh staging directories for a stage's outputs, removed again if the stage fails.

    On success they are left in place for the caller (a Kedro dataset) to publish with
    :func:`publish_directory`.
    """
    dirs = tuple(Path(tempfile.mkdtemp(prefix=f"urur-{name}-", dir=staging_root())) for name in names)
    try:
        yield dirs
    except BaseException:
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
        raise
