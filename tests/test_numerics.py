"""Extreme inputs: sigmoid and softmax cross-entropy at +-1e4, all-equal logits, a batch of one.

A naive ``1 / (1 + exp(-x))`` overflows at x = -1e4 and a naive
``log(softmax(z))`` takes ``log(0)``; both would warn and return inf or NaN.
The suite turns warnings into errors (pyproject.toml), and every test here
also runs under ``np.errstate`` raising on overflow, division by zero and
invalid operations, so the checks hold whatever the pytest configuration.
Underflow to 0 is the correct result at these magnitudes and is allowed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchnn.layers import Dense, Sigmoid
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def _raise_on_floating_point_errors():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        yield


def ref_sigmoid(x: np.ndarray) -> np.ndarray:
    """Sigmoid in float64 through math, element by element, on the stable side of each sign."""
    return np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)) for v in x.flat])


def ref_cross_entropy(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log softmax(z)[label] in float64, by log-sum-exp written out with math."""
    total = 0.0
    for row, label in zip(z.astype(np.float64), labels):
        top = max(row)
        lse = top + math.log(sum(math.exp(v - top) for v in row))
        total += lse - row[label]
    return total / len(labels)


def test_warnings_are_errors_so_a_numpy_overflow_cannot_hide():
    """The suite's configuration (filterwarnings = error): NumPy's overflow warning fails a test."""
    with np.errstate(over="warn"), pytest.raises(RuntimeWarning, match="overflow"):
        np.exp(np.array([1e4]))


def test_the_naive_sigmoid_and_log_softmax_would_fail_these_checks():
    """What the stable forms protect against: ``1 / (1 + exp(-x))`` overflows at x = -1e4,
    and ``log(softmax(z))`` takes the log of an underflowed 0."""
    x = np.array([-1e4])
    with pytest.raises(FloatingPointError):
        1.0 / (1.0 + np.exp(-x))
    z = np.array([1e4, -1e4])
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # softmax itself is fine: [1, 0]
    with pytest.raises(FloatingPointError):
        np.log(p)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_at_plus_minus_1e4_gives_exactly_0_and_1_and_a_zero_gradient(dtype):
    layer = Sigmoid()
    x = np.array([[-1e4, 1e4, -1e3, 1e3]], dtype=dtype)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    assert y.dtype == dtype
    assert dx.dtype == dtype
    np.testing.assert_array_equal(y, [[0.0, 1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(dx, 0.0)  # y * (1 - y) at saturation


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_on_mixed_magnitudes_up_to_1e4_is_finite_and_matches_a_reference(dtype):
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.uniform(-3, 4, size=(50, 20))  # 1e-3 .. 1e4, both signs
    x = (magnitudes * rng.choice([-1.0, 1.0], size=magnitudes.shape)).astype(dtype)
    layer = Sigmoid()
    y = layer.forward(x)
    g = rng.standard_normal(x.shape).astype(dtype)
    dx = layer.backward(g)
    assert np.all(np.isfinite(y))
    assert np.all(np.isfinite(dx))
    assert np.all((y >= 0) & (y <= 1))
    expected = ref_sigmoid(x.astype(np.float64)).reshape(x.shape)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, g * expected * (1 - expected), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_of_a_confidently_wrong_class_is_2e4_and_its_gradient_is_finite(dtype):
    loss = SoftmaxCrossEntropy()
    z = np.array([[1e4, -1e4]], dtype=dtype)  # a batch of one, certain of class 0
    assert loss.forward(z, np.array([1])) == pytest.approx(2e4, rel=1e-12)  # logsumexp(z) - z_1 = 1e4 + 1e4
    grad = loss.backward()
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, [[1.0, -1.0]])  # p - onehot(y) = [1, 0] - [0, 1]

    assert loss.forward(z, np.array([0])) == 0.0  # right and certain: no loss, no gradient
    np.testing.assert_array_equal(loss.backward(), 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("targets", ["labels", "onehot"])
def test_label_smoothed_cross_entropy_stays_finite_at_1e4(dtype, targets):
    eps = 0.1
    loss = SoftmaxCrossEntropy(label_smoothing=eps)
    z = np.array([[1e4, -1e4]], dtype=dtype)
    t = np.array([1]) if targets == "labels" else np.array([[0.0, 1.0]], dtype=dtype)
    # q = [eps / 2, 1 - eps / 2]; loss = sum q * (logsumexp(z) - z) = 0.05 * 0 + 0.95 * 2e4
    assert loss.forward(z, t) == pytest.approx((1 - eps / 2) * 2e4, rel=1e-6)
    np.testing.assert_allclose(loss.backward(), [[1 - eps / 2, -(1 - eps / 2)]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_on_mixed_logits_up_to_1e4_is_finite_and_matches_a_reference(dtype):
    rng = np.random.default_rng(1)
    z = (rng.uniform(-1e4, 1e4, size=(32, 10))).astype(dtype)
    z[:4] = rng.uniform(-1, 1, size=(4, 10))  # a few ordinary rows among the extreme ones
    labels = rng.integers(0, 10, size=32)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, labels)
    grad = loss.backward()
    assert math.isfinite(value)
    assert np.all(np.isfinite(grad))
    assert value == pytest.approx(ref_cross_entropy(z, labels), rel=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)  # p and onehot both sum to 1 per row


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [-1e4, 0.0, 3.7, 1e4])
def test_all_equal_logits_give_log_of_the_number_of_classes(dtype, value):
    c, n = 7, 3
    z = np.full((n, c), value, dtype=dtype)
    labels = np.array([0, 3, 6])
    loss = SoftmaxCrossEntropy()
    assert loss.forward(z, labels) == pytest.approx(math.log(c), rel=1e-6)
    expected = (np.full((n, c), 1 / c) - np.eye(c)[labels]) / n  # (uniform p - onehot) / N
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_with_sigmoid_and_logits_of_1e4_trains_a_step_without_overflow(dtype):
    """A whole forward and backward pass where the logits are pushed to about +-1e4."""
    rng = np.random.default_rng(2)
    net = NeuralNetwork(
        [Dense(5, 4, seed=rng, dtype=dtype), Sigmoid(), Dense(4, 3, seed=rng, dtype=dtype)],
        SoftmaxCrossEntropy(),
    )
    net.layers[0].W[:] = 1e3 * np.array([1.0, -1.0, 1.0, -1.0])  # hidden pre-activations +-5e3
    net.layers[2].W[:] = np.array([[5e3, -5e3, 0], [-5e3, 5e3, 0], [2e3, 0, -2e3], [0, 1e3, -1e3]])
    x = np.ones((1, 5), dtype=dtype)  # a batch of one
    outputs = net.forward(x)
    np.testing.assert_array_equal(net.layers[1].forward(x @ net.layers[0].W), [[1.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(outputs, [[7e3, -5e3, -2e3]])  # rows 0 and 2 of the last W
    value = net.compute_loss(outputs, np.array([1]))
    assert value == pytest.approx(1.2e4, rel=1e-12)  # logsumexp - z_1 = 7e3 + 5e3
    net.backward()
    for g in net.gradients():
        assert g.dtype == dtype
        assert np.all(np.isfinite(g))
    proba = net.predict_proba(x)
    assert np.all(np.isfinite(proba))
    assert proba.sum() == pytest.approx(1.0, rel=1e-6)
