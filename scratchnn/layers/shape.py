"""Layers that only rearrange: rows to images (Reshape) and images to rows (Flatten).

Networks take rows ``(N, features)``, so estimators, CSV files and the CLI stay
two-dimensional; a Reshape at the front turns each row into an image for the
convolutions, and a Flatten turns feature maps back into rows for Dense layers.
Both are reshapes of each sample, so backward is the reverse reshape.
"""

from __future__ import annotations

import math

from ..validation import check_positive_int
from .base import Layer

__all__ = ["Flatten", "Reshape"]


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)``, in the order of ``torch.flatten(x, 1)`` (C-order).

    Any per-sample shape works (``(N, d1, ..., dk) -> (N, d1*...*dk)``).
    Backward: ``dL/dx = g.reshape(x.shape)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: tuple | None = None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        return None if in_shape is None else (math.prod(in_shape),)

    def forward(self, x, training: bool = False):
        self._x_shape = x.shape
        # channels-last memory behind a (N, C, H, W) view: this copies it into torch's order
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out, *, input_grad: bool = True):
        return grad_out.reshape(self._x_shape) if input_grad else None


class Reshape(Layer):
    """Rows to images: ``(N, prod(shape)) -> (N, *shape)``, e.g. ``Reshape((1, 8, 8))``.

    Each row is read in C-order, so a row holding an image's pixels channel by
    channel, row by row (how ``torch.flatten`` and image CSV files store them)
    becomes that image ``(C, H, W)``. Backward: ``dL/dx = g.reshape(x.shape)``.
    """

    def __init__(self, shape) -> None:
        super().__init__()
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
            raise TypeError(f"shape must be a sequence of positive ints, got {shape!r}")
        self.shape = tuple(check_positive_int(d, "shape") for d in shape)
        if not self.shape:
            raise ValueError(f"shape must hold at least one dimension, got {shape!r}")
        self.size = math.prod(self.shape)
        self._x_shape: tuple | None = None

    @property
    def input_shape(self) -> tuple:
        return (self.size,)

    def output_shape(self, in_shape: tuple | None) -> tuple:
        if in_shape is not None and math.prod(in_shape) != self.size:
            raise ValueError(
                f"Reshape to {self.shape} needs {self.size} values per sample, but the previous layer "
                f"outputs samples of shape {tuple(in_shape)}"
            )
        return self.shape

    def forward(self, x, training: bool = False):
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.size:
            raise ValueError(
                f"Reshape to {self.shape} expects rows of {self.size} values, got an array of shape {x.shape}"
            )
        self._x_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, grad_out, *, input_grad: bool = True):
        return grad_out.reshape(self._x_shape) if input_grad else None

    def get_config(self) -> dict:
        return {"shape": list(self.shape)}
