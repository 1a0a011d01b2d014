"""Input is checked once at each public door, and the paths below trust it.

The checks (``check_features``, ``check_labels``, ``check_targets``) are
replaced, in every module that looks them up, by wrappers that count their
calls by the argument name they check; one ``Trainer.fit``, one ``config.train``
and one ``grid_search`` trial must check each array that enters exactly once.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import teacher_data

import scratchnn.config
import scratchnn.hyperparameter_tuning
import scratchnn.losses
import scratchnn.network
import scratchnn.trainer
from scratchnn import validation
from scratchnn.config import TrainingConfig, train
from scratchnn.hyperparameter_tuning import grid_search
from scratchnn.network import build_mlp
from scratchnn.optimizers import SGD
from scratchnn.trainer import Trainer

CHECKS = ("check_features", "check_labels", "check_targets")
MODULES = (
    scratchnn.trainer,
    scratchnn.config,
    scratchnn.network,
    scratchnn.losses,
    scratchnn.hyperparameter_tuning,
)


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Counter of ``(check, argument name)`` over every call of a data check, wherever it is looked up."""
    counter: Counter = Counter()

    def counting(check_name):
        real = getattr(validation, check_name)

        def wrapper(value, name="x", *args, **kwargs):
            counter[(check_name, name)] += 1
            return real(value, name, *args, **kwargs)

        return wrapper

    for check_name in CHECKS:
        wrapper = counting(check_name)
        monkeypatch.setattr(validation, check_name, wrapper)
        for module in MODULES:
            if hasattr(module, check_name):
                monkeypatch.setattr(module, check_name, wrapper)
    return counter


def classes(n=48):
    x, y = teacher_data(np.random.default_rng(0), n, 4, 3)
    return x[:32], y[:32], x[32:], y[32:]


def numbers(n=48):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(n)
    return x[:32], y[:32], x[32:], y[32:]


ONCE_EACH_CLASSES = {
    ("check_features", "x_train"): 1,
    ("check_labels", "y_train"): 1,
    ("check_features", "x_val"): 1,
    ("check_labels", "y_val"): 1,
}
ONCE_EACH_NUMBERS = {
    ("check_features", "x_train"): 1,
    ("check_targets", "y_train"): 1,
    ("check_features", "x_val"): 1,
    ("check_targets", "y_val"): 1,
}


def test_trainer_fit_checks_each_array_that_enters_once(calls):
    x, y, xv, yv = classes()
    trainer = Trainer(build_mlp(4, 8, 3, seed=0), SGD(0.1), batch_size=8, seed=0)
    trainer.fit(x, y, epochs=3, x_test=xv, y_test=yv, x_val=xv, y_val=yv, patience=2, verbose=False)
    assert dict(calls) == {
        **ONCE_EACH_CLASSES,
        ("check_features", "x_test"): 1,
        ("check_labels", "y_test"): 1,
    }


def test_trainer_fit_on_regression_targets_checks_each_array_once(calls):
    x, y, xv, yv = numbers()
    trainer = Trainer(build_mlp(4, 8, 1, loss="mse", seed=0), SGD(0.01), batch_size=8, seed=0)
    trainer.fit(x, y, epochs=2, x_val=xv, y_val=yv, verbose=False)
    assert dict(calls) == ONCE_EACH_NUMBERS


@pytest.mark.parametrize(("make", "loss", "expected"), [
    (classes, "cross-entropy", ONCE_EACH_CLASSES),
    (numbers, "mse", ONCE_EACH_NUMBERS),
], ids=["classification", "regression"])  # fmt: skip
def test_config_train_checks_each_array_once(calls, make, loss, expected):
    x, y, xv, yv = make()
    train(TrainingConfig(hidden_units=8, loss=loss, epochs=2, patience=1), x, y, xv, yv, seed=0)
    assert dict(calls) == expected


@pytest.mark.parametrize(("make", "loss", "expected"), [
    (classes, "cross-entropy", ONCE_EACH_CLASSES),
    (numbers, "huber", ONCE_EACH_NUMBERS),
], ids=["classification", "regression"])  # fmt: skip
def test_one_grid_search_trial_checks_each_array_once(calls, make, loss, expected):
    x, y, xv, yv = make()
    base = TrainingConfig(loss=loss, learning_rate=0.01)
    result = grid_search(x, y, xv, yv, grid={"hidden_units": [8]}, epochs=2, base=base)
    assert len(result.results) == 1
    assert result.results[0]["status"] == "ok"
    assert dict(calls) == expected


def test_the_patience_rule_has_one_home_and_every_door_uses_it():
    x, y, _, _ = classes()
    message = "patience needs validation data: pass x_val and y_val"
    trainer = Trainer(build_mlp(4, 8, 3, seed=0), SGD(0.1))
    with pytest.raises(ValueError, match=message):
        trainer.fit(x, y, epochs=1, patience=2, verbose=False)
    with pytest.raises(ValueError, match=message):
        train(TrainingConfig(hidden_units=8, epochs=1, patience=2), x, y)
    with pytest.raises(ValueError, match=message):
        scratchnn.config.fit(TrainingConfig(epochs=1, patience=2), trainer, x, y)
