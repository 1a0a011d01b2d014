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

    Forward stores that argmax (its kernel offset ``i*·kW + j*``, one byte per
    output) so backward never recomputes equality masks. Both passes work on
    kH·kW strided slices, one per kernel offset (for tiling windows: a reshape
    of the image into windows). At a tie the first maximum in row-major window
    order wins; torch may pick another, so compare the two on inputs without ties.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xh, _, offsets = self._windows(x)
        _, rows, cols = offsets[0]
        out = np.array(xh[:, rows, cols, :], order="C")  # (N, H_out, W_out, C)
        argmax = np.zeros(out.shape, dtype=np.uint8 if len(offsets) < 256 else np.int32)
        bigger = np.empty(out.shape, dtype=bool)
        for k, rows, cols in offsets[1:]:
            window = xh[:, rows, cols, :]
            np.greater(window, out, out=bigger)
            np.copyto(out, window, where=bigger)
            np.copyto(argmax, k, where=bigger)
        self._argmax = argmax
        return to_channels_first(out)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        g = to_channels_last(grad_out)
        dx = self._grad_buffer(g.dtype)
        _, _, ho, wo = grad_out.shape
        hit = np.empty(g.shape, dtype=bool)
        for k, rows, cols in window_slices(self.kernel_size, self.stride, (ho, wo)):
            np.equal(self._argmax, k, out=hit)
            if self._tiles:  # disjoint windows: each pixel written once
                np.multiply(g, hit, out=dx[:, rows, cols, :])
            else:
                dx[:, rows, cols, :] += g * hit
        return to_channels_first(dx)


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
