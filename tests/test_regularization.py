"""Dropout, early stopping and the learning rate recorded per epoch.

(Dropout's, the weight-decayed optimizers' and label smoothing's agreement with
PyTorch is in test_torch_parity.py; their gradients in test_gradients.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import teacher_data

from scratchnn import build_mlp
from scratchnn.layers import Dropout
from scratchnn.optimizers import SGD, Adam
from scratchnn.schedules import CosineAnnealing, StepDecay
from scratchnn.trainer import Trainer

# -- Dropout -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_in_evaluation_mode_returns_the_input_unchanged(dtype):
    x = np.random.default_rng(0).standard_normal((50, 20)).astype(dtype)
    layer = Dropout(0.5, seed=1)
    out = layer.forward(x, training=False)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x)
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), g)  # and the gradient passes straight through


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_zeroes_a_fraction_rate_of_a_large_input_and_preserves_the_mean(rate, dtype):
    rng = np.random.default_rng(2)
    n = 1_000_000
    x = rng.uniform(0.5, 2.0, size=(1000, 1000)).astype(dtype)  # no zeros of its own
    out = Dropout(rate, seed=3).forward(x, training=True)
    assert out.dtype == dtype

    zeros = np.mean(out == 0)
    # the fraction is a mean of n Bernoulli(rate) draws: std sqrt(rate(1-rate)/n) <= 0.0005, so 0.02 is wide
    assert abs(zeros - rate) < 0.02

    # Inverted dropout: E[out] = x. Each out_i - x_i has variance x_i**2 * rate / (1 - rate), so the
    # difference of the means has standard deviation sqrt(sum x_i**2 * rate / (1 - rate)) / n.
    x64 = x.astype(np.float64)
    sigma = math.sqrt(np.sum(x64**2) * rate / (1 - rate)) / n
    assert abs(out.astype(np.float64).mean() - x64.mean()) < 5 * sigma
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / dtype(1 - rate), rtol=1e-6)  # survivors scaled up


def test_dropout_draws_a_new_mask_each_call_and_the_same_masks_from_the_same_seed():
    x = np.ones((30, 30))
    a, b = Dropout(0.5, seed=4), Dropout(0.5, seed=4)
    first, second = a.forward(x, training=True), a.forward(x, training=True)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, b.forward(x, training=True))
    np.testing.assert_array_equal(second, b.forward(x, training=True))


def test_dropout_rate_zero_is_the_identity_while_training():
    x = np.random.default_rng(5).standard_normal((10, 10))
    np.testing.assert_array_equal(Dropout(0.0, seed=0).forward(x, training=True), x)


def test_network_with_dropout_is_deterministic_in_evaluation_mode():
    rng = np.random.default_rng(6)
    net = build_mlp(8, (32, 32), 3, dropout=0.5, seed=rng, dtype=np.float64)
    x = rng.standard_normal((20, 8))
    np.testing.assert_array_equal(net.forward(x), net.forward(x))  # default training=False
    assert not np.array_equal(net.forward(x, training=True), net.forward(x, training=True))


# -- early stopping ----------------------------------------------------------------

EPOCHS = 30


def overfitting_problem(seed: int):
    """30 training rows with 30% of their labels replaced by noise, 200 clean validation rows.

    The network first learns the teacher (validation loss falls), then
    memorises the noise (validation loss rises).
    """
    rng = np.random.default_rng(seed)
    x, y = teacher_data(rng, 230, 10, 3)
    y_train = y[:30].copy()
    noisy = rng.random(30) < 0.3
    y_train[noisy] = rng.integers(0, 3, size=noisy.sum())
    return x[:30], y_train, x[30:], y[30:]


SCENARIOS = {
    # Adam: the validation loss falls for a few epochs, then rises steadily
    "rises-steadily": dict(seed=0, make_opt=lambda: Adam(0.01), patience=3),
    # SGD with a large step: the loss is noisy, so the patience counter restarts before the end
    "noisy-with-restarts": dict(seed=3, make_opt=lambda: SGD(0.1), patience=3),
}


def run(seed, make_opt, patience=None):
    """Train on the overfitting problem; return (history, weights snapshotted after each epoch, network)."""
    x, y, xv, yv = overfitting_problem(seed)
    net = build_mlp(10, 64, 3, seed=seed + 1, dtype=np.float64)
    snapshots = []

    def snapshot(record):
        snapshots.append([p.copy() for p in net.parameters()])

    trainer = Trainer(net, make_opt(), batch_size=8, seed=seed + 2)
    history = trainer.fit(
        x, y, epochs=EPOCHS, x_val=xv, y_val=yv, patience=patience, callback=snapshot, verbose=False
    )
    return history, snapshots, net


def expected_stop(val_losses, patience: int) -> tuple[int, int]:
    """(best epoch, last epoch run): stop once the loss has not improved for ``patience`` epochs."""
    best, best_epoch = math.inf, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch = loss, epoch
        elif epoch - best_epoch >= patience:
            return best_epoch, epoch
    return best_epoch, len(val_losses)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_early_stopping_stops_at_best_epoch_plus_patience_and_restores_the_best_weights_exactly(scenario):
    seed, make_opt, patience = (SCENARIOS[scenario][k] for k in ("seed", "make_opt", "patience"))
    full, _, _ = run(seed, make_opt)  # the same run without early stopping, for the whole curve
    curve = full.column("val_loss")
    best_epoch, last_epoch = expected_stop(curve, patience)
    assert last_epoch == best_epoch + patience < EPOCHS  # the case really stops early
    assert curve[last_epoch - 1] > curve[best_epoch - 1]  # because the validation loss rose
    if scenario == "noisy-with-restarts":
        # some epoch before the best did not improve: the counter had to restart
        assert any(curve[e] >= min(curve[:e]) for e in range(1, best_epoch - 1))

    history, snapshots, net = run(seed, make_opt, patience)
    assert history.stopped_early
    assert history.best_epoch == best_epoch
    assert len(history) == last_epoch
    assert history.column("val_loss") == curve[:last_epoch]  # stopping changes nothing before it stops
    for p, best in zip(net.parameters(), snapshots[best_epoch - 1]):
        np.testing.assert_array_equal(p, best)
    assert any(not np.array_equal(p, q) for p, q in zip(snapshots[-1], snapshots[best_epoch - 1]))


def test_early_stopping_restores_the_best_weights_when_the_epochs_run_out_first():
    history, snapshots, net = run(0, lambda: Adam(0.01), patience=EPOCHS)
    assert not history.stopped_early
    assert len(history) == EPOCHS
    best_epoch = int(np.argmin(history.column("val_loss"))) + 1
    assert history.best_epoch == best_epoch < EPOCHS
    for p, best in zip(net.parameters(), snapshots[best_epoch - 1]):
        np.testing.assert_array_equal(p, best)


def test_without_patience_training_runs_all_epochs_and_keeps_the_last_weights():
    history, snapshots, net = run(0, lambda: Adam(0.01))
    assert not history.stopped_early
    assert history.best_epoch is None
    assert len(history) == EPOCHS
    for p, last in zip(net.parameters(), snapshots[-1]):
        np.testing.assert_array_equal(p, last)


def test_patience_without_validation_data_is_an_error_naming_the_arguments():
    x, y, _, _ = overfitting_problem(0)
    net = build_mlp(10, 8, 3, seed=0)
    with pytest.raises(ValueError, match="x_val"):
        Trainer(net, SGD(0.1)).fit(x, y, epochs=2, patience=2, verbose=False)


# -- the learning rate in the history ----------------------------------------------


def lr_history(schedule, n=50, batch_size=16, epochs=6, base_lr=0.2):
    x, y, _, _ = overfitting_problem(0)
    x, y = np.concatenate([x] * 2)[:n], np.concatenate([y] * 2)[:n]
    net = build_mlp(10, 8, 3, seed=0, dtype=np.float64)
    opt = SGD(base_lr)
    history = Trainer(net, opt, batch_size=batch_size, seed=0, schedule=schedule).fit(
        x, y, epochs=epochs, verbose=False
    )
    return history.column("lr"), math.ceil(n / batch_size)


def test_history_records_a_constant_learning_rate_without_a_schedule():
    lrs, _ = lr_history(None)
    assert lrs == [0.2] * 6


def test_history_records_the_step_decay_learning_rate_of_each_epoch():
    lrs, steps = lr_history(StepDecay(step_size=4, gamma=0.5))
    assert steps == 4  # one decay per epoch
    np.testing.assert_allclose(lrs, [0.2 * 0.5**k for k in range(6)], rtol=1e-15)


def test_history_records_the_learning_rate_of_each_epochs_last_step_under_cosine_annealing():
    schedule = CosineAnnealing(total_steps=24)
    lrs, steps = lr_history(schedule)
    expected = [schedule(epoch * steps - 1, 0.2) for epoch in range(1, 7)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15)
    assert lrs == sorted(lrs, reverse=True)  # cosine annealing only goes down
    assert lrs[-1] < 0.01 * lrs[0]


def test_a_second_fit_continues_the_schedule_from_the_original_learning_rate():
    x, y, _, _ = overfitting_problem(0)
    x, y = np.concatenate([x] * 2)[:50], np.concatenate([y] * 2)[:50]
    net = build_mlp(10, 8, 3, seed=0, dtype=np.float64)
    trainer = Trainer(net, SGD(0.2), batch_size=16, seed=0, schedule=StepDecay(step_size=4, gamma=0.5))
    first = trainer.fit(x, y, epochs=3, verbose=False).column("lr")
    second = trainer.fit(x, y, epochs=3, verbose=False).column("lr")
    # one decay per epoch (4 steps), counted over both fits, always from 0.2: never decayed twice
    np.testing.assert_allclose(first + second, [0.2 * 0.5**k for k in range(6)], rtol=1e-15)
