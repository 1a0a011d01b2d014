"""How the command line fails: the exceptions commands raise, and the exit statuses they become.

0 on success; 2 for a user error (bad argument, unreadable file, diverged
training), printed as one line ``error: ...`` on stderr; 130 after Ctrl-C; 1
for anything unexpected, which is a bug.

A ``ValueError`` is the user's only where the user's input enters the library
(reading ``--data``, building the settings, loading a model): those calls sit
inside ``from_user()``, which turns it into ``UserError``. Anywhere else a
``ValueError`` or ``TypeError`` is a bug in scratchnn and is reported as one.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..serialization import ModelFileError
from ..trainer import TrainingDiverged

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(ValueError):
    """A mistake in the command line or the data, reported as one line and exit status 2."""


class Interrupted(Exception):
    """Ctrl-C after the command has saved what it could; exit status 130."""


#: Exceptions that are the user's to fix: one line, exit status 2, no traceback. ``OSError``:
#: a file that cannot be read or written (missing, no permission, a full disk).
USER_ERRORS = (UserError, ModelFileError, TrainingDiverged, OSError)


@contextmanager
def from_user():
    """Run a call that checks the user's input: its ``ValueError``/``TypeError`` becomes ``UserError``."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        if isinstance(exc, USER_ERRORS):
            raise
        raise UserError(one_line(exc)) from exc


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an OS error as "reason: file")."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
