from __future__ import annotations

import logging
from pathlib import Path

from urur.config import RuntimeParams, SyntheticParams
from urur.io.atomic import staging_directories
from urur.synthetic import generate_scenes

log = logging.getLogger(__name__)


def generate_synthetic_scenes(p: SyntheticParams, runtime: RuntimeParams) -> tuple[Path, Path]:
    """Raw scenes plus their truth labels (which only the simulated annotators look at)."""
    with staging_directories("scenes", "truth") as (scenes_dir, truth_dir):
        table = generate_scenes(
            scenes_dir,
            truth_dir,
            num_cities=p.num_cities,
            scenes_per_city=p.scenes_per_city,
            scene_size=p.scene_size,
            seed=p.seed,
            image_format=p.image_format,
            bit_depth=p.bit_depth,
            bands=p.bands,
            workers=runtime.workers,
        )
    log.info("Generated %d synthetic scenes of %d² in %d cities", len(table), p.scene_size, p.num_cities)
    return scenes_dir, truth_dir
