"""Two-dimensional convolution, as one matrix product (im2col), and the image helpers pooling shares.

Images are channels-first, as in PyTorch: a batch is ``(N, C, H, W)``. Inside
the layers the memory is channels-last, ``(N, H, W, C)``: every array an image
layer returns is a transposed *view* ``(N, C, H, W)`` of channels-last memory,
and the next image layer gets that memory back with the opposite transpose, for
free. Channels-last is what makes im2col fast: a patch row is then ``kH * kW``
runs of ``C`` contiguous numbers, and the matrix product's output
``(N * H_out * W_out, C_out)`` already is the next layer's channels-last input
(measured 1.8-2.2x faster than channels-first memory). A caller that hands in an
ordinary channels-first array gets the same results; it only pays one copy.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..validation import check_positive_int, check_random_state
from .base import Layer, check_dtype
from .dense import init_std

__all__ = ["PATCH_BYTES_LIMIT", "Conv2D"]

#: Largest patch matrix (bytes) built at once in evaluation; a bigger batch is processed
#: in chunks of samples (and cannot be backpropagated). In training the patch matrix of
#: the whole batch is kept for the weight gradient: kH*kW times the input's size. The
#: input gradient needs one (N*H_out*W_out, C_in) block besides, never the whole dL/dX_col.
PATCH_BYTES_LIMIT = 64 * 2**20


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, H, W) -> (N, H, W, C)``: a free view of the memory image layers return."""
    return x.transpose(0, 2, 3, 1)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """``(N, H, W, C) -> (N, C, H, W)``, a view: how image layers return their channels-last results."""
    return x.transpose(0, 3, 1, 2)


def check_images(x: np.ndarray, channels: int | None, name: str) -> None:
    """Refuse (``ValueError``) anything but a 4-D batch ``(N, channels, H, W)`` (any C if None)."""
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else channels
        raise ValueError(f"{name} expects images (N, {c}, H, W), got an array of shape {x.shape}")


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as ``(height, width)``, each a positive int."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return check_positive_int(value[0], name), check_positive_int(value[1], name)


def window_slices(k: tuple[int, int], s: tuple[int, int], out_hw: tuple[int, int]):
    """For each kernel offset ``(i, j)``: the slices of the input rows and columns it meets.

    Offset ``(i, j)`` of every window of an ``out_hw`` output is the strided
    slice ``x[:, i : i + s*H_out : s, j : j + s*W_out : s]`` of the (padded)
    input: kH·kW slices stand for all windows, with no loop over positions.
    """
    (kh, kw), (sh, sw), (ho, wo) = k, s, out_hw
    return [
        (i * kw + j, slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    ]


class Conv2D(Layer):
    r"""2-D convolution (cross-correlation, as ``torch.nn.Conv2d``), computed as one matrix product.

    Shapes: ``x (N, C_in, H, W)``, ``W (C_out, C_in, kH, kW)``, ``b (C_out,)``,
    ``y (N, C_out, H_out, W_out)`` with ``H_out = (H + pad_top + pad_bottom - kH) // sH + 1``
    (likewise ``W_out``); ``params == [W, b]``, laid out as torch's ``weight`` and ``bias``::

        y[n, o, p, q] = b[o] + sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, p*sH + i, q*sW + j]

    **im2col.** Each output position ``(n, p, q)`` is a dot product between one
    window of the input (``kH * kW * C_in`` numbers) and each filter. Copy every
    window into a row of the *patch matrix* ``X_col (N*H_out*W_out, kH*kW*C_in)``
    and lay the filters out as the columns of ``W_col (kH*kW*C_in, C_out)``;
    then the whole convolution is one matrix product::

        Y = X_col @ W_col + b            (N*H_out*W_out, C_out)

    which BLAS runs at full speed, instead of a loop over positions. The patch
    matrix is read out of the input through a strided view (``as_strided``, no
    copy: the window at ``(p, q)`` starts ``p*sH`` rows and ``q*sW`` columns in)
    and then copied once into contiguous memory.

    **Backward**, with ``G (N*H_out*W_out, C_out)`` the output gradient as rows,
    is Dense's backward on these matrices::

        dL/dW_col = X_col.T @ G          (the kept patch matrix: no recomputation)
        dL/db     = G.sum(axis=0)
        dL/dX_col = G @ W_col.T          (N*H_out*W_out, kH*kW*C_in)

    ``dL/dX_col`` holds, for each window, the gradient of each input pixel it
    saw. A pixel lies in up to ``kH*kW`` windows, so its gradient is the sum of
    its entries (col2im). Column block ``(i, j)`` of ``dL/dX_col`` is the
    gradient for kernel offset ``(i, j)`` of every window, and those pixels are
    the strided slice ``x_pad[:, :, i : i + sH*H_out : sH, j : j + sW*W_out : sW]``:
    col2im is ``kH * kW`` strided slice-adds (never ``np.add.at``, never a loop
    over output positions). That block is ``G @ W_ij`` with ``W_ij = W[:, :, i, j]``
    ``(C_out, C_in)``, so it is computed block by block, one product per offset
    (the same arithmetic as ``G @ W_col.T``): each comes out as contiguous
    images ``(N, H_out, W_out, C_in)``, and its slice-add runs over long
    contiguous rows instead of runs of ``C_in`` numbers (1.3-2.5x faster than
    one big product and then col2im). Slices are clipped to the image, so the
    padding's part of the gradient is never even written.

    **Memory layout.** Inputs that arrive in channels-first memory (the usual
    first layer: one channel, or rows just reshaped into images) are read as
    the transposed patch matrix ``X_col.T (C_in*kH*kW, N*H_out*W_out)``, whose
    rows are long contiguous runs of one channel's pixels (a row of ``X_col``
    would be ``kH*kW`` runs of a single number: 5x slower to copy); the
    products are the same with ``X_col.T`` in place of ``X_col``. Every other
    input (the channels-last views image layers return) gives ``X_col``.

    ``padding``: an int or a pair (zeros on both sides), ``"valid"`` (none) or
    ``"same"`` (stride 1 only, as torch: the output keeps the input's size;
    for an even kernel the extra row and column go at the bottom and right).
    Initialisation: ``W`` normal with std ``sqrt(2 / fan_in)`` ("he") or
    ``sqrt(2 / (fan_in + fan_out))`` ("xavier"), with ``fan_in = C_in*kH*kW``
    and ``fan_out = C_out*kH*kW``; ``b`` zero. Memory: see ``PATCH_BYTES_LIMIT``.
    """

    param_names = ("W", "b")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding=0,
        init: str = "he",
        seed=None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else pair_or_zero(padding)
        self._pads = conv_pads(self.padding, self.kernel_size, self.stride)
        kh, kw = self.kernel_size
        area = kh * kw
        std = init_std(init, self.in_channels * area, self.out_channels * area)
        self.init = init
        self.dtype = check_dtype(dtype)
        rng = check_random_state(seed)
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.W = (rng.standard_normal(shape) * std).astype(self.dtype)
        self.b = np.zeros(self.out_channels, dtype=self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.params = [self.W, self.b]
        self.grads = [self.dW, self.db]
        self._cols: np.ndarray | None = None  # the patch matrix, kept for dL/dW
        self._w_col: np.ndarray | None = None
        self._x_shape: tuple | None = None
        self._pad_buf: np.ndarray | None = None  # zero border kept from batch to batch
        self._ones = np.ones(0, dtype=self.dtype)

    # -- shapes ----------------------------------------------------------------
    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        (pt, pb), (pl, pr) = self._pads
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        hp, wp = h + pt + pb, w + pl + pr
        if hp < kh or wp < kw:
            raise ValueError(
                f"Conv2D with kernel_size={self.kernel_size} does not fit images of {h}x{w} "
                f"(padded to {hp}x{wp})"
            )
        return (hp - kh) // sh + 1, (wp - kw) // sw + 1

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            raise ValueError(
                f"Conv2D expects images ({self.in_channels}, H, W), but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return (self.out_channels, *self._out_hw(in_shape[1], in_shape[2]))

    def get_config(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "init": self.init,
            "dtype": self.dtype.name,
        }

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        c_in = check_positive_int(config["in_channels"], "in_channels")
        c_out = check_positive_int(config["out_channels"], "out_channels")
        kh, kw = pair(config["kernel_size"], "kernel_size")
        return [(c_out, c_in, kh, kw), (c_out,)]

    # -- the passes --------------------------------------------------------------
    def _padded(self, xm: np.ndarray, channels_first: bool) -> np.ndarray:
        """Images in memory order ``(N, C, H, W)`` or ``(N, H, W, C)``, with their zero padding around."""
        (pt, pb), (pl, pr) = self._pads
        if pt == pb == pl == pr == 0:
            return xm
        hw_axes = (2, 3) if channels_first else (1, 2)
        shape = list(xm.shape)
        shape[hw_axes[0]] += pt + pb
        shape[hw_axes[1]] += pl + pr
        inner = [slice(None)] * 4
        inner[hw_axes[0]] = slice(pt, pt + xm.shape[hw_axes[0]])
        inner[hw_axes[1]] = slice(pl, pl + xm.shape[hw_axes[1]])
        buf = self._pad_buf
        if buf is None or buf.shape != tuple(shape) or buf.dtype != xm.dtype:
            buf = self._pad_buf = np.zeros(shape, dtype=xm.dtype)
        buf[tuple(inner)] = xm  # the border stays zero from the last batch
        return buf

    def _patches(self, xp: np.ndarray, out_hw: tuple[int, int], transposed: bool) -> np.ndarray:
        """The patch matrix of padded images ``xp``, or its transpose, as one contiguous copy.

        Channels-last ``xp (n, H, W, C)`` gives ``X_col (n*H_out*W_out, kH*kW*C)``, columns in
        ``(i, j, c)`` order; channels-first ``xp (n, C, H, W)`` gives ``X_col.T`` with one more
        row, of ones, ``(C*kH*kW + 1, n*H_out*W_out)``, rows in ``(c, i, j)`` order: the ones
        fold the bias into the product (``X_col @ W_col + b = [X_col, 1] @ [W_col; b]``), and
        ``[X_col, 1].T @ G`` gives ``dL/db`` as its last row. With few inputs per window (a first
        layer's 9) the product is cheap and adding the bias separately would cost as much again.
        """
        (kh, kw), (sh, sw), (ho, wo) = self.kernel_size, self.stride, out_hw
        if transposed:
            n, c, _, _ = xp.shape
            s_n, s_c, s_h, s_w = xp.strides
            # row (c, i, j) holds pixel (p*sH + i, q*sW + j) of channel c of every image n, window (p, q)
            shape, strides = (c, kh, kw, n, ho, wo), (s_c, s_h, s_w, s_n, s_h * sh, s_w * sw)
            k, m = kh * kw * c, n * ho * wo
            cols = np.empty((k + 1, m), dtype=xp.dtype)
            cols[k] = 1.0
            np.copyto(cols[:k].reshape(shape), as_strided(xp, shape, strides, writeable=False))
            return cols
        n, _, _, c = xp.shape
        s_n, s_h, s_w, s_c = xp.strides
        # window (p, q) starts at row p*sH, column q*sW; inside it, rows i, columns j, channels c
        shape, strides = (n, ho, wo, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c)
        cols = np.empty(shape, dtype=xp.dtype)
        np.copyto(cols, as_strided(xp, shape, strides, writeable=False))  # the one contiguous copy
        return cols.reshape(n * ho * wo, kh * kw * c)

    def _chunk(self, per_sample_bytes: int) -> int:
        return max(1, PATCH_BYTES_LIMIT // max(1, per_sample_bytes))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, self.in_channels, "Conv2D")
        n, c, h, w = x.shape
        ho, wo = self._out_hw(h, w)
        kh, kw = self.kernel_size
        c_out, k = self.out_channels, kh * kw * c
        # Images in channels-first memory (one channel, or rows just reshaped into images) are read
        # as X_col.T: each of its rows is then long contiguous runs of one channel's pixels, where a
        # row of X_col would be kH*kW runs of C = 1 number (5x slower to copy). Otherwise channels-last.
        transposed = bool(x.flags.c_contiguous)
        if transposed:  # W_col[(c, i, j), o] = W[o, c, i, j], and the bias as the last row
            w_col = np.concatenate([self.W.reshape(c_out, k).T, self.b[None, :]])
        else:  # W_col[(i, j, c), o] = W[o, c, i, j]: the filters as columns, in the patch rows' order
            w_col = self.W.transpose(2, 3, 1, 0).reshape(k, c_out)
        xp = self._padded(x if transposed else to_channels_last(x), transposed)
        self._x_shape, self._transposed = x.shape, transposed
        step = n if training else self._chunk(ho * wo * k * x.itemsize)
        out = np.empty((n * ho * wo, c_out), dtype=np.result_type(x, w_col))
        for start in range(0, n, step):
            stop = min(n, start + step)
            cols = self._patches(xp[start:stop], (ho, wo), transposed)
            np.dot(cols.T if transposed else cols, w_col, out=out[start * ho * wo : stop * ho * wo])
        self._cols = cols if step >= n else None  # kept unless the batch came in chunks
        if not transposed:
            out += self.b
        return to_channels_first(out.reshape(n, ho, wo, c_out))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self._cols is None:
            raise RuntimeError(
                "Conv2D.backward needs the patch matrix of the last forward pass, which was not kept: "
                "there was none, or it came in chunks (training=True keeps it for any batch size)"
            )
        n, c, h, w = self._x_shape
        _, _, ho, wo = grad_out.shape
        c_out = self.out_channels
        # rows (n, p, q), columns o: free when grad_out is the channels-last view layers return
        g = to_channels_last(grad_out).reshape(n * ho * wo, c_out)
        cols = self._cols
        kh, kw = self.kernel_size
        if self._transposed:
            dw_col = np.dot(cols, g)  # [X_col, 1].T @ G: rows (c, i, j), then dL/db
            self.dW[...] = dw_col[:-1].T.reshape(c_out, c, kh, kw)
            self.db[...] = dw_col[-1]
        else:
            dw_col = np.dot(cols.T, g)  # X_col.T @ G, rows (i, j, c)
            self.dW[...] = dw_col.reshape(kh, kw, c, c_out).transpose(3, 2, 0, 1)
            if g.dtype == self.dtype:
                if self._ones.shape[0] < g.shape[0]:
                    self._ones = np.ones(g.shape[0], dtype=self.dtype)
                np.dot(self._ones[: g.shape[0]], g, out=self.db)  # G.sum(axis=0) as one BLAS call
            else:
                self.db[...] = g.sum(axis=0)
        if not input_grad:
            return None
        (pt, _), (pl, _) = self._pads
        dtype = np.result_type(g, self.W)
        dx = np.zeros((n, h, w, c), dtype=dtype)
        # column block (i, j) of G @ W_col.T is G @ W_ij, W_ij = W[:, :, i, j] (C_out, C_in): one
        # product per offset gives that block as contiguous images (n, H_out, W_out, C_in)
        w_ij = np.ascontiguousarray(self.W.transpose(2, 3, 0, 1), dtype=dtype)
        block = np.empty((n * ho * wo, c), dtype=dtype)
        images = block.reshape(n, ho, wo, c)
        (sh, sw) = self.stride
        for i in range(kh):
            rows = clipped(i, pt, sh, ho, h)
            for j in range(kw):
                cols_ = clipped(j, pl, sw, wo, w)
                if rows is None or cols_ is None:  # this offset only ever sees padding
                    continue
                np.dot(g, w_ij[i, j], out=block)
                # col2im: one strided slice-add; the padding's part is never written
                dx[:, rows[1], cols_[1], :] += images[:, rows[0], cols_[0], :]
        return to_channels_first(dx)


def clipped(offset: int, pad: int, stride: int, n_out: int, size: int):
    """``(outputs, inputs)`` slices for kernel offset ``offset`` along one axis, padding left out.

    Output ``p`` reads input ``p*stride + offset - pad``; the outputs whose input lies inside
    ``[0, size)`` and those inputs, as two slices (``None`` if every one falls in the padding).
    """
    lo = max(0, -(-(pad - offset) // stride))  # ceil((pad - offset) / stride)
    hi = min(n_out, (size - 1 - offset + pad) // stride + 1)
    if hi <= lo:
        return None
    start = lo * stride + offset - pad
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1, stride)


def pair_or_zero(value) -> tuple[int, int]:
    """A padding given as an int or a pair of non-negative ints, as ``(rows, columns)``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"padding must be an int, a pair of ints, 'same' or 'valid', got {value!r}")
    if min(value) < 0:
        raise ValueError(f"padding must not be negative, got {value!r}")
    return int(value[0]), int(value[1])


def conv_pads(padding, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple:
    """``((top, bottom), (left, right))`` zeros for a Conv2D ``padding`` setting."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in torch), got stride={stride}")
        # total k - 1 keeps the size; torch puts the odd one at the end
        return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    return (padding[0], padding[0]), (padding[1], padding[1])
