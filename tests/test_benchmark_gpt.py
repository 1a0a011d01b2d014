"""benchmarks/gpt_curve.py runs end to end: a short run on a text made here, PyTorch's curve the same.

(benchmarks/gpt.py, the step's timing, runs as W8 in tests/test_benchmark_smoke.py.)"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gpt_curve_benchmark_gives_pytorch_the_same_curve(tmp_path):
    words = "to be or not to be that is the question whether tis nobler in the mind".split()
    rng = random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(rng.choice(words) for _ in range(6000)), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpt_curve.py"), "--corpus", str(corpus), "--iters", "10"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([-+][\d.]+e[-+]\d+) \|$", result.stdout, re.M)
    assert [int(r[0]) for r in rows] == [0, 10]
    assert float(rows[1][1]) < float(rows[0][1])  # it learned
    assert all(abs(float(r[3])) <= 0.01 for r in rows), result.stdout
