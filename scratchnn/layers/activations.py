"""Activations: element-wise non-linearities, and the name table ``ACTIVATIONS``.

Element-wise, so every activation takes any shape, rows ``(N, F)``, sequences
``(N, T, F)`` or images ``(N, C, H, W)``, and returns (and backpropagates) the
same shape.

Each activation says, in its class attribute ``weight_init``, which weight
initialisation it wants in the layer that feeds it: "he" for ReLU-like
activations (half the inputs are zeroed, so the variance is doubled to make
up for it), "xavier" for sigmoid, tanh and the identity (near 0 they are
linear, and the variance is kept as it is).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_float_in_range
from .base import Layer

__all__ = ["ACTIVATIONS", "Identity", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "sigmoid"]


class ReLU(Layer):
    """Rectified linear unit: ``y = max(x, 0)``, element-wise.

    Backward: ``dL/dx = g * (x > 0)``; the derivative at exactly 0 is taken as
    0, as in PyTorch. Shapes: any, output like input.
    """

    weight_init = "he"

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        mask = self._mask
        if mask is None or mask.shape != x.shape or mask.dtype != x.dtype:
            mask = self._mask = np.empty_like(x)
        # mask = (x > 0) as 1.0 / 0.0 in x's dtype, written into the same buffer batch after
        # batch: multiplying by it is twice as fast as by a boolean mask, here and in backward
        np.greater(x, 0, out=mask)
        return x * mask

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out * self._mask if input_grad else None


class LeakyReLU(Layer):
    """Leaky ReLU: ``y = x`` where ``x > 0``, else ``negative_slope * x``.

    Backward: ``dL/dx = g`` where ``x > 0``, else ``negative_slope * g``.
    Matches ``torch.nn.LeakyReLU`` (slope used at exactly 0).
    """

    weight_init = "he"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float_in_range(negative_slope, "negative_slope", 0.0, 1.0)
        self._slope: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # local derivative dy/dx, 1 or negative_slope; y = x * dy/dx
        self._slope = np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype, copy=False)
        return x * self._slope

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out * self._slope if input_grad else None

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` that never overflows.

    Split on the sign: for ``x >= 0`` use ``1 / (1 + e)``, for ``x < 0`` use
    ``e / (1 + e)``, with ``e = exp(-|x|)`` always in ``(0, 1]``. So ``exp`` never
    sees a large positive argument, whatever ``x`` is.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class Sigmoid(Layer):
    """Logistic sigmoid: ``y = 1 / (1 + exp(-x))``, element-wise, computed stably.

    Backward: ``dL/dx = g * y * (1 - y)``, from the cached output ``y`` (no
    recomputation of the forward pass).
    """

    weight_init = "xavier"

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        y = self._y
        return grad_out * y * (1.0 - y)


class Tanh(Layer):
    """Hyperbolic tangent: ``y = tanh(x)``, element-wise.

    Backward: ``dL/dx = g * (1 - y**2)``, from the cached output.
    """

    weight_init = "xavier"

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        y = self._y
        return grad_out * (1.0 - y * y)


class Identity(Layer):
    """The identity: ``y = x``, and backward ``dL/dx = g``.

    A "linear activation", as scikit-learn's ``activation="identity"``: a
    network of Dense layers with it computes an affine function of its input.
    """

    weight_init = "xavier"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return grad_out if input_grad else None


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "identity": Identity}
