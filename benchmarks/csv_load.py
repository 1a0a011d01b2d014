"""Benchmark: reading CSV files, tall (200,000 rows x 50 columns) and wide (1 row x 100,000 columns).

    python benchmarks/csv_load.py            # prints the figures and writes them to RESULTS.md
    python benchmarks/csv_load.py --quick    # tiny files: checks that it runs (prints only)
    make bench                               # also runs this, as the CSV workload of run.py

* TALL: ``scratchnn.data.sources.load_source`` on a CSV of 200,000 rows of 50 numeric
  features and a text label, against ``numpy.loadtxt`` reading the same 50
  columns (NumPy's C parser, which knows no labels, quotes or line numbers in
  its errors: the peer to beat is a floor, not a rival). Each load runs alone in
  a fresh process; the figures are its wall time and its peak resident memory
  above the process's memory after the imports, next to the size of the
  float64 array it returns.
* WIDE: ``scratchnn train`` on 2 rows x 100,000 feature columns (two rows, one
  per class: a classifier needs two classes) and ``scratchnn predict`` on 1 row
  of the same columns, each as a user runs it, in a subprocess: wall time from
  start to exit, imports included.

Loading is linear in the number of cells, so the figures scale with the file;
before the CSV reader was rewritten the wide train took 140 s and the tall load
peaked at 12 times the array's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.sections import replace_section  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- csv:start -->", "<!-- csv:end -->"

FULL = {"tall_rows": 200_000, "tall_cols": 50, "wide_cols": 100_000}
QUICK = {"tall_rows": 2_000, "tall_cols": 50, "wide_cols": 2_000}


def write_tall(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """``rows`` rows of ``cols`` Gaussian features (6 decimals) and a label ``c0``..``c2``."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([*(f"f{j}" for j in range(cols)), "label"]) + "\n")
        for start in range(0, rows, 10_000):
            x = rng.standard_normal((min(10_000, rows - start), cols))
            labels = rng.integers(0, 3, size=len(x))
            f.writelines(",".join(f"{v:.6f}" for v in row) + f",c{k}\n" for row, k in zip(x, labels))


def write_wide(path: Path, rows: int, cols: int, labels: bool, seed: int = 0) -> None:
    """``rows`` rows of ``cols`` features in [0, 1); with ``labels``, a last column ``a``, ``b``, ..."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([*(f"p{j}" for j in range(cols)), *(["label"] if labels else [])]) + "\n")
        for i in range(rows):
            cells = [f"{v:.3f}" for v in rng.random(cols)]
            f.write(",".join([*cells, *([chr(ord("a") + i)] if labels else [])]) + "\n")


def child(kind: str, path: str) -> None:
    """Run one load in this fresh process and print its figures as JSON."""
    from scratchnn.data import sources

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    t0 = time.perf_counter()
    if kind == "scratchnn":
        x = sources.load_source(path).x
    else:
        with open(path, encoding="utf-8") as f:
            cols = len(f.readline().split(",")) - 1
        x = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(cols), dtype=np.float64)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "array_mb": x.nbytes / 2**20, "extra_mb": peak - baseline}))


def measure_load(kind: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def scratchnn_command() -> list[str]:
    script = shutil.which("scratchnn", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "scratchnn"]


def timed_run(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([*scratchnn_command(), *args], cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    """Write the files in a temporary folder, measure, and return the figures."""
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="scratchnn-csv-bench-") as tmp:
        tmp = Path(tmp)
        tall = tmp / "tall.csv"
        write_tall(tall, sizes["tall_rows"], sizes["tall_cols"])
        loads = {kind: measure_load(kind, tall) for kind in ("scratchnn", "numpy.loadtxt")}
        wide_train, wide_one = tmp / "wide_train.csv", tmp / "wide_one.csv"
        write_wide(wide_train, 2, sizes["wide_cols"], labels=True)
        write_wide(wide_one, 1, sizes["wide_cols"], labels=False, seed=1)
        train_args = ["train", "--data", wide_train, "--out", tmp / "wide"]
        train_args += ["--test-fraction", "0", "--val-fraction", "0", "--quiet"]
        wide = {
            "train": timed_run(list(map(str, train_args)), tmp),
            "predict": timed_run(
                ["predict", "--model", str(tmp / "wide" / "model.npz"), "--input", str(wide_one)], tmp
            ),
        }
        return {
            "sizes": sizes,
            "file_mb": tall.stat().st_size / 2**20,
            "loads": loads,
            "wide": wide,
        }


def report(result: dict, quick: bool) -> str:
    s = result["sizes"]
    ours, peer = result["loads"]["scratchnn"], result["loads"]["numpy.loadtxt"]
    lines = [
        f"## CSV loading{' (QUICK: tiny files, figures meaningless)' if quick else ''}",
        "",
        f"TALL, {s['tall_rows']:,} rows x {s['tall_cols']} features and a label "
        f"({result['file_mb']:.0f} MB of text), each load alone in a fresh process:",
        "",
        "| loader | seconds | peak MB above the imports | float64 array MB | peak / array |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in result["loads"].items():
        lines.append(
            f"| {name} | {r['seconds']:.2f} | {r['extra_mb']:.0f} | {r['array_mb']:.0f} | "
            f"{r['extra_mb'] / r['array_mb']:.2f} |"
        )
    memory = f"{ours['extra_mb'] / peer['extra_mb']:.2f} x" if peer["extra_mb"] >= 1 else "n/a (under 1 MB)"
    lines += [
        "",
        f"scratchnn / numpy.loadtxt: {ours['seconds'] / peer['seconds']:.2f} x the time, "
        f"{memory} the memory.",
        "",
        f"WIDE, {s['wide_cols']:,} feature columns, each command in a subprocess (imports included): "
        f"`scratchnn train` on 2 rows {result['wide']['train']:.2f} s, "
        f"`scratchnn predict` on 1 row {result['wide']['predict']:.2f} s.",
    ]
    if not quick:
        ratio = ours["extra_mb"] / ours["array_mb"]
        worst = max(result["wide"].values())
        lines += [
            "",
            f"Targets: tall load peak <= 3 x the array: {ratio:.2f} x, "
            f"{'met' if ratio <= 3 else 'NOT met'}; wide train and predict each < 10 s: "
            f"{worst:.2f} s at most, {'met' if worst < 10 else 'NOT met'}.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny files: checks that it runs")
    parser.add_argument("--output", type=Path, default=None, help="write the section here")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    section = report(run(args.quick), args.quick)
    print(section)
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        write_section(output, section)
        print(f"wrote {output}")
    return 0


def write_section(path: Path, section: str) -> None:
    replace_section(path, START, END, section)


if __name__ == "__main__":
    sys.exit(main())
