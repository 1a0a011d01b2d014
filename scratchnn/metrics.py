"""Scores of predictions against targets, each computed in one place.

``accuracy`` (the fraction of rows predicted right; for 0/1 columns, the rows
with every column right: subset accuracy), ``r2_score`` (the coefficient of
determination), ``mean_absolute_error`` and ``root_mean_squared_error``, with
scikit-learn's conventions (``sklearn.metrics``), in NumPy alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "mean_absolute_error", "r2_score", "root_mean_squared_error"]


def accuracy(y_true, y_pred) -> float:
    """Fraction of rows where ``y_pred`` equals ``y_true``; ``(N, k)`` rows count only if all k agree.

    As ``sklearn.metrics.accuracy_score`` (subset accuracy for multilabel rows).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = y_true == y_pred
    if right.ndim == 2:
        right = np.all(right, axis=1)
    return float(np.mean(right))


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over the output columns.

    As ``sklearn.metrics.r2_score`` (``multioutput="uniform_average"``): a column
    whose target is constant scores 1 if predicted exactly, else 0.
    """
    y = np.asarray(y_true, dtype=np.float64)
    y = y.reshape(y.shape[0], -1)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(y.shape)
    ss_res = np.sum((y - predicted) ** 2, axis=0)
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    safe = ss_tot > 0
    scores = np.where(ss_res == 0, 1.0, 0.0)
    scores[safe] = 1.0 - ss_res[safe] / ss_tot[safe]
    return float(np.mean(scores))


def mean_absolute_error(y_true, y_pred) -> float:
    """``mean(|y - p|)`` over every element."""
    return float(np.mean(np.abs(np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64))))


def root_mean_squared_error(y_true, y_pred) -> float:
    """``sqrt(mean((y - p)^2))`` over every element."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))
