"""Does the training loop wait for data? Share of step time spent waiting for the next batch.

Demo settings: WSDNet width 0.5, batch 4, 512² crops with the default scale range and
augmentation, the default DataLoader workers (``TrainingParams().workers``), drawn from a raster
store of synthetic 2048² scenes (tiled ZSTD GeoTIFF images and masks, as the pipeline writes
them). The loop is the trainer's own (:func:`urur.training.build_loader`,
:func:`urur.training.train_one_step`); the wait is the time ``next(batches)`` blocks, the step
the whole iteration. The first steps (worker start-up, first allocations) are left out. Also
measured: the time one process needs to produce a batch alone (no workers), the margin the
workers have. Target: wait below 5 % of the step.

Run: ``.venv/bin/python benchmarks/bench_data_loading.py``; results go to
``benchmarks/results/bench_data_loading.{json,md}``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import median_seconds, write_results

from urur.io.layout import image_path, mask_path
from urur.io.raster import write_raster
from urur.models import build_model
from urur.synthetic.scenes import SceneSpec, synthesize_scene
from urur.training import TrainingParams, build_dataset, build_loader, train_one_step

SCENES = 4
SCENE_SIZE = 2048
WARMUP_STEPS = 3
TIMED_STEPS = 12
NAME = "bench_data_loading"
RESULT_KEYS = (
    "settings",
    "wait_share",
    "wait_share_target",
    "mean_wait_s",
    "max_wait_s",
    "median_step_s",
    "batch_in_one_process_s",
)


def _store(root: Path) -> list[str]:
    ids = []
    for index in range(SCENES):
        scene = synthesize_scene(
            SceneSpec(seed=0, city_index=index % 2, scene_index=index // 2, size=SCENE_SIZE)
        )
        write_raster(image_path(root / "images", scene.scene_id), scene.image)
        write_raster(mask_path(root / "masks", scene.scene_id), scene.labels)
        ids.append(scene.scene_id)
    return ids


def main() -> None:
    params = TrainingParams()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ids = _store(root)
        dataset = build_dataset(params, ids, root / "images", root / "masks")
        batch_alone_s = median_seconds(lambda: [dataset[n] for n in range(params.batch_size)], repeats=5)

        torch.manual_seed(0)
        model = build_model(params.model, 8, **params.model_options).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=params.lr, momentum=params.momentum)
        batches = iter(build_loader(dataset, params.batch_size, workers=params.workers, seed=0))
        waits, steps = [], []
        for iteration in range(WARMUP_STEPS + TIMED_STEPS):
            tick = time.perf_counter()
            micro_batches = [next(batches)]
            fetched = time.perf_counter()
            train_one_step(model, optimizer, micro_batches, iteration=iteration, device=torch.device("cpu"))
            if iteration >= WARMUP_STEPS:
                waits.append(fetched - tick)
                steps.append(time.perf_counter() - tick)

    share = sum(waits) / sum(steps)
    results = {
        "settings": {
            "model": params.model,
            "model_options": params.model_options,
            "batch_size": params.batch_size,
            "crop_size": params.crop_size,
            "scale_range": list(params.scale_range),
            "workers": params.workers,
            "scenes": SCENES,
            "scene_size": SCENE_SIZE,
            "timed_steps": TIMED_STEPS,
            "warmup_steps": WARMUP_STEPS,
        },
        "wait_share": round(share, 4),
        "wait_share_target": 0.05,
        "mean_wait_s": round(statistics.mean(waits), 4),
        "max_wait_s": round(max(waits), 4),
        "median_step_s": round(statistics.median(steps), 3),
        "batch_in_one_process_s": round(batch_alone_s, 3),
    }
    verdict = "below" if share < 0.05 else "ABOVE"
    markdown = f"""# Data loading: share of the training step spent waiting for data

WSDNet width {params.model_options["width"]}, batch {params.batch_size}, {params.crop_size}² crops
(scale {params.scale_range[0]}-{params.scale_range[1]}, default augmentation), {params.workers} DataLoader
workers, {SCENES} synthetic {SCENE_SIZE}² scenes in the raster store; {TIMED_STEPS} timed steps after
{WARMUP_STEPS} warm-up steps, CPU, {torch.get_num_threads()} torch threads.

| measure | value |
|---|---|
| waiting for the next batch, share of step time | **{share:.1%}** ({verdict} the 5 % target) |
| mean / max wait per step | {statistics.mean(waits) * 1000:.0f} ms / {max(waits) * 1000:.0f} ms |
| median training step (wait included) | {statistics.median(steps):.2f} s |
| one batch produced by one process, no workers | {batch_alone_s:.2f} s |

A batch costs one process about {batch_alone_s / statistics.median(steps):.0%} of a step: the workers
prepare the next batches while the model trains (they share the same cores, so their work
shows up as a slightly slower step rather than as waiting)."""
    write_results(NAME, results, markdown, RESULT_KEYS)
    print(markdown)


if __name__ == "__main__":
    main()
