"""The command line's plots: the star marks the saved epoch, and evaluate keeps train's plots intact.

Real ``scratchnn`` subprocesses on real files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_support import TIMEOUT, cli_env, scratchnn


def ok(proc) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


# learning_curves wrapped to record the epoch it was asked to star, then drawn as usual
_RECORD_KEPT = """
import json, sys
import scratchnn.plots as plots
import scratchnn.cli as cli
draw = plots.learning_curves
def learning_curves(history, path, kept_epoch=None):
    with open("kept.json", "w") as f:
        json.dump({"kept_epoch": kept_epoch}, f)
    return draw(history, path, kept_epoch=kept_epoch)
plots.learning_curves = learning_curves
sys.exit(cli.main(sys.argv[1:]))
"""


def test_train_stars_the_epoch_whose_weights_it_saved(tmp_path):
    # no early stopping: the saved weights are the last epoch's, whatever epoch had the lowest val loss
    args = ["train", "--data", "iris", "--epochs", "12", "--lr", "0.5", "--out", "o", "--quiet"]
    ok(
        subprocess.run(
            [sys.executable, "-c", _RECORD_KEPT, *args],
            cwd=tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    )
    history = json.loads((tmp_path / "o" / "history.json").read_text())
    kept = json.loads((tmp_path / "kept.json").read_text())["kept_epoch"]
    assert history["best_epoch"] == 12
    assert kept == history["best_epoch"]


def test_evaluate_writes_its_own_misclassified_plot_and_leaves_trains(tmp_path):
    scratchnn("train", "--data", "digits", "--epochs", "1", "--out", "d", "--quiet", cwd=tmp_path)
    trains = (tmp_path / "d" / "misclassified.png").read_bytes()
    proc = scratchnn("evaluate", "--model", "d/model.npz", "--data", "digits", "--all-rows", cwd=tmp_path)
    assert os.path.join("d", "misclassified_evaluate.png") in proc.stdout.splitlines()[-1]
    assert (tmp_path / "d" / "misclassified.png").read_bytes() == trains
    assert (tmp_path / "d" / "misclassified_evaluate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
