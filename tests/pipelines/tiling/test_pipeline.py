"""The ``tiling`` pipeline: every UHR image -> overlapping annotation patches and their manifest."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import GRID, IMAGE_SIZE, RUNTIME
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.datasets import DirectoryDataset
from urur.io.layout import image_path
from urur.io.raster import read_raster
from urur.io.stamp import StaleOutputError
from urur.pipelines.tiling import create_pipeline


def _tile(images_dir, manifest, tmp_path):
    return run_pipeline(
        create_pipeline(),
        {
            "uhr_images": DirectoryDataset(str(images_dir)),
            "image_manifest": manifest,
            "params:tiling": GRID,
            "params:runtime": RUNTIME,
            "annotation_patches": DirectoryDataset(str(tmp_path / "patches")),
        },
        tmp_path / "staging",
    )


def test_every_patch_is_its_window_of_the_image(ingested, tmp_path):
    images_dir, manifest, _ = ingested
    patches = _tile(images_dir, manifest, tmp_path).load("patch_manifest")
    windows = patch_grid(IMAGE_SIZE, IMAGE_SIZE, GRID.patch_size, GRID.overlap)
    assert len(windows) == 9 and len(patches) == len(manifest) * len(windows)
    for image_id in manifest["image_id"]:
        image = read_raster(image_path(images_dir, image_id))
        rows = patches[patches["image_id"] == image_id].set_index("patch_id")
        assert list(rows.index) == [patch_id(image_id, w) for w in windows]
        for window in windows:
            row = rows.loc[patch_id(image_id, window)]
            assert (row["row"], row["col"], row["height"], row["width"]) == (window.row, window.col, 32, 32)
            np.testing.assert_array_equal(
                read_raster(tmp_path / "patches" / row["path"]), image[window.slices]
            )


def test_images_of_another_run_than_the_manifest_are_refused(ingested, tmp_path):
    images_dir, manifest, _ = ingested
    other = manifest.assign(checksum=manifest["checksum"].str[::-1])
    with pytest.raises(
        StaleOutputError, match=r"was written by another run .*kedro run --pipelines ingestion"
    ):
        _tile(images_dir, other, tmp_path)
    assert not (tmp_path / "patches").exists()
