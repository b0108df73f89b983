from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from urur.io.atomic import atomic_directory, atomic_path, staging_directories
from urur.io.datasets import DirectoryDataset, JSONDataset, TableDataset


def test_directory_dataset_publishes_staging_and_replaces_old(tmp_path: Path) -> None:
    target = tmp_path / "out" / "images"
    ds = DirectoryDataset(path=str(target))
    assert not ds.exists()
    with pytest.raises(DatasetError, match=r"does not exist\. Run the stage"):
        ds.load()
    for content in ("first", "second"):
        with staging_directories("images") as (staging,):
            (staging / "a.txt").write_text(content)
        ds.save(staging)
        assert not staging.exists()
        assert ds.load() == target
        assert (target / "a.txt").read_text() == content
    assert sorted(p.name for p in target.parent.iterdir()) == ["images"]


def test_failed_stage_leaves_previous_output_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "masks"
    target.mkdir()
    (target / "keep.png").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "half.png").write_text("partial")
        raise RuntimeError("node failed")
    assert [p.name for p in tmp_path.iterdir()] == ["masks"]
    assert (target / "keep.png").read_text() == "old"
    with pytest.raises(RuntimeError), staging_directories("x", "y") as dirs:
        raise RuntimeError("node failed")
    assert not any(d.exists() for d in dirs)


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_dataset_round_trip(tmp_path: Path, suffix: str) -> None:
    df = pd.DataFrame({"image_id": ["a", "b"], "height": [5120, 1024]})
    ds = TableDataset(filepath=str(tmp_path / f"t{suffix}"))
    ds.save(df)
    pd.testing.assert_frame_equal(ds.load(), df)


def test_table_dataset_rejects_unknown_suffix() -> None:
    with pytest.raises(DatasetError, match=r"must end in \.parquet or \.csv"):
        TableDataset(filepath="t.xlsx")


def test_json_dataset_round_trip(tmp_path: Path) -> None:
    ds = JSONDataset(filepath=str(tmp_path / "m.json"))
    ds.save({"b": 1, "a": 0.5})
    assert ds.load() == {"a": 0.5, "b": 1}
    assert (tmp_path / "m.json").read_text().startswith('{\n  "a"')
