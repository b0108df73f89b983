"""Kedro glue for the command line: the project's ``kedro run``, and ``python -m urur``.

- ``kedro run`` is Kedro's own command, its options and defaults untouched (the runner is
  Kedro's ``SequentialRunner`` unless ``--runner`` names another). pyproject registers it again
  under the ``kedro.project_commands`` entry point, wrapped for one thing: a user error (bad
  input, bad parameter, missing input, a second run, a mistyped pipeline or environment) prints
  one ``Error:`` line with its message and fix, not a page of traceback (``--verbose`` or
  ``URUR_DEBUG=1``: the traceback, :mod:`urur.errors`). Kedro has no hook around a command's
  errors: its ``run`` raises them to click, which prints the traceback.
- ``python -m urur`` runs that same command (Kedro's template ``main``).
- ``urur`` (predict, export-onnx) is the user's command beside them, :mod:`urur.commands`.

What ``kedro run --pipeline=train_urur`` builds is the session's choice
(:class:`urur.session.ProjectSession`), not the command's.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project
from kedro.io import DatasetError
from kedro.validation import ParameterValidationError

from urur.errors import short_errors, show_traceback, user_message

# Kedro's errors whose messages name the parameter, the dataset or the configuration folder.
KEDRO_USER_ERRORS = (DatasetError, ParameterValidationError, MissingConfigException)
# Kedro's message for a pipeline name the registry lacks (a bare ValueError) and its suggestions.
UNKNOWN_PIPELINE = re.compile(
    r"Failed to find the pipeline named '(?P<name>[^']*)'.*?(instead\?(?P<close>.*))?$", re.S
)
# Kedro logs each parameter error before raising them all together: the raised one is printed.
PARAMETER_LOG = "kedro.validation.parameter_validator"


def _unknown_pipeline(error: BaseException) -> re.Match | None:
    return UNKNOWN_PIPELINE.match(str(error)) if type(error) is ValueError else None


def _message(error: BaseException) -> str | None:
    """The line (or, for several bad parameters, lines) printed for a user error; None for a bug.

    The project's own errors (:class:`urur.errors.UrurError`) carry the file and the fix; Kedro's
    parameter, dataset and configuration errors name the parameter, the dataset or the folder,
    and its unknown-pipeline error suggests the names meant. A bare ``ValueError`` may be a bug.
    """
    unknown = _unknown_pipeline(error)
    if unknown is not None:
        close = ", ".join(unknown["close"].split()) if unknown["close"] else ""
        return (
            f"no pipeline named '{unknown['name']}'."
            + (f" Did you mean one of these instead? {close}." if close else "")
            + " `kedro registry list` lists them all."
        )
    message = user_message(error, outside=KEDRO_USER_ERRORS)
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
    """Kedro logs each parameter error, then raises them all: keep the one :func:`_message` prints."""
    logger, drop = logging.getLogger(PARAMETER_LOG), _DropRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _short_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` with ``verbose``: a user error becomes click's one-line ``Error: ...``."""

    @functools.wraps(callback)
    def wrapper(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        once = contextlib.nullcontext() if show_traceback(verbose) else _parameter_errors_printed_once()
        with short_errors(verbose, _message), once:
            return callback(*args, **kwargs)

    return wrapper


def _run_command() -> click.Command:
    """Kedro's ``run`` (its own options, shared, not copied) with short user errors and ``--verbose``."""
    command = copy.copy(kedro_run)
    command.callback = _short_errors(kedro_run.callback)
    command.params = [
        *kedro_run.params,
        click.Option(["--verbose"], is_flag=True, help="Show the traceback of an error (also URUR_DEBUG=1)."),
    ]
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
