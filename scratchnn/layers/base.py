"""The Layer protocol every layer follows, and the small checks layers share.

Every layer maps a batch ``x`` (first axis: the ``N`` samples) to an output and,
in ``backward``, maps the gradient of the loss with respect to that output
(``grad_out``, same shape as the output) to the gradient with respect to its
input (``grad_in``, same shape as ``x``). This is the chain rule, one link at a
time: ``dL/dx = dL/dy * dy/dx``.

A layer with parameters lists them in ``params`` and, after ``backward``, their
gradients in ``grads``: ``grads[i]`` is ``dL/dparams[i]`` and has its shape.
The two lists are aligned, and the gradient arrays are allocated once and
overwritten in place by every backward pass, so an optimizer can hold on to
them. ``buffers`` lists arrays that are part of the model but not trained
(BatchNorm's running statistics): saved with the model, never updated by an
optimizer.

Shapes are per sample: ``output_shape(in_shape)`` maps the shape of one sample
(``(features,)`` for rows, ``(C, H, W)`` for images) to the shape of one output
sample, so a network can check when it is built that consecutive layers fit.
"""

from __future__ import annotations

import numpy as np

from .._configurable import Configurable

__all__ = ["Layer", "check_dtype"]


def check_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy dtype, or ``TypeError`` unless it is float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Layer(Configurable):
    """Base class: a differentiable function of a batch.

    Subclasses implement ``forward(x, training)`` and ``backward(grad_out)``;
    those with parameters, shapes or constructor arguments also override
    ``output_shape``, ``input_shape``, ``get_config`` and ``array_shapes``.
    ``params``, ``grads`` and ``buffers`` are empty for layers without them.
    ``get_config`` (the constructor arguments, JSON-ready, used when saving) and
    the ``repr`` made from it come from ``Configurable``.

    ``weight_init`` is the weight initialisation an activation wants in the
    layer that feeds it ("he" for ReLU-like, "xavier" for sigmoid, tanh and
    the identity); ``None`` for layers that are not activations.
    """

    weight_init: str | None = None

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.buffers: list[np.ndarray] = []

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the output for a batch ``x`` and cache what backward needs.

        ``training`` matters only to layers that behave differently while
        training (Dropout, BatchNorm); the others ignore it. The default is
        evaluation, as for the network.
        """
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Given ``dL/d(output)``, fill ``self.grads`` and return ``dL/d(input)``.

        ``input_grad=False`` lets the network skip the input gradient of its
        first layer, which nothing uses (for Dense it is a whole matmul); the
        method then returns ``None``.
        """
        raise NotImplementedError

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        """Per-sample output shape for a per-sample input shape (``None``: unknown).

        Raises ``ValueError`` naming the layer when the input does not fit.
        Element-wise layers keep the shape.
        """
        return in_shape

    @property
    def input_shape(self) -> tuple | None:
        """The per-sample input shape this layer fixes, or ``None`` if it takes any."""
        return None

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        """Shapes of ``params`` then ``buffers`` of a layer built from ``config``.

        Computed from the numbers in ``config`` alone, without allocating
        anything, so a model file can be checked before it is built.
        """
        return []
