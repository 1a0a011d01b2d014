"""A network of recurrent layers takes its lengths through NeuralNetwork and survives a model file."""

from __future__ import annotations

import numpy as np

from scratchnn.layers import GRU, LSTM, RNN, Dense, LastStep, MeanOverTime
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.serialization import load, save


def sequence_network():
    layers = [GRU(3, 5, seed=0), LSTM(5, 4, seed=1), RNN(4, 4, nonlinearity="relu", seed=2), MeanOverTime()]
    return NeuralNetwork([*layers, Dense(4, 2, seed=3)], SoftmaxCrossEntropy())


def test_network_forward_passes_the_lengths_to_every_sequence_layer():
    net = sequence_network()
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 1, 4])
    out = net.forward(x, lengths=lengths)
    # the same batch cut to each sequence's real steps, one at a time, gives the same outputs
    for i, length in enumerate(lengths):
        alone = net.forward(x[i : i + 1, :length])
        np.testing.assert_allclose(out[i], alone[0], rtol=0, atol=1e-6)


def test_saved_recurrent_network_predicts_bit_for_bit_after_loading(tmp_path):
    net = sequence_network()
    x = np.random.default_rng(1).normal(size=(5, 7, 3)).astype(np.float32)
    lengths = np.array([7, 3, 1, 7, 5])
    path = tmp_path / "model.npz"
    save(net, path)
    again = load(path)
    np.testing.assert_array_equal(again.forward(x, lengths=lengths), net.forward(x, lengths=lengths))
    last = NeuralNetwork([LSTM(3, 4, seed=0), LastStep(), Dense(4, 2, seed=1)], SoftmaxCrossEntropy())
    save(last, tmp_path / "last.npz")
    np.testing.assert_array_equal(
        load(tmp_path / "last.npz").forward(x, lengths=lengths), last.forward(x, lengths=lengths)
    )
