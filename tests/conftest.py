"""Helpers shared by the test modules: small synthetic data sets and a loss that records its values."""

from __future__ import annotations

import numpy as np

from scratchnn.losses import SoftmaxCrossEntropy


def teacher_data(rng: np.random.Generator, n: int, n_features: int, n_classes: int, dtype=np.float64):
    """``(x, y)``: Gaussian inputs ``(n, n_features)`` labelled by a random linear teacher.

    The labels depend on the inputs, so a network can learn them and a loss can go down.
    """
    x = rng.standard_normal((n, n_features)).astype(dtype)
    teacher = rng.standard_normal((n_features, n_classes))
    y = np.argmax(x @ teacher, axis=1).astype(np.int64)
    return x, y


class RecordingCrossEntropy(SoftmaxCrossEntropy):
    """``SoftmaxCrossEntropy`` that also keeps every value it returned and every target batch it saw.

    The trainer reports only epoch means; this gives the per-batch losses and
    the batch order without touching the trainer.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__(label_smoothing)
        self.values: list[float] = []
        self.targets: list[np.ndarray] = []

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        value = super().forward(outputs, targets)
        self.values.append(value)
        self.targets.append(np.array(targets, copy=True))
        return value
