"""``TargetScaler``: the standardisation of a regression target, learned on the training rows.

Used by the training recipe (``scratchnn.config.train``), the command line
(``scratchnn.data.prepare``) and the regression estimator, and stored with a
model as plain JSON. ``scratchnn.data.TargetScaler`` is the same class.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TargetScaler"]


class TargetScaler:
    """Standardisation of regression targets, per output column: ``(y - mean) / scale``.

    The training recipe (``scratchnn.config.train``) fits a network to the
    standardised target, so the same learning rate suits targets in any units,
    and undoes it for predictions: ``inverse_transform(network.predict(x))`` is
    in the target's units. ``TargetScaler.fit(y_train)`` learns ``mean`` and
    ``scale``, the population standard deviation of each column over those
    rows (the training rows); a constant column gets scale 1. ``y`` is ``(N,)``
    (one target, ``ndim=1``) or ``(N, k)``; ``transform`` keeps the shape,
    ``inverse_transform`` of ``(N, 1)`` outputs gives ``(N,)`` for ``ndim=1``.
    Stored with a model as plain JSON (``to_dict``/``from_dict``), whose floats
    round-trip exactly, as ``Scaler``.
    """

    def __init__(self, mean, scale, ndim: int | None = None) -> None:
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
        if mean.ndim != 1 or mean.shape != scale.shape or mean.size == 0:
            raise ValueError(f"target scaler mean and scale must be 1-D of one length, got {mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("target scaler mean and scale must be finite, and scale > 0")
        ndim = (1 if mean.size == 1 else 2) if ndim is None else ndim
        if ndim not in (1, 2) or (ndim == 1 and mean.size != 1):
            raise ValueError(f"target scaler ndim must be 1 (one target) or 2, got {ndim!r}")
        self.mean, self.scale, self.ndim = mean, scale, int(ndim)

    @classmethod
    def fit(cls, y, sample_weight=None) -> TargetScaler:
        """A scaler with each column's mean and standard deviation over the rows of ``y``.

        With ``sample_weight (N,)`` both are weighted, so that a row of weight 2 counts as the
        row given twice.
        """
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.shape[0] == 0:
            raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}")
        y2 = y.reshape(y.shape[0], -1)
        if sample_weight is None:
            mean = y2.mean(axis=0)
            std = y2.std(axis=0)
        else:
            mean = np.average(y2, axis=0, weights=sample_weight)
            std = np.sqrt(np.average((y2 - mean) ** 2, axis=0, weights=sample_weight))
        scale = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean, scale, y.ndim)

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
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "ndim": self.ndim}

    @classmethod
    def from_dict(cls, d: dict) -> TargetScaler:
        try:
            return cls(d["mean"], d["scale"], d.get("ndim"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a target scaler needs 'mean' and 'scale' lists, got {d!r}") from exc
