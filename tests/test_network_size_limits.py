"""Network sizes from outside are bounded before anything is allocated, through the real entry points.

One limit, ``scratchnn.network.NETWORK_BYTES_LIMIT`` (weights plus the largest
activation of one batch), refuses an oversized ``--layers`` spec, tuning grid
value or estimator ``layers``; a model file's layer configuration is checked
against the same limit on load (a Conv2D padding of 3000, a stride of 1e18), and
a BatchNorm with a negative running variance is refused. Each command runs in a
child process that measures its own peak memory and time; each must end with
exit status 2 and one line naming the argument or layer and its value.

And a residual network, from the command line: trained, saved, loaded and
predicted bit for bit.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from process_memory import PEAK_RSS
from test_golden_outputs import DIGITS_ROWS_CSV, GOLDEN, environment

from scratchnn import serialization
from scratchnn.layers import Residual
from scratchnn.recipe import build_network

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MB = 2**20
# What a refusal may cost: the interpreter, NumPy and scikit-learn imported, no more.
PEAK_LIMIT = 300 * MB
TIME_LIMIT = 30.0

# Runs the command line in this child and reports its own peak memory and time to a file.
MEASURE = (
    PEAK_RSS
    + """
import json, runpy, sys, time
out, sys.argv = sys.argv[1], ["scratchnn", *sys.argv[2:]]
start, code = time.perf_counter(), 0
try:
    runpy.run_module("scratchnn", run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    peak = peak_rss()
    with open(out, "w") as f:
        json.dump({"code": code, "peak": peak, "seconds": time.perf_counter() - start}, f)
sys.exit(code)
"""
)


def measured(*args, cwd: Path) -> tuple[subprocess.CompletedProcess, dict]:
    report = cwd / "measure.json"
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(report), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment(),
    )
    return proc, json.loads(report.read_text())


def assert_refused(proc, usage: dict, *fragments) -> str:
    """Exit 2, one line on stderr naming ``fragments``, no traceback, bounded memory and time."""
    assert usage["code"] == 2, (usage, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert "unexpected" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert usage["peak"] < PEAK_LIMIT, f"{usage['peak'] / MB:.0f} MB"
    assert usage["seconds"] < TIME_LIMIT, usage
    return lines[0]


# -- issue 26, item 1: layer sizes in --layers, tuning grids and the estimators ---------------------


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("dense300000000-dense", ["--layers", "'dense300000000'", "too large"]),
        ("conv16k100000-dense", ["--layers", "'conv16k100000'", "too large"]),
        ("dense60000-dense60000-dense", ["--layers", "token 2 'dense60000'", "too large", "x 16 rows"]),
        ("res(dense64-dense300000000-dense64)-dense", ["--layers", "token 3 'dense300000000'", "too large"]),
    ],
)
def test_train_refuses_a_spec_past_the_size_limit_before_allocating(spec, fragments, tmp_path):
    proc, usage = measured("train", "--data", "digits", "--layers", spec, "--out", "run", cwd=tmp_path)
    assert_refused(proc, usage, *fragments)
    assert not (tmp_path / "run").exists()


def test_train_sizes_the_activations_for_the_batch_size(tmp_path):
    # conv64 on 8x8 digits: 4,096 values per row; at 40,000 rows a batch passes 512 MiB
    args = ["train", "--data", "digits", "--layers", "conv64k3p1-gap-dense", "--out", "run"]
    proc, usage = measured(*args, "--batch-size", "40000", cwd=tmp_path)
    assert_refused(proc, usage, "--layers", "token 1 'conv64k3p1'", "x 40000 rows")


def test_train_refuses_hidden_units_past_the_size_limit(tmp_path):
    # under this machine's memory, past the limit: refused at the door, not a bug in the middle
    proc, usage = measured("train", "--data", "digits", "--hidden", "3000000", "--out", "run", cwd=tmp_path)
    assert_refused(proc, usage, "--hidden 3000000", "the layer of 3000000 units", "too large")


def test_tune_refuses_grid_hidden_units_past_the_size_limit(tmp_path):
    grid = "hidden_units=16,3000000"
    proc, usage = measured("tune", "--data", "digits", "--grid", grid, "--out", "run", cwd=tmp_path)
    assert_refused(proc, usage, "hidden_units 3000000", "too large")


def test_tune_refuses_a_grid_spec_past_the_size_limit(tmp_path):
    grid = "layers=dense64-dense,dense300000000-dense"
    proc, usage = measured("tune", "--data", "digits", "--grid", grid, "--out", "run", cwd=tmp_path)
    assert_refused(proc, usage, "'dense300000000'", "too large")


def test_the_estimator_refuses_layers_past_the_size_limit_before_allocating():
    script = (
        PEAK_RSS
        + """
import time
import numpy as np
from scratchnn.sklearn import ScratchNNClassifier
x, y = np.random.default_rng(0).standard_normal((40, 64)), np.arange(40) % 3
start = time.perf_counter()
try:
    ScratchNNClassifier(layers="dense300000000-dense", epochs=1).fit(x, y)
except ValueError as exc:
    print(exc)
print(peak_rss(), time.perf_counter() - start)
"""
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=environment()
    )
    message, usage = done.stdout.strip().splitlines()
    assert "'dense300000000'" in message
    assert "too large" in message
    peak, seconds = map(float, usage.split())
    assert peak < PEAK_LIMIT
    assert seconds < TIME_LIMIT


# -- issue 26, items 2 and 6: a model file's configuration and buffers ------------------------------


def edited_model(tmp_path: Path, edit, layers: str = "conv4k3p1-bn-relu-gap-dense") -> Path:
    """A CNN model file with the CLI's metadata (taken from a fixture), its architecture then edited."""
    _, metadata = serialization.load_network(FIXTURES / "cnn_bn_digits.npz")
    network = build_network(layers, (1, 8, 8), 10, seed=0)
    metadata["training"]["layers"] = layers
    path = tmp_path / "model.npz"
    serialization.save(network, path, metadata)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    meta = json.loads(str(np.load(io.BytesIO(members["__meta__.npy"]))))
    edit(meta, members)
    buffer = io.BytesIO()
    np.save(buffer, np.array(json.dumps(meta)))
    members["__meta__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    shutil.copy(GOLDEN / DIGITS_ROWS_CSV, tmp_path / DIGITS_ROWS_CSV)
    return path


def conv_config(meta) -> dict:
    return meta["architecture"]["layers"][1]["config"]


def test_an_unedited_model_predicts(tmp_path):
    path = edited_model(tmp_path, lambda meta, members: None)
    proc, usage = measured("predict", "--model", path, "--input", DIGITS_ROWS_CSV, cwd=tmp_path)
    assert usage["code"] == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 13


def test_predict_refuses_a_model_whose_convolution_padding_would_take_gigabytes(tmp_path):
    path = edited_model(tmp_path, lambda meta, members: conv_config(meta).update(padding=[3000, 3000]))
    proc, usage = measured("predict", "--model", path, "--input", DIGITS_ROWS_CSV, cwd=tmp_path)
    line = assert_refused(
        proc, usage, "model.npz", "layers[1] (Conv2D", "'padding': [3000, 3000]", "too large"
    )
    assert "NETWORK_BYTES_LIMIT" in line


@pytest.mark.parametrize("stride", [1e18, 10**18])
def test_predict_refuses_a_model_whose_stride_is_no_size(tmp_path, stride):
    path = edited_model(tmp_path, lambda meta, members: conv_config(meta).update(stride=[stride, stride]))
    proc, usage = measured("predict", "--model", path, "--input", DIGITS_ROWS_CSV, cwd=tmp_path)
    assert_refused(proc, usage, "model.npz", "layers[1] (Conv2D) stride", repr(stride), "too large")


def test_evaluate_refuses_a_model_with_a_negative_running_variance(tmp_path):
    def negative_variance(meta, members):
        var = np.load(io.BytesIO(members["2.running_var.npy"]))
        var[1] = -0.5
        buffer = io.BytesIO()
        np.save(buffer, var)
        members["2.running_var.npy"] = buffer.getvalue()

    path = edited_model(tmp_path, negative_variance)
    proc, usage = measured("evaluate", "--model", path, "--data", "digits", cwd=tmp_path)
    assert_refused(proc, usage, "model.npz", "2.running_var holds a negative variance", "-0.5", "index 1")


# -- a residual network from the command line (issue 22, acceptance 3) -------------------------------


def test_a_residual_network_trains_saves_loads_and_predicts_bit_for_bit(tmp_path):
    spec = "res(dense64-relu-dense64)-dense"
    args = ["train", "--data", "digits", "--layers", spec, "--epochs", "3", "--out", "res", "--seed", "1"]
    proc, usage = measured(*args, cwd=tmp_path)
    assert usage["code"] == 0, proc.stderr
    accuracy = float(proc.stdout.split("Test accuracy: ")[1].split()[0])
    assert accuracy > 0.85, proc.stdout

    model = tmp_path / "res" / "model.npz"
    with zipfile.ZipFile(model) as z:
        names = sorted(name[:-4] for name in z.namelist())
    assert names == ["0.block.0.W", "0.block.0.b", "0.block.2.W", "0.block.2.b", "1.W", "1.b", "__meta__"]
    network, metadata = serialization.load_network(model)
    assert isinstance(network.layers[0], Residual)
    assert metadata["training"]["layers"] == spec

    x = np.random.default_rng(0).standard_normal((9, 64)).astype(network.dtype)
    again = tmp_path / "again.npz"
    serialization.save(network, again, metadata)
    reloaded = serialization.load(again)
    np.testing.assert_array_equal(reloaded.forward(x), network.forward(x), strict=True)
    for a, b in zip(reloaded.parameters(), network.parameters()):
        np.testing.assert_array_equal(a, b, strict=True)

    shutil.copy(GOLDEN / DIGITS_ROWS_CSV, tmp_path / DIGITS_ROWS_CSV)
    first, _ = measured("predict", "--model", model, "--input", DIGITS_ROWS_CSV, "--proba", cwd=tmp_path)
    second, _ = measured("predict", "--model", again, "--input", DIGITS_ROWS_CSV, "--proba", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 13
