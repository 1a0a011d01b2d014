"""No command writes over what it reads, or over a file scratchnn did not write, unless ``--force``.

Real ``scratchnn`` subprocesses on real files; the paths are compared resolved,
so ``./m/../m/model.npz`` and a symbolic link are caught like the plain path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import error_line, run

from scratchnn.files import atomic_write

FEATURES = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("outputs")
    proc = run(["train", "--data", "iris", "--epochs", "2", "--out", "m", "--quiet"], d)
    assert proc.returncode == 0, proc.stderr
    (d / "rows.csv").write_text(FEATURES + "\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    (d / "m" / "link.npz").symlink_to("model.npz")
    return d


@pytest.mark.parametrize(
    ("output", "what"),
    [
        ("m/model.npz", "--model"),
        ("./m/../m/model.npz", "--model"),
        ("m/link.npz", "--model"),
        ("rows.csv", "--input"),
        ("./m/../rows.csv", "--input"),
    ],
)
def test_predict_never_writes_over_its_model_or_its_input(trained, output, what):
    before = {p: p.read_bytes() for p in (trained / "m" / "model.npz", trained / "rows.csv")}
    for force in ([], ["--force"]):
        proc = run(
            ["predict", "--model", "m/model.npz", "--input", "rows.csv", "--output", output, *force], trained
        )
        line = error_line(proc)
        assert f"--output {output!r} is the {what} file this command reads" in line
    assert {p: p.read_bytes() for p in before} == before


def test_predict_replaces_a_file_it_did_not_write_only_with_force(trained, tmp_path):
    mine = tmp_path / "notes.csv"
    mine.write_text("my own notes\n")
    args = ["predict", "--model", trained / "m" / "model.npz", "--input", trained / "rows.csv"]
    line = error_line(run([*args, "--output", mine], tmp_path))
    assert "already exists and was not written by scratchnn" in line
    assert "--force" in line
    assert mine.read_text() == "my own notes\n"
    proc = run([*args, "--output", mine, "--force"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert mine.read_text().splitlines() == ["prediction", "setosa", "virginica"]


def test_predict_into_a_run_folder_may_rewrite_its_own_predictions(trained):
    args = ["predict", "--model", "m/model.npz", "--input", "rows.csv", "--output", "m/predictions.csv"]
    for _ in range(2):  # the second run replaces the file the first one wrote and recorded
        proc = run(args, trained)
        assert proc.returncode == 0, proc.stderr


def test_evaluate_never_writes_its_plots_over_a_file_it_did_not_write(trained, tmp_path):
    out = tmp_path / "plots"
    out.mkdir()
    (out / "confusion_matrix.png").write_bytes(b"somebody else's picture")
    args = ["evaluate", "--model", trained / "m" / "model.npz", "--data", "iris", "--out", out]
    line = error_line(run(args, tmp_path))
    assert "confusion_matrix.png" in line
    assert "--force" in line
    assert (out / "confusion_matrix.png").read_bytes() == b"somebody else's picture"
    proc = run([*args, "--force"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_never_writes_over_the_data_it_reads_even_with_force(tmp_path):
    rows = "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(40))
    (tmp_path / "data.csv").write_text("a,b,label\n" + rows)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.npz").symlink_to("../data.csv")  # the run's model.npz *is* the data
    before = (tmp_path / "data.csv").read_bytes()
    proc = run(["train", "--data", "data.csv", "--out", "run", "--force", "--epochs", "1"], tmp_path)
    line = error_line(proc)
    assert "model.npz" in line
    assert "the --data file" in line
    assert (tmp_path / "data.csv").read_bytes() == before
    assert (tmp_path / "run" / "model.npz").is_symlink()


def test_a_failed_write_names_the_file(tmp_path):
    def full_disk(f):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device") as info:
        atomic_write(tmp_path / "history.json", full_disk)
    assert info.value.filename == str(tmp_path / "history.json")
    assert "No space left on device" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
