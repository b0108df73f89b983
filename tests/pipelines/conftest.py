"""Tiny inputs for the pipelines' slice tests: two synthetic scenes, built once per session, and
what the ingestion and annotation pipelines make of them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import GRID, PERFECT, RUNTIME, SCENE_SIZE, SPLIT_FACTOR
from urur.config import AnnotationParams, IngestionParams
from urur.io.datasets import DirectoryDataset
from urur.pipelines import annotation, ingestion
from urur.synthetic import annotate_images, generate_scenes


@pytest.fixture(scope="session")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Raw scenes (with ``scenes.csv``) and their truth rasters, written by the library."""
    root = tmp_path_factory.mktemp("raw")
    generate_scenes(
        root / "scenes",
        root / "truth",
        num_cities=2,
        scenes_per_city=1,
        scene_size=SCENE_SIZE,
        seed=3,
        workers=1,
    )
    return root / "scenes", root / "truth"


@pytest.fixture(scope="session")
def ingested(
    raw: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, pd.DataFrame, dict]:
    """The ingestion pipeline's images folder (published), manifest and source record."""
    root = tmp_path_factory.mktemp("ingested")
    catalog = run_pipeline(
        ingestion.create_pipeline(),
        {
            "raw_scenes": DirectoryDataset(str(raw[0]), read_only=True),
            "params:ingestion": IngestionParams(split_factor=SPLIT_FACTOR),
            "params:runtime": RUNTIME,
            "params:environment": "base",
            "uhr_images": DirectoryDataset(str(root / "images")),
        },
        root / "staging",
    )
    return catalog.load("uhr_images"), catalog.load("image_manifest"), catalog.load("dataset_source")


@pytest.fixture(scope="session")
def exports(raw: tuple[Path, Path], ingested, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Faultless CVAT exports of every image on the GRID, as the annotators hand them back."""
    out = tmp_path_factory.mktemp("exports") / "annotations"
    annotate_images(
        raw[1],
        ingested[1],
        out,
        patch_size=GRID.patch_size,
        overlap=GRID.overlap,
        format="cvat",
        habits=PERFECT,
    )
    return out


@pytest.fixture(scope="session")
def annotated(ingested, exports: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The annotation pipeline's masks folder (published) and QA table."""
    root = tmp_path_factory.mktemp("annotated")
    catalog = run_pipeline(
        annotation.create_pipeline(),
        {
            "corrected_exports": DirectoryDataset(str(exports), read_only=True),
            "image_manifest": ingested[1],
            "uhr_images": DirectoryDataset(str(ingested[0])),
            "params:tiling": GRID,
            "params:annotation": AnnotationParams(),
            "params:runtime": RUNTIME,
            "masks": DirectoryDataset(str(root / "masks")),
        },
        root / "staging",
    )
    return catalog.load("masks"), catalog.load("annotation_qa")
