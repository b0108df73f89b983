"""Tiled prediction (``urur predict``): peak memory on a huge raster, throughput, CPU efficiency.

- Memory: tiled GeoTIFFs of ``--memory-rasters`` (default 60000² and 2000 x 100000), written
  strip by strip from a repeated random pattern (cheap), each predicted at the default tiles
  through :func:`urur.predict.raster.predict_raster` in a subprocess of its own, peak RSS (VmHWM).
  A paper-size WSDNet predicts ~0.5 MP/s on 2 cores (2 hours for 60000²), so the large rasters
  run the smallest real WSDNet (``--memory-width``, same tiles and blending: the memory that
  depends on the raster); a ``--reference-size``² raster (2 x 2 tiles) runs at both widths for
  the model's own share, and each large raster's peak at ``--width`` is *estimated* as the
  reference's at ``--width`` plus what the large raster adds at ``--memory-width``. Each must
  stay < 4 GB.
- Throughput, megapixels per second of input, WSDNet (``--tile``/``--overlap`` tiles) against
  DeepLabV3+ in sliding windows of 1000 px overlapping by 120 (the paper's local paradigm), both
  through the same tiled reader/writer on a ``--ratio-size`` raster, runs interleaved.
- CPU efficiency: a dense float32 matmul (``--matmul-n``²) in the same process gives the
  machine's limit; WSDNet's forward on a ``--forward-size`` image gives its achieved GFLOP/s
  (FLOPs counted by ``torch.utils.flop_counter`` as ``bench_models.py`` counts them), and the
  ratio. Forward and matmul runs are interleaved; min/median/max are reported.
- bf16: the same forward under CPU bf16 autocast, its time and the share of pixels whose label
  equals float32's.

Run: ``.venv/bin/python benchmarks/bench_predict.py`` (results in ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch._inductor.config as inductor_config
from common import peak_rss_mb, summary, write_results
from torch.utils.flop_counter import FlopCounterMode

from urur.classes import URUR_CLASSES
from urur.io.raster import raster_writer
from urur.models import build_model
from urur.predict.raster import predict_raster
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor

NAME = "bench_predict"
META = {"num_classes": 8, "class_names": list(URUR_CLASSES), "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
RSS_LIMIT_MB = 4096
SLIDE = {"tile": 1000, "overlap": 120}  # the local paradigm's windows (bench_models.py)
# write_input_seconds (per raster) and memory are null with --skip-memory.
RESULT_KEYS = ("write_input_seconds", "memory", "throughput", "cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--memory-rasters", nargs="+", default=["60000x60000", "2000x100000"], help="HEIGHTxWIDTH each"
    )
    parser.add_argument("--memory-width", type=float, default=0.125, help="WSDNet width of the large runs")
    parser.add_argument("--reference-size", type=int, default=3840, help="side run at both widths")
    parser.add_argument("--ratio-size", type=int, default=3584, help="side of the throughput raster")
    parser.add_argument("--tile", type=int, default=2048)
    parser.add_argument("--overlap", type=int, default=256)
    parser.add_argument("--forward-size", type=int, default=2048, help="WSDNet forward for GFLOP/s")
    parser.add_argument("--matmul-n", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--worker", choices=["memory"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_test_raster(path: Path, height: int, width: int) -> None:
    """A ``height`` x ``width`` RGB GeoTIFF from a repeated 512² random pattern, 512 rows at a time."""
    rng = np.random.default_rng(0)
    pattern = np.kron(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    strip = np.tile(pattern, (1, -(-width // 512), 1))[:, :width]
    transform = (0.3, 0.0, 500000.0, 0.0, -0.3, 4400000.0)
    with raster_writer(path, height, width, bands=3, crs="EPSG:32650", transform=transform) as writer:
        for row in range(0, height, 512):
            writer.write(strip[: min(512, height - row)])


def fresh_model(name: str, width: float) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, 8, width=width).eval()


def memory_worker(args: argparse.Namespace) -> dict[str, object]:
    model = fresh_model("wsdnet", args.width)
    out = args.input.with_name("labels.tif")
    result = predict_raster(
        model, META, args.input, out, tile=args.tile, overlap=args.overlap, overwrite=True
    )
    return {
        "height": result.height,
        "width": result.width,
        "model_width": args.width,
        "tiles": result.tiles,
        "seconds": result.seconds,
        "megapixels_per_second": result.megapixels_per_second,
        "peak_rss_mb": peak_rss_mb(),
    }


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_flops(model: torch.nn.Module, size: int) -> float:
    """FLOPs of one forward at ``size``², counted at 512² and scaled by area (as bench_models)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.randn(1, 3, 512, 512))
    return counter.get_total_flops() * size * size / 512**2


def predict_in_subprocess(path: Path, args: argparse.Namespace, width: float) -> dict[str, object]:
    """:func:`memory_worker` in a fresh process (its own VmHWM), WSDNet of ``width``."""
    command = [sys.executable, __file__, "--worker", "memory", "--input", str(path)]
    command += ["--tile", str(args.tile), "--overlap", str(args.overlap), "--width", str(width)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    run = json.loads(done.stdout.strip().splitlines()[-1])
    run["under_4_gb"] = run["peak_rss_mb"] < RSS_LIMIT_MB
    return run


def memory_runs(tmp: Path, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, object]]:
    """Seconds to write each input, and the memory runs with their estimates at ``--width``."""
    written, runs = {}, []
    rasters = [(args.reference_size, args.reference_size)]
    rasters += [tuple(int(n) for n in text.split("x")) for text in args.memory_rasters]
    for height, width in rasters:
        path = tmp / f"memory_{height}x{width}.tif"
        written[f"{height}x{width}"] = timed(functools.partial(write_test_raster, path, height, width))
        widths = (args.width, args.memory_width) if (height, width) == rasters[0] else (args.memory_width,)
        runs += [predict_in_subprocess(path, args, model_width) for model_width in widths]
        path.unlink()
    reference, small = runs[0], runs[1]
    estimated = [
        {
            "height": run["height"],
            "width": run["width"],
            "model_width": args.width,
            "peak_rss_mb": reference["peak_rss_mb"] + run["peak_rss_mb"] - small["peak_rss_mb"],
        }
        for run in runs[2:]
    ]
    for estimate in estimated:
        estimate["under_4_gb"] = estimate["peak_rss_mb"] < RSS_LIMIT_MB
    memory = {"tile": args.tile, "overlap": args.overlap, "runs": runs, "estimated": estimated}
    return written, memory


def main(args: argparse.Namespace) -> None:
    results: dict[str, object] = {"write_input_seconds": None, "memory": None}
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        tmp = Path(tmp)
        if not args.skip_memory:
            results["write_input_seconds"], results["memory"] = memory_runs(tmp, args)
        ratio_input = tmp / "ratio.tif"
        write_test_raster(ratio_input, args.ratio_size, args.ratio_size)
        models = {
            "wsdnet": fresh_model("wsdnet", args.width),
            "deeplabv3plus": fresh_model("deeplabv3plus", 1),
        }
        tiling = {"wsdnet": {"tile": args.tile, "overlap": args.overlap}, "deeplabv3plus": SLIDE}
        seconds: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.repeats):
            for name, model in models.items():
                out = tmp / f"{name}.tif"
                run = predict_raster(
                    model, META, ratio_input, out, overwrite=True, progress=False, **tiling[name]
                )
                seconds[name].append(run.seconds)
        megapixels = args.ratio_size**2 / 1e6
        results["throughput"] = {
            "size": args.ratio_size,
            "tiling": tiling,
            **{
                f"{name}_mp_per_s": summary([megapixels / s for s in times])
                for name, times in seconds.items()
            },
        }
        results["throughput"]["wsdnet_over_deeplabv3plus_slide"] = statistics.median(
            seconds["deeplabv3plus"]
        ) / (statistics.median(seconds["wsdnet"]))
    results["cpu"] = cpu_efficiency(models["wsdnet"], args)
    write_results(NAME, results, markdown(results, args), RESULT_KEYS)


def cpu_efficiency(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, object]:
    """Matmul GFLOP/s against WSDNet forwards as ``predict_raster`` runs them (channels-last; eager
    float32, compiled float32, eager bf16 autocast), interleaved; bf16's and the compiled model's
    label agreement with eager float32 on the test pattern."""
    n = args.matmul_n
    a, b = torch.randn(n, n), torch.randn(n, n)
    pattern = np.kron(
        np.random.default_rng(1).integers(0, 256, (args.forward_size // 8, args.forward_size // 8, 3)),
        np.ones((8, 8, 1)),
    )
    image = normalize(to_tensor(pattern.astype(np.uint8)), IMAGENET_MEAN, IMAGENET_STD)[None]
    image = image.contiguous(memory_format=torch.channels_last)
    flops = forward_flops(model, args.forward_size)
    model = model.to(memory_format=torch.channels_last)
    compiled = torch.compile(model)
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    with torch.inference_mode(), inductor_config.patch(freezing=True):
        labels32 = model(image).argmax(1)  # also the warm-up
        compile_seconds = timed(lambda: compiled(image))
        labels_compiled = compiled(image).argmax(1)
        with bf16:
            labels16 = model(image).argmax(1)
        torch.mm(a, b)
        gflops: dict[str, list[float]] = {"matmul": [], "fp32": [], "fp32_compiled": [], "bf16": []}
        for _ in range(args.repeats):
            gflops["matmul"].append(2 * n**3 / timed(lambda: torch.mm(a, b)) / 1e9)
            gflops["fp32"].append(flops / timed(lambda: model(image)) / 1e9)
            gflops["fp32_compiled"].append(flops / timed(lambda: compiled(image)) / 1e9)
            with bf16:
                gflops["bf16"].append(flops / timed(lambda: model(image)) / 1e9)
    matmul = statistics.median(gflops["matmul"])
    agreement = (labels32 == labels16).float().mean().item()
    return {
        "matmul_n": n,
        "forward_size": args.forward_size,
        "wsdnet_forward_gflop": flops / 1e9,
        "compile_seconds": compile_seconds,
        "gflops": {key: summary(values) for key, values in gflops.items()},
        "fraction_of_matmul": {
            key: statistics.median(values) / matmul for key, values in gflops.items() if key != "matmul"
        },
        "compiled_label_agreement": (labels32 == labels_compiled).float().mean().item(),
        "bf16_label_agreement": agreement,
        "bf16_agreement_at_least_99_5": agreement >= 0.995,
    }


def _fmt(values: dict[str, float]) -> str:
    return f"min {values['min']:.1f} / median {values['median']:.1f} / max {values['max']:.1f}"


def markdown(results: dict[str, object], args: argparse.Namespace) -> str:
    lines = ["# Tiled prediction (`urur predict`)", ""]
    memory = results.get("memory")
    if memory:
        lines.append(
            f"- Peak RSS of `predict_raster`, tiles {memory['tile']}/{memory['overlap']}, one process each:"
        )
        for run in memory["runs"]:
            lines.append(
                f"  - {run['height']} x {run['width']} GeoTIFF, WSDNet width {run['model_width']}: "
                f"{run['tiles']} tiles in {run['seconds']:.0f} s ({run['megapixels_per_second']:.2f} MP/s), "
                f"peak RSS {run['peak_rss_mb']:.0f} MB (< 4096: {run['under_4_gb']})"
            )
        for estimate in memory["estimated"]:
            lines.append(
                f"  - {estimate['height']} x {estimate['width']} at WSDNet width {estimate['model_width']}, "
                f"estimated (not run: the width-{estimate['model_width']} reference plus what this raster "
                f"adds at the small width): {estimate['peak_rss_mb']:.0f} MB "
                f"(< 4096: {estimate['under_4_gb']})"
            )
    t = results["throughput"]
    for name in ("wsdnet", "deeplabv3plus"):
        s = t[f"{name}_mp_per_s"]
        lines.append(
            f"- {name} on {t['size']}², tiles {t['tiling'][name]}: MP/s min {s['min']:.3f} / median "
            f"{s['median']:.3f} / max {s['max']:.3f}"
        )
    lines.append(
        f"- WSDNet / sliding-window DeepLabV3+ throughput: {t['wsdnet_over_deeplabv3plus_slide']:.2f}x"
    )
    c = results["cpu"]
    g, f = c["gflops"], c["fraction_of_matmul"]
    lines += [
        f"- dense fp32 matmul {c['matmul_n']}²: GFLOP/s {_fmt(g['matmul'])}",
        f"- WSDNet forward {c['forward_size']}² ({c['wsdnet_forward_gflop']:.1f} GFLOP), channels-last:",
        f"  - fp32 eager: GFLOP/s {_fmt(g['fp32'])} = {100 * f['fp32']:.0f} % of the matmul",
        f"  - fp32 torch.compile (freezing; compiled in {c['compile_seconds']:.0f} s): GFLOP/s "
        f"{_fmt(g['fp32_compiled'])} = {100 * f['fp32_compiled']:.0f} %, labels equal to eager on "
        f"{100 * c['compiled_label_agreement']:.3f} % of pixels",
        f"  - bf16 autocast eager: equivalent GFLOP/s {_fmt(g['bf16'])} = {100 * f['bf16']:.0f} %, labels "
        f"equal to fp32 on {100 * c['bf16_label_agreement']:.2f} % of pixels (untrained weights)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        print(json.dumps(memory_worker(arguments)))
    else:
        main(arguments)
