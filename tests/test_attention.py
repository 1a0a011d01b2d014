"""Multi-head attention, sequence cross-entropy and gradient clipping, proven against PyTorch.

``MultiHeadAttention`` against ``torch.nn.MultiheadAttention`` (batch first,
float64, every parameter randomised) for 1, 2 and 4 heads, causal or not, with
padded keys (torch's ``key_padding_mask``) and a fully masked row; its backward
against central differences; causality; cross-entropy over ``(N, T, C)`` with
``ignore_index`` against ``torch.nn.functional.cross_entropy``; ``clip_grad_norm``
against ``torch.nn.utils.clip_grad_norm_``; and, for every layer of this family,
a backward that leaves the gradient it was given untouched.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import teacher_data

from scratchnn.config import TrainingConfig, build
from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.layers import GELU, Dense, Embedding, LayerNorm, MultiHeadAttention, PositionalEmbedding, ReLU
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import SGD, clip_grad_norm
from scratchnn.trainer import Trainer

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``a`` (copied, so torch never shares memory with scratchnn)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def randomised_attention(e: int, h: int, *, causal: bool, seed: int, bias: bool = True) -> MultiHeadAttention:
    """A float64 layer whose every parameter (biases too) is a random normal draw."""
    rng = np.random.default_rng(seed)
    layer = MultiHeadAttention(e, h, causal=causal, bias=bias, seed=rng, dtype=np.float64)
    for p in layer.params:
        p[...] = rng.standard_normal(p.shape) * 0.5
    return layer


def torch_attention(layer: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    """``torch.nn.MultiheadAttention`` holding ``layer``'s parameters (same order, same shapes)."""
    ref = torch.nn.MultiheadAttention(
        layer.embed_dim, layer.num_heads, bias=layer.bias, batch_first=True, dtype=torch.float64
    )
    named = list(ref.named_parameters())
    expected = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert [name for name, _ in named] == (expected if layer.bias else expected[::2])
    with torch.no_grad():
        for (_, p), q in zip(named, layer.params):
            assert tuple(p.shape) == q.shape
            p.copy_(t64(q))
    return ref


def torch_forward_backward(layer, x, g, lengths=None):
    """torch's output, input gradient and parameter gradients for ``layer``'s parameters."""
    ref = torch_attention(layer)
    t = x.shape[1]
    attn_mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1) if layer.causal else None
    padding = None
    if lengths is not None:
        padding = torch.tensor(np.arange(t)[None, :] >= np.asarray(lengths)[:, None])  # True: ignore this key
    xt = t64(x, True)
    yt, _ = ref(xt, xt, xt, key_padding_mask=padding, attn_mask=attn_mask, need_weights=False)
    yt.backward(t64(g))
    return yt.detach().numpy(), xt.grad.numpy(), [p.grad.numpy() for p in ref.parameters()]


CASES = [(heads, causal) for heads in (1, 2, 4) for causal in (False, True)]


@pytest.mark.parametrize(("heads", "causal"), CASES)
def test_attention_matches_torch(heads, causal):
    layer = randomised_attention(8, heads, causal=causal, seed=heads)
    rng = np.random.default_rng(10 + heads)
    x = rng.standard_normal((3, 5, 8))
    g = rng.standard_normal((3, 5, 8))
    out = layer.forward(x)
    dx = layer.backward(g)
    y_ref, dx_ref, grads_ref = torch_forward_backward(layer, x, g)
    close(out, y_ref)
    close(dx, dx_ref)
    for grad, ref in zip(layer.grads, grads_ref):
        close(grad, ref)


@pytest.mark.parametrize(("heads", "causal"), CASES)
def test_attention_with_padded_keys_matches_torch_key_padding_mask(heads, causal):
    layer = randomised_attention(8, heads, causal=causal, seed=20 + heads)
    rng = np.random.default_rng(30 + heads)
    lengths = np.array([6, 2, 4, 1])
    x = rng.standard_normal((4, 6, 8))
    g = rng.standard_normal((4, 6, 8))
    layer.set_lengths(lengths)
    out = layer.forward(x)
    dx = layer.backward(g)
    y_ref, dx_ref, grads_ref = torch_forward_backward(layer, x, g, lengths)
    close(out, y_ref)
    close(dx, dx_ref)
    for grad, ref in zip(layer.grads, grads_ref):
        close(grad, ref)
    # a padded key changes nothing: new values there leave every output where it was
    x2 = x.copy()
    x2[1, 2:] = rng.standard_normal((4, 8))
    if not causal:  # (with a causal mask the padded positions' own queries see themselves)
        close(layer.forward(x2)[1, :2], out[1, :2])


def test_attention_without_biases_matches_torch():
    layer = randomised_attention(6, 3, causal=True, seed=5, bias=False)
    assert [p.shape for p in layer.params] == [(18, 6), (6, 6)]
    rng = np.random.default_rng(6)
    x, g = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 4, 6))
    out, dx = layer.forward(x), layer.backward(g)
    y_ref, dx_ref, grads_ref = torch_forward_backward(layer, x, g)
    close(out, y_ref)
    close(dx, dx_ref)
    for grad, ref in zip(layer.grads, grads_ref):
        close(grad, ref)


@pytest.mark.parametrize("causal", [False, True])
def test_a_fully_masked_row_gives_zero_attention_and_no_nan_or_warning(causal):
    """A sequence of length 0: torch gives NaN; here the attention output is 0, the gradients finite.

    The other sequences of the batch are unaffected: they match torch run on them alone.
    """
    layer = randomised_attention(8, 2, causal=causal, seed=7)
    rng = np.random.default_rng(8)
    lengths = np.array([3, 0, 5])
    x = rng.standard_normal((3, 5, 8))
    g = rng.standard_normal((3, 5, 8))
    layer.set_lengths(lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.forward(x, training=True)
        dx = layer.backward(g)
    assert np.all(np.isfinite(out))
    assert all(np.all(np.isfinite(grad)) for grad in layer.grads)
    close(out[1], np.broadcast_to(layer.out_proj_bias, (5, 8)))  # attention 0: only the output bias
    close(dx[1], 0.0)  # nothing reaches the inputs of an empty sequence
    keep = [0, 2]
    y_ref, dx_ref, grads_ref = torch_forward_backward(layer, x[keep], g[keep], lengths[keep])
    close(out[keep], y_ref)
    close(dx[keep], dx_ref)
    # the empty sequence adds its g to the output bias (y = b_out there) and nothing else
    w_in, b_in, w_out, b_out = grads_ref
    for grad, ref in zip(layer.grads, [w_in, b_in, w_out, b_out + g[1].sum(axis=0)]):
        close(grad, ref)


def test_causal_attention_output_at_a_step_does_not_depend_on_later_steps():
    layer = randomised_attention(8, 4, causal=True, seed=9)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 7, 8))
    before = layer.forward(x)
    for t in range(7):
        later = x.copy()
        later[:, t + 1 :] = rng.standard_normal(later[:, t + 1 :].shape) * 10
        close(layer.forward(later)[:, : t + 1], before[:, : t + 1], atol=1e-13)
    # without the mask, the first step does see the last
    layer.causal = False
    changed = x.copy()
    changed[:, -1] += 1.0
    assert not np.allclose(layer.forward(changed)[:, 0], layer.forward(x)[:, 0])


@pytest.mark.parametrize(
    ("heads", "causal", "lengths"), [(1, False, None), (2, True, [4, 2]), (4, False, [1, 3])]
)
def test_attention_gradients_are_the_finite_difference_gradients(heads, causal, lengths):
    layer = randomised_attention(4, heads, causal=causal, seed=11)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 4, 4))
    w = rng.standard_normal((2, 4, 4))
    layer.set_lengths(lengths)

    def loss() -> float:
        return float(np.sum(w * layer.forward(x)))

    loss()
    dx = layer.backward(w)
    analytic = [g.copy() for g in layer.grads]
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7
    for p, a in zip(layer.params, analytic):
        assert relative_error(a, numerical_gradient(loss, p)) < 1e-7


def test_attention_dropout_backward_is_the_gradient_of_the_dropped_forward():
    """With the same mask drawn each time, backward is the gradient of the function forward computed."""
    layer = MultiHeadAttention(4, 2, causal=True, dropout=0.3, dtype=np.float64)
    rng = np.random.default_rng(13)
    for p in layer.params:
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((2, 5, 4))
    w = rng.standard_normal((2, 5, 4))

    def loss() -> float:
        layer.rng = np.random.default_rng(0)  # the same dropout mask on every call
        return float(np.sum(w * layer.forward(x, training=True)))

    loss()
    dx = layer.backward(w)
    analytic = [g.copy() for g in layer.grads]
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7
    for p, a in zip(layer.params, analytic):
        assert relative_error(a, numerical_gradient(loss, p)) < 1e-7
    # and dropout is off in evaluation: the output is the one without dropout
    no_dropout = MultiHeadAttention(4, 2, causal=True, dtype=np.float64)
    for p, q in zip(no_dropout.params, layer.params):
        p[...] = q
    close(layer.forward(x), no_dropout.forward(x))
    assert not np.allclose(loss(), float(np.sum(w * no_dropout.forward(x))))


def test_attention_in_float32_stays_float32():
    layer = MultiHeadAttention(8, 2, causal=True, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    layer.set_lengths([3, 2])
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads)


def test_attention_refuses_bad_settings_and_lengths():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(6, 4)
    layer = MultiHeadAttention(4, 2)
    with pytest.raises(ValueError, match=">= 0"):
        layer.set_lengths([2, -1])
    layer.set_lengths([2, 5])
    with pytest.raises(ValueError, match="<= the sequence length 4"):
        layer.forward(np.zeros((2, 4, 4), dtype=np.float32))
    layer.set_lengths([2, 3, 1])
    with pytest.raises(ValueError, match="3 lengths for a batch of 2"):
        layer.forward(np.zeros((2, 4, 4), dtype=np.float32))


# -- no backward mutates the gradient it is given -------------------------------------


def _family():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 4, 6))
    att = randomised_attention(6, 2, causal=True, seed=14)
    att.set_lengths([4, 2])
    dropped = MultiHeadAttention(6, 3, dropout=0.5, seed=1, dtype=np.float64)
    return [
        (Embedding(5, 6, padding_idx=1, seed=0, dtype=np.float64), np.array([[0, 1, 1, 4], [2, 2, 3, 0]])),
        (PositionalEmbedding(4, 6, seed=0, dtype=np.float64), x),
        (LayerNorm(6, dtype=np.float64), x),
        (GELU("none"), x),
        (GELU("tanh"), x),
        (att, x),
        (dropped, x),
    ]


@pytest.mark.parametrize("index", range(7))
def test_no_backward_modifies_the_gradient_it_is_given(index):
    layer, x = _family()[index]
    y = layer.forward(x, training=True)
    g = np.random.default_rng(15).standard_normal(y.shape)
    kept = g.copy()
    g.setflags(write=False)  # an in-place write would raise here
    layer.backward(g)
    np.testing.assert_array_equal(g, kept)


# -- cross-entropy over sequences ------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sequence_cross_entropy_with_ignore_index_matches_torch(smoothing):
    rng = np.random.default_rng(16)
    logits = rng.standard_normal((3, 5, 7)) * 3
    targets = rng.integers(0, 7, (3, 5))
    targets[0, 3:] = -100  # padded positions
    targets[2, 1] = -100
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing, ignore_index=-100)
    value = loss.forward(logits, targets)
    grad = loss.backward()
    zt = t64(logits, True)
    ref = F.cross_entropy(
        zt.permute(0, 2, 1), torch.tensor(targets), ignore_index=-100, label_smoothing=smoothing
    )  # torch wants (N, C, T)
    ref.backward()
    assert grad.shape == logits.shape
    close(value, ref.item())
    close(grad, zt.grad.numpy())
    assert np.all(grad[0, 3:] == 0)  # ignored tokens get no gradient


def test_sequence_cross_entropy_without_ignore_index_is_the_mean_over_every_token():
    rng = np.random.default_rng(17)
    logits = rng.standard_normal((2, 4, 3))
    targets = rng.integers(0, 3, (2, 4))
    loss = SoftmaxCrossEntropy()
    value, grad = loss.forward(logits, targets), loss.backward()
    zt = t64(logits, True)
    ref = F.cross_entropy(zt.reshape(8, 3), torch.tensor(targets.reshape(8)))
    ref.backward()
    close(value, ref.item())
    close(grad, zt.grad.numpy())
    # the same rows as a plain (N*T, C) batch give the same value, bit for bit
    flat = SoftmaxCrossEntropy()
    assert flat.forward(logits.reshape(8, 3), targets.reshape(8)) == value
    np.testing.assert_array_equal(flat.backward(), grad.reshape(8, 3))


def test_ignore_index_on_rows_matches_torch_and_an_all_ignored_batch_is_zero():
    rng = np.random.default_rng(18)
    logits = rng.standard_normal((6, 4))
    targets = np.array([0, 3, -1, 2, -1, 1])
    loss = SoftmaxCrossEntropy(ignore_index=-1)
    value, grad = loss.forward(logits, targets), loss.backward()
    zt = t64(logits, True)
    ref = F.cross_entropy(zt, torch.tensor(targets), ignore_index=-1)
    ref.backward()
    close(value, ref.item())
    close(grad, zt.grad.numpy())
    assert loss.forward(logits, np.full(6, -1)) == 0.0
    assert np.all(loss.backward() == 0)
    assert loss.get_config() == {"label_smoothing": 0.0, "ignore_index": -1}
    assert SoftmaxCrossEntropy().get_config() == {"label_smoothing": 0.0}  # model files unchanged


def test_sequence_cross_entropy_weights_every_token_of_a_sequence():
    rng = np.random.default_rng(19)
    logits = rng.standard_normal((3, 2, 4))
    targets = rng.integers(0, 4, (3, 2))
    w = np.array([1.0, 0.0, 2.0])
    loss = SoftmaxCrossEntropy(ignore_index=-100)
    value, grad = loss.forward(logits, targets, w), loss.backward()
    zt = t64(logits, True)
    per_token = F.cross_entropy(zt.permute(0, 2, 1), torch.tensor(targets), reduction="none")
    weights = t64(np.repeat(w[:, None], 2, axis=1))
    ref = (per_token * weights).sum() / weights.sum()
    ref.backward()
    close(value, ref.item())
    close(grad, zt.grad.numpy())


# -- gradient clipping -------------------------------------------------------------------


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(20)
    grads = [rng.standard_normal(s) for s in [(4, 3), (3,), (2, 2, 5)]]
    tensors = [t64(np.zeros_like(g), True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = t64(g)
    ref_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    norm = clip_grad_norm(grads, max_norm)
    close(norm, ref_norm.item())
    for g, t in zip(grads, tensors):
        close(g, t.grad.numpy())
    after = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    assert after <= max_norm + 1e-9
    if max_norm > norm:
        close(after, norm)  # below the limit: untouched


def test_clip_grad_norm_refuses_a_bad_limit():
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([np.ones(2)], 0.0)


def test_the_trainer_clips_between_backward_and_the_step_when_told():
    x, y = teacher_data(np.random.default_rng(21), 32, 5, 3)

    def network():
        rng = np.random.default_rng(22)
        layers = [Dense(5, 8, seed=rng, dtype=np.float64), ReLU(), Dense(8, 3, seed=rng, dtype=np.float64)]
        return NeuralNetwork(layers, SoftmaxCrossEntropy())

    trained = network()
    Trainer(trained, SGD(0.5), batch_size=8, shuffle=False, clip_norm=0.1).fit(x, y, epochs=2, verbose=False)
    by_hand, opt = network(), SGD(0.5)
    norms = []
    for _ in range(2):
        for start in range(0, 32, 8):
            by_hand.compute_loss(by_hand.forward(x[start : start + 8], training=True), y[start : start + 8])
            by_hand.backward()
            norms.append(clip_grad_norm(by_hand.gradients(), 0.1))
            opt.step(by_hand.parameters(), by_hand.gradients())
    assert max(norms) > 0.1  # the clipping did something
    for p, q in zip(trained.parameters(), by_hand.parameters()):
        np.testing.assert_array_equal(p, q)
    _, trainer = build(TrainingConfig(clip_norm=1.5), 5, 3, seed=0)
    assert trainer.clip_norm == 1.5
    assert build(TrainingConfig(), 5, 3, seed=0)[1].clip_norm is None
    with pytest.raises(ValueError, match="clip_norm"):
        TrainingConfig(clip_norm=-1.0)


def test_attention_and_layernorm_without_biases_name_only_the_arrays_they_have():
    for layer, names in [
        (MultiHeadAttention(4, 2, bias=False), ["in_proj_weight", "out_proj_weight"]),
        (MultiHeadAttention(4, 2), ["in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias"]),
        (LayerNorm(4, bias=False), ["weight"]),
        (LayerNorm(4), ["weight", "bias"]),
    ]:
        assert [name for name, _ in layer.named_arrays()] == names
        layout = type(layer).array_layout(layer.get_config())
        assert [(name, shape) for name, shape, _ in layout] == [(n, a.shape) for n, a in layer.named_arrays()]


def test_attention_weights_are_the_softmax_of_the_last_forward_pass():
    layer = randomised_attention(4, 2, causal=True, seed=23)
    assert layer.attention_weights is None
    x = np.random.default_rng(23).standard_normal((1, 3, 4))
    layer.forward(x)
    p = layer.attention_weights
    assert p.shape == (1, 2, 3, 3)
    close(p.sum(axis=-1), 1.0)
    close(p[0, 0, 0], [1.0, 0.0, 0.0])  # the first query sees only itself
    q, k, _ = (x[0] @ layer.in_proj_weight.T + layer.in_proj_bias).reshape(3, 3, 2, 2).transpose(1, 2, 0, 3)
    s = q[0] @ k[0].T / np.sqrt(2)  # head 0, by hand
    s[np.triu_indices(3, 1)] = -np.inf
    close(p[0, 0], np.exp(s) / np.exp(s).sum(axis=1, keepdims=True))
