"""The LSTM benchmark (W7) runs end to end on tiny sizes and writes only its own section."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import rnn  # noqa: E402


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's and joblib's imports, not ours
def test_tiny_lstm_benchmark_times_both_implementations_at_both_thread_counts(tmp_path):
    pytest.importorskip("torch")
    results = rnn.run(True)
    assert set(results["times"]) == {1, 2}
    for times in results["times"].values():
        assert set(times) == {"scratchnn", "torch"}
        assert all(len(ts) == rnn.QUICK.repeats and min(ts) > 0 for ts in times.values())
    section = rnn.report(results, "1.00 0.50 0.25")
    assert "QUICK: tiny sizes" in section
    assert "| 1 | torch |" in section
    assert "| W7, 2 thread(s): <= 1.3 x torch |" in section
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nother sections stay\n")
    rnn.write_section(out, section)
    rnn.write_section(out, section)
    text = out.read_text()
    assert text.count("<!-- rnn:start -->") == 1
    assert "other sections stay" in text
