"""Pooling: the maximum or the mean of each window, and the mean of each whole feature map.

Shapes as PyTorch: ``x (N, C, H, W)``; a window of ``kH x kW`` moved by
``stride`` (by default the kernel size, so windows tile the image) gives
``H_out = (H - kH) // sH + 1`` rows (likewise columns), with no padding: rows
and columns left over at the bottom and right are dropped, as torch does.
Memory is channels-last inside (see ``scratchnn.layers.conv``).
"""

from __future__ import annotations

import numpy as np

from .base import Layer
from .conv import check_images, pair, to_channels_first, to_channels_last, window_slices

__all__ = ["AvgPool2D", "GlobalAvgPool2D", "MaxPool2D"]


class _Pool2D(Layer):
    """Shared by MaxPool2D and AvgPool2D: window sizes, shapes and configs."""

    def __init__(self, kernel_size, stride=None) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        self._x_shape: tuple | None = None

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if h < kh or w < kw:
            raise ValueError(
                f"{type(self).__name__} with kernel_size={self.kernel_size} does not fit {h}x{w}"
            )
        return (h - kh) // sh + 1, (w - kw) // sw + 1

    @property
    def _tiles(self) -> bool:
        """Windows that tile the image (stride == kernel): pooling is a reshape, backward a scatter."""
        return self.stride == self.kernel_size

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None
        if len(in_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects images (C, H, W), but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return (in_shape[0], *self._out_hw(in_shape[1], in_shape[2]))

    def _windows(self, x: np.ndarray):
        """Channels-last input, output size, and the (offset, rows, columns) of each kernel offset."""
        check_images(x, None, type(self).__name__)
        xh = to_channels_last(x)
        self._x_shape = x.shape
        out_hw = self._out_hw(x.shape[2], x.shape[3])
        return xh, out_hw, window_slices(self.kernel_size, self.stride, out_hw)

    def _grad_buffer(self, dtype) -> np.ndarray:
        n, c, h, w = self._x_shape
        kh, kw = self.kernel_size
        # tiling windows write every covered pixel exactly once: only the leftover needs zeros
        covered = self._tiles and h % kh == 0 and w % kw == 0
        return (np.empty if covered else np.zeros)((n, h, w, c), dtype=dtype)

    def get_config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}


class MaxPool2D(_Pool2D):
    """Max pooling: ``y[n, c, p, q] = max_{i, j} x[n, c, p*sH + i, q*sW + j]``.

    Backward sends each output's gradient to the one input that was the
    maximum of its window (the others get 0)::

        dL/dx[n, c, p*sH + i*, q*sW + j*] += g[n, c, p, q],   (i*, j*) = argmax of the window

    Forward stores that argmax (one byte per value) so backward never
    recomputes equality masks. Windows that tile the image (stride == kernel,
    the usual case) are reduced in two steps, and the argmax is kept in two
    parts: the image viewed as rows ``(N, H_out, kH, W*C)`` gives, for every
    pixel column, the maximum of its kH rows and the row ``i*`` it came from
    (long contiguous runs); those row maxima viewed as ``(N, H_out, W_out, kW,
    C)`` give the maximum of the kW columns and the column ``j*``. Backward
    routes ``g`` the same way back: to column ``j*``, then to row ``i*`` of
    that column. The plain form, one pass per kernel offset over the whole
    window, reads the image kH·kW times with short strided runs and was 4-15x
    slower. At a tie the topmost value of the leftmost tied column wins (the
    first in column-major window order); torch may pick another, so compare the
    two on inputs without ties. Overlapping windows (stride < kernel) take one
    strided slice per kernel offset, and backward adds up their gradients.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xh, (ho, wo), offsets = self._windows(x)
        if self._tiles:
            n, _, w, c = xh.shape
            (kh, kw) = self.kernel_size
            rows = xh[:, : ho * kh].reshape(n, ho, kh, w * c)  # free for channels-last memory
            row_max, self._row_arg = _argmax_of([rows[:, :, i] for i in range(kh)])
            cols = row_max[:, :, : wo * kw * c].reshape(n, ho, wo, kw, c)
            out, self._col_arg = _argmax_of([cols[:, :, :, j] for j in range(kw)])
        else:
            out, self._argmax = _argmax_of([xh[:, rows, cols, :] for _, rows, cols in offsets])
        return to_channels_first(out)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        g = to_channels_last(grad_out)
        n, c, h, w = self._x_shape
        _, _, ho, wo = grad_out.shape
        (kh, kw) = self.kernel_size
        if self._tiles:
            # to the winning column of each window, then to the winning row of that column
            g_rows = (np.zeros if w > wo * kw else np.empty)((n, ho, w * c), dtype=g.dtype)
            cols = g_rows[:, :, : wo * kw * c].reshape(n, ho, wo, kw, c)
            _route(g, self._col_arg, [cols[:, :, :, j] for j in range(kw)])
            dx = self._grad_buffer(g.dtype)
            rows = dx[:, : ho * kh].reshape(n, ho, kh, w * c)
            _route(g_rows, self._row_arg, [rows[:, :, i] for i in range(kh)])
            return to_channels_first(dx)
        dx = np.zeros((n, h, w, c), dtype=g.dtype)
        hit = np.empty(g.shape, dtype=bool)
        for k, rows, cols in window_slices(self.kernel_size, self.stride, (ho, wo)):
            np.equal(self._argmax, k, out=hit)
            dx[:, rows, cols, :] += g * hit
        return to_channels_first(dx)


def _argmax_of(views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise maximum of equally shaped ``views``, and the index of the first view holding it."""
    out = np.array(views[0], order="C")
    arg = np.zeros(out.shape, dtype=np.uint8 if len(views) < 256 else np.int32)
    bigger = np.empty(out.shape, dtype=bool)
    step = np.empty_like(arg)
    for k, view in enumerate(views[1:], 1):
        np.greater(view, out, out=bigger)
        np.maximum(out, view, out=out)
        if k == 1:  # arg is all 0: it becomes bigger, as 0/1
            np.copyto(arg, bigger)
            continue
        # arg = k where bigger: arg += bigger * (k - arg), modulo 2**8 for uint8 (3-15x faster
        # than np.copyto(arg, k, where=bigger))
        np.subtract(arg.dtype.type(k), arg, out=step)
        step *= bigger
        arg += step
    return out, arg


def _route(g: np.ndarray, arg: np.ndarray, targets: list[np.ndarray]) -> None:
    """``targets[k] = g * (arg == k)`` for every k: the gradient sent to the view that won."""
    if len(targets) == 2:  # arg is 0/1: g * arg, and g minus that (exact: g - g = 0, g - 0 = g)
        np.multiply(g, arg, out=targets[1])
        np.subtract(g, targets[1], out=targets[0])
        return
    hit = np.empty(arg.shape, dtype=bool)
    for k, target in enumerate(targets):
        np.equal(arg, k, out=hit)
        np.multiply(g, hit, out=target)


class AvgPool2D(_Pool2D):
    """Average pooling: ``y[n, c, p, q] = mean_{i, j} x[n, c, p*sH + i, q*sW + j]``.

    Backward shares each output's gradient equally among its window:
    ``dL/dx[n, c, p*sH + i, q*sW + j] += g[n, c, p, q] / (kH*kW)``. Matches
    ``torch.nn.AvgPool2d`` (no padding). Tiling windows: a reshape of the image
    into windows and one mean; otherwise kH·kW strided slices.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xh, (ho, wo), offsets = self._windows(x)
        (kh, kw) = self.kernel_size
        if self._tiles:
            n, _, _, c = xh.shape
            win = xh[:, : ho * kh, : wo * kw, :].reshape(n, ho, kh, wo, kw, c)
            out = win.sum(axis=(2, 4))
        else:
            out = np.zeros((xh.shape[0], ho, wo, xh.shape[3]), dtype=x.dtype)
            for _, rows, cols in offsets:
                out += xh[:, rows, cols, :]
        out *= x.dtype.type(1.0 / (kh * kw))
        return to_channels_first(out)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        kh, kw = self.kernel_size
        g = to_channels_last(grad_out) * grad_out.dtype.type(1.0 / (kh * kw))
        dx = self._grad_buffer(g.dtype)
        _, _, ho, wo = grad_out.shape
        for _, rows, cols in window_slices(self.kernel_size, self.stride, (ho, wo)):
            if self._tiles:
                dx[:, rows, cols, :] = g
            else:
                dx[:, rows, cols, :] += g
        return to_channels_first(dx)


class GlobalAvgPool2D(Layer):
    """Mean of each feature map: ``y[n, c] = mean_{h, w} x[n, c, h, w]``, ``(N, C, H, W) -> (N, C)``.

    Backward spreads each gradient evenly over its map:
    ``dL/dx[n, c, h, w] = g[n, c] / (H*W)``. Equal to
    ``torch.nn.AdaptiveAvgPool2d(1)`` followed by ``torch.flatten(x, 1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._x_shape: tuple | None = None

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        if in_shape is None:
            return None
        if len(in_shape) != 3:
            raise ValueError(
                f"GlobalAvgPool2D expects images (C, H, W), but the previous layer outputs "
                f"samples of shape {tuple(in_shape)}"
            )
        return (in_shape[0],)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        check_images(x, None, "GlobalAvgPool2D")
        self._x_shape = x.shape
        n, c, h, w = x.shape
        xh = to_channels_last(x)
        if xh.flags.c_contiguous:  # (N, H*W, C): a mean over the middle axis of contiguous memory
            return xh.reshape(n, h * w, c).mean(axis=1)
        return x.mean(axis=(2, 3))

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        n, c, h, w = self._x_shape
        dx = np.empty((n, h, w, c), dtype=grad_out.dtype)
        dx[...] = (grad_out * grad_out.dtype.type(1.0 / (h * w)))[:, None, None, :]
        return to_channels_first(dx)
