"""User errors, and what the command lines print for them: one line naming the file or setting and the fix.

A user error is a :class:`UrurError` (``IngestionError``, ``CheckpointError``, ``ConfigError``...):
its message says what is wrong and what to do. Each one also keeps the builtin base it had
(mostly ``ValueError``), so ``except ValueError`` callers still catch it. The commands (the
project's ``kedro run``, :mod:`urur.__main__`; the ``urur`` command, :mod:`urur.commands`) print it
through :func:`short_errors`, together with the few outside errors whose messages name the file
and the fix too. Anything else is a bug and keeps its traceback, and ``--verbose`` or
``URUR_DEBUG=1`` keeps it for user errors as well.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import click

DEBUG_VARIABLE = "URUR_DEBUG"


class UrurError(Exception):
    """A user's mistake: the message names the file or setting and the fix; printed as one line."""


def show_traceback(verbose: bool = False) -> bool:
    """Whether a user error keeps its traceback: ``--verbose``, or ``URUR_DEBUG`` set (not ``0``)."""
    return verbose or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def user_message(error: BaseException, outside: tuple[type[BaseException], ...] = ()) -> str | None:
    """``Type: message`` for a :class:`UrurError` or one of the ``outside`` errors; None for a bug."""
    return f"{type(error).__name__}: {error}" if isinstance(error, (UrurError, *outside)) else None


@contextlib.contextmanager
def short_errors(
    verbose: bool, message: Callable[[BaseException], str | None] = user_message
) -> Iterator[None]:
    """Turn the user error raised inside into click's one-line ``Error: ...`` and exit status 1.

    ``message`` gives the line, or None for a bug (raised as it is). ``verbose`` or
    ``URUR_DEBUG``: every error is raised as it is, with its traceback.
    """
    if show_traceback(verbose):
        yield
        return
    try:
        yield
    except Exception as error:
        line = message(error)
        if line is None:
            raise
        raise click.ClickException(line) from error
