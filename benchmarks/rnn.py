"""Benchmark W7: a training step of a 1-layer LSTM, scratchnn against ``torch.nn.LSTM`` (CPU).

    python benchmarks/rnn.py                 # 1 and 2 threads; writes its section of RESULTS.md
    python benchmarks/rnn.py --quick         # tiny sizes, prints the table only
    python benchmarks/run.py --only W7       # the same, from the main benchmark

W7: one LSTM layer, 65 inputs, hidden 128, batch 32, 64 steps, float32 (a
character-level language model's shapes). One *step* is the forward pass over
the batch and the full backward pass through time (input gradient and the four
parameter gradients), with the same upstream gradient for both
implementations; no optimizer (it costs the same for both). Each implementation
is limited to the same number of threads (NumPy's BLAS through
``threadpoolctl``, PyTorch through ``torch.set_num_threads``), measured at 1 and
2 threads, taking turns after a warm-up; the table gives the median, min and
max of the repeats and the ratio of scratchnn's median to PyTorch's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import measuring  # noqa: E402
from benchmarks.sections import replace_section  # noqa: E402
from scratchnn.layers import LSTM  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- rnn:start -->", "<!-- rnn:end -->"
TARGET = 1.3  # scratchnn's median at most this many times torch.nn.LSTM's, at each thread count


@dataclass
class RnnSizes:
    """The workload's shapes and how often it is timed; ``--quick`` shrinks it to run in a second."""

    batch: int = 32
    steps: int = 64
    inputs: int = 65
    hidden: int = 128
    repeats: int = 21
    warmup: int = 3
    threads: tuple = (1, 2)


QUICK = RnnSizes(batch=4, steps=8, inputs=5, hidden=8, repeats=2, warmup=1)


def make_step_functions(sizes: RnnSizes, seed: int = 0) -> dict:
    """``{name: step()}``: one forward and backward pass of each implementation on the same data."""
    import torch

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((sizes.batch, sizes.steps, sizes.inputs)).astype(np.float32)
    g = rng.standard_normal((sizes.batch, sizes.steps, sizes.hidden)).astype(np.float32)
    ours = LSTM(sizes.inputs, sizes.hidden, seed=rng)
    ref = torch.nn.LSTM(sizes.inputs, sizes.hidden, batch_first=True)
    with torch.no_grad():
        for p, q in zip(ours.params, ref.parameters()):
            q.copy_(torch.from_numpy(p))
    xt, gt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(g)

    def scratchnn_step() -> None:
        ours.forward(x, training=True)
        ours.backward(g)

    def torch_step() -> None:
        ref.zero_grad(set_to_none=True)
        xt.grad = None
        y, _ = ref(xt)
        y.backward(gt)

    return {"scratchnn": scratchnn_step, "torch": torch_step}


def run(quick: bool = False, sizes: RnnSizes | None = None) -> dict:
    """``{"sizes", "quick", "times": {threads: {impl: [seconds, ...]}}}``."""
    if sizes is None:
        sizes = QUICK if quick else RnnSizes()
    steps = make_step_functions(sizes)
    times = {}
    for threads in sizes.threads:
        out = {name: [] for name in steps}
        with measuring.limit_threads(threads):
            for _ in range(sizes.warmup):
                for step in steps.values():
                    step()
            for _ in range(sizes.repeats):
                for name, step in steps.items():
                    t0 = time.perf_counter()
                    step()
                    out[name].append(time.perf_counter() - t0)
        times[threads] = out
        line = ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in out.items())
        print(f"  W7 {threads} thread(s): {line}", flush=True)
    return {"quick": quick, "sizes": sizes, "times": times}


def checks(results: dict) -> list[tuple[str, str, bool]]:
    rows = []
    for threads, times in results["times"].items():
        r = statistics.median(times["scratchnn"]) / statistics.median(times["torch"])
        rows.append((f"W7, {threads} thread(s): <= {TARGET} x torch", f"{r:.3f} x", r <= TARGET))
    return rows


def report(results: dict, load: str) -> str:
    s = results["sizes"]
    lines = ["## Recurrent networks (W7: LSTM training step)", ""]
    if results["quick"]:
        lines += ["QUICK: tiny sizes, few repetitions: the figures say nothing.", ""]
    lines += [
        f"Load average (1, 5, 15 min) during the run: {load}. One LSTM layer, {s.inputs} inputs, hidden "
        f"{s.hidden}, batch {s.batch}, {s.steps} steps, float32; one step is the forward pass and the whole "
        f"backward pass through time. Median milliseconds of {s.repeats} steps after {s.warmup} warm-up "
        "steps, scratchnn and torch.nn.LSTM taking turns, each limited to the thread count of the row. "
        "Last column: scratchnn's median divided by the row's.",
        "",
        "| threads | implementation | median ms | min ms | max ms | scratchnn / this |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for threads, times in results["times"].items():
        ours = statistics.median(times["scratchnn"])
        for impl, ts in times.items():
            med = statistics.median(ts)
            lines.append(
                f"| {threads} | {impl} | {med * 1e3:.2f} | {min(ts) * 1e3:.2f} | {max(ts) * 1e3:.2f} | "
                f"{ours / med:.3f} |"
            )
    lines += ["", "LSTM targets:", "", *measuring.targets_table(checks(results))]
    lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    replace_section(path, START, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repetitions")
    parser.add_argument("--output", type=Path, default=None, help="write the section here")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps of each (after a warm-up)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else RnnSizes()
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be a positive integer, got {args.repeats}")
        sizes.repeats = args.repeats
    section = measuring.measure_and_report(lambda: run(args.quick, sizes), report)
    output = args.output if args.output is not None or args.quick else RESULTS
    if output is not None:
        write_section(output, section)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
