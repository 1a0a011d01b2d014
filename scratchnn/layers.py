"""Layers: the pieces a network is stacked from, each with a forward and a backward pass.

Every layer maps a batch ``x`` of shape ``(N, features)`` to an output and, in
``backward``, maps the gradient of the loss with respect to that output
(``grad_out``, same shape as the output) to the gradient with respect to its
input (``grad_in``, same shape as ``x``). This is the chain rule, one link at a
time: ``dL/dx = dL/dy * dy/dx``.

A layer with parameters lists them in ``params`` and, after ``backward``, their
gradients in ``grads``: ``grads[i]`` is ``dL/dparams[i]`` and has its shape.
The two lists are aligned, and the gradient arrays are allocated once and
overwritten in place by every backward pass, so an optimizer can hold on to
them.

``forward`` caches exactly what ``backward`` needs (Dense its input, ReLU its
mask, Sigmoid and Tanh their output, Dropout its mask) and nothing else.
"""

from __future__ import annotations

import numpy as np

from .validation import check_float_in_range, check_positive_int, check_random_state

__all__ = ["Dense", "Dropout", "Layer", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "layer_from_config"]


class Layer:
    """Base class: a differentiable function of a batch.

    Subclasses implement ``forward(x, training)`` and ``backward(grad_out)``.
    ``params`` and ``grads`` are empty for layers without parameters.
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Compute the output for a batch ``x`` and cache what backward needs.

        ``training`` matters only to layers that behave differently while
        training (Dropout); the others ignore it.
        """
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Given ``dL/d(output)``, fill ``self.grads`` and return ``dL/d(input)``.

        ``input_grad=False`` lets the network skip the input gradient of its
        first layer, which nothing uses (for Dense it is a whole matmul); the
        method then returns ``None``.
        """
        raise NotImplementedError

    def output_features(self, in_features: int | None) -> int | None:
        """Width of the output for an input of width ``in_features``.

        Used to check, when a network is built, that consecutive layers fit.
        Element-wise layers keep the width.
        """
        return in_features

    def get_config(self) -> dict:
        """The constructor arguments, as JSON-ready values (used when saving)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer: ``y = x @ W + b``.

    Shapes: ``x (N, in_features)``, ``W (in_features, out_features)``,
    ``b (out_features,)``, ``y (N, out_features)``.

    Backward, with ``g = dL/dy`` of shape ``(N, out_features)``::

        dL/dW = x.T @ g          (in_features, out_features)
        dL/db = g.sum(axis=0)    (out_features,)
        dL/dx = g @ W.T          (N, in_features)

    The sums over the batch come from ``b`` being broadcast to every row: each
    row contributes its own gradient.

    Initialisation draws ``W`` from a normal distribution with standard
    deviation ``sqrt(2 / in_features)`` ("he", for ReLU-like activations) or
    ``sqrt(2 / (in_features + out_features))`` ("xavier", for sigmoid and
    tanh); ``b`` starts at zero.
    """

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
        if init not in ("he", "xavier"):
            raise ValueError(f"init must be 'he' or 'xavier', got {init!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.init = init
        rng = check_random_state(seed)
        fan = self.in_features if init == "he" else (self.in_features + self.out_features) / 2
        std = np.sqrt(2.0 / fan)
        self.W = (rng.standard_normal((self.in_features, self.out_features)) * std).astype(self.dtype)
        self.b = np.zeros(self.out_features, dtype=self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.params = [self.W, self.b]
        self.grads = [self.dW, self.db]
        self._x: np.ndarray | None = None
        self._ones = np.ones(0, dtype=self.dtype)  # grown to the largest batch seen

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._x = x
        # np.dot: for 2-D arrays the same BLAS product as x @ W, with less overhead per call
        out = np.dot(x, self.W)
        out += self.b  # in place: saves a second (N, out_features) temporary
        return out

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
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
        return np.dot(grad_out, self.W.T) if input_grad else None  # g @ W.T

    def output_features(self, in_features: int | None) -> int:
        if in_features is not None and in_features != self.in_features:
            raise ValueError(
                f"Dense layer expects in_features={self.in_features}, "
                f"but the previous layer outputs {in_features} features"
            )
        return self.out_features

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.init,
            "dtype": self.dtype.name,
        }


class ReLU(Layer):
    """Rectified linear unit: ``y = max(x, 0)``, element-wise.

    Backward: ``dL/dx = g * (x > 0)``; the derivative at exactly 0 is taken as
    0, as in PyTorch. Shapes: any, output like input.
    """

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
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

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_float_in_range(negative_slope, "negative_slope", 0.0, 1.0)
        self._slope: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
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

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
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

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        y = self._y
        return grad_out * (1.0 - y * y)


class Dropout(Layer):
    """Inverted dropout: zero each element with probability ``rate`` while training.

    Training: ``y = x * m`` with ``m = keep / (1 - rate)`` and ``keep`` drawn as
    Bernoulli(``1 - rate``) per element. Scaling by ``1 / (1 - rate)`` keeps the
    expected value of ``y`` equal to ``x``, so at evaluation time the layer is
    the identity (``training=False``) and needs no rescaling.

    Backward uses the same mask: ``dL/dx = g * m``.
    """

    def __init__(self, rate: float, seed=None) -> None:
        super().__init__()
        self.rate = check_float_in_range(rate, "rate", 0.0, 1.0)
        self.rng = check_random_state(seed)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
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


_LAYER_TYPES = {cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Dropout)}


def layer_from_config(kind: str, config: dict) -> Layer:
    """Build a layer from its class name and ``get_config()`` dict (used when loading)."""
    if kind not in _LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}; expected one of {sorted(_LAYER_TYPES)}")
    config = dict(config)
    if kind == "Dense":
        config["dtype"] = np.dtype(config.get("dtype", "float32"))
    return _LAYER_TYPES[kind](**config)
