"""Kedro hooks: one run at a time, kill-safe staging, cross-parameter checks, where outputs went,
and DVC told what a run built.

Each section's parameters are validated by Kedro itself (node arguments typed with the models
of ``urur.config``); the checks here are those that span two sections.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from urur.config import RuntimeParams, check_split_divides_scene
from urur.dataset.sources import resolve_data_source
from urur.io.atomic import clean_stale, set_staging_root
from urur.io.dvc_record import KedroStage, kedro_stages, not_recorded_because, record_stages
from urur.io.lock import RunLock
from urur.parallel import set_scheduler

log = logging.getLogger(__name__)


class CrossParameterHook:
    """A split_factor that does not divide the synthetic scenes fails in seconds, not after generation."""

    @hook_impl
    def after_context_created(self, context) -> None:
        params = context.config_loader["parameters"]
        setting = context.config_loader["globals"].get("data_source", "auto")
        if resolve_data_source(setting, context.project_path) != "synthetic":
            return
        synthetic, ingestion = params.get("synthetic") or {}, params.get("ingestion") or {}
        if isinstance(synthetic.get("scene_size"), int) and isinstance(ingestion.get("split_factor"), int):
            check_split_divides_scene(synthetic["scene_size"], max(ingestion["split_factor"], 1))


class DaskSchedulerHook:
    """Per-image stages go to the Dask cluster ``runtime.scheduler`` names, or stay local."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # context.params holds the validated model (or the raw dict where Kedro did not validate)
        address = RuntimeParams.model_validate(context.params.get("runtime") or {}).scheduler
        set_scheduler(address)
        if address:
            log.info("Per-image stages run on the Dask scheduler at %s (runtime.scheduler)", address)


class RunSafetyHook:
    """Lock the data folder for the run, stage outputs inside it, and clean what killed runs left.

    Staging lives in ``data/.staging`` (same filesystem as the outputs, so publishing is a
    rename); a run killed by SIGKILL leaves it behind and the next run removes it, with the
    hidden temporaries of every catalog output, once it holds the lock.
    """

    def __init__(self) -> None:
        self._lock: RunLock | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._data_root = Path(context.project_path) / "data"

    @hook_impl
    def before_pipeline_run(self, catalog) -> None:
        if int(os.environ.get("RANK", "0")) > 0:
            # Under torchrun every rank runs `kedro run`; rank 0 holds the lock and writes,
            # the other ranks only read the dataset and train (README: training on a cluster).
            return
        self._lock = RunLock(self._data_root)
        self._lock.acquire()
        try:
            locations = (_location(catalog[name]) for name in catalog if not name.startswith("params"))
            staging = self._data_root / ".staging"
            for path in clean_stale([Path(p) for p in locations if p], staging):
                log.warning("Removed or restored what an interrupted run left: %s", path)
        except BaseException:
            self._finish()
            raise
        set_staging_root(staging)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._finish()

    def _finish(self) -> None:
        set_staging_root(None)
        staging = self._data_root / ".staging"
        if staging.is_dir() and not any(staging.iterdir()):
            staging.rmdir()
        if self._lock is not None:
            self._lock.release()
            self._lock = None


class DvcRecordHook:
    """After a run, commit to DVC every ``dvc.yaml`` stage whose nodes all ran (:mod:`urur.io.dvc_record`).

    Also after a failed run: the stages that finished before the failure are whole.
    """

    def __init__(self) -> None:
        self._ran: set[str] = set()
        self._run_params: dict = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict) -> None:
        self._ran, self._run_params = set(), run_params

    @hook_impl
    def after_node_run(self, node) -> None:
        self._ran.add(node.name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._record()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._record()

    def _record(self) -> None:
        if not self._ran or int(os.environ.get("RANK", "0")) > 0:
            return
        root = Path(self._run_params.get("project_path") or Path.cwd())
        reason = not_recorded_because(
            root, self._run_params.get("env"), self._run_params.get("runtime_params")
        )
        if reason:
            log.info("This run's outputs are not recorded in DVC: %s", reason)
            return
        completed = [stage.name for stage in kedro_stages(root) if _stage_nodes(stage) <= self._ran]
        record_stages(root, completed)


def _stage_nodes(stage: KedroStage) -> set[str]:
    """Names of the nodes a stage's ``kedro run`` runs; a set no run completes where it names none."""
    selected = pipelines.get(stage.pipeline)
    try:
        if selected is not None and stage.tags:
            selected = selected.only_nodes_with_tags(*stage.tags)
        if selected is not None and stage.nodes:
            selected = selected.only_nodes(*stage.nodes)
    except ValueError:  # a node the stage names is not in the pipeline
        selected = None
    names = {node.name for node in selected.nodes} if selected is not None else set()
    return names or {f"<stage {stage.name} runs no node>"}


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
            location = _location(self._catalog[name]) if self._catalog is not None else None
            if location:
                log.info("Output %s: %s", name, _relative(location))


def _location(dataset) -> str | None:
    """A dataset's local path, or None for memory, remote (fsspec) and read-only (a user's) ones."""
    description = dataset._describe()
    if description.get("protocol", "file") != "file" or description.get("read_only"):
        return None
    location = description.get("path") or description.get("filepath")
    return str(location) if location else None


def _relative(location: str) -> str:
    path = Path(location)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
