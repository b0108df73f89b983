"""Outputs appear whole or not at all: write under a temporary name, then rename.

Temporary names are hidden siblings (``.<name>.…``) or live in a staging root on the same
filesystem as the outputs, so publishing is one ``rename``. A run killed with SIGKILL leaves
them behind; :func:`clean_stale` removes them at the start of the next run (which holds the
project's run lock, so no other run can be using them). Commands that run outside that lock
(``urur predict``, training called from a notebook) call :func:`clean_temporaries` instead: a
file temporary of :func:`atomic_path` is locked (``flock``) by its writer while it is written,
and the lock dies with the writer, so only a killed run's temporaries are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_STAGING_ROOT: Path | None = None
# tempfile's random part of a name: 8 characters of this alphabet.
_RANDOM_PART = r"[a-z0-9_]{8}"
# Filesystems without hard links (FAT, exFAT, some network shares) refuse os.link with these.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK}


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _respect_umask(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the output the permissions a plain open() would."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def scratch_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``, removed at the end: an intermediate file
    that is never published. Named and ``flock``-ed like :func:`atomic_path`'s temporaries, so
    :func:`clean_temporaries` removes one that a killed run left behind."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}")
    tmp_path = Path(tmp)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; rename it onto ``target`` on success.

    The temporary keeps ``target``'s suffix so writers that infer the format from it work, and
    is ``flock``-ed while it is written (see :func:`clean_temporaries`). ``replace=False``
    publishes only if ``target`` does not exist by then (a hard link, which refuses to replace),
    raising ``FileExistsError`` naming it otherwise: a concurrent writer's output is never lost.
    """
    target = Path(target)
    with scratch_path(target) as tmp_path:
        yield tmp_path
        if tmp_path.exists():
            _respect_umask(tmp_path, 0o666)
        if replace:
            os.replace(tmp_path, target)
        else:
            _publish_new(tmp_path, target)


def _publish_new(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` unless that exists (atomically where hard links exist)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already, not replaced", str(target)) from None
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if target.exists():  # no atomic test-and-set here: check, then rename
            raise FileExistsError(errno.EEXIST, "exists already, not replaced", str(target)) from None
        os.replace(tmp, target)


def clean_temporaries(folder: str | os.PathLike, target_pattern: str) -> list[Path]:
    """Remove :func:`atomic_path` temporaries in ``folder`` that killed writers left; return them.

    ``target_pattern`` is a glob of the targets' names (``glob.escape`` a literal name): only
    ``.<stem>.<8 random characters>.tmp<suffix>`` files of those targets are candidates, never
    another file. A candidate is removed only if its lock can be taken: a live writer holds it,
    and a writer killed even by SIGKILL has released it.
    """
    folder = Path(folder)
    stem, suffix = os.path.splitext(target_pattern)
    name = re.compile(rf"\.(?P<stem>.+)\.{_RANDOM_PART}\.tmp{re.escape(suffix)}")
    removed = []
    for path in sorted(folder.glob(f".{stem}.*.tmp{glob.escape(suffix)}")):
        match = name.fullmatch(path.name)
        if match is None or not fnmatch.fnmatchcase(match["stem"] + suffix, target_pattern):
            continue
        if not path.is_file() or path.is_symlink():
            continue
        with contextlib.suppress(OSError), path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError (EWOULDBLOCK): live
            path.unlink()
            removed.append(path)
    return removed


def _make_staging_dir(parent: Path, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    _respect_umask(path, 0o777)
    return path


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory beside ``target``; swap it in for ``target`` on success.

    A previous ``target`` is kept until the new one is complete, then removed. On failure the
    staging directory is deleted and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _make_staging_dir(target.parent, f".{target.name}.staging-")
    try:
        yield staging
        publish_directory(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def link_or_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Give the file ``source`` a second name ``target``: a hard link (no second copy of a large
    file), or a copy where the filesystem has no hard links."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS | {errno.EXDEV}:
            raise
        shutil.copy2(source, target)


def publish_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Replace ``target`` by a copy of the folder ``source``, whole or not at all."""
    with atomic_directory(target) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)


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


def set_staging_root(root: str | os.PathLike | None) -> None:
    """Stage whole output folders under ``root`` (the Kedro hook points it inside ``data/``)."""
    global _STAGING_ROOT
    _STAGING_ROOT = Path(root) if root is not None else None


def staging_root() -> Path:
    """Where stages build whole output directories before they are published.

    It must sit on the same filesystem as the outputs, so that publishing is a rename and a
    killed run's leftovers are found and removed by the next run: a Kedro run sets it to
    ``data/.staging`` (see :func:`set_staging_root`); ``URUR_STAGING_DIR`` or the system
    temporary directory serve library calls outside Kedro.
    """
    root = _STAGING_ROOT or Path(os.environ.get("URUR_STAGING_DIR") or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def staging_directories(*names: str) -> Iterator[tuple[Path, ...]]:
    """Fresh staging directories for a stage's outputs, removed again if the stage fails.

    On success they are left in place for the caller (a Kedro dataset) to publish with
    :func:`publish_directory`.
    """
    root = staging_root()
    dirs = tuple(_make_staging_dir(root, f"urur-{name}-") for name in names)
    try:
        yield dirs
    except BaseException:
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
        raise


def clean_stale(outputs: Iterable[str | os.PathLike], staging: str | os.PathLike) -> list[Path]:
    """Remove what killed runs left: the staging root and the hidden temporaries of ``outputs``.

    Only temporaries named after one of ``outputs`` are touched, never anything else in their
    folders. A run killed between the two renames of :func:`publish_directory` leaves the
    previous output as ``.<name>.old-*`` and no ``<name>``: that one is put back, not deleted.
    Call this only while holding the run lock. Returns the paths removed or restored.
    """
    touched = []
    staging = Path(staging)
    if staging.exists():
        shutil.rmtree(staging)
        touched.append(staging)
    for output in map(Path, outputs):
        if not output.parent.is_dir():
            continue
        for path in sorted(output.parent.glob(f".{glob.escape(output.stem)}.*")):
            kind = _temporary_kind(path.name, output)
            if kind is None:
                continue
            if kind == "old" and not output.exists():
                os.replace(path, output)
                touched.append(output)
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            touched.append(path)
    return touched


def _temporary_kind(name: str, output: Path) -> str | None:
    """Which temporary of ``output`` the hidden file ``name`` is, or None if it is not one."""
    if name.startswith(f".{output.name}."):
        rest = name[len(output.name) + 2 :]
        for kind in ("old", "incoming", "staging"):
            if rest.startswith(f"{kind}-"):
                return kind
        if rest.endswith(".partial"):
            return "partial"
    tmp_suffix = f".tmp{output.suffix}"
    if name.startswith(f".{output.stem}.") and name.endswith(tmp_suffix):
        return "tmp"
    return None
