"""The baby GPT in plain PyTorch (eager), with the weights of a scratchnn ``GPT`` copied in.

nanoGPT's ``model.py`` at the baby run's settings, written with ``torch.nn``
modules whose parameters have the layout of scratchnn's layers
(``nn.MultiheadAttention``'s ``in_proj_weight (3C, C)`` is nanoGPT's
``c_attn.weight``): pre-LayerNorm blocks, causal attention, the exact GELU, a
final LayerNorm and the head tied to the token embedding. ``TorchGPT.from_scratchnn``
copies every array, so both start from the same weights; the tests use it as the
oracle in float64 and ``benchmarks/gpt.py`` as the peer in float32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, C: int, n_head: int, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, bias=bias)
        self.attn = nn.MultiheadAttention(C, n_head, bias=bias, batch_first=True)
        self.ln_2 = nn.LayerNorm(C, bias=bias)
        self.c_fc = nn.Linear(C, 4 * C)  # scratchnn's Dense always has a bias
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))


class TorchGPT(nn.Module):
    """ids ``(B, T)`` -> logits ``(B, T, V)``; ``parameters()`` in the order of scratchnn's ``GPT.params``."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, bias: bool):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head, bias) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=ids.device), diagonal=1)  # True: masked
        x = self.wte(ids) + self.wpe.weight[:T]
        for block in self.h:
            x = block(x, mask)
        return self.ln_f(x) @ self.wte.weight.T

    @classmethod
    def from_scratchnn(cls, gpt, dtype=torch.float64) -> TorchGPT:
        """A copy of the scratchnn ``GPT`` ``gpt``: same shape, same weights (Dense ``W`` transposed)."""
        model = cls(gpt.vocab_size, gpt.block_size, gpt.n_layer, gpt.n_head, gpt.n_embd, gpt.bias).to(dtype)
        with torch.no_grad():
            for (name, p), ours in zip(model.named_parameters(), gpt.params, strict=True):
                value = torch.from_numpy(np.asarray(ours, dtype=np.float64))
                p.copy_(value.T if _is_dense(name) else value)
        return model


def as_scratchnn_order(model: TorchGPT, tensors) -> list[np.ndarray]:
    """Tensors aligned with ``model.parameters()``, as arrays in scratchnn's layout (MLP weights .T)."""
    out = []
    for (name, _), t in zip(model.named_parameters(), tensors, strict=True):
        a = t.detach().numpy()
        out.append(a.T if _is_dense(name) else a)
    return out


def _is_dense(name: str) -> bool:
    """The MLP's Linear weights, ``(out, in)`` in torch and ``(in, out)`` in scratchnn's Dense."""
    return name.endswith(("c_fc.weight", "c_proj.weight"))
