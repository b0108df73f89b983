"""Kedro datasets for this project: folders of rasters, and whole-or-nothing kedro-datasets tables.

UHR stages produce folders of many large files, too big to pass through memory. A node builds
its output folder in a staging directory (``urur.io.atomic.staging_directories``) and returns
the staging path; :class:`DirectoryDataset` publishes it in one rename, so a failed run never
leaves a half-written folder and DVC sees whole outputs only.

Tables and metrics are kedro-datasets' own datasets (fsspec paths such as ``s3://`` work); the
subclasses here only make a local save whole-or-nothing: write a hidden ``.partial`` sibling,
then rename it onto the target.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_filepath_str
from kedro_datasets import json as kd_json
from kedro_datasets import matplotlib as kd_matplotlib
from kedro_datasets import pandas as kd_pandas
from kedro_datasets import text as kd_text
from matplotlib.figure import Figure

from urur.io.atomic import publish_directory


def _missing_input(path: Path, kind: str) -> DatasetError:
    return DatasetError(
        f"{kind} '{path}' does not exist. Run the stage that produces it first "
        "(`kedro run` for the whole chain, or `dvc repro`), or point the catalog entry at your data."
    )


class DirectoryDataset(AbstractDataset[Path, Path]):
    """A folder of files; loads as its path, saves by publishing a finished staging folder.

    ``read_only`` marks what a user brings (raw scenes, annotator exports): no run may replace it.
    """

    def __init__(self, path: str, read_only: bool = False, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._read_only = read_only
        self.metadata = metadata

    def load(self) -> Path:
        if not self._path.is_dir():
            if self._read_only:  # no stage produces it: the user does
                raise DatasetError(
                    f"Folder '{self._path}' does not exist. It holds data you bring (only ever read, "
                    "no stage writes it): create it and put your files there, or point the catalog "
                    "entry at your folder."
                )
            raise _missing_input(self._path, "Folder")
        return self._path

    def save(self, data: Path) -> None:
        if self._read_only:
            raise DatasetError(f"'{self._path}' holds data a user brought; no pipeline may write it")
        staging = Path(data)
        if not staging.is_dir():
            raise DatasetError(f"expected a staging folder to publish as '{self._path}', got '{staging}'")
        publish_directory(staging, self._path)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "read_only": self._read_only}


class _WholeOrNothing:
    """Mixin for a kedro-datasets file dataset: save to ``.<name>.<pid>.partial``, then rename.

    A run killed mid-save leaves the previous file intact (and a partial the next run removes).
    """

    _saving_to: PurePosixPath | None = None

    def _get_save_path(self) -> PurePosixPath:
        return self._saving_to or super()._get_save_path()  # type: ignore[misc]

    def save(self, data: Any) -> None:
        final = self._get_save_path()
        self._saving_to = final.parent / f".{final.name}.{os.getpid()}.partial"
        partial = get_filepath_str(self._saving_to, self._protocol)  # type: ignore[attr-defined]
        try:
            super().save(data)  # type: ignore[misc]
            self._fs.mv(partial, get_filepath_str(final, self._protocol))  # type: ignore[attr-defined]
        except BaseException:
            if self._fs.exists(partial):  # type: ignore[attr-defined]
                self._fs.rm(partial)  # type: ignore[attr-defined]
            raise
        finally:
            self._saving_to = None


class ParquetDataset(_WholeOrNothing, kd_pandas.ParquetDataset):
    """kedro-datasets' ``pandas.ParquetDataset``, saved whole or not at all."""


class CSVDataset(_WholeOrNothing, kd_pandas.CSVDataset):
    """kedro-datasets' ``pandas.CSVDataset``, saved whole or not at all."""


class JSONDataset(_WholeOrNothing, kd_json.JSONDataset):
    """kedro-datasets' ``json.JSONDataset``, saved whole or not at all."""


class TextDataset(_WholeOrNothing, kd_text.TextDataset):
    """kedro-datasets' ``text.TextDataset``, saved whole or not at all."""


class OptionalDataset(AbstractDataset[None, Any]):
    """Read-only view of another catalog dataset that loads as ``None`` where it does not exist yet.

    The report must also run before a model was trained: on its own it reads the model's outputs
    through entries like ``test_metrics_if_present`` and says what is missing (in a whole run it
    reads ``test_metrics`` itself: ``urur.pipelines.reporting.pipeline.after``).
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self._dataset = AbstractDataset.from_config("optional", dataset)
        self.metadata = metadata

    def load(self) -> Any:
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: None) -> None:
        raise DatasetError("an OptionalDataset only reads; save through the dataset it wraps")

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe()}


class FigureFolderDataset(kd_matplotlib.MatplotlibDataset):
    """kedro-datasets' ``matplotlib.MatplotlibDataset`` for a dict of figures, one PNG per key in a
    folder (replaced whole on save), that also loads: as ``{file stem: PNG bytes}``, which is what
    the report embeds. Figures are closed once written."""

    def __init__(self, filepath: str, **kwargs: Any) -> None:
        super().__init__(filepath=filepath, overwrite=True, **kwargs)

    def load(self) -> dict[str, bytes]:  # type: ignore[override]
        folder = Path(self._filepath)
        return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.png"))} if folder.is_dir() else {}

    def save(self, data: dict[str, Figure]) -> None:  # type: ignore[override]
        super().save({f"{name}.png": figure for name, figure in data.items()})
        for figure in data.values():
            figure.clear()
