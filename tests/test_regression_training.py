"""The training loop for regression, multilabel targets and sample weights.

A network with a linear output and a regression loss learns numbers; the
trainer reports R^2 for it; sample weights act as repeated rows; ``tol``,
``shuffle`` and repeated ``fit`` calls mean what scikit-learn means by them;
early stopping restores BatchNorm's running statistics with the weights;
``config.train`` and ``grid_search`` standardise the target and choose
regression settings by validation loss.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import teacher_data

from scratchnn import build_mlp
from scratchnn.data import TargetScaler
from scratchnn.gradcheck import check_gradients
from scratchnn.hyperparameter_tuning import grid_search
from scratchnn.layers import BatchNorm1d, Dense, ReLU
from scratchnn.losses import MeanSquaredError
from scratchnn.metrics import r2_score
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import SGD, Adam
from scratchnn.recipe.config import SETTINGS_BY_NAME, TrainingConfig
from scratchnn.recipe.train import train
from scratchnn.trainer import EarlyStopping, Trainer, TrainingDiverged, format_epoch


def friedman(n=200, seed=0, k=1):
    """A smooth nonlinear target of 5 features (Friedman #1 without noise), k columns."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5))
    y = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    y = y if k == 1 else np.column_stack([y, -0.5 * y + 3 * x[:, 0]])
    return (x - 0.5) / 0.29, y


# -- the network and the loss ------------------------------------------------------------


def test_a_regression_network_is_linear_at_the_output_and_predicts_its_outputs():
    net = build_mlp(5, 8, 2, loss="mse", seed=0, dtype=np.float64)
    assert net.task == "regression"
    assert isinstance(net.layers[-1], Dense)  # nothing after the last Dense: raw numbers
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(net.predict(x), net.forward(x))
    assert build_mlp(5, 8, 3, seed=0).task == "classification"
    assert build_mlp(5, 8, 3, loss="bce", seed=0).task == "multilabel"
    assert build_mlp(5, 8, 3, loss="mse", task="classification", seed=0).task == "classification"
    with pytest.raises(ValueError, match="task='regression'"):
        build_mlp(5, 8, 3, loss="cross-entropy", task="regression")


def test_a_weight_of_two_gives_the_network_gradient_of_the_row_duplicated():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 2))
    net = build_mlp(5, 7, 2, loss="huber", seed=0, dtype=np.float64)
    w = np.array([2.0, 1, 1, 1, 1, 1])
    weighted = net.compute_loss(net.forward(x, training=True), y, w)
    net.backward()
    g_weighted = [g.copy() for g in net.gradients()]
    xd, yd = np.vstack([x, x[:1]]), np.vstack([y, y[:1]])
    duplicated = net.compute_loss(net.forward(xd, training=True), yd)
    net.backward()
    assert weighted == pytest.approx(duplicated, rel=1e-13)
    for a, b in zip(g_weighted, net.gradients()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["mse", "huber", "mae"])
def test_a_regression_network_passes_the_finite_difference_check(loss):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((7, 4)), rng.standard_normal((7, 2)) * 3
    net = build_mlp(4, (6, 5), 2, activation="tanh", loss=loss, seed=1, dtype=np.float64)
    assert check_gradients(net, x, y) < 1e-6


# -- the trainer ---------------------------------------------------------------------------


def test_a_regression_network_reaches_a_low_loss_on_a_small_problem():
    x, y = friedman(240)
    scaler = TargetScaler.fit(y[:200])
    ys = scaler.transform(y)
    net = build_mlp(5, (32,), 1, loss="mse", seed=0, dtype=np.float64)
    history = Trainer(net, Adam(0.01), batch_size=16, seed=0).fit(
        x[:200], ys[:200], epochs=60, x_val=x[200:], y_val=ys[200:], verbose=False
    )
    assert history[-1]["loss"] < 0.02 * history[0]["loss"]
    assert history[-1]["val_r2"] > 0.95
    assert set(history[-1]) == {"epoch", "loss", "lr", "val_loss", "val_r2"}
    predicted = scaler.inverse_transform(net.predict(x[200:]))
    assert predicted.shape == (40,)
    assert r2_score(y[200:], predicted) == pytest.approx(history[-1]["val_r2"], abs=1e-9)


def test_r2_matches_scikit_learn_including_constant_columns():
    from sklearn.metrics import r2_score as sk_r2

    rng = np.random.default_rng(0)
    y, p = rng.standard_normal((20, 3)), rng.standard_normal((20, 3))
    assert r2_score(y, p) == pytest.approx(sk_r2(y, p), abs=1e-12)
    y[:, 1] = 4.0
    p[:, 1] = 4.0  # constant and predicted exactly: 1, as scikit-learn's force_finite
    assert r2_score(y, p) == pytest.approx(sk_r2(y, p), abs=1e-12)


def test_the_progress_line_shows_r2_for_regression():
    line = format_epoch({"epoch": 3, "loss": 0.5, "lr": 0.1, "test_r2": 0.81234, "val_loss": 0.4,
                         "val_r2": 0.7}, 10)  # fmt: skip
    assert line == "Epoch 3/10 | Loss: 0.5000 | Test R2: 0.8123 | Val Loss: 0.4000 | Val R2: 0.7000"


def test_multilabel_training_reports_subset_accuracy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 4))
    y = np.column_stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] > 0.5]).astype(np.int64)
    net = build_mlp(4, 16, 3, loss="bce", seed=0, dtype=np.float64)
    history = Trainer(net, Adam(0.02), seed=0).fit(x, y, epochs=30, x_val=x, y_val=y, verbose=False)
    predicted = net.predict(x)
    assert predicted.shape == (120, 3)
    assert set(np.unique(predicted)) <= {0, 1}
    assert history[-1]["val_accuracy"] == np.mean(np.all(predicted == y, axis=1))
    assert history[-1]["val_accuracy"] > 0.85


def test_sample_weights_train_as_repeated_rows():
    """One batch per epoch, rows in order: weight 2 is the row twice, step for step."""
    x, y = friedman(30)
    w = np.ones(30)
    w[:5] = 2.0
    xd, yd = np.vstack([x, x[:5]]), np.concatenate([y, y[:5]])
    runs = []
    for xs, ys, ws in ((x, y, w), (xd, yd, None)):
        net = build_mlp(5, 8, 1, loss="mse", seed=0, dtype=np.float64)
        trainer = Trainer(net, SGD(0.01), batch_size=64, seed=0, shuffle=False)
        history = trainer.fit(xs, ys, epochs=5, sample_weight=ws, verbose=False)
        runs.append((history.column("loss"), [p.copy() for p in net.parameters()]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-12)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_sample_weights_are_shuffled_with_their_rows():
    """Weight 0 on half the rows: training never sees them, whatever the order."""
    x, y = friedman(64)
    w = (np.arange(64) % 2).astype(float)
    scaled = (y - y.mean()) / y.std()
    y_poisoned = np.where(w == 0, 1e3, scaled)  # rows of weight 0 carry absurd targets
    net = build_mlp(5, 8, 1, loss="mse", seed=0, dtype=np.float64)
    history = Trainer(net, Adam(0.01), batch_size=8, seed=0).fit(
        x, y_poisoned, epochs=20, sample_weight=w, verbose=False
    )
    assert history[-1]["loss"] < 0.5  # a weight-0 row in any batch would make this ~1e6


@pytest.mark.parametrize("weights", [np.ones(3), -np.ones(8), np.zeros(8), np.full(8, np.nan)])
def test_bad_sample_weights_are_refused_at_the_door(weights):
    x, y = friedman(8)
    trainer = Trainer(build_mlp(5, 4, 1, loss="mse", seed=0), SGD(0.1))
    with pytest.raises(ValueError, match="sample_weight"):
        trainer.fit(x, y, epochs=1, sample_weight=weights, verbose=False)


def test_shuffle_false_gives_the_rows_in_order_every_epoch():
    seen = []

    class Record(ReLU):
        def forward(self, x, training=False):
            if training:
                seen.append(x[:, 0].copy())
            return x

        def backward(self, grad_out, *, input_grad=True):
            return grad_out

    x = np.column_stack([np.arange(23.0), np.ones(23)])
    net = NeuralNetwork([Record(), Dense(2, 1, dtype=np.float64, seed=0)], MeanSquaredError())
    Trainer(net, SGD(1e-4), batch_size=5, seed=0, shuffle=False).fit(x, np.zeros(23), epochs=3, verbose=False)
    assert [len(b) for b in seen] == [5, 5, 5, 5, 3] * 3
    np.testing.assert_array_equal(np.concatenate(seen), np.tile(np.arange(23.0), 3))


def test_tol_counts_only_improvements_larger_than_it():
    net = build_mlp(2, 2, 1, loss="mse", seed=0)
    losses = [1.0, 0.95, 0.93, 0.5, 0.49]
    plain, tolerant = EarlyStopping(patience=10, tol=0.0), EarlyStopping(patience=10, tol=0.1)
    waited = []
    for epoch, loss in enumerate(losses, start=1):
        plain.update(epoch, loss, net)
        tolerant.update(epoch, loss, net)
        waited.append((plain.waited, tolerant.waited))
    # plain: every decrease counts; tol=0.1: 0.95 and 0.93 are within 0.1 of 1.0, 0.49 of 0.5
    assert waited == [(0, 0), (0, 1), (0, 2), (0, 0), (0, 1)]
    assert (plain.best_epoch, tolerant.best_epoch) == (5, 4)
    assert EarlyStopping(patience=2, tol=0.1).should_stop is False


def test_a_large_tol_stops_after_patience_epochs_and_keeps_the_first():
    x, y = friedman(80)
    ys = (y - y.mean()) / y.std()
    net = build_mlp(5, 8, 1, loss="mse", seed=0, dtype=np.float64)
    history = Trainer(net, Adam(0.01), seed=0).fit(
        x[:60], ys[:60], epochs=30, x_val=x[60:], y_val=ys[60:], patience=3, tol=1e6, verbose=False
    )
    assert len(history) == 4
    assert history.stopped_early
    assert history.best_epoch == 1


@pytest.mark.parametrize("tol", [-0.1, float("nan"), "0.1"])
def test_a_bad_tol_is_refused_naming_it(tol):
    x, y = friedman(8)
    with pytest.raises((ValueError, TypeError), match="tol"):
        Trainer(build_mlp(5, 4, 1, loss="mse", seed=0), SGD(0.1)).fit(x, y, epochs=1, tol=tol, verbose=False)


def test_restore_best_restores_batchnorm_running_statistics_too():
    x, y = teacher_data(np.random.default_rng(0), 96, 4, 3)
    rng = np.random.default_rng(0)
    layers = [Dense(4, 16, seed=rng, dtype=np.float64), BatchNorm1d(16, dtype=np.float64), ReLU(),
              Dense(16, 3, seed=rng, dtype=np.float64)]  # fmt: skip
    from scratchnn.losses import SoftmaxCrossEntropy

    net = NeuralNetwork(layers, SoftmaxCrossEntropy())
    snapshots = []
    trainer = Trainer(net, SGD(0.3), batch_size=8, seed=0)
    history = trainer.fit(
        x[:64], y[:64], epochs=25, x_val=x[64:], y_val=y[64:], patience=25, verbose=False,
        callback=lambda r: snapshots.append([b.copy() for b in net.buffers()]),
    )  # fmt: skip
    best = history.best_epoch
    assert best is not None
    assert best < len(history)
    assert any(not np.array_equal(a, b) for a, b in zip(snapshots[-1], snapshots[best - 1]))
    for b, kept in zip(net.buffers(), snapshots[best - 1]):
        np.testing.assert_array_equal(b, kept)


def test_fit_called_again_continues_as_one_longer_fit():
    """partial_fit: two fit(epochs=1) calls give the weights of one fit(epochs=2), counters included."""
    x, y = friedman(50)
    results = []
    for calls in ([1, 1], [2]):
        net = build_mlp(5, 8, 1, loss="mse", seed=0, dtype=np.float64)
        opt = Adam(0.01)
        trainer = Trainer(net, opt, batch_size=8, seed=0)
        for epochs in calls:
            trainer.fit(x, (y - 14) / 5, epochs=epochs, verbose=False)
        results.append(([p.copy() for p in net.parameters()], trainer.step, opt.t, trainer.epochs_done,
                        trainer.samples_seen))  # fmt: skip
    (w1, *counts1), (w2, *counts2) = results
    assert counts1 == counts2 == [14, 14, 2, 100]
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_a_loss_that_overflows_before_any_update_blames_the_data_scale():
    x, y = friedman(16)
    net = build_mlp(5, 8, 1, loss="mse", seed=0, dtype=np.float64)
    with pytest.raises(TrainingDiverged, match="before any update") as info:
        Trainer(net, SGD(0.1), seed=0).fit(x * 1e160, y, epochs=1, verbose=False)
    assert "smaller learning rate" not in str(info.value)


# -- the recipe: config.train and grid_search -----------------------------------------------


def test_config_train_standardises_the_target_and_returns_its_scaler():
    x, y = friedman(240, k=2)
    y = y * 1000 + 5e4  # units where an unscaled target would need another learning rate
    config = TrainingConfig(hidden_units=32, loss="mse", optimizer="adam", learning_rate=0.01, epochs=40)
    net, history = train(config, x[:200], y[:200], x[200:], y[200:], seed=0)
    scaler = history.target_scaler
    assert isinstance(scaler, TargetScaler)
    assert net.n_outputs == 2
    np.testing.assert_allclose(scaler.mean, y[:200].mean(axis=0))
    predicted = scaler.inverse_transform(net.predict(x[200:]))
    assert predicted.shape == (40, 2)
    assert r2_score(y[200:], predicted) == pytest.approx(history[-1]["val_r2"], abs=1e-4)
    assert history[-1]["val_r2"] > 0.9
    _, classified = train(
        TrainingConfig(hidden_units=8, epochs=1), *teacher_data(np.random.default_rng(0), 30, 4, 3)
    )
    assert classified.target_scaler is None


def test_config_train_refuses_the_poisson_loss_whose_log_link_needs_the_raw_target():
    x, y = friedman(60)
    config = TrainingConfig(hidden_units=4, loss="poisson", epochs=1)
    with pytest.raises(ValueError, match=r"loss='poisson' needs the raw target, but train and grid_search "
                                         r"standardise .*ScratchNNRegressor\(loss='poisson'\)"):  # fmt: skip
        train(config, x, y)
    with pytest.raises(ValueError, match="loss='poisson' needs the raw target"):
        grid_search(x[:40], y[:40], x[40:], y[40:], grid={"loss": ["mse", "poisson"]}, epochs=1)


def test_integer_labels_with_mse_stay_the_seeds_classification_on_one_hot_codes():
    x, y = teacher_data(np.random.default_rng(0), 90, 4, 3)
    net, history = train(TrainingConfig(hidden_units=8, loss="mse", epochs=3), x[:60], y[:60], x[60:], y[60:])
    assert net.task == "classification"
    assert net.n_outputs == 3
    assert "val_accuracy" in history[-1]
    assert history.target_scaler is None


def test_target_scaler_round_trips_through_json_exactly():
    rng = np.random.default_rng(0)
    for y in (rng.standard_normal(30) * 7 + 3, rng.standard_normal((30, 3)) * [1, 100, 1e-3]):
        scaler = TargetScaler.fit(y)
        again = TargetScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
        z = scaler.transform(y)
        np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
        np.testing.assert_array_equal(again.transform(y), z)
        np.testing.assert_allclose(again.inverse_transform(z), y, rtol=1e-12)
    with pytest.raises(ValueError, match="target columns"):
        TargetScaler.fit(np.ones((4, 2))).transform(np.ones((4, 3)))


def test_grid_search_on_regression_chooses_by_validation_loss_and_reports_r2():
    x, y = friedman(160)
    grid = {"learning_rate": [0.001, 0.01], "hidden_units": [4, 16]}
    base = TrainingConfig(loss="mse", optimizer="adam")
    result = grid_search(x[:120], y[:120], x[120:], y[120:], grid=grid, epochs=8, seed=0, base=base)
    assert result.metric == "val_loss"
    ok = [r for r in result.results if r["status"] == "ok"]
    assert len(ok) == 4
    assert all(r["val_r2"] is not None for r in ok)
    best = min(ok, key=lambda r: r["val_loss"])
    assert result.best_params == {k: best[k] for k in grid}
    assert result.best_score == best["val_loss"]
    classification = grid_search(*_classes(), grid={"hidden_units": [4]}, epochs=1)
    assert classification.metric == "val_accuracy"
    assert "val_r2" not in classification.results[0]


def _classes():
    x, y = teacher_data(np.random.default_rng(0), 60, 4, 3)
    return x[:40], y[:40], x[40:], y[40:]


def test_a_grid_mixing_tasks_is_refused():
    x, y, xv, yv = _classes()
    with pytest.raises(ValueError, match="different tasks"):
        grid_search(x, y, xv, yv, grid={"loss": ["cross-entropy", "bce"]}, epochs=1)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("No", False), ("1", True), ("0", False)])
def test_the_shuffle_setting_reads_true_false_yes_no_1_0(text, value):
    assert SETTINGS_BY_NAME["shuffle"].from_text(text) is value
    with pytest.raises(ValueError, match="true or false"):
        SETTINGS_BY_NAME["shuffle"].from_text("maybe")
    with pytest.raises(TypeError, match="shuffle"):
        TrainingConfig(shuffle="yes")


def test_a_regression_search_writes_r2_to_its_results_table_and_resumes_from_it(tmp_path):
    x, y = friedman(120)
    grid = {"hidden_units": [4, 8]}
    base = TrainingConfig(loss="mse", optimizer="adam", learning_rate=0.01)
    path = str(tmp_path / "results.csv")
    first = grid_search(x[:90], y[:90], x[90:], y[90:], grid=grid, epochs=3, base=base, results_path=path)
    header = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert header == "hidden_units,val_r2,val_loss,train_loss,status"
    seen = []
    again = grid_search(
        x[:90], y[:90], x[90:], y[90:], grid=grid, epochs=3, base=base, results_path=path, resume=True,
        on_resume=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert seen == [(2, 2)]
    assert again.results == first.results
    assert again.best_params == first.best_params


def test_config_train_fits_multilabel_targets_with_bce():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 4))
    y = np.column_stack([x[:, 0] > 0, x[:, 1] > 0]).astype(np.int64)
    config = TrainingConfig(hidden_units=8, loss="bce", optimizer="adam", learning_rate=0.02, epochs=15)
    net, history = train(config, x[:60], y[:60], x[60:], y[60:], seed=0)
    assert net.task == "multilabel"
    assert net.n_outputs == 2
    assert history[-1]["val_accuracy"] > 0.8
    assert history.target_scaler is None


def test_a_classifier_trained_with_mse_keeps_its_task_in_the_model_file(tmp_path):
    from scratchnn.serialization import load, save

    net = build_mlp(4, 6, 3, loss="mse", task="classification", seed=0)
    path = str(tmp_path / "model.npz")
    save(net, path, {})
    loaded = load(path)
    assert loaded.task == "classification"
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
