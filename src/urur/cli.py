"""Project commands for ``kedro`` (Kedro loads ``<package>.cli:cli`` and lets it override its own).

``kedro run`` is Kedro's own command with one change: its default runner is
:class:`BuildIfMissingRunner`, so pipelines that *consume* the dataset (``train_urur``) build it
only where it is absent instead of rebuilding it on every run. Everything else (flags, other
runners, ``--only-missing-outputs``) is Kedro's.
"""

from __future__ import annotations

import copy

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

# Nodes carrying this tag run only when one of their persistent outputs is missing (or a node
# that runs needs an output of theirs that is not persisted).
BUILD_IF_MISSING = "build_if_missing"


class BuildIfMissingRunner(SequentialRunner):
    """Kedro's sequential runner; nodes tagged ``build_if_missing`` are skipped when built."""

    def run(self, pipeline: Pipeline, catalog, hook_manager=None, run_id=None, only_missing_outputs=False):
        optional = pipeline.only_nodes_with_tags(BUILD_IF_MISSING)
        if optional.nodes and not only_missing_outputs:
            # Kedro's own missing-outputs rule, applied to the optional part of the pipeline only.
            needed = self._filter_pipeline_for_missing_outputs(optional, catalog)
            pipeline = (pipeline - optional) + needed
        return super().run(pipeline, catalog, hook_manager, run_id, only_missing_outputs)


def _run_command() -> click.Command:
    """Kedro's ``run`` with :class:`BuildIfMissingRunner` as the default runner."""
    command = copy.copy(kedro_run)
    command.params = [copy.copy(p) for p in kedro_run.params]
    for param in command.params:
        if param.name == "runner":
            param.default = f"{__name__}.{BuildIfMissingRunner.__name__}"
    return command


@click.group(name="urur")
def cli() -> None:
    """Project commands."""


cli.add_command(_run_command(), name="run")
