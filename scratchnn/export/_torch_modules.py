"""The PyTorch modules that ``torch.nn`` lacks for scratchnn's layers (imported only with torch)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "GPT",
    "GlobalAvgPool2d",
    "LastStep",
    "MeanOverTime",
    "PositionalEmbedding",
    "RecurrentGRU",
    "RecurrentLSTM",
    "RecurrentRNN",
    "Residual",
    "SelfAttention",
]


class Residual(nn.Module):
    """``y = x + block(x)``: scratchnn's ``Residual`` container."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class GlobalAvgPool2d(nn.Module):
    """``(N, C, H, W) -> (N, C)``, the mean of each feature map: scratchnn's ``GlobalAvgPool2D``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class PositionalEmbedding(nn.Module):
    """``y[n, t] = x[n, t] + weight[t]``: scratchnn's ``PositionalEmbedding`` (GPT-2's ``wpe``)."""

    def __init__(self, max_length: int, dim: int, dtype=None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_length, dim, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.shape[1]]


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention(batch_first=True)`` applied to ``(x, x, x)``, with a causal mask if asked:
    scratchnn's ``MultiHeadAttention`` on full-length sequences. Its parameters are ``attn``'s."""

    def __init__(self, attn: nn.MultiheadAttention, causal: bool) -> None:
        super().__init__()
        self.attn = attn
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        if self.causal:  # True where query i may not see key j: j > i
            t = x.shape[1]
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        return self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]


class _Recurrent(nn.Module):
    """One ``nn.RNN``/``nn.LSTM``/``nn.GRU(batch_first=True)`` layer returning its outputs ``(N, T, H)``
    or, without ``return_sequences``, the last step's ``(N, H)``: scratchnn's recurrent layers on
    full-length sequences. Its parameters are ``rnn``'s."""

    def __init__(self, rnn: nn.Module, return_sequences: bool) -> None:
        super().__init__()
        self.rnn = rnn
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        return out if self.return_sequences else out[:, -1]


class RecurrentRNN(_Recurrent):
    """scratchnn's ``RNN``."""


class RecurrentLSTM(_Recurrent):
    """scratchnn's ``LSTM``."""


class RecurrentGRU(_Recurrent):
    """scratchnn's ``GRU``."""


class LastStep(nn.Module):
    """``(N, T, F) -> (N, F)``, the last step: scratchnn's ``LastStep`` on full-length sequences."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class MeanOverTime(nn.Module):
    """``(N, T, F) -> (N, F)``, the mean over time: scratchnn's ``MeanOverTime`` on full-length sequences."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class GPT(nn.Module):
    """scratchnn's ``GPT`` as nanoGPT's: ids ``(N, T)`` to logits ``(N, T, V)``, the head tied to ``wte``.

    ``logits = lm_head(ln_f(blocks(drop(wte(ids) + wpe))))`` with ``lm_head.weight`` the very
    Parameter ``wte.weight`` (nanoGPT's ``self.transformer.wte.weight = self.lm_head.weight``), so
    ``named_parameters()`` lists it once, first, as scratchnn's ``GPT.params``. ``blocks`` is the
    ``nn.Sequential`` of ``Residual`` blocks that ``to_torch`` makes of scratchnn's.
    """

    def __init__(
        self, wte: nn.Embedding, wpe: PositionalEmbedding, blocks: nn.Sequential, ln_f: nn.LayerNorm, dropout
    ) -> None:
        super().__init__()
        self.wte = wte
        self.wpe = wpe
        self.drop = nn.Dropout(dropout)
        self.blocks = blocks
        self.ln_f = ln_f
        vocab_size, n_embd = wte.weight.shape
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False, dtype=wte.weight.dtype)
        self.lm_head.weight = self.wte.weight  # tied: one Parameter, two uses

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.ln_f(self.blocks(self.drop(self.wpe(self.wte(ids))))))
