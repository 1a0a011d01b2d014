"""CSV files are read in time linear in their cells and in about the memory of the float array.

The wide files go through the real ``scratchnn train`` and ``predict`` commands;
the memory is measured with ``tracemalloc`` (NumPy reports its arrays to it).
No timing is asserted: a subprocess timeout only stops a run that has hung or
gone quadratic (the reader used to need 140 s for ``train`` on 100,000 columns
and 518 s for ``predict``); ``benchmarks/csv_load.py`` reports the figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from scratchnn import sources

SCRIPT = shutil.which("scratchnn", path=os.path.dirname(sys.executable)) or shutil.which("scratchnn")
HANG = 120  # seconds: far above the few seconds these runs take, far below the old quadratic reader


def run_cli(*args, cwd) -> subprocess.CompletedProcess:
    command = [SCRIPT] if SCRIPT else [sys.executable, "-m", "scratchnn"]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=HANG)


def write_wide(path, rows: list[np.ndarray], labels: list[str] | None) -> None:
    n = len(rows[0])
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([*(f"p{j}" for j in range(n)), *(["label"] if labels else [])]) + "\n")
        for i, row in enumerate(rows):
            f.write(",".join([*(f"{v:.3f}" for v in row), *([labels[i]] if labels else [])]) + "\n")


def test_train_and_predict_on_100000_columns(tmp_path):
    n = 100_000
    rng = np.random.default_rng(0)
    a, b = rng.random(n), rng.random(n)
    write_wide(tmp_path / "one.csv", [a], ["a"])
    write_wide(tmp_path / "two.csv", [a, b], ["a", "b"])
    write_wide(tmp_path / "query.csv", [b], None)

    # one row is one class: refused once the file is read, which must be quick too
    proc = run_cli("train", "--data", "one.csv", "--out", "r1", "--test-fraction", "0", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "at least two classes" in proc.stderr

    split = ["--test-fraction", "0", "--val-fraction", "0"]
    proc = run_cli("train", "--data", "two.csv", "--out", "r2", *split, "--hidden", "8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 rows, 100000 features, 2 classes" in proc.stdout
    proc = run_cli("predict", "--model", "r2/model.npz", "--input", "query.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "prediction\nb\n"  # the query is the training row labelled b


def write_tall(path, x: np.ndarray, labels) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([*(f"f{j}" for j in range(x.shape[1])), "label"]) + "\n")
        f.writelines(",".join(f"{v:.6f}" for v in row) + f",{k}\n" for row, k in zip(x, labels))


def test_loading_peaks_below_three_times_the_float_array(tmp_path):
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal((20_000, 50)), 6)
    path = tmp_path / "tall.csv"
    write_tall(path, x, rng.integers(0, 3, size=len(x)))
    tracemalloc.start()
    try:
        ds = sources.load_source(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(ds.x, x)
    assert ds.x.dtype == np.float64
    assert peak <= 3 * ds.x.nbytes, f"peak {peak / 2**20:.1f} MB for an array of {ds.x.nbytes / 2**20:.1f} MB"


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 12 cells, so a small file spans many of them."""
    monkeypatch.setattr(sources, "_BLOCK_CELLS", 12)


def test_blocks_join_into_the_whole_table_in_order(tmp_path, small_blocks):
    rng = np.random.default_rng(2)
    x = np.round(rng.standard_normal((37, 5)), 6)
    path = tmp_path / "t.csv"
    write_tall(path, x, [f"c{i % 3}" for i in range(37)])
    ds = sources.load_source(str(path))
    np.testing.assert_array_equal(ds.x, x)
    assert ds.labels.tolist() == [f"c{i % 3}" for i in range(37)]
    picked = sources.read_features(str(path), ["f4", "f0", "f3", "f1", "f2"], target="label").x
    np.testing.assert_array_equal(picked, x[:, [4, 0, 3, 1, 2]])


def test_an_error_in_a_later_block_names_its_own_line(tmp_path, small_blocks):
    lines = ["a,b,c,y"] + [f"{i},{i + 1},{i + 2},k" for i in range(30)]
    lines[25] = "1,2,oops,k"  # line 26 of the file
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="column 'c' on line 26 holds 'oops'"):
        sources.load_source(str(path))


def test_quoted_cells_blank_rows_and_a_single_feature_column(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('x,label\n1.5,"two\nlines"\n,\n\n2.5,plain\n', encoding="utf-8")
    ds = sources.load_source(str(path))
    np.testing.assert_array_equal(ds.x, [[1.5], [2.5]])
    assert ds.labels.tolist() == ["two\nlines", "plain"]
    assert sources.read_features(str(path), ["x"], target="label").x.tolist() == [[1.5], [2.5]]
