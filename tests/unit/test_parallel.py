from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from urur.parallel import map_items

SCRIPT = """
import time
from urur.parallel import map_items

def sleep(seconds):
    time.sleep(seconds)
    return seconds

if __name__ == "__main__":
    map_items(sleep, [120] * 4, workers=2)
"""


def _double(x: int) -> int:
    return 2 * x


def test_results_in_input_order() -> None:
    assert map_items(_double, range(7), workers=2) == [0, 2, 4, 6, 8, 10, 12]


def test_pool_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        while len(workers := psutil.Process(parent.pid).children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2
        time.sleep(0.5)  # let the initializer run in both workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert alive == []
    finally:
        parent.kill()
