"""Finite differences in float64 for the image layers and for a whole CNN.

Each layer's ``backward`` (the input gradient and every parameter gradient) is
compared with central differences of a random linear loss ``sum(forward(x) * G)``,
in evaluation and, for BatchNorm, in training mode (where the batch statistics
depend on every input). Max pooling is only differentiable away from ties: its
inputs here are a shuffled ladder of values 0.01 apart (10**4 times eps), and
the whole-network check first asserts that no max-pool window holds two values
closer than 1e-4 and that no ReLU input lies within 1e-4 of its kink.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.gradcheck import check_gradients, numerical_gradient, relative_error
from scratchnn.layers import (
    AvgPool2D,
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    ReLU,
    Reshape,
)
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

TOL = 1e-6


def worst_error(layer, x, rng, training: bool = False) -> float:
    """Largest relative error of the input and parameter gradients against central differences.

    ``x`` may be the (N, C, H, W) view of channels-last memory: the differences then perturb that
    memory (``numerical_gradient`` needs an array it can write through), and the gradient is
    compared in the same layout.
    """
    memory, to_memory = x, lambda a: a
    if x.ndim == 4 and not x.flags.c_contiguous:
        memory, to_memory = x.transpose(0, 2, 3, 1), lambda a: a.transpose(0, 2, 3, 1)
    assert memory.flags.c_contiguous
    g = rng.standard_normal(layer.forward(x, training=training).shape)  # a random linear loss

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=training) * g))

    loss()
    dx = layer.backward(g)
    analytic = [to_memory(dx).copy(), *(grad.copy() for grad in layer.grads)]
    numeric = [numerical_gradient(loss, memory), *(numerical_gradient(loss, p) for p in layer.params)]
    assert all(a.shape == n.shape for a, n in zip(analytic, numeric))
    return max(relative_error(a, n) for a, n in zip(analytic, numeric))


def ladder(rng, shape, channels_last: bool = False) -> np.ndarray:
    """Images whose values are all distinct, 0.01 apart, in random order: max-pool has no near-ties."""
    n, c, h, w = shape
    values = (rng.permutation(n * c * h * w) - n * c * h * w / 2) * 0.01
    if channels_last:
        return values.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return values.reshape(shape)


@pytest.mark.parametrize(
    ("c_in", "kernel", "stride", "padding", "channels_last"),
    [
        (1, 3, 1, 1, False),
        (2, 3, 2, 0, True),
        (3, 5, 1, "same", True),
        (2, (2, 3), (2, 1), (1, 2), False),
        (3, 1, 1, "valid", True),
    ],
    ids=["k3p1", "k3s2", "k5same", "pairs", "k1"],
)
def test_conv2d_gradients_match_central_differences(c_in, kernel, stride, padding, channels_last):
    rng = np.random.default_rng(0)
    layer = Conv2D(c_in, 3, kernel, stride=stride, padding=padding, seed=rng, dtype=np.float64)
    layer.b[:] = rng.standard_normal(3)
    n, h, w = 2, 7, 6
    x = (
        rng.standard_normal((n, h, w, c_in)).transpose(0, 3, 1, 2)
        if channels_last
        else rng.standard_normal((n, c_in, h, w))
    )
    assert worst_error(layer, x, rng, training=True) < TOL


@pytest.mark.parametrize(
    ("kernel", "stride", "shape"),
    [(2, None, (2, 3, 6, 4)), (2, None, (2, 2, 7, 5)), (3, 2, (2, 2, 7, 7)), ((2, 3), 1, (1, 2, 5, 6))],
    ids=["tile", "leftover", "overlap", "rect-stride1"],
)
@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
def test_max_pooling_gradient_matches_central_differences(kernel, stride, shape, channels_last):
    rng = np.random.default_rng(1)
    x = ladder(rng, shape, channels_last)
    assert worst_error(MaxPool2D(kernel, stride), x, rng) < TOL


@pytest.mark.parametrize(
    ("kernel", "stride", "shape"),
    [(2, None, (2, 3, 6, 4)), (2, None, (2, 2, 7, 5)), (3, 2, (2, 2, 7, 7))],
    ids=["tile", "leftover", "overlap"],
)
def test_average_pooling_gradient_matches_central_differences(kernel, stride, shape):
    rng = np.random.default_rng(2)
    assert worst_error(AvgPool2D(kernel, stride), rng.standard_normal(shape), rng) < TOL


@pytest.mark.parametrize(
    ("layer", "shape"),
    [(GlobalAvgPool2D(), (3, 4, 5, 2)), (Flatten(), (3, 2, 4, 3)), (Reshape((2, 3, 4)), (3, 24))],
    ids=["gap", "flatten", "reshape"],
)
def test_pooling_and_shape_layer_gradients_match_central_differences(layer, shape):
    rng = np.random.default_rng(3)
    assert worst_error(layer, rng.standard_normal(shape), rng) < TOL


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("dims", [1, 2])
def test_batchnorm_gradients_match_central_differences(dims, training):
    """Training: through the batch mean and variance (the compact formula); evaluation: a fixed affine map."""
    rng = np.random.default_rng(4)
    layer = (BatchNorm1d if dims == 1 else BatchNorm2d)(3, dtype=np.float64)
    layer.gamma[:] = rng.uniform(0.5, 2.0, 3)
    layer.beta[:] = rng.standard_normal(3)
    layer.running_mean[:] = rng.standard_normal(3)
    layer.running_var[:] = rng.uniform(0.5, 2.0, 3)
    x = rng.standard_normal((6, 3) if dims == 1 else (4, 3, 3, 2)) * 2 + 1
    assert worst_error(layer, x, rng, training=training) < TOL


# -- a whole CNN ------------------------------------------------------------------------------


def cnn(rng) -> NeuralNetwork:
    """conv-bn-relu-maxpool-flatten-dense on 1x6x6 images given as rows of 36."""
    layers = [
        Reshape((1, 6, 6)),
        Conv2D(1, 3, 3, padding=1, seed=rng, dtype=np.float64),
        BatchNorm2d(3, dtype=np.float64),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(27, 4, seed=rng, dtype=np.float64),
    ]
    net = NeuralNetwork(layers, SoftmaxCrossEntropy())
    for layer in layers:  # parameters away from their defaults, so every gradient has a size
        if isinstance(layer, (Conv2D, Dense)):
            layer.b[:] = rng.standard_normal(layer.b.shape) * 0.1
        if isinstance(layer, BatchNorm2d):
            layer.gamma[:] = rng.uniform(0.5, 2.0, 3)
            layer.beta[:] = rng.standard_normal(3) * 0.5
            layer.running_mean[:] = rng.standard_normal(3) * 0.1
            layer.running_var[:] = rng.uniform(0.5, 2.0, 3)
    return net


def assert_away_from_kinks(net: NeuralNetwork, x: np.ndarray, training: bool) -> None:
    """No ReLU input within 1e-4 of 0, no max-pool window whose two largest values are within 1e-4."""
    h = x
    for layer in net.layers:
        if isinstance(layer, ReLU):
            assert np.abs(h).min() > 1e-4, "a ReLU input sits at the kink: pick another seed"
        if isinstance(layer, MaxPool2D):
            n, c, hh, ww = h.shape
            windows = np.sort(
                h.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
            )
            live = windows[:, -1] > 0  # an all-zero window (every ReLU off) has zero gradient anyway
            assert (windows[live, -1] - windows[live, -2]).min() > 1e-4, "a near-tie: pick another seed"
        h = layer.forward(h, training=training)


@pytest.mark.parametrize("training", [False, True], ids=["evaluation", "training"])
def test_whole_cnn_gradients_match_central_differences(training):
    """Every parameter of conv-bn-relu-maxpool-flatten-dense; in training BatchNorm uses batch statistics."""
    rng = np.random.default_rng(5)
    net = cnn(rng)
    x = rng.standard_normal((5, 36))
    y = rng.integers(0, 4, size=5)
    assert_away_from_kinks(net, x, training)
    if not training:
        assert check_gradients(net, x, y) < TOL
        return

    def loss() -> float:
        return net.compute_loss(net.forward(x, training=True), y)

    loss()
    net.backward()
    analytic = [g.copy() for g in net.gradients()]
    assert len(analytic) == 6  # W, b of the conv; gamma, beta; W, b of the dense
    numeric = [numerical_gradient(loss, p) for p in net.parameters()]
    # the conv's bias: BatchNorm subtracts the batch mean, which cancels any shift, so its true
    # gradient is 0 (a relative error of 0-ish against 0-ish noise means nothing): check it is 0
    assert np.abs(analytic[1]).max() < 1e-12
    assert np.abs(numeric[1]).max() < 1e-8
    del analytic[1], numeric[1]
    assert max(relative_error(a, n) for a, n in zip(analytic, numeric)) < TOL


def test_gradient_check_catches_a_max_pool_that_routes_to_the_wrong_pixel():
    """The check has teeth: a max-pool whose backward picks the window's minimum fails it."""

    class WrongMaxPool(MaxPool2D):
        def backward(self, grad_out, *, input_grad=True):
            dx = super().backward(grad_out, input_grad=input_grad)
            return dx[:, :, ::-1, ::-1]  # the gradient sent to the mirrored pixel

    rng = np.random.default_rng(6)
    x = ladder(rng, (2, 2, 4, 4))
    assert worst_error(MaxPool2D(2), x, rng) < TOL
    assert worst_error(WrongMaxPool(2), x, rng) > 0.1
