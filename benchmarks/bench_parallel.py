"""Per-image stages on both cores: each stage with workers=1 and workers=2, side by side.

Builds the demo-sized synthetic dataset once (4 raw scenes of 4096², cut into 16 images of
2048², 9 annotation patches each), then times ingestion, tiling, the annotation merge and the
dataset statistics with 1 and 2 worker processes, alternating the two settings so a change in
machine load hits both. Each stage writes into a fresh folder every run.

Run: ``.venv/bin/python benchmarks/bench_parallel.py``; results in
``benchmarks/results/bench_parallel.{json,md}``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from common import write_results

from urur.dataset.annotation.merge import merge_annotations
from urur.dataset.ingestion import ingest_scenes
from urur.dataset.scene_table import load_scene_table
from urur.dataset.stats import dataset_statistics
from urur.dataset.tiling import tile_images
from urur.synthetic import annotate_images, generate_scenes

SCENES = dict(num_cities=2, scenes_per_city=2, scene_size=4096, seed=0)
GRID = dict(patch_size=1000, overlap=120)
ROUNDS = 2
NAME = "bench_parallel"
RESULT_KEYS = ("dataset", "rows")


def timed_run(stage: Callable[[Path, int], object], scratch: Path, workers: int, times: list[float]) -> None:
    out = Path(tempfile.mkdtemp(dir=scratch))
    start = time.perf_counter()
    stage(out, workers)
    times.append(time.perf_counter() - start)
    shutil.rmtree(out)


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        root = Path(tmp)
        raw, truth, images, annotations, masks = (root / n for n in ("raw", "truth", "img", "ann", "masks"))
        generate_scenes(raw, truth, **SCENES, workers=2)
        table = load_scene_table(raw / "scenes.csv")
        manifest: pd.DataFrame = ingest_scenes(table, raw, images, workers=2)
        annotate_images(truth, manifest, annotations, **GRID, format="cvat", workers=2)
        merge_annotations(manifest, annotations, masks, **GRID, workers=2)

        stages: dict[str, Callable[[Path, int], object]] = {
            "ingestion": lambda out, w: ingest_scenes(table, raw, out, workers=w),
            "tiling": lambda out, w: tile_images(manifest, images, out, **GRID, workers=w),
            "annotation_merge": lambda out, w: merge_annotations(
                manifest, annotations, out, **GRID, workers=w
            ),
            "dataset_stats": lambda out, w: dataset_statistics(masks, manifest, region_size=1000, workers=w),
        }
        rows = []
        for name, stage in stages.items():
            times: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(ROUNDS):
                for workers in (1, 2):
                    timed_run(stage, root, workers, times[workers])
            one, two = min(times[1]), min(times[2])
            rows.append({"stage": name, "workers_1_s": one, "workers_2_s": two, "speedup": one / two})
            print(f"{name:18s} 1 worker {one:6.2f} s   2 workers {two:6.2f} s   speed-up {one / two:.2f}x")

    table_md = "\n".join(
        f"| {r['stage']} | {r['workers_1_s']:.2f} | {r['workers_2_s']:.2f} | {r['speedup']:.2f}x |"
        for r in rows
    )
    markdown = (
        "# Per-image stages: 1 vs 2 worker processes\n\n"
        f"{len(manifest)} images of 2048² (4 synthetic raw scenes of 4096², split factor 2), "
        "annotation grid 1000²/120, CVAT exports. Fastest of "
        f"{ROUNDS} alternating runs per setting.\n\n"
        "| stage | 1 worker s | 2 workers s | speed-up |\n|---|---|---|---|\n" + table_md
    )
    write_results(NAME, {"dataset": {**SCENES, **GRID}, "rows": rows}, markdown, RESULT_KEYS)


if __name__ == "__main__":
    main()
