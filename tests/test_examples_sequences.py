"""The sequence examples run end to end, as a user runs them, on a few epochs. No timings checked.

Their full figures (five vowels seeds, the sunspots MAEs) are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VOWELS = ROOT / "examples" / "vowels.py"
SUNSPOTS = ROOT / "examples" / "sunspots.py"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``vowels.py`` and ``sunspots.py`` with 2 epochs, side by side, from a foreign directory."""
    pytest.importorskip("sktime")
    pytest.importorskip("statsmodels")
    cwd = tmp_path_factory.mktemp("elsewhere")
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-W", "error", str(script), "--seed", "1", "--epochs", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for name, script in (("vowels", VOWELS), ("sunspots", SUNSPOTS))
    }
    outputs = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        outputs[name] = stdout
    return outputs


def test_vowels_reports_its_choice_and_ends_with_the_test_accuracy(runs):
    out = runs["vowels"]
    assert "270 training sequences (54 held out for validation while choosing), 370 test sequences" in out
    assert "Chosen on validation: {'learning_rate': " in out
    last = out.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"Test accuracy: (0\.\d{4}|1\.0000)", last)
    assert match, last
    assert float(match.group(1)) > 1 / 9  # two epochs already beat guessing among nine speakers


def test_sunspots_ends_with_the_three_test_maes(runs):
    out = runs["sunspots"]
    assert "Monthly sunspots: 3126 months" in out
    assert "Chosen on validation: {'window': " in out
    last = out.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"Test MAE: (\d+\.\d\d) \(persistence (\d+\.\d\d), ARIMA (\d+\.\d\d)\)", last)
    assert match, last
    assert float(match.group(2)) == pytest.approx(14.12, abs=0.005)  # the data and split are fixed


@pytest.mark.parametrize("script", [VOWELS, SUNSPOTS])
def test_sequence_examples_reject_a_negative_seed(script):
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script), "--seed", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "--seed must be a non-negative integer, got -1" in proc.stderr
