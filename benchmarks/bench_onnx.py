"""onnxruntime vs torch on the same tiles: the forward ``urur predict --onnx`` swaps in.

WSDNet at the demo's width (``--width``, 0.5) with fresh weights (speed does not depend on them)
is exported as ``urur export-onnx`` exports it (:func:`urur.predict.onnx.export_model`); then, in
one process, torch (eager, channels-last, inference mode: what ``urur predict`` runs) and
onnxruntime (CPU provider, through :class:`urur.predict.onnx.OnnxSegmenter`, as ``--onnx`` runs
it) predict the same tiles of a synthetic scene, ``--threads`` threads each, alternating tile by
tile so a change in machine load hits both alike: ``--pixels`` megapixels per tile side of
``--sides`` (512², Deepness' usual tile; 2048², ``urur predict``'s). Reported: seconds per tile
(min / median / max), megapixels per second, the ratio of medians, and the share of pixels whose
label is the same. ``torch.compile`` is left out (a minute or two of compilation per run).

Run: ``.venv/bin/python benchmarks/bench_onnx.py`` (about 2 minutes on 2 cores; results in
``benchmarks/results/bench_onnx.{json,md}``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import summary, write_results

from urur.classes import URUR_CLASSES
from urur.models import build_model
from urur.predict.onnx import export_model, load_onnx_predictor
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor
from urur.synthetic.scenes import SceneSpec, synthesize_scene

NAME = "bench_onnx"
RESULT_KEYS = ("model", "threads", "export_seconds", "sizes")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.5, help="WSDNet width (the demo trains 0.5)")
    parser.add_argument(
        "--sides", type=int, nargs="+", default=[512, 2048], help="tile sides (Deepness' usual, predict's)"
    )
    parser.add_argument("--pixels", type=float, default=24, help="megapixels each runtime predicts per side")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of each runtime")
    return parser.parse_args()


def scene_tiles(side: int, count: int) -> list[torch.Tensor]:
    """``count`` normalised (1, 3, side, side) tiles of a synthetic URUR-like scene (cycled)."""
    cells = min(count, 16)
    size = side * int(np.ceil(np.sqrt(cells)))
    image = synthesize_scene(SceneSpec(seed=0, city_index=0, scene_index=0, size=size)).image
    corners = [(r, c) for r in range(0, size, side) for c in range(0, size, side)][:cells]
    tiles = [
        normalize(to_tensor(image[r : r + side, c : c + side]), IMAGENET_MEAN, IMAGENET_STD)[None]
        for r, c in corners
    ]
    return [tiles[k % cells] for k in range(count)]


def compare(model: torch.nn.Module, session: torch.nn.Module, tiles: list[torch.Tensor]) -> dict[str, object]:
    """Both runtimes on each tile in turn (two warm-up tiles first): times and label agreement."""
    network = model.to(memory_format=torch.channels_last)
    seconds: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    same = total = 0
    with torch.inference_mode():
        for index, tile in enumerate([tiles[0], tiles[0], *tiles]):
            started = time.perf_counter()
            by_torch = network(tile.contiguous(memory_format=torch.channels_last))
            torch_seconds = time.perf_counter() - started
            started = time.perf_counter()
            by_onnx = session(tile)
            onnx_seconds = time.perf_counter() - started
            if index < 2:
                continue
            seconds["torch"].append(torch_seconds)
            seconds["onnxruntime"].append(onnx_seconds)
            same += int((by_torch.argmax(1) == by_onnx.argmax(1)).sum())
            total += by_torch[:, 0].numel()
    megapixels = tiles[0][0, 0].numel() / 1e6
    runtimes = {
        name: {
            "seconds_per_tile": summary(values),
            "megapixels_per_second": megapixels / statistics.median(values),
        }
        for name, values in seconds.items()
    }
    ratio = statistics.median(seconds["torch"]) / statistics.median(seconds["onnxruntime"])
    return {
        "side": tiles[0].shape[-1],
        "tiles": len(tiles),
        **runtimes,
        "ratio": ratio,
        "agreement": same / total,
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("wsdnet", len(URUR_CLASSES), width=args.width).eval()
    meta = {
        "model": "wsdnet",
        "options": {"width": args.width},
        "num_classes": len(URUR_CLASSES),
        "class_names": list(URUR_CLASSES),
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }
    with tempfile.TemporaryDirectory(prefix="bench_onnx_") as tmp:
        path = Path(tmp) / "model.onnx"
        started = time.perf_counter()
        export_model(model, meta, path)
        export_seconds = time.perf_counter() - started
        session, _ = load_onnx_predictor(path, threads=args.threads)
        sizes = []
        for side in args.sides:
            count = max(4, round(args.pixels * 1e6 / side**2))
            sizes.append(compare(model, session, scene_tiles(side, count)))
            print(sizes[-1])
    results = {
        "model": f"WSDNet width {args.width}, fresh weights",
        "threads": args.threads,
        "export_seconds": export_seconds,
        "sizes": sizes,
    }
    rows = "\n".join(
        f"| {size['side']}² x {size['tiles']} | {name} | {r['seconds_per_tile']['min']:.3f} / "
        f"{r['seconds_per_tile']['median']:.3f} / {r['seconds_per_tile']['max']:.3f} | "
        f"{r['megapixels_per_second']:.2f} | "
        + (
            f"**{size['ratio']:.2f}x** | {100 * size['agreement']:.3f} % |"
            if name == "onnxruntime"
            else "| |"
        )
        for size in sizes
        for name in ("torch", "onnxruntime")
        for r in [size[name]]
    )
    markdown = f"""# onnxruntime vs torch: the forward of `urur predict --onnx`

{results["model"]}, batch 1, {args.threads} intra-op threads each, the two runtimes alternating
tile by tile on tiles of a synthetic scene. torch: eager, channels-last, inference mode (what
`urur predict` runs); onnxruntime: CPU provider, the graph `urur export-onnx` writes (exported in
{export_seconds:.0f} s), as `urur predict --onnx` runs it.

| tiles | runtime | s per tile (min / median / max) | MP/s | torch / onnxruntime (medians) | same label |
|---|---|---|---|---|---|
{rows}

Above 1x, onnxruntime is faster.
"""
    write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
