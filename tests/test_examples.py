"""The Digits recipe and the accuracy benchmark run end to end, as a user runs them. No timings checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIGITS_BEST = ROOT / "examples" / "digits_best.py"
ACCURACY = ROOT / "benchmarks" / "accuracy.py"
LAST_LINE = re.compile(r"Test accuracy: (0\.\d{4}|1\.0000)")


#: Short runs keep the suite fast; the full recipe's accuracy is the benchmark's job
#: (benchmarks/accuracy.py), as the README's table shows.
EPOCHS = "10"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``digits_best.py --epochs 10`` with seeds 0, 0 and 1, side by side, from a foreign directory."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error", str(DIGITS_BEST), "--seed", seed, "--epochs", EPOCHS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for seed in ("0", "0", "1")
    ]
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-3000:]
        outputs.append(stdout)
    return outputs


def test_digits_best_ends_with_the_test_accuracy_line(runs):
    for out in runs:
        last = out.rstrip("\n").splitlines()[-1]
        assert LAST_LINE.fullmatch(last), last


def test_digits_best_prints_the_same_output_for_the_same_seed(runs):
    assert runs[0] == runs[1]


def test_digits_best_prints_another_output_for_another_seed(runs):
    assert runs[0] != runs[2]


def test_digits_best_reports_the_choice_made_on_validation(runs):
    assert "288 held out for validation" in runs[0]
    assert "Chosen on validation: {'dropout': " in runs[0]
    assert "trained for 10 epochs on all 1437 training rows" in runs[0]


def test_digits_best_learns_even_in_ten_epochs(runs):
    last = runs[0].rstrip("\n").splitlines()[-1]
    assert float(LAST_LINE.fullmatch(last).group(1)) >= 0.97


def test_digits_best_rejects_a_negative_seed():
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(DIGITS_BEST), "--seed", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "--seed must be a non-negative integer, got -1" in proc.stderr


def test_accuracy_benchmark_writes_its_section_and_leaves_the_rest(tmp_path):
    out = tmp_path / "RESULTS.md"
    before = "# Benchmark results\n\n<!-- speed:start -->\nspeed figures\n<!-- speed:end -->\n\nA note.\n"
    out.write_text(before + "\n<!-- accuracy:start -->\nold table\n<!-- accuracy:end -->\n\nThe end.\n")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ACCURACY), "--seeds", "0", "--epochs", "2", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.startswith(before)
    assert text.endswith("<!-- accuracy:end -->\n\nThe end.\n")
    assert "old table" not in text
    assert text.count("<!-- accuracy:start -->") == 1
    section = text.split("<!-- accuracy:start -->")[1].split("<!-- accuracy:end -->")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| method | mean | std | seed 0 | time per run (s) |"
    labels = ["`main.py`", "`examples/digits_best.py`", "MLPClassifier", "LogisticRegression", "SVC"]
    assert len(rows) == 1 + len(labels)
    for label, row in zip(labels, rows[1:]):
        assert label in row
        mean = float(row.split("|")[2])
        assert 0.9 < mean <= 1.0  # every method learns Digits, even in two epochs
    assert section.strip() in proc.stdout


def test_accuracy_benchmark_creates_a_missing_file(tmp_path):
    out = tmp_path / "new" / "RESULTS.md"
    out.parent.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            str(ACCURACY),
            "--seeds",
            "0,1",
            "--methods",
            "svc",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# Benchmark results\n\n<!-- accuracy:start -->\n")
    assert text.endswith("<!-- accuracy:end -->\n")
    assert "| seed 0 | seed 1 |" in text


def test_accuracy_benchmark_rejects_an_unknown_method(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            str(ACCURACY),
            "--methods",
            "svc,forest",
            "--output",
            str(tmp_path / "r.md"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "--methods must name methods among" in proc.stderr
    assert not (tmp_path / "r.md").exists()


DIGITS_CNN = ROOT / "examples" / "digits_cnn.py"


@pytest.fixture(scope="module")
def cnn_runs(tmp_path_factory):
    """``digits_cnn.py --epochs 2`` with seed 0 twice (one process, then two), from another directory."""
    cwd = tmp_path_factory.mktemp("elsewhere_cnn")
    outputs = []
    for seed, jobs in (("0", "1"), ("0", "2")):
        proc = subprocess.run(
            [sys.executable, "-W", "error", str(DIGITS_CNN), "--seed", seed, "--epochs", "2", "--jobs", jobs],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=cwd,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs.append(proc.stdout)
    return outputs


def test_digits_cnn_ends_with_the_test_accuracy_line_and_reports_its_choice(cnn_runs):
    for out in cnn_runs:
        last = out.rstrip("\n").splitlines()[-1]
        assert LAST_LINE.fullmatch(last), last
    assert "288 held out for validation" in cnn_runs[0]
    assert "Chosen on validation: {'shift': " in cnn_runs[0]
    assert "trained for 2 epochs on all 1437 training rows" in cnn_runs[0]


def test_digits_cnn_same_seed_same_output_whatever_the_number_of_processes(cnn_runs):
    assert cnn_runs[0] == cnn_runs[1]


def test_digits_cnn_learns_even_in_two_epochs(cnn_runs):
    last = cnn_runs[0].rstrip("\n").splitlines()[-1]
    assert float(LAST_LINE.fullmatch(last).group(1)) >= 0.9


def test_digits_cnn_shift_moves_each_image_by_at_most_one_pixel_with_zeros_coming_in():
    sys.path.insert(0, str(DIGITS_CNN.parent))
    try:
        import digits_cnn
    finally:
        sys.path.remove(str(DIGITS_CNN.parent))
    import numpy as np

    x = np.arange(1, 65, dtype=np.float32)[None].repeat(200, axis=0)
    out = digits_cnn.shifted(x, 1, np.random.default_rng(0)).reshape(200, 8, 8)
    image = x[0].reshape(8, 8)
    seen = set()
    for moved in out:
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(moved, np.pad(image, 1)[1 - dy : 9 - dy, 1 - dx : 9 - dx])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 9  # every offset drawn
    assert digits_cnn.shifted(x, 0, np.random.default_rng(0)) is x
