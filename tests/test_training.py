"""The training loop: reproducibility, batching, the progress line, and dtypes kept end to end."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import teacher_data

import scratchnn.hyperparameter_tuning as tuning
from scratchnn import build_mlp
from scratchnn.hyperparameter_tuning import grid_search
from scratchnn.layers import Dense, Layer
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import LBFGS, SGD, Adam, AdamW, Momentum
from scratchnn.recipe.config import TrainingConfig
from scratchnn.recipe.train import train
from scratchnn.schedules import CosineAnnealing, WarmupCosine
from scratchnn.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def data(seed: int = 0, n: int = 120, dtype=np.float64):
    x, y = teacher_data(np.random.default_rng(seed), n, 8, 3, dtype=dtype)
    return x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4 :], y[n * 3 // 4 :]


def fit_once(seed: int, shuffle_seed: int | None = None, dtype=np.float64):
    """Build (with Dropout, so its generator counts too) and train; return (history, weights)."""
    x, y, xt, yt = data()
    rng = np.random.default_rng(seed)
    net = build_mlp(8, (16, 16), 3, dropout=0.2, seed=rng, dtype=dtype)
    trainer = Trainer(
        net,
        Adam(0.01),
        batch_size=16,
        seed=rng if shuffle_seed is None else shuffle_seed,
        schedule=CosineAnnealing(20),
    )
    history = trainer.fit(x, y, epochs=4, x_test=xt, y_test=yt, x_val=xt, y_val=yt, verbose=False)
    return history, [p.copy() for p in net.parameters()]


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def weights_differ(a, b) -> bool:
    return any(not np.array_equal(p, q) for p, q in zip(a, b))


# -- reproducibility ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trainer_same_seed_gives_identical_history_and_weights(dtype):
    h1, w1 = fit_once(3, dtype=dtype)
    h2, w2 = fit_once(3, dtype=dtype)
    assert list(h1) == list(h2)  # every float of every record, exactly
    assert_same_weights(w1, w2)


def test_trainer_different_seeds_give_different_histories_and_weights():
    h1, w1 = fit_once(3)
    h2, w2 = fit_once(4)
    assert h1.column("loss") != h2.column("loss")
    assert weights_differ(w1, w2)


def test_trainer_shuffling_seed_alone_changes_the_result():
    """Same initial weights, different batch order: the trainer's seed is really used."""
    _, w1 = fit_once(3, shuffle_seed=10)
    _, w2 = fit_once(3, shuffle_seed=11)
    _, w3 = fit_once(3, shuffle_seed=10)
    assert weights_differ(w1, w2)
    assert_same_weights(w1, w3)


def test_train_from_config_same_seed_gives_identical_weights_and_different_seeds_differ():
    x, y, xv, yv = data()
    config = TrainingConfig(hidden_units=12, optimizer="momentum", dropout=0.1, epochs=3, schedule="cosine")
    net1, h1 = train(config, x, y, xv, yv, seed=5)
    net2, h2 = train(config, x, y, xv, yv, seed=5)
    net3, h3 = train(config, x, y, xv, yv, seed=6)
    assert list(h1) == list(h2)
    assert_same_weights(net1.parameters(), net2.parameters())
    assert h1.column("loss") != h3.column("loss")
    assert weights_differ(net1.parameters(), net3.parameters())


def test_grid_search_same_seed_gives_identical_results_and_different_seeds_differ():
    x, y, xv, yv = data()
    grid = {"learning_rate": [0.05, 0.2], "hidden_units": [8, 16]}
    r1 = grid_search(x, y, xv, yv, grid=grid, epochs=2, seed=0)
    r2 = grid_search(x, y, xv, yv, grid=grid, epochs=2, seed=0)
    r3 = grid_search(x, y, xv, yv, grid=grid, epochs=2, seed=1)
    assert r1.results == r2.results
    assert r1.best_params == r2.best_params
    assert r1.best_score == r2.best_score
    assert [r["train_loss"] for r in r1.results] != [r["train_loss"] for r in r3.results]


def test_main_pipeline_prints_the_same_output_for_the_same_seed(monkeypatch, capsys):
    """main.py end to end, made cheap by shrinking the default grid to one combination."""
    monkeypatch.setattr(
        tuning, "DEFAULT_GRID", {"learning_rate": [0.1], "batch_size": [64], "hidden_units": [16]}
    )
    spec = importlib.util.spec_from_file_location("scratchnn_main", ROOT / "main.py")
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)

    outputs = []
    for seed in (0, 0, 1):
        main.main(["--seed", str(seed)])
        outputs.append(capsys.readouterr().out)
    assert len(re.findall(r"^Epoch \d+/20 \|", outputs[0], flags=re.M)) == 20
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


# -- batching ----------------------------------------------------------------------


class RecordInputs(Layer):
    """The identity, keeping a copy of every batch it sees while training."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[np.ndarray] = []

    def forward(self, x, training=True):
        if training:
            self.batches.append(x.copy())
        return x

    def backward(self, grad_out, *, input_grad=True):
        return grad_out if input_grad else None


def recorded_run(n: int, batch_size: int, epochs: int, seed: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4))
    x[:, 0] = np.arange(n)  # row ids, to read the order back from the batches
    y = rng.integers(0, 3, size=n)
    recorder = RecordInputs()
    net = NeuralNetwork([recorder, Dense(4, 3, seed=rng, dtype=np.float64)], SoftmaxCrossEntropy())
    opt = SGD(0.01)
    trainer = Trainer(net, opt, batch_size=batch_size, seed=seed)
    trainer.fit(x, y, epochs=epochs, verbose=False)
    return recorder.batches, opt, trainer


def test_trainer_keeps_the_last_short_batch():
    n, batch_size, epochs = 50, 16, 3  # 50 = 3 * 16 + 2
    batches, opt, trainer = recorded_run(n, batch_size, epochs, seed=1)
    steps_per_epoch = math.ceil(n / batch_size)
    assert steps_per_epoch == 4
    assert opt.t == epochs * steps_per_epoch  # optimizer steps, counted by the optimizer
    assert trainer.step == epochs * steps_per_epoch
    assert [len(b) for b in batches] == [16, 16, 16, 2] * epochs


def test_trainer_shows_every_row_once_per_epoch_in_a_new_order_each_epoch():
    n, batch_size, epochs, seed = 50, 16, 4, 2
    batches, _, _ = recorded_run(n, batch_size, epochs, seed)
    ids = np.concatenate([b[:, 0] for b in batches]).astype(int)
    orders = ids.reshape(epochs, n)
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))  # every row exactly once
    for i in range(epochs):
        for j in range(i):
            assert not np.array_equal(orders[i], orders[j])  # reshuffled
    # the order is drawn from the seed, one permutation per epoch
    twin = np.random.default_rng(seed)
    np.testing.assert_array_equal(orders, [twin.permutation(n) for _ in range(epochs)])


# -- the progress line -------------------------------------------------------------

LINE = re.compile(r"^Epoch (\d+)/(\d+) \| Loss: (\d+\.\d{4}) \| Test Acc: (\d\.\d{4})$")


def test_verbose_prints_the_seed_line_exactly(capsys):
    x, y, xt, yt = data()
    rng = np.random.default_rng(0)
    net = build_mlp(8, 16, 3, seed=rng)
    history = Trainer(net, SGD(0.1), seed=rng).fit(x, y, epochs=12, x_test=xt, y_test=yt, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    for record, line in zip(history, lines):
        match = LINE.match(line)
        assert match, line
        epoch, total, loss, acc = match.groups()
        assert (int(epoch), int(total)) == (record["epoch"], 12)
        assert loss == f"{record['loss']:.4f}"
        assert acc == f"{record['test_accuracy']:.4f}"
    assert lines[9].startswith("Epoch 10/12 | Loss: ")


def test_verbose_without_test_data_prints_the_loss_only_and_quiet_prints_nothing(capsys):
    x, y, _, _ = data()
    rng = np.random.default_rng(0)
    net = build_mlp(8, 16, 3, seed=rng)
    trainer = Trainer(net, SGD(0.1), seed=rng)
    trainer.fit(x, y, epochs=2, verbose=True)
    assert re.fullmatch(
        r"Epoch 1/2 \| Loss: \d+\.\d{4}\nEpoch 2/2 \| Loss: \d+\.\d{4}\n", capsys.readouterr().out
    )
    trainer.fit(x, y, epochs=2, verbose=False)
    assert capsys.readouterr().out == ""


# -- dtypes ------------------------------------------------------------------------

OPTIMIZERS = [
    lambda: SGD(0.1, weight_decay=1e-3),
    lambda: Momentum(0.05, weight_decay=1e-3),
    lambda: Adam(0.01, weight_decay=1e-3),
    lambda: AdamW(0.01),
]


def optimizer_state(opt) -> list[np.ndarray]:
    state = []
    for name in ("velocities", "m", "v"):
        state += getattr(opt, name, None) or []
    return state


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["sgd", "momentum", "adam", "adamw"])
def test_float32_default_stays_float32_after_training(make_opt):
    x, y, xt, yt = data(dtype=np.float64)  # float64 data must not upcast a float32 network
    rng = np.random.default_rng(0)
    net = build_mlp(8, (16,), 3, dropout=0.1, label_smoothing=0.1, seed=rng)
    opt = make_opt()
    history = Trainer(net, opt, batch_size=16, seed=rng, schedule=WarmupCosine(3, 20)).fit(
        x, y, epochs=3, x_val=xt, y_val=yt, verbose=False
    )
    assert history[-1]["loss"] < history[0]["loss"]
    for arrays in (net.parameters(), net.gradients(), optimizer_state(opt)):
        for a in arrays:
            assert a.dtype == np.float32
    assert net.forward(xt.astype(np.float32)).dtype == np.float32
    assert net.predict_proba(xt).dtype == np.float32


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["sgd", "momentum", "adam", "adamw"])
def test_float64_works_end_to_end(make_opt):
    x, y, xt, yt = data(dtype=np.float32)  # float32 data is promoted to the network's float64
    rng = np.random.default_rng(0)
    net = build_mlp(8, (16, 16), 3, dropout=0.1, seed=rng, dtype=np.float64)
    opt = make_opt()
    history = Trainer(net, opt, batch_size=16, seed=rng).fit(
        x, y, epochs=5, x_test=xt, y_test=yt, verbose=False
    )
    assert history[-1]["loss"] < history[0]["loss"]
    for arrays in (net.parameters(), net.gradients(), optimizer_state(opt)):
        for a in arrays:
            assert a.dtype == np.float64
    assert net.predict_proba(xt).dtype == np.float64
    assert net.accuracy(xt, yt) > 1 / 3  # better than chance on the teacher's three classes
    assert all(isinstance(v, float) for v in history.column("loss"))


# -- full batch (L-BFGS) and the convergence stop ------------------------------------


def test_lbfgs_takes_one_full_batch_step_per_epoch_and_a_float32_network_stays_float32():
    x, y, xt, yt = data()
    rng = np.random.default_rng(0)
    net = build_mlp(8, (16,), 3, seed=rng)
    opt = LBFGS(max_iter=1, max_eval=26, history_size=10)
    seen = []
    forward = net.forward
    net.forward = lambda xb, training=False, lengths=None: seen.append(xb.shape[0]) or forward(xb, training)
    history = Trainer(net, opt, batch_size=16, seed=rng).fit(x, y, epochs=10, verbose=False)
    assert set(seen) == {x.shape[0]}  # every evaluation on all the rows, never a mini-batch
    assert len(seen) == opt.func_evals > len(history) == 10 == opt.n_iter  # a line search per epoch
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    for arrays in (net.parameters(), net.gradients(), opt.old_dirs, opt.old_stps):
        assert all(a.dtype == np.float32 for a in arrays)
    assert net.accuracy(xt, yt) > 0.8


def test_lbfgs_from_the_settings_stops_at_max_fun_evaluations():
    from scratchnn.recipe.train import build, fit

    x, y, _, _ = data()
    config = TrainingConfig(optimizer="lbfgs", max_fun=15, epochs=100, hidden_units=16)
    _, trainer = build(config, 8, 3, seed=0, n_train=x.shape[0])
    history = fit(config, trainer, x, y)
    assert trainer.optimizer.func_evals <= 15
    assert trainer.optimizer.exhausted
    assert len(history) < 15  # each epoch evaluates at its start and at least once in its line search
    assert trainer.optimizer.learning_rate == 1.0  # the line search chooses the step


def test_n_iter_no_change_stops_once_the_training_loss_stops_improving_by_tol():
    x, y, _, _ = data()
    # tol=10: no epoch after the first improves on it by that much
    _, history = train(TrainingConfig(n_iter_no_change=2, tol=10.0, epochs=50), x, y, seed=0)
    assert len(history) == 3
    assert history.stopped_early
    _, history = train(TrainingConfig(n_iter_no_change=math.inf, tol=10.0, epochs=6), x, y, seed=0)
    assert len(history) == 6  # inf: never


def test_adaptive_schedule_divides_the_rate_by_5_at_each_plateau_then_stops_below_1e_6():
    x, y, _, _ = data()
    config = TrainingConfig(schedule="adaptive", n_iter_no_change=1, tol=10.0, epochs=100, learning_rate=0.1)
    _, history = train(config, x, y, seed=0)
    # the first epoch sets the best loss; from the second on every epoch is a plateau, after
    # which the rate is divided by 5: 0.1, 0.1, 0.02, ... until it is at most 1e-6
    expected = [0.1] + [0.1 * 0.2**k for k in range(9)]
    np.testing.assert_allclose(history.column("lr"), expected, rtol=1e-12)
    assert history.stopped_early
    assert history.column("lr")[-1] < 1e-6
