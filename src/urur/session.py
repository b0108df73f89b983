"""The project's Kedro session (``SESSION_CLASS`` in settings.py): Kedro's own, with two additions.

**Build if missing.** ``train_urur`` (what ``make run`` runs) tags its dataset chain
``build_if_missing`` (:mod:`urur.pipeline_registry`): those nodes run only where their persistent
outputs are missing, the way ``kedro run --only-missing-outputs`` decides, while the model stages
always run (``--params`` changed: they must retrain). A dataset missing its source record
(``dataset_source``) is rebuilt from the node that writes it onwards, and a dataset built from
another source is never reused (:func:`urur.dataset.sources.check_source`). The nodes kept are
passed to Kedro's run as its ``node_names``, so the runner stays the one ``--runner`` names,
Kedro's ``SequentialRunner`` by default (kedro-viz tracks only its runs), and the hooks' run
parameters say which nodes ran. Plain ``kedro run`` (``__default__``) has no such tag and
rebuilds everything; ``--only-missing-outputs`` applies Kedro's own rule to the whole run instead.

**The environment for the registry.** ``--env`` names a folder of ``conf/`` (or a one-line error
listing them), and is also ``$KEDRO_ENV`` while the run lasts: the pipeline registry composes the
pipelines from that environment's globals (``dataset``, ``data_source``) before Kedro hands the
run its env.

The choice is made as the run starts, on the catalog Kedro builds, before the run lock is taken
(:class:`urur.hooks.RunSafetyHook`): a second run still stops at the lock, before any node runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kedro.framework.project import pipelines, settings
from kedro.framework.session import KedroSession
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from urur.config import ConfigError
from urur.dataset.sources import check_source

log = logging.getLogger(__name__)

# Nodes carrying this tag run only when one of their persistent outputs is missing (or a node
# that runs needs an output of theirs that is missing or kept in memory).
BUILD_IF_MISSING = "build_if_missing"
# Which source a built dataset came from (urur.dataset.sources.describe_source): written, with the
# dataset, by the node that builds it from its first input, a raw folder.
SOURCE_RECORD = "dataset_source"
ENVIRONMENT = "params:environment"


class ProjectSession(KedroSession):
    """Kedro's session; ``build_if_missing`` nodes whose outputs exist are left out of the run."""

    @classmethod
    def create(
        cls,
        project_path: Path | str | None = None,
        save_on_close: bool = True,
        env: str | None = None,
        runtime_params: dict[str, Any] | None = None,
        conf_source: str | None = None,
    ) -> ProjectSession:
        session = super().create(project_path, save_on_close, env, runtime_params, conf_source)
        if session.store.get("env"):
            conf = Path(conf_source or Path(session.store["project_path"]) / settings.CONF_SOURCE)
            _check_environment(session.store["env"], conf)
        return session

    def run(
        self,
        pipeline_name: str | None = None,
        pipeline_names: list[str] | None = None,
        node_names: Iterable[str] | None = None,
        only_missing_outputs: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        with _registry_env(self.store.get("env")):
            if not only_missing_outputs:
                names = pipeline_names or ([pipeline_name] if pipeline_name else None)
                kept = self._nodes_to_run(names, node_names, options)
                if kept == []:
                    log.info("Nothing to run: every node selected builds the dataset, already built")
                    return {}
                node_names = kept or node_names
            return super().run(
                pipeline_name=pipeline_name,
                pipeline_names=pipeline_names,
                node_names=node_names,
                only_missing_outputs=only_missing_outputs,
                **options,
            )

    def _nodes_to_run(
        self, names: list[str] | None, node_names: Iterable[str] | None, options: dict[str, Any]
    ) -> list[str] | None:
        """The nodes this run keeps once a built dataset is left out; None where it keeps them all."""
        pipelines.set_requested(names)  # as Kedro's run does first: the registry is composed once
        names = names or ["__default__"]
        if not all(name in pipelines for name in names):
            return None  # Kedro's own error names the pipelines meant
        selected = sum((pipelines[name] for name in names), Pipeline([])).filter(
            tags=options.get("tags"),
            from_nodes=options.get("from_nodes"),
            to_nodes=options.get("to_nodes"),
            node_names=node_names,
            from_inputs=options.get("from_inputs"),
            to_outputs=options.get("to_outputs"),
            node_namespaces=options.get("namespaces"),
        )
        if not selected.only_nodes_with_tags(BUILD_IF_MISSING).nodes:
            return None
        kept = without_built_dataset(selected, self.load_context().catalog)
        return [node.name for node in kept.nodes] if len(kept.nodes) < len(selected.nodes) else None


def without_built_dataset(selected: Pipeline, catalog: CatalogProtocol) -> Pipeline:
    """``selected`` less its ``build_if_missing`` nodes that need not run (:func:`_to_build`).

    Raises :class:`urur.dataset.sources.DatasetSourceError` where the dataset kept was built
    from another source than the one this run would build it from.
    """
    optional = selected.only_nodes_with_tags(BUILD_IF_MISSING)
    skipped = optional - _to_build(optional, catalog)
    for node in skipped.nodes:
        if SOURCE_RECORD in node.outputs:
            _check_reused_source(node.inputs[0], catalog)
    if skipped.nodes:
        names = sorted(node.name for node in skipped.nodes)
        log.info("Dataset already built: skipping %d nodes (%s)", len(names), ", ".join(names))
    return selected - skipped


def _to_build(optional: Pipeline, catalog: CatalogProtocol) -> Pipeline:
    """The nodes of ``optional`` that must run: Kedro's ``--only-missing-outputs`` rule, then all
    after the node that writes the source record where that one runs (a dataset without it is
    rebuilt whole, not that node alone over the rest's old outputs).

    Kedro's rule, which it applies only inside its runner: going from the last node back, a node
    runs when it has no outputs, when one of its persistent outputs is missing, or when a node that
    runs needs an output of its that is missing or not persistent.
    """
    needed: set[str] = set()
    to_run = []
    for node in reversed(optional.nodes):  # Pipeline.nodes is in topological order
        if (
            not node.outputs
            or any(_persistent(catalog, name) and not catalog.exists(name) for name in node.outputs)
            or any(name in needed and not _kept(catalog, name) for name in node.outputs)
        ):
            to_run.append(node.name)
            needed.update(node.inputs)
    built = optional.only_nodes(*to_run) if to_run else Pipeline([])
    writes_source = [node.name for node in built.nodes if SOURCE_RECORD in node.outputs]
    return built + optional.from_nodes(*writes_source) if writes_source else built


def _persistent(catalog: CatalogProtocol, name: str) -> bool:
    """A catalog entry saved where it lasts: not in memory (``_EPHEMERAL``, AbstractDataset's
    documented flag for datasets that are not persistent), nor an undeclared name."""
    return name in catalog and not catalog.get(name)._EPHEMERAL


def _kept(catalog: CatalogProtocol, name: str) -> bool:
    return _persistent(catalog, name) and catalog.exists(name)


def _check_reused_source(raw: str, catalog: CatalogProtocol) -> None:
    """Refuse to reuse the dataset unless it was built from the folder ``raw`` names now."""
    check_source(
        catalog.load(SOURCE_RECORD),
        catalog.load(ENVIRONMENT),
        catalog[raw]._describe()["path"],
        record=catalog[SOURCE_RECORD]._describe()["filepath"],
    )


@contextlib.contextmanager
def _registry_env(env: str | None) -> Iterator[None]:
    """``env`` as ``$KEDRO_ENV`` for the run, for the registry; restored afterwards, so a run in this
    process (notebooks, tests) leaves no env behind for the next one."""
    if not env:
        yield
        return
    previous = os.environ.get("KEDRO_ENV")
    os.environ["KEDRO_ENV"] = env
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = previous


def _check_environment(env: str, conf: Path) -> None:
    """Refuse an env that names no folder of the configuration (Kedro's own error is a traceback)."""
    if conf.is_relative_to(Path.cwd()):
        conf = conf.relative_to(Path.cwd())  # as the user typed it
    if conf.is_dir() and not (conf / env).is_dir():
        known = sorted(p.name for p in conf.iterdir() if p.is_dir())
        raise ConfigError(
            f"unknown environment '{env}': {conf / env} does not exist; the environments are "
            f"{', '.join(known)} (--env NAME, or a folder of your own in {conf})"
        )
