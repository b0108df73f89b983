"""The ``ingestion`` pipeline: raw scenes -> a stamped folder of UHR images, their manifest and the
record of the source folder."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import IMAGE_SIZE, RUNTIME, SPLIT_FACTOR
from urur.config import IngestionParams
from urur.dataset.scene_table import IngestionError
from urur.io.datasets import DirectoryDataset
from urur.io.layout import image_path
from urur.io.raster import read_raster
from urur.io.stamp import check_stamp
from urur.pipelines.ingestion import create_pipeline


def test_each_scene_is_cut_into_its_quadrants_and_the_folder_is_stamped(raw, ingested):
    scenes_dir, _ = raw
    images_dir, manifest, source = ingested
    table = pd.read_csv(scenes_dir / "scenes.csv")
    assert len(manifest) == len(table) * SPLIT_FACTOR**2 == 8
    assert (manifest[["height", "width"]] == IMAGE_SIZE).all().all()
    for row in table.itertuples():
        scene = read_raster(scenes_dir / row.file)
        images = manifest[manifest["scene_id"] == row.scene_id]
        assert sorted(zip(images["row_off"], images["col_off"], strict=True)) == [
            (0, 0),
            (0, 64),
            (64, 0),
            (64, 64),
        ]
        for image in images.itertuples():
            pixels = read_raster(image_path(images_dir, image.image_id))
            window = scene[
                image.row_off : image.row_off + IMAGE_SIZE, image.col_off : image.col_off + IMAGE_SIZE
            ]
            np.testing.assert_array_equal(pixels, window)  # 8-bit scenes are kept as they are
    check_stamp(images_dir, manifest, producer="ingestion")  # the folder goes with this manifest
    assert source["environment"] == "base" and source["files"] == len(table) + 1  # + scenes.csv


def test_a_scene_table_naming_a_missing_file_is_refused_and_nothing_published(raw, tmp_path):
    scenes = tmp_path / "scenes"
    shutil.copytree(raw[0], scenes)
    victim = pd.read_csv(scenes / "scenes.csv")["file"][1]
    (scenes / victim).unlink()
    with pytest.raises(
        IngestionError, match=rf"scenes\.csv lists files missing from {scenes}: {victim} \(the folder holds "
    ):
        run_pipeline(
            create_pipeline(),
            {
                "raw_scenes": DirectoryDataset(str(scenes), read_only=True),
                "params:ingestion": IngestionParams(split_factor=SPLIT_FACTOR),
                "params:runtime": RUNTIME,
                "params:environment": "base",
                "uhr_images": DirectoryDataset(str(tmp_path / "images")),
            },
            tmp_path / "staging",
        )
    assert not (tmp_path / "images").exists() and not any(tmp_path.glob("staging/*"))


def test_a_missing_raw_folder_says_it_holds_the_users_data(tmp_path):
    with pytest.raises(DatasetError, match=r"holds data you bring .* create it and put your files there"):
        run_pipeline(
            create_pipeline(),
            {
                "raw_scenes": DirectoryDataset(str(tmp_path / "nowhere"), read_only=True),
                "params:ingestion": IngestionParams(),
                "params:runtime": RUNTIME,
                "params:environment": "base",
            },
            tmp_path / "staging",
        )
