"""Vectorising a label raster (``urur predict --vector``): wall time and peak memory at 20000².

A synthetic prediction-like label raster (8 classes; the argmax of smooth random class fields,
regions some 50 px across at 0.3 m, plus finer noise that leaves small islands along their
borders, as a model's predictions have) is written as the label COG ``urur predict`` writes
(:func:`urur.io.label_raster.label_raster_writer`, strip by strip), then vectorised by
:func:`urur.io.vectorize.vectorize_labels` at the default tolerance and strip height in a
subprocess of its own, whose peak RSS (VmHWM) is the vectoriser's (with the imports' share
measured before it starts). The same runs on a ``--small``² raster show how memory grows with
the raster: the strip, not the raster, bounds it (a 20000² uint8 raster is 400 MB).

Run: ``nice -n 5 .venv/bin/python benchmarks/bench_vectorize.py`` (results in ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import peak_rss_mb, write_results

from urur.classes import URUR_CLASSES
from urur.defaults import DEFAULT_SIMPLIFY
from urur.io.label_raster import label_raster_writer
from urur.io.vectorize import BLOCK_ROWS, vectorize_labels
from urur.io.windows import Window

NAME = "bench_vectorize"
TRANSFORM = (0.3, 0.0, 500000.0, 0.0, -0.3, 4400000.0)
COARSE, FINE, FINE_WEIGHT = 80, 8, 0.35  # field scales (pixels of the half-resolution grid) and mix
STRIP = 256
RESULT_KEYS = ("simplify", "block_rows", "runs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000, help="side of the large raster")
    parser.add_argument("--small", type=int, default=5000, help="side of the raster to compare memory with")
    parser.add_argument("--simplify", type=float, default=DEFAULT_SIMPLIFY)
    parser.add_argument("--block-rows", type=int, default=BLOCK_ROWS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _upsample(field: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale: int) -> np.ndarray:
    """Bilinear values of the coarse ``field`` at half-resolution pixel ``rows`` x ``cols``."""
    y, x = (rows + 0.5) / scale, (cols + 0.5) / scale
    y0, x0 = y.astype(int), x.astype(int)
    wy, wx = (y - y0)[:, None].astype(np.float32), (x - x0)[None].astype(np.float32)
    top = field[y0][:, x0] * (1 - wx) + field[y0][:, x0 + 1] * wx
    bottom = field[y0 + 1][:, x0] * (1 - wx) + field[y0 + 1][:, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


def write_labels(path: Path, size: int) -> float:
    """The synthetic label raster (see the module docstring), computed at half resolution and
    doubled, strip by strip; returns the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    half = -(-size // 2)
    coarse = rng.standard_normal((8, half // COARSE + 2, half // COARSE + 2)).astype(np.float32)
    fine = rng.standard_normal((8, half // FINE + 2, half // FINE + 2)).astype(np.float32)
    cols = np.arange(half)
    with label_raster_writer(
        path, size, size, class_names=URUR_CLASSES, crs="EPSG:32650", transform=TRANSFORM
    ) as writer:
        for row in range(0, size, STRIP):
            rows = np.arange(row // 2, min(row + STRIP, size) // 2 + 1)
            best = labels = None
            for k in range(8):
                score = _upsample(coarse[k], rows, cols, COARSE)
                score += FINE_WEIGHT * _upsample(fine[k], rows, cols, FINE)
                if best is None:
                    best, labels = score, np.zeros(score.shape, np.uint8)
                else:
                    better = score > best
                    best[better], labels[better] = score[better], k
            doubled = labels.repeat(2, axis=0).repeat(2, axis=1)
            height = min(STRIP, size - row)
            writer.write(Window(row, 0, height, size), doubled[row % 2 : row % 2 + height, :size])
    return time.perf_counter() - started


def worker(args: argparse.Namespace) -> dict[str, object]:
    baseline = peak_rss_mb()
    output = args.input.with_suffix(".gpkg")
    started = time.perf_counter()
    features = vectorize_labels(
        args.input, output, class_names=URUR_CLASSES, simplify=args.simplify, block_rows=args.block_rows
    )
    return {
        "seconds": time.perf_counter() - started,
        "features": features,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": baseline,
        "gpkg_mb": output.stat().st_size / 1e6,
    }


def run(tmp: Path, size: int, args: argparse.Namespace) -> dict[str, object]:
    path = tmp / f"labels_{size}.tif"
    write_seconds = write_labels(path, size)
    command = [sys.executable, __file__, "--worker", "--input", str(path)]
    command += ["--simplify", str(args.simplify), "--block-rows", str(args.block_rows)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    megapixels = size * size / 1e6
    return {
        "size": size,
        "write_label_cog_seconds": write_seconds,
        "label_cog_mb": path.stat().st_size / 1e6,
        **result,
        "megapixels_per_second": megapixels / result["seconds"],
    }


def markdown(results: dict[str, object]) -> str:
    lines = [
        "# Vectorising a label raster (`urur predict --vector`)",
        "",
        f"Synthetic 8-class prediction-like labels, tolerance {results['simplify']} px, strips of "
        f"{results['block_rows']} rows; the vectoriser in a process of its own:",
        "",
    ]
    for r in results["runs"]:
        lines.append(
            f"- {r['size']}²: {r['features']} polygons in {r['seconds']:.1f} s "
            f"({r['megapixels_per_second']:.2f} MP/s), peak RSS {r['peak_rss_mb']:.0f} MB "
            f"({r['rss_after_imports_mb']:.0f} MB of it the imports); GeoPackage {r['gpkg_mb']:.0f} MB; "
            f"label COG written in {r['write_label_cog_seconds']:.1f} s, {r['label_cog_mb']:.1f} MB"
        )
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        runs = [run(Path(tmp), size, args) for size in (args.small, args.size)]
    results = {"simplify": args.simplify, "block_rows": args.block_rows, "runs": runs}
    write_results(NAME, results, markdown, RESULT_KEYS)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        print(json.dumps(worker(arguments)))
    else:
        main(arguments)
