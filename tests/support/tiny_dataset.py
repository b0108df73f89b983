"""Sizes and settings of the tiny dataset that tests/pipelines/conftest.py builds for slice tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from urur.config import RuntimeParams, TilingParams
from urur.io.raster import read_raster
from urur.synthetic.annotators import AnnotatorHabits

RUNTIME = RuntimeParams(workers=1)
# 2 scenes of 128² (two cities) -> 8 images of 64² -> 9 patches of 32² each (overlap 8).
SCENE_SIZE, SPLIT_FACTOR = 128, 2
IMAGE_SIZE = SCENE_SIZE // SPLIT_FACTOR
GRID = TilingParams(patch_size=32, overlap=8)
# Annotators who never err: the merged masks are the truth itself.
PERFECT = AnnotatorHabits(shift_probability=0.0, dilate_probability=0.0, mislabel_probability=0.0)


def truth_of(truth_dir: Path, image: dict) -> np.ndarray:
    """The truth labels of one image (a manifest record): its window of its scene's truth raster."""
    scene = read_raster(Path(truth_dir) / f"{image['scene_id']}.tif")
    return scene[
        image["row_off"] : image["row_off"] + image["height"],
        image["col_off"] : image["col_off"] + image["width"],
    ]
