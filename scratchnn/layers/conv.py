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

#: Largest patch matrix (bytes) built at once in evaluation and in the input-gradient
#: pass; a bigger batch is processed in chunks of samples. In training the patch matrix
#: of the whole batch is kept for the weight gradient: its size is the batch size's.
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
    over output positions). The padding's rows of the gradient are dropped.

    ``padding``: an int or a pair (zeros on both sides), ``"valid"`` (none) or
    ``"same"`` (stride 1 only, as torch: the output keeps the input's size;
    for an even kernel the extra row and column go at the bottom and right).
    Initialisation: ``W`` normal with std ``sqrt(2 / fan_in)`` ("he") or
    ``sqrt(2 / (fan_in + fan_out))`` ("xavier"), with ``fan_in = C_in*kH*kW``
    and ``fan_out = C_out*kH*kW``; ``b`` zero. Memory: see ``PATCH_BYTES_LIMIT``.
    """

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
    def _padded(self, xh: np.ndarray) -> np.ndarray:
        """``xh (N, H, W, C)`` with the zero padding around it (``xh`` itself if there is none)."""
        (pt, pb), (pl, pr) = self._pads
        if pt == pb == pl == pr == 0:
            return xh
        n, h, w, c = xh.shape
        shape = (n, h + pt + pb, w + pl + pr, c)
        buf = self._pad_buf
        if buf is None or buf.shape != shape or buf.dtype != xh.dtype:
            buf = self._pad_buf = np.zeros(shape, dtype=xh.dtype)
        buf[:, pt : pt + h, pl : pl + w, :] = xh  # the border stays zero from the last batch
        return buf

    def _patches(self, xp: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """The patch matrix ``(n*H_out*W_out, kH*kW*C)`` of padded channels-last images ``xp``."""
        n, _, _, c = xp.shape
        (kh, kw), (sh, sw), (ho, wo) = self.kernel_size, self.stride, out_hw
        s_n, s_h, s_w, s_c = xp.strides
        # window (p, q) starts at row p*sH, column q*sW; inside it, rows i, columns j, channels c
        view = as_strided(
            xp, (n, ho, wo, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c), writeable=False
        )
        cols = np.empty((n, ho, wo, kh, kw, c), dtype=xp.dtype)
        np.copyto(cols, view)  # the one contiguous copy
        return cols.reshape(n * ho * wo, kh * kw * c)

    def _chunk(self, per_sample_bytes: int) -> int:
        return max(1, PATCH_BYTES_LIMIT // max(1, per_sample_bytes))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, self.in_channels, "Conv2D")
        n, _, h, w = x.shape
        ho, wo = self._out_hw(h, w)
        kh, kw = self.kernel_size
        # W_col[(i, j, c), o] = W[o, c, i, j]: the filters as columns, in the patch rows' order
        w_col = self._w_col = self.W.transpose(2, 3, 1, 0).reshape(kh * kw * self.in_channels, -1)
        xp = self._padded(to_channels_last(x))
        self._x_shape = x.shape
        row_bytes = ho * wo * w_col.shape[0] * x.itemsize
        step = n if training else self._chunk(row_bytes)
        out = np.empty((n * ho * wo, self.out_channels), dtype=np.result_type(x, w_col))
        for start in range(0, n, step):
            stop = min(n, start + step)
            cols = self._patches(xp[start:stop], (ho, wo))
            np.dot(cols, w_col, out=out[start * ho * wo : stop * ho * wo])
        self._cols = cols if training else None
        out += self.b
        return to_channels_first(out.reshape(n, ho, wo, self.out_channels))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self._cols is None:
            raise RuntimeError("Conv2D.backward needs a forward pass with training=True first")
        n, c, h, w = self._x_shape
        _, _, ho, wo = grad_out.shape
        # rows (n, p, q), columns o: free when grad_out is the channels-last view layers return
        g = to_channels_last(grad_out).reshape(n * ho * wo, self.out_channels)
        cols, w_col = self._cols, self._w_col
        kh, kw = self.kernel_size
        dw_col = np.dot(cols.T, g)  # X_col.T @ G  (kH*kW*C_in, C_out)
        self.dW[...] = dw_col.reshape(kh, kw, c, self.out_channels).transpose(3, 2, 0, 1)
        if g.dtype == self.dtype:
            if self._ones.shape[0] < g.shape[0]:
                self._ones = np.ones(g.shape[0], dtype=self.dtype)
            np.dot(self._ones[: g.shape[0]], g, out=self.db)  # G.sum(axis=0) as one BLAS call
        else:
            self.db[...] = g.sum(axis=0)
        if not input_grad:
            return None
        (pt, pb), (pl, pr) = self._pads
        dxp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=g.dtype)
        offsets = window_slices(self.kernel_size, self.stride, (ho, wo))
        step = self._chunk(ho * wo * cols.shape[1] * g.itemsize)
        for start in range(0, n, step):
            stop = min(n, start + step)
            rows = slice(start * ho * wo, stop * ho * wo)
            d_cols = np.dot(g[rows], w_col.T).reshape(stop - start, ho, wo, kh * kw, c)  # G @ W_col.T
            target = dxp[start:stop]
            for k, rs, cs in offsets:  # col2im: kH*kW strided slice-adds
                target[:, rs, cs, :] += d_cols[:, :, :, k, :]
        return to_channels_first(dxp[:, pt : pt + h, pl : pl + w, :])


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
