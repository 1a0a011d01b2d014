"""Recurrent layers: RNN, LSTM and GRU, with backpropagation through time.

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

__all__ = ["GRU", "LSTM", "RNN", "check_lengths"]


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

    gates = 1

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
        xs = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=self.dtype)
        # the input projections of every step in one product: xp[t] = x_t @ W_ih.T + b
        xp = np.dot(xs.reshape(t * n, f), self.weight_ih.T)
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
        dxs = np.dot(dax2, self.weight_ih).reshape(t, n, f)  # dx_t = da_t @ W_ih
        return np.ascontiguousarray(dxs.transpose(1, 0, 2))

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

    Lengths: see the module docstring (``set_lengths``).
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
        hs = np.zeros((t + 1, n, h), dtype=self.dtype)
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
        das = np.empty((t, *dh.shape), dtype=self.dtype)
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


class LSTM(_Recurrent):
    """Long short-term memory layer, as one layer of ``torch.nn.LSTM(batch_first=True)``.

    Forward, gates in PyTorch's order i, f, g, o, with ``h_0 = c_0 = 0``::

        a_t = x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh       (N, 4H) = [a_i a_f a_g a_o]
        i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Shapes: ``x (N, T, F)``, ``W_ih (4H, F)``, ``W_hh (4H, H)``, ``b_ih, b_hh (4H,)``,
    ``h_t, c_t (N, H)``; output ``(N, T, H)`` (``return_sequences``) or ``(N, H)``.
    Each gate has its own slice of both biases: ``b_ih[H:2H] + b_hh[H:2H]`` is the
    forget gate's, and nothing else reads it.

    Backward through time, ``dh`` and ``dc`` arriving at ``h_t`` and ``c_t`` from
    the output at t and from step t+1::

        do = dh * tanh(c_t)
        dc = dc + dh * o * (1 - tanh(c_t)**2)      the cell's gradient accumulates across steps
        di = dc * g    df = dc * c_{t-1}    dg = dc * i
        dc_{t-1} = dc * f
        da = [di * i(1-i), df * f(1-f), dg * (1-g**2), do * o(1-o)]
        dh_{t-1} = da @ W_hh

    The sigmoids are computed as ``0.5 + 0.5 * tanh(a/2)`` (equal to
    ``1/(1+exp(-a))``, cannot overflow), so one ``tanh`` call covers all four gates.
    Lengths: see the module docstring (``set_lengths``).
    """

    gates = 4

    def _gate_constants(self):
        h = self.hidden_size
        half = np.full(4 * h, 0.5, dtype=self.dtype)
        half[2 * h : 3 * h] = 1.0  # the g gate is a plain tanh
        shift = np.full(4 * h, 0.5, dtype=self.dtype)
        shift[2 * h : 3 * h] = 0.0
        # d/da [0.5 + 0.5 tanh(a/2)] = 0.25 (1 - tanh(a/2)^2);  d/da tanh(a) = 1 - tanh(a)^2
        slope = half * half
        return half, shift, slope

    def _loop(self, xp, masks):
        t, n, gh = xp.shape
        h = gh // 4
        half, shift, _ = self._gate_constants()
        hs = np.zeros((t + 1, n, h), dtype=self.dtype)
        cs = np.zeros((t + 1, n, h), dtype=self.dtype)
        th = np.empty((t, n, gh), dtype=self.dtype)  # tanh(a/2) for i, f, o and tanh(a) for g
        acts = np.empty((t, n, gh), dtype=self.dtype)  # i, f, g, o
        tcs = np.empty((t, n, h), dtype=self.dtype)  # tanh(c_t)
        ig = np.empty((n, h), dtype=self.dtype)
        whh_t = self.weight_hh.T
        for s in range(t):
            a = np.dot(hs[s], whh_t)  # a = h_{t-1} @ W_hh.T
            a += xp[s]  #     + x_t @ W_ih.T + b_ih + b_hh
            a *= half
            np.tanh(a, out=th[s])
            np.multiply(th[s], half, out=acts[s])  # i, f, o = sigmoid(a) = 0.5 + 0.5 tanh(a/2); g = tanh(a)
            acts[s] += shift
            i, f, g, o = acts[s, :, :h], acts[s, :, h : 2 * h], acts[s, :, 2 * h : 3 * h], acts[s, :, 3 * h :]
            np.multiply(f, cs[s], out=cs[s + 1])  # c_t = f * c_{t-1}
            np.multiply(i, g, out=ig)
            cs[s + 1] += ig  #                     + i * g
            np.tanh(cs[s + 1], out=tcs[s])
            np.multiply(o, tcs[s], out=hs[s + 1])  # h_t = o * tanh(c_t)
            if masks is not None:  # past its end a sequence keeps its state
                keep = masks[s] == 0
                np.copyto(cs[s + 1], cs[s], where=keep)
                np.copyto(hs[s + 1], hs[s], where=keep)
        self._steps = (cs, th, acts, tcs)
        return hs

    def _loop_backward(self, dh, dys, masks):
        cs, th, acts, tcs = self._steps
        t, n, gh = acts.shape
        h = gh // 4
        _, _, slope = self._gate_constants()
        das = np.empty((t, n, gh), dtype=self.dtype)
        dc = np.zeros((n, h), dtype=self.dtype)
        tmp = np.empty((n, h), dtype=self.dtype)
        dth = np.empty((n, gh), dtype=self.dtype)
        for s in reversed(range(t)):
            i, f, g, o = acts[s, :, :h], acts[s, :, h : 2 * h], acts[s, :, 2 * h : 3 * h], acts[s, :, 3 * h :]
            da = das[s]
            if masks is not None:  # a padded step passes both states' gradients straight back
                keep = 1 - masks[s]
                carry_h, carry_c = dh * keep, dc * keep
                dc *= masks[s]
            if dys is not None:
                dh += dys[s]  # the output at t reads h_t (and is 0 at a padded step: no gradient)
            if masks is not None:
                dh *= masks[s]
            # h_t = o * tanh(c_t)
            np.multiply(dh, tcs[s], out=da[:, 3 * h :])  # do = dh * tanh(c_t)
            np.multiply(tcs[s], tcs[s], out=tmp)
            np.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp  # dc += dh * o * (1 - tanh(c_t)^2): accumulates across steps
            # c_t = f * c_{t-1} + i * g
            np.multiply(dc, g, out=da[:, :h])  # di = dc * g
            np.multiply(dc, cs[s], out=da[:, h : 2 * h])  # df = dc * c_{t-1}
            np.multiply(dc, i, out=da[:, 2 * h : 3 * h])  # dg = dc * i
            dc *= f  # dc_{t-1} = dc * f
            # i, f, o = 0.5 + 0.5 tanh(a/2); g = tanh(a)
            np.multiply(th[s], th[s], out=dth)
            np.subtract(1, dth, out=dth)
            dth *= slope
            da *= dth  # da = d(gate) * gate'(a)
            # a = h_{t-1} @ W_hh.T + ...
            dh = np.dot(da, self.weight_hh)  # dh_{t-1} = da @ W_hh
            if masks is not None:
                dh += carry_h
                dc += carry_c
        return das, das


class GRU(_Recurrent):
    """Gated recurrent unit layer, as one layer of ``torch.nn.GRU(batch_first=True)``.

    Forward, gates in PyTorch's order r, z, n, with ``h_0 = 0`` and the reset gate
    applied *after* the hidden product (PyTorch's form, not the original paper's)::

        ax = x_t @ W_ih.T + b_ih          hp = h_{t-1} @ W_hh.T + b_hh     (N, 3H) each
        r = sigmoid(ax_r + hp_r)
        z = sigmoid(ax_z + hp_z)
        n = tanh(ax_n + r * hp_n)
        h_t = (1 - z) * n + z * h_{t-1}

    Shapes: ``x (N, T, F)``, ``W_ih (3H, F)``, ``W_hh (3H, H)``, ``b_ih, b_hh (3H,)``;
    output ``(N, T, H)`` (``return_sequences``) or ``(N, H)``.

    Backward through time, ``dh`` arriving at ``h_t``::

        dz = dh * (h_{t-1} - n)     dn = dh * (1 - z)      dh_{t-1} = dh * z + ...
        dan = dn * (1 - n**2)       (input side, and b_in)
        dhp_n = dan * r             (hidden side: the reset gate scales it)
        dr = dan * hp_n
        dar = dr * r(1-r)    daz = dz * z(1-z)     (both sides alike)
        dh_{t-1} = dh * z + [dar, daz, dhp_n] @ W_hh

    Lengths: see the module docstring (``set_lengths``).
    """

    gates = 3

    def _input_bias(self) -> np.ndarray:
        return self.bias_ih  # b_hh is added to the hidden product: r scales its n part

    def _loop(self, xp, masks):
        t, n, gh = xp.shape
        h = gh // 3
        hs = np.zeros((t + 1, n, h), dtype=self.dtype)
        hps = np.empty((t, n, gh), dtype=self.dtype)  # h_{t-1} @ W_hh.T + b_hh
        rz = np.empty((t, n, 2 * h), dtype=self.dtype)
        ns = np.empty((t, n, h), dtype=self.dtype)
        whh_t = self.weight_hh.T
        for s in range(t):
            hp = hps[s]
            np.dot(hs[s], whh_t, out=hp)  # hp = h_{t-1} @ W_hh.T
            hp += self.bias_hh  #                  + b_hh
            a = xp[s, :, : 2 * h] + hp[:, : 2 * h]
            a *= 0.5
            np.tanh(a, out=rz[s])  # r, z = sigmoid(ax + hp) = 0.5 + 0.5 tanh(a/2)
            rz[s] *= 0.5
            rz[s] += 0.5
            r, z = rz[s, :, :h], rz[s, :, h:]
            an = r * hp[:, 2 * h :]  # n = tanh(ax_n + r * hp_n)
            an += xp[s, :, 2 * h :]
            np.tanh(an, out=ns[s])
            hn = hs[s + 1]
            np.subtract(hs[s], ns[s], out=hn)  # h_t = n + z * (h_{t-1} - n)
            hn *= z
            hn += ns[s]
            if masks is not None:  # past its end a sequence keeps its state
                np.copyto(hn, hs[s], where=masks[s] == 0)
        self._steps = (hps, rz, ns)
        return hs

    def _loop_backward(self, dh, dys, masks):
        hs = self._cache[1]
        hps, rz, ns = self._steps
        t, n, gh = hps.shape
        h = gh // 3
        dax = np.empty((t, n, gh), dtype=self.dtype)
        dah = np.empty((t, n, gh), dtype=self.dtype)
        for s in reversed(range(t)):
            r, z, nn = rz[s, :, :h], rz[s, :, h:], ns[s]
            if masks is not None:  # a padded step passes the state's gradient straight back
                carry = dh * (1 - masks[s])
            if dys is not None:
                dh += dys[s]  # the output at t reads h_t (and is 0 at a padded step: no gradient)
            if masks is not None:
                dh *= masks[s]
            # h_t = (1 - z) * n + z * h_{t-1}
            dz = dh * (hs[s] - nn)
            dn = dh * (1 - z)
            dh_direct = dh * z
            # n = tanh(ax_n + r * hp_n)
            np.multiply(dn, 1 - nn * nn, out=dax[s, :, 2 * h :])  # dan = dn * (1 - n^2)
            np.multiply(dax[s, :, 2 * h :], r, out=dah[s, :, 2 * h :])  # dhp_n = dan * r
            dr = dax[s, :, 2 * h :] * hps[s, :, 2 * h :]  # dr = dan * hp_n
            # r, z = sigmoid(ax + hp)
            np.multiply(dr, r * (1 - r), out=dax[s, :, :h])
            np.multiply(dz, z * (1 - z), out=dax[s, :, h : 2 * h])
            dah[s, :, : 2 * h] = dax[s, :, : 2 * h]
            # hp = h_{t-1} @ W_hh.T + b_hh
            dh = np.dot(dah[s], self.weight_hh)
            dh += dh_direct
            if masks is not None:
                dh += carry
        return dax, dah
