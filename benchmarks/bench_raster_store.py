"""Raster store: random 1024² window reads from a tiled GeoTIFF vs decoding the whole PNG.

Training crops and annotation tiles read windows of the 5120 x 5120 UHR images. The URUR release
ships PNGs, which must be decoded whole for any crop; the raster store keeps tiled GeoTIFFs so a
window decodes only the tiles under it. This script measures, side by side in one process on
one synthetic 5120² RGB image:

- the GeoTIFF layout options (no compression, LZW, DEFLATE, ZSTD; 256 and 512 tiles): size on
  disk, write time and random-window read time, the evidence for ``urur.io.raster``'s choice;
- a random 1024² window from the store vs a full PNG decode (Pillow and GDAL), the ratio.

Run: ``.venv/bin/python benchmarks/bench_raster_store.py``. Results go to
``benchmarks/results/bench_raster_store.{json,md}``. Files are read hot from the page cache
(they were just written), which favours the larger, uncompressed files a little.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from common import median_seconds, write_results
from PIL import Image

from urur.io.raster import GEOTIFF_BLOCK_SIZE, GEOTIFF_COMPRESSION, read_raster, write_raster
from urur.io.windows import Window

IMAGE_SIZE = 5120
CROP_SIZE = 1024
WINDOW_READS = 40
PNG_DECODES = 5
NAME = "bench_raster_store"
RESULT_KEYS = (
    "image",
    "crop",
    "layouts",
    "chosen_layout",
    "store_window_read_ms",
    "png_full_decode_ms",
    "speedup_vs_fastest_png_decode",
    "size_mb",
    "write_s",
)
LAYOUTS = [(compression, block) for compression in ("none", "lzw", "deflate", "zstd") for block in (256, 512)]


def synthetic_scene(size: int, seed: int, dtype: type = np.uint8, bands: int = 3) -> np.ndarray:
    """Land-cover-like image: blocky regions of a few colours at two scales, a brightness ramp
    and pixel noise, so compressors see both structure and texture (real imagery compresses
    differently; the ratios between layouts are what matters). Built in strips to bound memory."""
    rng = np.random.default_rng(seed)
    scale = 255 if dtype == np.uint8 else 4095  # 16-bit sensors are usually 12-bit in practice
    colours = rng.integers(scale // 8, scale - scale // 8, (8, bands)).astype(np.int32)
    coarse = rng.integers(0, 8, (size // 256 + 1, size // 256 + 1))
    fine = rng.integers(0, 8, (size // 32 + 1, size // 32 + 1))
    fine_wins = rng.random((size // 32 + 1, size // 32 + 1)) < 0.3
    image = np.empty((size, size, bands), dtype=dtype)
    for row in range(0, size, 512):
        rows = np.arange(row, min(row + 512, size))
        cols = np.arange(size)
        labels = np.where(
            fine_wins[np.ix_(rows // 32, cols // 32)],
            fine[np.ix_(rows // 32, cols // 32)],
            coarse[np.ix_(rows // 256, cols // 256)],
        )
        ramp = (rows[:, None] + cols[None, :]) * (scale // 8) // (2 * size)
        noise = rng.integers(-(scale // 20), scale // 20 + 1, (len(rows), size, bands), dtype=np.int32)
        image[row : row + len(rows)] = np.clip(colours[labels] + ramp[..., None] + noise, 0, scale)
    return image


def decode_png_gdal_default(path: Path) -> np.ndarray:
    """GDAL's default PNG path (whole image at once): faster, but blind to truncated files,
    which is why ``read_raster`` turns it off."""
    with rasterio.open(path) as dataset:
        return dataset.read()


def write_layout(path: Path, image: np.ndarray, compression: str, block: int) -> None:
    options = {"tiled": True, "blockxsize": block, "blockysize": block, "interleave": "pixel"}
    if compression != "none":
        options.update(compress=compression, predictor=2)
    height, width, bands = image.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=bands, dtype="uint8", **options
    ) as dst:
        dst.write(image.transpose(2, 0, 1))


def random_windows() -> list[Window]:
    """``WINDOW_READS`` crops at seeded random positions: every run reads the same windows."""
    rng = np.random.default_rng(1)
    return [
        Window(int(r), int(c), CROP_SIZE, CROP_SIZE)
        for r, c in rng.integers(0, IMAGE_SIZE - CROP_SIZE + 1, (WINDOW_READS, 2))
    ]


def measure_layouts(image: np.ndarray, windows: list[Window], tmp: Path) -> list[dict]:
    """Size, write time and median window read of every store layout of ``LAYOUTS``."""
    layouts = []
    for compression, block in LAYOUTS:
        path = tmp / f"{compression}_{block}.tif"
        start = time.perf_counter()
        write_layout(path, image, compression, block)
        layouts.append(
            {
                "compression": compression,
                "block": block,
                "path": path,
                "size_mb": path.stat().st_size / 2**20,
                "write_s": time.perf_counter() - start,
                "read_s": [],
            }
        )
    # Round-robin over the layouts, window by window, so a change in machine load hits
    # every layout alike.
    for window in windows:
        for layout in layouts:
            start = time.perf_counter()
            read_raster(layout["path"], window)
            layout["read_s"].append(time.perf_counter() - start)
    for layout in layouts:
        layout["window_read_ms"] = statistics.median(layout.pop("read_s")) * 1000
        del layout["path"]
        print(layout)
    return layouts


def measure_store_vs_png(image: np.ndarray, windows: list[Window], tmp: Path) -> dict[str, float]:
    """The raster store's window read against a whole-PNG decode (three decoders), with the
    files' sizes and write times."""
    store = tmp / "store.tif"
    start = time.perf_counter()
    write_raster(store, image)
    store_write_s = time.perf_counter() - start
    png = tmp / "image.png"
    start = time.perf_counter()
    Image.fromarray(image).save(png)  # Pillow's default zlib level 6, as most PNG writers
    png_write_s = time.perf_counter() - start
    assert np.array_equal(read_raster(store, windows[0]), image[windows[0].slices])

    # Interleave the contenders so a change in machine load hits them alike.
    store_reads, pillow_decodes, gdal_decodes, gdal_fast_decodes = [], [], [], []
    for index in range(PNG_DECODES):
        for window in windows[index::PNG_DECODES]:
            store_reads.append(median_seconds(lambda window=window: read_raster(store, window), 1))
        pillow_decodes.append(median_seconds(lambda: np.asarray(Image.open(png)), 1))
        gdal_decodes.append(median_seconds(lambda: read_raster(png), 1))
        gdal_fast_decodes.append(median_seconds(lambda: decode_png_gdal_default(png), 1))
    pillow_ms = statistics.median(pillow_decodes) * 1000
    gdal_ms = statistics.median(gdal_decodes) * 1000
    gdal_fast_ms = statistics.median(gdal_fast_decodes) * 1000
    return {
        "store_ms": statistics.median(store_reads) * 1000,
        "pillow_ms": pillow_ms,
        "gdal_ms": gdal_ms,
        "gdal_fast_ms": gdal_fast_ms,
        "fastest_png_ms": min(pillow_ms, gdal_ms, gdal_fast_ms),
        "store_mb": store.stat().st_size / 2**20,
        "png_mb": png.stat().st_size / 2**20,
        "store_write_s": store_write_s,
        "png_write_s": png_write_s,
    }


def render_markdown(
    results: dict,
    layouts: list[dict],
    *,
    store_ms: float,
    pillow_ms: float,
    gdal_ms: float,
    gdal_fast_ms: float,
    fastest_png_ms: float,
    store_mb: float,
    png_mb: float,
    store_write_s: float,
    png_write_s: float,
) -> str:
    """The results page: the layout table, then the store against the PNG decoders."""
    rows = "\n".join(
        f"| {r['compression']} | {r['block']} | {r['size_mb']:.1f} | {r['write_s']:.2f} "
        f"| {r['window_read_ms']:.1f} |"
        for r in layouts
    )
    return f"""# Raster store: windowed reads vs whole-PNG decode

{results["image"]}; {results["crop"]}. Medians. Files hot in the page cache.

## Store layout options (predictor 2 for the compressed ones)

| compression | tile | size MB | write s | 1024² window read ms |
|---|---|---|---|---|
{rows}

Chosen in `urur.io.raster`: {GEOTIFF_COMPRESSION.upper()}, {GEOTIFF_BLOCK_SIZE}x{GEOTIFF_BLOCK_SIZE} tiles,
horizontal predictor.

## Random 1024² crop: store vs PNG

| | time ms | size on disk MB |
|---|---|---|
| store (tiled GeoTIFF) window read | {store_ms:.1f} | {store_mb:.1f} |
| PNG full decode, Pillow | {pillow_ms:.1f} | {png_mb:.1f} |
| PNG full decode, GDAL (row by row, as `read_raster`) | {gdal_ms:.1f} | {png_mb:.1f} |
| PNG full decode, GDAL default (whole-image fast path) | {gdal_fast_ms:.1f} | {png_mb:.1f} |

**Window read is {fastest_png_ms / store_ms:.1f}x faster than the fastest full PNG decode** (target >= 20x).
Store size is {store_mb / png_mb:.2f}x the PNG's
(write: store {store_write_s:.2f} s, PNG {png_write_s:.2f} s).
"""


def main() -> None:
    image = synthetic_scene(IMAGE_SIZE, seed=0)
    windows = random_windows()
    with tempfile.TemporaryDirectory(prefix="bench_raster_store_") as tmp:
        layouts = measure_layouts(image, windows, Path(tmp))
        timings = measure_store_vs_png(image, windows, Path(tmp))
    results = {
        "image": f"synthetic {IMAGE_SIZE}x{IMAGE_SIZE} RGB uint8 ({image.nbytes / 2**20:.0f} MB of pixels)",
        "crop": f"{CROP_SIZE}x{CROP_SIZE}, {WINDOW_READS} random windows, file opened for every read",
        "layouts": layouts,
        "chosen_layout": {"compression": GEOTIFF_COMPRESSION, "block": GEOTIFF_BLOCK_SIZE, "predictor": 2},
        "store_window_read_ms": timings["store_ms"],
        "png_full_decode_ms": {
            "pillow": timings["pillow_ms"],
            "gdal_row_by_row": timings["gdal_ms"],
            "gdal_whole_image_fast_path": timings["gdal_fast_ms"],
        },
        "speedup_vs_fastest_png_decode": timings["fastest_png_ms"] / timings["store_ms"],
        "size_mb": {
            "store_geotiff": timings["store_mb"],
            "png": timings["png_mb"],
            "raw_pixels": image.nbytes / 2**20,
        },
        "write_s": {"store_geotiff": timings["store_write_s"], "png": timings["png_write_s"]},
    }
    markdown = render_markdown(results, layouts, **timings)
    write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
