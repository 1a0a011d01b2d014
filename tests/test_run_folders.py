"""A run folder (``--out`` of train and tune) holds one run, never a mix of two.

Real ``scratchnn`` subprocesses on real folders: a folder holding files is
refused unless ``--force`` (which replaces the earlier run once the new one has
finished) or, for tune, ``--resume``; a folder being written by a live run is
refused; temporary files a killed run left are removed by the next run; a
failed write names the file and says what the folder holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import TIMEOUT, cli_env, error_line, run, scratchnn_command

MANIFEST = ".scratchnn-files.json"


def ok(proc) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


IRIS = ["train", "--data", "iris", "--epochs", "2", "--quiet"]
TUNE = ["tune", "--data", "iris", "--grid", "hidden_units=4,8", "--epochs", "1", "--final-epochs", "1"]


def test_reusing_out_is_refused_and_leaves_the_earlier_run_untouched(tmp_path):
    ok(run([*IRIS, "--out", "r"], tmp_path))
    before = contents(tmp_path / "r")
    line = error_line(run([*IRIS, "--seed", "3", "--out", "r"], tmp_path))
    assert "--out 'r' already holds the files of an earlier run" in line
    assert "history.json" in line
    assert "model.npz" in line
    assert "--force" in line
    assert contents(tmp_path / "r") == before


def test_a_folder_of_other_files_is_refused_and_force_keeps_them(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    line = error_line(run([*IRIS, "--out", "r"], tmp_path))
    assert "already holds files (notes.txt)" in line
    ok(run([*IRIS, "--out", "r", "--force"], tmp_path))
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"  # --force never removes what it did not write


def test_force_replaces_the_whole_earlier_run_once_the_new_one_has_finished(tmp_path):
    ok(run(["train", "--data", "digits", "--epochs", "1", "--quiet", "--out", "r"], tmp_path))
    ok(run(["evaluate", "--model", "r/model.npz", "--data", "digits", "--quiet"], tmp_path))
    assert {"first_layer_weights.png", "misclassified.png", "confusion_matrix.png"} <= set(
        os.listdir(tmp_path / "r")
    )
    ok(run([*IRIS, "--out", "r", "--force"], tmp_path))
    names = {n for n in os.listdir(tmp_path / "r") if n != MANIFEST}
    assert names == {"model.npz", "history.json", "learning_curves.png"}  # nothing left of digits
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert manifest["complete"] is True
    assert sorted(manifest["files"]) == sorted(names)


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path):
    # far more epochs than the test can take: the run is still training when it is interrupted
    slow = ["train", "--data", "digits", "--epochs", "100000", "--out", "r"]
    first = subprocess.Popen(
        [*scratchnn_command(), *slow],
        cwd=tmp_path,
        env=cli_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in first.stdout:  # the first run holds the folder once it prints its first epoch
            if line.startswith("Epoch 1/"):
                break
        line = error_line(run([*IRIS, "--out", "r"], tmp_path))
        assert "is being written by another scratchnn run" in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=TIMEOUT)
    assert first.returncode == 130
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert history["interrupted"] is True  # the first run's files, not the refused one's


def test_temporary_files_left_by_a_killed_run_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    for name in (".tmp-k2j4model.npz", ".tmp-9fhistory.json"):  # what kill -9 mid-write leaves
        (out / name).write_bytes(b"")
    ok(run([*IRIS, "--out", "r"], tmp_path))  # temporaries alone are not another run's files
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]


def test_tune_refuses_an_earlier_results_table_without_resume(tmp_path):
    ok(run([*TUNE, "--out", "t", "--quiet"], tmp_path))
    table = (tmp_path / "t" / "results.csv").read_bytes()
    line = error_line(run([*TUNE, "--out", "t", "--quiet"], tmp_path))
    assert "results.csv" in line
    assert "--resume continues its search" in line
    assert "--force" in line
    assert (tmp_path / "t" / "results.csv").read_bytes() == table
    resumed = ok(run([*TUNE, "--out", "t", "--resume"], tmp_path))
    assert "Resuming: 2 of 2 trials already in" in resumed.stdout
    ok(run([*TUNE, "--out", "t", "--force", "--quiet"], tmp_path))


_FULL_DISK = """
import errno, os, sys
real_fsync = os.fsync

def fsync(fd):
    if os.readlink(f"/proc/self/fd/{fd}").endswith("history.json"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_fsync(fd)

os.fsync = fsync
import scratchnn.cli as cli
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_a_full_disk_names_the_file_and_what_the_folder_holds(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, *IRIS, "--out", "r"],
        cwd=tmp_path,
        env=cli_env(PYTHONUNBUFFERED="1"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    line = error_line(proc)
    assert line.startswith(
        f"error: could not write: No space left on device: {os.path.join('r', 'history.json')}"
    )
    assert "holds an unfinished run (written: model.npz)" in line
    assert not [n for n in os.listdir(tmp_path / "r") if n.startswith(".tmp-")]
    assert json.loads((tmp_path / "r" / MANIFEST).read_text())["complete"] is False
    refused = error_line(run([*IRIS, "--out", "r"], tmp_path))
    assert "the files of an unfinished earlier run" in refused
