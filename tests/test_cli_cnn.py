"""Convolutional networks through the ``scratchnn`` command, run as a user runs it (real subprocesses,
real files): train, evaluate, tune over ``--layers`` and predict, on ``digits`` (which knows its 1x8x8
shape) and on a pixel CSV that says its shape with ``--image-shape``.

Small networks and few epochs keep each run to seconds; the recipe's accuracy is examples/digits_cnn.py's.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from cli_support import assert_one_line_error, scratchnn
from test_cli import assert_sensible_image, read_predictions, write_rows

from scratchnn.data.sources import load_source
from scratchnn.predictor import Predictor
from scratchnn.serialization import load_network, save

SMALL_CNN = "conv8k3p1-bn-relu-maxpool2-conv16k3p1-bn-relu-dense"
TRAINING = ["--optimizer", "adam", "--lr", "0.01", "--batch-size", "32"]
ACCURACY = re.compile(r"Test accuracy: (\d\.\d{4})")


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory):
    """``scratchnn train --data digits --layers SMALL_CNN`` once, shared by the tests that read its model."""
    cwd = tmp_path_factory.mktemp("digits_cnn")
    args = ["--data", "digits", "--layers", SMALL_CNN, *TRAINING, "--epochs", "4", "--out", "run"]
    proc = scratchnn("train", *args, cwd=cwd)
    return cwd, proc


def test_train_builds_the_cnn_from_the_spec_and_digits_own_shape(digits_cnn):
    cwd, proc = digits_cnn
    network, meta = load_network(cwd / "run" / "model.npz")
    kinds = [type(layer).__name__ for layer in network.layers]
    assert kinds[:3] == ["Reshape", "Conv2D", "BatchNorm2d"]
    assert kinds[-2:] == ["Flatten", "Dense"]  # put before the dense, which follows images
    assert network.layers[0].shape == (1, 8, 8)
    assert meta["input_shape"] == [1, 8, 8]
    assert meta["training"]["layers"] == SMALL_CNN
    assert float(ACCURACY.search(proc.stdout).group(1)) >= 0.9


def test_train_draws_the_first_filters_and_one_images_feature_maps(digits_cnn):
    cwd, proc = digits_cnn
    for name in ("conv_filters.png", "feature_maps.png", "learning_curves.png", "misclassified.png"):
        assert_sensible_image(cwd / "run" / name)
        assert name in proc.stdout
    assert not (cwd / "run" / "first_layer_weights.png").exists()  # that picture is an MLP's


def test_evaluate_scores_the_loaded_cnn_exactly_as_train_did(digits_cnn):
    cwd, proc = digits_cnn
    trained = ACCURACY.search(proc.stdout).group(1)
    out = scratchnn("evaluate", "--model", "run/model.npz", "--data", "digits", "--quiet", cwd=cwd)
    assert out.stdout.startswith(f"Accuracy: {trained} on 360 rows")


def test_predict_with_the_cnn_matches_the_loaded_model_bit_for_bit(digits_cnn, tmp_path):
    cwd, _ = digits_cnn
    ds = load_source("digits")
    rows = write_rows(tmp_path / "rows.csv", ds.feature_names, ds.x[:50].astype(int).tolist())
    model = str(cwd / "run" / "model.npz")
    proc = scratchnn("predict", "--model", model, "--input", rows, "--proba", cwd=tmp_path)
    loaded = Predictor.load(model)
    network, names = loaded.network, loaded.label_names
    x = loaded.scaler.transform(ds.x[:50])
    proba = network.predict_proba(x)
    expected = [[names[k], *(f"{v:.6f}" for v in p)] for k, p in zip(network.predict(x), proba)]
    got = list(csv.reader(io.StringIO(proc.stdout)))[1:]
    assert got == expected
    # and once more through a second save and load: the same probabilities, to the last bit
    network_again, meta = load_network(model)
    save(network_again, tmp_path / "again.npz", meta)
    again, _ = load_network(tmp_path / "again.npz")
    assert again.predict_proba(x).tobytes() == proba.tobytes()


def test_tune_searches_over_layer_specs_and_trains_the_best(tmp_path):
    specs = ["conv4k3p1-relu-gap-dense", "conv8k3p1-bn-relu-maxpool2-dense"]
    proc = scratchnn(
        "tune", "--data", "digits", "--grid", f"layers={','.join(specs)};learning_rate=0.01",
        "--optimizer", "adam", "--epochs", "1", "--final-epochs", "2", "--out", "t", cwd=tmp_path,
    )  # fmt: skip
    with open(tmp_path / "t" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["layers"] for r in rows] == specs
    assert all(r["status"] == "ok" for r in rows)
    best = max(rows, key=lambda r: (float(r["val_accuracy"]), -float(r["val_loss"])))
    assert f"layers={best['layers']}" in proc.stdout
    network, meta = load_network(tmp_path / "t" / "model.npz")
    assert meta["training"]["layers"] == best["layers"]
    assert type(network.layers[1]).__name__ == "Conv2D"
    assert_sensible_image(tmp_path / "t" / "tuning_heatmap.png")
    assert_sensible_image(tmp_path / "t" / "feature_maps.png")


def bar_images(n: int, seed: int = 0):
    """``n`` 1x6x6 images of a bright bar (horizontal, vertical or diagonal: the label) on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.uniform(0, 40, (n, 6, 6))
    for image, label, at in zip(images, labels, rng.integers(0, 6, n)):
        if label == 0:
            image[at, :] = 255
        elif label == 1:
            image[:, at] = 255
        else:
            image[np.arange(6), (np.arange(6) + at) % 6] = 255
    names = np.array(["horizontal", "vertical", "diagonal"])[labels]
    return images.reshape(n, 36).round().astype(int), names


def test_a_pixel_csv_trains_a_cnn_with_image_shape_and_predicts(tmp_path):
    pixels, names = bar_images(300)
    header = [f"p{i}" for i in range(36)] + ["shape"]
    data = write_rows(tmp_path / "bars.csv", header, [[*row, name] for row, name in zip(pixels, names)])
    proc = scratchnn(
        "train", "--data", data, "--image-shape", "1x6x6", "--layers", "conv8k3-relu-maxpool2-dense",
        *TRAINING, "--epochs", "15", "--out", "b", cwd=tmp_path,
    )  # fmt: skip
    assert float(ACCURACY.search(proc.stdout).group(1)) >= 0.9
    network, meta = load_network(tmp_path / "b" / "model.npz")
    assert meta["input_shape"] == [1, 6, 6]
    assert network.layers[0].shape == (1, 6, 6)
    assert_sensible_image(tmp_path / "b" / "feature_maps.png")

    new, new_names = bar_images(40, seed=1)
    rows = write_rows(tmp_path / "new.csv", header[:-1], new.tolist())
    out = scratchnn("predict", "--model", "b/model.npz", "--input", rows, cwd=tmp_path)
    predicted = np.array([r["prediction"] for r in read_predictions(out.stdout)])
    assert np.mean(predicted == new_names) >= 0.9


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--data", "iris", "--layers", "conv8-relu-dense"], ["'conv8'", "--image-shape"]),
        (["--data", "digits", "--layers", "conv8-relux-dense"], ["--layers", "token 2 'relux'"]),
        (["--data", "digits", "--image-shape", "1x28x28"], ["--image-shape 1x28x28", "784", "64"]),
        (["--data", "digits", "--image-shape", "0x8x8"], ["--image-shape", "CxHxW", "'0x8x8'"]),
        (["--data", "digits", "--layers", "conv8-maxpool2-maxpool2-maxpool2-maxpool2-dense"],
         ["--layers: token 4 'maxpool2'", "does not fit", "1x1"]),
    ],
)  # fmt: skip
def test_cnn_mistakes_are_one_line_errors_naming_the_value(tmp_path, args, fragments):
    proc = scratchnn("train", *args, "--epochs", "1", "--out", "o", cwd=tmp_path, status=None)
    assert_one_line_error(proc, *fragments)
