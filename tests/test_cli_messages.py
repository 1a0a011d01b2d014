"""Each message says what really happened: bugs are bugs, user errors are the user's, saves are named.

Real ``scratchnn`` subprocesses. Where a failure cannot be produced from the
outside (a bug, Ctrl-C at one exact moment, a folder root may still write to),
the subprocess is ``python -c`` with one function of scratchnn replaced before
``cli.main`` runs, as in tests/test_cli_errors.py.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import TIMEOUT, cli_env, error_line, run
from sklearn.datasets import load_iris


def run_patched(code: str, args, cwd) -> subprocess.CompletedProcess:
    """``scratchnn ARGS`` in a ``python -c`` process that first runs ``code``."""
    script = f"import sys\nimport scratchnn.cli as cli\n{code}\nsys.exit(cli.main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def write_iris(path: Path, order: np.ndarray, labels=None) -> Path:
    iris = load_iris()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*iris.feature_names, "species"])
        for k, i in enumerate(order):
            label = iris.target_names[iris.target[i]] if labels is None else labels[k]
            writer.writerow([*iris.data[i], label])
    return path


@pytest.fixture(scope="module")
def iris_csv_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("messages")
    write_iris(d / "iris.csv", np.arange(150))
    proc = run(["train", "--data", "iris.csv", "--epochs", "3", "--out", "m", "--quiet"], d)
    assert proc.returncode == 0, proc.stderr
    return d


# -- user errors and bugs --------------------------------------------------------------------


def test_a_value_error_from_a_bug_exits_1_as_a_bug(tmp_path):
    code = (
        "def broken(*args, **kwargs):\n"
        "    raise ValueError('an internal shape mismatch')\n"
        "import scratchnn.cli.train as train\n"
        "train.fit_and_save = broken\n"
    )
    proc = run_patched(code, ["train", "--data", "iris", "--epochs", "1", "--out", "o"], tmp_path)
    line = error_line(proc, status=1)
    assert line.startswith("error: unexpected ValueError: an internal shape mismatch")
    assert "this is a bug" in line


def test_evaluate_with_no_correct_prediction_prints_its_report(iris_csv_run):
    d = iris_csv_run
    predicted = run(["predict", "--model", "m/model.npz", "--input", "iris.csv"], d)
    assert predicted.returncode == 0, predicted.stderr
    names = ["setosa", "versicolor", "virginica"]
    rows = csv.DictReader(predicted.stdout.splitlines())
    labels = [names[(names.index(r["prediction"]) + 1) % 3] for r in rows]
    write_iris(d / "wrong.csv", np.arange(150), labels)  # every label differs from the prediction
    proc = run(["evaluate", "--model", "m/model.npz", "--data", "wrong.csv", "--out", "ev"], d)
    assert proc.returncode == 0, proc.stderr
    assert "Accuracy: 0.0000 (0 of 150 rows correct)" in proc.stdout
    report: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():  # the report's row of each class comes before the matrix's
        if line.strip():
            report.setdefault(line.split()[0], line.split())
    counts = {name: labels.count(name) for name in names}
    for name in names:  # supports are counts, as in any other report
        assert report[name][1:] == ["0.0000", "0.0000", "0.0000", str(counts[name])]
    assert report["accuracy"][1:] == ["0.0000", "150"]


def test_a_seed_out_of_range_gets_our_own_message(tmp_path):
    line = error_line(run(["train", "--data", "iris", "--seed", "4294967296", "--out", "o"], tmp_path))
    assert "--seed: must be an integer from 0 to 4294967295, got '4294967296'" in line
    assert "random_state" not in line
    assert not (tmp_path / "o").exists()


def test_a_network_too_large_for_memory_is_refused_before_allocating(tmp_path):
    line = error_line(run(["train", "--data", "iris", "--hidden", "99999999999", "--out", "o"], tmp_path))
    # (4 + 1) x 99999999999 + (99999999999 + 1) x 3 float32 parameters, each held four times
    assert "--hidden 99999999999: the network would need 12,800.0 GB" in line
    assert "for its 799,999,999,995 parameters" in line
    assert "of memory" in line
    assert not (tmp_path / "o").exists()


def test_divergence_from_a_huge_weight_decay_names_the_weight_decay(tmp_path):
    args = ["train", "--data", "iris", "--weight-decay", "1e300", "--epochs", "2", "--out", "o"]
    line = error_line(run(args, tmp_path))
    assert line.startswith("error: training diverged in epoch 1")
    assert "the weight decay 1e+300 is too large for the learning rate 0.1" in line
    assert "try a weight decay below 10" in line
    assert "smaller learning rate" not in line
    assert "no model was saved" in line


# -- what was saved, what the data is --------------------------------------------------------


def test_ctrl_c_while_drawing_the_plots_says_the_model_and_history_were_saved(tmp_path):
    code = (
        "import scratchnn.plots as plots\n"
        "def interrupted(*args, **kwargs):\n"
        "    raise KeyboardInterrupt\n"
        "plots.learning_curves = interrupted\n"
    )
    proc = run_patched(code, ["train", "--data", "iris", "--epochs", "2", "--out", "o"], tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"interrupted; saved so far in {os.path.join('o', '')}: model.npz, history.json"
    ]
    assert (tmp_path / "o" / "model.npz").exists()
    assert (tmp_path / "o" / "history.json").exists()


def test_evaluate_on_a_shuffled_copy_of_the_training_data_says_so(iris_csv_run):
    d = iris_csv_run
    write_iris(d / "shuffled.csv", np.random.default_rng(0).permutation(150))
    proc = run(["evaluate", "--model", "m/model.npz", "--data", "shuffled.csv", "--quiet"], d)
    assert proc.returncode == 0, proc.stderr
    proc = run(["evaluate", "--model", "m/model.npz", "--data", "shuffled.csv"], d)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "the rows the model was trained on, in a different order" in first
    assert "not the data the model was trained on" not in first
    other = run(["evaluate", "--model", "m/model.npz", "--data", "iris.csv", "--all-rows"], d)
    assert "including the rows the model was trained on" in other.stdout.splitlines()[0]


_READ_ONLY = """
import os, tempfile
folder = os.path.realpath(sys.argv.pop(1))
os.chmod(folder, 0o555)
if os.access(folder, os.W_OK):  # root writes anyway: make the folder refuse as a read-only one does
    real_mkstemp = tempfile.mkstemp
    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and os.path.realpath(dir) == folder:
            raise PermissionError(13, "Permission denied", os.path.join(dir, kwargs.get("prefix", "")))
        return real_mkstemp(*args, dir=dir, **kwargs)
    tempfile.mkstemp = mkstemp
"""


def test_evaluate_next_to_a_read_only_model_prints_its_metrics_then_warns(iris_csv_run, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "model.npz").write_bytes((iris_csv_run / "m" / "model.npz").read_bytes())
    args = [folder, "evaluate", "--model", folder / "model.npz", "--data", iris_csv_run / "iris.csv"]
    try:
        proc = run_patched(_READ_ONLY, args, tmp_path)
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert "Accuracy: " in proc.stdout
    assert "Confusion matrix" in proc.stdout
    (warning,) = proc.stderr.strip().splitlines()
    assert warning.startswith("warning: could not write the plots: Permission denied")
    assert "--out" in warning
    assert sorted(os.listdir(folder)) == ["model.npz"]
