"""Per-image work on every core: a process pool with progress, inline for one worker, or a Dask
cluster where ``runtime.scheduler`` names one (:func:`set_scheduler`, called by the project's hook).

On a cluster, workers open the same paths the caller passes (the project folder on shared
storage, run from the same working directory): only the function and its small items travel.
"""

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

_scheduler: str | None = None


def set_scheduler(address: str | None) -> None:
    """Run every later :func:`map_items` on the Dask scheduler at ``address`` (None: locally)."""
    global _scheduler
    _scheduler = address or None


def _map_on_cluster(fn: Callable[[T], R], items: list[T], address: str, progress: tqdm) -> list[R]:
    """``fn`` over ``items`` as Dask tasks; the cluster decides placement, results in input order."""
    from dask.distributed import Client, as_completed  # only runs that name a scheduler need dask

    with Client(address, set_as_default=False) as client, client.as_current():
        futures = client.map(fn, items, pure=False)
        for _ in as_completed(futures):
            progress.update()
        return client.gather(futures)


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

    ``fn`` and the items must be picklable. With a scheduler set (:func:`set_scheduler`) they
    run on that Dask cluster whatever ``workers`` says. Otherwise ``workers=1`` runs inline,
    which keeps tracebacks simple and avoids process start-up for tiny inputs; a pool gets items
    one by one so at most ``workers`` of them are in flight: memory stays bounded by a few images.
    """
    items = list(items)
    workers = min(workers or default_workers(), max(len(items), 1))
    progress = tqdm(total=len(items), desc=desc, unit="item", disable=not desc, leave=False)
    if _scheduler is not None:
        results = _map_on_cluster(fn, items, _scheduler, progress)
        progress.close()
        return results
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
