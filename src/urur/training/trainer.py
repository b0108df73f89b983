"""The training loop, top to bottom: :func:`prepare` (every check, and what a run starts from),
:func:`train_one_step`, :func:`evaluate`, :func:`save_checkpoints`, and :func:`train` that runs them.

:func:`urur.training.fit` is the entry: one process, or one per device through
:mod:`urur.training.distributed`; this module is what each process runs. Only rank 0 validates,
writes checkpoints and logs (logging, tqdm, DVCLive).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from urur.config import ConfigError
from urur.devices import peak_memory_mb, resolve_device
from urur.errors import UrurError
from urur.io.atomic import clean_temporaries
from urur.models import build_model
from urur.models.checkpoint import load_model_state, run_checkpoint
from urur.training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_DIR,
    build_meta,
    move_aside,
    periodic_checkpoints,
    periodic_name,
    prune,
    restore_rng_states,
    resume_from,
    save_checkpoint,
)
from urur.training.config import TrainingParams
from urur.training.data import CropDataset, build_augmentation, build_loader
from urur.training.tracking import log_record, open_training_live

logger = logging.getLogger(__name__)

Validate = Callable[[nn.Module], Mapping[str, float]]


class NonFiniteLossError(UrurError, FloatingPointError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass(frozen=True)
class FitJob:
    """One training run as :func:`urur.training.fit` was asked for it: what every process trains.

    ``validate`` must be picklable where several processes train (a module-level function or
    ``functools.partial``); ``live_dir`` None turns DVCLive off.
    """

    params: TrainingParams
    train_ids: list[str]
    images_dir: Path
    masks_dir: Path
    out_dir: Path
    validate: Validate | None = None
    live_dir: str | Path | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR


@dataclass(frozen=True)
class FitResult:
    """Where a run left its checkpoints and what it logged.

    ``best_checkpoint`` is None when no validation ran (no ``validate`` callback); ``checkpoint``
    is then ``last_checkpoint``. ``weights_sha256`` fingerprints the final weights (same seed, same
    value).
    """

    best_checkpoint: Path | None
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    weights_sha256: str = ""

    @property
    def checkpoint(self) -> Path:
        """The checkpoint to use: the best, else the last (:func:`urur.models.checkpoint.run_checkpoint`)."""
        return Path(run_checkpoint(vars(self)))


@dataclass(frozen=True)
class Prepared:
    """What a run starts from, built once by :func:`prepare`."""

    meta: dict[str, Any]  # the checkpoints' meta: rebuilds the model, tells whether a run may resume
    resume_state: dict[str, Any] | None  # the checkpoint the run resumes from; None: a fresh start
    dataset: CropDataset
    model: nn.Module  # the seed's initial weights, on the CPU


@dataclass
class _Loop:
    """What the loop carries from one iteration to the next."""

    model: nn.Module  # the weights
    net: nn.Module  # what trains them: the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    start: int  # the iteration a resumed run continues after (0: a fresh start)
    best: dict[str, Any]  # monitored score and its iteration
    history: list[dict[str, float]]
    last_checkpoint: Path | None = None
    data_time: float = 0.0  # seconds waiting for batches since the last log line
    step_time: float = 0.0  # seconds per iteration in all, since the last log line


def poly_factor(step: int, *, iterations: int, power: float, lr: float, min_lr: float) -> float:
    """mmseg's poly schedule as a LambdaLR factor: lr decays from ``lr`` to ``min_lr`` at the end."""
    progress = min(step, iterations) / iterations
    return ((lr - min_lr) * (1 - progress) ** power + min_lr) / lr


def train_one_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    iteration: int,
    device: torch.device,
) -> dict[str, float]:
    """One optimizer step over ``micro_batches`` (gradient accumulation); returns each loss term
    and their sum ``loss``, averaged over micro-batches and ranks.

    A NaN or infinite loss raises :class:`NonFiniteLossError` before the weights are touched.
    """
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    optimizer.zero_grad(set_to_none=True)
    totals: dict[str, torch.Tensor] = {}
    for index, (images, targets) in enumerate(micro_batches):
        images = images.to(device, non_blocking=True)
        if cuda:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = targets.to(device, non_blocking=True)
        last = index == len(micro_batches) - 1
        # DDP all-reduces gradients only on the last micro-batch of an accumulated step.
        sync = (
            model.no_sync()
            if isinstance(model, DistributedDataParallel) and not last
            else contextlib.nullcontext()
        )
        with sync:
            with autocast:
                _, losses = model(images, targets)
            loss = sum(losses.values())
            (loss / len(micro_batches)).backward()
        for name, value in (*losses.items(), ("loss", loss)):
            totals[name] = totals.get(name, 0) + value.detach().float() / len(micro_batches)
    names = sorted(totals)
    values = torch.stack([totals[name] for name in names])
    if dist.is_initialized():  # gloo has no AVG: sum, then divide
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= dist.get_world_size()
    result = dict(zip(names, values.tolist(), strict=True))
    if not math.isfinite(result["loss"]):
        raise NonFiniteLossError(
            f"loss is {result['loss']} at iteration {iteration} (terms: {result}); the weights were not "
            "updated and the last good checkpoint is kept: lower lr, check the data, then resume"
        )
    optimizer.step()
    return result


def weights_sha256(model: nn.Module) -> str:
    """Fingerprint of the weights and buffers, to compare runs and ranks exactly."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def training_device(params: TrainingParams, local_rank: int = 0, processes: int = 1) -> torch.device:
    """This process's device (``training.device``, as :func:`urur.devices.resolve_device` reads it);
    ``processes`` more than the machine has GPUs (or CPU cores) is an error."""
    device = resolve_device(params.device, "training.device")
    if device.type == "cuda":
        available = torch.cuda.device_count()
        if processes > available:
            raise ConfigError(
                f"training.devices {processes} but this machine has {available} CUDA device(s): "
                f"lower training.devices (conf/<env>/parameters_training.yml or --params)"
            )
        return torch.device("cuda", local_rank)
    available = os.cpu_count() or 1
    if processes > available:
        raise ConfigError(
            f"training.devices {processes} CPU processes but this machine has {available} core(s): "
            "lower training.devices (conf/<env>/parameters_training.yml or --params)"
        )
    return device


def _eta(elapsed: float, done: int, remaining: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(elapsed / max(1, done) * remaining))


def _prefixed(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    return {(k if k.startswith(prefix) else prefix + k): float(v) for k, v in metrics.items()}


def _improved(score: float, best: float | None, mode: str) -> bool:
    return best is None or (score > best if mode == "max" else score < best)


def build_dataset(
    params: TrainingParams, train_ids: Sequence[str], images_dir: Path, masks_dir: Path
) -> CropDataset:
    """The crop dataset ``params`` describe (every image's header is checked on the way)."""
    return CropDataset(
        train_ids,
        images_dir,
        masks_dir,
        num_classes=len(params.classes),
        crop_size=params.crop_size,
        scale_range=params.scale_range,
        crops_per_epoch=params.crops_per_epoch,
        cat_max_ratio=params.cat_max_ratio,
        max_redraws=params.max_redraws,
        augmentation=build_augmentation(params.augmentation),
        mean=params.mean,
        std=params.std,
        seed=params.seed,
    )


def prepare(job: FitJob) -> Prepared:
    """Every check that can fail before training starts (split, image headers, model and options,
    an existing checkpoint's configuration), each done once, and what the run starts from.

    The generators are seeded first, so the model's initial weights are the seed's. A process that
    only checks (the one that launches the ranks) drops the result; each rank prepares its own.
    """
    params = job.params
    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    dataset = build_dataset(params, job.train_ids, job.images_dir, job.masks_dir)
    model = build_model(params.model, len(params.classes), **params.model_options)
    meta = build_meta(params, params.classes, job.train_ids)
    return Prepared(meta, resume_from(params, job.checkpoint_dir, meta), dataset, model)


def train(
    job: FitJob, prepared: Prepared, device: torch.device, rank: int = 0, world_size: int = 1
) -> FitResult:
    """Train from ``prepared`` on ``device``, as rank ``rank`` of ``world_size`` processes."""
    params, main, resumed = job.params, rank == 0, prepared.resume_state is not None
    if main:
        _ready_checkpoint_dir(job.checkpoint_dir, params, resumed)
    loop = _start_loop(job, prepared, device, main, world_size)
    live = (
        open_training_live(job.live_dir, params.model_dump(mode="json"), loop.start, resumed)
        if main
        else None
    )
    if resumed:
        loop.last_checkpoint = periodic_checkpoints(job.checkpoint_dir)[-1]
    loader = build_loader(
        prepared.dataset,
        params.batch_size,
        workers=params.workers,
        seed=params.seed,
        rank=rank,
        world_size=world_size,
        start_step=loop.start * params.accumulation,
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    loop.net.train()
    progress = tqdm(total=params.iterations, initial=loop.start, desc="train", unit="it", disable=not main)
    with progress:
        for iteration in range(loop.start + 1, params.iterations + 1):
            record = _train_iteration(job, loop, batches, iteration, device, progress, main)
            improved = main and evaluate(job, loop, iteration, record)
            loop.history.append(record)
            if live is not None:
                log_record(live, iteration, record)
            if main:
                save_checkpoints(job, prepared.meta, loop, iteration, improved)
    if world_size > 1:
        # Each rank updated BN running statistics from its own last batch: give all rank 0's.
        for buffer in loop.model.buffers():
            dist.broadcast(buffer, 0)
    if live is not None:
        live.end()
    return FitResult(
        best_checkpoint=job.checkpoint_dir / BEST_NAME if loop.best["score"] is not None else None,
        last_checkpoint=loop.last_checkpoint or periodic_checkpoints(job.checkpoint_dir)[-1],
        history=loop.history,
        weights_sha256=weights_sha256(loop.model),
    )


def _ready_checkpoint_dir(checkpoint_dir: Path, params: TrainingParams, resumed: bool) -> None:
    """Rank 0's checkpoint folder: old checkpoints moved aside where ``resume`` is off, and the
    temporaries of an interrupted write removed."""
    if not resumed and not params.resume:
        move_aside(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for stale in clean_temporaries(checkpoint_dir, "*.pt"):
        logger.warning("removed %s, a checkpoint an interrupted run was writing", stale)


def _start_loop(job: FitJob, prepared: Prepared, device: torch.device, main: bool, world_size: int) -> _Loop:
    """The model on ``device`` (SyncBatchNorm across CUDA ranks), SGD with mmseg's poly schedule,
    and where a resumed run left them: weights, optimizer, schedule, generators, best and history."""
    params, model = job.params, prepared.model
    if world_size > 1 and params.sync_bn:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif main:
            logger.warning(
                "sync_bn needs CUDA (torch's SyncBatchNorm): on the CPU each process uses its own batch"
            )
    model = model.to(
        device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format
    )
    optimizer = torch.optim.SGD(
        model.parameters(), lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay
    )
    schedule = partial(
        poly_factor, iterations=params.iterations, power=params.poly_power, lr=params.lr, min_lr=params.min_lr
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loop = _Loop(
        model, model, optimizer, scheduler, start=0, best={"score": None, "iteration": None}, history=[]
    )
    state = prepared.resume_state
    if state is not None:
        load_model_state(job.checkpoint_dir, model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_states(state["rng"])
        loop.start, loop.best, loop.history = state["iteration"], dict(state["best"]), list(state["history"])
        if main:
            logger.info("resuming %s from iteration %d", job.checkpoint_dir, loop.start)
    if world_size > 1:
        loop.net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return loop


def _train_iteration(
    job: FitJob,
    loop: _Loop,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    iteration: int,
    device: torch.device,
    progress: tqdm,
    main: bool,
) -> dict[str, float]:
    """One iteration: ``accumulation`` micro-batches, one optimizer and schedule step, the progress
    bar and (rank 0, every ``log_interval``) a log line; returns the iteration's record."""
    params = job.params
    tick = time.perf_counter()
    micro_batches = [next(batches) for _ in range(params.accumulation)]
    fetched = time.perf_counter()
    lr = loop.optimizer.param_groups[0]["lr"]
    losses = train_one_step(loop.net, loop.optimizer, micro_batches, iteration=iteration, device=device)
    loop.scheduler.step()
    loop.data_time += fetched - tick
    loop.step_time += time.perf_counter() - tick
    record = {"iteration": float(iteration), **_prefixed("train/", {**losses, "lr": lr})}
    progress.update(1)
    progress.set_postfix(loss=f"{losses['loss']:.3f}", lr=f"{lr:.2e}")
    if main and (iteration % params.log_interval == 0 or iteration == params.iterations):
        logger.info(
            "iter %d/%d  %s  lr %.3g  data %.3fs / step %.3fs  peak mem %.0f MB  eta %s",
            iteration,
            params.iterations,
            "  ".join(f"{k} {v:.4f}" for k, v in losses.items()),
            lr,
            loop.data_time / params.log_interval,
            loop.step_time / params.log_interval,
            peak_memory_mb(device),
            _eta(progress.format_dict["elapsed"], iteration - loop.start, params.iterations - iteration),
        )
        loop.data_time = loop.step_time = 0.0
    return record


def evaluate(job: FitJob, loop: _Loop, iteration: int, record: dict[str, float]) -> bool:
    """Rank 0's validation every ``val_interval`` iterations and at the end (model in eval mode),
    its metrics added to ``record`` as ``val/<name>``; True when ``monitor`` improved on the best."""
    params = job.params
    if job.validate is None or not (iteration % params.val_interval == 0 or iteration == params.iterations):
        return False
    loop.net.eval()
    metrics = _prefixed("val/", job.validate(loop.model))
    loop.net.train()
    record.update(metrics)
    if params.monitor not in metrics:
        raise KeyError(
            f"monitor {params.monitor!r} is not among the validation metrics {sorted(metrics)}; "
            "set monitor to one of them"
        )
    if not _improved(metrics[params.monitor], loop.best["score"], params.monitor_mode):
        return False
    loop.best = {"score": metrics[params.monitor], "iteration": iteration}
    return True


def save_checkpoints(
    job: FitJob, meta: Mapping[str, Any], loop: _Loop, iteration: int, improved: bool
) -> None:
    """Rank 0's checkpoints after ``iteration``: a periodic one every ``checkpoint_interval`` and at
    the end (the oldest beyond ``keep_last`` pruned), and ``best.pt`` when validation improved."""
    params = job.params
    periodic = iteration % params.checkpoint_interval == 0 or iteration == params.iterations
    if not (periodic or improved):
        return
    state = {
        "model": loop.model,
        "optimizer": loop.optimizer,
        "scheduler": loop.scheduler,
        "iteration": iteration,
        "meta": meta,
        "best": loop.best,
        "history": loop.history,
        "data_state": {"seed": params.seed, "micro_step": iteration * params.accumulation},
    }
    if periodic:
        loop.last_checkpoint = save_checkpoint(job.checkpoint_dir / periodic_name(iteration), **state)
        prune(job.checkpoint_dir, params.keep_last)
    if improved:
        save_checkpoint(job.checkpoint_dir / BEST_NAME, **state)
