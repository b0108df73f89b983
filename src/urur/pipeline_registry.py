"""Project pipelines: every package under ``urur.pipelines`` is discovered by name."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The dataset-construction chain on the user's own raw scenes and annotator exports.
DATASET_CHAIN = ("ingestion", "tiling", "annotation", "split", "dataset_stats")
# The embedded synthetic default: generated scenes and simulated annotators feed the chain.
SYNTHETIC_SOURCES = ("synthetic", "synthetic_annotators")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["dataset"] = sum((pipelines[name] for name in DATASET_CHAIN), Pipeline([]))
    pipelines["__default__"] = sum((pipelines[name] for name in SYNTHETIC_SOURCES), pipelines["dataset"])
    return pipelines
