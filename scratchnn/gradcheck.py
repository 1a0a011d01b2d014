"""Numerical gradient checking: the test every backward pass must pass.

Backpropagation computes ``dL/dp`` analytically. Central differences estimate
the same thing from the loss alone::

    dL/dp_i ~ (L(p_i + eps) - L(p_i - eps)) / (2 * eps)

with an error of order ``eps**2``. In float64 with ``eps = 1e-6`` the two agree
to about 1e-9 or better wherever the code is right; a wrong backward pass is off
by an amount of the order of the gradient itself. Use it on a layer you wrote
yourself: build a tiny network around it in float64 and call
``check_gradients``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_gradients", "numerical_gradient", "relative_error"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``max |a - n| / max(max |a|, max |n|)`` over one array (0 if both are all zero).

    Measured against the array's largest entry rather than element by element,
    because an entry that is ~0 has no meaningful relative error at all: its
    finite-difference estimate is rounding noise of order 1e-10.
    """
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric)) / scale)


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing to it perturbs x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(network, x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Largest relative error between backpropagated and central-difference gradients.

    Runs ``network`` on ``(x, y)`` in evaluation mode (``training=False``, so
    Dropout is off and the loss is a deterministic function of the weights),
    backpropagates, then perturbs every parameter element. Returns the largest
    ``relative_error`` over all parameter arrays. Use float64: float32 rounding
    alone is larger than the errors this is meant to find.
    """

    def loss() -> float:
        return network.compute_loss(network.forward(x, training=False), y)

    loss()
    network.backward()
    analytic = [g.copy() for g in network.gradients()]
    worst = 0.0
    for p, a in zip(network.parameters(), analytic):
        worst = max(worst, relative_error(a, numerical_gradient(loss, p, eps)))
    return worst
