"""Recurrent layers and sequence pooling: finite differences in float64, causality, grad_out left alone.

Central differences (``scratchnn.gradcheck``) check every parameter's gradient
and the input gradient of each layer, for full and padded batches, and of a
whole small LSTM classifier; a causal stack's output at step t must not depend
on inputs after t; and no backward may write into the gradient it is given.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.layers import GRU, LSTM, RNN, Dense, LastStep, MeanOverTime
from scratchnn.losses import SoftmaxCrossEntropy

F, H = 3, 4
LENGTHS = np.array([4, 1, 3])

LAYERS = {
    "rnn-tanh": lambda rs: RNN(F, H, return_sequences=rs, seed=0, dtype=np.float64),
    "rnn-relu": lambda rs: RNN(F, H, nonlinearity="relu", return_sequences=rs, seed=0, dtype=np.float64),
    "lstm": lambda rs: LSTM(F, H, return_sequences=rs, seed=0, dtype=np.float64),
    "gru": lambda rs: GRU(F, H, return_sequences=rs, seed=0, dtype=np.float64),
}


def randomise(layer, rng):
    for p in layer.params:
        p[...] = rng.normal(0.0, 0.7, p.shape)


def gradient_errors(layer, x, grad, lengths):
    """Relative errors of backprop against central differences, input first, for L = sum(y * grad)."""
    layer.set_lengths(lengths)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * grad))

    loss()
    analytic = [layer.backward(grad)] + [g.copy() for g in layer.grads]
    return [relative_error(a, numerical_gradient(loss, p)) for a, p in zip(analytic, [x, *layer.params])]


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_recurrent_layer_gradients_match_finite_differences(kind, return_sequences, lengths):
    rng = np.random.default_rng(0)
    layer = LAYERS[kind](return_sequences)
    randomise(layer, rng)
    x = rng.normal(size=(3, 4, F))
    grad = rng.normal(size=(3, 4, H) if return_sequences else (3, H))
    errors = gradient_errors(layer, x, grad, lengths)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("cls", [LastStep, MeanOverTime])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_sequence_pooling_gradients_match_finite_differences(cls, lengths):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, F))
    errors = gradient_errors(cls(), x, rng.normal(size=(3, F)), lengths)
    assert max(errors) < 1e-8, errors


def test_sequence_pooling_takes_the_last_real_step_and_the_mean_over_real_steps():
    x = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    last, mean = LastStep(), MeanOverTime()
    for layer in (last, mean):
        layer.set_lengths(np.array([3, 2]))
    np.testing.assert_array_equal(last.forward(x), [x[0, 2], x[1, 1]])
    np.testing.assert_allclose(
        mean.forward(x), [x[0].mean(axis=0), x[1, :2].mean(axis=0)], rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(
        mean.backward(np.ones((2, 2))), [[[1 / 3] * 2] * 3, [[0.5] * 2] * 2 + [[0, 0]]]
    )


def small_classifier(rng):
    layers = [
        LSTM(F, 5, seed=rng, dtype=np.float64),
        GRU(5, 4, seed=rng, dtype=np.float64),
        LSTM(4, H, return_sequences=False, seed=rng, dtype=np.float64),
        Dense(H, 3, seed=rng, dtype=np.float64),
    ]
    for layer in layers:
        randomise(layer, rng)
    return layers


def test_whole_recurrent_classifier_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    layers = small_classifier(rng)
    loss = SoftmaxCrossEntropy()
    x = rng.normal(size=(3, 5, F))
    y = np.array([0, 2, 1])
    lengths = np.array([5, 2, 4])

    def forward() -> float:
        out = x
        for layer in layers:
            if hasattr(layer, "set_lengths"):  # Dense takes no lengths
                layer.set_lengths(lengths)
            out = layer.forward(out)
        return loss.forward(out, y)

    forward()
    g = loss.backward()
    for layer in reversed(layers):
        g = layer.backward(g)
    worst = 0.0
    for layer in layers:
        analytic = [gr.copy() for gr in layer.grads]
        for a, p in zip(analytic, layer.params):
            worst = max(worst, relative_error(a, numerical_gradient(forward, p)))
    assert worst < 1e-7


@pytest.mark.parametrize("kind", list(LAYERS))
def test_recurrent_output_at_step_t_does_not_change_when_later_inputs_change(kind):
    rng = np.random.default_rng(3)
    stack = [LAYERS[kind](True), LSTM(H, H, seed=1, dtype=np.float64)]
    for layer in stack:
        randomise(layer, rng)

    def run(x):
        for layer in stack:
            x = layer.forward(x)
        return x

    x = rng.normal(size=(2, 6, F))
    y = run(x)
    for t in range(6):
        x2 = x.copy()
        x2[:, t:] = rng.normal(size=(2, 6 - t, F))
        y2 = run(x2)
        np.testing.assert_array_equal(y2[:, :t], y[:, :t])  # the past is untouched, bit for bit
        assert np.abs(y2[:, t] - y[:, t]).max() > 1e-6  # and step t does see its own input


@pytest.mark.parametrize(
    "make",
    [
        *(lambda k=k: LAYERS[k](True) for k in LAYERS),
        *(lambda k=k: LAYERS[k](False) for k in LAYERS),
        LastStep,
        MeanOverTime,
    ],
)
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_backward_leaves_the_incoming_gradient_unchanged(make, lengths):
    rng = np.random.default_rng(4)
    layer = make()
    layer.set_lengths(lengths)
    y = layer.forward(rng.normal(size=(3, 4, F)))
    grad = rng.normal(size=y.shape)
    kept = grad.copy()
    layer.backward(grad)
    np.testing.assert_array_equal(grad, kept)


def test_lengths_are_checked_against_the_batch():
    layer = LSTM(F, H, seed=0)
    x = np.zeros((2, 3, F), dtype=np.float32)
    for bad, match in (
        (np.array([1, 2, 3]), r"lengths must have shape \(2,\)"),
        (np.array([0, 2]), "lengths must be between 1 and the padded length 3"),
        (np.array([2, 4]), "lengths must be between 1 and the padded length 3"),
        (np.array([1.0, 2.0]), "lengths must be an array of integers"),
    ):
        layer.set_lengths(bad)
        with pytest.raises((ValueError, TypeError), match=match):
            layer.forward(x)
    with pytest.raises(ValueError, match=r"expects x of shape \(N, T, 3\)"):
        LSTM(F, H).forward(np.zeros((2, F)))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        RNN(F, H, nonlinearity="sigmoid")
