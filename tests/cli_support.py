"""For the command-line tests: the ``scratchnn`` console script in a real subprocess, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

#: The installed console script beside this interpreter (None if missing: ``python -m scratchnn`` then).
SCRIPT = shutil.which("scratchnn", path=os.path.dirname(sys.executable)) or shutil.which("scratchnn")
TIMEOUT = 300


def scratchnn_command(module: bool = False) -> list[str]:
    """The console script, or ``python -m scratchnn`` (with ``module``, or when the script is missing)."""
    return [sys.executable, "-m", "scratchnn"] if module or SCRIPT is None else [SCRIPT]


def scratchnn(*args, cwd, status: int | None = 0, module: bool = False) -> subprocess.CompletedProcess:
    """``scratchnn ARGS`` run in ``cwd`` (plots drawn off screen), finished; its exit status must be
    ``status`` (None: any)."""
    proc = subprocess.run(
        [*scratchnn_command(module), *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert status is None or proc.returncode == status, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc


def assert_one_line_error(proc, *fragments) -> None:
    """A user's mistake: exit status 2, one line ``error: ...`` holding each fragment, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
