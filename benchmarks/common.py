"""What every benchmark shares: timing, peak memory, machine facts and result files.

Every result file holds, besides what its script measured (``RESULT_KEYS`` of the script, checked
here when it is written and by ``tests/unit/test_benchmark_results.py`` afterwards), the command, the
SHA-256 of the script that wrote it (the test refuses a result whose script has changed since),
the machine, and the 1/5/15-minute load averages when the script started (this module is
imported first thing) and when it wrote its results: the cores may be shared, and the load
average is what says by how much, not prose.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import rasterio

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Fields write_results adds to every result file, before the script's own.
COMMON_KEYS = ("command", "script_sha256", "machine", "load_average_before", "load_average_after")


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


LOAD_AVERAGE_AT_START = load_average()


def script_sha256(script: Path) -> str:
    """SHA-256 of the script with its imports of ``urur`` left out and every ``urur.<module>`` path
    read as ``urur``: a module moving inside the package leaves what the benchmark measures
    unchanged; any other edit changes the hash."""
    source = script.read_text()
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(name.split(".")[0] == "urur" for name in names):
                lines[node.lineno - 1 : node.end_lineno] = [""] * (node.end_lineno - node.lineno + 1)
    return hashlib.sha256(re.sub(r"\burur(\.\w+)+", "urur", "".join(lines)).encode()).hexdigest()


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def summary(values: Iterable[float]) -> dict[str, float]:
    """min / median / max of repeated measurements."""
    values = list(values)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def machine_info() -> dict[str, object]:
    """What the figures were measured on (the load averages are recorded beside it)."""
    import torch  # imported here: only for its version, and it is slow to import

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
    }


def footer(results: dict[str, object]) -> str:
    """The Markdown lines every result file ends with, from the same values as its JSON."""
    machine = "\n".join(f"- {key}: {value}" for key, value in results["machine"].items())
    return (
        f"Load average (1/5/15 min) before: {results['load_average_before']}, "
        f"after: {results['load_average_after']}\n\n"
        f"Command: `{results['command']}`\n\n"
        f"Script SHA-256: `{results['script_sha256']}`\n\n"
        f"Machine:\n{machine}\n"
    )


def write_results(
    name: str,
    results: dict[str, object],
    markdown: str | Callable[[dict[str, object]], str],
    keys: Iterable[str],
) -> dict[str, object]:
    """``results/<name>.json`` and ``.md``, with the command, script hash, machine and load averages.

    ``keys`` are the script's ``RESULT_KEYS``: ``results`` must have exactly those fields.
    ``markdown`` is the body, or a function of the full results (common fields included) giving
    it. Returns the full results.
    """
    keys = tuple(keys)
    if set(results) != set(keys) or len(keys) != len(set(keys)):
        raise ValueError(f"{name}: results have fields {sorted(results)}, RESULT_KEYS say {sorted(keys)}")
    script = Path(sys.argv[0]).resolve()
    command = ".venv/bin/python " + shlex.join(["benchmarks/" + script.name, *sys.argv[1:]])
    full = {
        "command": command,
        "script_sha256": script_sha256(script),
        "machine": machine_info(),
        "load_average_before": LOAD_AVERAGE_AT_START,
        "load_average_after": load_average(),
        **{key: results[key] for key in keys},
    }
    body = markdown(full) if callable(markdown) else markdown
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for suffix, text in (
        (".json", json.dumps(full, indent=2) + "\n"),
        (".md", f"{body.rstrip()}\n\n{footer(full)}"),
    ):
        tmp = RESULTS_DIR / f".{name}{suffix}.tmp"
        tmp.write_text(text)
        tmp.replace(RESULTS_DIR / f"{name}{suffix}")
    return full
