r"""Embeddings: integer ids to learned vectors (``Embedding``), and learned positions added to them.

An embedding is a table lookup. Row ``i`` of a weight matrix ``W (V, D)`` is the
vector of token ``i``; a batch of ids ``(N, T)`` becomes ``W[ids]`` of shape
``(N, T, D)``. The lookup is the product of a one-hot matrix with ``W``::

    y[n, t] = W[ids[n, t]] = onehot(ids[n, t]) @ W

so its backward is the transposed product, ``dL/dW = onehot(ids).T @ g``: every
occurrence of token ``i`` adds its gradient into row ``i``. A token repeated in a
batch must *accumulate*; ``dW[ids] += g`` in NumPy does not (buffered fancy
indexing writes each repeated row once), which is the classic embedding bug.

A GPT adds a second table of *positions* (GPT-2's ``wpe``): position ``t`` has its
own learned vector ``P[t]``, added to the token's, so the attention that follows
can tell "the same letter, three steps back" from "the same letter, here".
"""

from __future__ import annotations

import numbers

import numpy as np

from ..validation import check_positive_int, check_random_state
from .base import Layer, check_dtype

__all__ = ["ONE_HOT_LIMIT", "Embedding", "PositionalEmbedding"]

#: Largest one-hot matrix (ids in the batch x vocabulary) the embedding's backward builds;
#: beyond it the backward accumulates with ``np.add.at``.
ONE_HOT_LIMIT = 1 << 22


def check_ids(ids, num_embeddings: int) -> np.ndarray:
    """``ids`` as an integer array; ``ValueError``/``TypeError`` unless each is in ``[0, num_embeddings)``.

    Float arrays holding whole numbers are accepted (a network's inputs arrive as
    floats), so a float id such as 2.5 is an error rather than silently truncated.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind == "f":
        as_int = ids.astype(np.intp)
        if not np.array_equal(as_int, ids):
            raise ValueError("Embedding expects integer ids, got non-integer values")
        ids = as_int
    elif ids.dtype.kind not in "iu":
        raise TypeError(f"Embedding expects an array of integer ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_embeddings):
        bad = ids[(ids < 0) | (ids >= num_embeddings)][0]
        raise ValueError(f"Embedding ids must be in [0, {num_embeddings}), got {bad}")
    return ids


class Embedding(Layer):
    """A table of ``num_embeddings`` learned vectors of ``embedding_dim``, indexed by integer ids.

    Shapes: ids ``(N, T)`` (or any shape ``S``), ``weight (num_embeddings, D)``,
    output ``(N, T, D)`` (``S + (D,)``). As ``torch.nn.Embedding``: the weight
    starts as a standard normal draw, and the row ``padding_idx`` (if given;
    negative counts from the end) starts at zero and never gets a gradient, so a
    padding token stays the zero vector.

    Backward, with ``g = dL/dy`` of shape ``(N, T, D)``::

        dL/dW = onehot(ids).T @ g        (V, D): row i sums the gradients of every occurrence of i

    The ids are integers: there is no gradient with respect to them, and
    ``backward`` returns ``None``.
    """

    takes_sequences = True

    param_names = ("weight",)

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        padding_idx: int | None = None,
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise TypeError(f"padding_idx must be an integer or None, got {padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"padding_idx must be in [-{self.num_embeddings}, {self.num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.dtype = check_dtype(dtype)
        rng = check_random_state(seed)
        self.weight = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            self.weight[padding_idx] = 0.0
        self.dweight = np.zeros_like(self.weight)
        self.params = [self.weight]
        self.grads = [self.dweight]
        self._ids: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        ids = self._ids = check_ids(x, self.num_embeddings)
        return np.take(self.weight, ids, axis=0)  # W[ids]: (N, T, D)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> None:
        ids = self._ids.reshape(-1)
        g = grad_out.reshape(-1, self.embedding_dim)
        if ids.shape[0] * self.num_embeddings <= ONE_HOT_LIMIT:
            # dW = onehot(ids).T @ g: one BLAS product, 5x faster than np.add.at for a small vocabulary
            onehot = np.zeros((ids.shape[0], self.num_embeddings), dtype=self.dtype)
            onehot[np.arange(ids.shape[0]), ids] = 1.0
            np.matmul(onehot.T, g, out=self.dweight)
        else:
            self.dweight[...] = 0.0
            np.add.at(self.dweight, ids, g)  # unbuffered: a repeated id adds every time
        if self.padding_idx is not None:
            self.dweight[self.padding_idx] = 0.0
        return None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        return None if in_shape is None else (*in_shape, self.embedding_dim)

    def get_config(self) -> dict:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        n = check_positive_int(config["num_embeddings"], "num_embeddings")
        return [(n, check_positive_int(config["embedding_dim"], "embedding_dim"))]


class PositionalEmbedding(Layer):
    """Learned positions added to a sequence: ``y[n, t] = x[n, t] + P[t]``, as GPT-2's ``wpe``.

    Shapes: ``x (N, T, dim)`` with ``T <= max_length``, ``P (max_length, dim)``,
    ``y`` like ``x``. ``P`` starts as a standard normal draw, as a
    ``torch.nn.Embedding`` (GPT-2's ``wpe``) does.

    Backward, with ``g = dL/dy``::

        dL/dP[t] = sum_n g[n, t]    for t < T, and 0 for the positions the batch did not reach
        dL/dx    = g
    """

    takes_sequences = True

    param_names = ("weight",)

    def __init__(self, max_length: int, dim: int, *, seed=None, dtype=np.float32) -> None:
        super().__init__()
        self.max_length = check_positive_int(max_length, "max_length")
        self.dim = check_positive_int(dim, "dim")
        self.dtype = check_dtype(dtype)
        rng = check_random_state(seed)
        self.weight = rng.standard_normal((self.max_length, self.dim)).astype(self.dtype)
        self.dweight = np.zeros_like(self.weight)
        self.params = [self.weight]
        self.grads = [self.dweight]
        self._length = 0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 3 or x.shape[2] != self.dim:
            raise ValueError(
                f"PositionalEmbedding expects (N, T, {self.dim}), got an array of shape {x.shape}"
            )
        t = x.shape[1]
        if t > self.max_length:
            raise ValueError(
                f"PositionalEmbedding holds max_length={self.max_length} positions, "
                f"got a sequence of {t} steps"
            )
        self._length = t
        return x + self.weight[:t]  # P[:T] broadcast over the batch

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        t = self._length
        np.add.reduce(grad_out, axis=0, out=self.dweight[:t])  # sum over the batch
        self.dweight[t:] = 0.0
        return grad_out if input_grad else None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        """``in_shape`` itself; for an unknown input, the longest sequence it accepts, ``(max_length, dim)``.

        The longest is what a network needs to bound the memory of a batch, and
        it tells the layers after it that they receive sequences.
        """
        if in_shape is None:
            return (self.max_length, self.dim)
        if len(in_shape) != 2 or in_shape[1] != self.dim or in_shape[0] > self.max_length:
            raise ValueError(
                f"PositionalEmbedding expects sequences (T <= {self.max_length}, {self.dim}), "
                f"but the previous layer outputs samples of shape {tuple(in_shape)}"
            )
        return in_shape

    def get_config(self) -> dict:
        return {"max_length": self.max_length, "dim": self.dim, "dtype": self.dtype.name}

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return [
            (check_positive_int(config["max_length"], "max_length"), check_positive_int(config["dim"], "dim"))
        ]
