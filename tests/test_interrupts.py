"""Ctrl-C loses nothing: real ``scratchnn`` subprocesses, real SIGINT.

``train`` interrupted mid-run saves the best model so far and the history,
exits with status 130, and the saved model loads and predicts. ``tune``
interrupted mid-search keeps every finished trial in results.csv; ``--resume``
runs only the others and ends with the same results table (and the same final
model) as an uninterrupted run with the same seed.

No timing assumptions: the tests read the child's progress lines and send the
signal only once the line they wait for has appeared.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_support import cli_env, scratchnn_command, start

from scratchnn import NeuralNetwork, data
from scratchnn.data import sources
from scratchnn.serialization import load, load_network

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TIMEOUT = 300  # generous: only reached if something hangs


def _env() -> dict:
    env = cli_env(PYTHONUNBUFFERED="1")
    env.pop("PYTHONWARNINGS", None)
    return env


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return start(args, cwd, env=_env())


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*scratchnn_command(), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT
    )


def _interrupt_after(proc: subprocess.Popen, prefix: str) -> tuple[int, str, str]:
    """Read the child's stdout until a line starts with ``prefix``, send SIGINT, collect the rest."""
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(prefix):
                break
        else:
            out, err = proc.communicate(timeout=TIMEOUT)
            pytest.fail(f"{prefix!r} never appeared; exit {proc.returncode}\n{''.join(seen)}{out}\n{err}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, "".join(seen) + out, err


def _digits_csv(path: Path, n: int) -> np.ndarray:
    """The first ``n`` Digits rows, raw, as a CSV with the feature names the model was trained on."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(bunch.feature_names)
        writer.writerows(bunch.data[:n].tolist())
    return bunch.target[:n]


def test_sigint_during_train_saves_a_model_that_loads_and_predicts(tmp_path):
    out = tmp_path / "run"
    proc = _start(["train", "--data", "digits", "--epochs", "400", "--out", str(out)], tmp_path)
    status, _, stderr = _interrupt_after(proc, "Epoch 3/400")

    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert "model.npz" in stderr

    history = json.loads((out / "history.json").read_text())
    assert history["interrupted"] is True
    finished = len(history["epochs"])
    assert 3 <= finished < 400
    assert [r["epoch"] for r in history["epochs"]] == list(range(1, finished + 1))
    assert all(np.isfinite(r["val_loss"]) for r in history["epochs"])
    # history.json says which epoch's weights were saved: the one with the lowest validation loss
    best = history["epochs"][history["best_epoch"] - 1]
    assert best["val_loss"] == min(r["val_loss"] for r in history["epochs"][: history["best_epoch"]])
    assert f"epoch {history['best_epoch']}" in stderr
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir())  # no half-written files left

    # The Python API loads it; its metadata says it was interrupted.
    network, meta = load_network(out / "model.npz")
    assert meta["interrupted"] is True
    assert meta["result"]["epochs_run"] == finished
    assert isinstance(load(out / "model.npz"), NeuralNetwork)
    # Recompute the validation loss of the saved weights: it is that epoch's.
    ds = sources.load_source("digits")
    y, _ = data.encode_labels(ds.labels)
    split = meta["split"]
    _, val, _ = data.split_indices(y, split["test_fraction"], split["val_fraction"], split["seed"])
    x_val = data.Scaler.from_dict(meta["scaler"]).transform(ds.x[val]).astype(np.float32)
    val_loss = network.compute_loss(network.forward(x_val), y[val])
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-6)
    assert all(np.isfinite(p).all() for p in network.parameters())

    # And the command line predicts with it, from raw rows, in the user's label names.
    truth = _digits_csv(tmp_path / "rows.csv", 200)
    result = _run(["predict", "--model", str(out / "model.npz"), "--input", "rows.csv"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction"
    predicted = np.array([int(v) for v in lines[1:]])
    assert predicted.shape == (200,)
    assert np.mean(predicted == truth) > 0.8  # three epochs on Digits already beat chance by far


def test_sigint_during_train_without_validation_saves_the_current_weights(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--data", "iris", "--epochs", "100000", "--val-fraction", "0", "--out", str(out)]
    status, _, stderr = _interrupt_after(_start(args, tmp_path), "Epoch 2/100000")

    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert "the current weights" in stderr
    history = json.loads((out / "history.json").read_text())
    assert history["interrupted"] is True
    assert len(history["epochs"]) >= 2
    network, _ = load_network(out / "model.npz")
    assert network.predict(np.zeros((3, 4))).shape == (3,)


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


GRID = "learning_rate=0.05,0.1,0.2;hidden_units=8,16"
N_TRIALS = 6


def _tune_args(out: Path, *extra: str) -> list[str]:
    return [
        "tune", "--data", "iris", "--grid", GRID, "--epochs", "120", "--final-epochs", "3",
        "--seed", "3", "--out", str(out), *extra,
    ]  # fmt: skip


def test_interrupted_tune_resumes_to_the_same_results_as_an_uninterrupted_run(tmp_path):
    # The reference run goes on in the background while the other is interrupted and resumed.
    reference = _start(_tune_args(tmp_path / "whole"), tmp_path)
    try:
        out = tmp_path / "interrupted"
        status, _, stderr = _interrupt_after(_start(_tune_args(out), tmp_path), "Trial 1/")

        assert status == 130, stderr
        assert "Traceback" not in stderr
        assert "--resume" in stderr
        kept = _read_rows(out / "results.csv")
        header, done = kept[0], kept[1:]
        assert header == ["learning_rate", "hidden_units", "val_accuracy", "val_loss", "train_loss", "status"]
        assert 1 <= len(done) < N_TRIALS, "the interrupt should land mid-search"
        assert all(row[-1] == "ok" for row in done)
        assert not (out / "model.npz").exists()

        resumed = _run(_tune_args(out, "--resume"), tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert f"Resuming: {len(done)} of {N_TRIALS} trials" in resumed.stdout
        # only the trials that were not finished run again
        assert resumed.stdout.count("Trial ") == N_TRIALS - len(done)

        _, ref_err = reference.communicate(timeout=TIMEOUT)
        assert reference.returncode == 0, ref_err
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.communicate()

    whole = tmp_path / "whole"
    assert (out / "results.csv").read_text() == (whole / "results.csv").read_text()
    assert len(_read_rows(whole / "results.csv")) == N_TRIALS + 1
    resumed_net, resumed_meta = load_network(out / "model.npz")
    whole_net, whole_meta = load_network(whole / "model.npz")
    assert resumed_meta["tuning"] == whole_meta["tuning"]
    for a, b in zip(resumed_net.parameters(), whole_net.parameters()):
        np.testing.assert_array_equal(a, b)

    # --resume refuses the results of a different search (here: another seed) and keeps them.
    before = (out / "results.csv").read_text()
    other_seed = _tune_args(out, "--resume")
    other_seed[other_seed.index("--seed") + 1] = "4"
    result = _run(other_seed, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --resume")
    assert "seed" in result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "results.csv").read_text() == before


def test_a_keyboard_interrupt_in_the_epoch_callback_finds_the_best_weights_current():
    # In-process view of what the CLI's Ctrl-C handler reads: when an epoch has been
    # reported, best_params and best_epoch already account for it.
    from conftest import teacher_data

    from scratchnn import SGD, Trainer, build_mlp

    x, y = teacher_data(np.random.default_rng(0), 64, 4, 3)
    trainer = Trainer(build_mlp(4, 8, 3, seed=0), SGD(0.2), batch_size=8, seed=0)
    snapshots = []

    def callback(record):
        snapshots.append([p.copy() for p in trainer.network.parameters()])
        if record["epoch"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(x, y, epochs=50, verbose=False, x_val=x[:16], y_val=y[:16], callback=callback)
    losses = [r["val_loss"] for r in trainer.history]
    assert len(losses) == 4
    assert trainer.best_epoch == 1 + losses.index(min(losses))
    for best, saved in zip(trainer.best_params, snapshots[trainer.best_epoch - 1]):
        np.testing.assert_array_equal(best, saved)
