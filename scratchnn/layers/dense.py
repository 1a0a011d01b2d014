"""The fully connected layer."""

from __future__ import annotations

import numpy as np

from ..validation import check_positive_int, check_random_state
from .base import Layer, check_dtype

__all__ = ["INITS", "Dense", "init_std"]

INITS = ("he", "xavier")


def init_std(init: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the normal draw for the weights of a layer.

    "he": ``sqrt(2 / fan_in)``, which keeps the variance of ReLU activations
    from layer to layer; "xavier": ``sqrt(2 / (fan_in + fan_out))``, which
    keeps it for sigmoid and tanh (and the identity) near 0.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
    fan = fan_in if init == "he" else (fan_in + fan_out) / 2
    return float(np.sqrt(2.0 / fan))


class Dense(Layer):
    """Fully connected layer on the last axis: ``y = x @ W + b``, as ``torch.nn.Linear``.

    Shapes: ``x (N, ..., in_features)``, ``W (in_features, out_features)``,
    ``b (out_features,)``, ``y (N, ..., out_features)``. Rows ``(N, in_features)``
    are the common case; a sequence ``(N, T, in_features)`` gets the same layer at
    every position. Any rank is viewed as rows ``(M, in_features)`` with
    ``M = N * ...``, so it is one matrix product whatever the rank.

    Backward, with ``g = dL/dy`` viewed likewise as ``(M, out_features)``::

        dL/dW = x.T @ g          (in_features, out_features)
        dL/db = g.sum(axis=0)    (out_features,)
        dL/dx = g @ W.T          (M, in_features), viewed back as x's shape

    The sums over the rows come from ``W`` and ``b`` being shared by every row
    (and every position): each contributes its own gradient.

    Initialisation draws ``W`` from a normal distribution with standard
    deviation ``sqrt(2 / in_features)`` ("he", for ReLU-like activations) or
    ``sqrt(2 / (in_features + out_features))`` ("xavier", for sigmoid and
    tanh); ``b`` starts at zero.
    """

    param_names = ("W", "b")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "he",
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        std = init_std(init, self.in_features, self.out_features)
        self.dtype = check_dtype(dtype)
        self.init = init
        rng = check_random_state(seed)
        self.W = (rng.standard_normal((self.in_features, self.out_features)) * std).astype(self.dtype)
        self.b = np.zeros(self.out_features, dtype=self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.params = [self.W, self.b]
        self.grads = [self.dW, self.db]
        self._x: np.ndarray | None = None
        self._ones = np.ones(0, dtype=self.dtype)  # grown to the largest batch seen

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim == 2:  # rows: the common case, kept free of any reshaping
            self._x = x
            # np.dot: for 2-D arrays the same BLAS product as x @ W, with less overhead per call
            out = np.dot(x, self.W)
            out += self.b  # in place: saves a second (N, out_features) temporary
            return out
        rows = x.reshape(-1, x.shape[-1])  # (N, ..., F) as (N*..., F): a view when x is contiguous
        self._x = rows
        out = np.dot(rows, self.W)
        out += self.b
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        shape = grad_out.shape
        if len(shape) != 2:  # (N, ..., out_features) as rows, against the rows forward cached
            grad_out = grad_out.reshape(-1, self.out_features)
        # Written into the preallocated gradient arrays, so params/grads stay aligned
        # and no new arrays are made per batch.
        x, n = self._x, grad_out.shape[0]
        if x.dtype == grad_out.dtype == self.dtype:
            if self._ones.shape[0] < n:
                self._ones = np.ones(n, dtype=self.dtype)
            np.dot(x.T, grad_out, out=self.dW)  # x.T @ g; np.dot has less overhead per call than @
            # g.sum(axis=0) as the product ones(N) @ g: one BLAS call, 2-4x faster than the sum
            np.dot(self._ones[:n], grad_out, out=self.db)
        else:  # mixed dtypes from a direct caller: matmul and the sum cast into the gradients' dtype
            np.matmul(x.T, grad_out, out=self.dW)
            np.add.reduce(grad_out, axis=0, out=self.db)
        if not input_grad:
            return None
        grad_in = np.dot(grad_out, self.W.T)  # g @ W.T
        return grad_in if len(shape) == 2 else grad_in.reshape(*shape[:-1], self.in_features)

    def output_shape(self, in_shape: tuple | None) -> tuple:
        """``(..., out_features)`` for ``(..., in_features)``: the last axis changes, the others stay."""
        if in_shape is None:
            return (self.out_features,)
        in_shape = tuple(in_shape)
        if not in_shape or in_shape[-1] != self.in_features:
            got = (
                f"{in_shape[0]} features"
                if len(in_shape) == 1
                else f"samples of shape {in_shape} (its last axis is the features; "
                "put a Flatten before it to use all of them)"
            )
            raise ValueError(
                f"Dense layer expects in_features={self.in_features}, but the previous layer outputs {got}"
            )
        return (*in_shape[:-1], self.out_features)

    @property
    def input_shape(self) -> tuple:
        return (self.in_features,)

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.init,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        n_in = check_positive_int(config["in_features"], "in_features")
        n_out = check_positive_int(config["out_features"], "out_features")
        return [(n_in, n_out), (n_out,)]
