"""One run at a time per project: a file lock on the data folder, naming the run that holds it.

Two runs publishing into the same ``data/`` race (a rename onto a folder the other just
created). The lock is a ``filelock`` (an OS lock, released by the kernel even when its holder is
killed), and a JSON file beside it says who holds it, for the second run's message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from urur.errors import UrurError

LOCK_NAME = ".urur-run.lock"
HOLDER_NAME = ".urur-run.json"


class RunLockedError(UrurError, RuntimeError):
    """Another run of this project holds the data folder."""


class RunLock:
    """The run lock of one data folder; :meth:`acquire` fails at once if another run holds it."""

    def __init__(self, data_root: str | os.PathLike) -> None:
        self.data_root = Path(data_root)
        self._lock = FileLock(self.data_root / LOCK_NAME)
        self._holder = self.data_root / HOLDER_NAME

    def acquire(self, timeout: float = 0) -> None:
        self.data_root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            raise RunLockedError(
                f"another run is using {self.data_root}: {self._describe_holder()}. "
                "Wait for it to finish (or stop it), then run again."
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        holder = {"pid": os.getpid(), "command": " ".join(sys.argv), "started": started}
        self._holder.write_text(json.dumps(holder) + "\n")

    def release(self) -> None:
        if self._lock.is_locked:
            self._holder.unlink(missing_ok=True)
            self._lock.release()

    def _describe_holder(self) -> str:
        try:
            holder = json.loads(self._holder.read_text())
        except (OSError, ValueError):
            return "a run whose details are unknown"
        return f"pid {holder['pid']} (`{holder['command']}`, started {holder['started']})"
