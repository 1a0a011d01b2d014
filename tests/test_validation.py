"""Every bad input of the Python API raises ValueError or TypeError naming the argument and the value.

The tables below are the contract: each row is one mistake a user can make,
the entry point it goes through, the exception type, and the words the message
must contain (the argument's name and the offending value or shape). A row
passes only if the error is raised where the data enters, before any training.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import RecordingCrossEntropy, teacher_data

from scratchnn import (
    SGD,
    Adam,
    AdamW,
    Dense,
    Momentum,
    NeuralNetwork,
    ReLU,
    SoftmaxCrossEntropy,
    Trainer,
    TrainingConfig,
    TrainingDiverged,
    build_mlp,
    grid_search,
    train,
)
from scratchnn.hyperparameter_tuning import expand_grid

N, F, C = 24, 4, 3


def _data():
    return teacher_data(np.random.default_rng(0), N, F, C)


def _net(dtype=np.float64):
    return build_mlp(F, 5, C, seed=0, dtype=dtype)


def _fit(x, y, **kwargs):
    trainer = Trainer(_net(), SGD(0.1), batch_size=8, seed=0)
    return trainer.fit(x, y, epochs=1, verbose=False, **kwargs)


def _train(x, y):
    return train(TrainingConfig(hidden_units=5, epochs=1, dtype="float64"), x, y, n_outputs=C, seed=0)


def _grid(x, y):
    x_good, y_good = _data()
    return grid_search(x, y, x_good, y_good, grid={"batch_size": [8]}, epochs=1, n_classes=C)


# Entry points that take features: (callable(x, y), name of the features argument).
X_ENTRY = {
    "Trainer.fit": (_fit, "x_train"),
    "train": (_train, "x_train"),
    "grid_search": (_grid, "x_train"),
    "predict": (lambda x, y: _net().predict(x), "x"),
    "predict_proba": (lambda x, y: _net().predict_proba(x), "x"),
    "accuracy": (lambda x, y: _net().accuracy(x, y), "x"),
}

# Bad features: (make(x) -> bad x, exception, words the message must hold besides the name).
BAD_X = {
    "1-D": (lambda x: x[:, 0], ValueError, ["2-D", "(24,)"]),
    "3-D": (lambda x: x[:, :, None], ValueError, ["2-D", "(24, 4, 1)"]),
    "scalar": (lambda x: 3.0, ValueError, ["2-D", "()"]),
    "NaN": (
        lambda x: np.where((np.arange(N) == 2)[:, None] & (np.arange(F) == 1), np.nan, x),
        ValueError,
        ["NaN", "row 2", "column 1", "nan"],
    ),
    "inf": (
        lambda x: np.where(np.arange(F) == 3, np.inf, x),
        ValueError,
        ["infinity", "row 0", "column 3", "inf"],
    ),
    "-inf": (lambda x: np.where(np.arange(N)[:, None] == 5, -np.inf, x), ValueError, ["row 5", "-inf"]),
    "no rows": (lambda x: x[:0], ValueError, ["empty", "(0, 4)"]),
    "no columns": (lambda x: x[:, :0], ValueError, ["empty", "(24, 0)"]),
    "strings": (lambda x: x.astype(str), TypeError, ["numeric", "<U"]),
    "objects": (lambda x: x.astype(object), TypeError, ["numeric", "object"]),
    "complex": (lambda x: x + 1j, TypeError, ["real", "complex"]),
    "ragged list": (lambda x: [[1.0, 2.0], [3.0]], ValueError, ["2-D"]),
}


@pytest.mark.parametrize("entry", list(X_ENTRY))
@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_features_raise_an_error_naming_the_argument_and_value(entry, case):
    call, name = X_ENTRY[entry]
    make, exc_type, words = BAD_X[case]
    x, y = _data()
    with pytest.raises(exc_type) as info:
        call(make(x), y)
    message = str(info.value)
    assert name in message
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"


@pytest.mark.parametrize("entry", ["Trainer.fit", "predict", "accuracy"])
def test_features_of_the_wrong_width_are_refused_naming_both_widths(entry):
    call, name = X_ENTRY[entry]
    x, y = _data()
    with pytest.raises(ValueError, match=rf"{name} has 5 features, but the network expects 4"):
        call(np.hstack([x, x[:, :1]]), y)


def test_grid_search_refuses_validation_features_of_another_width():
    x, y = _data()
    with pytest.raises(ValueError, match="x_val has 3 features, but the network expects 4"):
        grid_search(x, y, x[:, :3], y, grid={"batch_size": [8]}, epochs=1)


def test_float64_features_beyond_float32_range_are_refused_for_a_float32_network():
    x, y = _data()
    x[3, 2] = 1e300  # finite in float64, inf once cast to the network's float32
    trainer = Trainer(_net(np.float32), SGD(0.1), batch_size=8, seed=0)
    with pytest.raises(
        ValueError, match=r"x_train holds a value too large for float32 .*row 3, column 2: 1e\+300"
    ):
        trainer.fit(x, y, epochs=1, verbose=False)


# Entry points that take labels: (callable(x, y), name of the labels argument).
Y_ENTRY = {
    "Trainer.fit": (_fit, "y_train"),
    "train": (_train, "y_train"),
    "grid_search": (_grid, "y_train"),
    "accuracy": (lambda x, y: _net().accuracy(x, y), "y"),
}

BAD_Y = {
    "non-integer floats": (lambda y: y + 0.5, TypeError, ["integer", ".5 at position 0"]),
    "NaN": (lambda y: np.where(np.arange(N) == 4, np.nan, y), TypeError, ["integer", "nan", "position 4"]),
    "strings": (lambda y: np.array(["cat", "dog", "eel"])[y], TypeError, ["integer", "<U3"]),
    "booleans": (lambda y: y > 0, TypeError, ["integer", "bool"]),
    "negative": (lambda y: y - 1, ValueError, ["label -1", "0..2"]),
    "too large": (lambda y: np.where(np.arange(N) == 0, C, y), ValueError, ["label 3", "0..2"]),
    "empty": (lambda y: y[:0], ValueError, ["empty", "(0,)"]),
    "one short": (lambda y: y[:-1], ValueError, ["23 samples", "24"]),
    "3-D": (lambda y: y[:, None, None], ValueError, ["shape (24, 1, 1)"]),
    "one-hot too wide": (lambda y: np.eye(C + 1)[y], ValueError, ["4 columns", "3 outputs"]),
}


@pytest.mark.parametrize("entry", list(Y_ENTRY))
@pytest.mark.parametrize("case", list(BAD_Y))
def test_bad_labels_raise_an_error_naming_the_argument_and_value(entry, case):
    call, name = Y_ENTRY[entry]
    make, exc_type, words = BAD_Y[case]
    x, y = _data()
    with pytest.raises(exc_type) as info:
        call(x, make(y))
    message = str(info.value)
    assert name in message
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"


def test_mismatched_lengths_name_both_arguments():
    x, y = _data()
    with pytest.raises(ValueError, match="y_train has 23 samples, but x_train has 24"):
        _fit(x, y[:-1])


def test_train_infers_classes_only_from_checked_labels():
    x, y = _data()
    config = TrainingConfig(hidden_units=5, epochs=1)
    for bad, exc_type in ((y[:0], ValueError), (y + 0.5, TypeError), (np.array(["a"] * N), TypeError)):
        with pytest.raises(exc_type, match="y_train"):
            train(config, x, bad, seed=0)


def test_validation_and_test_data_are_checked_under_their_own_names():
    x, y = _data()
    with pytest.raises(ValueError, match=r"x_val contains NaN.*row 0, column 0"):
        _fit(x, y, x_val=np.where(x == x[0, 0], np.nan, x), y_val=y)
    with pytest.raises(ValueError, match=r"y_test holds label 7"):
        _fit(x, y, x_test=x, y_test=np.where(np.arange(N) == 1, 7, y))
    with pytest.raises(ValueError, match="y_val has 23 samples, but x_val has 24"):
        _fit(x, y, x_val=x, y_val=y[:-1])
    with pytest.raises(ValueError, match="x_val and y_val must be given together"):
        _fit(x, y, x_val=x)


# Settings: (callable, exception, words). Each names the setting and shows the value.
BAD_SETTINGS = {
    "SGD lr 0": (lambda: SGD(learning_rate=0), ValueError, ["learning_rate", "0.0"]),
    "SGD lr negative": (lambda: SGD(learning_rate=-0.1), ValueError, ["learning_rate", "-0.1"]),
    "Momentum lr NaN": (lambda: Momentum(learning_rate=math.nan), ValueError, ["learning_rate", "nan"]),
    "Adam lr inf": (lambda: Adam(learning_rate=math.inf), ValueError, ["learning_rate", "inf"]),
    "AdamW lr -inf": (lambda: AdamW(learning_rate=-math.inf), ValueError, ["learning_rate", "-inf"]),
    "SGD lr string": (lambda: SGD(learning_rate="0.1"), TypeError, ["learning_rate", "'0.1'"]),
    "SGD lr bool": (lambda: SGD(learning_rate=True), TypeError, ["learning_rate", "True"]),
    "SGD lr None": (lambda: SGD(learning_rate=None), TypeError, ["learning_rate", "None"]),
    "config lr 0": (lambda: TrainingConfig(learning_rate=0.0), ValueError, ["learning_rate", "0.0"]),
    "config lr NaN": (lambda: TrainingConfig(learning_rate=math.nan), ValueError, ["learning_rate", "nan"]),
    "Trainer batch 0": (lambda: Trainer(_net(), SGD(0.1), batch_size=0), ValueError, ["batch_size", "0"]),
    "Trainer batch -8": (lambda: Trainer(_net(), SGD(0.1), batch_size=-8), ValueError, ["batch_size", "-8"]),
    "Trainer batch 2.5": (
        lambda: Trainer(_net(), SGD(0.1), batch_size=2.5),
        TypeError,
        ["batch_size", "2.5"],
    ),
    "Trainer batch NaN": (
        lambda: Trainer(_net(), SGD(0.1), batch_size=math.nan),
        TypeError,
        ["batch_size", "nan"],
    ),
    "Trainer batch inf": (
        lambda: Trainer(_net(), SGD(0.1), batch_size=math.inf),
        TypeError,
        ["batch_size", "inf"],
    ),
    "Trainer batch string": (
        lambda: Trainer(_net(), SGD(0.1), batch_size="16"),
        TypeError,
        ["batch_size", "'16'"],
    ),
    "config batch 0": (lambda: TrainingConfig(batch_size=0), ValueError, ["batch_size", "0"]),
    "fit epochs 0": (lambda: _fit_epochs(0), ValueError, ["epochs", "0"]),
    "fit epochs -3": (lambda: _fit_epochs(-3), ValueError, ["epochs", "-3"]),
    "fit epochs inf": (lambda: _fit_epochs(math.inf), TypeError, ["epochs", "inf"]),
    "fit epochs NaN": (lambda: _fit_epochs(math.nan), TypeError, ["epochs", "nan"]),
    "fit epochs 1.5": (lambda: _fit_epochs(1.5), TypeError, ["epochs", "1.5"]),
    "config epochs 0": (lambda: TrainingConfig(epochs=0), ValueError, ["epochs", "0"]),
    "config epochs None": (lambda: TrainingConfig(epochs=None), TypeError, ["epochs", "None"]),
    "fit patience 0": (lambda: _fit_epochs(2, patience=0), ValueError, ["patience", "0"]),
    "config momentum 1": (lambda: TrainingConfig(momentum=1.0), ValueError, ["momentum", "1.0"]),
    "config optimizer": (lambda: TrainingConfig(optimizer="rmsprop"), ValueError, ["optimizer", "'rmsprop'"]),
    "config hidden 0": (lambda: TrainingConfig(hidden_units=(32, 0)), ValueError, ["hidden_units", "0"]),
    "replace unknown": (lambda: TrainingConfig().replace(lr=0.1), ValueError, ["'lr'"]),
    "grid unknown key": (lambda: expand_grid({"lr": [0.1]}), ValueError, ["unknown key", "'lr'"]),
    "grid empty list": (lambda: expand_grid({"learning_rate": []}), ValueError, ["'learning_rate'", "[]"]),
    "grid string": (lambda: expand_grid({"batch_size": "16"}), TypeError, ["'batch_size'", "'16'"]),
    "grid scalar": (lambda: expand_grid({"batch_size": 16}), TypeError, ["'batch_size'", "16"]),
    "grid empty": (lambda: expand_grid({}), ValueError, ["grid", "{}"]),
    "grid not a dict": (lambda: expand_grid([("batch_size", [8])]), ValueError, ["grid", "batch_size"]),
    "build_mlp n_features 0": (lambda: build_mlp(0, 5, 3), ValueError, ["n_features", "0"]),
    "build_mlp hidden text": (lambda: build_mlp(4, "64", 3), TypeError, ["hidden_units", "'64'"]),
    "build_mlp hidden 0": (lambda: build_mlp(4, (8, 0), 3), ValueError, ["hidden_units", "0"]),
    "build_mlp outputs 1.5": (lambda: build_mlp(4, 8, 1.5), TypeError, ["n_outputs", "1.5"]),
    "grid dict values": (
        lambda: expand_grid({"batch_size": {8: "a"}}),
        TypeError,
        ["'batch_size'", "{8: 'a'}"],
    ),
    "train n_outputs 0": (
        lambda: train(TrainingConfig(epochs=1), *_data(), n_outputs=0),
        ValueError,
        ["n_outputs", "0"],
    ),
    "grid_search n_classes text": (
        lambda: grid_search(*_data(), *_data(), grid={"batch_size": [8]}, n_classes="3"),
        TypeError,
        ["n_classes", "'3'"],
    ),
}


def _fit_epochs(epochs, **kwargs):
    x, y = _data()
    trainer = Trainer(_net(), SGD(0.1), batch_size=8, seed=0)
    return trainer.fit(x, y, epochs=epochs, verbose=False, x_val=x, y_val=y, **kwargs)


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_raise_an_error_naming_the_setting_and_value(case):
    call, exc_type, words = BAD_SETTINGS[case]
    with pytest.raises(exc_type) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"


@pytest.mark.parametrize(
    ("grid", "exc_type", "words"),
    [
        ({"lr": [0.1]}, ValueError, ["unknown key", "'lr'"]),
        ({"learning_rate": [0.1], "batch_size": []}, ValueError, ["'batch_size'", "[]"]),
        ({"learning_rate": [0.1, -1.0]}, ValueError, ["learning_rate", "-1.0"]),
        ({"batch_size": [8, 0]}, ValueError, ["batch_size", "0"]),
        ({"hidden_units": [16, "many"]}, TypeError, ["hidden_units", "'many'"]),
    ],
)
def test_grid_search_checks_the_whole_grid_before_running_any_trial(grid, exc_type, words):
    x, y = _data()
    finished = []
    with pytest.raises(exc_type) as info:
        grid_search(x, y, x, y, grid=grid, epochs=1, callback=finished.append)
    for word in words:
        assert word in str(info.value)
    assert finished == []


def test_a_layer_that_does_not_fit_the_previous_one_is_refused_when_the_network_is_built():
    layers = [Dense(4, 5), ReLU(), Dense(6, 3)]
    with pytest.raises(ValueError, match=r"layers\[2\]: .*in_features=6.*outputs 5 features"):
        NeuralNetwork(layers, SoftmaxCrossEntropy())


@pytest.mark.parametrize(
    ("layers", "loss", "exc_type", "words"),
    [
        ([], SoftmaxCrossEntropy(), ValueError, ["layers", "[]"]),
        ([Dense(4, 3), "relu"], SoftmaxCrossEntropy(), TypeError, ["layers[1]", "'relu'"]),
        ([Dense(4, 3)], "cross-entropy", TypeError, ["loss", "'cross-entropy'"]),
    ],
)
def test_a_network_of_things_that_are_not_layers_is_refused(layers, loss, exc_type, words):
    with pytest.raises(exc_type) as info:
        NeuralNetwork(layers, loss)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(("in_features", "exc_type"), [(0, ValueError), (-2, ValueError), (2.5, TypeError)])
def test_a_dense_layer_of_impossible_width_is_refused(in_features, exc_type):
    with pytest.raises(exc_type, match=rf"in_features must be a positive integer, got {in_features}"):
        Dense(in_features, 3)


def test_a_grid_given_as_generators_is_read_once_and_expanded_in_full():
    grid = {"learning_rate": (lr for lr in (0.05, 0.1)), "batch_size": iter([8, 16])}
    assert expand_grid(grid) == [
        {"learning_rate": 0.05, "batch_size": 8},
        {"learning_rate": 0.05, "batch_size": 16},
        {"learning_rate": 0.1, "batch_size": 8},
        {"learning_rate": 0.1, "batch_size": 16},
    ]


def test_a_batch_size_larger_than_the_data_gives_one_batch_per_epoch():
    x, y = _data()
    loss = RecordingCrossEntropy()
    rng = np.random.default_rng(0)
    net = NeuralNetwork([Dense(F, 5, seed=rng), ReLU(), Dense(5, C, seed=rng)], loss)
    history = Trainer(net, SGD(0.1), batch_size=10 * N, seed=0).fit(x, y, epochs=3, verbose=False)
    assert len(loss.values) == 3  # one batch per epoch
    assert all(len(targets) == N for targets in loss.targets)
    assert len(history) == 3
    assert all(math.isfinite(record["loss"]) for record in history)


# --- divergence ----------------------------------------------------------------


def test_an_absurd_learning_rate_raises_training_diverged_naming_the_epoch_and_the_fix():
    x, y = _data()
    trainer = Trainer(_net(np.float32), SGD(learning_rate=1e30), batch_size=8, seed=0)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(x, y, epochs=5, verbose=False)
    err = info.value
    assert isinstance(err, ArithmeticError)
    assert err.epoch == 1
    assert "epoch 1" in str(err)
    assert "smaller learning rate than 1e+30" in str(err)
    assert not math.isfinite(err.loss)


def test_weights_that_overflow_in_the_last_update_of_an_epoch_are_caught():
    # One batch per epoch: the only loss computed is finite, the update then
    # overflows float32. Without a check the weights would pass as trained.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, F)) * 1000
    y = np.arange(16) % C
    net = _net(np.float32)
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        Trainer(net, SGD(1e37), batch_size=100, seed=0).fit(x, y, epochs=1, verbose=False)


def test_divergence_is_caught_on_the_validation_loss_too():
    x, y = _data()
    trainer = Trainer(_net(np.float32), Adam(learning_rate=1e30), batch_size=N, seed=0)
    with pytest.raises(TrainingDiverged, match="try a smaller learning rate"):
        trainer.fit(x, y, epochs=3, verbose=False, x_val=x, y_val=y)


def test_train_with_an_absurd_learning_rate_raises_training_diverged():
    x, y = _data()
    config = TrainingConfig(hidden_units=5, epochs=3, learning_rate=1e30)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+ .*smaller learning rate"):
        train(config, x, y, seed=0)


def test_grid_search_records_a_diverged_trial_and_goes_on():
    x, y = _data()
    seen = []
    result = grid_search(
        x, y, x, y, grid={"learning_rate": [1e30, 0.1], "hidden_units": [5]}, epochs=2, callback=seen.append
    )
    assert [row["status"] for row in result.results] == ["diverged", "ok"]
    assert [row["status"] for row in seen] == ["diverged", "ok"]
    diverged = result.results[0]
    assert diverged["val_accuracy"] is None
    assert diverged["val_loss"] is None
    assert result.best_params == {"learning_rate": 0.1, "hidden_units": 5}
    assert 0.0 <= result.best_score <= 1.0


def test_grid_search_where_every_trial_diverges_returns_no_best():
    x, y = _data()
    result = grid_search(x, y, x, y, grid={"learning_rate": [1e30, 1e35]}, epochs=2)
    assert [row["status"] for row in result.results] == ["diverged", "diverged"]
    assert result.best_params == {}
    assert math.isnan(result.best_score)
