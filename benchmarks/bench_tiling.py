"""Tiling a 5120² image into its 36 annotation patches and merging 36 patch masks back.

Budget (task brief): each under 0.5 s on one core, file encoding excluded. Measured side by
side in one process, pinned to one core, medians of repeated runs:

- cutting the 36 patches out of an in-memory image (copies, as a writer needs them);
- ``merge_patches`` of 36 label masks (deepest-interior rule) against pasting the patches in
  row-major order (last one wins), the cheapest possible merge: their ratio is the cost of
  the overlap rule;
- separately, the file work: windowed GeoTIFF decode of the 36 windows from the raster store,
  PNG encode of the 36 patches, ``tile_image`` end to end, and PNG encode/decode of a merged
  5120² mask.

Run: ``.venv/bin/python benchmarks/bench_tiling.py``; results go to
``benchmarks/results/bench_tiling.{json,md}``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from bench_raster_store import synthetic_scene
from common import median_seconds, write_results

from urur.dataset.tiling import crop, merge_patches, patch_grid, tile_image
from urur.io.raster import read_raster, write_raster

IMAGE_SIZE = 5120
REPEATS = 5
FILE_REPEATS = 3
BUDGET_S = 0.5
NAME = "bench_tiling"
RESULT_KEYS = (
    "image_size",
    "patches",
    "timings",
    "merge_vs_paste_ratio",
    "within_budget",
    "round_trip_exact",
    "pinned_to_one_core",
)


def synthetic_labels(size: int, seed: int, num_classes: int = 8) -> np.ndarray:
    """Land-cover-like label map: 64-px fields of random classes with 30% of 16-px blocks
    overridden, so there are thousands of instances of every class (fields, plots, lanes)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, num_classes, (size // 64 + 1, size // 64 + 1), dtype=np.uint8)
    fine = rng.integers(0, num_classes, (size // 16 + 1, size // 16 + 1), dtype=np.uint8)
    fine_wins = rng.random(fine.shape) < 0.3
    index = np.arange(size)
    labels = coarse[np.ix_(index // 64, index // 64)]
    return np.where(
        fine_wins[np.ix_(index // 16, index // 16)], fine[np.ix_(index // 16, index // 16)], labels
    )


def paste(patches: list[np.ndarray], windows: list, height: int, width: int) -> np.ndarray:
    """Baseline merge: every patch pasted in order, the last one wins in overlaps."""
    merged = np.empty((height, width), dtype=patches[0].dtype)
    for patch, window in zip(patches, windows, strict=True):
        merged[window.slices] = patch
    return merged


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    image = synthetic_scene(IMAGE_SIZE, seed=0)
    windows = patch_grid(IMAGE_SIZE, IMAGE_SIZE)
    rng = np.random.default_rng(1)
    masks = [rng.integers(0, 8, (w.height, w.width), dtype=np.uint8) for w in windows]
    labels = synthetic_labels(IMAGE_SIZE, seed=2)

    timings = {
        "cut_36_patches_in_memory_s": median_seconds(
            lambda: [np.ascontiguousarray(crop(image, w)) for w in windows], REPEATS
        ),
        "merge_patches_36_masks_s": median_seconds(
            lambda: merge_patches(masks, windows, IMAGE_SIZE, IMAGE_SIZE), REPEATS
        ),
        "paste_36_masks_baseline_s": median_seconds(
            lambda: paste(masks, windows, IMAGE_SIZE, IMAGE_SIZE), REPEATS
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_raster(tmp / "image.tif", image)
        patches = [np.ascontiguousarray(crop(image, w)) for w in windows]

        def encode_patches() -> None:
            for k, patch in enumerate(patches):
                write_raster(tmp / "png" / f"{k}.png", patch)

        write_raster(tmp / "mask.png", labels)
        timings |= {
            "decode_36_windows_from_geotiff_s": median_seconds(
                lambda: [read_raster(tmp / "image.tif", w) for w in windows], FILE_REPEATS
            ),
            "encode_36_patch_pngs_s": median_seconds(encode_patches, FILE_REPEATS),
            "tile_image_end_to_end_s": median_seconds(
                lambda: tile_image(tmp / "image.tif", tmp / "patches", "img"), FILE_REPEATS
            ),
            "encode_5120_mask_png_s": median_seconds(
                lambda: write_raster(tmp / "mask2.png", labels), FILE_REPEATS
            ),
            "decode_5120_mask_png_s": median_seconds(lambda: read_raster(tmp / "mask.png"), FILE_REPEATS),
        }
    merged_equals_labels = bool(
        (merge_patches([crop(labels, w) for w in windows], windows, IMAGE_SIZE, IMAGE_SIZE) == labels).all()
    )
    ratio = timings["merge_patches_36_masks_s"] / timings["paste_36_masks_baseline_s"]
    results = {
        "image_size": IMAGE_SIZE,
        "patches": len(windows),
        "timings": timings,
        "merge_vs_paste_ratio": ratio,
        "within_budget": {
            "cut": timings["cut_36_patches_in_memory_s"] < BUDGET_S,
            "merge": timings["merge_patches_36_masks_s"] < BUDGET_S,
        },
        "round_trip_exact": merged_equals_labels,
        "pinned_to_one_core": True,
    }
    rows = "\n".join(f"| {name.removesuffix('_s')} | {seconds:.3f} |" for name, seconds in timings.items())
    markdown = f"""# Tiling and merging a {IMAGE_SIZE}² image ({len(windows)} patches of 1000², overlap 120)

Pinned to one core; medians of {REPEATS} runs ({FILE_REPEATS} for file work).

| step | seconds |
|---|---|
{rows}

- Budget {BUDGET_S} s, file encoding excluded: cut {"met" if results["within_budget"]["cut"] else "MISSED"},
  merge {"met" if results["within_budget"]["merge"] else "MISSED"}.
- merge_patches (deepest-interior rule) / paste-in-order baseline: {ratio:.2f}x.
- Tiling then merging reproduces the label map exactly: {merged_equals_labels}.
"""
    write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
