from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from urur.config import IngestionParams, RuntimeParams
from urur.dataset.ingestion import ingest_scenes
from urur.dataset.scene_table import read_scene_table, table_source
from urur.dataset.sources import describe_source
from urur.io.atomic import staging_directories
from urur.io.stamp import write_stamp

log = logging.getLogger(__name__)


def ingest(
    raw_dir: Path, p: IngestionParams, runtime: RuntimeParams, environment: str
) -> tuple[Path, pd.DataFrame, dict]:
    """Validate every raw scene, cut it into split_factor² UHR images and list them.

    The images folder is stamped with the manifest so consumers can tell the pair belongs together;
    the dataset's source record names the raw folder, so a run for another source never reuses it.
    """
    source = describe_source(raw_dir, environment)
    table_path = raw_dir / p.scene_table
    scene_table = read_scene_table(table_path)
    with staging_directories("images") as (images_dir,):
        manifest = ingest_scenes(
            scene_table,
            raw_dir,
            images_dir,
            split_factor=p.split_factor,
            rgb_bands=p.rgb_bands,
            zero_is_fill=p.zero_is_fill,
            workers=runtime.workers,
            source=table_source(table_path),
        )
        write_stamp(images_dir, manifest)
    log.info("Ingested %d raw scenes into %d UHR images", len(scene_table), len(manifest))
    return images_dir, manifest, source
