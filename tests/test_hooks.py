from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from urur.config import ConfigError
from urur.hooks import OutputSummaryHook, ValidateParametersHook
from urur.io.datasets import DirectoryDataset, JSONDataset


def test_output_summary_names_each_saved_dataset_once(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = {
        "masks": DirectoryDataset(path=str(tmp_path / "data" / "masks")),
        "stats": JSONDataset(filepath=str(tmp_path / "data" / "stats.json")),
    }
    hook = OutputSummaryHook()
    hook.after_catalog_created(catalog)
    for name in ("stats", "masks", "stats"):
        hook.after_dataset_saved(name)
    with caplog.at_level(logging.INFO, logger="urur.hooks"):
        hook.after_pipeline_run()
    assert caplog.messages == ["Output stats: data/stats.json", "Output masks: data/masks"]


def test_invalid_parameters_stop_the_run_before_any_node() -> None:
    context = SimpleNamespace(params={"tiling": {"patch_size": 100, "overlap": 200}})
    with pytest.raises(ConfigError, match=r"overlap \(200\) must be smaller than patch_size \(100\)"):
        ValidateParametersHook().after_context_created(context)
