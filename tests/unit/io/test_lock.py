"""One run at a time per data folder (urur.io.lock): the second is refused, told who holds it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from urur.io.lock import HOLDER_NAME, LOCK_NAME, RunLock, RunLockedError

HOLDER = """
import sys, time
from urur.io.lock import RunLock
lock = RunLock(sys.argv[1])  # kept: a lock object that is collected releases
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_the_holder_is_recorded_and_a_second_run_is_refused_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first, second = RunLock(data), RunLock(data)
    first.acquire()
    holder = json.loads((data / HOLDER_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["command"] == " ".join(sys.argv)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", holder["started"])
    message = (
        f"another run is using {data}: pid {os.getpid()} (`{holder['command']}`, "
        f"started {holder['started']}). Wait for it to finish (or stop it), then run again."
    )
    with pytest.raises(RunLockedError, match=f"^{re.escape(message)}$"):
        second.acquire()
    second.release()  # refused, it holds nothing: the first run's record stays
    assert (data / HOLDER_NAME).is_file()
    first.release()
    assert not (data / HOLDER_NAME).exists() and (data / LOCK_NAME).exists()
    second.acquire()  # free again
    second.release()


def test_a_holder_without_a_readable_record_is_still_refused(tmp_path: Path) -> None:
    first = RunLock(tmp_path)
    first.acquire()
    (tmp_path / HOLDER_NAME).write_text("{not json")
    with pytest.raises(
        RunLockedError, match=rf"^another run is using {re.escape(str(tmp_path))}: a run whose "
    ):
        RunLock(tmp_path).acquire()
    (tmp_path / HOLDER_NAME).unlink()
    with pytest.raises(RunLockedError, match="a run whose details are unknown"):
        RunLock(tmp_path).acquire()
    first.release()


def test_a_killed_holder_frees_the_lock(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RunLockedError, match=rf"pid {holder.pid} \(`-c {re.escape(str(tmp_path))}`"):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    lock = RunLock(tmp_path)
    lock.acquire()  # the kernel released the killed run's lock; its stale record is overwritten
    assert json.loads((tmp_path / HOLDER_NAME).read_text())["pid"] == os.getpid()
    lock.release()
