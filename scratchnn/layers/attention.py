r"""Multi-head self-attention, with the parameters of ``torch.nn.MultiheadAttention``.

Every position of a sequence ``x (N, T, E)`` asks a question (its query), every
position offers an answer (its value) under a label (its key); a position's
output is the average of the values, weighted by how well each key matches its
query. With ``H`` heads of width ``Dh = E / H`` this happens ``H`` times side by
side on ``Dh``-wide slices, and the heads' outputs are joined and mixed by one
more projection. Forward, with torch's layout of the weights (``y = x @ W.T + b``)::

    q, k, v = split(x @ W_in.T + b_in)         W_in (3E, E): W_q, W_k, W_v stacked; each (N, H, T, Dh)
    s = q @ k.T / sqrt(Dh)                     scores (N, H, T, T): query i against key j
    s[i, j] = -inf where j may not be seen     causal: j > i; padded keys: j >= lengths[n]
    p = softmax(s) over j                      attention weights (N, H, T, T); rows sum to 1
    a = dropout(p)                             while training, if dropout > 0
    o = a @ v                                  (N, H, T, Dh), joined to (N, T, E)
    y = o @ W_out.T + b_out                    (N, T, E)

Backward, each line under the forward line it differentiates, ``g = dL/dy``::

    y = o @ W_out.T + b_out:   dW_out = g.T @ o,  db_out = sum g,  do = g @ W_out
    o = a @ v:                 da = do @ v.T,  dv = a.T @ do
    a = dropout(p):            dp = da * mask / (1 - rate)
    p = softmax(s):            ds = p * (dp - sum_j(dp * p))
    s = q @ k.T / sqrt(Dh):    dq = ds @ k / sqrt(Dh),  dk = ds.T @ q / sqrt(Dh)
    qkv = x @ W_in.T + b_in:   dW_in = dqkv.T @ x,  db_in = sum dqkv,  dx = dqkv @ W_in

The softmax's backward, derived. For one row, ``p_j = exp(s_j) / sum_k exp(s_k)``
has the Jacobian ``dp_j/ds_i = p_j (delta_ij - p_i)``, so::

    ds_i = sum_j dp_j * p_j * (delta_ij - p_i) = p_i * dp_i - p_i * sum_j dp_j p_j
         = p_i * (dp_i - sum_j dp_j p_j)

one element-wise product and one sum per row, no ``(T, T)`` Jacobian per row. A
masked key has ``p_j = 0`` exactly (``exp(-inf)``), so its ``ds_j`` is 0: no
gradient reaches a key the query could not see.

A fully masked row (a sequence of length 0) would be ``exp(-inf) / 0``: NaN in
torch. Here its row maximum is taken as 0 and its sum as 1, so its weights are
all 0, its output ``o`` is 0 (``y`` is ``b_out``), and its gradient is 0: finite,
without a warning, and harmless to the rest of the batch.

Variable lengths: a padded batch comes with ``lengths (N,)`` (the number of real
steps of each sequence), given by ``layer.set_lengths(lengths)`` before the
forward pass (``NeuralNetwork.forward(x, lengths=...)`` does it for every layer;
the command line and ``.npz`` files carry them as an array ``lengths``). Keys at
or beyond a sequence's length are ignored; outputs at padded positions are
computed but mean nothing (a loss ignores them). ``None``: every sequence is full.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_float_in_range, check_positive_int, check_random_state
from .base import Layer, check_dtype

__all__ = ["MultiHeadAttention", "check_lengths", "masked_softmax"]


def check_lengths(lengths) -> np.ndarray | None:
    """``lengths`` as a 1-D integer array of values >= 0 (or None), else ``ValueError``/``TypeError``."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.dtype.kind == "f" and np.all(np.isfinite(lengths)) and np.all(lengths == np.round(lengths)):
        lengths = lengths.astype(np.intp)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got an array of dtype {lengths.dtype}")
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be a 1-D array (one length per sequence), got shape {lengths.shape}")
    if lengths.size and lengths.min() < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.min()}")
    return lengths.astype(np.intp, copy=False)


def _row_sums(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=-1, keepdims=True)`` as the product ``a @ ones(T)``: one BLAS call per matrix,
    many times faster than a NumPy reduction along the last axis."""
    return np.matmul(a, np.ones(a.shape[-1], dtype=a.dtype))[..., None]


def masked_softmax(s: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis of ``s`` where ``allowed`` (broadcast to ``s``), 0 elsewhere; in place.

    The row maximum of the allowed entries is subtracted first, so no ``exp``
    overflows. A row with no allowed entry comes out all 0 (not NaN): its
    maximum is taken as 0 and its sum as 1.
    """
    if allowed is not None:
        np.copyto(s, -np.inf, where=~allowed)  # exp(-inf) = 0: masked entries get no weight
    row_max = np.maximum.reduce(s, axis=-1, keepdims=True)
    if allowed is not None:
        row_max[np.isneginf(row_max)] = 0.0  # a fully masked row: -inf - (-inf) would be NaN
    s -= row_max
    np.exp(s, out=s)
    sums = _row_sums(s)
    if allowed is not None:
        sums[sums == 0.0] = 1.0  # a fully masked row: 0 / 1 = 0, not 0 / 0
    s /= sums
    return s


class MultiHeadAttention(Layer):
    """Multi-head self-attention over sequences ``x (N, T, embed_dim)``, as ``torch.nn.MultiheadAttention``.

    Parameters, in the order of torch's ``named_parameters()`` and with its shapes::

        in_proj_weight   (3E, E)   W_q, W_k, W_v stacked: q = x @ W_q.T + b_q
        in_proj_bias     (3E,)
        out_proj_weight  (E, E)    torch's out_proj.weight
        out_proj_bias    (E,)      torch's out_proj.bias

    (``bias=False``: the two weights only.) Initialised as torch: ``in_proj_weight``
    Xavier-uniform, ``out_proj_weight`` uniform in ``+-1/sqrt(E)``, biases 0.

    ``causal=True``: position ``i`` sees keys ``j <= i`` only (a language model
    must not see the future). ``dropout``: the rate at which attention weights
    are zeroed while training (the rest scaled by ``1 / (1 - rate)``), as torch.
    ``set_lengths(lengths)``: the real lengths of a padded batch (module docstring).
    Math and the derivation of the backward: see the module docstring.
    """

    takes_sequences = True

    param_names = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        causal: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got {self.embed_dim} and {self.num_heads}"
            )
        for name, value in (("causal", causal), ("bias", bias)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        self.causal, self.bias = bool(causal), bool(bias)
        self.dropout = check_float_in_range(dropout, "dropout", 0.0, 1.0)
        self.dtype = check_dtype(dtype)
        self.rng = check_random_state(seed)
        e = self.embed_dim
        bound_in = math.sqrt(6.0 / (e + 3 * e))  # Xavier-uniform of a (3E, E) matrix
        self.in_proj_weight = self.rng.uniform(-bound_in, bound_in, (3 * e, e)).astype(self.dtype)
        self.out_proj_weight = self.rng.uniform(-1 / math.sqrt(e), 1 / math.sqrt(e), (e, e)).astype(
            self.dtype
        )
        self.params = [self.in_proj_weight]
        if self.bias:
            self.in_proj_bias = np.zeros(3 * e, dtype=self.dtype)
            self.params.append(self.in_proj_bias)
        self.params.append(self.out_proj_weight)
        if self.bias:
            self.out_proj_bias = np.zeros(e, dtype=self.dtype)
            self.params.append(self.out_proj_bias)
        self.grads = [np.zeros_like(p) for p in self.params]
        if not self.bias:
            self.param_names = self.param_names[::2]
        self.lengths: np.ndarray | None = None
        self._cache: tuple | None = None

    @property
    def attention_weights(self) -> np.ndarray | None:
        """The weights ``p (N, H, T, T)`` of the last forward pass (before dropout): row ``i`` of head
        ``h`` says how much query ``i`` took from each key. None before any forward pass."""
        return None if self._cache is None else self._cache[4]

    def set_lengths(self, lengths) -> None:
        """Keep the real lengths ``(N,)`` of the next batches' sequences (None: all full length)."""
        self.lengths = check_lengths(lengths)

    def _allowed(self, n: int, t: int) -> np.ndarray | None:
        """Which keys each query may see, broadcastable to the scores ``(N, H, T, T)``; None: all of them."""
        allowed = None
        if self.causal:
            allowed = np.tri(t, dtype=bool)  # [i, j] = j <= i
        if self.lengths is not None:
            if self.lengths.shape[0] != n:
                raise ValueError(
                    f"lengths holds {self.lengths.shape[0]} lengths for a batch of {n} sequences"
                )
            if self.lengths.size and self.lengths.max() > t:
                raise ValueError(f"lengths must be <= the sequence length {t}, got {self.lengths.max()}")
            keys = (np.arange(t) < self.lengths[:, None])[:, None, None, :]  # (N, 1, 1, T)
            allowed = keys if allowed is None else allowed & keys
        return allowed

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 3 or x.shape[2] != self.embed_dim:
            raise ValueError(
                f"MultiHeadAttention expects (N, T, {self.embed_dim}), got an array of shape {x.shape}"
            )
        n, t, e = x.shape
        h, dh = self.num_heads, e // self.num_heads
        w_in, w_out = self.in_proj_weight, self.out_proj_weight
        x2 = x.reshape(n * t, e)
        qkv = np.dot(x2, w_in.T)  # q, k, v = split(x @ W_in.T + b_in)
        if self.bias:
            qkv += self.in_proj_bias
        # (N*T, 3E) viewed as (3, N, H, T, Dh): views, no copy; each (T, Dh) slice is a BLAS-ready matrix
        q, k, v = qkv.reshape(n, t, 3, h, dh).transpose(2, 0, 3, 1, 4)
        scale = 1.0 / math.sqrt(dh)
        s = np.matmul(q, k.swapaxes(-1, -2))  # s = q @ k.T / sqrt(Dh)
        s *= scale
        p = masked_softmax(s, self._allowed(n, t))  # p = softmax(s), masked; in place of s
        a, mask = p, None
        if training and self.dropout > 0:  # a = dropout(p)
            mask = (self.rng.random(p.shape) >= self.dropout).astype(self.dtype)
            mask *= 1.0 / (1.0 - self.dropout)
            a = p * mask
        o = np.matmul(a, v)  # o = a @ v: (N, H, T, Dh)
        o2 = o.transpose(0, 2, 1, 3).reshape(n * t, e)  # heads joined: (N*T, E)
        y = np.dot(o2, w_out.T)  # y = o @ W_out.T + b_out
        if self.bias:
            y += self.out_proj_bias
        self._cache = (x2, q, k, v, p, a, mask, o2, scale)
        return y.reshape(n, t, e)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self._cache is None:
            raise RuntimeError("MultiHeadAttention.backward needs a forward pass first")
        x2, q, k, v, p, a, mask, o2, scale = self._cache
        n, h, t, dh = q.shape
        e = self.embed_dim
        dw_in, *rest = self.grads
        db_in, dw_out, db_out = rest if self.bias else (None, rest[0], None)
        g = grad_out.reshape(n * t, e)
        # y = o @ W_out.T + b_out
        np.dot(g.T, o2, out=dw_out)
        if self.bias:
            np.add.reduce(g, axis=0, out=db_out)
        do = np.dot(g, self.out_proj_weight).reshape(n, t, h, dh).transpose(0, 2, 1, 3)
        # o = a @ v;  qkv's gradient is filled in place, laid out as qkv: (N, T, 3, H, Dh)
        dqkv = np.empty((n, t, 3, h, dh), dtype=q.dtype)
        dq, dk, dv = dqkv.transpose(2, 0, 3, 1, 4)
        np.matmul(a.swapaxes(-1, -2), do, out=dv)  # dv = a.T @ do
        dp = np.matmul(do, v.swapaxes(-1, -2))  # da = do @ v.T
        # a = dropout(p)
        if mask is not None:
            dp *= mask
        # p = softmax(s):  ds = p * (dp - sum_j dp * p)
        ds = dp * p
        dp -= _row_sums(ds)
        np.multiply(dp, p, out=ds)
        # s = q @ k.T * scale
        ds *= scale
        np.matmul(ds, k, out=dq)  # dq = ds @ k
        np.matmul(ds.swapaxes(-1, -2), q, out=dk)  # dk = ds.T @ q
        # qkv = x @ W_in.T + b_in
        dqkv2 = dqkv.reshape(n * t, 3 * e)
        np.dot(dqkv2.T, x2, out=dw_in)
        if self.bias:
            np.add.reduce(dqkv2, axis=0, out=db_in)
        return np.dot(dqkv2, self.in_proj_weight).reshape(n, t, e) if input_grad else None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is not None and (len(in_shape) != 2 or in_shape[1] != self.embed_dim):
            raise ValueError(
                f"MultiHeadAttention expects sequences (T, {self.embed_dim}), but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return in_shape

    def activation_sizes(self, in_shape: tuple | None) -> list[int]:
        """Values per sample forward builds: ``q, k, v`` (3TE), the weights (HT^2), the output (TE)."""
        if in_shape is None:
            return []
        t, e = self.output_shape(in_shape)
        return [3 * t * e, self.num_heads * t * t, t * e]

    def get_config(self) -> dict:
        return {
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "causal": self.causal,
            "dropout": self.dropout,
            "bias": self.bias,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        e = check_positive_int(config["embed_dim"], "embed_dim")
        heads = check_positive_int(config["num_heads"], "num_heads")
        if e % heads:  # refused here too, so that a model file's is refused naming the layer
            raise ValueError(f"MultiHeadAttention: embed_dim {e} is not divisible by num_heads {heads}")
        if config.get("bias", True):
            return [(3 * e, e), (3 * e,), (e, e), (e,)]
        return [(3 * e, e), (e, e)]

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        names = cls.param_names if config.get("bias", True) else cls.param_names[::2]  # the weights only
        return [(name, shape, False) for name, shape in zip(names, cls.array_shapes(config))]
