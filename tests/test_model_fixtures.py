"""Model files written by 793faae still load and predict bit for bit, through the CLI and through Python.

``tests/fixtures/`` holds four models trained by ``scratchnn train`` at commit 793faae
(``python tests/test_model_fixtures.py``, run once there; model format version 2),
so their metadata is what the command line really writes:

* ``mlp_digits.npz``: an MLP on Digits;
* ``cnn_bn_digits.npz``: a CNN with BatchNorm2d (running statistics are buffers) on Digits;
* ``regressor_prices.npz``: a regression MLP (a target scaler in its metadata) on a CSV;
* ``table_grade.npz``: a classifier on a CSV with a text column and empty cells (``--impute``).

Beside each model, what it gave at 793faae: ``<name>.predict.txt``, the standard output
of ``scratchnn predict`` on the CSV in ``ROWS`` (``--proba`` for the classifiers), and
``<name>.outputs.npz``, the network's raw outputs ``forward(x)`` and ``predict(x)`` on
fixed inputs ``x`` stored in the same file. Never rewrite them to make a test pass.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_golden_outputs import DIGITS_ROWS_CSV, GOLDEN, PRICES_CSV, TABLE_CSV, environment

from scratchnn.serialization import load, load_network

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIMEOUT = 300

#: fixture name -> (the ``scratchnn train`` arguments that made it at 793faae, the CSV it predicts on)
MODELS: dict[str, tuple[list[str], str]] = {
    "mlp_digits": (["--data", "digits", "--hidden", "16", "--epochs", "2"], DIGITS_ROWS_CSV),
    "cnn_bn_digits": (
        ["--data", "digits", "--layers", "conv4k3p1-bn-relu-maxpool2-dense", "--optimizer", "adam",
         "--lr", "0.01", "--epochs", "1"],
        DIGITS_ROWS_CSV,
    ),
    "regressor_prices": (
        ["--data", PRICES_CSV, "--target", "price", "--hidden", "8", "--epochs", "5"],
        PRICES_CSV,
    ),
    "table_grade": (
        ["--data", TABLE_CSV, "--target", "grade", "--impute", "median", "--hidden", "8", "--epochs", "5"],
        TABLE_CSV,
    ),
}  # fmt: skip


def predict_command(name: str, model: Path) -> list[str]:
    rows = MODELS[name][1]
    proba = [] if name.startswith("regressor") else ["--proba"]
    return [sys.executable, "-m", "scratchnn", "predict", "--model", str(model), "--input", rows, *proba]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=environment()
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return proc


def copy_rows(cwd: Path) -> None:
    for data in (TABLE_CSV, PRICES_CSV, DIGITS_ROWS_CSV):
        shutil.copy(GOLDEN / data, cwd / data)


def fixed_inputs(network, n: int = 7) -> np.ndarray:
    """Seeded standard-normal rows of the width the network takes, in its dtype."""
    rng = np.random.default_rng(793)
    return rng.standard_normal((n, network.n_features)).astype(network.dtype)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_model_predicts_through_python_bit_for_bit(name):
    network = load(FIXTURES / f"{name}.npz")
    want = np.load(FIXTURES / f"{name}.outputs.npz")
    x = want["x"]
    assert x.dtype == network.dtype
    assert x.shape[1] == network.n_features
    outputs = network.forward(x)
    assert outputs.dtype == want["outputs"].dtype
    np.testing.assert_array_equal(outputs, want["outputs"], strict=True)
    np.testing.assert_array_equal(network.predict(x), want["predicted"], strict=True)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_model_keeps_its_metadata(name):
    _, metadata = load_network(FIXTURES / f"{name}.npz")
    assert metadata["tool"] == "scratchnn-cli"
    assert metadata["training"]["epochs"] == int(MODELS[name][0][-1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixture_model_predicts_through_the_cli_as_at_793faae(name, tmp_path):
    copy_rows(tmp_path)
    shutil.copy(FIXTURES / f"{name}.npz", tmp_path / "model.npz")
    proc = run(predict_command(name, tmp_path / "model.npz"), tmp_path)
    assert proc.stdout == (FIXTURES / f"{name}.predict.txt").read_text()


# -- writing the fixtures (run once, at 793faae) --------------------------------------------------


def write_fixtures() -> None:
    import tempfile

    FIXTURES.mkdir(exist_ok=True)
    for name, (args, _) in MODELS.items():
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            copy_rows(cwd)
            run([sys.executable, "-m", "scratchnn", "train", *args, "--out", "run"], cwd)
            shutil.copy(cwd / "run" / "model.npz", FIXTURES / f"{name}.npz")
            proc = run(predict_command(name, cwd / "run" / "model.npz"), cwd)
            (FIXTURES / f"{name}.predict.txt").write_text(proc.stdout)
        network = load(FIXTURES / f"{name}.npz")
        x = fixed_inputs(network)
        np.savez(
            FIXTURES / f"{name}.outputs.npz", x=x, outputs=network.forward(x), predicted=network.predict(x)
        )


if __name__ == "__main__":
    write_fixtures()
