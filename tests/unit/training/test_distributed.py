"""DistributedDataParallel on 2 CPU processes (gloo) against one process with the same global batch.

Why the losses match exactly: rank r of 2 draws the r-th half of the global batch of 4 (the batch
sampler's sharding), and the single process draws the same 4 crops as 2 accumulated
micro-batches of 2 in the same order. BatchNorm in training mode normalises each rank's (each
micro-batch's) 2 crops with their own statistics in both runs, so BN needs no SyncBatchNorm here
(torch's SyncBatchNorm only runs on CUDA); STDC has no dropout; DDP averages the two ranks'
gradients as accumulation averages the two micro-batches'. Only float summation order differs
(same thread count per process), hence a tight tolerance. Both ranks apply the same averaged
gradient and end with rank 0's BN buffers, so they hold bit-identical weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.support.training_store import write_store
from urur.training import TrainingParams, fit
from urur.training.config import AugmentationParams
from urur.training.distributed import launch
from urur.training.trainer import FitJob

IDS = ["a", "b", "c"]


def _params(**changes: object) -> TrainingParams:
    settings: dict[str, object] = {
        "model": "stdc",
        "model_options": {"width": 0.125},
        "crop_size": 32,
        "scale_range": (1.0, 1.0),
        "augmentation": AugmentationParams(rotate_p=0.0),
        "iterations": 2,
        "checkpoint_interval": 2,
        "log_interval": 1,
        "workers": 0,
        "device": "cpu",
        "sync_bn": False,
    }
    return TrainingParams(**{**settings, **changes})


def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path / "store", IDS, size=64)
    ranks = launch(FitJob(_params(batch_size=2, devices=2), IDS, images_dir, masks_dir, tmp_path / "ddp"))
    # Each CPU rank runs cores // 2 threads; the thread count changes the kernels' summation order,
    # which tiny BN batches amplify, so the single run uses the same count.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        single = fit(_params(batch_size=2, accumulation=2), IDS, images_dir, masks_dir, tmp_path / "single")
    finally:
        torch.set_num_threads(threads)

    assert sorted(ranks) == [0, 1]
    assert ranks[0].weights_sha256 == ranks[1].weights_sha256
    losses = [h["train/loss"] for h in ranks[0].history]
    assert losses == pytest.approx([h["train/loss"] for h in single.history], rel=1e-5)
    assert [h["train/loss"] for h in ranks[1].history] == losses  # all-reduced: every rank logs the same

    ddp_weights = torch.load(ranks[0].last_checkpoint, weights_only=True)["model"]
    single_weights = torch.load(single.last_checkpoint, weights_only=True)["model"]
    # BN running statistics differ by design (the single run updates them once per micro-batch);
    # they do not enter training-mode forward passes, so the trained parameters agree.
    for name, value in single_weights.items():
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(ddp_weights[name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == ["iter_00000002.pt"]
