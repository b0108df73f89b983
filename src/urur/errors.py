"""What the command lines print for a user's mistake: one line naming the file or setting and the fix.

A user error is one of the project's own ``ValueError`` subclasses (``IngestionError``,
``CheckpointError``, ``ConfigError``...), whose messages say what is wrong and what to do; the
CLIs add the few outside errors that do too. Anything else is a bug and keeps its traceback, and
``--verbose`` or ``URUR_DEBUG=1`` keeps it for user errors as well.
"""

from __future__ import annotations

import os

DEBUG_VARIABLE = "URUR_DEBUG"


def is_own_error(error: BaseException) -> bool:
    """One of the project's own ``ValueError`` subclasses (a bare ``ValueError`` may be a bug)."""
    kind = type(error)
    return issubclass(kind, ValueError) and kind is not ValueError and kind.__module__.startswith("urur.")


def show_traceback(verbose: bool = False) -> bool:
    """Whether a user error keeps its traceback: ``--verbose``, or ``URUR_DEBUG`` set (not ``0``)."""
    return verbose or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
