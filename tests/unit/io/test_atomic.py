"""Outputs appear whole or not at all (urur.io.atomic): temporaries beside the target, one rename,
and only a killed writer's leftovers cleaned."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from urur.io import atomic
from urur.io.atomic import (
    atomic_directory,
    atomic_path,
    clean_temporaries,
    link_or_copy,
    publish_copy,
    publish_directory,
    scratch_path,
    set_staging_root,
    staging_root,
)

TEMPORARY = re.compile(r"\.table\.[a-z0-9_]{8}\.tmp\.csv")


def test_the_target_keeps_its_old_bytes_until_the_new_ones_are_complete(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and TEMPORARY.fullmatch(tmp.name)  # the writer sees ".csv"
        tmp.write_text("new, first half\n")
        assert target.read_text() == "old\n"
        with tmp.open("a") as handle:
            handle.write("second half\n")
        assert target.read_text() == "old\n"
    assert target.read_text() == "new, first half\nsecond half\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_failed_write_keeps_the_old_target_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_without_replace_an_existing_target_is_refused_by_name_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    with atomic_path(target, replace=False) as tmp:
        tmp.write_text("first\n")
    assert target.read_text() == "first\n"
    with (
        pytest.raises(FileExistsError, match=rf"exists already, not replaced: '{re.escape(str(target))}'"),
        atomic_path(target, replace=False) as tmp,
    ):
        tmp.write_text("second\n")
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_without_hard_links_an_absent_target_is_still_published(tmp_path: Path, monkeypatch) -> None:
    def no_links(source, target):
        raise OSError(errno.EPERM, "no hard links here")

    monkeypatch.setattr(atomic.os, "link", no_links)
    with atomic_path(tmp_path / "table.csv", replace=False) as tmp:
        tmp.write_text("whole\n")
    assert (tmp_path / "table.csv").read_text() == "whole\n"
    with (
        pytest.raises(FileExistsError, match="exists already, not replaced"),
        atomic_path(tmp_path / "table.csv", replace=False) as tmp,
    ):
        tmp.write_text("other\n")
    assert (tmp_path / "table.csv").read_text() == "whole\n"


def test_a_scratch_file_is_never_published_and_always_removed(tmp_path: Path) -> None:
    with scratch_path(tmp_path / "sub" / "table.csv") as tmp:
        tmp.write_text("intermediate")
        assert TEMPORARY.fullmatch(tmp.name) and tmp.parent == tmp_path / "sub"
    assert list((tmp_path / "sub").iterdir()) == []


WRITER = """
import sys, time
from urur.io.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half of a table")
    print(tmp, flush=True)
    time.sleep(60)
"""


def test_a_killed_writer_leaves_no_target_and_its_temporary_is_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        leftover = Path(writer.stdout.readline().strip())
        # While its writer lives, the temporary is locked and kept.
        assert clean_temporaries(tmp_path, "table.csv") == [] and leftover.is_file()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
    assert not target.exists() and leftover.read_text() == "half of a table"
    others = [".table.notrandom.tmp.csv", ".other.abcdefgh.tmp.csv", ".table.abcdefgh.tmp.json"]
    for name in others:
        (tmp_path / name).write_text("not a temporary of table.csv")
    assert clean_temporaries(tmp_path, "table.csv") == [leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)


def test_a_live_writers_temporary_is_kept_beside_an_unlocked_one_removed(tmp_path: Path) -> None:
    """Target names are glob patterns: a literal name with brackets is passed ``glob.escape``-d."""
    with atomic_path(tmp_path / "a[1].csv") as tmp:
        tmp.write_text("x")
        stale = tmp_path / ".a[1].abcdefgh.tmp.csv"  # a killed run's: nobody holds its lock
        stale.write_text("half")
        assert clean_temporaries(tmp_path, "a[[]1].csv") == [stale] and tmp.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a[1].csv"]


def test_a_directory_is_swapped_in_whole_and_a_failure_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "masks"
    with atomic_directory(target) as staging:
        (staging / "a.png").write_text("1")
        assert not target.exists()
    with atomic_directory(target) as staging:
        (staging / "b.png").write_text("2")
        assert [p.name for p in target.iterdir()] == ["a.png"]
    assert [p.name for p in target.iterdir()] == ["b.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["masks"]


def test_a_publish_that_fails_midway_puts_the_previous_folder_back(tmp_path: Path, monkeypatch) -> None:
    target, staging = tmp_path / "masks", tmp_path / "staging"
    target.mkdir()
    (target / "old.png").write_text("old")
    staging.mkdir()
    (staging / "new.png").write_text("new")

    def interrupted(source: Path, to: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_move", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish_directory(staging, target)
    assert [p.name for p in target.iterdir()] == ["old.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks", "staging"]


def test_a_published_copy_leaves_its_source(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("a")
    publish_copy(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "sub" / "a.txt").read_text() == "a"
    assert (source / "sub" / "a.txt").read_text() == "a"


def test_link_or_copy_links_and_copies_across_filesystems(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "big.tif"
    source.write_bytes(b"pixels")
    link_or_copy(source, tmp_path / "linked.tif")
    assert (tmp_path / "linked.tif").stat().st_ino == source.stat().st_ino

    def cross_device(a, b):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(atomic.os, "link", cross_device)
    link_or_copy(source, tmp_path / "copied.tif")
    copied = tmp_path / "copied.tif"
    assert copied.read_bytes() == b"pixels" and copied.stat().st_ino != source.stat().st_ino

    def refused(a, b):
        raise OSError(errno.EACCES, "permission denied")

    monkeypatch.setattr(atomic.os, "link", refused)
    with pytest.raises(PermissionError, match="permission denied"):
        link_or_copy(source, tmp_path / "third.tif")


def test_staging_root_is_the_run_setting_then_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "env"))
    assert staging_root() == tmp_path / "env" and (tmp_path / "env").is_dir()
    set_staging_root(tmp_path / "run")
    try:
        assert staging_root() == tmp_path / "run"
    finally:
        set_staging_root(None)
    assert staging_root() == tmp_path / "env"
