"""Inference speed and memory of WSDNet against ISDNet and DeepLabV3+ (global and local paradigms).

The paper's protocol (REFERENCE.md, "FPS protocol"): untrained models, one random full-resolution
image (batch 1), eval mode, no gradients, warm-up iterations, then timed iterations each bracketed
by device synchronisation; FPS = iterations / total time. Paradigms:

- ``wsdnet``, ``isdnet``: the whole ``--size`` x ``--size`` image at once;
- ``deeplabv3plus_global``: the image shrunk 4x (bilinear), logits brought back to full size;
- ``deeplabv3plus_local``: ``--window``-pixel sliding windows (``urur.evaluation.slide_inference``).

Timing and memory go through ``urur.evaluation.evaluate.measure_speed_memory`` (the protocol the
evaluation pipeline reports too). Each paradigm runs in its own subprocess, so the CPU peak RSS
(VmHWM of that process, reset before the warm-up) is its own, on the same input (seed 0, then
``randn``). On a GPU (``--device cuda``) the peak is ``torch.cuda.max_memory_allocated``, and
``--bf16`` / ``--channels-last`` switch on bf16 autocast and the channels-last layout. GFLOPs
come from ``torch.utils.flop_counter`` on a ``--flops-size`` input, scaled by the area each
paradigm processes. Parameters are counted twice: all of them, and those of the modules that
actually run at inference (training-only heads excluded).

Run: ``.venv/bin/python benchmarks/bench_models.py`` (defaults: 5120 px, width 1, float32, CPU,
1 warm-up + 2 timed iterations); results go to ``benchmarks/results/bench_models.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from urur.evaluation.evaluate import measure_speed_memory, peak_rss_mb
from urur.evaluation.inference import slide_inference, whole_inference
from urur.io.atomic import atomic_path
from urur.models import build_model
from urur.tiling import patch_grid

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NAME = "bench_models"
GLOBAL_DOWNSAMPLE = 4
# paradigm -> (registered model, how the image is fed to it)
PARADIGMS: dict[str, tuple[str, str]] = {
    "wsdnet": ("wsdnet", "whole"),
    "isdnet": ("isdnet", "whole"),
    "deeplabv3plus_global": ("deeplabv3plus", "global"),
    "deeplabv3plus_local": ("deeplabv3plus", "local"),
}
TARGETS = {
    "wsdnet_over_isdnet_fps": 1.15,
    "wsdnet_over_deeplabv3plus_local_fps": 3.5,
    "wsdnet_peak_memory_mb": 3 * 1024,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5120, help="side of the square input image")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up iterations")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper size)")
    parser.add_argument("--num-classes", type=int, default=8, help="URUR has 8 classes")
    parser.add_argument("--window", type=int, default=1000, help="sliding window of the local paradigm")
    parser.add_argument("--overlap", type=int, default=120, help="overlap of neighbouring windows (local)")
    parser.add_argument("--flops-size", type=int, default=512, help="input side for FLOP counting")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--paradigms", nargs="+", default=list(PARADIGMS), choices=list(PARADIGMS))
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--worker", choices=list(PARADIGMS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def predictor(
    paradigm: str, model: nn.Module, args: argparse.Namespace
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function one benchmark iteration calls on the full-size image."""
    feed = PARADIGMS[paradigm][1]
    if feed == "local":
        return lambda image: slide_inference(
            model, image, args.num_classes, window=args.window, overlap=args.overlap
        )
    downsample = GLOBAL_DOWNSAMPLE if feed == "global" else 1
    return lambda image: whole_inference(model, image, downsample=downsample)


def processed_area(paradigm: str, args: argparse.Namespace) -> int:
    """Pixels the model itself sees per image (for scaling FLOPs)."""
    feed = PARADIGMS[paradigm][1]
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


def gflops(paradigm: str, model: nn.Module, args: argparse.Namespace, device: torch.device) -> float:
    image = torch.randn(1, 3, args.flops_size, args.flops_size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(image)
    return counter.get_total_flops() * processed_area(paradigm, args) / args.flops_size**2 / 1e9


def run_worker(args: argparse.Namespace) -> dict[str, object]:
    """Measure one paradigm in this process; returns its row of the results."""
    paradigm = args.worker
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rss_before_model = peak_rss_mb()
    torch.manual_seed(0)
    model = build_model(PARADIGMS[paradigm][0], args.num_classes, width=args.width).eval().to(device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    small = torch.randn(1, 3, min(args.size, 256), min(args.size, 256), device=device)
    row: dict[str, object] = {
        "paradigm": paradigm,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "inference_params_m": inference_parameters(model.to(memory_format=memory_format), small) / 1e6,
        "gflops": gflops(paradigm, model, args, device),
        "rss_before_model_mb": rss_before_model,
    }
    del small
    row.update(
        measure_speed_memory(
            model,
            args.size,
            args.size,
            device,
            warmup=args.warmup,
            runs=args.iters,
            predict=predictor(paradigm, model, args),
            bf16=args.bf16,
            channels_last=args.channels_last,
        )
    )
    print(f"  {paradigm}: {row['seconds_each']} s per timed iteration", file=sys.stderr)
    return row


def measure_in_subprocess(paradigm: str, argv: list[str]) -> dict[str, object]:
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker", paradigm]
    print(f"{paradigm}: {shlex.join(command)}", file=sys.stderr)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratios(rows: dict[str, dict[str, object]]) -> dict[str, float]:
    out: dict[str, float] = {}
    if "wsdnet" not in rows:
        return out
    wsdnet = rows["wsdnet"]
    for other in ("isdnet", "deeplabv3plus_local", "deeplabv3plus_global"):
        if other in rows:
            out[f"wsdnet_over_{other}_fps"] = wsdnet["fps"] / rows[other]["fps"]
            out[f"wsdnet_over_{other}_peak_memory"] = wsdnet["peak_memory_mb"] / rows[other]["peak_memory_mb"]
    return out


def target_checks(rows: dict[str, dict[str, object]], found: dict[str, float]) -> dict[str, bool]:
    checks = {}
    for key in ("wsdnet_over_isdnet_fps", "wsdnet_over_deeplabv3plus_local_fps"):
        if key in found:
            checks[f"{key} >= {TARGETS[key]}"] = found[key] >= TARGETS[key]
    if "wsdnet_over_isdnet_peak_memory" in found:
        checks["wsdnet peak memory < isdnet's"] = found["wsdnet_over_isdnet_peak_memory"] < 1
    if "wsdnet" in rows:
        checks[f"wsdnet peak memory <= {TARGETS['wsdnet_peak_memory_mb']} MB"] = (
            rows["wsdnet"]["peak_memory_mb"] <= TARGETS["wsdnet_peak_memory_mb"]
        )
    return checks


def machine_info(args: argparse.Namespace) -> dict[str, object]:
    info: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": os.getloadavg(),
    }
    if args.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def markdown(results: dict[str, object]) -> str:
    settings = results["settings"]
    lines = [
        "# Model inference benchmark",
        "",
        f"{settings['size']}x{settings['size']} input, batch 1, eval mode, width {settings['width']}, "
        f"{settings['dtype']} on {settings['device']} ({settings['threads']} threads), {settings['warmup']} "
        f"warm-up + {settings['iters']} timed iterations, each paradigm in its own process.",
        "",
        "| paradigm | s / image | FPS | peak memory (MB) | params (M, all / inference) | GFLOPs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"].values():
        lines.append(
            f"| {row['paradigm']} | {row['seconds_per_image']:.2f} | {row['fps']:.4f} | "
            f"{row['peak_memory_mb']:.0f} | {row['params_m']:.2f} / {row['inference_params_m']:.2f} | "
            f"{row['gflops']:.0f} |"
        )
    lines += ["", "Ratios (WSDNet / other):", ""]
    lines += [f"- {key}: {value:.2f}" for key, value in results["ratios"].items()]
    lines += ["", "Targets:", ""]
    lines += [f"- {key}: {'met' if ok else 'MISSED'}" for key, ok in results["targets"].items()]
    lines += ["", f"Notes: {results['notes']}", "", f"Command: `{results['command']}`", "", "Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in results["machine"].items()]
    return "\n".join(lines)


def write_results(results: dict[str, object], results_dir: Path) -> None:
    for suffix, text in ((".json", json.dumps(results, indent=2) + "\n"), (".md", markdown(results) + "\n")):
        with atomic_path(results_dir / f"{NAME}{suffix}") as tmp:
            tmp.write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    rows = {paradigm: measure_in_subprocess(paradigm, argv) for paradigm in args.paradigms}
    found = ratios(rows)
    results = {
        "command": ".venv/bin/python " + shlex.join(["benchmarks/bench_models.py", *argv]),
        "settings": {
            "size": args.size,
            "iters": args.iters,
            "warmup": args.warmup,
            "device": args.device,
            "dtype": "bf16 autocast" if args.bf16 else "float32",
            "channels_last": args.channels_last,
            "width": args.width,
            "num_classes": args.num_classes,
            "window": args.window,
            "overlap": args.overlap,
            "global_downsample": GLOBAL_DOWNSAMPLE,
            "flops_size": args.flops_size,
            "threads": args.threads or torch.get_num_threads(),
        },
        "machine": machine_info(args),
        "rows": rows,
        "ratios": found,
        "targets": target_checks(rows, found),
        "notes": (
            "Untrained models, random N(0,1) input. Paradigms run one after another, not at once; on "
            "a 2-core CPU repeated runs differ by up to ~10% (the load average says whether the "
            "cores were shared). "
            "GFLOPs are FlopCounterMode counts at flops_size^2 scaled by the processed area."
        ),
    }
    write_results(results, args.results_dir)
    print(markdown(results))


if __name__ == "__main__":
    main()
