from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from urur.config import ConfigError
from urur.hooks import CrossParameterHook, OutputSummaryHook, RunSafetyHook
from urur.io.atomic import staging_root
from urur.io.datasets import DirectoryDataset, JSONDataset
from urur.io.lock import RunLockedError


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


def _context(root: Path, params: dict, data_source: str = "auto") -> SimpleNamespace:
    loader = {"parameters": params, "globals": {"data_source": data_source}}
    return SimpleNamespace(config_loader=loader, project_path=root)


def test_split_factor_not_dividing_the_synthetic_scenes_fails_before_any_work(tmp_path: Path) -> None:
    params = {"synthetic": {"scene_size": 4096}, "ingestion": {"split_factor": 3}}
    with pytest.raises(ConfigError, match=r"split_factor \(3\) does not divide .*scene_size \(4096\)"):
        CrossParameterHook().after_context_created(_context(tmp_path, params))
    # With a user's data the synthetic scenes are not cut, so the same parameters are fine.
    CrossParameterHook().after_context_created(_context(tmp_path, params, data_source="user"))


def test_a_second_run_stops_naming_the_run_that_holds_the_lock(tmp_path: Path) -> None:
    first, second = RunSafetyHook(), RunSafetyHook()
    for hook in (first, second):
        hook.after_context_created(SimpleNamespace(project_path=tmp_path))
    first.before_pipeline_run(catalog={})
    assert staging_root() == tmp_path / "data" / ".staging"
    holder = r"another run is using .*data: pid \d+ \(`.*`, started .*\)\. Wait"
    with pytest.raises(RunLockedError, match=holder):
        second.before_pipeline_run(catalog={})
    first.after_pipeline_run()
    assert not (tmp_path / "data" / ".staging").exists()
    second.before_pipeline_run(catalog={})
    second.on_pipeline_error()


def test_run_start_cleans_temporaries_of_outputs_but_never_beside_a_users_folder(tmp_path: Path) -> None:
    raw, primary = tmp_path / "data/01_raw", tmp_path / "data/03_primary"
    (raw / ".scenes.old-mine").mkdir(parents=True)  # a user's own hidden backup, named like ours
    (primary / ".masks.staging-abc").mkdir(parents=True)
    catalog = {
        "raw_scenes": DirectoryDataset(path=str(raw / "scenes"), read_only=True),
        "masks": DirectoryDataset(path=str(primary / "masks")),
    }
    hook = RunSafetyHook()
    hook.after_context_created(SimpleNamespace(project_path=tmp_path))
    hook.before_pipeline_run(catalog=catalog)
    hook.after_pipeline_run()
    assert [p.name for p in raw.iterdir()] == [".scenes.old-mine"]
    assert list(primary.iterdir()) == []


def test_torchrun_ranks_other_than_zero_leave_the_lock_to_rank_zero(tmp_path: Path, monkeypatch) -> None:
    rank0, rank1 = RunSafetyHook(), RunSafetyHook()
    for hook in (rank0, rank1):
        hook.after_context_created(SimpleNamespace(project_path=tmp_path))
    rank0.before_pipeline_run(catalog={})
    monkeypatch.setenv("RANK", "1")
    rank1.before_pipeline_run(catalog={})  # no RunLockedError: rank 0 holds the lock and writes
    rank1.after_pipeline_run()
    monkeypatch.delenv("RANK")
    third = RunSafetyHook()  # rank 1 released nothing: rank 0 still holds the lock
    third.after_context_created(SimpleNamespace(project_path=tmp_path))
    with pytest.raises(RunLockedError, match=rf"another run is using {tmp_path / 'data'}: .*Wait for it"):
        third.before_pipeline_run(catalog={})
    rank0.after_pipeline_run()
