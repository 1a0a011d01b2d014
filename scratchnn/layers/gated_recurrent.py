"""The gated recurrent layers: LSTM and GRU, on the shared machinery of ``recurrent``.

Shapes, parameter layout (PyTorch's layer 0), variable lengths
(``set_lengths``) and the single input projection before the loop are as
described in ``scratchnn.layers.recurrent``.
"""

from __future__ import annotations

import numpy as np

from .recurrent import _Recurrent

__all__ = ["GRU", "LSTM"]


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
    Variable lengths: pad the batch to its longest sequence and call
    ``layer.set_lengths(lengths)`` (int array ``(N,)``) before ``forward``; a
    sequence's state then stops at its last real step (``scratchnn.layers.recurrent``).
    """

    gates = 4

    def _gate_constants(self):
        h = self.hidden_size
        half = np.full(4 * h, 0.5, dtype=self.dtype)
        half[2 * h : 3 * h] = 1.0  # the g gate is a plain tanh
        shift = np.full(4 * h, 0.5, dtype=self.dtype)
        shift[2 * h : 3 * h] = 0.0
        return half, shift

    def _loop(self, xp, masks):
        t, n, gh = xp.shape
        h = gh // 4
        half, shift = self._gate_constants()
        hs = self._buffer("hs", (t + 1, n, h), zero_first=True)
        cs = self._buffer("cs", (t + 1, n, h), zero_first=True)
        th = self._buffer("th", (t, n, gh))  # tanh(a/2) for i, f, o and tanh(a) for g
        acts = self._buffer("acts", (t, n, gh))  # i, f, g, o
        tcs = self._buffer("tcs", (t, n, h))  # tanh(c_t)
        ig = self._buffer("ig", (n, h))
        # the halving of a (for the sigmoids' tanh(a/2)) folded into the products, once:
        # half * (x W_ih.T + b + h W_hh.T) = half * (x W_ih.T + b) + h (half * W_hh.T)
        xp *= half
        whh_half = self.weight_hh.T * half
        for s in range(t):
            a = th[s]
            np.dot(hs[s], whh_half, out=a)  # a = h_{t-1} @ W_hh.T
            a += xp[s]  #                         + x_t @ W_ih.T + b_ih + b_hh   (both halved)
            np.tanh(a, out=a)
            np.multiply(a, half, out=acts[s])  # i, f, o = sigmoid(a) = 0.5 + 0.5 tanh(a/2); g = tanh(a)
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
        half, _ = self._gate_constants()
        # The local derivatives that do not depend on the incoming gradient, for all steps at once
        # (a few large array operations instead of many small ones inside the loop):
        # d/da [0.5 + 0.5 tanh(a/2)] = 0.25 (1 - tanh(a/2)^2);  d/da tanh(a) = 1 - tanh(a)^2
        dgate = self._buffer("dgate", th.shape)
        np.multiply(th, th, out=dgate)
        np.subtract(1, dgate, out=dgate)
        dgate *= half * half
        # h_t = o * tanh(c_t)  =>  dh_t/dc_t = o * (1 - tanh(c_t)^2)
        dhdc = self._buffer("dhdc", tcs.shape)
        np.multiply(tcs, tcs, out=dhdc)
        np.subtract(1, dhdc, out=dhdc)
        dhdc *= acts[:, :, 3 * h :]
        das = self._buffer("das", (t, n, gh))
        dc = np.zeros((n, h), dtype=self.dtype)
        tmp = self._buffer("tmp", (n, h))
        for s in reversed(range(t)):
            i, f, g = acts[s, :, :h], acts[s, :, h : 2 * h], acts[s, :, 2 * h : 3 * h]
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
            np.multiply(dh, dhdc[s], out=tmp)
            dc += tmp  # dc += dh * o * (1 - tanh(c_t)^2): the cell's gradient accumulates across steps
            # c_t = f * c_{t-1} + i * g
            np.multiply(dc, g, out=da[:, :h])  # di = dc * g
            np.multiply(dc, cs[s], out=da[:, h : 2 * h])  # df = dc * c_{t-1}
            np.multiply(dc, i, out=da[:, 2 * h : 3 * h])  # dg = dc * i
            dc *= f  # dc_{t-1} = dc * f
            # i, f, o = sigmoid(a); g = tanh(a)
            da *= dgate[s]  # da = d(gate) * gate'(a)
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

    Variable lengths: pad the batch to its longest sequence and call
    ``layer.set_lengths(lengths)`` (int array ``(N,)``) before ``forward``; a
    sequence's state then stops at its last real step (``scratchnn.layers.recurrent``).
    """

    gates = 3

    def _input_bias(self) -> np.ndarray:
        return self.bias_ih  # b_hh is added to the hidden product: r scales its n part

    def _loop(self, xp, masks):
        t, n, gh = xp.shape
        h = gh // 3
        hs = self._buffer("hs", (t + 1, n, h), zero_first=True)
        hps = self._buffer("hps", (t, n, gh))  # h_{t-1} @ W_hh.T + b_hh
        rz = self._buffer("rz", (t, n, 2 * h))
        ns = self._buffer("ns", (t, n, h))
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
        dax = self._buffer("dax", (t, n, gh))
        dah = self._buffer("dah", (t, n, gh))
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
