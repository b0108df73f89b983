"""Kedro datasets for this project: folders of rasters, tables and metrics, written atomically.

UHR stages produce folders of many large files, too big to pass through memory. A node builds
its output folder in a staging directory (``urur.io.atomic.staging_directories``) and returns
the staging path; :class:`DirectoryDataset` publishes it in one rename, so a failed run never
leaves a half-written folder and DVC sees whole outputs only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from urur.io.atomic import atomic_path, publish_directory


def _missing_input(path: Path, kind: str) -> DatasetError:
    return DatasetError(
        f"{kind} '{path}' does not exist. Run the stage that produces it first "
        "(`kedro run` for the whole chain, or `dvc repro`), or point the catalog entry at your data."
    )


class DirectoryDataset(AbstractDataset[Path, Path]):
    """A folder of files; loads as its path, saves by publishing a finished staging folder."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        if not self._path.is_dir():
            raise _missing_input(self._path, "Folder")
        return self._path

    def save(self, data: Path) -> None:
        staging = Path(data)
        if not staging.is_dir():
            raise DatasetError(f"expected a staging folder to publish as '{self._path}', got '{staging}'")
        publish_directory(staging, self._path)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class TableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A table as Parquet (``.parquet``) or CSV (``.csv``), chosen by the file's suffix."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        if self._filepath.suffix not in {".parquet", ".csv"}:
            raise DatasetError(f"'{filepath}': a table must end in .parquet or .csv")
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        if not self._filepath.is_file():
            raise _missing_input(self._filepath, "Table")
        if self._filepath.suffix == ".csv":
            return pd.read_csv(self._filepath)
        return pd.read_parquet(self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath) as tmp:
            if self._filepath.suffix == ".csv":
                data.to_csv(tmp, index=False)
            else:
                data.to_parquet(tmp, index=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class JSONDataset(AbstractDataset[dict, dict]):
    """A JSON document with sorted keys, e.g. metrics that ``dvc metrics show`` reads."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._filepath.is_file():
            raise _missing_input(self._filepath, "File")
        return json.loads(self._filepath.read_text())

    def save(self, data: dict) -> None:
        with atomic_path(self._filepath) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
