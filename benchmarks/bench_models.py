"""Inference speed and memory of WSDNet against ISDNet and DeepLabV3+ (global and local paradigms).

The paper's protocol (REFERENCE.md, "FPS protocol"): untrained models, one random full-resolution
image (batch 1), eval mode, no gradients, warm-up iterations, then timed iterations each bracketed
by device synchronisation. Entries:

- ``wsdnet``, ``isdnet``: the whole ``--size`` x ``--size`` image at once, as shipped: both run
  their Laplacian + STDC shallow branch up to 1/8 in exact horizontal strips in eval mode
  (``urur.models.laplacian.laplacian_stdc``, 2560-row strips);
- ``wsdnet_no_strips``, ``isdnet_no_strips``: the same models with ``strip_rows=None`` (the
  architectures alone, without that engineering choice);
- ``deeplabv3plus_global``: the image shrunk 4x (bilinear), logits brought back to full size;
- ``deeplabv3plus_local``: ``--window``-pixel sliding windows (``urur.evaluation.paradigms.slide_inference``).

Memory: every entry in its own fresh subprocess (``--memory-forwards`` forwards; on the CPU the
peak RSS, VmHWM reset before the first forward, model weights and interpreter included; on a GPU
``torch.cuda.max_memory_allocated``), through ``urur.evaluation.speed.measure_speed_memory``,
the protocol the evaluation pipeline reports. Time: all entries in one process, ``--warmup``
untimed rounds then ``--rounds`` timed rounds, every entry once per round in turn (A B C ... A B
C ...), so each ratio compares runs that saw the same machine load; each ratio is reported as
min / median / max of its per-round values. GFLOPs come from ``torch.utils.flop_counter`` on a
``--flops-size`` input, scaled by the area each entry processes. Parameters are counted twice:
all of them, and those of the modules that run at inference (training-only heads excluded).

Run: ``.venv/bin/python benchmarks/bench_models.py`` (defaults: 5120 px, width 1, float32, CPU,
1 warm-up + 3 timed rounds); results go to ``benchmarks/results/bench_models.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from common import summary, write_results
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from urur.dataset.tiling import patch_grid
from urur.devices import describe_device
from urur.evaluation.paradigms import slide_inference, whole_inference
from urur.evaluation.speed import measure_speed_memory
from urur.models import build_model

NAME = "bench_models"
RESULT_KEYS = ("settings", "entries", "memory_ratios", "fps_ratios", "targets")
GLOBAL_DOWNSAMPLE = 4
# entry -> (registered model, how the image is fed to it, shallow branch in strips; None: has none)
ENTRIES: dict[str, tuple[str, str, bool | None]] = {
    "wsdnet": ("wsdnet", "whole", True),
    "isdnet": ("isdnet", "whole", True),
    "wsdnet_no_strips": ("wsdnet", "whole", False),
    "isdnet_no_strips": ("isdnet", "whole", False),
    "deeplabv3plus_global": ("deeplabv3plus", "global", None),
    "deeplabv3plus_local": ("deeplabv3plus", "local", None),
}
# ratio name -> (WSDNet entry, other entry)
COMPARISONS = {
    "wsdnet_over_isdnet_as_shipped": ("wsdnet", "isdnet"),
    "wsdnet_over_isdnet_architecture_only": ("wsdnet_no_strips", "isdnet_no_strips"),
    "wsdnet_over_deeplabv3plus_local": ("wsdnet", "deeplabv3plus_local"),
    "wsdnet_over_deeplabv3plus_global": ("wsdnet", "deeplabv3plus_global"),
}
TARGETS = {
    "wsdnet_over_isdnet_as_shipped_fps": 1.15,
    "wsdnet_over_deeplabv3plus_local_fps": 3.5,
    "wsdnet_peak_memory_mb": 3 * 1024,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5120, help="side of the square input image")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (every entry once per round)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--memory-forwards", type=int, default=1, help="forwards per memory process")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper size)")
    parser.add_argument("--num-classes", type=int, default=8, help="URUR has 8 classes")
    parser.add_argument("--window", type=int, default=1000, help="sliding window of the local paradigm")
    parser.add_argument("--overlap", type=int, default=120, help="overlap of neighbouring windows (local)")
    parser.add_argument("--flops-size", type=int, default=512, help="input side for FLOP counting")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--memory-of", choices=list(ENTRIES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build(entry: str, args: argparse.Namespace, device: torch.device) -> nn.Module:
    """The entry's untrained model (seed 0) in eval mode; ``strip_rows=None`` where strips are off."""
    name, _, strips = ENTRIES[entry]
    torch.manual_seed(0)
    model = build_model(name, args.num_classes, width=args.width).eval().to(device)
    if strips is False:
        owners = [module for module in model.modules() if hasattr(module, "strip_rows")]
        if not owners:
            raise RuntimeError(f"{entry}: {name} has no strip_rows to switch off")
        for owner in owners:
            owner.strip_rows = None
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    return model.to(memory_format=memory_format)


def predictor(
    entry: str, model: nn.Module, args: argparse.Namespace
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function one benchmark iteration calls on the full-size image."""
    feed = ENTRIES[entry][1]
    if feed == "local":
        return lambda image: slide_inference(
            model, image, args.num_classes, window=args.window, overlap=args.overlap
        )
    downsample = GLOBAL_DOWNSAMPLE if feed == "global" else 1
    return lambda image: whole_inference(model, image, downsample=downsample)


def processed_area(entry: str, args: argparse.Namespace) -> int:
    """Pixels the model itself sees per image (for scaling FLOPs)."""
    feed = ENTRIES[entry][1]
    if feed == "local":
        return sum(w.height * w.width for w in patch_grid(args.size, args.size, args.window, args.overlap))
    side = round(args.size / GLOBAL_DOWNSAMPLE) if feed == "global" else args.size
    return side * side


def inference_parameters(model: nn.Module, image: torch.Tensor) -> int:
    """Parameters of the modules that run in one eval forward (training-only heads excluded)."""
    used: set[int] = set()
    hooks = [
        module.register_forward_hook(lambda m, *_: used.update(id(p) for p in m.parameters(recurse=False)))
        for module in model.modules()
    ]
    with torch.inference_mode():
        model(image)
    for hook in hooks:
        hook.remove()
    return sum(p.numel() for p in model.parameters() if id(p) in used)


def gflops(entry: str, model: nn.Module, args: argparse.Namespace, device: torch.device) -> float:
    image = torch.randn(1, 3, args.flops_size, args.flops_size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(image)
    return counter.get_total_flops() * processed_area(entry, args) / args.flops_size**2 / 1e9


def memory_worker(args: argparse.Namespace) -> dict[str, object]:
    """Peak memory of ``args.memory_of`` over ``--memory-forwards`` forwards, in this fresh process."""
    device = torch.device(args.device)
    model = build(args.memory_of, args, device)
    measured = measure_speed_memory(
        model,
        args.size,
        args.size,
        device,
        warmup=0,
        runs=args.memory_forwards,
        predict=predictor(args.memory_of, model, args),
        bf16=args.bf16,
        channels_last=args.channels_last,
    )
    return {key: measured[key] for key in ("peak_memory_mb", "memory_kind", "seconds_each")}


def peak_memory(entry: str, argv: list[str]) -> dict[str, object]:
    """:func:`memory_worker` for ``entry`` in a fresh subprocess."""
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--memory-of", entry]
    print(f"memory of {entry}: {shlex.join(command)}", file=sys.stderr)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved_seconds(
    entries: list[str], args: argparse.Namespace, device: torch.device
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Seconds per image of every entry, round by round in turn; and each model's size and GFLOPs."""
    generator = torch.Generator().manual_seed(0)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    image = torch.randn(1, 3, args.size, args.size, generator=generator).to(
        device, memory_format=memory_format
    )
    small = torch.randn(1, 3, 256, 256, device=device).to(memory_format=memory_format)
    models, calls, sizes = {}, {}, {}
    for entry in entries:
        models[entry] = build(entry, args, device)
        calls[entry] = predictor(entry, models[entry], args)
        sizes[entry] = {
            "params_m": sum(p.numel() for p in models[entry].parameters()) / 1e6,
            "inference_params_m": inference_parameters(models[entry], small) / 1e6,
            "gflops": gflops(entry, models[entry], args, device),
        }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else nullcontext()
    seconds: dict[str, list[float]] = {entry: [] for entry in entries}
    with torch.inference_mode(), autocast:
        for round_index in range(args.warmup + args.rounds):
            for entry in entries:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                logits = calls[entry](image)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed = time.perf_counter() - start
                del logits
                if round_index >= args.warmup:
                    seconds[entry].append(elapsed)
                print(f"round {round_index + 1}: {entry} {elapsed:.2f} s", file=sys.stderr)
    return seconds, sizes


def ratios(entries: dict[str, dict[str, object]], seconds: dict[str, list[float]]) -> tuple[dict, dict]:
    """WSDNet / other: peak memory (one figure per fresh process) and FPS (per round: other's
    seconds / WSDNet's seconds of the same round), min / median / max over rounds."""
    memory, fps = {}, {}
    for name, (wsdnet, other) in COMPARISONS.items():
        if wsdnet in entries and other in entries:
            memory[name] = entries[wsdnet]["peak_memory_mb"] / entries[other]["peak_memory_mb"]
            per_round = [o / w for w, o in zip(seconds[wsdnet], seconds[other], strict=True)]
            fps[name] = {**summary(per_round), "each_round": per_round}
    return memory, fps


def target_checks(entries: dict[str, dict[str, object]], memory: dict, fps: dict) -> dict[str, bool]:
    checks = {}
    for name in ("wsdnet_over_isdnet_as_shipped", "wsdnet_over_deeplabv3plus_local"):
        if name in fps:
            target = TARGETS[f"{name}_fps"]
            checks[f"{name} FPS >= {target} (median of rounds)"] = fps[name]["median"] >= target
            checks[f"{name} FPS >= {target} (every round)"] = fps[name]["min"] >= target
    for name in ("wsdnet_over_isdnet_as_shipped", "wsdnet_over_isdnet_architecture_only"):
        if name in memory:
            checks[f"{name}: WSDNet peak memory < ISDNet's"] = memory[name] < 1
    if "wsdnet" in entries:
        limit = TARGETS["wsdnet_peak_memory_mb"]
        checks[f"wsdnet peak memory as shipped <= {limit} MB"] = entries["wsdnet"]["peak_memory_mb"] <= limit
    return checks


def _spread(values: dict[str, float], digits: int = 2) -> str:
    return " / ".join(f"{values[key]:.{digits}f}" for key in ("min", "median", "max"))


def markdown(results: dict[str, object]) -> str:
    s = results["settings"]
    lines = [
        "# Model inference benchmark",
        "",
        f"{s['size']}x{s['size']} input, batch 1, eval mode, width {s['width']}, {s['dtype']} on "
        f"{s['device']}. Peak memory: each entry in its own fresh process ({s['memory_forwards']} "
        f"forward(s)). Time: every entry once per round in one process, interleaved, {s['warmup']} "
        f"warm-up + {s['rounds']} timed rounds; seconds and ratios are min / median / max over rounds.",
        "As shipped, WSDNet and ISDNet both run their shallow branch up to 1/8 in 2560-row strips in "
        "eval mode; `_no_strips` entries are the same models with `strip_rows=None` (architecture only).",
        "",
        "| entry | s / image (min / median / max) | peak memory MB | params M (all / inference) | GFLOPs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in results["entries"].items():
        lines.append(
            f"| {name} | {_spread(row['seconds'])} | {row['peak_memory_mb']:.0f} | "
            f"{row['params_m']:.2f} / {row['inference_params_m']:.2f} | {row['gflops']:.0f} |"
        )
    lines += [
        "",
        "| WSDNet / other | entries | peak memory ratio | FPS ratio (min / median / max of rounds) |",
        "|---|---|---:|---:|",
    ]
    for name, value in results["memory_ratios"].items():
        wsdnet, other = COMPARISONS[name]
        lines.append(
            f"| {name} | {wsdnet} / {other} | {value:.2f} | {_spread(results['fps_ratios'][name])} |"
        )
    lines += ["", "Targets:", ""]
    lines += [f"- {key}: {'met' if ok else 'MISSED'}" for key, ok in results["targets"].items()]
    lines += [
        "",
        "Untrained models, random N(0,1) input. GFLOPs are FlopCounterMode counts at "
        f"{s['flops_size']}² scaled by the processed area.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_of:
        print(json.dumps(memory_worker(args)))
        return
    device = torch.device(args.device)
    memory = {entry: peak_memory(entry, argv) for entry in args.entries}
    seconds, sizes = interleaved_seconds(args.entries, args, device)
    entries = {
        entry: {
            "model": ENTRIES[entry][0],
            "feed": ENTRIES[entry][1],
            "strips": ENTRIES[entry][2],
            **sizes[entry],
            "seconds": summary(seconds[entry]),
            "seconds_each": seconds[entry],
            "fps_median": 1 / statistics.median(seconds[entry]),
            "peak_memory_mb": memory[entry]["peak_memory_mb"],
            "memory_kind": memory[entry]["memory_kind"],
            "memory_process_seconds_each": memory[entry]["seconds_each"],
        }
        for entry in args.entries
    }
    memory_ratios, fps_ratios = ratios(entries, seconds)
    results = {
        "settings": {
            "size": args.size,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "memory_forwards": args.memory_forwards,
            "device": describe_device(device),
            "dtype": "bf16 autocast" if args.bf16 else "float32",
            "channels_last": args.channels_last,
            "width": args.width,
            "num_classes": args.num_classes,
            "window": args.window,
            "overlap": args.overlap,
            "global_downsample": GLOBAL_DOWNSAMPLE,
            "flops_size": args.flops_size,
            "threads": torch.get_num_threads(),
        },
        "entries": entries,
        "memory_ratios": memory_ratios,
        "fps_ratios": fps_ratios,
        "targets": target_checks(entries, memory_ratios, fps_ratios),
    }
    full = write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown(full))


if __name__ == "__main__":
    main()
