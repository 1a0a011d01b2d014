"""The benchmark runs end to end on tiny sizes, so it cannot rot. No timings are checked."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"


def load_run_module():
    spec = importlib.util.spec_from_file_location("benchmark_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is being executed
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's and joblib's imports, not ours
def test_quick_benchmark_prints_and_writes_every_table(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count("<!-- speed:start -->") == 1
    assert text.count("<!-- speed:end -->") == 1
    assert text.count("<!-- csv:start -->") == text.count("<!-- csv:end -->") == 1
    assert text.count("<!-- gpt:start -->") == text.count("<!-- gpt:end -->") == 1
    gpt_rows = re.findall(
        r"^\| ([12]) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \|$", text, re.M
    )
    assert gpt_rows == ["1", "2"], text
    for expected in (
        "| W1 | float32 | scratchnn |",
        "| W1 | float64 | torch |",
        "| W2 | float32 | sklearn |",
        "| W2 | float32 | matmul floor |",
        "W3, scaling",
        "| default grid (main.py) |",
        "| larger grid |",
        "| W2 | scratchnn |",
        "Targets (float32):",
        "- NumPy's BLAS (scratchnn's): ",
        "CSV loading (QUICK",
        "| scratchnn | ",
        "`scratchnn predict` on 1 row",
        "QUICK: at these tiny sizes the targets say nothing",
        "## A training step of the baby GPT (W8, benchmarks/gpt.py)",
    ):
        assert expected in text, f"{expected!r} missing from the report"
        assert expected in proc.stdout
    assert "wrote" in proc.stdout


def test_write_section_replaces_only_the_speed_section(tmp_path):
    run = load_run_module()
    path = tmp_path / "RESULTS.md"
    path.write_text(
        "# Benchmark results\n\n<!-- speed:start -->\nold figures\n<!-- speed:end -->\n\n"
        "<!-- accuracy:start -->\naccuracy figures\n<!-- accuracy:end -->\n"
    )
    run.write_section(path, "## Speed\n\nnew figures")
    text = path.read_text()
    assert "old figures" not in text
    assert "<!-- speed:start -->\n## Speed\n\nnew figures\n<!-- speed:end -->" in text
    assert "<!-- accuracy:start -->\naccuracy figures\n<!-- accuracy:end -->" in text
    assert text.startswith("# Benchmark results\n")


def test_write_section_appends_to_a_file_without_markers(tmp_path):
    run = load_run_module()
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\naccuracy first\n")
    run.write_section(path, "## Speed")
    text = path.read_text()
    assert text.startswith("# Benchmark results\n\naccuracy first\n")
    assert text.rstrip().endswith("<!-- speed:start -->\n## Speed\n<!-- speed:end -->")
