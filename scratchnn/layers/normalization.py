r"""Batch normalisation, for rows (BatchNorm1d) and per channel for images (BatchNorm2d).

Conventions, as ``torch.nn.BatchNorm1d``/``BatchNorm2d`` (Keras differs on both):
``momentum`` weights the *new* batch, ``running = (1 - momentum) * running +
momentum * batch``; the running variance is the *unbiased* batch variance
(divided by ``M - 1``) while the batch itself is normalised with the biased one
(divided by ``M``). ``forward(x, training=False)`` normalises with the running
statistics; ``training=True`` with the batch's, and updates the running ones.

Math, per feature (BatchNorm1d) or channel (BatchNorm2d), over its ``M`` values
in the batch (``M = N`` for rows, ``M = N*H*W`` for images)::

    mu = sum_i x_i / M,   var = sum_i (x_i - mu)**2 / M,   s = sqrt(var + eps)
    xhat_i = (x_i - mu) / s,   y_i = gamma * xhat_i + beta

Backward, with ``g_i = dL/dy_i``::

    dL/dbeta  = sum_i g_i
    dL/dgamma = sum_i g_i * xhat_i
    dL/dx_i   = gamma / s * (g_i - dL/dbeta / M - xhat_i * dL/dgamma / M)

Derivation of the last line (the compact form). ``x_i`` reaches the loss through
every ``xhat_j``, because ``mu`` and ``s`` depend on all the ``x``. With
``dmu/dx_i = 1/M`` and ``ds/dx_i = (x_i - mu) / (M s) = xhat_i / M`` (the term
from ``mu`` in ``var`` vanishes since ``sum_j (x_j - mu) = 0``)::

    dxhat_j/dx_i = (delta_ij - 1/M) / s - (x_j - mu) / s**2 * xhat_i / M
                 = (delta_ij - 1/M - xhat_j * xhat_i / M) / s

and ``dL/dx_i = sum_j gamma * g_j * dxhat_j/dx_i`` gives the line above: one pass
for the two sums, one for the gradient, no ``(M, M)`` Jacobian. In evaluation
``mu`` and ``s`` are constants (the running statistics) and
``dL/dx_i = gamma / s * g_i``.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_float_in_range, check_positive_float, check_positive_int
from .base import Layer, check_dtype
from .conv import check_images, to_channels_first, to_channels_last

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Layer):
    """The statistics, the running averages and both passes on rows ``(M, C)``."""

    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, size: int, name: str, momentum: float, eps: float, dtype) -> None:
        super().__init__()
        self.size = check_positive_int(size, name)
        self.momentum = check_float_in_range(momentum, "momentum", 0.0, 1.0, high_inclusive=True)
        self.eps = check_positive_float(eps, "eps")
        self.dtype = check_dtype(dtype)
        self.gamma = np.ones(self.size, dtype=self.dtype)
        self.beta = np.zeros(self.size, dtype=self.dtype)
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self.running_mean = np.zeros(self.size, dtype=self.dtype)
        self.running_var = np.ones(self.size, dtype=self.dtype)
        self.params = [self.gamma, self.beta]
        self.grads = [self.dgamma, self.dbeta]
        self.buffers = [self.running_mean, self.running_var]
        self._xhat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._training = False
        self._ones = np.ones(0, dtype=self.dtype)

    def check_state(self) -> None:
        """A variance is never negative: a running variance below 0 would predict NaN for every row."""
        negative = np.flatnonzero(self.running_var < 0)
        if negative.size:
            i = int(negative[0])
            raise ValueError(f"running_var holds a negative variance, {self.running_var[i]!r} at index {i}")

    def _sum_rows(self, a: np.ndarray) -> np.ndarray:
        """``a.sum(axis=0)`` for ``a (M, C)``, as the product ``ones(M) @ a`` (one BLAS call) when it can."""
        if a.dtype != self.dtype or not a.flags.c_contiguous:
            return a.sum(axis=0)
        if self._ones.shape[0] < a.shape[0]:
            self._ones = np.ones(a.shape[0], dtype=self.dtype)
        return np.dot(self._ones[: a.shape[0]], a)

    def _forward_rows(self, x: np.ndarray, training: bool) -> np.ndarray:
        m = x.shape[0]
        if training:
            if m < 2:
                raise ValueError(
                    f"{type(self).__name__} needs more than one value per channel to train, got a batch "
                    f"of shape {x.shape}"
                )
            mean = self._sum_rows(x) / m
            xc = x - mean
            var = self._sum_rows(xc * xc) / m  # biased: what the batch is normalised with
            mom = self.momentum
            self.running_mean *= 1.0 - mom
            self.running_mean += mom * mean
            self.running_var *= 1.0 - mom
            self.running_var += (mom * m / (m - 1)) * var  # unbiased, as torch
        else:
            xc = x - self.running_mean
            var = self.running_var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(xc.dtype, copy=False)
        xc *= inv_std  # now xhat, in place
        self._xhat, self._inv_std, self._training = xc, inv_std, training
        out = xc * self.gamma
        out += self.beta
        return out

    def _backward_rows(self, g: np.ndarray, input_grad: bool) -> np.ndarray | None:
        xhat = self._xhat
        if xhat is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward pass first")
        self.dbeta[...] = self._sum_rows(g)
        self.dgamma[...] = self._sum_rows(g * xhat)
        if not input_grad:
            return None
        scale = self.gamma * self._inv_std
        if not self._training:
            return g * scale
        m = g.shape[0]
        dx = g - self.dbeta / m
        dx -= xhat * (self.dgamma / m)
        dx *= scale
        return dx

    def _config(self, name: str) -> dict:
        return {name: self.size, "momentum": self.momentum, "eps": self.eps, "dtype": self.dtype.name}


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of rows ``x (N, num_features)``, each feature on its own.

    ``params == [gamma, beta]`` (``(num_features,)`` each, starting at 1 and 0),
    ``buffers == [running_mean, running_var]`` (starting at 0 and 1). Math,
    conventions and the derivation of the backward: see the module docstring.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32):
        super().__init__(num_features, "num_features", momentum, eps, dtype)

    @property
    def num_features(self) -> int:
        return self.size

    @property
    def input_shape(self) -> tuple:
        return (self.size,)

    def output_shape(self, in_shape: tuple | None) -> tuple:
        if in_shape is not None and tuple(in_shape) != (self.size,):
            raise ValueError(
                f"BatchNorm1d expects num_features={self.size}, but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return (self.size,)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.size:
            raise ValueError(f"BatchNorm1d expects rows (N, {self.size}), got an array of shape {x.shape}")
        return self._forward_rows(x, training)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        return self._backward_rows(grad_out, input_grad)

    def get_config(self) -> dict:
        return self._config("num_features")

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return [(check_positive_int(config["num_features"], "num_features"),)] * 4


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images ``x (N, C, H, W)``, per channel over ``N*H*W`` values.

    One ``gamma``, ``beta``, mean and variance per channel (not per pixel):
    every position of a feature map is the same filter's response, so it shares
    the statistics, as in torch. Internally the channels-last memory is viewed as
    rows ``(N*H*W, C)`` and normalised as BatchNorm1d would. Math, conventions
    and the derivation of the backward: see the module docstring.
    """

    def __init__(self, num_channels: int, *, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32):
        super().__init__(num_channels, "num_channels", momentum, eps, dtype)

    @property
    def num_channels(self) -> int:
        return self.size

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is not None and (len(in_shape) != 3 or in_shape[0] != self.size):
            raise ValueError(
                f"BatchNorm2d expects images ({self.size}, H, W), but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return in_shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, self.size, "BatchNorm2d")
        n, c, h, w = x.shape
        rows = to_channels_last(x).reshape(n * h * w, c)  # free for channels-last memory
        return to_channels_first(self._forward_rows(rows, training).reshape(n, h, w, c))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        n, c, h, w = grad_out.shape
        dx = self._backward_rows(to_channels_last(grad_out).reshape(n * h * w, c), input_grad)
        return None if dx is None else to_channels_first(dx.reshape(n, h, w, c))

    def get_config(self) -> dict:
        return self._config("num_channels")

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return [(check_positive_int(config["num_channels"], "num_channels"),)] * 4
