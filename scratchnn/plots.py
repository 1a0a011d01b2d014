"""Plots for the command-line tool, written as PNG files with matplotlib's Agg renderer.

Figures are built with ``matplotlib.figure.Figure`` directly, not through
``pyplot``: no display is needed, no global figure state is kept, and nothing
changes the backend of a program that imports this module. Every file is
written atomically (``scratchnn.files.atomic_write``).

* ``learning_curves``: training and validation loss, and validation accuracy, per epoch;
* ``confusion_matrix``: counts of true against predicted classes;
* ``tuning_heatmap``: validation accuracy over learning rate x hidden units,
  with the best batch size written in each cell;
* ``misclassified_grid`` and ``first_layer_weights``: for image data (square
  feature counts, e.g. Digits' 8x8 pixels), the test images the network got
  wrong and the first layer's weights drawn as images.
"""

from __future__ import annotations

import math

import numpy as np

from .files import atomic_write

__all__ = [
    "confusion_matrix",
    "first_layer_weights",
    "learning_curves",
    "misclassified_grid",
    "tuning_heatmap",
]

DPI = 100


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig, path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))


def learning_curves(history: list[dict], path, kept_epoch: int | None = None):
    """Loss (training, and validation if recorded) and validation accuracy against the epoch.

    With validation data, a star on both panels marks ``kept_epoch``: the epoch
    whose weights were saved (``History.best_epoch``). Without it, the star
    marks the epoch of the lowest validation loss, the one early stopping and
    Ctrl-C keep, which is not always the epoch of the best accuracy. Returns
    the ``Figure``, already written to ``path``.
    """
    epochs = [r["epoch"] for r in history]
    has_val = any("val_loss" in r for r in history)
    fig = _figure(9 if has_val else 5, 3.6)
    axes = fig.subplots(1, 2 if has_val else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(epochs, [r["loss"] for r in history], marker="o", ms=3, label="training loss")
    if has_val:
        ax.plot(epochs, [r.get("val_loss") for r in history], marker="o", ms=3, label="validation loss")
    ax.set(xlabel="epoch", ylabel="loss (mean per row)", title="Loss")
    ax.grid(alpha=0.3)
    if has_val:
        with_val = [r for r in history if r.get("val_loss") is not None]
        lowest = min(with_val, key=lambda r: r["val_loss"])["epoch"]
        kept = lowest if kept_epoch is None else kept_epoch
        record = next((r for r in history if r["epoch"] == kept), None)
        if record is None:
            raise ValueError(f"kept_epoch must be one of the history's epochs, got {kept_epoch!r}")
        why = {epochs[-1]: " (the last epoch)", lowest: " (lowest validation loss)"}.get(kept, "")
        star = {"marker": "*", "ms": 12, "ls": "none", "color": "tab:red", "zorder": 3}
        ax.plot([kept], [record["val_loss"]], **star, label=f"saved: epoch {kept}{why}")
        # the second panel shows the validation score: accuracy for classes, R2 for a numeric target
        key, name = ("val_r2", "R2") if "val_r2" in record else ("val_accuracy", "accuracy")
        acc_ax = axes[1]
        acc_ax.plot(epochs, [r.get(key) for r in history], marker="o", ms=3, color="tab:green")
        if record.get(key) is not None:
            acc_ax.plot([kept], [record[key]], **star, label=f"saved: epoch {kept}, {name} {record[key]:.4f}")
            acc_ax.legend(loc="lower right")
        acc_ax.set(xlabel="epoch", ylabel=name, title=f"Validation {name}")
        acc_ax.grid(alpha=0.3)
    ax.legend()
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    _save(fig, path)
    return fig


def confusion_matrix(
    matrix: np.ndarray, label_names: list[str], path, title: str = "Confusion matrix"
) -> None:
    """A ``(C, C)`` matrix of counts (rows: true class, columns: predicted class), annotated."""
    matrix = np.asarray(matrix)
    c = matrix.shape[0]
    size = min(10.0, max(4.0, 0.55 * c + 2.5))
    fig = _figure(size, size * 0.9)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(c)
    names = [_shorten(n) for n in label_names]
    ax.set_xticks(ticks, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(c):
        for j in range(c):
            colour = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
    _save(fig, path)


def _shorten(name: str, width: int = 14) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def tuning_heatmap(rows: list[dict], path, defaults: dict | None = None) -> None:
    """Best validation accuracy for each (learning rate, hidden units) pair, best batch size inside.

    ``rows`` are grid-search results (settings plus ``val_accuracy`` and
    ``status``). A dimension missing from the grid takes its value from
    ``defaults`` (the base settings), so the map is drawn for any grid.
    Diverged cells are grey and say so.
    """
    defaults = defaults or {}

    def get(row, key):
        value = row.get(key, defaults.get(key))
        return tuple(value) if isinstance(value, list) else value

    lrs = sorted({get(r, "learning_rate") for r in rows}, key=float)
    # the architecture axis: the layer specs when the grid searches them, else the MLP's widths
    arch = "layers" if any(get(r, "layers") is not None for r in rows) else "hidden_units"
    if arch == "layers":
        units = sorted({get(r, arch) for r in rows}, key=str)
    else:
        units = sorted({get(r, arch) for r in rows}, key=lambda u: (np.prod(u), str(u)))
    acc = np.full((len(lrs), len(units)), np.nan)
    best_bs: dict[tuple[int, int], object] = {}
    diverged = set()
    for row in rows:
        i, j = lrs.index(get(row, "learning_rate")), units.index(get(row, arch))
        if row.get("status") != "ok" or row.get("val_accuracy") is None:
            diverged.add((i, j))
            continue
        if np.isnan(acc[i, j]) or row["val_accuracy"] > acc[i, j]:
            acc[i, j] = row["val_accuracy"]
            best_bs[i, j] = get(row, "batch_size")
    fig = _figure(max(5.0, 1.3 * len(units) + 2.5), max(3.5, 0.75 * len(lrs) + 1.8))
    ax = fig.subplots()
    masked = np.ma.masked_invalid(acc)
    cmap = _with_white_background("viridis").with_extremes(bad="lightgrey")
    finite = acc[np.isfinite(acc)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax - vmin < 0.01:  # one value (or nearly): give the colour bar a readable range
        vmin, vmax = vmin - 0.005, vmax + 0.005
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(image, ax=ax, label="validation accuracy")
    labels = [_fmt(u) for u in units]
    long = arch == "layers" and max(map(len, labels)) > 12
    ax.set_xticks(range(len(units)), labels, rotation=20 if long else 0, ha="right" if long else "center")
    ax.set_yticks(range(len(lrs)), [_fmt(lr) for lr in lrs])
    xlabel = "layers" if arch == "layers" else "hidden units"
    ax.set(xlabel=xlabel, ylabel="learning rate", title="Grid search: best validation accuracy")
    mid = (vmin + vmax) / 2
    for i in range(len(lrs)):
        for j in range(len(units)):
            if np.isfinite(acc[i, j]):
                text = f"{acc[i, j]:.3f}\nbatch {_fmt(best_bs[i, j])}"
                colour = "black" if acc[i, j] > mid else "white"
            else:
                text, colour = ("diverged" if (i, j) in diverged else "-"), "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    _save(fig, path)


def _mosaic(tiles: list[np.ndarray], n_cols: int, gap_x: float, gap_y: float) -> np.ndarray:
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


def _with_white_background(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="white")


def misclassified_grid(
    images: np.ndarray,
    true: np.ndarray,
    predicted: np.ndarray,
    label_names: list[str],
    image_shape: tuple[int, int],
    path,
    max_images: int = 30,
) -> int:
    """Draw up to ``max_images`` rows of ``images`` whose ``true != predicted``; return how many were wrong.

    ``images`` are raw (unscaled) feature rows, reshaped to ``image_shape``;
    above each, its true and predicted labels.
    """
    true, predicted = np.asarray(true), np.asarray(predicted)
    wrong = np.flatnonzero(true != predicted)
    shown = wrong[:max_images]
    h, w = image_shape
    n_cols = min(10, max(1, len(shown)))
    n_rows = max(1, math.ceil(len(shown) / n_cols))
    fig = _figure(max(4.0, 0.86 * n_cols + 0.4), 1.2 * n_rows + 1.0)
    ax = fig.subplots()
    ax.axis("off")
    fig.suptitle(f"Misclassified: {len(wrong)} of {len(true)} (showing {len(shown)})", fontsize=10)
    if not len(shown):
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center", transform=ax.transAxes)
        _save(fig, path)
        return 0
    gap_x, gap_y = 0.25, 0.75  # room between tiles, and above each for its two-line caption
    tiles = [np.asarray(images[k], dtype=np.float64).reshape(image_shape) for k in shown]
    ax.imshow(
        _mosaic(tiles, n_cols, gap_x, gap_y), cmap=_with_white_background("gray_r"), interpolation="nearest"
    )
    gy, gx = round(gap_y * h), round(gap_x * w)
    for i, k in enumerate(shown):
        r, c = divmod(i, n_cols)
        x = gx + c * (w + gx) + w / 2 - 0.5
        y = gy + r * (h + gy) - 0.6
        caption = f"true {_shorten(label_names[true[k]], 6)}\npred {_shorten(label_names[predicted[k]], 6)}"
        ax.text(x, y, caption, ha="center", va="bottom", fontsize=7, color="tab:red")
    _save(fig, path)
    return len(wrong)


def _weight_tiles(tiles: list[np.ndarray], gap: float, title: str, path):
    """The 2-D weight ``tiles`` in rows of at most 8, red positive and blue negative on one
    symmetric scale, with a colour bar; written to ``path``, returns the ``Figure``."""
    limit = max(float(np.abs(t).max()) for t in tiles) or 1.0
    n_cols = min(8, len(tiles))
    n_rows = math.ceil(len(tiles) / n_cols)
    fig = _figure(max(4.0, 0.9 * n_cols + 1.4), max(2.6, 0.9 * n_rows + 0.7))
    ax = fig.subplots()
    ax.axis("off")
    image = ax.imshow(
        _mosaic(tiles, n_cols, gap, gap),
        cmap=_with_white_background("RdBu_r"),
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, shrink=0.9, label="weight")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def first_layer_weights(weights: np.ndarray, image_shape: tuple[int, int], path, max_units: int = 64):
    """Each column of the first Dense layer's ``W (n_features, units)`` drawn as an image.

    Weights that are not such a matrix (a convolution's 4-D filters, whose
    picture is ``plot_images.conv_filters``, a Dense layer after other layers,
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
