"""Dropout, the regulariser that switches units off at random while training."""

from __future__ import annotations

import numpy as np

from ..validation import check_float_in_range, check_random_state
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout: zero each element with probability ``rate`` while training.

    Training: ``y = x * m`` with ``m = keep / (1 - rate)`` and ``keep`` drawn as
    Bernoulli(``1 - rate``) per element. Scaling by ``1 / (1 - rate)`` keeps the
    expected value of ``y`` equal to ``x``, so at evaluation time the layer is
    the identity (``training=False``) and needs no rescaling.

    Backward uses the same mask: ``dL/dx = g * m``. Shapes: any, output like input.
    """

    def __init__(self, rate: float, seed=None) -> None:
        super().__init__()
        self.rate = check_float_in_range(rate, "rate", 0.0, 1.0)
        self.rng = check_random_state(seed)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate
        self._mask = keep * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        return grad_out if self._mask is None else grad_out * self._mask

    def get_config(self) -> dict:
        return {"rate": self.rate}
