"""Run one Kedro pipeline (or a slice) on an in-memory catalog, as Kedro's starters test theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner


def run_pipeline(pipeline: Pipeline, datasets: dict[str, Any], staging: Path) -> DataCatalog:
    """Run ``pipeline`` with ``SequentialRunner``; the catalog, to load its outputs from.

    A value of ``datasets`` that is not a dataset is an input held in a ``MemoryDataset``; outputs
    not named in ``datasets`` are kept in memory. Stages build their folders under ``staging``.
    """
    catalog = DataCatalog(
        {
            name: data if isinstance(data, AbstractDataset) else MemoryDataset(data)
            for name, data in datasets.items()
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("URUR_STAGING_DIR", str(staging))
        SequentialRunner().run(pipeline, catalog)
    return catalog
