"""Standardisation, learned on the training rows: ``Scaler`` for the features, ``TargetScaler`` for a
numeric target.

Both compute ``(x - mean) / scale`` per column, with ``scale`` the population
standard deviation over the rows ``fit`` saw (the training split only, so
nothing leaks from the validation or test rows), as scikit-learn's
``StandardScaler``; a constant column gets scale 1, not a division by zero.
Both are stored with a model as plain JSON lists (``to_dict``), whose floats
round-trip exactly, so a loaded model scales bit for bit the same.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Scaler", "TargetScaler"]


#: A column is constant when its standard deviation is at most this share of its largest magnitude.
CONSTANT_SPREAD = 1e-12


def _mean_and_scale(x2: np.ndarray, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation over the rows of ``x2 (N, k)``; 1 for a constant column.

    With ``weights (N,)`` both are weighted, so that a row of weight 2 counts as the row given twice.
    Constant means a spread negligible relative to the column's own values
    (``std <= CONSTANT_SPREAD * max|x|``, rounding noise), not to 1: prices in
    units of 1e-20 vary as much as prices in units of 1. A constant column (all
    pixels of a border, say) would otherwise divide by zero.
    """
    if weights is None:
        mean = x2.mean(axis=0)
        std = x2.std(axis=0)
    else:
        mean = np.average(x2, axis=0, weights=weights)
        std = np.sqrt(np.average((x2 - mean) ** 2, axis=0, weights=weights))
    scale = np.where(std > CONSTANT_SPREAD * np.abs(x2).max(axis=0), std, 1.0)
    return mean, scale


class Scaler:
    """Standardisation of features ``(N, F)``: ``(x - mean) / scale``, like ``StandardScaler``."""

    _what = "scaler"  # what messages call it

    def __init__(self, mean, scale) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        if self.mean.ndim != 1 or self.mean.shape != self.scale.shape or self.mean.size == 0:
            raise ValueError(f"{self._what} mean and scale must be 1-D of one length, got {self.mean.shape}")
        if not (
            np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.scale)) and np.all(self.scale > 0)
        ):
            raise ValueError(f"{self._what} mean and scale must be finite, and scale > 0")

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaler:
        return cls(*_mean_and_scale(np.asarray(x, dtype=np.float64)))

    @classmethod
    def identity(cls, n_features: int) -> Scaler:
        return cls(np.zeros(n_features), np.ones(n_features))

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x has shape {x.shape}, but the scaler expects {self.mean.shape[0]} features")
        return (x - self.mean) / self.scale

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        try:
            return cls(d["mean"], d["scale"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the model's scaler is malformed: {exc}") from None


class TargetScaler(Scaler):
    """The standardisation of a regression target, per output column: ``Scaler`` with the target's shape.

    The training recipe (``scratchnn.recipe.train.train``) fits a network to the
    standardised target, so the same learning rate suits targets in any units,
    and undoes it for predictions: ``inverse_transform(network.predict(x))`` is
    in the target's units. ``y`` is ``(N,)`` (one target, ``ndim=1``) or
    ``(N, k)``; ``transform`` keeps the shape, ``inverse_transform`` of
    ``(N, 1)`` outputs gives ``(N,)`` for ``ndim=1``.
    """

    _what = "target scaler"

    def __init__(self, mean, scale, ndim: int | None = None) -> None:
        super().__init__(mean, scale)
        ndim = (1 if self.mean.size == 1 else 2) if ndim is None else ndim
        if ndim not in (1, 2) or (ndim == 1 and self.mean.size != 1):
            raise ValueError(f"target scaler ndim must be 1 (one target) or 2, got {ndim!r}")
        self.ndim = int(ndim)

    @classmethod
    def fit(cls, y, sample_weight=None) -> TargetScaler:
        """A scaler with each column's mean and standard deviation over the rows of ``y``
        (weighted by ``sample_weight (N,)`` if given)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.shape[0] == 0:
            raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}")
        return cls(*_mean_and_scale(y.reshape(y.shape[0], -1), sample_weight), y.ndim)

    def _as_2d(self, y, name: str) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}")
        y2 = y.reshape(y.shape[0], -1)
        if y2.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"{name} has {y2.shape[1]} target columns, but the scaler was fitted on {self.mean.shape[0]}"
            )
        return y2

    def transform(self, y) -> np.ndarray:
        """``(y - mean) / scale``, float64, in the shape of ``y``."""
        return ((self._as_2d(y, "y") - self.mean) / self.scale).reshape(np.shape(y))

    def inverse_transform(self, z) -> np.ndarray:
        """``z * scale + mean``: standardised values (a network's outputs) back in the target's units."""
        y = self._as_2d(z, "z") * self.scale + self.mean
        return y[:, 0] if self.ndim == 1 else y

    def to_dict(self) -> dict:
        return {**super().to_dict(), "ndim": self.ndim}

    @classmethod
    def from_dict(cls, d: dict) -> TargetScaler:
        try:
            return cls(d["mean"], d["scale"], d.get("ndim"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a target scaler needs 'mean' and 'scale' lists, got {d!r}") from exc
