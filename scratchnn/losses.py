"""Losses: a number that says how wrong the outputs are, and its gradient.

``loss.forward(outputs, targets)`` returns the loss as a Python float, always
the **mean** over the batch (a sum would make the right learning rate depend
on the batch size). ``loss.backward()`` returns ``dL/d(outputs)``, with the
shape of ``outputs``, for the last forward call; this is where backpropagation
starts.
"""

from __future__ import annotations

import numpy as np

from .validation import check_float_in_range

__all__ = ["Loss", "MeanSquaredError", "SoftmaxCrossEntropy", "log_softmax", "one_hot", "softmax"]


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """Integer labels ``(N,)`` to a one-hot matrix ``(N, n_classes)``."""
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log(softmax(z))`` row-wise, through log-sum-exp: ``z - max - log(sum(exp(z - max)))``.

    Subtracting the row maximum makes every exponent ``<= 0``, so nothing
    overflows, and the log is never taken of a probability that underflowed to 0.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax ``exp(z) / sum(exp(z))``, with the row maximum subtracted first."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


class Loss:
    """Base class. ``forward`` returns a float; ``backward`` returns ``dL/d(outputs)``."""

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean squared error over all elements, as ``torch.nn.MSELoss()``.

    ``L = mean((o - t)**2)`` over all ``N * C`` elements of outputs ``o (N, C)``
    and targets ``t (N, C)``; ``dL/do = 2 * (o - t) / (N * C)``.

    Integer labels ``(N,)`` against outputs ``(N, C)`` are one-hot encoded first,
    so the network is pulled towards 1 for the true class and 0 elsewhere.
    """

    def __init__(self) -> None:
        self._diff: np.ndarray | None = None

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        if targets.ndim == 1 and outputs.ndim == 2:
            targets = one_hot(targets, outputs.shape[1], dtype=outputs.dtype)
        self._diff = outputs - targets
        return float(np.mean(self._diff * self._diff))

    def backward(self) -> np.ndarray:
        return self._diff * (2.0 / self._diff.size)


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused: takes raw outputs (logits).

    For logits ``z (N, C)`` and a target distribution ``q (N, C)`` per row::

        p = softmax(z)
        L = mean_i( -sum_c q_ic * log p_ic )
          = mean_i( sum_c q_ic * (logsumexp(z_i) - z_ic) )

    Targets are integer labels ``(N,)`` (``q`` is then one-hot) or one-hot /
    probability rows ``(N, C)``. With ``label_smoothing = eps``, the target is
    mixed with the uniform distribution: ``q = (1 - eps) * q + eps / C``, exactly
    as ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``.

    The gradient is the famous simplification. With ``s_i = sum_c q_ic`` (1 for
    proper targets), ``dL_i/dz_ic = s_i * p_ic - q_ic`` since
    ``d logsumexp(z_i) / dz_ic = p_ic``; averaging over the batch divides by N::

        dL/dz = (p - q) / N        (for rows of q that sum to 1)

    No division by ``p`` ever happens, which is why the fused form is both
    cheaper and stable where ``log(softmax(z))`` computed separately is not.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = check_float_in_range(
            label_smoothing, "label_smoothing", 0.0, 1.0, high_inclusive=True
        )
        self._probs: np.ndarray | None = None
        self._targets: np.ndarray | None = None
        self._arange = np.arange(0)

    def _rows(self, n: int) -> np.ndarray:
        """``np.arange(n)``, the row index of every label, kept from batch to batch."""
        rows = self._arange
        if rows.shape[0] != n:
            if rows.shape[0] < n:
                self._arange = rows = np.arange(n)
            rows = rows[:n]
        return rows

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        n, c = outputs.shape
        # np.maximum.reduce and np.add.reduce are .max() and .sum() without their Python
        # wrappers, which cost as much as the work itself on a small batch
        shifted = outputs - np.maximum.reduce(outputs, axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = np.add.reduce(exp, axis=1, keepdims=True)
        log_sums = np.log(sums)  # log-sum-exp of the shifted row
        eps = self.label_smoothing
        if targets.ndim == 1:
            # -log p_iy = log_sums_i - shifted_iy; sums as Python floats (cheaper than NumPy scalars)
            total_log_sums = float(np.add.reduce(log_sums, axis=None))
            nll = total_log_sums - float(np.add.reduce(shifted[self._rows(n), targets]))
            if eps:
                # uniform part: mean over classes of -log p_ic
                smooth = c * total_log_sums - float(shifted.sum())
                loss = ((1.0 - eps) * nll + eps * smooth / c) / n
            else:
                loss = nll / n
        else:
            q = targets if not eps else targets * (1.0 - eps) + eps / c
            loss = float(np.sum(q * (log_sums - shifted))) / n
        exp /= sums  # exp now holds p = softmax(outputs); reused by backward
        self._probs = exp
        self._targets = targets
        return float(loss)

    def backward(self) -> np.ndarray:
        p, targets = self._probs, self._targets
        n, c = p.shape
        eps = self.label_smoothing
        if targets.ndim == 1:
            grad = p * (1.0 / n) if not eps else p * (1.0 / n) - eps / (c * n)
            grad[self._rows(n), targets] -= (1.0 - eps) / n
            return grad
        q = targets if not eps else targets * (1.0 - eps) + eps / c
        return (p * q.sum(axis=1, keepdims=True) - q) / n

    def get_config(self) -> dict:
        return {"label_smoothing": self.label_smoothing}


_LOSS_TYPES = {cls.__name__: cls for cls in (MeanSquaredError, SoftmaxCrossEntropy)}


def loss_from_config(kind: str, config: dict) -> Loss:
    """Build a loss from its class name and ``get_config()`` dict (used when loading)."""
    if kind not in _LOSS_TYPES:
        raise ValueError(f"unknown loss type {kind!r}; expected one of {sorted(_LOSS_TYPES)}")
    return _LOSS_TYPES[kind](**config)
