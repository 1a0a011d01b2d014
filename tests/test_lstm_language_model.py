"""A 2-layer LSTM language model trained for 10 AdamW steps with clipping gives PyTorch's losses.

One-hot characters ``(N, T, V)`` go through LSTM -> LSTM -> a dense head on every
step, and softmax cross-entropy over all ``N * T`` next-character targets (the
head and the loss see the ``(N, T, ...)`` arrays viewed as ``(N * T, ...)``).
Gradients are clipped to a global norm as ``torch.nn.utils.clip_grad_norm_`` does
before each AdamW step. Float64, same initial weights: every step's loss must
agree within 1e-9, and the final weights too.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scratchnn.layers import LSTM, Dense  # noqa: E402
from scratchnn.losses import SoftmaxCrossEntropy  # noqa: E402
from scratchnn.optimizers import AdamW  # noqa: E402

V, H1, H2, N, T = 7, 6, 5, 3, 8
MAX_NORM = 0.2  # small enough that clipping acts on most steps


def clip_by_global_norm(grads, max_norm):
    """``torch.nn.utils.clip_grad_norm_``: scale every gradient by ``max_norm / (norm + 1e-6)`` if below 1."""
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    scale = max_norm / (norm + 1e-6)
    if scale < 1:
        for g in grads:
            g *= scale
    return norm


def test_two_layer_lstm_language_model_matches_torch_over_ten_adamw_steps_with_clipping():
    rng = np.random.default_rng(0)
    text = rng.integers(0, V, size=(N, T + 1))
    x = np.eye(V)[text[:, :-1]]  # (N, T, V) one-hot
    y = text[:, 1:]  # (N, T) next characters

    ours = [LSTM(V, H1, dtype=np.float64, seed=1), LSTM(H1, H2, dtype=np.float64, seed=2)]
    head = Dense(H2, V, dtype=np.float64, seed=3)
    head.b[...] = rng.normal(0, 0.1, V)
    loss_fn = SoftmaxCrossEntropy()
    params = [p for layer in ours for p in layer.params] + head.params
    grads = [g for layer in ours for g in layer.grads] + head.grads

    ref_lstm = [
        torch.nn.LSTM(V, H1, batch_first=True, dtype=torch.float64),
        torch.nn.LSTM(H1, H2, batch_first=True, dtype=torch.float64),
    ]
    ref_head = torch.nn.Linear(H2, V, dtype=torch.float64)
    with torch.no_grad():
        for layer, ref in zip(ours, ref_lstm):
            for p, q in zip(layer.params, ref.parameters()):
                p[...] = rng.normal(0, 0.5, p.shape)  # biases random too
                q.copy_(torch.from_numpy(p))
        ref_head.weight.copy_(torch.from_numpy(head.W.T.copy()))
        ref_head.bias.copy_(torch.from_numpy(head.b))
    ref_params = [q for ref in ref_lstm for q in ref.parameters()] + list(ref_head.parameters())

    opt = AdamW(0.05, weight_decay=0.01)
    ref_opt = torch.optim.AdamW(ref_params, lr=0.05, weight_decay=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, clipped = [], 0
    for step in range(10):
        h = ours[1].forward(ours[0].forward(x, training=True), training=True)
        logits = head.forward(h.reshape(N * T, H2))
        loss = loss_fn.forward(logits, y.reshape(N * T))
        g = head.backward(loss_fn.backward()).reshape(N, T, H2)
        ours[0].backward(ours[1].backward(g), input_grad=False)
        norm = clip_by_global_norm(grads, MAX_NORM)
        opt.step(params, grads)

        ref_opt.zero_grad()
        out = ref_head(ref_lstm[1](ref_lstm[0](xt)[0])[0])
        ref_loss = torch.nn.functional.cross_entropy(out.reshape(N * T, V), yt.reshape(N * T))
        ref_loss.backward()
        ref_norm = torch.nn.utils.clip_grad_norm_(ref_params, MAX_NORM)
        ref_opt.step()

        assert abs(loss - ref_loss.item()) < 1e-9, f"step {step}: {loss} vs {ref_loss.item()}"
        assert abs(norm - ref_norm.item()) < 1e-9
        losses.append(loss)
        clipped += norm > MAX_NORM
    for p, q in zip(params[:-2], ref_params[:-2]):
        np.testing.assert_allclose(p, q.detach().numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(head.W, ref_head.weight.detach().numpy().T, rtol=0, atol=1e-9)
    assert clipped >= 5  # the clipping was exercised
    assert losses[-1] < losses[0]  # and the model learned
