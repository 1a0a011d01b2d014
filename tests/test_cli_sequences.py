"""The command line on sequences: an ``.npz`` whose ``X`` is ``(N, T, F)`` with ``y`` and ``lengths``,
run in subprocesses as a user runs it. Small data and few epochs: seconds each."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from cli_support import assert_one_line_error, scratchnn

from scratchnn.cli.sequences import load_model
from scratchnn.data.sequences import SequenceScaler, load_sequences

N, T, F = 96, 9, 3


def sequences(seed: int = 0):
    """A task only the lengths make learnable: the class is the sign of the first feature at the
    last real step; the padding after it holds large values of the opposite sign."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, F))
    lengths = rng.integers(2, T + 1, N)
    last = x[np.arange(N), lengths - 1, 0]
    for i, n in enumerate(lengths):
        x[i, n:, 0] = -5.0 * np.sign(last[i])
    return x, np.where(last > 0, "up", "down"), lengths


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sequences")
    x, y, lengths = sequences()
    np.savez(folder / "seq.npz", X=x, y=y, lengths=lengths)
    np.savez(folder / "new.npz", X=x[:7], lengths=lengths[:7])  # predict: no y
    return folder


@pytest.fixture(scope="module")
def lstm_run(files):
    scratchnn("train", "--data", "seq.npz", "--layers", "lstm16-last-dense", "--epochs", "25",
              "--optimizer", "adam", "--lr", "0.01", "--out", "lstm", cwd=files)  # fmt: skip
    return files / "lstm" / "model.npz"


def proba_of(stdout: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(stdout)))
    return [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_train_learns_from_the_last_real_step_and_evaluate_scores_it(files, lstm_run):
    network, meta, scaler = load_model(lstm_run)
    assert meta["label_names"] == ["down", "up"]
    assert meta["result"]["test_accuracy"] >= 0.8
    proc = scratchnn("evaluate", "--model", lstm_run, "--data", "seq.npz", cwd=files)
    accuracy = float(proc.stdout.split("Accuracy: ")[1].split()[0])
    data = load_sequences(str(files / "seq.npz"))
    expected = network.accuracy(scaler.transform(data.x, data.lengths), (data.labels == "up").astype(int),
                                data.lengths)  # fmt: skip
    assert accuracy == pytest.approx(expected, abs=1e-4)
    assert accuracy >= 0.85


def test_the_scaler_standardises_each_feature_over_the_real_steps_only(files):
    x, _, lengths = sequences()
    scaler = SequenceScaler.fit(x, lengths)
    real = np.concatenate([x[i, :n] for i, n in enumerate(lengths)])
    np.testing.assert_allclose(scaler.mean, real.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale, real.std(axis=0), rtol=1e-12)
    scaled = scaler.transform(x, lengths)
    assert all((scaled[i, n:] == 0).all() for i, n in enumerate(lengths))


def test_predict_through_the_cli_equals_the_loaded_model_bit_for_bit(files, lstm_run):
    proc = scratchnn("predict", "--model", lstm_run, "--input", "new.npz", "--proba", cwd=files)
    labels, proba = proba_of(proc.stdout)
    network, _, scaler = load_model(lstm_run)
    data = load_sequences(str(files / "new.npz"), need_labels=False)
    expected = network.predict_proba(scaler.transform(data.x, data.lengths), data.lengths)
    np.testing.assert_array_equal(proba, expected.astype(np.float64))
    assert labels == [["down", "up"][k] for k in expected.argmax(axis=1)]
    again = scratchnn("predict", "--model", lstm_run, "--input", "new.npz", "--proba", cwd=files)
    assert again.stdout == proc.stdout


def test_an_attention_model_trains_saves_and_predicts_bit_for_bit(files):
    layers = "dense16-res(ln-mha4c)-res(ln-dense32-gelu-dense16)-mean-dense"
    scratchnn(
        "train", "--data", "seq.npz", "--layers", layers, "--epochs", "3", "--out", "attention", cwd=files
    )
    path = files / "attention" / "model.npz"
    proc = scratchnn("predict", "--model", path, "--input", "new.npz", "--proba", cwd=files)
    network, _, scaler = load_model(path)
    data = load_sequences(str(files / "new.npz"), need_labels=False)
    expected = network.predict_proba(scaler.transform(data.x, data.lengths), data.lengths)
    np.testing.assert_array_equal(proba_of(proc.stdout)[1], expected.astype(np.float64))


def test_tune_searches_over_the_layers_setting_and_saves_the_best(files):
    proc = scratchnn("tune", "--data", "seq.npz", "--grid", "layers=lstm16-last-dense,gru16-last-dense",
                     "--epochs", "3", "--out", "tuned", cwd=files)  # fmt: skip
    trials = [line for line in proc.stdout.splitlines() if line.startswith("trial ")]
    assert [t.split(": ")[1] for t in trials] == ["layers=lstm16-last-dense", "layers=gru16-last-dense"]
    scores = [float(t.rsplit(" ", 1)[1]) for t in trials]
    _, meta, _ = load_model(files / "tuned" / "model.npz")
    best = meta["tuning"]["best_params"]["layers"]
    assert meta["result"]["val_accuracy"] == pytest.approx(max(scores), abs=1e-4)
    assert best == ["lstm16-last-dense", "gru16-last-dense"][scores.index(max(scores))]
    assert f"Best: layers={best}" in proc.stdout


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: {**d, "lengths": d["lengths"][:5]}, "lengths must have shape (96,)"),
        (lambda d: {**d, "lengths": np.where(np.arange(N) == 3, 0, d["lengths"])}, "got 0 at sample 3"),
        (lambda d: {**d, "lengths": d["lengths"] + T}, f"between 1 and the {T} steps"),
        (lambda d: {**d, "lengths": d["lengths"].astype(float)}, "integer array"),
    ],
    ids=["lengths-shape", "length-0", "length-past-T", "lengths-float"],
)
def test_bad_lengths_are_a_one_line_error_in_every_command(files, lstm_run, edit, words):
    x, y, lengths = sequences()
    np.savez(files / "bad.npz", **edit({"X": x, "y": y, "lengths": lengths}))
    commands = [
        ("train", "--data", "bad.npz", "--layers", "lstm4-last-dense", "--epochs", "1", "--out", "bad"),
        ("evaluate", "--model", lstm_run, "--data", "bad.npz"),
        ("predict", "--model", lstm_run, "--input", "bad.npz"),
    ]
    for command in commands:
        assert_one_line_error(scratchnn(*command, cwd=files, status=None), words)


def test_data_of_the_wrong_rank_for_the_model_is_a_one_line_error(files, lstm_run):
    x, y, _ = sequences()
    np.savez(files / "rows.npz", X=x[:, :, 0], y=y)
    for command in (("predict", "--model", lstm_run, "--input", "rows.npz"),
                    ("evaluate", "--model", lstm_run, "--data", "rows.npz")):  # fmt: skip
        assert_one_line_error(scratchnn(*command, cwd=files, status=None), "trained on sequences")
    scratchnn("train", "--data", "rows.npz", "--epochs", "1", "--out", "rows", cwd=files)
    proc = scratchnn("predict", "--model", "rows/model.npz", "--input", "seq.npz", cwd=files, status=None)
    assert_one_line_error(proc, "not a model trained on sequences")
    np.savez(files / "wide.npz", X=np.zeros((4, T, F + 1)), lengths=np.full(4, 2))
    proc = scratchnn("predict", "--model", lstm_run, "--input", "wide.npz", cwd=files, status=None)
    assert_one_line_error(proc, f"{F + 1} features per step", f"trained on {F}")
    proc = scratchnn("train", "--data", "seq.npz", "--layers", "conv4-gap-dense", "--out", "c", cwd=files,
                     status=None)  # fmt: skip
    assert_one_line_error(proc, "--layers: token 1 'conv4'", "needs images")
