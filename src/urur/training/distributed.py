"""Multi-process training through torch's own launcher, never a home-made one.

From Python, ``fit(params)`` with ``devices = N > 1`` calls :func:`launch`, which starts N
processes on this node with ``torch.distributed.launcher.api.elastic_launch`` (what ``torchrun
--standalone --nproc-per-node N`` runs). On a cluster, start the same ``fit`` under torchrun on
every node; ``fit`` then joins the launcher's process group (``WORLD_SIZE``/``RANK`` from the
environment) and ``devices`` is not used::

    torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
        -m kedro run --pipeline training

Every rank reads the same inputs and checkpoints (a shared filesystem on several nodes); rank 0
alone writes.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import torch
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from urur.training.config import TrainingParams
from urur.training.trainer import FitResult, Validate, _fit_process


def _rank_main(
    params: TrainingParams,
    train_ids: list[str],
    images_dir: Path,
    masks_dir: Path,
    out_dir: Path,
    validate: Validate | None,
    live_dir: str | Path | None,
    log_level: int,
) -> FitResult:
    """One rank's entry point: spawned processes start with no logging configured, and CPU ranks
    share the cores instead of each starting one thread per core."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not torch.cuda.is_available() or params.device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // params.devices))
    return _fit_process(params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir)


def launch(
    params: TrainingParams,
    train_ids: list[str],
    images_dir: Path,
    masks_dir: Path,
    out_dir: Path,
    validate: Validate | None = None,
    live_dir: str | Path | None = None,
) -> dict[int, FitResult]:
    """Train with ``params.devices`` processes on this node; returns each rank's result."""
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=params.devices,
        run_id=f"urur-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    level = logging.getLogger("urur").getEffectiveLevel()
    return elastic_launch(config, _rank_main)(
        params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir, level
    )
