"""``tune --jobs``: at most one worker per core, and no worker outlives the command, ``kill -9`` included.

Real ``scratchnn tune`` subprocesses; the processes are watched with psutil.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from scratchnn.hyperparameter_tuning import available_cores, effective_jobs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TIMEOUT = 300


def _command() -> list[str]:
    script = Path(sys.executable).with_name("scratchnn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scratchnn"]


def _env() -> dict:
    return dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")


def _descendants_alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_effective_jobs_is_at_most_one_per_core():
    cores = available_cores()
    assert effective_jobs(1000) == cores
    assert effective_jobs(-1) == cores
    assert effective_jobs(1) == 1
    assert effective_jobs(-(cores + 5)) == 1


def test_jobs_above_the_cores_are_capped_with_a_one_line_notice(tmp_path):
    args = ["tune", "--data", "iris", "--grid", "hidden_units=4,8", "--epochs", "1", "--final-epochs", "1"]
    proc = subprocess.run(
        [*_command(), *args, "--jobs", "1000", "--out", "t", "--quiet"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    cores = available_cores()
    assert proc.stderr.splitlines() == [
        f"note: --jobs 1000 is more than the {cores} cores of this machine; running {cores} trials at a time"
    ]
    assert (tmp_path / "t" / "results.csv").read_text().count(",ok") == 2


def test_kill_9_of_tune_leaves_no_worker_process_alive(tmp_path):
    # trials far longer than the 10 s allowed: a worker that only notices at the end of its trial fails
    grid = "hidden_units=32,48,64,80,96,112;learning_rate=0.05,0.1"
    args = ["tune", "--data", "digits", "--grid", grid, "--epochs", "2000", "--jobs", "2", "--out", "t"]
    proc = subprocess.Popen(
        [*_command(), *args],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    family: list[psutil.Process] = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:  # wait until both workers run a trial
            workers = [c for c in parent.children(recursive=True) if c.cpu_times().user > 0.5]
            if len(workers) >= 2:
                break
            assert proc.poll() is None, "tune finished before it could be killed"
            time.sleep(0.2)
        assert len(workers) >= 2, "tune never started two busy worker processes"
        family = parent.children(recursive=True)  # workers and multiprocessing's helper processes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _descendants_alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = _descendants_alive(family)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _descendants_alive(family):  # only what this test started
            p.kill()


def test_without_dask_the_hint_installs_the_extra_from_the_checkout(monkeypatch):
    import numpy as np

    from scratchnn.hyperparameter_tuning import grid_search

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if dask[distributed] were missing
    x = np.random.default_rng(0).standard_normal((8, 2))
    y = np.array([0, 1] * 4)
    with pytest.raises(ImportError, match=r"pip install '\.\[dask\]' in the scratchnn checkout"):
        grid_search(x, y, x, y, {"hidden_units": [2]}, epochs=1, scheduler="tcp://127.0.0.1:1")


# A parent that starts one child; the child sleeps far longer than the test waits, as a worker in
# the middle of a long trial does, while hyperparameter_tuning's watch on its parent runs beside it.
_PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])  # shares our stdout
time.sleep(600)
"""
_CHILD = """
import os, sys, threading, time
from scratchnn.tuning.trials import _exit_with_parent
threading.Thread(target=_exit_with_parent, args=(int(sys.argv[1]),), daemon=True).start()
print(os.getpid(), flush=True)  # watching from now on
time.sleep(600)
"""


def test_a_worker_busy_in_a_trial_exits_soon_after_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, _CHILD], env=_env(), stdout=subprocess.PIPE, text=True
    )
    child = None
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _descendants_alive([child]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _descendants_alive([child]), child.cmdline()
    finally:
        if parent.poll() is None:
            parent.kill()
        if child is not None and _descendants_alive([child]):
            child.kill()
        parent.stdout.close()
