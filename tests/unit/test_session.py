"""The project's ``kedro run``: a pipeline tagged ``build_if_missing`` (``train_urur``) builds its
dataset only where it is missing and always trains; ``__default__`` rebuilds everything; the
runner stays Kedro's, so kedro-viz records the run.

Each test runs the project's own command in this process on the four-node project of
:mod:`tests.support.toy_project` (``train`` stands for ``train_urur``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro_viz.integrations.kedro.run_hooks import pipeline_run_hook

from tests.support.toy_project import RAW, kedro_run, make_toy_project


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(make_toy_project(tmp_path))
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return tmp_path


def _ran(root: Path, *args: str) -> list[str]:
    result, ran = kedro_run(root, *args)
    assert result.exit_code == 0, result.output
    return ran


def test_the_dataset_is_built_where_missing_and_the_model_always_trains(root: Path) -> None:
    assert _ran(root, "--pipelines=train") == ["build", "derive", "train"]
    assert _ran(root, "--pipelines=train") == ["train"]  # --params changed: it must retrain
    (root / "data/03_primary/derived.json").unlink()
    assert _ran(root, "--pipelines=train") == ["derive", "train"]  # Kedro's missing-outputs rule
    (root / "data/02_intermediate/dataset_source.json").unlink()  # built before sources were recorded
    assert _ran(root, "--pipelines=train") == ["build", "derive", "train"]  # whole, not build alone
    assert _ran(root, "--pipelines=train", "--tags", "build_if_missing") == []  # nothing left to run
    assert _ran(root, "--pipelines=train", "--only-missing-outputs") == []  # Kedro's rule on it all
    assert _ran(root) == ["build", "derive", "train"]  # __default__: everything, every time
    assert _ran(root) == ["build", "derive", "train"]


def test_a_dataset_built_from_another_source_is_refused_before_anything_runs(root: Path) -> None:
    _ran(root, "--pipelines=train")
    (root / RAW / "scene2.tif").write_text("more pixels")
    result, ran = kedro_run(root, "--pipelines=train")
    assert result.exit_code == 1 and ran == []
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: DatasetSourceError: ")
    assert "(1 files" in errors[0] and "(2 files" in errors[0]
    assert _ran(root) == ["build", "derive", "train"]  # `kedro run` rebuilds it


def test_kedro_viz_records_the_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kedro-viz tracks a run only on Kedro's ``SequentialRunner`` ("Workflow tracking is disabled
    for non-sequential runners"), and only a whole one (no pipeline, tag or node named)."""
    monkeypatch.setattr(pipeline_run_hook, "_should_collect_events", False)  # a module-wide hook:
    monkeypatch.setattr(pipeline_run_hook, "_events", [])  # what this run sets, undone after it
    assert _ran(root) == ["build", "derive", "train"]
    events = json.loads((root / ".viz/kedro_pipeline_events.json").read_text())
    assert (events[0]["event"], events[-1]["event"]) == ("before_pipeline_run", "after_pipeline_run")
    assert {event.get("node") for event in events} >= {"build", "derive", "train"}
