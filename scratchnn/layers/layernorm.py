r"""Layer normalisation: each sample's features standardised on their own, as ``torch.nn.LayerNorm``.

Where batch normalisation (``normalization``) standardises each feature over the
batch, layer normalisation standardises each *vector* over its own ``D``
features: a token's output does not depend on the other tokens or the other
sequences of the batch, and training and evaluation compute the same thing.
It is what a Transformer puts before each block.

Math, for one vector ``x`` of ``D`` values (the last axis), as torch (biased
variance, ``eps = 1e-5`` inside the square root)::

    mu = sum_i x_i / D,   var = sum_i (x_i - mu)**2 / D,   rstd = 1 / sqrt(var + eps)
    xhat_i = (x_i - mu) * rstd,   y_i = w_i * xhat_i + b_i

Backward, with ``g_i = dL/dy_i`` and ``dnorm_i = w_i * g_i`` (``dL/dxhat_i``)::

    dL/db_i = sum over every vector of g_i
    dL/dw_i = sum over every vector of g_i * xhat_i
    dL/dx_i = rstd * (dnorm_i - mean_j dnorm_j - xhat_i * mean_j (dnorm_j * xhat_j))

Derivation of the last line (the compact form, llm.c's ``layernorm_backward``):
every ``xhat_j`` of a vector depends on every ``x_i`` of it through ``mu`` and
``rstd``. With ``dmu/dx_i = 1/D`` and ``d rstd/dx_i = -rstd**3 (x_i - mu) / D =
-rstd**2 xhat_i / D`` (the term from ``mu`` in ``var`` vanishes, as
``sum_j (x_j - mu) = 0``)::

    dxhat_j/dx_i = rstd * (delta_ij - 1/D) - (x_j - mu) * rstd**2 * xhat_i / D
                 = rstd * (delta_ij - 1/D - xhat_j * xhat_i / D)

and ``dL/dx_i = sum_j dnorm_j * dxhat_j/dx_i`` gives the line above: two means
per vector and no ``(D, D)`` Jacobian. It is batch normalisation's backward with
the roles of the axes swapped.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..validation import check_positive_float, check_positive_int
from .base import Layer, check_dtype

__all__ = ["LayerNorm"]


def _check_normalized_shape(normalized_shape) -> int:
    """The width ``D`` of ``normalized_shape``: an int, or a sequence holding one (torch's form)."""
    if not isinstance(normalized_shape, numbers.Integral) and isinstance(normalized_shape, (list, tuple)):
        if len(normalized_shape) != 1:
            raise ValueError(
                f"LayerNorm normalises over the last axis only: normalized_shape must be one integer, "
                f"got {normalized_shape!r}"
            )
        normalized_shape = normalized_shape[0]
    return check_positive_int(normalized_shape, "normalized_shape")


class LayerNorm(Layer):
    """Layer normalisation over the last axis of ``x (N, ..., D)``, as ``torch.nn.LayerNorm(D)``.

    ``params == [weight, bias]`` (``(D,)`` each, starting at 1 and 0; ``[weight]``
    alone with ``bias=False``, when ``bias`` is None, as torch). Output like
    ``x``. Math and the derivation of the backward: see the module docstring.
    """

    param_names = ("weight", "bias")

    def __init__(self, normalized_shape, *, eps: float = 1e-5, bias: bool = True, dtype=np.float32) -> None:
        super().__init__()
        self.normalized_shape = _check_normalized_shape(normalized_shape)
        self.eps = check_positive_float(eps, "eps")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.dtype = check_dtype(dtype)
        d = self.normalized_shape
        self.weight = np.ones(d, dtype=self.dtype)
        self.dweight = np.zeros_like(self.weight)
        self.params, self.grads = [self.weight], [self.dweight]
        self.bias = self.dbias = None
        if bias:
            self.bias = np.zeros(d, dtype=self.dtype)
            self.dbias = np.zeros_like(self.bias)
            self.params.append(self.bias)
            self.grads.append(self.dbias)
        else:
            self.param_names = ("weight",)
        self._xhat: np.ndarray | None = None
        self._rstd: np.ndarray | None = None
        self._mean_weights = np.full(d, 1.0 / d, dtype=self.dtype)  # a @ (ones(D) / D): the mean of each row
        self._ones = np.ones(0, dtype=self.dtype)  # grown to the most vectors a batch has had

    def _mean(self, a: np.ndarray) -> np.ndarray:
        """The mean of each row of ``a (M, D)`` as a column ``(M, 1)``.

        ``a.mean(axis=-1, keepdims=True)`` as the product ``a @ (ones(D) / D)``: one
        BLAS call, many times faster than a NumPy reduction along the last axis.
        """
        return np.dot(a, self._mean_weights)[:, None]

    def _sum_rows(self, a: np.ndarray) -> np.ndarray:
        """``a.sum(axis=0)`` for ``a (M, D)``, as the product ``ones(M) @ a`` (one BLAS call)."""
        if self._ones.shape[0] < a.shape[0]:
            self._ones = np.ones(a.shape[0], dtype=self.dtype)
        return np.dot(self._ones[: a.shape[0]], a)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.shape[-1] != self.normalized_shape:
            raise ValueError(f"LayerNorm expects a last axis of {self.normalized_shape}, got shape {x.shape}")
        x2 = x.reshape(-1, self.normalized_shape)  # every vector a row: (M, D)
        xhat = x2 - self._mean(x2)  # x - mu
        var = self._mean(xhat * xhat)  # biased variance, as torch
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat *= rstd  # xhat = (x - mu) * rstd
        self._xhat, self._rstd = xhat, rstd
        out = xhat * self.weight  # y = w * xhat + b
        if self.bias is not None:
            out += self.bias
        return out.reshape(x.shape)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        xhat, rstd = self._xhat, self._rstd
        if xhat is None:
            raise RuntimeError("LayerNorm.backward needs a forward pass first")
        g = grad_out.reshape(xhat.shape)
        # y = w * xhat + b
        if self.bias is not None:
            self.dbias[...] = self._sum_rows(g)  # dL/db = sum of g over every vector
        self.dweight[...] = self._sum_rows(g * xhat)  # dL/dw = sum of g * xhat
        if not input_grad:
            return None
        dnorm = g * self.weight  # dL/dxhat
        # xhat = (x - mu) * rstd, with mu and rstd functions of the whole vector (module docstring)
        dx = dnorm - self._mean(dnorm)
        dnorm *= xhat
        dx -= xhat * self._mean(dnorm)
        dx *= rstd
        return dx.reshape(grad_out.shape)

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is not None and (len(in_shape) == 0 or in_shape[-1] != self.normalized_shape):
            raise ValueError(
                f"LayerNorm expects a last axis of {self.normalized_shape}, but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return in_shape

    def get_config(self) -> dict:
        return {
            "normalized_shape": self.normalized_shape,
            "eps": self.eps,
            "bias": self.bias is not None,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        d = _check_normalized_shape(config["normalized_shape"])
        return [(d,), (d,)] if config.get("bias", True) else [(d,)]

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        names = cls.param_names if config.get("bias", True) else ("weight",)  # no "bias" without one
        return [(name, shape, False) for name, shape in zip(names, cls.array_shapes(config))]
