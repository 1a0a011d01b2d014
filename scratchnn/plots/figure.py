"""The one way scratchnn draws and writes a figure, shared by every plot.

Figures are built with ``matplotlib.figure.Figure`` directly, not through
``pyplot``: no display is needed, no global figure state is kept, and nothing
changes the backend of a program that imports this package. Every file is
written atomically (``scratchnn.files.atomic_write``), as a PNG at ``DPI``.
"""

from __future__ import annotations

import math

import numpy as np

from ..files import atomic_write

__all__ = ["DPI", "figure", "mosaic", "save", "shorten", "with_white_background"]

DPI = 100


def figure(width: float, height: float):
    """A new ``Figure`` of ``width x height`` inches at ``DPI``, laid out by matplotlib (constrained)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(fig, path) -> None:
    """Write ``fig`` to ``path`` as a PNG, atomically."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def shorten(name: str, width: int = 14) -> str:
    """``name`` cut to ``width`` characters with an ellipsis, for tick labels."""
    return name if len(name) <= width else name[: width - 1] + "…"


def mosaic(tiles: list[np.ndarray], n_cols: int, gap_x: float, gap_y: float) -> np.ndarray:
    """Tiles of one shape laid out in a grid, NaN between them (drawn as the background).

    One ``imshow`` of the whole mosaic is many times faster than a subplot per tile.
    """
    h, w = tiles[0].shape
    n_rows = math.ceil(len(tiles) / n_cols)
    gy, gx = round(gap_y * h), round(gap_x * w)
    out = np.full((n_rows * (h + gy) + gy, n_cols * (w + gx) + gx), np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, n_cols)
        top, left = gy + r * (h + gy), gx + c * (w + gx)
        out[top : top + h, left : left + w] = tile
    return out


def with_white_background(name: str):
    """Matplotlib's colormap ``name``, drawing NaN (the gaps of a ``mosaic``) white."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="white")
