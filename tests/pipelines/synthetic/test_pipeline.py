"""The ``synthetic`` pipeline: raw scenes and their truth, published as two folders."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import RUNTIME
from urur.classes import URUR_CLASSES
from urur.config import SyntheticParams
from urur.io.datasets import DirectoryDataset
from urur.io.raster import read_raster
from urur.pipelines.synthetic import create_pipeline
from urur.synthetic import generate_scenes

PARAMS = SyntheticParams(num_cities=2, scenes_per_city=2, scene_size=64, seed=5, image_format="png")


def _run(tmp_path, params: SyntheticParams):
    return run_pipeline(
        create_pipeline(),
        {
            "params:synthetic": params,
            "params:runtime": RUNTIME,
            "synthetic_scenes": DirectoryDataset(str(tmp_path / "scenes")),
            "synthetic_truth": DirectoryDataset(str(tmp_path / "truth")),
        },
        tmp_path / "staging",
    )


def test_scenes_and_truth_are_the_librarys_for_the_same_parameters(tmp_path):
    _run(tmp_path, PARAMS)
    scenes, truth = tmp_path / "scenes", tmp_path / "truth"
    table = pd.read_csv(scenes / "scenes.csv")
    assert len(table) == 4 and table["city"].nunique() == 2
    assert sorted(p.name for p in scenes.iterdir()) == sorted([*table["file"], "scenes.csv"])
    assert all(name.endswith(".png") for name in table["file"])
    for scene in table["scene_id"]:
        labels = read_raster(truth / f"{scene}.tif")
        assert labels.shape == (64, 64) and set(labels.flat) <= set(range(len(URUR_CLASSES)))
    # Published by rename: nothing is left in staging.
    assert list((tmp_path / "staging").iterdir()) == []
    # Every parameter reached the library: its own call gives the same bytes.
    generate_scenes(
        tmp_path / "lib" / "scenes", tmp_path / "lib" / "truth", workers=1,
        **PARAMS.model_dump(include={"num_cities", "scenes_per_city", "scene_size", "seed", "image_format"}),
    )  # fmt: skip
    for folder in ("scenes", "truth"):
        names = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "lib" / folder).iterdir())
        _, mismatch, errors = filecmp.cmpfiles(
            tmp_path / folder, tmp_path / "lib" / folder, names, shallow=False
        )
        assert mismatch == errors == []


def test_another_seed_draws_other_scenes(tmp_path):
    _run(tmp_path / "a", PARAMS)
    _run(tmp_path / "b", PARAMS.model_copy(update={"seed": 6}))
    table = pd.read_csv(tmp_path / "a" / "scenes" / "scenes.csv")
    scene = table["scene_id"][0]
    assert (
        read_raster(tmp_path / "a" / "truth" / f"{scene}.tif")
        != read_raster(tmp_path / "b" / "truth" / f"{scene}.tif")
    ).any()


def test_a_failed_run_publishes_nothing_and_leaves_no_staging(tmp_path):
    bad = SyntheticParams.model_construct(**{**PARAMS.model_dump(), "num_cities": 0})
    with pytest.raises(ValueError, match="num_cities and scenes_per_city must be at least 1, got 0 and 2"):
        _run(tmp_path, bad)
    assert not (tmp_path / "scenes").exists() and not (tmp_path / "truth").exists()
    assert list((tmp_path / "staging").iterdir()) == []
