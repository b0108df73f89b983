"""Project pipelines: every package under ``urur.pipelines`` is discovered by name.

The chain reads ``raw_scenes``, ``annotator_exports`` (round one) and ``corrected_exports``
(every image's final export: round one's and the corrected pre-label drafts), a user's
folders, never written. Where ``data_source`` (``conf/*/globals.yml``) resolves to the
synthetic source, every pipeline reads the synthetic folders instead and ``__default__``
includes the stages that generate them (``synthetic``, ``synthetic_annotators`` and the nodes
tagged ``synthetic``, which play the annotators correcting the drafts); with a user's data it
leaves them out.

``train_urur`` is the main job: the dataset chain, tagged ``build_if_missing`` so that the
project's session (:mod:`urur.session`) builds only what is absent, then training, evaluation
and the report, which always run. ``__default__`` runs all of it and rebuilds the dataset.
"""

from __future__ import annotations

import importlib
import importlib.resources
import logging
import os
from pathlib import Path

from kedro.framework.project import settings
from kedro.pipeline import Pipeline, pipeline
from kedro.utils import find_kedro_project

from urur.config import ConfigError
from urur.dataset.sources import resolve_data_source
from urur.pipelines.reporting.pipeline import after as report_after
from urur.session import BUILD_IF_MISSING

log = logging.getLogger(__name__)

SYNTHETIC_SOURCE = ("synthetic", "synthetic_annotators")
MODEL_STAGES = ("training", "evaluation", "reporting")  # reporting last (pipelines.reporting.pipeline.after)
ON_DEMAND = ("predict", "compare_urur")  # run only when named: kedro run --pipelines predict
SYNTHETIC_INPUTS = {
    "raw_scenes": "synthetic_scenes",
    "annotator_exports": "synthetic_annotations",
    "corrected_exports": "synthetic_corrected_annotations",
}
DATASET_STAGES = ("ingestion", "tiling", "prelabel", "annotation", "split", "dataset_stats")
ADAPTER_PREFIX = "adapt_"  # adapt_<dataset>: a public release -> the chain's outputs
SYNTHETIC_TAG = "synthetic"  # nodes that play the annotators on synthetic data (pipeline prelabel)


def _globals() -> tuple[dict, Path]:
    """Globals of the project around the working directory, and its root.

    Read from ``conf/base`` and ``conf/local`` (or ``$KEDRO_ENV``, which ``kedro run --env``
    sets through :mod:`urur.session`): the registry is built before Kedro hands a run its env,
    and also outside runs (``kedro viz``, ``kedro registry``), so it reads them itself.
    """
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["globals"], root


def _read_synthetic(p: Pipeline) -> Pipeline:
    mapping = {name: new for name, new in SYNTHETIC_INPUTS.items() if name in p.inputs()}
    return pipeline(p, inputs=mapping) if mapping else p


def stage_pipelines() -> dict[str, Pipeline]:
    """Every package under ``urur.pipelines``, by name, and ``dataset``: the chain's stages without
    the synthetic sources (``kedro run --pipelines dataset``), composed here because no pipeline
    imports another.

    Kedro 1.7's ``find_pipelines`` imports only the pipelines named on the command line, but
    ``train_urur`` and ``__default__`` are composed of all of them, so all are imported here.
    """
    package = importlib.resources.files("urur.pipelines")
    names = sorted(p.name for p in package.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    stages = {name: importlib.import_module(f"urur.pipelines.{name}").create_pipeline() for name in names}
    stages["dataset"] = sum((stages[name] for name in DATASET_STAGES), Pipeline([]))
    return stages


def _check_data_root(values: dict) -> str:
    """``data_root`` (conf/<env>/globals.yml) lies inside ``data/``, beside the run lock and staging."""
    root = str(values.get("data_root", "data"))
    parts = Path(root).parts
    if Path(root).is_absolute() or not parts or parts[0] != "data" or ".." in parts:
        raise ConfigError(
            f"data_root is {root!r} in conf/<env>/globals.yml; expected data or a folder inside data/ "
            "(the run lock and the staging folder a stage publishes from live in data/)"
        )
    return root


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = stage_pipelines()
    values, project = _globals()
    root = _check_data_root(values)
    # A public release (``dataset`` in conf/urur, conf/deepglobe, conf/inria globals.yml) is
    # already cut and labelled: its adapter replaces the whole chain.
    release = values.get("dataset")
    source = resolve_data_source(values.get("data_source", "auto"), project)
    if release:
        log.info("Data source: the %s release (dataset, conf/<env>/globals.yml); data root %s", release, root)
    else:
        log.info("Data source: %s (data_source in conf/*/globals.yml); data root %s", source, root)
    if source == "synthetic":
        pipelines = {name: _read_synthetic(p) for name, p in pipelines.items()}
    else:
        pipelines = {name: p - p.only_nodes_with_tags(SYNTHETIC_TAG) for name, p in pipelines.items()}
    build = _adapter(pipelines, release) if release else _chain(pipelines, source)
    models = sum((pipelines[name] for name in MODEL_STAGES[:-1]), Pipeline([]))
    models += report_after(pipelines["reporting"], build + models)
    pipelines["train_urur"] = build.tag(BUILD_IF_MISSING) + models
    pipelines["__default__"] = build + models
    return pipelines


def _chain(pipelines: dict[str, Pipeline], source: str) -> Pipeline:
    """The dataset chain: every stage but the model stages, the on-demand ones and the adapters;
    with the stages that generate the synthetic source where the run reads it."""
    return sum(
        (
            p
            for name, p in pipelines.items()
            if name not in MODEL_STAGES
            and name not in ON_DEMAND
            and not name.startswith(ADAPTER_PREFIX)
            and (source == "synthetic" or name not in SYNTHETIC_SOURCE)
        ),
        Pipeline([]),
    )


def _adapter(pipelines: dict[str, Pipeline], release: str) -> Pipeline:
    """The adapter of a public release (``adapt_<release>``), which builds the chain's outputs."""
    if f"{ADAPTER_PREFIX}{release}" not in pipelines:
        known = sorted(n.removeprefix(ADAPTER_PREFIX) for n in pipelines if n.startswith(ADAPTER_PREFIX))
        raise ConfigError(f"dataset is {release!r} in conf/<env>/globals.yml; expected one of {known}")
    return pipelines[f"{ADAPTER_PREFIX}{release}"]
