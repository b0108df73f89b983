"""The virtualenv's commands (kedro, dvc, urur) run in a subprocess, as from a user's shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def tool_env(**extra: str) -> dict[str, str]:
    """This environment with the virtualenv's commands first on PATH, no telemetry, and ``extra``."""
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DO_NOT_TRACK": "1", **extra}


def run_tool(
    cwd: Path, *cmd: str, ok: bool = True, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` (with :func:`tool_env` unless ``env``); with ``ok``, a failure quotes
    the end of its output."""
    result = subprocess.run(
        cmd, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if ok:
        assert result.returncode == 0, f"{cmd}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path: two folders are equal when these are."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
