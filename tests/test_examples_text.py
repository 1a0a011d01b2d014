"""examples/char_gpt.py and examples/char_lstm.py run end to end, as a user runs them (a few steps)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(r"Validation loss: \d+\.\d{4}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "words.txt"
    rng = random.Random(1)
    words = "to be or not that is the question whether tis nobler in mind".split()
    path.write_text(" ".join(rng.choice(words) for _ in range(2000)) + "\n", encoding="utf-8")
    return path


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("script", ["char_gpt.py", "char_lstm.py"])
def test_the_example_trains_samples_and_ends_with_the_validation_loss(corpus, script):
    out = run(script, "--corpus", str(corpus), "--iters", "4", "--sample", "20", "--seed", "1")
    last = out.rstrip("\n").splitlines()[-1]
    assert LAST_LINE.fullmatch(last), last
    assert "18 distinct" in out  # the corpus's 16 letters, the space and the newline
    assert "step     4: train loss" in out
