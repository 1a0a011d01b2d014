"""Finite-difference checks in float64: every backward pass against central differences."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.gradcheck import check_gradients, numerical_gradient, relative_error
from scratchnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from scratchnn.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

TOL = 1e-6


def layer_input_error(layer, x, rng):
    """Relative error of ``layer.backward`` against central differences of ``sum(forward(x) * w)``."""
    w = rng.standard_normal(layer.forward(x).shape)  # a random linear loss on the output

    def loss():
        return float(np.sum(layer.forward(x, training=False) * w))

    layer.forward(x, training=False)
    analytic = layer.backward(w)
    return relative_error(analytic, numerical_gradient(loss, x))


@pytest.mark.parametrize("layer_cls", [ReLU, Sigmoid, Tanh, LeakyReLU])
def test_activation_input_gradient_matches_central_differences(layer_cls):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)) * 3
    assert layer_input_error(layer_cls(), x, rng) < TOL


def test_dense_input_and_parameter_gradients_match_central_differences():
    rng = np.random.default_rng(1)
    layer = Dense(6, 4, seed=rng, dtype=np.float64)
    layer.b[:] = rng.standard_normal(4)
    x = rng.standard_normal((5, 6))
    assert layer_input_error(layer, x, rng) < TOL
    w = rng.standard_normal((5, 4))

    def loss():
        return float(np.sum(layer.forward(x) * w))

    layer.forward(x)
    layer.backward(w)
    for p, g in zip(layer.params, layer.grads):
        assert relative_error(g, numerical_gradient(loss, p)) < TOL


def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(2)
    layer = Dropout(0.5, seed=3)
    x = rng.standard_normal((20, 10))
    out = layer.forward(x, training=True)
    g = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(g), g * (out / np.where(x == 0, 1, x)))


@pytest.mark.parametrize(
    ("loss", "targets"),
    [
        (SoftmaxCrossEntropy(), "labels"),
        (SoftmaxCrossEntropy(), "onehot"),
        (SoftmaxCrossEntropy(label_smoothing=0.1), "labels"),
        (SoftmaxCrossEntropy(label_smoothing=0.2), "onehot"),
        (MeanSquaredError(), "labels"),
        (MeanSquaredError(), "onehot"),
    ],
)
def test_loss_gradient_matches_central_differences(loss, targets):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((6, 5)) * 2
    labels = rng.integers(0, 5, size=6)
    t = labels if targets == "labels" else np.eye(5)[labels]
    loss.forward(z, t)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(z, t), z)
    assert relative_error(analytic, numeric) < TOL


@pytest.mark.parametrize("activation", [ReLU, Sigmoid, Tanh])
def test_whole_three_layer_network_gradients_match_central_differences(activation):
    rng = np.random.default_rng(5)
    net = NeuralNetwork(
        [
            Dense(4, 6, seed=rng, dtype=np.float64),
            activation(),
            Dense(6, 5, seed=rng, dtype=np.float64),
            activation(),
            Dense(5, 3, seed=rng, dtype=np.float64),
        ],
        SoftmaxCrossEntropy(),
    )
    for b in net.parameters()[1::2]:
        b[:] = rng.standard_normal(b.shape) * 0.1
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, size=8)
    assert check_gradients(net, x, y) < TOL


def test_gradient_check_catches_a_wrong_backward_pass():
    """The check is only worth something if it fails on a bug: break ReLU's backward."""

    class BrokenReLU(ReLU):
        def backward(self, grad_out, *, input_grad=True):
            return grad_out  # forgets the mask

    rng = np.random.default_rng(6)
    net = NeuralNetwork(
        [Dense(4, 8, seed=rng, dtype=np.float64), BrokenReLU(), Dense(8, 3, seed=rng, dtype=np.float64)],
        SoftmaxCrossEntropy(),
    )
    x = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, size=10)
    assert check_gradients(net, x, y) > 1e-2


@pytest.mark.parametrize(
    "loss",
    [MeanSquaredError(), SoftmaxCrossEntropy(label_smoothing=0.1)],
    ids=["mse", "smoothed-cross-entropy"],
)
def test_network_with_leaky_relu_tanh_and_dropout_matches_central_differences(loss):
    """Dropout is the identity in evaluation mode, which is where gradients are checked."""
    rng = np.random.default_rng(7)
    net = NeuralNetwork(
        [
            Dense(4, 6, seed=rng, dtype=np.float64),
            LeakyReLU(0.1),
            Dropout(0.3, seed=rng),
            Dense(6, 5, seed=rng, dtype=np.float64),
            Tanh(),
            Dense(5, 3, seed=rng, dtype=np.float64),
        ],
        loss,
    )
    for b in net.parameters()[1::2]:
        b[:] = rng.standard_normal(b.shape) * 0.1
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, size=8)
    assert check_gradients(net, x, y) < TOL
