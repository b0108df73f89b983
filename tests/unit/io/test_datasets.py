from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from urur.io.atomic import (
    atomic_directory,
    atomic_path,
    clean_stale,
    set_staging_root,
    staging_directories,
)
from urur.io.datasets import CSVDataset, DirectoryDataset, JSONDataset, ParquetDataset


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
    with pytest.raises(RuntimeError, match=r"^node failed$"), atomic_directory(target) as staging:
        (staging / "half.png").write_text("partial")
        raise RuntimeError("node failed")
    assert [p.name for p in tmp_path.iterdir()] == ["masks"]
    assert (target / "keep.png").read_text() == "old"
    with pytest.raises(RuntimeError, match=r"^node failed$"), staging_directories("x", "y") as dirs:
        raise RuntimeError("node failed")
    assert not any(d.exists() for d in dirs)


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    with pytest.raises(ValueError, match=r"^boom$"), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("dataset", "suffix"), [(CSVDataset, ".csv"), (ParquetDataset, ".parquet")])
def test_table_datasets_round_trip(tmp_path: Path, dataset: type, suffix: str) -> None:
    df = pd.DataFrame({"image_id": ["a", "b"], "height": [5120, 1024]})
    ds = dataset(filepath=str(tmp_path / f"t{suffix}"), save_args={"index": False})
    ds.save(df)
    pd.testing.assert_frame_equal(ds.load(), df)
    assert [p.name for p in tmp_path.iterdir()] == [f"t{suffix}"]


def test_failed_table_save_keeps_the_previous_file_and_leaves_no_partial(tmp_path: Path) -> None:
    ds = ParquetDataset(filepath=str(tmp_path / "manifest.parquet"))
    ds.save(pd.DataFrame({"a": [1]}))
    before = (tmp_path / "manifest.parquet").read_bytes()
    with pytest.raises(DatasetError, match=r"Failed while saving data to dataset .*ParquetDataset"):
        ds.save(pd.DataFrame({"a": [object()]}))  # pyarrow cannot write it: fails mid-save
    assert (tmp_path / "manifest.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.parquet"]


def test_json_dataset_round_trip(tmp_path: Path) -> None:
    ds = JSONDataset(filepath=str(tmp_path / "m.json"), save_args={"indent": 2, "sort_keys": True})
    ds.save({"b": 1, "a": 0.5})
    assert ds.load() == {"a": 0.5, "b": 1}
    assert (tmp_path / "m.json").read_text().startswith('{\n  "a"')


def test_read_only_folder_refuses_to_be_written(tmp_path: Path) -> None:
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "mine.tif").write_bytes(b"user data")
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(DatasetError, match="holds data a user brought"):
        DirectoryDataset(path=str(scenes), read_only=True).save(staging)
    assert (scenes / "mine.tif").read_bytes() == b"user data"


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_respect_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "t.csv") as tmp:
            tmp.write_text("a\n")
        with atomic_directory(tmp_path / "masks") as staging:
            (staging / "m.png").write_bytes(b"x")
        set_staging_root(tmp_path / "staging")
        with staging_directories("images") as (images,):
            pass
    finally:
        os.umask(old)
        set_staging_root(None)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "masks").stat().st_mode) == dir_mode
    assert stat.S_IMODE(images.stat().st_mode) == dir_mode


def test_clean_stale_removes_only_temporaries_of_outputs_and_restores_a_lost_output(tmp_path: Path) -> None:
    staging = tmp_path / ".staging"
    (staging / "urur-images-abc").mkdir(parents=True)
    folder = tmp_path / "02_intermediate"
    folder.mkdir()
    # Killed between the two renames of a publish: the previous images are only under .old-*.
    (folder / ".images.old-x1").mkdir()
    (folder / ".images.old-x1" / "a.tif").write_text("previous")
    (folder / ".images.staging-y2").mkdir()
    (folder / ".image_manifest.k3.tmp.parquet").write_text("half")
    (folder / ".image_manifest.parquet.123.partial").write_text("half")
    (folder / ".notes.tmp").write_text("not ours")
    outputs = [folder / "images", folder / "image_manifest.parquet"]
    clean_stale(outputs, staging)
    assert not staging.exists()
    assert (folder / "images" / "a.tif").read_text() == "previous"
    assert sorted(p.name for p in folder.iterdir()) == [".notes.tmp", "images"]
