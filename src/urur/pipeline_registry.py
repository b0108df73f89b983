"""Project pipelines: every package under ``urur.pipelines`` is discovered by name.

The chain reads ``raw_scenes`` and ``annotator_exports`` (a user's folders, never written).
Where ``data_source`` (``conf/*/globals.yml``) resolves to the synthetic source, every pipeline
reads the synthetic folders instead and ``__default__`` includes the stages that generate them
(``synthetic``, ``synthetic_annotators``); with a user's data it leaves them out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kedro.framework.project import find_pipelines, settings
from kedro.pipeline import Pipeline, pipeline
from kedro.utils import find_kedro_project

from urur.sources import resolve_data_source

log = logging.getLogger(__name__)

SYNTHETIC_SOURCE = ("synthetic", "synthetic_annotators")
SYNTHETIC_INPUTS = {"raw_scenes": "synthetic_scenes", "annotator_exports": "synthetic_annotations"}


def data_source() -> str:
    """The resolved ``data_source`` of the project around the working directory.

    Read from ``conf/base`` and ``conf/local`` (or ``$KEDRO_ENV``) globals: the registry is
    built before Kedro knows a run's ``--env``, so the setting belongs in those files.
    """
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return resolve_data_source(loader["globals"].get("data_source", "auto"), root)


def _read_synthetic(p: Pipeline) -> Pipeline:
    mapping = {name: new for name, new in SYNTHETIC_INPUTS.items() if name in p.inputs()}
    return pipeline(p, inputs=mapping) if mapping else p


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines.pop("__default__", None)
    source = data_source()
    log.info("Data source: %s (data_source in conf/*/globals.yml)", source)
    if source == "synthetic":
        pipelines = {name: _read_synthetic(p) for name, p in pipelines.items()}
    # Kedro 1.7 discovers only the pipelines named on the command line; __default__ needs all.
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if source == "synthetic" or name not in SYNTHETIC_SOURCE),
        Pipeline([]),
    )
    return pipelines
