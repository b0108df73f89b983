"""What every benchmark shares: timing, peak memory, machine facts and result files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """This address space's peak RSS (VmHWM). ``ru_maxrss`` is not used for it: Linux carries it
    over from the parent through fork and exec, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def machine_info() -> dict[str, object]:
    """What the figures were measured on; the load average says whether the cores were shared."""
    import torch  # imported here: only for its version, and it is slow to import

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }


def write_results(name: str, results: dict[str, object], markdown: str) -> None:
    """``results/<name>.json`` and ``.md``, with machine info and the command that produced them."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python " + shlex.join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    results = {"command": command, "machine": machine_info(), **results}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    machine = "\n".join(f"- {key}: {value}" for key, value in results["machine"].items())
    (RESULTS_DIR / f"{name}.md").write_text(f"{markdown}\n\nCommand: `{command}`\n\nMachine:\n{machine}\n")
