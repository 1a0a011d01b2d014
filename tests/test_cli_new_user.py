"""What a new user broke on the command line: each case through the real console script, in a subprocess.

Every case asserts the exit status and the one error line (no traceback, no
"unexpected", naming the option, column or value at fault); the cases that
once ate a machine's memory also bound the child's peak memory and time,
measured by a small launcher that reads its child's ``ru_maxrss``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TIMEOUT = 300

_MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[2:], capture_output=True, text=True)
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(proc.returncode)
"""


def _command() -> list[str]:
    script = Path(sys.executable).with_name("scratchnn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scratchnn"]


def run(args: list[str], cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [*_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_measured(
    args: list[str], cwd: Path, timeout: float = 60
) -> tuple[subprocess.CompletedProcess, float, float]:
    """``(process, peak memory in MB, seconds)`` of the command, measured in its own launcher."""
    env = dict(os.environ, MPLBACKEND="Agg")
    rss = cwd / "maxrss.txt"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(rss), *_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    return proc, int(rss.read_text()) / 1024, seconds  # ru_maxrss is in KB on Linux


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line on stderr, after checking there is nothing else: no traceback, no "unexpected"."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "unexpected" not in lines[0]
    return lines[0]


# -- 3: an id column is not one-hot encoded in full --------------------------------------------------------


def test_a_column_of_unique_ids_is_refused_quickly_naming_it(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    rows = [f"u{i:06d},{a:.4f},{'yes' if a > 0 else 'no'}" for i, a in enumerate(rng.standard_normal(n))]
    (tmp_path / "people.csv").write_text("id,score,label\n" + "\n".join(rows) + "\n")
    proc, mb, seconds = run_measured(["train", "--data", "people.csv", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert "column 'id'" in line
    assert "distinct values" in line
    assert "identifier" in line
    assert "remove the column" in line
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s"
    assert not (tmp_path / "o").exists()


def test_text_columns_beyond_the_one_hot_limit_are_refused_naming_the_column_and_the_limit(tmp_path):
    from scratchnn.columns import MAX_ONE_HOT_COLUMNS

    k = MAX_ONE_HOT_COLUMNS + 100
    n = 8 * k  # every category eight times: not an identifier, but too many
    rows = [f"c{i % k},{i % 7},{'yes' if i % 2 else 'no'}" for i in range(n)]
    (tmp_path / "wide.csv").write_text("code,size,label\n" + "\n".join(rows) + "\n")
    proc, mb, seconds = run_measured(["train", "--data", "wide.csv", "--out", "o"], tmp_path)
    line = error_line(proc)
    assert "column 'code'" in line
    assert f"more than the {MAX_ONE_HOT_COLUMNS} allowed" in line
    assert mb < 400, f"peak memory {mb:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s"


def test_a_text_column_of_a_few_categories_is_still_one_hot_encoded(tmp_path):
    rows = [f"{('red', 'green', 'blue')[i % 3]},{i % 5},{'yes' if i % 2 else 'no'}" for i in range(60)]
    (tmp_path / "ok.csv").write_text("colour,size,label\n" + "\n".join(rows) + "\n")
    proc = run(["train", "--data", "ok.csv", "--out", "o", "--epochs", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "one-hot encoded into 3 columns" in proc.stdout
