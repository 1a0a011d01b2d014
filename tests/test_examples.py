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
