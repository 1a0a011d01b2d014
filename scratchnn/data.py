"""Loading data. The only module of the core library's surroundings that needs scikit-learn."""

from __future__ import annotations

import numpy as np

from .validation import check_float_in_range

__all__ = ["load_digits_split", "train_val_split"]


def load_digits_split(test_size: float = 0.2, seed: int = 42):
    """scikit-learn's Digits (1797 images of 8x8 pixels, 10 classes), split into train and test.

    Pixels (0..16) are scaled to [0, 1]. The split is stratified (every digit in
    the same proportion on both sides) and fixed by ``seed``.

    Returns ``(x_train, x_test, y_train, y_test)``: float32 features of shape
    ``(N, 64)`` and int64 labels of shape ``(N,)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_float_in_range(test_size, "test_size", 0.0, 1.0)
    if test_size == 0.0:
        raise ValueError("test_size must be > 0, got 0.0")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)


def train_val_split(x, y, val_size: float = 0.2, seed: int = 0):
    """Stratified split of a training set into ``(x_fit, x_val, y_fit, y_val)``.

    The validation part is what hyperparameters are chosen on, so the test set
    is never looked at before the final evaluation.
    """
    from sklearn.model_selection import train_test_split

    check_float_in_range(val_size, "val_size", 0.0, 1.0)
    if val_size == 0.0:
        raise ValueError("val_size must be > 0, got 0.0")
    return train_test_split(x, y, test_size=val_size, stratify=y, random_state=seed)
