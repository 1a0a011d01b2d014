"""Every bad input to the ``scratchnn`` command: one line ``error: ...`` naming the problem, status 2.

Table-driven, through the installed console script in real subprocesses, on
real files. Each row is a mistake a user can make on the command line, in a
CSV or ``.npz`` data file, or with a model file; the row states the exit status
and words the error line must contain (the option, file, line, column or
value at fault). No row may print a traceback, and stderr must hold exactly
the one error line. The subprocesses run four at a time to keep the suite fast.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from cli_support import TIMEOUT, run

IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _rows(values) -> str:
    return "\n".join(",".join(str(v) for v in row) for row in values) + "\n"


HEADER = "a,b,label\n"
GOOD = [(1, 2, "x"), (3, 4, "y"), (5, 6, "x"), (7, 8, "y"), (2, 1, "x"), (4, 3, "y")]


def _make_files(d: Path) -> None:
    """The bad (and a few good) inputs the table refers to, by file name."""
    _write(d / "good.csv", HEADER + _rows(GOOD))
    _write(d / "ragged.csv", HEADER + _rows(GOOD[:2]) + "5,6\n" + _rows(GOOD[3:]))
    _write(d / "words.csv", HEADER + _rows(GOOD[:3]) + "7,eight,y\n" + _rows(GOOD[4:]))
    _write(d / "empty_cell.csv", HEADER + _rows(GOOD[:1]) + "3,,y\n" + _rows(GOOD[2:]))
    _write(d / "nan_cell.csv", HEADER + _rows(GOOD[:4]) + "2,NaN,x\n")
    _write(d / "inf_cell.csv", HEADER + "inf,2,x\n" + _rows(GOOD[1:]))
    _write(d / "no_label.csv", HEADER + _rows(GOOD[:2]) + "5,6,\n")
    _write(d / "one_class.csv", HEADER + _rows([(1, 2, "x"), (3, 4, "x"), (5, 6, "x")]))
    _write(d / "empty.csv", "")
    _write(d / "header_only.csv", HEADER)
    _write(d / "duplicate_header.csv", "a,a,label\n" + _rows(GOOD))
    _write(d / "only_label.csv", "label\nx\ny\n")
    (d / "latin1.csv").write_bytes(HEADER.encode() + "1,2,caf\xe9\n".encode("latin-1"))
    _write(d / "notes.dat", "not data\n")

    np.savez(d / "no_X.npz", y=np.arange(4))
    np.savez(d / "X_1d.npz", X=np.arange(4.0), y=np.arange(4))
    np.savez(d / "X_empty.npz", X=np.zeros((0, 2)), y=np.zeros(0, dtype=np.int64))
    np.savez(d / "X_nan.npz", X=np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0], [5.0, 6.0]]), y=[0, 1, 0, 1])
    np.savez(d / "y_float.npz", X=np.ones((4, 2)), y=np.array([0.0, 1.5, 0.0, 1.0]))
    np.savez(d / "y_short.npz", X=np.ones((4, 2)), y=np.array([0, 1, 0]))
    np.savez(d / "X_text.npz", X=np.array([["a", "b"]] * 4), y=np.array([0, 1, 0, 1]))

    # Model files that are not models.
    (d / "text_model.npz").write_text("hello")
    np.save(d / "array.npy", np.zeros((4, 3)))
    # Input rows for predict against the iris model.
    _write(d / "iris_rows.csv", ",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    _write(d / "iris_lacks.csv", ",".join(IRIS_FEATURES[:3]) + "\n5.1,3.5,1.4\n")
    _write(d / "iris_extra.csv", ",".join([*IRIS_FEATURES, "colour"]) + "\n5.1,3.5,1.4,0.2,red\n")
    _write(d / "iris_words.csv", ",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n6.2,wide,4.3,1.3\n")
    _write(d / "iris_ragged.csv", ",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n6.2,2.9\n")
    _write(d / "iris_unknown_label.csv", ",".join([*IRIS_FEATURES, "target"]) + "\n5.1,3.5,1.4,0.2,tulip\n")


def _damaged_models(d: Path) -> None:
    """Cut, corrupted, wrong-version and fake copies of the real iris model."""
    data = (d / "iris" / "model.npz").read_bytes()
    (d / "truncated.npz").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[data.index(b"0.W.npy") + 200] ^= 0xFF
    (d / "corrupted.npz").write_bytes(bytes(flipped))
    with np.load(d / "iris" / "model.npz", allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["format_version"] = 99
    np.savez(d / "future.npz", **{**arrays, "__meta__": np.array(json.dumps(meta))})


TRAIN = ["train", "--data", "iris", "--out", "o"]
TUNE = ["tune", "--data", "iris", "--out", "o"]


def train_on(data: str, *extra: str) -> list[str]:
    return ["train", "--data", data, "--out", "o", *extra]


def evaluate(model: str, data: str = "iris") -> list[str]:
    return ["evaluate", "--model", model, "--data", data]


def predict(model: str, rows: str) -> list[str]:
    return ["predict", "--model", model, "--input", rows]


def use_model(model: str) -> list[str]:
    """``predict`` with good rows: it reads the model first, so a bad model file fails fast."""
    return predict(model, "iris_rows.csv")


# Each row: id -> (arguments, exit status, words the error line must contain).
CASES = {
    # -- the command line itself
    "no command": ([], 2, ["required", "COMMAND"]),
    "unknown command": (["fit"], 2, ["invalid choice", "'fit'"]),
    "train without --data": (["train", "--out", "o"], 2, ["--data"]),
    "unknown option": ([*TRAIN, "--learning-rate", "0.1"], 2, ["--learning-rate"]),
    "lr zero": ([*TRAIN, "--lr", "0"], 2, ["--lr", "'0'"]),
    "lr negative": ([*TRAIN, "--lr=-0.5"], 2, ["--lr", "'-0.5'"]),
    "lr nan": ([*TRAIN, "--lr", "nan"], 2, ["--lr", "'nan'"]),
    "lr inf": ([*TRAIN, "--lr", "inf"], 2, ["--lr", "'inf'"]),
    "lr text": ([*TRAIN, "--lr", "fast"], 2, ["--lr", "'fast'"]),
    "batch size zero": ([*TRAIN, "--batch-size", "0"], 2, ["--batch-size", "'0'"]),
    "batch size fraction": ([*TRAIN, "--batch-size", "2.5"], 2, ["--batch-size", "'2.5'"]),
    "epochs zero": ([*TRAIN, "--epochs", "0"], 2, ["--epochs", "'0'"]),
    "epochs negative": ([*TRAIN, "--epochs=-4"], 2, ["--epochs", "'-4'"]),
    "hidden zero": ([*TRAIN, "--hidden", "64,0"], 2, ["--hidden", "'64,0'"]),
    "activation": ([*TRAIN, "--activation", "gelu"], 2, ["--activation", "'gelu'"]),
    "val fraction 1": ([*TRAIN, "--val-fraction", "1"], 2, ["--val-fraction", "'1'"]),
    "patience without validation": ([*TRAIN, "--patience", "3", "--val-fraction", "0"], 2,
                                    ["--patience", "--val-fraction"]),
    # -- tuning grids
    "grid unknown key": ([*TUNE, "--grid", "lr=0.1"], 2, ["unknown key", "'lr'"]),
    "grid empty values": ([*TUNE, "--grid", "learning_rate="], 2, ["'learning_rate'", "no values"]),
    "grid bad value": ([*TUNE, "--grid", "learning_rate=0.1,-1"], 2, ["learning_rate", "-1.0"]),
    "grid batch zero": ([*TUNE, "--grid", "batch_size=16,0"], 2, ["batch_size", "0"]),
    "grid no equals": ([*TUNE, "--grid", "learning_rate"], 2, ["--grid", "'learning_rate'"]),
    "jobs zero": ([*TUNE, "--jobs", "0"], 2, ["--jobs", "'0'"]),
    # -- data sources
    "unknown data set": (train_on("mnist"), 2, ["data", "'mnist'"]),
    "missing csv": (train_on("absent.csv"), 2, ["not found", "absent.csv"]),
    "not csv, npz or txt": (train_on("notes.dat"), 2, ["'notes.dat'"]),
    "ragged csv": (train_on("ragged.csv"), 2, ["ragged.csv", "line 4", "2 cells", "3 columns"]),
    "non-numeric cell": (train_on("words.csv"), 2, ["words.csv", "column 'b'", "line 5", "'eight'"]),
    "empty cell": (train_on("empty_cell.csv"), 2, ["empty_cell.csv", "missing value", "'b'", "line 3"]),
    "NaN cell": (train_on("nan_cell.csv"), 2, ["column 'b'", "line 6", "'NaN'"]),
    "inf cell": (train_on("inf_cell.csv"), 2, ["column 'a'", "line 2", "'inf'"]),
    "missing label": (train_on("no_label.csv"), 2, ["missing label", "column 'label'", "line 4"]),
    "target not a column": (train_on("good.csv", "--target", "species"), 2,
                            ["--target 'species'", "good.csv", "'label'"]),
    "one class": (train_on("one_class.csv"), 2, ["two classes", "'x'"]),
    "empty file": (train_on("empty.csv"), 2, ["empty.csv", "header"]),
    "header only": (train_on("header_only.csv"), 2, ["header_only.csv", "no data rows"]),
    "duplicate header": (train_on("duplicate_header.csv"), 2, ["column 'a' twice"]),
    "only a label column": (train_on("only_label.csv"), 2, ["only_label.csv", "feature"]),
    "not utf-8": (train_on("latin1.csv"), 2, ["latin1.csv", "UTF-8"]),
    "npz without X": (train_on("no_X.npz"), 2, ["no_X.npz", "'X'"]),
    "npz X 1-D": (train_on("X_1d.npz"), 2, ["X_1d.npz", "2-D", "(4,)"]),
    "npz X empty": (train_on("X_empty.npz"), 2, ["X_empty.npz", "non-empty", "(0, 2)"]),
    "npz X NaN": (train_on("X_nan.npz"), 2, ["X_nan.npz", "nan", "row 1", "column 0"]),
    "npz X text": (train_on("X_text.npz"), 2, ["X_text.npz", "numeric"]),
    "npz y non-integer": (train_on("y_float.npz", "--task", "classification"), 2,
                          ["y_float.npz", "y", "integers"]),
    "npz y short": (train_on("y_short.npz"), 2, ["y_short.npz", "(3,)"]),
    # -- model files
    "model missing": (evaluate("absent.npz"), 2, ["not found", "absent.npz"]),
    "model is text": (use_model("text_model.npz"), 2, ["text_model.npz", "not a scratchnn model"]),
    "model is .npy": (use_model("array.npy"), 2, ["array.npy", "not a scratchnn model"]),
    "model is a data file": (use_model("no_X.npz"), 2, ["no_X.npz", "not a scratchnn model"]),
    "model is a directory": (use_model("."), 2, ["not a readable model file"]),
    "model truncated": (evaluate("truncated.npz"), 2, ["truncated.npz", "truncated or corrupted"]),
    "model corrupted": (use_model("corrupted.npz"), 2, ["corrupted.npz", "CRC"]),
    "model from the future": (use_model("future.npz"), 2, ["future.npz", "version 99", "version 1"]),
    # -- data that does not fit the model
    "predict lacks a column": (predict("iris/model.npz", "iris_lacks.csv"), 2,
                               ["iris_lacks.csv", "'petal width (cm)'"]),
    "predict extra column": (predict("iris/model.npz", "iris_extra.csv"), 2, ["iris_extra.csv", "'colour'"]),
    "predict non-numeric": (predict("iris/model.npz", "iris_words.csv"), 2,
                            ["iris_words.csv", "column 'sepal width (cm)'", "line 3", "'wide'"]),
    "predict ragged": (predict("iris/model.npz", "iris_ragged.csv"), 2, ["iris_ragged.csv", "line 3"]),
    "predict missing input": (predict("iris/model.npz", "absent.csv"), 2, ["not found", "absent.csv"]),
    "evaluate other features": (evaluate("iris/model.npz", "wine"), 2, ["wine", "'sepal length (cm)'"]),
    "evaluate unknown label": (evaluate("iris/model.npz", "iris_unknown_label.csv"), 2,
                               ["'tulip'", "classes"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli_errors")
    _make_files(d)
    trained = run(["train", "--data", "iris", "--epochs", "2", "--out", "iris", "--quiet"], d)
    assert trained.returncode == 0, trained.stderr
    _damaged_models(d)
    return d


@pytest.fixture(scope="module")
def results(workdir) -> dict[str, subprocess.CompletedProcess]:
    """Every row of CASES, run through the console script, four at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case: pool.submit(run, args, workdir) for case, (args, _, _) in CASES.items()}
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_gives_one_error_line_naming_the_problem(results, workdir, case):
    _, status, words = CASES[case]
    proc = results[case]
    assert proc.returncode == status, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("error: ")
    for word in words:
        assert word in line, f"{word!r} missing from {line!r}"
    assert not (workdir / "o").exists(), "a failed command must not leave an output directory behind"


def test_a_batch_size_larger_than_the_data_is_not_an_error(tmp_path):
    proc = run(
        ["train", "--data", "iris", "--batch-size", "100000", "--epochs", "2", "--out", "run"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [record["epoch"] for record in history["epochs"]] == [1, 2]


# -- divergence ------------------------------------------------------------------------------


def test_train_with_an_absurd_learning_rate_fails_and_writes_no_model(tmp_path):
    proc = run(["train", "--data", "iris", "--lr", "1e30", "--epochs", "5", "--out", "run"], tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # no NumPy overflow warnings either
    assert lines[0].startswith("error: training diverged in epoch 1")
    assert "smaller learning rate" in lines[0]
    assert "no model was saved" in lines[0]
    assert not (tmp_path / "run" / "model.npz").exists()


def test_a_diverged_retrain_leaves_the_previous_model_and_history_untouched(workdir, tmp_path):
    out = tmp_path / "iris"
    out.mkdir()
    for name in ("model.npz", "history.json"):
        (out / name).write_bytes((workdir / "iris" / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # --force: the earlier run is replaced only once the new one has finished, which it never does
    proc = run(["train", "--data", "iris", "--lr", "1e30", "--out", str(out), "--force"], tmp_path)
    assert proc.returncode == 2
    assert "error: training diverged" in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    again = run(["predict", "--model", str(out / "model.npz"), "--input", "iris_rows.csv"], workdir)
    assert again.returncode == 0, again.stderr


def test_tune_records_a_diverged_trial_and_goes_on(tmp_path):
    grid = "learning_rate=1e30,0.1;hidden_units=8"
    args = ["tune", "--data", "iris", "--grid", grid, "--epochs", "3", "--final-epochs", "2", "--out", "t"]
    proc = run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rows = (tmp_path / "t" / "results.csv").read_text().splitlines()
    assert rows[0] == "learning_rate,hidden_units,val_accuracy,val_loss,train_loss,status"
    assert rows[1] == "1e+30,8,,,,diverged"
    assert rows[2].startswith("0.1,8,")
    assert rows[2].endswith(",ok")
    assert "1 diverged" in proc.stdout
    assert "Best settings: learning_rate=0.1" in proc.stdout
    assert (tmp_path / "t" / "model.npz").exists()


def test_tune_where_every_trial_diverges_is_an_error(tmp_path):
    args = ["tune", "--data", "iris", "--grid", "learning_rate=1e30,1e35", "--epochs", "2", "--out", "t"]
    proc = run(args, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: every trial diverged; try smaller learning rates (see {os.path.join('t', 'results.csv')})"
    ]
    assert (tmp_path / "t" / "results.csv").read_text().count("diverged") == 2
    assert not (tmp_path / "t" / "model.npz").exists()


# -- pickles and unexpected errors -----------------------------------------------------------


class _MakesMarker:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_model_carrying_a_pickle_is_refused_and_its_code_never_runs(workdir, tmp_path):
    marker = tmp_path / "ran"
    evil = np.empty(1, dtype=object)
    evil[0] = _MakesMarker(str(marker))
    buffer = io.BytesIO()
    with (
        np.load(workdir / "iris" / "model.npz", allow_pickle=False) as z,
        zipfile.ZipFile(buffer, "w") as out,
    ):
        for name in z.files:
            member = io.BytesIO()
            np.save(member, evil if name == "0.W" else z[name], allow_pickle=True)
            out.writestr(name + ".npy", member.getvalue())
    (tmp_path / "evil.npz").write_bytes(buffer.getvalue())
    for args in (
        ["evaluate", "--model", "evil.npz", "--data", "iris"],
        ["predict", "--model", "evil.npz", "--input", str(workdir / "iris_rows.csv")],
    ):
        proc = run(args, tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            "error: evil.npz holds pickled objects, which are refused for safety"
        ]
        assert not marker.exists()


_RAISE_INSIDE = """
import sys
import scratchnn.cli as cli

def broken(args):
    raise RuntimeError("something nobody expected")

cli.command("train").run = broken
sys.exit(cli.main(sys.argv[1:]))
"""


def test_an_unexpected_error_exits_1_with_a_short_message_and_a_debug_hint(tmp_path):
    args = ["train", "--data", "iris", "--out", "o"]
    proc = subprocess.run(
        [sys.executable, "-c", _RAISE_INSIDE, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: unexpected RuntimeError: something nobody expected")
    assert "--debug" in line

    debug = subprocess.run(
        [sys.executable, "-c", _RAISE_INSIDE, *args, "--debug"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RuntimeError: something nobody expected" in debug.stderr


# -- a damaged results.csv under --resume -------------------------------------------------------

RESULTS_HEADER = "hidden_units,val_accuracy,val_loss,train_loss,status\n"
DAMAGED_RESULTS = {
    "not a number": (RESULTS_HEADER + "4,0.5,0.9,1.0,ok\n8,abc,0.9,1.0,ok\n", ["line 3", "'abc'"]),
    "ok without metrics": (RESULTS_HEADER + "4,,,,ok\n", ["line 2", "not a finished trial"]),
    "other columns": ("learning_rate,val_accuracy\n0.1,0.5\n", ["columns", "'learning_rate'"]),
}


def test_resume_with_a_damaged_results_table_names_the_file_and_line(tmp_path):
    args = ["tune", "--data", "iris", "--grid", "hidden_units=4,8", "--epochs", "1", "--final-epochs", "1"]
    first = run([*args, "--out", "base", "--quiet"], tmp_path)
    assert first.returncode == 0, first.stderr
    for case in DAMAGED_RESULTS:
        shutil.copytree(tmp_path / "base", tmp_path / case)
        (tmp_path / case / "results.csv").write_text(DAMAGED_RESULTS[case][0])
    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = {
            case: pool.submit(run, [*args, "--out", case, "--resume"], tmp_path) for case in DAMAGED_RESULTS
        }
    for case, future in procs.items():
        proc = future.result()
        assert proc.returncode == 2, (case, proc.stderr)
        assert "Traceback" not in proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"error: --resume: {os.path.join(case, 'results.csv')}"), line
        for word in DAMAGED_RESULTS[case][1]:
            assert word in line, (case, line)
