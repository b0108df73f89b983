"""Kedro glue for the command line: ``python -m urur`` and the project's ``kedro run``.

``python -m urur`` runs the Kedro project, like ``kedro run``. The ``kedro run`` command itself
is Kedro's own, registered again under the ``kedro.project_commands`` entry point (pyproject)
with two changes: its default runner is :class:`BuildIfMissingRunner`, so pipelines that
*consume* the dataset (``train_urur``) build it only where it is absent instead of rebuilding it
on every run, and never reuse one built from another source (:func:`urur.dataset.sources.check_source`);
and a user error (bad input, bad parameter, missing input, a second run, a mistyped pipeline
or environment) prints one ``Error:`` line with its message and fix, not a page of traceback
(``--verbose`` or ``URUR_DEBUG=1``: the traceback, :mod:`urur.errors`). Everything else (flags,
other runners, ``--only-missing-outputs``) is Kedro's.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project, settings
from kedro.io import DatasetError
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from kedro.validation import ParameterValidationError

from urur.dataset.sources import check_source
from urur.errors import is_own_error, show_traceback
from urur.io.lock import RunLockedError

# Nodes carrying this tag run only when one of their persistent outputs is missing (or a node
# that runs needs an output of theirs that is not persisted).
BUILD_IF_MISSING = "build_if_missing"
# Which source a built dataset came from (urur.dataset.sources.describe_source): written, with the
# dataset, by the node that builds it from its first input, a raw folder.
SOURCE_RECORD = "dataset_source"
ENVIRONMENT = "params:environment"
# Kedro's message for a pipeline name the registry lacks (a bare ValueError) and its suggestions.
UNKNOWN_PIPELINE = re.compile(
    r"Failed to find the pipeline named '(?P<name>[^']*)'.*?(instead\?(?P<close>.*))?$", re.S
)
# Kedro logs each parameter error before raising them all together: the raised one is printed.
PARAMETER_LOG = "kedro.validation.parameter_validator"


class BuildIfMissingRunner(SequentialRunner):
    """Kedro's sequential runner; nodes tagged ``build_if_missing`` are skipped when built.

    A built dataset is kept only if it came from what this run would build it from; one without
    its source record is rebuilt whole, with every optional node after the one that writes it.
    """

    def run(self, pipeline: Pipeline, catalog, hook_manager=None, run_id=None, only_missing_outputs=False):
        optional = pipeline.only_nodes_with_tags(BUILD_IF_MISSING)
        if optional.nodes and not only_missing_outputs:
            # Kedro's own missing-outputs rule, applied to the optional part of the pipeline only.
            needed = self._filter_pipeline_for_missing_outputs(optional, catalog)
            rebuilt = [node.name for node in needed.nodes if SOURCE_RECORD in node.outputs]
            if rebuilt:
                needed += optional.from_nodes(*rebuilt)
            for node in (optional - needed).nodes:
                if SOURCE_RECORD in node.outputs:
                    _check_reused_source(node, catalog)
            pipeline = (pipeline - optional) + needed
        return super().run(pipeline, catalog, hook_manager, run_id, only_missing_outputs)


def _check_reused_source(node: Node, catalog) -> None:
    """Refuse to skip ``node`` unless the dataset it built came from the folder it would read now."""
    check_source(
        catalog.load(SOURCE_RECORD),
        catalog.load(ENVIRONMENT),
        catalog[node.inputs[0]]._describe()["path"],
        record=catalog[SOURCE_RECORD]._describe()["filepath"],
    )


def is_user_error(error: BaseException) -> bool:
    """Errors a user fixes by changing inputs or parameters; anything else is a bug to report.

    The project's own ``ValueError`` subclasses (``IngestionError``, ``AnnotationError``,
    ``RasterReadError``, ``ConfigError``...) carry the file and the fix; Kedro's parameter,
    dataset and configuration errors name the parameter, the dataset or the folder, and its
    unknown-pipeline error suggests the names meant. A bare ``ValueError`` may be a bug.
    """
    kedro_errors = DatasetError | ParameterValidationError | MissingConfigException | RunLockedError
    return is_own_error(error) or isinstance(error, kedro_errors) or _unknown_pipeline(error) is not None


def _unknown_pipeline(error: BaseException) -> re.Match | None:
    return UNKNOWN_PIPELINE.match(str(error)) if type(error) is ValueError else None


def _message(error: BaseException) -> str:
    """The line (or, for several bad parameters, lines) printed for a user error."""
    unknown = _unknown_pipeline(error)
    if unknown is not None:
        close = ", ".join(unknown["close"].split()) if unknown["close"] else ""
        return (
            f"no pipeline named '{unknown['name']}'."
            + (f" Did you mean one of these instead? {close}." if close else "")
            + " `kedro registry list` lists them all."
        )
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, ParameterValidationError):  # pydantic's links and echoed input: noise here
        message = re.sub(r"\s*\[type=[^\]]*\]", "", message)
        message = "\n".join(line for line in message.splitlines() if "errors.pydantic.dev" not in line)
    if isinstance(error, DatasetError) and isinstance(error.__cause__, FileNotFoundError):
        message += "\nRun the stage that produces it first (`kedro run` or `dvc repro`)."
    return message


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def _parameter_errors_printed_once() -> Iterator[None]:
    """Kedro logs each parameter error, then raises them all: keep the one :func:`_short_errors` prints."""
    logger, drop = logging.getLogger(PARAMETER_LOG), _DropRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _short_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into click's one-line ``Error: ...`` and exit status 1 (``verbose``: raise)."""

    @functools.wraps(callback)
    def wrapper(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        if show_traceback(verbose):
            return callback(*args, **kwargs)
        try:
            with _parameter_errors_printed_once():
                return callback(*args, **kwargs)
        except Exception as error:
            if not is_user_error(error):
                raise
            raise click.ClickException(_message(error)) from error

    return wrapper


def _env_for_registry(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``--env`` also as ``$KEDRO_ENV`` for the run: the pipeline registry reads that env's globals
    (``dataset``, ``data_source``) before Kedro hands the env to the session. Restored afterwards,
    so a run invoked in-process (notebooks, tests) leaves no env behind for the next one."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("env"):
            return callback(*args, **kwargs)
        _check_environment(kwargs["env"], Path(kwargs.get("conf_source") or settings.CONF_SOURCE))
        previous = os.environ.get("KEDRO_ENV")
        os.environ["KEDRO_ENV"] = kwargs["env"]
        try:
            return callback(*args, **kwargs)
        finally:
            if previous is None:
                os.environ.pop("KEDRO_ENV", None)
            else:
                os.environ["KEDRO_ENV"] = previous

    return wrapper


def _check_environment(env: str, conf: Path) -> None:
    """Refuse an ``--env`` that names no folder of the configuration (Kedro's own error is a traceback)."""
    if conf.is_dir() and not (conf / env).is_dir():
        known = sorted(p.name for p in conf.iterdir() if p.is_dir())
        raise click.ClickException(
            f"unknown environment '{env}': {conf / env} does not exist; the environments are "
            f"{', '.join(known)} (--env NAME, or a folder of your own in {conf})"
        )


def _run_command() -> click.Command:
    """Kedro's ``run`` with :class:`BuildIfMissingRunner` as the default runner, short user errors
    and ``--verbose``."""
    command = copy.copy(kedro_run)
    command.callback = _short_errors(_env_for_registry(kedro_run.callback))
    command.params = [copy.copy(p) for p in kedro_run.params]
    command.params.append(
        click.Option(["--verbose"], is_flag=True, help="Show the traceback of an error (also URUR_DEBUG=1).")
    )
    for param in command.params:
        if param.name == "runner":
            param.default = f"urur.__main__.{BuildIfMissingRunner.__name__}"
    return command


@click.group(name="urur")
def cli() -> None:
    """Project commands."""


cli.add_command(_run_command(), name="run")


def main(*args, **kwargs):
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
