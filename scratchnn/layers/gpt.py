r"""GPT: a decoder-only Transformer over character ids, wired explicitly from the sequence layers.

The model of nanoGPT's ``model.py`` (GPT-2's shape), with every piece a layer of
this package::

    h = wte(ids) + wpe(positions)        Embedding, PositionalEmbedding                          (B, T, C)
    for each of n_layer blocks:
        h = h + attn(ln_1(h))            Residual(Sequential(LayerNorm, MultiHeadAttention))
        h = h + mlp(ln_2(h))             Residual(Sequential(LayerNorm, Dense 4C, GELU, Dense C))
    h = ln_f(h)                          LayerNorm
    logits = h @ wte.weight.T            the head, tied to the token embedding                  (B, T, V)

**The tied head.** The output head reuses the token embedding's matrix
``W (V, C)`` (weight tying, Press & Wolf 2017, as GPT-2 and nanoGPT): the same
array scores each next character and embeds each input one. ``W`` therefore
receives gradient from two places and the total is their sum::

    dL/dW = dL/dW|embedding + dL/dW|head,     dL/dW|head = g.T @ h   (V, C), g = dL/dlogits (B*T, V)

Layers overwrite their gradients (``scratchnn.layers.base``), so this container
wires the sum explicitly, as llm.c does: it keeps the head's part, lets the
embedding's backward write its own, then adds the head's part into the
embedding's gradient array. ``W`` appears once in ``params``.

Initialisation is nanoGPT's: every weight matrix from ``N(0, 0.02)``, the
projections that write into the residual stream (attention's ``out_proj``, the
MLP's second Dense) from ``N(0, 0.02 / sqrt(2 n_layer))``, biases zero,
LayerNorm's scale one and shift zero.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_float_in_range, check_positive_int, check_random_state
from .activations import GELU
from .attention import MultiHeadAttention
from .base import Layer, check_dtype
from .containers import Residual, Sequential
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding, PositionalEmbedding
from .layernorm import LayerNorm

__all__ = ["GPT"]


class GPT(Layer):
    """A character-level GPT: ids ``(B, T)`` (``T <= block_size``) to logits ``(B, T, vocab_size)``.

    ``n_embd`` must be a multiple of ``n_head``. ``dropout`` is applied as nanoGPT
    does (after the embeddings, in the attention, after each residual branch) when
    above 0. ``bias=False`` (nanoGPT's default for its training runs) leaves the
    biases out of LayerNorm and attention; the MLP's Dense layers keep theirs
    (scratchnn's Dense always has one; 5C numbers a block, 0.3% of the baby GPT).

    ``params``: the token embedding (also the head), the positions, each block's
    arrays in order, then the final LayerNorm's, as the ``named_parameters()`` of
    nanoGPT's ``GPT``.
    """

    takes_sequences = True

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        *,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = False,
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        self.block_size = check_positive_int(block_size, "block_size")
        self.n_layer = check_positive_int(n_layer, "n_layer")
        self.n_head = check_positive_int(n_head, "n_head")
        self.n_embd = check_positive_int(n_embd, "n_embd")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be a multiple of n_head={self.n_head}, got {self.n_embd}")
        self.dropout = check_float_in_range(dropout, "dropout", 0.0, 1.0)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bias
        self.dtype = check_dtype(dtype)
        rng = check_random_state(seed)
        C, kw = self.n_embd, {"seed": rng, "dtype": self.dtype}

        def dropped(layers):
            return [*layers, Dropout(self.dropout, seed=rng)] if self.dropout else layers

        self.wte = Embedding(self.vocab_size, C, **kw)
        self.wpe = PositionalEmbedding(self.block_size, C, **kw)
        self.drop = Dropout(self.dropout, seed=rng) if self.dropout else None
        blocks, self._attention = [], []
        for _ in range(self.n_layer):
            attn = MultiHeadAttention(C, self.n_head, causal=True, dropout=self.dropout, bias=bias, **kw)
            self._attention.append(attn)
            blocks.append(Residual(Sequential(dropped([LayerNorm(C, bias=bias, dtype=self.dtype), attn]))))
            mlp = [
                LayerNorm(C, bias=bias, dtype=self.dtype),
                Dense(C, 4 * C, **kw),
                GELU(),
                Dense(4 * C, C, **kw),
            ]
            blocks.append(Residual(Sequential(dropped(mlp))))
        self.blocks = Sequential(blocks)
        self.ln_f = LayerNorm(C, bias=bias, dtype=self.dtype)
        self._init_weights(rng, blocks)
        self.params = [*self.wte.params, *self.wpe.params, *self.blocks.params, *self.ln_f.params]
        self.grads = [*self.wte.grads, *self.wpe.grads, *self.blocks.grads, *self.ln_f.grads]
        self._h: np.ndarray | None = None  # ln_f's output, the head's input

    def _init_weights(self, rng: np.random.Generator, blocks: list) -> None:
        """nanoGPT's ``_init_weights`` and its scaled ``c_proj`` draw, in parameter order."""
        residual_std = 0.02 / math.sqrt(2 * self.n_layer)
        # the projections into the residual stream: the last matrix of each block's branch
        projections = {id(next(p for p in reversed(block.params) if p.ndim == 2)) for block in blocks}
        for p in [*self.wte.params, *self.wpe.params, *self.blocks.params]:
            if p.ndim == 2:
                std = residual_std if id(p) in projections else 0.02
                p[...] = rng.normal(0.0, std, size=p.shape)

    def attention_probabilities(self) -> list[np.ndarray]:
        """Each block's attention weights ``(B, n_head, T, T)`` from the last forward pass:
        row ``i`` is how position ``i`` spreads its attention over positions ``0..i``."""
        if self._h is None:
            raise RuntimeError("attention_probabilities needs a forward pass first")
        return [attn.attention_weights for attn in self._attention]

    def set_lengths(self, lengths) -> None:
        self.blocks.set_lengths(lengths)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        T = x.shape[1]
        if T > self.block_size:
            raise ValueError(f"GPT sees at most block_size={self.block_size} positions, got {T}")
        h = self.wpe.forward(self.wte.forward(x, training), training)  # wte(ids) + wpe(0..T-1)
        if self.drop is not None:
            h = self.drop.forward(h, training)
        h = self.blocks.forward(h, training)
        h = self._h = self.ln_f.forward(h, training)
        return h @ self.wte.weight.T  # logits (B, T, V): the head is the embedding, transposed

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> None:
        B, T, V = grad_out.shape
        g = grad_out.reshape(B * T, V)
        # logits = h @ W.T
        head_dW = g.T @ self._h.reshape(B * T, self.n_embd)  #   dL/dW|head = g.T @ h   (V, C)
        dh = (g @ self.wte.weight).reshape(B, T, self.n_embd)  # dL/dh = g @ W
        # h = ln_f(blocks(drop(wte(ids) + wpe)))
        dh = self.ln_f.backward(dh)
        dh = self.blocks.backward(dh)
        if self.drop is not None:
            dh = self.drop.backward(dh)
        dh = self.wpe.backward(dh)
        self.wte.backward(dh, input_grad=False)
        # the tied weight: the embedding's backward wrote its part, the head's is added to it
        self.wte.grads[0] += head_dW
        return None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None
        if len(in_shape) != 1:
            raise ValueError(f"GPT takes sequences of ids (T,), got samples of shape {in_shape}")
        if in_shape[0] is not None and in_shape[0] > self.block_size:
            raise ValueError(f"GPT sees at most block_size={self.block_size} positions, got {in_shape[0]}")
        return (in_shape[0], self.vocab_size)

    def get_config(self) -> dict:
        return {
            "vocab_size": self.vocab_size,
            "block_size": self.block_size,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_embd": self.n_embd,
            "dropout": self.dropout,
            "bias": self.bias,
            "dtype": self.dtype.name,
        }

    def activation_sizes(self, in_shape: tuple | None) -> list[int]:
        T = self.block_size if in_shape is None or in_shape[0] is None else in_shape[0]
        return (
            [T * self.n_embd] * (8 * self.n_layer + 3)
            + [T * 4 * self.n_embd] * (2 * self.n_layer)
            + [
                T * self.vocab_size,
                self.n_head * T * T * self.n_layer,
            ]
        )

    def named_arrays(self) -> list[tuple[str, np.ndarray]]:
        """Dotted paths, as nanoGPT names them: ``wte.weight``, ``blocks.0.block.1.in_proj_weight``, ..."""
        children = (("wte", self.wte), ("wpe", self.wpe), ("blocks", self.blocks), ("ln_f", self.ln_f))
        return [(f"{prefix}.{name}", a) for prefix, child in children for name, a in child.named_arrays()]

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        """The children's own layouts, from configs written out like the ones ``__init__`` builds."""
        V = check_positive_int(config["vocab_size"], "vocab_size")
        T = check_positive_int(config["block_size"], "block_size")
        C = check_positive_int(config["n_embd"], "n_embd")
        L = check_positive_int(config["n_layer"], "n_layer")
        bias = config.get("bias", False)

        def node(kind: str, **cfg) -> dict:
            return {"type": kind, "config": cfg}

        def branch(*layers: dict) -> dict:
            return node("Residual", block=node("Sequential", layers=list(layers)))

        ln = node("LayerNorm", normalized_shape=C, bias=bias)
        attn = node("MultiHeadAttention", embed_dim=C, num_heads=1, bias=bias)
        mlp = [node("Dense", in_features=C, out_features=4 * C), node("GELU")]
        mlp.append(node("Dense", in_features=4 * C, out_features=C))
        blocks = [b for _ in range(L) for b in (branch(ln, attn), branch(ln, *mlp))]
        children = [
            ("wte", Embedding, {"num_embeddings": V, "embedding_dim": C}),
            ("wpe", PositionalEmbedding, {"max_length": T, "dim": C}),
            ("blocks", Sequential, {"layers": blocks}),
            ("ln_f", LayerNorm, ln["config"]),
        ]
        return [
            (f"{prefix}.{name}", shape, is_buffer)
            for prefix, child, cfg in children
            for name, shape, is_buffer in child.array_layout(cfg)
        ]

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return [shape for _, shape, _ in cls.array_layout(config)]  # no buffers
