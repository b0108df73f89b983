"""Synthetic scenes and simulated annotators: time and peak memory per scene size.

Each measurement runs in a fresh subprocess so its peak RSS (VmHWM) belongs to that scene size
alone: generating one scene in memory (``synthesize_scene``), writing its GeoTIFF and truth, and
simulating the annotators on a 2048² image (1000² patches, 120 px overlap) with each export
format. The ratio columns compare sizes side by side: seconds per megapixel should stay flat if
generation scales linearly, and peak memory per megapixel should fall towards the bytes kept per
pixel (image, labels and the layout planes) as strip temporaries become negligible.

Run: ``.venv/bin/python benchmarks/bench_synthetic.py`` (add ``--full`` for the paper's 10240²
scenes); results go to ``benchmarks/results/bench_synthetic.{json,md}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, write_results

NAME = "bench_synthetic"
RESULT_KEYS = ("rows",)


def run_child(size: int) -> None:
    """Generate, write and annotate one scene of ``size``² in this process; print JSON."""
    from urur.dataset.annotation.export import write_annotation_export
    from urur.dataset.tiling import patch_grid
    from urur.synthetic import SceneSpec, simulate_annotations, synthesize_scene
    from urur.synthetic.scenes import write_scene_image, write_truth

    result: dict[str, float] = {"size": size, "megapixels": size * size / 1e6}
    start = time.perf_counter()
    scene = synthesize_scene(SceneSpec(seed=0, city_index=0, scene_index=0, size=size))
    result["generate_s"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_scene_image(scene, Path(tmp) / "scene.tif", "tif", 8)
        write_truth(scene, Path(tmp) / "truth.tif")
        result["write_geotiff_s"] = time.perf_counter() - start
        result["geotiff_mb"] = (Path(tmp) / "scene.tif").stat().st_size / 2**20
        side = min(size, 2048)
        truth = scene.labels[:side, :side]
        windows = patch_grid(side, side, 1000, 120)
        start = time.perf_counter()
        patches = simulate_annotations(truth, "img", windows, seed=0)
        result["annotate_2048_s"] = time.perf_counter() - start
        for export in ("index", "rgb", "cvat"):
            start = time.perf_counter()
            write_annotation_export(Path(tmp) / export, "img", patches, export)
            result[f"export_{export}_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(size: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(size)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        run_child(int(sys.argv[2]))
        return
    sizes = [1024, 2048, 10240] if "--full" in sys.argv else [1024, 2048]
    rows = []
    for size in sizes:
        row = measure(size)
        row["generate_s_per_mpx"] = row["generate_s"] / row["megapixels"]
        row["peak_mb_per_mpx"] = row["peak_rss_mb"] / row["megapixels"]
        rows.append(row)
        print(json.dumps(row))
    base = rows[0]
    for row in rows:
        row["time_per_mpx_vs_smallest"] = row["generate_s_per_mpx"] / base["generate_s_per_mpx"]
    header = (
        "| scene | generate s | s/Mpx (ratio to smallest) | write GeoTIFF + truth s | GeoTIFF MB"
        " | peak RSS MB | annotate 2048² s | export index / rgb / cvat s |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['size']}² | {r['generate_s']:.1f} | {r['generate_s_per_mpx']:.2f} "
        f"({r['time_per_mpx_vs_smallest']:.2f}x) | {r['write_geotiff_s']:.1f} | {r['geotiff_mb']:.0f} "
        f"| {r['peak_rss_mb']:.0f} | {r['annotate_2048_s']:.2f} "
        f"| {r['export_index_s']:.2f} / {r['export_rgb_s']:.2f} / {r['export_cvat_s']:.2f} |"
        for r in rows
    ]
    markdown = (
        "# Synthetic scenes and simulated annotators\n\n"
        "One scene per size, each in a fresh process (peak RSS = VmHWM of that process, Python and "
        "numpy included).\n\n" + header + "\n".join(lines)
    )
    write_results(NAME, {"rows": rows}, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
