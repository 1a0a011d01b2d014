"""How the command line fails: the exceptions commands raise, and the exit statuses they become.

0 on success; 2 for a user error (bad argument, unreadable file, diverged
training), printed as one line ``error: ...`` on stderr; 130 after Ctrl-C; 1
for anything unexpected.
"""

from __future__ import annotations

from ..serialization import ModelFileError
from ..trainer import TrainingDiverged

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake in the command line or the data, reported as one line and exit status 2."""


class Interrupted(Exception):
    """Ctrl-C after the command has saved what it could; exit status 130."""


#: Exceptions that are the user's to fix: one line, exit status 2, no traceback.
USER_ERRORS = (UserError, ValueError, TypeError, ModelFileError, TrainingDiverged, OSError)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an OS error as "reason: file")."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
