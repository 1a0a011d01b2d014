"""For the command-line tests: the ``scratchnn`` console script in a real subprocess, as a user runs it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

#: The installed console script beside this interpreter (None if missing: ``python -m scratchnn`` then).
SCRIPT = shutil.which("scratchnn", path=os.path.dirname(sys.executable)) or shutil.which("scratchnn")
TIMEOUT = 300


def scratchnn_command(module: bool = False) -> list[str]:
    """The console script, or ``python -m scratchnn`` (with ``module``, or when the script is missing)."""
    return [sys.executable, "-m", "scratchnn"] if module or SCRIPT is None else [SCRIPT]


def cli_env(**extra: str) -> dict:
    """This environment with plots drawn off screen (``MPLBACKEND=Agg``) and ``extra`` set."""
    return dict(os.environ, MPLBACKEND="Agg", **extra)


def run(args, cwd, timeout: float = TIMEOUT, module: bool = False) -> subprocess.CompletedProcess:
    """``scratchnn ARGS`` run in ``cwd`` until it exits, whatever its exit status."""
    return subprocess.run(
        [*scratchnn_command(module), *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _restore_sigint() -> None:
    # A child started from a non-interactive shell may inherit SIGINT ignored;
    # Python then never raises KeyboardInterrupt. Give it the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, cwd, env: dict | None = None) -> subprocess.Popen:
    """``scratchnn ARGS`` started in ``cwd``, its output piped (unbuffered), ready to be stopped with
    Ctrl-C (``send_signal(SIGINT)``); ``env`` replaces the environment."""
    return subprocess.Popen(
        [*scratchnn_command(), *map(str, args)],
        cwd=cwd,
        env=cli_env(PYTHONUNBUFFERED="1") if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_restore_sigint,
    )


def scratchnn(*args, cwd, status: int | None = 0, module: bool = False) -> subprocess.CompletedProcess:
    """``scratchnn ARGS`` run in ``cwd``; its exit status must be ``status`` (None: any)."""
    proc = run(args, cwd, module=module)
    assert status is None or proc.returncode == status, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc


def error_line(proc, status: int = 2) -> str:
    """The one line ``error: ...`` a user's mistake prints, checked: exit ``status``, no traceback."""
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def assert_one_line_error(proc, *fragments) -> None:
    """A user's mistake (``error_line``) whose line holds each of ``fragments``."""
    line = error_line(proc)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
