"""Kedro hooks: validate parameters before any node runs; say where the outputs went."""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.framework.hooks import hook_impl

from urur.config import validate_parameters

log = logging.getLogger(__name__)


class ValidateParametersHook:
    """A typo in a parameters file fails in seconds, not after an hour of ingestion."""

    @hook_impl
    def after_context_created(self, context) -> None:
        validate_parameters(context.params)


class OutputSummaryHook:
    """After a run, name every dataset it wrote and where, so users know where to look."""

    def __init__(self) -> None:
        self._catalog = None
        self._saved: list[str] = []

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog, self._saved = catalog, []

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        if dataset_name not in self._saved:
            self._saved.append(dataset_name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        for name in self._saved:
            description = self._catalog[name]._describe() if self._catalog is not None else {}
            location = description.get("path") or description.get("filepath")
            if location:
                log.info("Output %s: %s", name, _relative(location))


def _relative(location: str) -> str:
    path = Path(location)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
