"""The training loop, top to bottom: ``train_one_step``, ``save_checkpoint`` (checkpoint.py), ``fit``.

``fit`` validates everything it can before long work (parameters, split, image headers, devices,
an existing checkpoint's configuration), then either trains in this process or, for
``devices > 1``, launches one process per device with torch's elastic launcher and trains with
DistributedDataParallel; under ``torchrun`` it joins the launcher's process group instead. Only
rank 0 validates, writes checkpoints and logs (logging, tqdm, DVCLive).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
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

from urur.classes import URUR_CLASSES
from urur.config import ConfigError
from urur.devices import peak_memory_mb
from urur.errors import UrurError
from urur.io.atomic import clean_temporaries
from urur.models import build_model
from urur.training.checkpoint import (
    CheckpointError,
    build_meta,
    load_checkpoint,
    load_model_state,
    restore_rng_states,
    resume_mismatch,
    save_checkpoint,
)
from urur.training.config import TrainingParams
from urur.training.data import CropDataset, build_augmentation, build_loader
from urur.training.tracking import open_live

logger = logging.getLogger(__name__)

Validate = Callable[[nn.Module], Mapping[str, float]]
CHECKPOINT_DIR = "checkpoints"
BEST_NAME = "best.pt"


class NonFiniteLossError(UrurError, FloatingPointError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass(frozen=True)
class FitResult:
    """Where a run left its checkpoints and what it logged.

    ``best_checkpoint`` is None when no validation ran (no ``validate`` callback); then use
    ``last_checkpoint``. ``weights_sha256`` fingerprints the final weights (same seed, same value).
    """

    best_checkpoint: Path | None
    last_checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)
    weights_sha256: str = ""


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


def resolve_device(params: TrainingParams, local_rank: int = 0) -> torch.device:
    """The device of this process; asking for more devices than exist is an error."""
    kind = params.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        available = torch.cuda.device_count()
        if params.devices > available:
            raise ConfigError(
                f"training.devices {params.devices} but this machine has {available} CUDA device(s): "
                f"lower training.devices (conf/<env>/parameters_training.yml or --params)"
            )
        return torch.device("cuda", local_rank)
    available = os.cpu_count() or 1
    if params.devices > available:
        raise ConfigError(
            f"training.devices {params.devices} CPU processes but this machine has {available} core(s): "
            "lower training.devices (conf/<env>/parameters_training.yml or --params)"
        )
    return torch.device("cpu")


def _checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Periodic checkpoints, oldest first."""
    return sorted(checkpoint_dir.glob("iter_*.pt"))


def _checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pt"


def _prepare_resume(params: TrainingParams, checkpoint_dir: Path, meta: Mapping[str, Any]) -> dict | None:
    """The newest checkpoint to resume from, None for a fresh start; a checkpoint of another
    configuration is a :class:`CheckpointError` (never silently resumed or overwritten)."""
    found = _checkpoints(checkpoint_dir)
    if not found:
        return None
    if not params.resume:
        return None
    state = load_checkpoint(found[-1])
    diffs = resume_mismatch(state["meta"], meta)
    if diffs:
        raise CheckpointError(
            f"{checkpoint_dir} holds checkpoints of another configuration ({'; '.join(diffs)}): "
            "train into another output folder, or set resume: false to start over (the old "
            "checkpoints are then moved aside, not deleted)"
        )
    return state


def _move_aside(checkpoint_dir: Path) -> None:
    if checkpoint_dir.is_dir() and any(checkpoint_dir.iterdir()):
        aside = checkpoint_dir.with_name(f"{checkpoint_dir.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
        checkpoint_dir.rename(aside)
        logger.warning("resume is off: moved the previous checkpoints to %s", aside)


def _prune(checkpoint_dir: Path, keep_last: int) -> None:
    for old in _checkpoints(checkpoint_dir)[:-keep_last]:
        old.unlink(missing_ok=True)


def _truncate_live_history(live_dir: Path, iteration: int) -> None:
    """Drop curve rows logged after the checkpoint a run resumes from (they are computed again)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        with tsv.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
            fields = list(rows[0]) if rows else []
        kept = [row for row in rows if int(row["step"]) <= iteration]
        with tsv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, delimiter="\t")
            writer.writeheader()
            writer.writerows(kept)


def _eta(elapsed: float, done: int, remaining: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(elapsed / max(1, done) * remaining))


def _prefixed(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    return {(k if k.startswith(prefix) else prefix + k): float(v) for k, v in metrics.items()}


def _improved(score: float, best: float | None, mode: str) -> bool:
    return best is None or (score > best if mode == "max" else score < best)


def _class_names(params: TrainingParams) -> tuple[str, ...]:
    return params.class_names or URUR_CLASSES


def build_dataset(
    params: TrainingParams, train_ids: Sequence[str], images_dir: Path, masks_dir: Path
) -> CropDataset:
    """The crop dataset ``params`` describe (every image's header is checked on the way)."""
    return CropDataset(
        train_ids,
        images_dir,
        masks_dir,
        num_classes=len(_class_names(params)),
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


def _preflight(
    params: TrainingParams, train_ids: Sequence[str], images_dir: Path, masks_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Every check that can fail before training starts; returns the run's checkpoint meta."""
    resolve_device(params)
    build_dataset(params, train_ids, images_dir, masks_dir)
    build_model(params.model, len(_class_names(params)), **params.model_options)
    meta = build_meta(params, _class_names(params), train_ids)
    _prepare_resume(params, out_dir / CHECKPOINT_DIR, meta)
    return meta


def fit(
    params: TrainingParams | Mapping[str, Any],
    train_ids: Sequence[str],
    images_dir: str | Path,
    masks_dir: str | Path,
    out_dir: str | Path,
    validate: Validate | None = None,
    live_dir: str | Path | None = None,
) -> FitResult:
    """Train ``params.model`` on random crops of ``train_ids``; checkpoints go to ``out_dir/checkpoints``.

    ``validate(model) -> {metric: value}`` runs every ``val_interval`` iterations and at the end
    (model in eval mode); its metrics are logged as ``val/<name>`` and pick the best checkpoint
    by ``params.monitor``. With ``devices > 1`` it must be picklable (a module-level function or
    ``functools.partial``). ``live_dir`` turns on DVCLive logging there.
    """
    params = params if isinstance(params, TrainingParams) else TrainingParams.model_validate(params)
    train_ids = [str(i) for i in train_ids]
    images_dir, masks_dir, out_dir = Path(images_dir), Path(masks_dir), Path(out_dir)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return _fit_process(params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir)
    _preflight(params, train_ids, images_dir, masks_dir, out_dir)
    if params.devices > 1:
        from urur.training.distributed import launch

        return launch(params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir)[0]
    return _fit_process(params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir)


def _fit_process(
    params: TrainingParams,
    train_ids: list[str],
    images_dir: Path,
    masks_dir: Path,
    out_dir: Path,
    validate: Validate | None,
    live_dir: str | Path | None,
) -> FitResult:
    """The loop one process runs: alone, or as one rank of a process group."""
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    world_size = int(os.environ["WORLD_SIZE"]) if distributed else 1
    device = resolve_device(params.model_copy(update={"devices": 1}), int(os.environ.get("LOCAL_RANK", 0)))
    owns_group = distributed and not dist.is_initialized()  # else the caller set one up and ends it
    if owns_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(
            params, train_ids, images_dir, masks_dir, out_dir, validate, live_dir, device, rank, world_size
        )
    finally:
        if owns_group:
            dist.destroy_process_group()


def _train(
    params: TrainingParams,
    train_ids: list[str],
    images_dir: Path,
    masks_dir: Path,
    out_dir: Path,
    validate: Validate | None,
    live_dir: str | Path | None,
    device: torch.device,
    rank: int,
    world_size: int,
) -> FitResult:
    main = rank == 0
    class_names = _class_names(params)
    meta = build_meta(params, class_names, train_ids)
    checkpoint_dir = out_dir / CHECKPOINT_DIR
    resume_state = _prepare_resume(params, checkpoint_dir, meta)
    if main and resume_state is None and not params.resume:
        _move_aside(checkpoint_dir)
    if main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for stale in clean_temporaries(checkpoint_dir, "*.pt"):
            logger.warning("removed %s, a checkpoint an interrupted run was writing", stale)

    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    dataset = build_dataset(params, train_ids, images_dir, masks_dir)
    model = build_model(params.model, len(class_names), **params.model_options)
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
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        partial(
            poly_factor,
            iterations=params.iterations,
            power=params.poly_power,
            lr=params.lr,
            min_lr=params.min_lr,
        ),
    )
    start, best, history = 0, {"score": None, "iteration": None}, []
    if resume_state is not None:
        load_model_state(checkpoint_dir, model, resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        restore_rng_states(resume_state["rng"])
        start, best, history = (
            resume_state["iteration"],
            dict(resume_state["best"]),
            list(resume_state["history"]),
        )
        if main:
            logger.info("resuming %s from iteration %d", checkpoint_dir, start)
    net = model
    if world_size > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    live = _open_live(live_dir, params, start, resumed=resume_state is not None) if main else None
    last_checkpoint = _checkpoints(checkpoint_dir)[-1] if resume_state is not None else None
    best_path = checkpoint_dir / BEST_NAME
    loader = build_loader(
        dataset,
        params.batch_size,
        workers=params.workers,
        seed=params.seed,
        rank=rank,
        world_size=world_size,
        start_step=start * params.accumulation,
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    net.train()
    progress = tqdm(total=params.iterations, initial=start, desc="train", unit="it", disable=not main)
    data_time = step_time = 0.0
    with progress:
        for iteration in range(start + 1, params.iterations + 1):
            tick = time.perf_counter()
            micro_batches = [next(batches) for _ in range(params.accumulation)]
            fetched = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            losses = train_one_step(net, optimizer, micro_batches, iteration=iteration, device=device)
            scheduler.step()
            data_time += fetched - tick
            step_time += time.perf_counter() - tick
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
                    data_time / params.log_interval,
                    step_time / params.log_interval,
                    peak_memory_mb(device),
                    _eta(progress.format_dict["elapsed"], iteration - start, params.iterations - iteration),
                )
                data_time = step_time = 0.0
            final = iteration == params.iterations
            improved = False
            if validate is not None and main and (iteration % params.val_interval == 0 or final):
                net.eval()
                metrics = _prefixed("val/", validate(model))
                net.train()
                record.update(metrics)
                if params.monitor not in metrics:
                    raise KeyError(
                        f"monitor {params.monitor!r} is not among the validation metrics {sorted(metrics)}; "
                        "set monitor to one of them"
                    )
                if _improved(metrics[params.monitor], best["score"], params.monitor_mode):
                    best = {"score": metrics[params.monitor], "iteration": iteration}
                    improved = True
            history.append(record)
            if live is not None:
                _log_live(live, iteration, record)
            if main and (iteration % params.checkpoint_interval == 0 or final or improved):
                state = {
                    "model": model,
                    "optimizer": optimizer,
                    "scheduler": scheduler,
                    "iteration": iteration,
                    "meta": meta,
                    "best": best,
                    "history": history,
                    "data_state": {"seed": params.seed, "micro_step": iteration * params.accumulation},
                }
                if iteration % params.checkpoint_interval == 0 or final:
                    last_checkpoint = save_checkpoint(checkpoint_dir / _checkpoint_name(iteration), **state)
                    _prune(checkpoint_dir, params.keep_last)
                if improved:
                    save_checkpoint(best_path, **state)
    if world_size > 1:
        # Each rank updated BN running statistics from its own last batch: give all rank 0's.
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    if live is not None:
        live.end()
    if last_checkpoint is None:
        last_checkpoint = _checkpoints(checkpoint_dir)[-1]
    return FitResult(
        best_checkpoint=best_path if best["score"] is not None else None,
        last_checkpoint=last_checkpoint,
        history=history,
        weights_sha256=weights_sha256(model),
    )


def _open_live(live_dir: str | Path | None, params: TrainingParams, start: int, resumed: bool):
    """DVCLive in ``live_dir`` (None: off). The curves are declared in the project's dvc.yaml
    (``<live_dir>/plots/metrics``, x: step), so DVCLive writes no dvc.yaml and no experiment of
    its own; a resumed run continues the curves from its checkpoint's iteration."""
    if live_dir is None:
        return None
    live_dir = Path(live_dir)
    if resumed:
        _truncate_live_history(live_dir, start)
    elif live_dir.exists():
        shutil.rmtree(live_dir)
    live = open_live(live_dir, resume=resumed)
    live.log_params(params.model_dump(mode="json"))
    return live


def _log_live(live: Any, iteration: int, record: Mapping[str, float]) -> None:
    live.step = iteration
    for name, value in record.items():
        if name != "iteration":
            live.log_metric(name, value)
    live.make_summary()
