from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from urur.config import SECTIONS, ConfigError, validate_parameters

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def _base_params() -> dict:
    params: dict = {}
    for path in sorted(CONF.glob("parameters_*.yml")):
        params.update(yaml.safe_load(path.read_text()))
    return params


def test_every_parameters_file_validates_and_has_a_section() -> None:
    params = _base_params()
    validated = validate_parameters(params)
    assert set(validated) == set(SECTIONS)
    assert validated["tiling"].patch_size == 1000 and validated["tiling"].overlap == 120
    assert validated["split"].ratios == (0.7, 0.1, 0.2)


def test_errors_name_the_key_and_the_file() -> None:
    params = _base_params()
    params["tiling"] = {"patch_size": 100, "overlap": 100}
    params["split"] = {"ratios": [0.5, 0.5, 0.5], "seed": 0}
    params["synthetic"] = {**params["synthetic"], "scene_sise": 10}
    with pytest.raises(ConfigError) as info:
        validate_parameters(params)
    message = str(info.value)
    assert "overlap (100) must be smaller than patch_size (100)" in message
    assert "parameters_tiling.yml" in message
    assert "sum to 1" in message and "parameters_split.yml" in message
    assert "synthetic.scene_sise" in message
