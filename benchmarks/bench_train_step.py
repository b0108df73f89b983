"""Training step time (forward + backward) per model, and WSDNet's step broken down per part.

Demo settings by default: width 0.5, batch 4, 512 x 512 crops, 8 classes, float32 on the CPU.
Everything runs in one process and is interleaved round by round (A B C ... A B C ...), so the
ratios compare runs that saw the same machine load; each entry reports min / median / max over
the rounds, and each ratio is the median of its per-round ratios.

- Models: every name ``urur.models.build_model`` knows, plus WSDNet with ``aux_loss="none"``
  (no SR head, no WSL), the reference for the cost of WSDNet's training-only SR head and WSL.
- WSDNet's parts, each forward + backward on its own, on tensors of the shapes a real step gives
  them: the auxiliary FCN head with its weighted CE (on the deep 1/8 feature), the SR head (deep
  1/8 feature -> image), the Wavelet Smooth Loss (reconstruction vs image). "model without aux"
  is the ``aux_loss="none"`` step minus the aux head part.
- The headline share: (step with WSL - step with ``aux_loss="none"``) / step with WSL, per round.
- Peak memory of one step per model, each in a fresh subprocess (this process's heap is warm
  from the timing rounds): on the CPU the process's peak RSS during the step (VmHWM reset just
  before it) and its rise above the RSS before the step (activations, gradients, temporaries);
  on a GPU ``torch.cuda.max_memory_allocated`` and its rise above the allocated weights and batch.

Run: ``.venv/bin/python benchmarks/bench_train_step.py`` (options: ``--help``); results go to
``benchmarks/results/bench_train_step.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
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

from urur.devices import describe_device, peak_rss_mb, reset_peak_rss
from urur.models import MODEL_NAMES, build_model
from urur.models.losses import segmentation_loss
from urur.models.wsdnet import AUX_LOSS_WEIGHT, WSDNet

NAME = "bench_train_step"
FULL, NO_AUX = "wsdnet", "wsdnet[aux_loss=none]"
CONFIGS: dict[str, tuple[str, dict[str, object]]] = {name: (name, {}) for name in MODEL_NAMES}
CONFIGS[NO_AUX] = ("wsdnet", {"aux_loss": "none"})
PARTS = ("aux head", "SR head", "WSL")
RESULT_KEYS = ("settings", "models", "wsdnet_parts", "sr_head_and_wsl_share")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.5, help="channel multiplier (1 = paper size)")
    parser.add_argument("--batch", type=int, default=4, help="crops per step")
    parser.add_argument("--crop", type=int, default=512, help="side of the square crops")
    parser.add_argument("--num-classes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (each runs every entry once)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--memory-of", choices=list(CONFIGS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_step(model: nn.Module, image: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    """One forward + backward of the summed loss terms (the trainer's step without the optimiser)."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        _, losses = model(image, target)
        sum(losses.values()).backward()

    return step


def wsdnet_parts(model: WSDNet, image: torch.Tensor, target: torch.Tensor) -> dict[str, Callable[[], None]]:
    """Forward + backward of each training-only part on its own, fed the shapes a real step feeds it."""
    with torch.no_grad():
        deep = model.deep(image)
        reconstruction = model.sr_head(deep)
    deep.requires_grad_(True)
    reconstruction.requires_grad_(True)

    def aux_head() -> None:
        logits = model.aux_head(deep)
        (AUX_LOSS_WEIGHT * segmentation_loss(logits, target)).backward()

    def sr_head() -> None:
        model.sr_head(deep).sum().backward()

    def wsl() -> None:
        model.wsl(reconstruction, image).backward()

    return dict(zip(PARTS, (aux_head, sr_head, wsl), strict=True))


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status: the CPU memory figure needs Linux")


def build(label: str, args: argparse.Namespace, device: torch.device) -> nn.Module:
    name, options = CONFIGS[label]
    torch.manual_seed(0)
    return build_model(name, args.num_classes, width=args.width, **options).to(device).train()


def batch(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(args.batch, 3, args.crop, args.crop, generator=generator)
    target = torch.randint(0, args.num_classes, (args.batch, args.crop, args.crop), generator=generator)
    return image.to(device), target.to(device)


def memory_worker(args: argparse.Namespace) -> dict[str, float]:
    """Peak memory of one training step of ``args.memory_of``, in this fresh process."""
    device = torch.device(args.device)
    model = build(args.memory_of, args, device)
    image, target = batch(args, device)
    step = model_step(model, image, target)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else nullcontext()
    with autocast:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            step()
            synchronise(device)
            peak = torch.cuda.max_memory_allocated(device) / 2**20
            return {"peak_mb": peak, "rise_mb": peak - torch.cuda.memory_allocated(device) / 2**20}
        before = current_rss_mb()
        if not reset_peak_rss():
            return {"peak_mb": float("nan"), "rise_mb": float("nan")}
        step()
        peak = peak_rss_mb()
    return {"peak_mb": peak, "rise_mb": peak - before}


def peak_memory(label: str, argv: list[str]) -> dict[str, float]:
    """:func:`memory_worker` for ``label`` in a subprocess (this process's heap is already warm)."""
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--memory-of", label]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: dict[str, object]) -> str:
    s = results["settings"]
    lines = [
        "# Training step benchmark (forward + backward)",
        "",
        f"Width {s['width']}, batch {s['batch']}, {s['crop']}x{s['crop']} crops, {s['num_classes']} classes, "
        f"{s['dtype']} on {s['device']}; {s['warmup']} warm-up + {s['rounds']} timed rounds, every entry "
        "once per round, interleaved in one process. Seconds: min / median / max over rounds.",
        "",
        "| model | s / step (min / median / max) | peak memory, MB (rise in the step) | step / WSDNet step |",
        "|---|---:|---:|---:|",
    ]
    for name, row in results["models"].items():
        t = row["seconds"]
        lines.append(
            f"| {name} | {t['min']:.3f} / {t['median']:.3f} / {t['max']:.3f} | "
            f"{row['step_peak_memory_mb']:.0f} ({row['step_memory_rise_mb']:.0f}) | "
            f"{row['ratio_to_wsdnet']:.2f} |"
        )
    lines += [
        "",
        "WSDNet per part (each forward + backward on its own):",
        "",
        "| part | s (min / median / max) | share of the WSDNet step (median of per-round ratios) |",
        "|---|---:|---:|",
    ]
    for name, row in results["wsdnet_parts"].items():
        t = row["seconds"]
        lines.append(
            f"| {name} | {t['min']:.3f} / {t['median']:.3f} / {t['max']:.3f} | {100 * row['share']:.1f} % |"
        )
    share = results["sr_head_and_wsl_share"]
    lines += [
        "",
        f"SR head + WSL share of a WSDNet training step: **{100 * share['from_step_difference']:.1f} %** "
        f"(1 - {NO_AUX} step / {FULL} step, median over rounds); from the parts measured alone: "
        f"{100 * share['from_parts']:.1f} %. Target: at most 30 %.",
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
    image, target = batch(args, device)
    models = {label: build(label, args, device) for label in CONFIGS}
    entries = {label: model_step(model, image, target) for label, model in models.items()}
    entries.update(wsdnet_parts(models[FULL], image, target))

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else nullcontext()
    times: dict[str, list[float]] = {label: [] for label in entries}
    with autocast:
        for round_index in range(args.warmup + args.rounds):
            for label, entry in entries.items():
                synchronise(device)
                start = time.perf_counter()
                entry()
                synchronise(device)
                if round_index >= args.warmup:
                    times[label].append(time.perf_counter() - start)
            print(f"round {round_index + 1}/{args.warmup + args.rounds} done", file=sys.stderr)
    memory = {label: peak_memory(label, argv) for label in models}

    full = times[FULL]

    def share(label: str) -> float:
        return statistics.median(t / f for t, f in zip(times[label], full, strict=True))

    parts = {label: {"seconds": summary(times[label]), "share": share(label)} for label in PARTS}
    without_aux = [n - a for n, a in zip(times[NO_AUX], times["aux head"], strict=True)]
    parts["model without aux (derived)"] = {
        "seconds": summary(without_aux),
        "share": statistics.median(w / f for w, f in zip(without_aux, full, strict=True)),
    }
    results = {
        "settings": {
            "width": args.width,
            "batch": args.batch,
            "crop": args.crop,
            "num_classes": args.num_classes,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "device": describe_device(device),
            "dtype": "bf16 autocast" if args.bf16 else "float32",
        },
        "models": {
            label: {
                "seconds": summary(times[label]),
                "seconds_each": times[label],
                "step_peak_memory_mb": memory[label]["peak_mb"],
                "step_memory_rise_mb": memory[label]["rise_mb"],
                "ratio_to_wsdnet": share(label),
            }
            for label in models
        },
        "wsdnet_parts": parts,
        "sr_head_and_wsl_share": {
            "from_step_difference": statistics.median(
                1 - n / f for n, f in zip(times[NO_AUX], full, strict=True)
            ),
            "from_parts": statistics.median(
                (s + w) / f for s, w, f in zip(times["SR head"], times["WSL"], full, strict=True)
            ),
            "target_at_most": 0.30,
        },
    }
    text = markdown(results)
    write_results(NAME, results, text, RESULT_KEYS)
    print(text)


if __name__ == "__main__":
    main()
