"""Multi-process training through torch's own launcher, never a home-made one.

From Python, ``fit(params)`` (:mod:`urur.training.fit`) with ``devices = N > 1`` calls
:func:`launch`, which starts N processes on this node with
``torch.distributed.launcher.api.elastic_launch`` (what ``torchrun --standalone --nproc-per-node
N`` runs); each runs :func:`fit_process`. On a cluster, start the same ``fit`` under torchrun on
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

import torch
import torch.distributed as dist
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from urur.training.trainer import FitJob, FitResult, prepare, train, training_device


def launched_world_size() -> int:
    """How many processes the launcher that started this one (torchrun, :func:`launch`) runs: 1
    where none did."""
    return int(os.environ.get("WORLD_SIZE", 1))


def fit_process(job: FitJob) -> FitResult:
    """One rank's run: joins the launcher's process group (unless the caller set one up and ends
    it), prepares and trains on its own device, and leaves the group."""
    world_size = launched_world_size()
    distributed = world_size > 1
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    device = training_device(job.params, int(os.environ.get("LOCAL_RANK", 0)))
    owns_group = distributed and not dist.is_initialized()
    if owns_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return train(job, prepare(job), device, rank, world_size)
    finally:
        if owns_group:
            dist.destroy_process_group()


def _rank_main(job: FitJob, log_level: int) -> FitResult:
    """One rank's entry point: spawned processes start with no logging configured, and CPU ranks
    share the cores instead of each starting one thread per core."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not torch.cuda.is_available() or job.params.device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // job.params.devices))
    return fit_process(job)


def launch(job: FitJob) -> dict[int, FitResult]:
    """Train ``job`` with ``params.devices`` processes on this node; returns each rank's result."""
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=job.params.devices,
        run_id=f"urur-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    level = logging.getLogger("urur").getEffectiveLevel()
    return elastic_launch(config, _rank_main)(job, level)
