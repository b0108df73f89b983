"""The ``dataset_stats`` pipeline: the dataset's Table 1 row and per-class counts from the masks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import IMAGE_SIZE, RUNTIME, truth_of
from urur.classes import URUR_CLASSES
from urur.config import DatasetStatsParams
from urur.io.datasets import DirectoryDataset
from urur.io.stamp import StaleOutputError
from urur.pipelines.dataset_stats import create_pipeline

PARAMS = DatasetStatsParams(region_size=32, regions_per_image=2, min_instance_pixels=2, seed=0)


def _stats(masks_dir, manifest, tmp_path):
    catalog = run_pipeline(
        create_pipeline(),
        {
            "masks": DirectoryDataset(str(masks_dir)),
            "image_manifest": manifest,
            "params:dataset_stats": PARAMS,
            "params:runtime": RUNTIME,
        },
        tmp_path,
    )
    return catalog.load("dataset_stats"), catalog.load("dataset_class_stats")


def test_counts_are_those_of_the_masks(raw, ingested, annotated, tmp_path):
    _, manifest, _ = ingested
    stats, per_class = _stats(annotated[0], manifest, tmp_path)
    truth = [truth_of(raw[1], image) for image in manifest.to_dict("records")]
    counts = sum(np.bincount(labels.ravel(), minlength=len(URUR_CLASSES)) for labels in truth)
    assert per_class["class_name"].tolist() == list(URUR_CLASSES)
    assert per_class["pixels"].tolist() == counts.tolist()
    images_with = [sum((labels == value).any() for labels in truth) for value in range(len(URUR_CLASSES))]
    assert per_class["images_with_class"].tolist() == images_with
    assert stats["images"] == 8 and stats["cities"] == 2 and stats["pixels"] == 8 * IMAGE_SIZE**2
    assert (stats["resolution_height"], stats["resolution_width"]) == (IMAGE_SIZE, IMAGE_SIZE)
    assert stats["regions_sampled"] == 8 * PARAMS.regions_per_image
    assert stats["context_richness"] > 0


def test_masks_of_another_run_than_the_manifest_are_refused(ingested, annotated, tmp_path):
    _, manifest, _ = ingested
    other = manifest.assign(checksum=manifest["checksum"].str[::-1])
    with pytest.raises(
        StaleOutputError, match=r"was written by another run .*kedro run --pipelines annotation"
    ):
        _stats(annotated[0], other, tmp_path)
