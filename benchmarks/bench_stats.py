"""Speed of the dataset statistics and of the annotation merge, on one worker.

Measured side by side in one process on synthetic land-cover-like label maps:

- ``count_instances`` on one 5120² mask (8 classes, 4-connectivity), without and with a
  minimum instance size;
- ``dataset_statistics`` over a few masks;
- ``merge_annotations`` of the same images from index-PNG patches.

The speed-up of these stages on both cores is measured by ``bench_parallel.py``.
Run: ``.venv/bin/python benchmarks/bench_stats.py``; results go to
``benchmarks/results/bench_stats.{json,md}``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from bench_tiling import synthetic_labels
from common import median_seconds, write_results

from urur.dataset.annotation.merge import merge_annotations
from urur.dataset.stats import count_instances, dataset_statistics
from urur.dataset.tiling import crop, patch_grid, patch_id
from urur.io.layout import mask_path
from urur.io.raster import write_raster

FULL_SIZE = 5120
IMAGES = 4
IMAGE_SIZE = 2560
REPEATS = 3
NAME = "bench_stats"
RESULT_KEYS = ("timings", "instances_in_5120_mask")


def main() -> None:
    full = synthetic_labels(FULL_SIZE, seed=0)
    timings = {
        "count_instances_5120_s": median_seconds(lambda: count_instances(full, 8), REPEATS),
        "count_instances_5120_min16_s": median_seconds(lambda: count_instances(full, 8, 16), REPEATS),
    }
    instances = int(count_instances(full, 8).sum())
    manifest = pd.DataFrame(
        {"image_id": [f"img{k}" for k in range(IMAGES)], "height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        windows = patch_grid(IMAGE_SIZE, IMAGE_SIZE)
        for k, image_id in enumerate(manifest["image_id"]):
            labels = synthetic_labels(IMAGE_SIZE, seed=10 + k)
            write_raster(mask_path(tmp / "masks", image_id), labels, nodata=255)
            for window in windows:
                write_raster(
                    tmp / "ann" / image_id / f"{patch_id(image_id, window)}.png", crop(labels, window)
                )
        timings[f"dataset_statistics_{IMAGES}x{IMAGE_SIZE}_s"] = median_seconds(
            lambda: dataset_statistics(
                tmp / "masks", manifest, region_size=1000, min_instance_pixels=16, workers=1
            ),
            REPEATS,
        )
        timings[f"merge_annotations_{IMAGES}x{IMAGE_SIZE}_s"] = median_seconds(
            lambda: merge_annotations(manifest, tmp / "ann", tmp / "out", workers=1), REPEATS
        )
    results = {"timings": timings, "instances_in_5120_mask": instances}
    rows = "\n".join(f"| {name.removesuffix('_s')} | {seconds:.3f} |" for name, seconds in timings.items())
    markdown = f"""# Dataset statistics and annotation merge speed

Medians of {REPEATS} runs. The 5120² synthetic mask has {instances} instances (4-connected).

| step | seconds |
|---|---|
{rows}

One worker. Speed-ups on both cores: `bench_parallel`.
"""
    write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
