"""Plots of a classifier's results: the confusion matrix, and the images it got wrong."""

from __future__ import annotations

import math

import numpy as np

from .figure import figure, mosaic, save, shorten, with_white_background

__all__ = ["confusion_matrix", "misclassified_grid"]


def confusion_matrix(
    matrix: np.ndarray, label_names: list[str], path, title: str = "Confusion matrix"
) -> None:
    """A ``(C, C)`` matrix of counts (rows: true class, columns: predicted class), annotated."""
    matrix = np.asarray(matrix)
    c = matrix.shape[0]
    size = min(10.0, max(4.0, 0.55 * c + 2.5))
    fig = figure(size, size * 0.9)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(c)
    names = [shorten(n) for n in label_names]
    ax.set_xticks(ticks, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(c):
        for j in range(c):
            colour = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
    save(fig, path)


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
    fig = figure(max(4.0, 0.86 * n_cols + 0.4), 1.2 * n_rows + 1.0)
    ax = fig.subplots()
    ax.axis("off")
    fig.suptitle(f"Misclassified: {len(wrong)} of {len(true)} (showing {len(shown)})", fontsize=10)
    if not len(shown):
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center", transform=ax.transAxes)
        save(fig, path)
        return 0
    gap_x, gap_y = 0.25, 0.75  # room between tiles, and above each for its two-line caption
    tiles = [np.asarray(images[k], dtype=np.float64).reshape(image_shape) for k in shown]
    ax.imshow(
        mosaic(tiles, n_cols, gap_x, gap_y), cmap=with_white_background("gray_r"), interpolation="nearest"
    )
    gy, gx = round(gap_y * h), round(gap_x * w)
    for i, k in enumerate(shown):
        r, c = divmod(i, n_cols)
        x = gx + c * (w + gx) + w / 2 - 0.5
        y = gy + r * (h + gy) - 0.6
        caption = f"true {shorten(label_names[true[k]], 6)}\npred {shorten(label_names[predicted[k]], 6)}"
        ax.text(x, y, caption, ha="center", va="bottom", fontsize=7, color="tab:red")
    save(fig, path)
    return len(wrong)
