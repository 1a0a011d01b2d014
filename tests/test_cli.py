"""The ``scratchnn`` command, run as a user runs it: the installed console script (or
``python -m scratchnn``) in a subprocess, on real files in a temporary directory.

Small data and few epochs keep each run to a few seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_support import SCRIPT, TIMEOUT, assert_one_line_error, scratchnn, scratchnn_command, start

from scratchnn import cli
from scratchnn.data import Scaler
from scratchnn.data.sources import load_source
from scratchnn.serialization import load_network, save
from scratchnn.tuning import files as tuning_files


def assert_sensible_image(path):
    """A real PNG file (signature, decodable) of a sensible size with something drawn on it."""
    import matplotlib.image

    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert 200 <= image.shape[0] <= 2000, image.shape
    assert 200 <= image.shape[1] <= 2000, image.shape
    assert float(np.std(image[..., :3])) > 0.01


def write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_predictions(text):
    return list(csv.DictReader(text.splitlines()))


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """``scratchnn train --data iris`` once, shared by the tests that read its model."""
    cwd = tmp_path_factory.mktemp("iris")
    proc = scratchnn("train", "--data", "iris", "--out", "runs/i", "--epochs", "15", "--seed", "1", cwd=cwd)
    return cwd, proc


# -- train, evaluate, predict: the README's walk-through ------------------------------------


def test_train_on_iris_writes_model_history_and_learning_curves(iris_run):
    cwd, proc = iris_run
    run = cwd / "runs" / "i"
    assert {p.name for p in run.iterdir()} >= {"model.npz", "history.json", "learning_curves.png"}
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("iris: 150 rows, 4 features, 3 classes")
    assert lines[1].startswith("Epoch 1/15 | Loss: ")  # the seed's plain lines when not on a terminal
    assert lines[-1].startswith("Test accuracy: ")
    history = json.loads((run / "history.json").read_text())
    assert len(history["epochs"]) == 15
    assert {"epoch", "loss", "val_loss", "val_accuracy", "lr"} <= set(history["epochs"][0])
    assert_sensible_image(run / "learning_curves.png")


def test_evaluate_scores_the_held_out_test_split_by_default(iris_run):
    cwd, train = iris_run
    proc = scratchnn("evaluate", "--model", "runs/i/model.npz", "--data", "iris", cwd=cwd)
    assert "held-out test split of iris: 30 of 150 rows" in proc.stdout
    accuracy = proc.stdout.split("Accuracy: ")[1].split()[0]
    assert train.stdout.splitlines()[-1].startswith(f"Test accuracy: {accuracy}")  # same rows, same model
    for name in ("setosa", "versicolor", "virginica", "macro avg", "precision", "recall", "f1-score"):
        assert name in proc.stdout
    assert "Confusion matrix" in proc.stdout
    assert_sensible_image(cwd / "runs" / "i" / "confusion_matrix.png")
    assert "Wrote runs/i/confusion_matrix.png" in proc.stdout  # the paths as train prints them

    every = scratchnn(
        "evaluate", "--model", "runs/i/model.npz", "--data", "iris", "--all-rows", "--out", "ev", cwd=cwd
    )
    assert "all 150 rows of iris" in every.stdout
    assert "support" in every.stdout
    assert_sensible_image(cwd / "ev" / "confusion_matrix.png")


def test_predict_on_raw_iris_rows_gives_species_names_identical_to_the_python_api(iris_run):
    cwd, _ = iris_run
    ds = load_source("iris")
    rows = write_rows(cwd / "rows.csv", ds.feature_names, ds.x[::10].tolist())
    proc = scratchnn("predict", "--model", "runs/i/model.npz", "--input", rows, cwd=cwd)
    predicted = [r["prediction"] for r in read_predictions(proc.stdout)]
    assert len(predicted) == 15
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}

    network, meta = load_network(cwd / "runs" / "i" / "model.npz")
    expected = network.predict(Scaler.from_dict(meta["scaler"]).transform(ds.x[::10]))
    assert predicted == [meta["label_names"][k] for k in expected]
    assert np.mean(np.array(predicted) == ds.labels[::10]) >= 0.8

    proc = scratchnn(
        "predict", "--model", "runs/i/model.npz", "--input", rows, "--proba", "--output", "p.csv", cwd=cwd
    )
    table = read_predictions((cwd / "p.csv").read_text())
    assert list(table[0]) == ["prediction", "proba_setosa", "proba_versicolor", "proba_virginica"]
    sums = [sum(float(v) for k, v in row.items() if k.startswith("proba_")) for row in table]
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    assert [r["prediction"] for r in table] == predicted


def test_model_file_loads_without_pickles_and_round_trips_bit_identically(iris_run, tmp_path):
    cwd, _ = iris_run
    path = cwd / "runs" / "i" / "model.npz"
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
    assert meta["metadata"]["label_names"] == ["setosa", "versicolor", "virginica"]
    assert meta["metadata"]["training"]["seed"] == 1
    assert {"scaler", "feature_names", "split", "source"} <= set(meta["metadata"])

    network, metadata = load_network(path)
    x = np.random.default_rng(0).standard_normal((50, 4))
    before = network.predict_proba(x)
    save(network, tmp_path / "again.npz", metadata)
    again, metadata_again = load_network(tmp_path / "again.npz")
    np.testing.assert_array_equal(again.predict_proba(x), before)
    np.testing.assert_array_equal(again.predict(x), network.predict(x))
    assert metadata_again == metadata


def test_digits_end_to_end_with_image_plots(tmp_path):
    proc = scratchnn("train", "--data", "digits", "--out", "runs/d", "--epochs", "3", cwd=tmp_path)
    run = tmp_path / "runs" / "d"
    for name in ("learning_curves.png", "first_layer_weights.png", "misclassified.png"):
        assert_sensible_image(run / name)
    assert "Test accuracy: 0.9" in proc.stdout

    proc = scratchnn("evaluate", "--model", "runs/d/model.npz", "--data", "digits", cwd=tmp_path)
    assert "held-out test split of digits: 360 of 1797 rows" in proc.stdout
    assert_sensible_image(run / "confusion_matrix.png")
    assert_sensible_image(run / "misclassified.png")  # drawn again, from the evaluated rows

    ds = load_source("digits")
    header = ds.feature_names  # pixel_0_0 ... pixel_7_7, as scikit-learn names them
    rows = write_rows(tmp_path / "digits_rows.csv", header, ds.x[:40].astype(int).tolist())
    proc = scratchnn("predict", "--model", "runs/d/model.npz", "--input", rows, cwd=tmp_path, module=True)
    predicted = [r["prediction"] for r in read_predictions(proc.stdout)]
    assert np.mean(np.array(predicted) == ds.labels[:40]) >= 0.85


def test_csv_with_string_labels_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    x = rng.standard_normal((n, 3)) * [1.0, 10.0, 0.1] + [0.0, 100.0, 5.0]
    names = np.array(["cat", "dog", "bird"])
    labels = names[
        np.argmax((x - [0.0, 100.0, 5.0]) / [1.0, 10.0, 0.1] @ rng.standard_normal((3, 3)), axis=1)
    ]
    rows = [[lab, *map(float, r)] for lab, r in zip(labels, x)]
    data = write_rows(tmp_path / "pets.csv", ["animal", "weight", "height", "age"], rows)

    proc = scratchnn(
        "train", "--data", data, "--target", "animal", "--hidden", "16,8", "--optimizer", "adam",
        "--lr", "0.01", "--epochs", "20", "--out", "pets", cwd=tmp_path,
    )  # fmt: skip
    assert "pets.csv: 120 rows, 3 features, 3 classes" in proc.stdout
    _, meta = load_network(tmp_path / "pets" / "model.npz")
    assert meta["label_names"] == ["bird", "cat", "dog"]
    assert meta["training"]["hidden_units"] == [16, 8]

    # evaluate finds the label column by the name the model was trained with
    proc = scratchnn("evaluate", "--model", "pets/model.npz", "--data", data, cwd=tmp_path)
    assert "held-out test split of" in proc.stdout
    assert "bird" in proc.stdout

    # predict on the training file itself: the label column is ignored
    proc = scratchnn("predict", "--model", "pets/model.npz", "--input", data, cwd=tmp_path)
    predicted = np.array([r["prediction"] for r in read_predictions(proc.stdout)])
    assert set(predicted) <= {"cat", "dog", "bird"}
    assert np.mean(predicted == labels) >= 0.8


def test_quiet_prints_only_the_final_result(tmp_path):
    proc = scratchnn("train", "--data", "iris", "--out", "q", "--epochs", "2", "--quiet", cwd=tmp_path)
    assert proc.stdout.splitlines() == [proc.stdout.strip()]
    assert proc.stdout.startswith("Test accuracy: ")
    proc = scratchnn("evaluate", "--model", "q/model.npz", "--data", "iris", "--quiet", cwd=tmp_path)
    assert proc.stdout.strip().startswith("Accuracy: ")
    assert len(proc.stdout.splitlines()) == 1


def test_progress_bar_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks = []

    def read():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    proc = subprocess.run(
        [*scratchnn_command(), "train", "--data", "iris", "--out", "t", "--epochs", "4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        timeout=TIMEOUT,
    )
    os.close(slave)
    reader.join(10)
    os.close(master)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "4/4" in terminal  # the tqdm bar over epochs
    assert "Epoch 1/4" not in proc.stdout  # instead of the plain lines


# -- tune ---------------------------------------------------------------------------------------

GRID = "learning_rate=0.05,1e6;hidden_units=8,8x4;batch_size=16,32"


def test_tune_records_every_trial_draws_the_heatmap_and_trains_the_best(tmp_path):
    proc = scratchnn(
        "tune", "--data", "iris", "--out", "t", "--grid", GRID, "--epochs", "2", "--final-epochs", "3",
        cwd=tmp_path, module=True,
    )  # fmt: skip
    out = tmp_path / "t"
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    assert list(rows[0]) == [
        "learning_rate", "hidden_units", "batch_size", "val_accuracy", "val_loss", "train_loss", "status"
    ]  # fmt: skip
    assert "diverged" in {r["status"] for r in rows if r["learning_rate"] == "1000000.0"}
    assert {r["status"] for r in rows if r["learning_rate"] == "0.05"} == {"ok"}
    assert "8x4" in {r["hidden_units"] for r in rows}
    assert proc.stdout.count("Trial ") == 8
    assert "Best settings: learning_rate=0.05" in proc.stdout
    assert_sensible_image(out / "tuning_heatmap.png")
    assert_sensible_image(out / "learning_curves.png")
    _, meta = load_network(out / "model.npz")
    assert meta["training"]["learning_rate"] == 0.05
    assert meta["training"]["epochs"] == 3


def test_tune_grid_given_twice_searches_both_and_refuses_a_key_named_twice(tmp_path):
    args = ["tune", "--data", "iris", "--epochs", "1", "--final-epochs", "1", "--quiet"]
    grid = ["--grid", "learning_rate=0.05,0.1", "--grid", "batch_size=16"]
    scratchnn(*args, "--out", "t", *grid, cwd=tmp_path)
    with open(tmp_path / "t" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["learning_rate"], r["batch_size"]) for r in rows] == [("0.05", "16"), ("0.1", "16")]
    proc = scratchnn(
        *args, "--out", "u", "--grid", "batch_size=16", "--grid", "batch_size=32", cwd=tmp_path, status=None
    )
    assert proc.returncode == 2
    assert "'batch_size' twice" in proc.stderr
    assert not (tmp_path / "u" / "results.csv").exists()


def test_tune_resume_runs_only_missing_trials_and_gives_the_same_table(tmp_path):
    grid = "learning_rate=0.05,0.2;batch_size=16,32"
    args = ["--data", "iris", "--grid", grid, "--epochs", "2", "--final-epochs", "2", "--quiet"]
    scratchnn("tune", *args, "--out", "full", cwd=tmp_path)
    full = (tmp_path / "full" / "results.csv").read_text()

    # an interrupted run: the settings file and the first two finished trials
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(tmp_path / "full" / "results.json", part / "results.json")
    (part / "results.csv").write_text("".join(full.splitlines(keepends=True)[:3]))
    proc = scratchnn("tune", *args, "--out", "part", "--resume", "--jobs", "2", cwd=tmp_path)
    assert (part / "results.csv").read_text() == full
    assert proc.returncode == 0

    # a different search cannot resume from it
    other = scratchnn("tune", *args, "--out", "part", "--resume", "--seed", "5", cwd=tmp_path, status=None)
    assert_one_line_error(other, "--resume", "seed")


# -- errors: one line, exit 2; Ctrl-C saves -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--data", "iris"], ["--out"]),
        (["train", "--data", "iris", "--out", "o", "--lr", "-1"], ["--lr", "'-1'"]),
        (["train", "--data", "iris", "--out", "o", "--hidden", "64,a"], ["--hidden", "'64,a'"]),
        (["train", "--data", "iris", "--out", "o", "--activation", "relu6"], ["--activation", "relu6"]),
        (["train", "--data", "iris", "--out", "o", "--test-fraction", "1"], ["--test-fraction"]),
        (["tune", "--data", "iris", "--out", "o", "--jobs", "0"], ["--jobs"]),
        (["predict", "--model", "m.npz"], ["--input"]),
        (["fit"], ["invalid choice", "'fit'"]),
    ],
)
def test_argument_errors_are_one_line_with_status_2(args, fragments, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "--help" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def test_user_errors_through_the_console_script(tmp_path, iris_run):
    iris_cwd, _ = iris_run
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,x\n3,4\n")
    assert_one_line_error(
        scratchnn("train", "--data", "ragged.csv", "--out", "o", cwd=tmp_path, status=None), "line 3"
    )
    assert_one_line_error(
        scratchnn("train", "--data", "iris.csv", "--out", "o", cwd=tmp_path, status=None), "not found"
    )
    assert_one_line_error(
        scratchnn("tune", "--data", "iris", "--out", "o", "--grid", "lr=0.1", cwd=tmp_path, status=None),
        "unknown key 'lr'",
    )
    (tmp_path / "fake.npz").write_bytes(b"not a zip file")
    assert_one_line_error(
        scratchnn("evaluate", "--model", "fake.npz", "--data", "iris", cwd=tmp_path, status=None), "fake.npz"
    )
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    model = iris_cwd / "runs" / "i" / "model.npz"
    assert_one_line_error(
        scratchnn("predict", "--model", model, "--input", "wrong.csv", cwd=tmp_path, status=None),
        "sepal length (cm)",
    )
    assert not (tmp_path / "o").exists()


def test_divergence_is_an_error_naming_the_epoch_and_saves_no_model(tmp_path):
    proc = scratchnn("train", "--data", "iris", "--out", "o", "--lr", "1e6", cwd=tmp_path, status=None)
    assert_one_line_error(proc, "diverged in epoch", "smaller learning rate", "no model was saved")
    assert not (tmp_path / "o" / "model.npz").exists()


def test_unexpected_errors_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(cli.command("evaluate"), "run", broken)
    assert cli.main(["evaluate", "--model", "m.npz", "--data", "iris"]) == 1
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: something inside broke" in err
    assert "--debug" in err
    assert "Traceback" not in err
    assert cli.main(["evaluate", "--model", "m.npz", "--data", "iris", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_during_train_saves_the_best_model_and_exits_130(tmp_path):
    proc = start(["train", "--data", "digits", "--out", "o", "--epochs", "100000"], tmp_path)
    try:
        epochs = 0
        while epochs < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            epochs += line.startswith("Epoch ")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted after" in err
    assert "Traceback" not in err
    network, meta = load_network(tmp_path / "o" / "model.npz")
    assert meta["interrupted"] is True
    history = json.loads((tmp_path / "o" / "history.json").read_text())
    assert history["interrupted"] is True
    assert len(history["epochs"]) >= 2
    x = Scaler.from_dict(meta["scaler"]).transform(load_source("digits").x[:100])
    assert np.mean(network.predict(x) == load_source("digits").labels[:100].astype(int)) > 0.8


# -- help -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "tune", "evaluate", "predict"])
def test_help_of_every_subcommand_explains_every_option(command, tmp_path):
    proc = scratchnn(command, "--help", cwd=tmp_path)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        for option in action.option_strings:
            assert option in proc.stdout
        if action.dest != "help":
            assert len(action.help or "") > 15, action.option_strings
    assert "example" in proc.stdout


def test_top_level_help_lists_the_subcommands(tmp_path):
    proc = scratchnn("--help", cwd=tmp_path, module=True)
    for command in ("train", "tune", "evaluate", "predict"):
        assert command in proc.stdout


def test_grid_values_are_typed_and_round_trip_through_results_csv():
    grid = tuning_files.parse_grid("learning_rate=0.01,1;hidden_units=64,128x64;optimizer=adam;patience=none")
    assert grid == {
        "learning_rate": [0.01, 1],
        "hidden_units": [64, (128, 64)],
        "optimizer": ["adam"],
        "patience": [None],
    }
    for key, values in grid.items():
        for value in values:
            text = tuning_files.format_value(value)
            assert tuning_files.parse_value(key, text) == value or (value is None and text == "")
    with pytest.raises(ValueError, match="name=v1,v2"):
        tuning_files.parse_grid("learning_rate")


def test_console_script_is_installed():
    assert SCRIPT is not None
    assert Path(SCRIPT).exists()
