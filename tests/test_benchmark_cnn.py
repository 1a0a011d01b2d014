"""The CNN benchmark (W5, W6) runs end to end on tiny sizes and writes only its own section.

No timings are checked (speed belongs to ``make bench``); what is checked is
that every implementation ran at both thread counts, that the floor is W6's
alone, and that the report and its targets are there.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import cnn  # noqa: E402


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's and joblib's imports, not ours
def test_tiny_cnn_benchmark_times_both_workloads_at_both_thread_counts_and_reports_them():
    # one thread count and scratchnn's memory only, to stay fast on a loaded machine; the
    # quick run of benchmarks/run.py (test_benchmark_smoke) takes both thread counts and torch's
    sizes = cnn.CnnSizes(
        w5_rows=64, w6_rows=256, repeats=1, w5_repeats=1, threads=(1,), memory=("scratchnn",)
    )
    results = cnn.run(True, ("W5", "W6"), sizes)
    for workload, impls in (("W5", {"scratchnn", "torch"}), ("W6", {"scratchnn", "torch", "matmul floor"})):
        block = results[workload]
        assert set(block["times"]) == {1}
        for times in block["times"].values():
            assert set(times) == impls
            assert all(t > 0 for ts in times.values() for t in ts)
    assert results["W5"]["rows"] == 64
    assert results["W6"]["rows"] == 256
    mem = results["MEM"]["scratchnn"]
    assert mem["peak_mb"] >= mem["baseline_mb"] > 0
    assert mem["dataset_mb"] == pytest.approx(256 * (784 * 4 + 8) / 2**20)

    section = cnn.report(results, "1.00 0.50 0.25")
    assert "QUICK: W5 on 64 images, W6 on a subset of 256 images instead of 60,000" in section
    assert "| W5 | 64 | 1 | torch |" in section
    assert "| W6 | 256 | 1 | matmul floor |" in section
    assert "| W6, 1 thread(s): <= 1.3 x torch |" in section
    assert "2 thread(s)" not in section  # targets only for what was measured
    assert "W6 peak memory <= dataset + 300 MB" in section
    ours = statistics.median(results["W6"]["times"][1]["scratchnn"])
    floor = statistics.median(results["W6"]["times"][1]["matmul floor"])
    assert f"| W6, 1 thread(s): <= 2.0 x matmul floor | {ours / floor:.3f} x |" in section


def test_matmul_floor_is_defined_for_w6_only():
    x, y = cnn.synthetic_images(8)
    assert x.shape == (8, 784)
    assert y.shape == (8,)
    with pytest.raises(ValueError, match="W6 only"):
        cnn.run_floor("W5", x, y)


def test_cnn_section_replaces_only_its_own_markers(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(
        "# Benchmark results\n\n<!-- speed:start -->\nspeed figures\n<!-- speed:end -->\n\n"
        "<!-- cnn:start -->\nold cnn figures\n<!-- cnn:end -->\n"
    )
    cnn.write_section(path, "## Convolutional networks (W5, W6)\n\nnew")
    text = path.read_text()
    assert "old cnn figures" not in text
    assert "<!-- cnn:start -->\n## Convolutional networks (W5, W6)\n\nnew\n<!-- cnn:end -->" in text
    assert "<!-- speed:start -->\nspeed figures\n<!-- speed:end -->" in text
