"""The ``split`` pipeline: every image to train, val or test, whole scenes together."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.kedro_runs import run_pipeline
from urur.config import SplitParams
from urur.dataset.split import split_images
from urur.pipelines.split import create_pipeline

# Eight scenes of two images each in two cities.
MANIFEST = pd.DataFrame(
    {
        "image_id": [f"s{scene}_{k}" for scene in range(8) for k in range(2)],
        "scene_id": [f"s{scene}" for scene in range(8) for _ in range(2)],
        "city": [f"c{scene % 2}" for scene in range(8) for _ in range(2)],
    }
)


def _split(params: SplitParams, tmp_path) -> pd.DataFrame:
    catalog = run_pipeline(create_pipeline(), {"image_manifest": MANIFEST, "params:split": params}, tmp_path)
    return catalog.load("dataset_split")


def test_images_are_split_by_scene_in_the_ratios_and_the_seed_decides(tmp_path):
    params = SplitParams(ratios=(0.5, 0.25, 0.25), seed=3)
    table = _split(params, tmp_path)
    assert table["image_id"].tolist() == MANIFEST["image_id"].tolist()
    assert table["split"].value_counts().to_dict() == {"train": 8, "val": 4, "test": 4}
    assert (table.groupby("scene_id")["split"].nunique() == 1).all()  # no scene in two splits
    pd.testing.assert_frame_equal(table, split_images(MANIFEST, ratios=params.ratios, seed=params.seed))
    others = [_split(params.model_copy(update={"seed": seed}), tmp_path)["split"] for seed in range(4)]
    assert any((split != table["split"]).any() for split in others)


def test_a_split_without_training_images_is_refused(tmp_path):
    bad = SplitParams.model_construct(ratios=(0.0, 0.5, 0.5), seed=0)
    with pytest.raises(ValueError, match=r"positive train ratio, got \[0\.0, 0\.5, 0\.5\]"):
        _split(bad, tmp_path)
