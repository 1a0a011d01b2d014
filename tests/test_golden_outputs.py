"""What ``main.py`` and the ``scratchnn`` command print, digit for digit, as they printed at 793faae.

The files under ``tests/golden/`` were written by the code at commit 793faae
(``python tests/test_golden_outputs.py``, run once there), before the package was
reorganised; they are the promise that the reorganisation changed no result. Never
rewrite them to make a test pass: a difference is a change of behaviour.

Every program runs in a real subprocess (``python main.py``, ``python -m scratchnn``)
with one BLAS thread, as the golden files were written; figures are per build of
NumPy/BLAS, so a machine with another BLAS may differ in the last digits. The
commands of a scenario run in order in a fresh temporary directory, with paths
relative to it. Masked before comparing: the temporary directory's path (if a
program ever prints it; none does today), and nothing else: there are no timings in
these outputs.

Each test is independent and writes only under its own ``tmp_path``, so the tests
can run in parallel.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = (0, 1, 2, 42)
TIMEOUT = 300

# The CSV files the scenarios read (written into tests/golden/ once, see ``write_data``).
TABLE_CSV = "table.csv"  # classes, with a text column and empty cells
PRICES_CSV = "prices.csv"  # a numeric target: regression
DIGITS_ROWS_CSV = "digits_rows.csv"  # raw Digits rows for predict

TINY_GRID = "learning_rate=0.05,0.2;hidden_units=4,8"

#: scenario name -> the commands it runs, in order, in one directory.
SCENARIOS: dict[str, list[list[str]]] = {
    "digits": [
        ["train", "--data", "digits", "--hidden", "16", "--epochs", "3", "--out", "dig"],
        ["evaluate", "--model", "dig/model.npz", "--data", "digits"],
        ["predict", "--model", "dig/model.npz", "--input", DIGITS_ROWS_CSV, "--proba"],
        ["tune", "--data", "digits", "--grid", TINY_GRID, "--epochs", "2", "--final-epochs", "2",
         "--out", "tun"],
    ],
    "table": [
        ["train", "--data", TABLE_CSV, "--target", "grade", "--impute", "median", "--hidden", "8",
         "--epochs", "5", "--out", "tab"],
        ["evaluate", "--model", "tab/model.npz", "--data", TABLE_CSV],
        ["predict", "--model", "tab/model.npz", "--input", TABLE_CSV, "--proba"],
        ["tune", "--data", TABLE_CSV, "--target", "grade", "--impute", "median", "--grid", TINY_GRID,
         "--epochs", "2", "--final-epochs", "3", "--out", "tun"],
    ],
    "prices": [
        ["train", "--data", PRICES_CSV, "--target", "price", "--hidden", "8", "--epochs", "5",
         "--out", "reg"],
        ["evaluate", "--model", "reg/model.npz", "--data", PRICES_CSV],
        ["predict", "--model", "reg/model.npz", "--input", PRICES_CSV],
    ],
}  # fmt: skip


def environment() -> dict[str, str]:
    """This environment with one BLAS thread (as the golden files were written) and this checkout first."""
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run(command: list[str], cwd: Path) -> str:
    """Run ``command``; return ``$ command``, its standard output and its exit status, as one text."""
    proc = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=environment()
    )
    shown = " ".join(["scratchnn", *command[3:]] if command[1:3] == ["-m", "scratchnn"] else command[1:])
    shown = shown.replace(str(ROOT) + os.sep, "")  # main.py as the checkout names it, wherever it is
    text = f"$ {shown}\n{proc.stdout}[exit {proc.returncode}]\n"
    return text.replace(str(cwd), "<tmp>")


def run_main(seed: int, cwd: Path) -> str:
    return run([sys.executable, str(ROOT / "main.py"), "--seed", str(seed)], cwd)


def run_scenario(name: str, cwd: Path) -> str:
    for data in (TABLE_CSV, PRICES_CSV, DIGITS_ROWS_CSV):
        shutil.copy(GOLDEN / data, cwd / data)
    return "".join(run([sys.executable, "-m", "scratchnn", *args], cwd) for args in SCENARIOS[name])


def assert_same_text(got: str, golden: Path) -> None:
    want = golden.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now"))
        raise AssertionError(f"output differs from {golden.name} (written at 793faae):\n{diff}")


@pytest.mark.parametrize("seed", SEEDS)
def test_main_prints_what_it_printed_at_793faae(seed, tmp_path):
    assert_same_text(run_main(seed, tmp_path), GOLDEN / f"main_seed_{seed}.txt")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_cli_train_evaluate_predict_tune_print_what_they_printed_at_793faae(scenario, tmp_path):
    assert_same_text(run_scenario(scenario, tmp_path), GOLDEN / f"cli_{scenario}.txt")


# -- writing the golden files (run once, at 793faae) -----------------------------------------------


def write_data() -> None:
    """The scenarios' CSV files: small, seeded, with the cases the CLI handles (text, empty cells)."""
    import csv

    import numpy as np

    rng = np.random.default_rng(22)
    cities = ["Oslo", "Lima", "Pune"]
    shift = {"Oslo": 1.0, "Lima": -1.0, "Pune": 0.0}
    rows = []
    for i in range(90):
        size, weight, city = rng.normal(5, 2), rng.normal(50, 10), cities[rng.integers(3)]
        score = (size - 5) / 2 + (weight - 50) / 10 + shift[city] + rng.normal(0, 0.5)
        grade = "high" if score > 0.7 else "low" if score < -0.7 else "mid"
        row = [f"{size:.3f}", f"{weight:.2f}", city, grade]
        row[0] = "" if i % 11 == 3 else row[0]
        row[2] = "" if i % 13 == 5 else row[2]
        row[1] = "" if i % 17 == 7 else row[1]
        rows.append(row)
    with open(GOLDEN / TABLE_CSV, "w", newline="") as f:
        csv.writer(f).writerows([["size", "weight", "city", "grade"], *rows])

    x = rng.normal(size=(80, 3)) * [2.0, 30.0, 0.5] + [10.0, 200.0, 3.0]
    price = 1000 + 50 * x[:, 0] + 2 * x[:, 1] - 80 * x[:, 2] + rng.normal(0, 20, 80)
    with open(GOLDEN / PRICES_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rooms", "area", "age", "price"])
        writer.writerows([[f"{a:.3f}", f"{b:.2f}", f"{c:.3f}", f"{p:.2f}"] for (a, b, c), p in zip(x, price)])

    from sklearn.datasets import load_digits

    digits = load_digits()
    with open(GOLDEN / DIGITS_ROWS_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(digits.feature_names)
        writer.writerows([[int(v) for v in row] for row in digits.data[::150]])


def write_golden() -> None:
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    write_data()
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            (GOLDEN / f"main_seed_{seed}.txt").write_text(run_main(seed, Path(tmp)))
    for name in SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            (GOLDEN / f"cli_{name}.txt").write_text(run_scenario(name, Path(tmp)))


if __name__ == "__main__":
    write_golden()
