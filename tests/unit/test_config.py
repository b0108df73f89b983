from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from urur.config import (
    AnnotationParams,
    DatasetStatsParams,
    IngestionParams,
    RuntimeParams,
    SplitParams,
    SyntheticAnnotatorsParams,
    SyntheticParams,
    TilingParams,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
MODELS = {
    "synthetic": SyntheticParams,
    "synthetic_annotators": SyntheticAnnotatorsParams,
    "ingestion": IngestionParams,
    "tiling": TilingParams,
    "annotation": AnnotationParams,
    "split": SplitParams,
    "dataset_stats": DatasetStatsParams,
    "runtime": RuntimeParams,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameters_file_validates(name: str) -> None:
    section = yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())[name]
    MODELS[name].model_validate(section)


def test_errors_name_the_key_and_the_file() -> None:
    with pytest.raises(ValidationError, match=r"(?s)parameters_tiling\.yml.*overlap \(100\) must be smaller"):
        TilingParams.model_validate({"patch_size": 100, "overlap": 100})
    with pytest.raises(ValidationError, match=r"(?s)parameters_split\.yml.*sum to 1"):
        SplitParams.model_validate({"ratios": [0.5, 0.5, 0.5]})
    with pytest.raises(ValidationError, match=r"(?s)parameters_synthetic\.yml.*scene_sise"):
        SyntheticParams.model_validate({"scene_sise": 10})


def test_workers_is_a_runtime_setting_no_stage_lists() -> None:
    """Changing workers must not rerun DVC stages: it lives only in parameters_runtime.yml."""
    with pytest.raises(ValidationError, match="workers"):
        TilingParams.model_validate({"workers": 2})
    dvc = yaml.safe_load((CONF.parents[1] / "dvc.yaml").read_text())
    listed = [next(iter(p)) for stage in dvc["stages"].values() for p in stage.get("params", [])]
    assert listed and not [p for p in listed if "runtime" in p]
