"""Per-image work on every core: a process pool with progress, or inline for one worker."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Cores this process may use (honours CPU affinity, e.g. under taskset or CI limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: a worker is killed when its parent dies, even by SIGKILL.

    Without it, killing the main process of a run leaves its workers computing for nobody.
    Linux only (prctl); elsewhere workers end when they find their pipe to the parent closed.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def map_items(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    desc: str = "",
) -> list[R]:
    """``[fn(item) for item in items]`` on ``workers`` processes, results in input order.

    ``fn`` and the items must be picklable. ``workers=1`` runs inline, which keeps tracebacks
    simple and avoids process start-up for tiny inputs. Items are submitted one by one so at
    most ``workers`` of them are in flight: memory stays bounded by a few images.
    """
    items = list(items)
    workers = min(workers or default_workers(), max(len(items), 1))
    progress = tqdm(total=len(items), desc=desc, unit="item", disable=not desc, leave=False)
    if workers <= 1:
        results = []
        for item in items:
            results.append(fn(item))
            progress.update()
        progress.close()
        return results
    results: list[R] = [None] * len(items)  # type: ignore[list-item]
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        pending = {}
        next_index = 0
        while next_index < len(items) or pending:
            while next_index < len(items) and len(pending) < workers:
                pending[pool.submit(fn, items[next_index])] = next_index
                next_index += 1
            done = next(iter(wait(pending, return_when=FIRST_COMPLETED).done))
            results[pending.pop(done)] = done.result()
            progress.update()
    progress.close()
    return results
