"""A whole Transformer from the layers, proven: PyTorch's losses over 10 AdamW steps, and finite differences.

The model is the GPT shape in miniature, pre-LayerNorm (GPT-2's):
token embedding + learned positions, two blocks of
``Residual(Sequential(LayerNorm, MultiHeadAttention causal))`` and
``Residual(Sequential(LayerNorm, Dense, GELU, Dense))``, a final LayerNorm and a
Dense head, trained with next-token cross-entropy, gradient clipping and AdamW.
The same model in plain PyTorch, started from the same weights on the same
batches, must give the same loss at every step (float64, 1e-9).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchnn.gradcheck import check_gradients
from scratchnn.layers import (
    GELU,
    Dense,
    Embedding,
    LayerNorm,
    MultiHeadAttention,
    PositionalEmbedding,
    Residual,
    Sequential,
)
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import AdamW, clip_grad_norm

VOCAB, CONTEXT, WIDTH, HEADS, HIDDEN = 11, 6, 8, 2, 16


def transformer(seed: int, *, blocks: int = 2, gelu: str = "tanh", dtype=np.float64) -> NeuralNetwork:
    """The miniature GPT, every parameter (LayerNorm's and the biases too) drawn at random."""
    rng = np.random.default_rng(seed)
    layers = [
        Embedding(VOCAB, WIDTH, seed=rng, dtype=dtype),
        PositionalEmbedding(CONTEXT, WIDTH, seed=rng, dtype=dtype),
    ]
    for _ in range(blocks):
        attention = MultiHeadAttention(WIDTH, HEADS, causal=True, seed=rng, dtype=dtype)
        mlp = [
            Dense(WIDTH, HIDDEN, seed=rng, dtype=dtype),
            GELU(gelu),
            Dense(HIDDEN, WIDTH, seed=rng, dtype=dtype),
        ]
        layers.append(Residual(Sequential([LayerNorm(WIDTH, dtype=dtype), attention])))
        layers.append(Residual(Sequential([LayerNorm(WIDTH, dtype=dtype), *mlp])))
    layers += [LayerNorm(WIDTH, dtype=dtype), Dense(WIDTH, VOCAB, seed=rng, dtype=dtype)]
    net = NeuralNetwork(layers, SoftmaxCrossEntropy())
    for p in net.parameters():
        p[...] = rng.standard_normal(p.shape) * 0.3 + (1.0 if p.ndim == 1 and p.shape[0] == WIDTH else 0.0)
    return net


class TorchGPT(nn.Module):
    """The same model in plain PyTorch (nanoGPT's block, with torch.nn.MultiheadAttention)."""

    def __init__(self, blocks: int, gelu: str) -> None:
        super().__init__()
        self.gelu = gelu
        self.wte = nn.Embedding(VOCAB, WIDTH, dtype=torch.float64)
        self.wpe = nn.Embedding(CONTEXT, WIDTH, dtype=torch.float64)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(
                {
                    "ln1": nn.LayerNorm(WIDTH, dtype=torch.float64),
                    "attn": nn.MultiheadAttention(WIDTH, HEADS, batch_first=True, dtype=torch.float64),
                    "ln2": nn.LayerNorm(WIDTH, dtype=torch.float64),
                    "fc": nn.Linear(WIDTH, HIDDEN, dtype=torch.float64),
                    "proj": nn.Linear(HIDDEN, WIDTH, dtype=torch.float64),
                }
            )
            for _ in range(blocks)
        )
        self.ln_f = nn.LayerNorm(WIDTH, dtype=torch.float64)
        self.head = nn.Linear(WIDTH, VOCAB, dtype=torch.float64)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(t))
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        for b in self.blocks:
            h = b["ln1"](x)
            x = x + b["attn"](h, h, h, attn_mask=mask, need_weights=False)[0]
            x = x + b["proj"](F.gelu(b["fc"](b["ln2"](x)), approximate=self.gelu))
        return self.head(self.ln_f(x))


def torch_copy(net: NeuralNetwork, blocks: int, gelu: str) -> TorchGPT:
    """``TorchGPT`` holding ``net``'s weights: the arrays in the same order, Dense's ``W`` transposed."""
    model = TorchGPT(blocks, gelu)

    def linear(m: nn.Linear) -> list:  # nn.Linear stores W.T: (out, in)
        return [(m.weight, True), (m.bias, False)]

    def as_is(*params) -> list:
        return [(p, False) for p in params]

    theirs = as_is(model.wte.weight, model.wpe.weight)
    for b in model.blocks:
        theirs += as_is(b["ln1"].weight, b["ln1"].bias, *b["attn"].parameters())
        theirs += as_is(b["ln2"].weight, b["ln2"].bias) + linear(b["fc"]) + linear(b["proj"])
    theirs += as_is(model.ln_f.weight, model.ln_f.bias) + linear(model.head)
    ours = net.parameters()
    assert len(ours) == len(theirs)
    with torch.no_grad():
        for (p, transposed), q in zip(theirs, ours):
            value = q.T if transposed else q
            assert tuple(p.shape) == value.shape
            p.copy_(torch.tensor(np.array(value)))
    return model


def batches(seed: int, steps: int, n: int = 4):
    """``steps`` batches of next-token pairs from a random text: inputs (N, T), targets (N, T)."""
    rng = np.random.default_rng(seed)
    text = rng.integers(0, VOCAB, 400)
    for _ in range(steps):
        starts = rng.integers(0, text.shape[0] - CONTEXT - 1, n)
        x = np.stack([text[s : s + CONTEXT] for s in starts])
        y = np.stack([text[s + 1 : s + CONTEXT + 1] for s in starts])
        yield x, y


@pytest.mark.parametrize("gelu", ["tanh", "none"])
def test_a_two_block_transformer_trains_with_torchs_losses_over_ten_adamw_steps_with_clipping(gelu):
    net = transformer(0, gelu=gelu)
    model = torch_copy(net, 2, gelu)
    # the same forward pass before any step
    x0, _ = next(batches(1, 1))
    np.testing.assert_allclose(net.forward(x0), model(torch.tensor(x0)).detach().numpy(), rtol=0, atol=1e-10)

    settings = {"beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1}
    opt = AdamW(3e-2, **settings)
    ref_opt = torch.optim.AdamW(model.parameters(), lr=3e-2, betas=(0.9, 0.99), weight_decay=0.1)
    ours, theirs, norms = [], [], []
    for x, y in batches(1, 10):
        ours.append(net.compute_loss(net.forward(x, training=True), y))
        net.backward()
        norms.append(clip_grad_norm(net.gradients(), 1.0))
        opt.step(net.parameters(), net.gradients())

        ref_opt.zero_grad()
        loss = F.cross_entropy(model(torch.tensor(x)).reshape(-1, VOCAB), torch.tensor(y).reshape(-1))
        loss.backward()
        ref_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        ref_opt.step()
        theirs.append(loss.item())
        np.testing.assert_allclose(norms[-1], ref_norm.item(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    assert sum(n > 1.0 for n in norms) >= 5  # most steps were clipped, so the test covers the clipping
    assert ours[-1] < ours[0]  # and it learned something


def test_the_gradients_of_a_whole_small_transformer_are_the_finite_difference_gradients():
    net = transformer(2, blocks=1, gelu="none")
    x, y = next(batches(3, 1, n=2))
    assert check_gradients(net, x, y) < 1e-6


def test_a_causal_transformer_output_at_a_step_does_not_depend_on_later_tokens():
    net = transformer(4)
    x, _ = next(batches(5, 1))
    before = net.forward(x)
    for t in range(CONTEXT - 1):
        later = x.copy()
        later[:, t + 1 :] = (later[:, t + 1 :] + 1 + t) % VOCAB
        np.testing.assert_allclose(net.forward(later)[:, : t + 1], before[:, : t + 1], rtol=0, atol=1e-12)
        assert not np.allclose(net.forward(later)[:, t + 1 :], before[:, t + 1 :])


def test_a_saved_transformer_predicts_bit_for_bit_after_loading(tmp_path):
    from scratchnn.serialization import load, save

    net = transformer(6, gelu="none", dtype=np.float32)
    net.loss = SoftmaxCrossEntropy(ignore_index=-1)
    x, _ = next(batches(7, 1))
    save(net, tmp_path / "gpt.npz")
    again = load(tmp_path / "gpt.npz")
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    assert again.loss.get_config() == {"label_smoothing": 0.0, "ignore_index": -1}
    names = [name for name, _ in again.model.named_arrays()]
    assert names[:4] == ["0.weight", "1.weight", "2.block.0.weight", "2.block.0.bias"]
