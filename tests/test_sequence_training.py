"""The trainer on padded sequences: each batch's lengths reach the layers with its rows."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.layers import Dense, LastStep, Layer
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import SGD
from scratchnn.trainer import Trainer, check_training_data


class LengthSpy(Layer):
    """Identity that records, per forward pass, each row's id (x[:, 0, 0]) with the lengths it was given."""

    takes_sequences = True

    def __init__(self, log: list) -> None:
        super().__init__()
        self.log, self.lengths = log, None

    def set_lengths(self, lengths) -> None:
        self.lengths = lengths

    def forward(self, x, training=False):
        self.log.append((x[:, 0, 0].copy(), None if self.lengths is None else self.lengths.copy(), training))
        return x

    def backward(self, grad_out, *, input_grad=True):
        return grad_out


def spied_network(log):
    return NeuralNetwork([LengthSpy(log), LastStep(), Dense(2, 2, seed=0)], SoftmaxCrossEntropy())


def data(n=23, t=5):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, 2))
    x[:, 0, 0] = np.arange(n)  # each row's id
    return x, rng.integers(0, 2, n), rng.integers(1, t + 1, n)


def test_every_training_and_validation_batch_gets_the_lengths_of_its_own_rows():
    log = []
    x, y, lengths = data()
    trainer = Trainer(spied_network(log), SGD(0.1), batch_size=4, seed=3)
    trainer.fit(x[:17], y[:17], 2, verbose=False, x_val=x[17:], y_val=y[17:], lengths_train=lengths[:17],
                lengths_val=lengths[17:])  # fmt: skip
    training = [entry for entry in log if entry[2]]
    assert len(training) == 2 * 5  # 17 rows in batches of 4, two epochs
    order = np.concatenate([ids for ids, _, _ in training[:5]]).astype(int)
    assert sorted(order) == list(range(17))
    assert list(order) != list(range(17))
    for ids, got, _ in log:
        np.testing.assert_array_equal(got, lengths[ids.astype(int)])
    assert any(not training for _, _, training in log)  # the validation passes, with their lengths


@pytest.mark.parametrize(
    ("lengths", "words"),
    [(np.ones(3, int), r"shape \(23,\)"), (np.zeros(23, int), "got 0"), (np.full(23, 6), "and the 5 steps")],
)
def test_bad_lengths_are_refused_at_the_door(lengths, words):
    x, y, _ = data()
    with pytest.raises(ValueError, match=words):
        check_training_data(x, y, task="classification", dtype=np.float32, lengths_train=lengths)


def test_lengths_without_sequences_are_refused():
    with pytest.raises(ValueError, match="lengths go with sequences"):
        check_training_data(np.zeros((3, 2)), np.zeros(3, int), task="classification", dtype=np.float32,
                            lengths_train=np.ones(3, int))  # fmt: skip
