"""The ``dataset`` pipeline (composed by the registry): the chain of dataset stages, run slice by slice on a
tiny dataset."""

from __future__ import annotations

import numpy as np

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import GRID, RUNTIME, SPLIT_FACTOR, truth_of
from urur.classes import URUR_CLASSES
from urur.config import AnnotationParams, DatasetStatsParams, IngestionParams, SplitParams
from urur.dataset.tiling import patch_grid
from urur.io.datasets import DirectoryDataset
from urur.pipeline_registry import stage_pipelines


def test_the_chain_reads_only_what_a_user_brings_and_writes_the_dataset():
    pipeline = stage_pipelines()["dataset"]
    params = {name for name in pipeline.inputs() if name.startswith("params:")}
    assert pipeline.inputs() - params == {
        "raw_scenes",
        "annotator_exports",
        "corrected_exports",
        "synthetic_truth",
    }
    assert {"dataset_split", "dataset_stats", "dataset_class_stats", "annotation_qa", "prelabel_effort"} <= (
        pipeline.outputs()
    )


def test_ingested_images_are_tiled_and_split_in_one_run(raw, tmp_path):
    head = stage_pipelines()["dataset"].to_nodes(
        "dataset.tiling.tile_annotation_patches", "dataset.split.split_dataset"
    )
    assert {node.name.split(".")[1] for node in head.nodes} == {"ingestion", "tiling", "split"}
    catalog = run_pipeline(
        head,
        {
            "raw_scenes": DirectoryDataset(str(raw[0]), read_only=True),
            "params:ingestion": IngestionParams(split_factor=SPLIT_FACTOR),
            "params:tiling": GRID,
            "params:split": SplitParams(ratios=(0.5, 0.25, 0.25)),
            "params:runtime": RUNTIME,
            "params:environment": "base",
            "uhr_images": DirectoryDataset(str(tmp_path / "images")),
        },
        tmp_path / "staging",
    )
    split, patches = catalog.load("dataset_split"), catalog.load("patch_manifest")
    images = sorted(p.stem for p in (tmp_path / "images").glob("*.tif"))
    assert sorted(split["image_id"]) == images and len(images) == 8
    assert (split.groupby("scene_id")["split"].nunique() == 1).all()
    per_image = len(patch_grid(64, 64, GRID.patch_size, GRID.overlap))
    assert patches.groupby("image_id").size().to_dict() == dict.fromkeys(images, per_image)


def test_merged_masks_feed_the_statistics(raw, ingested, exports, tmp_path):
    images_dir, manifest, _ = ingested
    tail = (
        stage_pipelines()["dataset"]
        .from_nodes("dataset.annotation.merge_annotations")
        .to_nodes("dataset.stats.compute_dataset_stats")
    )
    assert {node.name for node in tail.nodes} == {
        "dataset.annotation.merge_annotations",
        "dataset.stats.compute_dataset_stats",
    }
    catalog = run_pipeline(
        tail,
        {
            "corrected_exports": DirectoryDataset(str(exports), read_only=True),
            "image_manifest": manifest,
            "uhr_images": DirectoryDataset(str(images_dir)),
            "params:tiling": GRID,
            "params:annotation": AnnotationParams(),
            "params:dataset_stats": DatasetStatsParams(region_size=32, regions_per_image=1),
            "params:runtime": RUNTIME,
            "masks": DirectoryDataset(str(tmp_path / "masks")),
        },
        tmp_path / "staging",
    )
    truth = [truth_of(raw[1], image) for image in manifest.to_dict("records")]
    counts = sum(np.bincount(labels.ravel(), minlength=len(URUR_CLASSES)) for labels in truth)
    assert catalog.load("dataset_class_stats")["pixels"].tolist() == counts.tolist()
    assert catalog.load("annotation_qa")["patches_found"].tolist() == [9] * len(manifest)
