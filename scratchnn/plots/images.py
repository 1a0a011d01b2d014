"""What a convolutional network sees: its first layer's filters, and one image's feature maps.

Two PNG files that ``scratchnn train`` writes for a network with convolutions
(``first_layer_weights`` draws the first layer of an MLP instead):

* ``conv_filters``: the first Conv2D layer's weights ``W (C_out, C_in, kH, kW)``,
  one small tile per filter (its ``C_in`` input channels side by side), red for
  positive and blue for negative weights on one symmetric colour scale. A
  trained 3x3 filter on digits often reads as an edge or stroke detector.
* ``feature_maps``: one input image and, for each convolution of the network,
  the maps it produces for that image after the layers that follow it and keep
  its shape (BatchNorm, the activation). Each map is scaled on its own, since
  what shows is where a filter responds, not how strongly compared with another.

Figures are built and written by ``figure`` (no pyplot, atomic writes).
"""

from __future__ import annotations

import math

import numpy as np

from .figure import figure, mosaic, save, with_white_background

__all__ = ["conv_filters", "feature_maps", "first_layer_weights", "image_stages"]


def conv_filters(weights: np.ndarray, path, max_filters: int = 64):
    """Each filter of a Conv2D's ``W (C_out, C_in, kH, kW)`` drawn as a tile; returns the ``Figure``.

    A tile holds the filter's ``C_in`` channels side by side. Filters are drawn
    left to right, top to bottom, in order; at most ``max_filters``.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"weights must be a Conv2D's (C_out, C_in, kH, kW), got shape {weights.shape}")
    n = min(max_filters, weights.shape[0])
    tiles = [np.concatenate(list(weights[k]), axis=1) for k in range(n)]  # (kH, C_in * kW)
    c_out, c_in, kh, kw = weights.shape
    title = f"First convolution: {n} of {c_out} filters ({c_in}x{kh}x{kw} each)"
    return _weight_tiles(tiles, 0.2, title, path)


def image_stages(network, row: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(names, maps (C, H, W))`` for one row: what each convolution's stage hands to the next layer.

    ``row`` is one (scaled) input row ``(n_features,)``. The network is run
    layer by layer in evaluation mode. A stage starts at a layer with a weight
    matrix or filter bank (a parameter of 2 or more dimensions) that outputs
    images, takes in the layers after it that keep its output's shape
    (BatchNorm, the activation), and ends before the next weight layer or a
    layer that changes the shape (pooling); ``names`` lists its layers, e.g.
    ``"Conv2D > BatchNorm2d > ReLU"``.
    """
    x = np.asarray(row, dtype=network.dtype).reshape(1, -1)
    stages: list[list] = []
    current: list | None = None  # [layer names, maps]
    for layer in network.layers:
        x = layer.forward(x, training=False)
        starts = any(p.ndim >= 2 for p in layer.params)
        if starts and current is not None:
            stages.append(current)
            current = None
        if current is not None and (x.ndim != 4 or x.shape[1:] != current[1].shape):
            stages.append(current)  # pooling, or the end of the images: the stage is complete
            current = None
        elif x.ndim == 4 and (starts or current is not None):
            current = current or [[], None]
            current[0].append(type(layer).__name__)
            current[1] = np.array(x[0], dtype=np.float64)
    if current is not None:
        stages.append(current)
    return [(" > ".join(names), maps) for names, maps in stages]


def feature_maps(network, row: np.ndarray, image: np.ndarray, path, title: str = "", max_maps: int = 16):
    """One image and its feature maps after each convolution's stage (``image_stages``); returns the Figure.

    ``row`` is the input row as the network takes it (scaled); ``image`` the
    same image as drawn, ``(H, W)`` raw pixels. Each stage gets rows of eight
    maps, at most ``max_maps`` of them, each on its own colour scale (black: no
    response, yellow: the strongest response of that map).
    """
    stages = image_stages(network, row)
    if not stages:
        raise ValueError("the network has no convolution: there are no feature maps to draw")
    n_cols = min(8, max_maps)
    grid_rows = [math.ceil(min(max_maps, m.shape[0]) / n_cols) for _, m in stages]
    fig = figure(0.8 * n_cols + 1.0, 1.6 + sum(0.85 * r + 0.45 for r in grid_rows))
    axes = fig.subplots(len(stages) + 1, 1, squeeze=False, height_ratios=[1.6, *grid_rows])[:, 0]
    axes[0].imshow(np.asarray(image, dtype=np.float64), cmap="gray_r", interpolation="nearest")
    axes[0].set_title("input image" + (f" ({title})" if title else ""), fontsize=9)
    for ax, (name, maps) in zip(axes[1:], stages):
        c, h, w = maps.shape
        shown = [_unit(m) for m in maps[:max_maps]]
        # magma: black is no response (ReLU's zeros), yellow the strongest; the gaps are white
        ax.imshow(mosaic(shown, n_cols, 0.2, 0.2), cmap=with_white_background("magma"),
                  vmin=0.0, vmax=1.0, interpolation="nearest")  # fmt: skip
        ax.set_title(f"{name}: {len(shown)} of {c} maps, {h}x{w}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("Feature maps of one test image (each map on its own scale)", fontsize=10)
    save(fig, path)
    return fig


def _unit(m: np.ndarray) -> np.ndarray:
    """A map scaled to [0, 1] (all zero if it is constant)."""
    low, high = float(m.min()), float(m.max())
    return (m - low) / (high - low) if high > low else np.zeros_like(m)


def _weight_tiles(tiles: list[np.ndarray], gap: float, title: str, path):
    """The 2-D weight ``tiles`` in rows of at most 8, red positive and blue negative on one
    symmetric scale, with a colour bar; written to ``path``, returns the ``Figure``."""
    limit = max(float(np.abs(t).max()) for t in tiles) or 1.0
    n_cols = min(8, len(tiles))
    n_rows = math.ceil(len(tiles) / n_cols)
    fig = figure(max(4.0, 0.9 * n_cols + 1.4), max(2.6, 0.9 * n_rows + 0.7))
    ax = fig.subplots()
    ax.axis("off")
    image = ax.imshow(
        mosaic(tiles, n_cols, gap, gap),
        cmap=with_white_background("RdBu_r"),
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, shrink=0.9, label="weight")
    fig.suptitle(title, fontsize=10)
    save(fig, path)
    return fig


def first_layer_weights(weights: np.ndarray, image_shape: tuple[int, int], path, max_units: int = 64):
    """Each column of the first Dense layer's ``W (n_features, units)`` drawn as an image.

    Weights that are not such a matrix (a convolution's 4-D filters, whose
    picture is ``conv_filters``, a Dense layer after other layers,
    or None) are skipped: nothing is written and the result is None.

    Red and blue are positive and negative weights, on one colour scale for
    all units, symmetric around 0 and shown by the colour bar: the pattern of
    pixels that excites each hidden unit, and how strongly, comparable from
    unit to unit. Units are drawn left to right, top to bottom, in order.
    Returns the ``Figure``, already written to ``path``.
    """
    if weights is None or np.ndim(weights) != 2 or np.shape(weights)[0] != math.prod(image_shape):
        return None
    weights = np.asarray(weights, dtype=np.float64)
    n = min(max_units, weights.shape[1])
    tiles = [weights[:, k].reshape(image_shape) for k in range(n)]
    title = f"First-layer weights ({n} of {weights.shape[1]} hidden units)"
    return _weight_tiles(tiles, 0.15, title, path)
