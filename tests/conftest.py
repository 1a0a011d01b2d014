"""Helpers shared by the test modules: small synthetic data sets, a loss that records its values, and
the playground's server and browser as fixtures (one of each per test module that asks for it)."""

from __future__ import annotations

import numpy as np
import pytest
from playground_support import Browser, Server

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


@pytest.fixture(scope="module")
def server():
    """``python -m scratchnn playground --port 0``, running for the module's tests; stopped with Ctrl-C."""
    s = Server("--port", "0")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium through Playwright, for the module's tests."""
    b = Browser()
    yield b
    b.close()
