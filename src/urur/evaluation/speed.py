"""ISDNet's FPS and peak-memory protocol (REFERENCE.md), as the paper's Table 4 measures it.

:func:`measure_speed_memory`: random 1x3xHxW input, no gradients, warm-up runs, then timed runs each
bracketed by device synchronisation; FPS = runs / total time. Peak memory is
``torch.cuda.max_memory_allocated`` on a GPU and the process's peak resident set (VmHWM, reset just
before the warm-up, after the heap that earlier work freed is handed back to the OS) on the CPU
(:mod:`urur.devices`). ``benchmarks/bench_models.py`` measures through it too, so both report the
same quantity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from urur.devices import describe_device, peak_memory_mb, release_freed_heap, reset_peak_rss


def measure_speed_memory(
    model: nn.Module,
    height: int,
    width: int,
    device: str | torch.device = "cpu",
    warmup: int = 1,
    runs: int = 2,
    *,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
    bf16: bool = False,
    channels_last: bool = False,
) -> dict[str, object]:
    """FPS and peak memory of ``model`` on one random 1x3x``height``x``width`` image (ISDNet's protocol).

    ``predict`` replaces ``model(image)`` for other paradigms (sliding windows, downsampling).
    Returns ``fps``, ``seconds_per_image`` (mean), ``seconds_each``, ``peak_memory_mb``,
    ``memory_kind`` and ``device``. On the CPU the peak is the whole process's resident set
    during the runs (model weights and interpreter included), reset before the warm-up where the
    kernel allows it (else the process's lifetime peak, which is what a fresh process measures).
    """
    if warmup < 0 or runs < 1:
        raise ValueError(f"need warmup >= 0 and runs >= 1, got warmup={warmup}, runs={runs}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(device, memory_format=memory_format)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, height, width, generator=generator).to(device, memory_format=memory_format)
    predict = predict or model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        memory_kind = "torch.cuda.max_memory_allocated"
    else:
        trimmed = release_freed_heap()
        if reset_peak_rss():
            memory_kind = "peak RSS of the process during the runs (VmHWM, reset before warm-up"
            memory_kind += ", freed heap returned first)" if trimmed else ")"
        else:
            memory_kind = "peak RSS of the process over its lifetime (ru_maxrss)"
    times = []
    with torch.inference_mode(), autocast:
        for iteration in range(warmup + runs):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            logits = predict(image)
            if cuda:
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
            del logits  # one image's logits must not stay alive during the next run
            if iteration >= warmup:
                times.append(elapsed)
    peak = peak_memory_mb(device)
    return {
        "fps": len(times) / float(np.sum(times)),
        "seconds_per_image": float(np.mean(times)),
        "seconds_each": times,
        "peak_memory_mb": float(peak),
        "memory_kind": memory_kind,
        "device": describe_device(device),
    }
