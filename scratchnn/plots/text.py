"""Pictures of a language model: its learning curves by step, and what each attention head looks at."""

from __future__ import annotations

import math

import numpy as np

from .figure import figure, save

__all__ = ["attention_maps", "learning_curves"]


def learning_curves(history: list[dict], path):
    """Training and validation loss (nats per character) against the step; returns the ``Figure``.

    ``history``: the records of ``scratchnn.language_model.train`` (``step``,
    ``loss`` the mean training loss since the record before, ``val_loss``).
    """
    fig = figure(6, 3.8)
    ax = fig.subplots()
    trained = [r for r in history if r.get("loss") is not None]
    ax.plot(
        [r["step"] for r in trained], [r["loss"] for r in trained], marker="o", ms=3, label="training loss"
    )
    val = [r for r in history if r.get("val_loss") is not None]
    if val:
        ax.plot(
            [r["step"] for r in val], [r["val_loss"] for r in val], marker="o", ms=3, label="validation loss"
        )
        best = min(val, key=lambda r: r["val_loss"])
        ax.annotate(f"{best['val_loss']:.4f}", (best["step"], best["val_loss"]), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=8)  # fmt: skip
        ax.margins(y=0.12)  # room under the lowest point for its label
    ax.set(xlabel="step", ylabel="loss (nats per character)", title="Learning curves")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return fig


def _attention_weights(layers) -> list[np.ndarray]:
    """The weights ``(B, H, T, T)`` of each attention in ``layers`` from the last forward pass, in
    order: a ``GPT``'s blocks, and ``MultiHeadAttention`` layers, inside containers too."""
    found = []
    for layer in layers:
        if hasattr(layer, "attention_probabilities"):
            found += layer.attention_probabilities()
        elif hasattr(layer, "attention_weights"):
            found.append(layer.attention_weights)
        else:
            children = getattr(layer, "layers", None) or ([layer.block] if hasattr(layer, "block") else [])
            found += _attention_weights(children)
    return found


def attention_maps(model, ids: np.ndarray, path, max_chars: int = 64) -> bool:
    """Each head's attention on one window ``ids (T,)``: a grid, a row per layer, a column per head.

    Cell ``(i, j)`` of a map is how much position ``i`` (a row, the character
    being predicted from) attends to position ``j`` (an earlier character); the
    causal mask leaves the upper triangle empty. The axes are labelled with the
    window's characters. Returns False (and writes nothing) for a network
    without attention.
    """
    ids = np.asarray(ids, dtype=np.int64)[: min(max_chars, model.block_size)]
    model.network.forward(ids[None, :], training=False)
    maps = [weights[0] for weights in _attention_weights(model.network.layers)]  # each (H, T, T)
    if not maps:
        return False
    n_rows, n_cols = len(maps), maps[0].shape[0]
    chars = [repr(c)[1:-1] for c in model.vocab.decode(ids)]
    size = 2.2 + 0.04 * len(ids)
    fig = figure(size * n_cols, size * n_rows)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    step = max(1, math.ceil(len(ids) / 32))
    for li, heads in enumerate(maps):
        for h, att in enumerate(heads):
            ax = axes[li, h]
            ax.imshow(np.where(np.tril(np.ones_like(att)) > 0, att, np.nan), cmap="viridis", vmin=0.0)
            ax.set_title(f"layer {li + 1}, head {h + 1}", fontsize=9)
            ticks = np.arange(0, len(ids), step)
            ax.set_xticks(ticks, [chars[t] for t in ticks], fontsize=6, family="monospace")
            ax.set_yticks(ticks, [chars[t] for t in ticks], fontsize=6, family="monospace")
    fig.suptitle("Attention: row = position predicting, column = position looked at")
    save(fig, path)
    return True
