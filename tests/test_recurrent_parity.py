"""RNN, LSTM and GRU against PyTorch in float64: forward, input gradient and every parameter's gradient.

Every parameter, both biases included, is drawn at random (a bias left at zero
hides a gate that reads another gate's bias: numpy-ml's LSTM bug #42), the
upstream gradient is random, and the tolerance is 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from scratchnn.layers import GRU, LSTM, RNN  # noqa: E402

TOL = 1e-10
F, H = 3, 5

CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", None)]


def make_pair(kind, nonlinearity, return_sequences, seed=0):
    """A scratchnn layer and the torch module with the same random weights (float64)."""
    rng = np.random.default_rng(seed)
    if kind == "rnn":
        ours = RNN(F, H, nonlinearity=nonlinearity, return_sequences=return_sequences, dtype=np.float64)
        ref = torch.nn.RNN(F, H, nonlinearity=nonlinearity, batch_first=True, dtype=torch.float64)
    elif kind == "lstm":
        ours = LSTM(F, H, return_sequences=return_sequences, dtype=np.float64)
        ref = torch.nn.LSTM(F, H, batch_first=True, dtype=torch.float64)
    else:
        ours = GRU(F, H, return_sequences=return_sequences, dtype=np.float64)
        ref = torch.nn.GRU(F, H, batch_first=True, dtype=torch.float64)
    names = [name for name, _ in ref.named_parameters()]
    assert names == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    with torch.no_grad():
        for p, (_, q) in zip(ours.params, ref.named_parameters()):
            assert p.shape == tuple(q.shape)
            p[...] = rng.normal(0.0, 0.6, p.shape)
            q.copy_(torch.from_numpy(p))
    return ours, ref


def torch_run(ref, x, lengths, return_sequences, grad):
    """Torch's output and gradients (input, then parameters) for the loss sum(output * grad)."""
    xt = torch.tensor(x, requires_grad=True)
    t = x.shape[1]
    if lengths is None:
        out, state = ref(xt)
    else:
        packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, state = ref(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
    h_n = state[0] if isinstance(state, tuple) else state
    y = out if return_sequences else h_n[0]
    (y * torch.from_numpy(grad)).sum().backward()
    grads = [xt.grad.numpy()] + [q.grad.numpy() for q in ref.parameters()]
    return y.detach().numpy(), grads


def ours_run(ours, x, lengths, grad):
    ours.set_lengths(lengths)
    y = ours.forward(x)
    dx = ours.backward(grad)
    return y, [dx] + [g.copy() for g in ours.grads]


def assert_parity(kind, nonlinearity, n, t, return_sequences, lengths, seed=0):
    rng = np.random.default_rng(seed + 100)
    ours, ref = make_pair(kind, nonlinearity, return_sequences, seed)
    x = rng.normal(size=(n, t, F))
    if lengths is not None:
        for i, length in enumerate(lengths):
            x[i, length:] = rng.normal(size=(t - length, F)) * 7  # padding holds junk, never zeros
    grad = rng.normal(size=(n, t, H) if return_sequences else (n, H))
    y_ref, g_ref = torch_run(ref, x, lengths, return_sequences, grad)
    y, g = ours_run(ours, x, lengths, grad)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=TOL)
    labels = ["x", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for label, a, b in zip(labels, g, g_ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=f"gradient of {label}")
    return max(float(np.max(np.abs(a - b))) for a, b in zip([y, *g], [y_ref, *g_ref]))


@pytest.mark.parametrize(("kind", "nonlinearity"), CASES)
@pytest.mark.parametrize("t", [1, 2, 7])
@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_recurrent_layer_matches_torch_forward_and_every_gradient(kind, nonlinearity, t, n, return_sequences):
    assert_parity(kind, nonlinearity, n, t, return_sequences, None)


@pytest.mark.parametrize(("kind", "nonlinearity"), CASES)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_recurrent_layer_matches_torch_on_packed_sequences(kind, nonlinearity, return_sequences):
    lengths = np.array([3, 7, 1, 5, 7])
    assert_parity(kind, nonlinearity, 5, 7, return_sequences, lengths, seed=3)


@pytest.mark.parametrize(("kind", "nonlinearity"), CASES)
def test_lengths_all_full_give_the_same_as_no_lengths(kind, nonlinearity):
    rng = np.random.default_rng(5)
    ours, _ = make_pair(kind, nonlinearity, True)
    x = rng.normal(size=(3, 4, F))
    grad = rng.normal(size=(3, 4, H))
    y0, g0 = ours_run(ours, x, None, grad)
    y1, g1 = ours_run(ours, x, np.array([4, 4, 4]), grad)
    np.testing.assert_array_equal(y0, y1)
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)


def test_lstm_parity_would_catch_every_gate_reading_one_gates_bias():
    """numpy-ml #42: an LSTM that used the output gate's bias for the others.

    Biases are random here, so the bug's output differs from torch's by far more
    than the tolerance: shown by planting it.
    """
    rng = np.random.default_rng(1)
    ours, ref = make_pair("lstm", None, True, seed=1)
    x = rng.normal(size=(2, 4, F))
    y_ref, _ = torch_run(ref, x, None, True, np.ones((2, 4, H)))
    np.testing.assert_allclose(ours.forward(x), y_ref, rtol=0, atol=TOL)
    for b in (ours.bias_ih, ours.bias_hh):
        b[: 3 * H] = np.tile(b[3 * H :], 3)  # every gate reads the o gate's bias
    assert np.max(np.abs(ours.forward(x) - y_ref)) > 1e-3


def test_parameter_shapes_and_init_bounds_are_torchs():
    for cls, g in ((RNN, 1), (LSTM, 4), (GRU, 3)):
        layer = cls(7, 16, seed=0)
        assert [p.shape for p in layer.params] == [(g * 16, 7), (g * 16, 16), (g * 16,), (g * 16,)]
        assert [p.shape for p in layer.params] == cls.array_shapes(layer.get_config())
        for p in layer.params:
            assert p.dtype == np.float32
            assert np.abs(p).max() <= 1 / 4  # uniform(-1/sqrt(H), 1/sqrt(H))
            assert np.abs(p).max() > 0.2
