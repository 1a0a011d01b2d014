"""Recurrent layers, with backpropagation through time: what they share, and the RNN.

The gated layers, LSTM and GRU, are in ``gated_recurrent``; everything below
about shapes, parameters, lengths and speed holds for all three.

Each is one layer of PyTorch's ``torch.nn.RNN``/``LSTM``/``GRU`` with
``batch_first=True``: sequences ``x (N, T, F)`` (N sequences, T steps, F input
features) map to hidden states ``(N, T, H)``, or with
``return_sequences=False`` to the state at each sequence's last real step
``(N, H)``. Stack layers for depth.

Parameters, named and laid out as PyTorch's layer 0 (``weight_ih_l0`` and so on),
so weights copy across; ``G`` is the number of gates (1, 4 or 3)::

    weight_ih (G*H, F)   weight_hh (G*H, H)   bias_ih (G*H,)   bias_hh (G*H,)

all initialised from ``uniform(-1/sqrt(H), 1/sqrt(H))``, as PyTorch does. The two
biases are redundant for RNN and LSTM (only their sum matters) but not for GRU,
whose reset gate multiplies the hidden part ``W_hn h + b_hn`` only.

**Variable lengths.** A batch of sequences of different lengths is padded to
the longest, and the lengths go to the layer before the forward pass::

    layer.set_lengths(lengths)   # int array (N,), 1 <= lengths[n] <= T; None: all full
    y = layer.forward(x_padded)

(a network's ``forward(x, lengths=...)`` makes that call for every layer; the
command line and ``.npz`` files carry the lengths as an array ``lengths``). A
sequence's state stops changing after its last real step, its outputs at padded
steps are 0 (as PyTorch's packed sequences give after
``pad_packed_sequence``), and ``return_sequences=False`` returns the state at
its last real step. The lengths stay set until the next ``set_lengths``.

**Speed.** The input projections ``x_t @ W_ih.T + b`` of all T steps are one
matrix product before the loop; only ``h_{t-1} @ W_hh.T`` and element-wise work
remain per step. Backward mirrors it: the loop only carries gradients back
through time, and the weight gradients are single products over all steps after
the loop (``dW_ih = sum_t dA_t.T @ x_t`` as one ``(G*H, N*T) @ (N*T, F)``).
The arrays below are time-major, ``(T, N, ...)``, so that a step is contiguous.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_positive_int, check_random_state
from .base import Layer, check_dtype

__all__ = ["RNN", "check_lengths"]


def check_lengths(lengths, n: int, t: int) -> np.ndarray | None:
    """``lengths`` as an int array ``(n,)`` with ``1 <= lengths <= t``, or ``ValueError``/``TypeError``."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be an array of integers, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"lengths must have shape ({n},), one per sequence, got {arr.shape}")
    if n and (arr.min() < 1 or arr.max() > t):
        raise ValueError(f"lengths must be between 1 and the padded length {t}, got {arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def _step_masks(lengths: np.ndarray | None, n: int, t: int, dtype) -> np.ndarray | None:
    """``(T, N, 1)`` 1.0 where step t is a real step of sequence n, else 0.0; None if all are real."""
    if lengths is None or (lengths == t).all():
        return None
    return (np.arange(t)[:, None] < lengths[None, :]).astype(dtype)[:, :, None]


class _Recurrent(Layer):
    """What RNN, LSTM and GRU share: parameters, lengths, the input projection, the weight gradients.

    A subclass sets ``gates`` and writes ``_loop(xp, masks)`` (forward through
    time: hidden states ``(T+1, N, H)``, ``[0]`` the zero initial state) and
    ``_loop_backward(dh, dys, masks)`` (back through time: the gradients with
    respect to the input-side and hidden-side pre-activations, ``(T, N, G*H)``
    each, which may be the same array).
    """

    takes_sequences = True

    gates = 1
    param_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # as torch.nn.RNN/LSTM/GRU's layer 0

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        return_sequences: bool = True,
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        if not isinstance(return_sequences, bool):
            raise TypeError(f"return_sequences must be True or False, got {return_sequences!r}")
        self.return_sequences = return_sequences
        self.dtype = check_dtype(dtype)
        rng = check_random_state(seed)
        k = 1.0 / math.sqrt(self.hidden_size)
        shapes = self.array_shapes(self.get_config())
        self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh = (
            rng.uniform(-k, k, shape).astype(self.dtype) for shape in shapes
        )
        self.params = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        self.grads = [np.zeros_like(p) for p in self.params]
        self._lengths: np.ndarray | None = None
        self._cache: tuple | None = None
        self._work: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple, zero_first: bool = False) -> np.ndarray:
        """A work array kept from call to call (reallocated when the shape changes).

        Reusing the per-step arrays instead of allocating them for every batch saves
        the operating system's first-touch cost of fresh pages, which is of the order
        of the arithmetic itself at these sizes. ``zero_first`` zeroes the first
        entry along axis 0 (the initial state).
        """
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape, dtype=self.dtype)
        if zero_first:
            buf[0] = 0
        return buf

    # -- lengths and shapes ---------------------------------------------------
    def set_lengths(self, lengths: np.ndarray | None) -> None:
        """Real lengths ``(N,)`` of the next batches' sequences (None: every sequence is full)."""
        self._lengths = None if lengths is None else np.asarray(lengths)

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None if self.return_sequences else (self.hidden_size,)
        in_shape = tuple(in_shape)
        if len(in_shape) != 2 or in_shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} layer expects sequences of shape (T, {self.input_size}), "
                f"got samples of shape {in_shape}"
            )
        return (in_shape[0], self.hidden_size) if self.return_sequences else (self.hidden_size,)

    def get_config(self) -> dict:
        return {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "return_sequences": self.return_sequences,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        f = check_positive_int(config["input_size"], "input_size")
        h = check_positive_int(config["hidden_size"], "hidden_size")
        gh = cls.gates * h
        return [(gh, f), (gh, h), (gh,), (gh,)]

    # -- the passes -------------------------------------------------------------
    def _input_bias(self) -> np.ndarray:
        """The bias added to the input projection before the loop (RNN, LSTM: both biases)."""
        return self.bias_ih + self.bias_hh

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} layer expects x of shape (N, T, {self.input_size}), got {x.shape}"
            )
        n, t, f = x.shape
        lengths = check_lengths(self._lengths, n, t)
        masks = _step_masks(lengths, n, t, self.dtype)
        # time-major copy: step t is the contiguous block xs[t] (N, F)
        xs = self._buffer("xs", (t, n, f))
        np.copyto(xs, x.transpose(1, 0, 2))
        # the input projections of every step in one product: xp[t] = x_t @ W_ih.T + b
        xp = self._buffer("xp", (t * n, self.gates * self.hidden_size))
        np.dot(xs.reshape(t * n, f), self.weight_ih.T, out=xp)
        xp += self._input_bias()
        hs = self._loop(xp.reshape(t, n, -1), masks)  # (T+1, N, H), hs[0] = 0
        self._cache = (xs, hs, masks)
        if not self.return_sequences:
            return hs[t].copy()  # the frozen state is the state at the last real step
        ys = hs[1:] if masks is None else hs[1:] * masks  # outputs at padded steps are 0
        return np.ascontiguousarray(ys.transpose(1, 0, 2))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        xs, hs, masks = self._cache
        t, n, f = xs.shape
        if self.return_sequences:
            dys = grad_out.transpose(1, 0, 2)  # (T, N, H) view: read, never written
            dh = np.zeros((n, self.hidden_size), dtype=self.dtype)
        else:
            dys = None
            dh = np.array(grad_out, dtype=self.dtype)  # a copy: the loop updates it
        dax, dah = self._loop_backward(dh, dys, masks)
        dax2 = dax.reshape(t * n, -1)
        dah2 = dah.reshape(t * n, -1)
        ones = np.ones(t * n, dtype=self.dtype)
        # xp = x @ W_ih.T + b_ih (all steps at once)
        np.dot(dax2.T, xs.reshape(t * n, f), out=self.grads[0])  # dW_ih = sum_t da_t.T @ x_t
        np.dot(ones, dax2, out=self.grads[2])  # db_ih = sum over steps and batch (ones @ da: one BLAS call)
        # hp_t = h_{t-1} @ W_hh.T + b_hh (per step, summed here as one product)
        np.dot(dah2.T, hs[:-1].reshape(t * n, -1), out=self.grads[1])  # dW_hh = sum_t da_t.T @ h_{t-1}
        np.dot(ones, dah2, out=self.grads[3])  # db_hh
        if not input_grad:
            return None
        dxs = self._buffer("dxs", (t * n, f))
        np.dot(dax2, self.weight_ih, out=dxs)  # dx_t = da_t @ W_ih
        return np.ascontiguousarray(dxs.reshape(t, n, f).transpose(1, 0, 2))

    def _loop(self, xp: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _loop_backward(self, dh, dys, masks) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class RNN(_Recurrent):
    """Elman RNN layer, as one layer of ``torch.nn.RNN(batch_first=True)``.

    Forward, for each step t with ``h_0 = 0``::

        h_t = act(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)      act = tanh or relu

    Shapes: ``x (N, T, F)``, ``W_ih (H, F)``, ``W_hh (H, H)``, ``b_ih, b_hh (H,)``,
    ``h_t (N, H)``; output ``(N, T, H)`` (``return_sequences``) or ``(N, H)``.

    Backward through time, with ``a_t`` the pre-activation and ``dh`` the
    gradient arriving at ``h_t`` (from the output at t and from step t+1)::

        da_t = dh * (1 - h_t**2)         (tanh)    or   dh * (h_t > 0)   (relu)
        dh_{t-1} = da_t @ W_hh           (carried to the step before)
        dW_ih = sum_t da_t.T @ x_t,  dW_hh = sum_t da_t.T @ h_{t-1},  db_ih = db_hh = sum_t da_t
        dx_t = da_t @ W_ih

    Variable lengths: pad the batch to its longest sequence and call
    ``layer.set_lengths(lengths)`` (int array ``(N,)``) before ``forward``; a
    sequence's state then stops at its last real step (``scratchnn.layers.recurrent``).
    """

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        return_sequences: bool = True,
        seed=None,
        dtype=np.float32,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, return_sequences=return_sequences, seed=seed, dtype=dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "nonlinearity": self.nonlinearity}

    def _loop(self, xp, masks):
        t, n, h = xp.shape
        hs = self._buffer("hs", (t + 1, n, h), zero_first=True)
        whh_t = self.weight_hh.T
        for s in range(t):
            a = np.dot(hs[s], whh_t)  # h_{t-1} @ W_hh.T
            a += xp[s]  # + x_t @ W_ih.T + b_ih + b_hh
            if self.nonlinearity == "tanh":
                np.tanh(a, out=hs[s + 1])  # h_t = tanh(a_t)
            else:
                np.maximum(a, 0, out=hs[s + 1])  # h_t = relu(a_t)
            if masks is not None:  # past its end a sequence keeps its state
                np.copyto(hs[s + 1], hs[s], where=masks[s] == 0)
        return hs

    def _loop_backward(self, dh, dys, masks):
        hs = self._cache[1]
        t = hs.shape[0] - 1
        das = self._buffer("das", (t, *dh.shape))
        for s in reversed(range(t)):
            if masks is not None:  # a padded step passes the state's gradient straight back
                carry = dh * (1 - masks[s])
            if dys is not None:
                dh += dys[s]  # the output at t reads h_t (and is 0 at a padded step: no gradient)
            if masks is not None:
                dh *= masks[s]
            # h_t = act(a_t)
            if self.nonlinearity == "tanh":
                np.multiply(dh, 1 - hs[s + 1] * hs[s + 1], out=das[s])  # da = dh * (1 - h^2)
            else:
                np.multiply(dh, hs[s + 1] > 0, out=das[s])  # da = dh * [h > 0]
            # a_t = h_{t-1} @ W_hh.T + ...
            dh = np.dot(das[s], self.weight_hh)  # dh_{t-1} = da @ W_hh
            if masks is not None:
                dh += carry
        return das, das
