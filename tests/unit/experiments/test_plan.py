"""The comparison's plan: the split every run shares (compare.split) and its test-city check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from urur.config import ConfigError, IngestionParams, SplitParams, SyntheticParams
from urur.dataset.split import split_images
from urur.experiments.plan import comparison_split
from urur.experiments.tables import CompareParams
from urur.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[3]
TABLE4 = [{"name": "WSDNet", "model": "wsdnet"}]


def manifest() -> pd.DataFrame:
    """4 cities x 2 scenes x 4 images, as the demo generator lays them out."""
    rows = [
        {"image_id": f"c{c}_s{s}_i{i}", "scene_id": f"c{c}_s{s}", "city": f"city{c}"}
        for c in range(4)
        for s in range(2)
        for i in range(4)
    ]
    return pd.DataFrame(rows)


def params(**values: object) -> CompareParams:
    return CompareParams.model_validate({"table4": TABLE4, **values})


def test_without_a_split_of_its_own_the_comparison_uses_the_datasets() -> None:
    dataset_split = split_images(manifest(), ratios=(0.5, 0.25, 0.25))
    assert comparison_split(dataset_split, params()) is dataset_split


def test_its_own_split_is_the_datasets_rules_with_its_ratios_and_tests_on_two_cities() -> None:
    dataset_split = split_images(manifest(), ratios=(0.7, 0.1, 0.2))
    assert dataset_split.loc[dataset_split["split"] == "test", "city"].nunique() == 1  # one scene
    compare = params(split={"ratios": [0.625, 0.125, 0.25], "seed": 0}, min_test_cities=2)
    split = comparison_split(dataset_split, compare)
    expected = split_images(manifest(), ratios=(0.625, 0.125, 0.25), seed=0)
    pd.testing.assert_frame_equal(split, expected)
    test = split[split["split"] == "test"]
    assert (len(test), test["scene_id"].nunique(), test["city"].nunique()) == (8, 2, 2)
    assert split["split"].value_counts().to_dict() == {"train": 20, "test": 8, "val": 4}


def test_a_test_split_of_too_few_cities_is_refused_with_its_fix() -> None:
    dataset_split = split_images(manifest(), ratios=(0.7, 0.1, 0.2))
    with pytest.raises(ConfigError) as error:
        comparison_split(dataset_split, params(min_test_cities=2))
    assert str(error.value) == (
        "conf/base/parameters_compare.yml: the dataset's split (data/05_model_input/split.csv) puts 4 "
        f"test image(s) of 1 city ({dataset_split.loc[dataset_split['split'] == 'test', 'city'].iloc[0]}) "
        "in the comparison's test split, and compare.min_test_cities is 2; give compare.split a larger "
        "test ratio or another seed"
    )
    own = params(split={"ratios": [0.7, 0.1, 0.2], "seed": 0}, min_test_cities=3)
    with pytest.raises(ConfigError, match=r"compare.split \(ratios \[0.7, 0.1, 0.2\], seed 0\) puts 4 "):
        comparison_split(dataset_split, own)


def test_without_a_city_column_all_images_are_one_city() -> None:
    split = pd.DataFrame({"image_id": ["a", "b", "c"], "split": ["train", "val", "test"]})
    assert comparison_split(split, params()) is split
    with pytest.raises(ConfigError, match=r"1 test image\(s\) of 1 city \(one city: no city column\)"):
        comparison_split(split, params(min_test_cities=2))
    no_test = split.assign(split=["train", "val", "val"])
    with pytest.raises(ConfigError, match=r"0 test image\(s\) of 0 cities \(no test image\)"):
        comparison_split(no_test, params())


@pytest.mark.parametrize(("env", "min_side"), [("base", 2048), ("demo_uhr", 4096)])
def test_each_demo_regime_tests_on_images_of_its_size_from_at_least_two_cities(
    env: str, min_side: int
) -> None:
    # The environment's parameters as Kedro resolves them (conf/base with conf/<env> over it).
    loader = OmegaConfigLoader(conf_source=str(ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    parameters = loader["parameters"]
    synthetic = SyntheticParams.model_validate(parameters["synthetic"])
    side = synthetic.scene_size // IngestionParams.model_validate(parameters["ingestion"]).split_factor
    assert side >= min_side
    # The generator's layout: scenes_per_city scenes in each city, split_factor² images per scene.
    images = [
        {"image_id": f"{scene}_{i}", "scene_id": scene, "city": f"city{city}"}
        for city in range(synthetic.num_cities)
        for scene in (f"city{city}_scene{s}" for s in range(synthetic.scenes_per_city))
        for i in range(synthetic.scene_size // side)
    ]
    dataset_split = split_images(
        pd.DataFrame(images), **SplitParams.model_validate(parameters["split"]).model_dump()
    )
    compare = CompareParams.model_validate(parameters["compare"])
    test = comparison_split(dataset_split, compare).query("split == 'test'")
    assert compare.min_test_cities >= 2 and test["city"].nunique() >= 2
