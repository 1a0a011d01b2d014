"""The network and training loop ``examples/vowels.py`` and ``examples/sunspots.py`` share.

The network reads a sequence and answers from the LSTM's last state::

    x (N, T, n_in) --LSTM(n_in, hidden)--> state at the last (real) step (N, hidden) --Dense--> (N, n_out)

The loop: AdamW with linear warm-up then cosine decay over all the updates,
batches in a new random order every epoch, and the gradients clipped to a
global norm of ``MAX_NORM`` before each step (an LSTM's gradients can spike).
"""

from __future__ import annotations

import numpy as np

from scratchnn.layers import LSTM, Dense
from scratchnn.optimizers import AdamW, clip_grad_norm
from scratchnn.schedules import make_schedule

MAX_NORM = 1.0


class LSTMHead:
    """LSTM over the sequence -> its last state -> Dense, trained with ``loss`` (a scratchnn loss)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, loss, rng: np.random.Generator) -> None:
        self.lstm = LSTM(n_in, hidden, return_sequences=False, seed=rng)
        self.head = Dense(hidden, n_out, init="xavier", seed=rng)
        self.loss = loss
        self.params = self.lstm.params + self.head.params
        self.grads = self.lstm.grads + self.head.grads

    def forward(self, x: np.ndarray, lengths: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """``(N, n_out)``; with ``lengths (N,)`` each padded sequence is read to its last real step."""
        if lengths is not None:
            x = x[:, : int(lengths.max())]  # pad only to this batch's longest sequence
            self.lstm.set_lengths(lengths)
        return self.head.forward(self.lstm.forward(x, training), training)

    def train_step(self, x, y, optimizer, lengths=None) -> float:
        loss = self.loss.forward(self.forward(x, lengths, training=True), y)
        self.lstm.backward(self.head.backward(self.loss.backward()), input_grad=False)
        clip_grad_norm(self.grads, MAX_NORM)
        optimizer.step(self.params, self.grads)
        return loss


def train(
    model: LSTMHead,
    x: np.ndarray,
    y: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    learning_rate: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
) -> LSTMHead:
    """``model`` trained on ``(x, y)`` (and ``lengths``) at peak rate ``learning_rate``; ``rng`` shuffles."""
    optimizer = AdamW(learning_rate, weight_decay=weight_decay)
    schedule = make_schedule("warmup-cosine", epochs * -(-len(x) // batch_size))
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimizer.learning_rate = schedule(step, learning_rate)
            model.train_step(x[idx], y[idx], optimizer, None if lengths is None else lengths[idx])
            step += 1
    return model
