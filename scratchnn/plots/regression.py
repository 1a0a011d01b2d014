"""Plots of a regression model's predictions, written as PNG files with matplotlib's Agg renderer.

As in ``scratchnn.plots``: figures built with ``matplotlib.figure.Figure``
(no ``pyplot``, no display, no global state) and written atomically through
``scratchnn.files.atomic_write``.

* ``predicted_vs_actual``: one point per row, predicted value against the
  true one, with the diagonal ``predicted = actual`` that a perfect model
  would lie on;
* ``residuals``: ``actual - predicted`` against the predicted value (a good
  model's cloud is flat around 0), and their histogram.
"""

from __future__ import annotations

import numpy as np

from .figure import figure, save

__all__ = ["predicted_vs_actual", "residuals"]


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty and of one length, got {y_true.shape}, {y_pred.shape}"
        )
    return y_true, y_pred


def predicted_vs_actual(y_true, y_pred, path, title: str = "Predicted against actual", metrics: str = ""):
    """Scatter of ``y_pred`` against ``y_true`` (both ``(N,)``) with the diagonal; returns the ``Figure``.

    ``metrics`` (e.g. "R2 0.45, MAE 43.1") is written in the corner.
    """
    y_true, y_pred = _check(y_true, y_pred)
    fig = figure(5, 5)
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=14, alpha=0.6, edgecolors="none")
    low = float(min(y_true.min(), y_pred.min()))
    high = float(max(y_true.max(), y_pred.max()))
    pad = 0.02 * (high - low or 1.0)
    ax.plot(
        [low - pad, high + pad],
        [low - pad, high + pad],
        color="grey",
        lw=1,
        ls="--",
        label="predicted = actual",
    )
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    ax.legend(loc="upper left")
    if metrics:
        ax.text(0.98, 0.02, metrics, transform=ax.transAxes, ha="right", va="bottom")
    save(fig, path)
    return fig


def residuals(y_true, y_pred, path, title: str = "Residuals"):
    """``y_true - y_pred`` against ``y_pred``, and their histogram; returns the ``Figure``."""
    y_true, y_pred = _check(y_true, y_pred)
    res = y_true - y_pred
    fig = figure(9, 3.8)
    left, right = fig.subplots(1, 2, width_ratios=(2, 1))
    left.scatter(y_pred, res, s=14, alpha=0.6, edgecolors="none")
    left.axhline(0.0, color="grey", lw=1, ls="--")
    left.set_xlabel("predicted")
    left.set_ylabel("actual - predicted")
    left.set_title(title)
    right.hist(
        res, bins=min(30, max(5, res.size // 5)), orientation="horizontal", color="tab:blue", alpha=0.7
    )
    right.axhline(0.0, color="grey", lw=1, ls="--")
    right.set_xlabel("rows")
    right.set_title("distribution")
    save(fig, path)
    return fig
