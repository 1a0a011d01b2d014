"""Pooling a sequence to a vector: its last real step, or the mean over its real steps.

Both map padded sequences ``x (N, T, F)`` to ``(N, F)`` and respect the
sequences' lengths, set before the forward pass as for the recurrent layers::

    layer.set_lengths(lengths)   # int array (N,), 1 <= lengths[n] <= T; None: all full

(a network's ``forward(x, lengths=...)`` makes that call for every layer).
"""

from __future__ import annotations

import numpy as np

from .base import Layer
from .recurrent import check_lengths

__all__ = ["LastStep", "MeanOverTime"]


class _SequencePool(Layer):
    """(N, T, F) -> (N, F); remembers the lengths given to ``set_lengths``."""

    takes_sequences = True

    def __init__(self) -> None:
        super().__init__()
        self._lengths: np.ndarray | None = None
        self._shape: tuple | None = None

    def set_lengths(self, lengths: np.ndarray | None) -> None:
        """Real lengths ``(N,)`` of the next batches' sequences (None: every sequence is full)."""
        self._lengths = None if lengths is None else np.asarray(lengths)

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None
        if len(in_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects sequences of shape (T, F), "
                f"got samples of shape {tuple(in_shape)}"
            )
        return (in_shape[1],)

    def _lengths_for(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} expects x of shape (N, T, F), got {x.shape}")
        n, t, _ = x.shape
        lengths = check_lengths(self._lengths, n, t)
        return np.full(n, t, dtype=np.int64) if lengths is None else lengths


class LastStep(_SequencePool):
    """The state at each sequence's last real step: ``y[n] = x[n, lengths[n] - 1]``.

    Shapes: ``x (N, T, F)`` -> ``y (N, F)``. Backward puts ``dL/dy[n]`` at that
    step and zeros everywhere else.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        lengths = self._lengths_for(x)
        self._shape, self._last = x.shape, lengths - 1
        return x[np.arange(x.shape[0]), self._last]

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        dx = np.zeros(self._shape, dtype=grad_out.dtype)
        dx[np.arange(self._shape[0]), self._last] = grad_out  # y[n] = x[n, last[n]]
        return dx


class MeanOverTime(_SequencePool):
    """The mean over each sequence's real steps: ``y[n] = sum_{t < L_n} x[n, t] / L_n``.

    Shapes: ``x (N, T, F)`` -> ``y (N, F)``; padded steps are ignored. Backward:
    ``dL/dx[n, t] = dL/dy[n] / L_n`` for ``t < L_n``, 0 at padded steps.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        lengths = self._lengths_for(x)
        t = x.shape[1]
        # weights w[n, t] = [t < L_n] / L_n, so y = sum_t w[n, t] x[n, t] (one batched product)
        w = (np.arange(t)[None, :] < lengths[:, None]) / lengths[:, None]
        self._w = w.astype(x.dtype)
        return np.matmul(self._w[:, None, :], x)[:, 0, :]

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        return self._w[:, :, None] * grad_out[:, None, :]  # dx[n, t] = w[n, t] * dy[n]
