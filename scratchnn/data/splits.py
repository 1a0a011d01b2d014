"""Splits and label codes: which rows train, which validate, which test, and classes as ``0..C-1``.

Labels become codes ``0..C-1`` (``encode_labels``; ``1`` and ``1.0`` one class,
numbers sorted numerically); a test split and a validation split come from
``split_indices``, both through ``stratified_split``. ``load_digits_split``
and ``train_val_split`` serve ``main.py``.

The one rule for small classes (in ``stratified_split``): a split is stratified
when every class can be on both sides, and plain random otherwise (always
random for a regression target).
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_float_in_range

__all__ = [
    "encode_labels",
    "encode_with",
    "load_digits_split",
    "split_indices",
    "stratified_split",
    "train_val_split",
]


def _check_fraction(value: float, name: str) -> float:
    value = check_float_in_range(value, name, 0.0, 1.0)
    if value == 0.0:
        raise ValueError(f"{name} must be > 0, got 0.0")
    return value


def stratified_split(y, fraction: float, seed: int, classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(kept, held_out)`` of ``y``, with ``ceil(fraction * N)`` rows held out.

    Stratified (each class in the same proportion on both sides, through
    scikit-learn's ``train_test_split``) when ``y`` holds ``classes``, every
    class has at least two rows and each side can hold one row of every
    class; plain random otherwise (always for a regression target,
    ``classes=False``). Either way fixed by ``seed``. The indices come in the
    split's own order.
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    idx = np.arange(len(y))
    n_held = math.ceil(fraction * len(y))
    stratify = False
    if classes:
        _, counts = np.unique(y, return_counts=True)
        n_classes = len(counts)
        stratify = counts.min() >= 2 and n_classes <= n_held and n_classes <= len(y) - n_held
    return tuple(
        train_test_split(idx, test_size=fraction, stratify=y if stratify else None, random_state=seed)
    )


def train_val_split(x, y, val_size: float = 0.2, seed: int = 0):
    """Stratified split of a training set into ``(x_fit, x_val, y_fit, y_val)``.

    The validation part is what hyperparameters are chosen on, so the test set
    is never looked at before the final evaluation.
    """
    _check_fraction(val_size, "val_size")
    kept, held = stratified_split(y, val_size, seed)
    return x[kept], x[held], y[kept], y[held]


def load_digits_split(test_size: float = 0.2, seed: int = 42):
    """scikit-learn's Digits (1797 images of 8x8 pixels, 10 classes), split into train and test.

    Pixels (0..16) are scaled to [0, 1]. The split is stratified (every digit in
    the same proportion on both sides) and fixed by ``seed``.

    Returns ``(x_train, x_test, y_train, y_test)``: float32 features of shape
    ``(N, 64)`` and int64 labels of shape ``(N,)``.
    """
    from sklearn.datasets import load_digits

    _check_fraction(test_size, "test_size")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    kept, held = stratified_split(y, test_size, seed)
    return x[kept], x[held], y[kept], y[held]


def split_indices(
    y: np.ndarray, test_fraction: float, val_fraction: float, seed: int, classes: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(train, val, test)``, each sorted: first the test split, then validation from the rest.

    Both go through ``stratified_split`` with ``seed`` (stratified by class
    when ``classes``), so ``evaluate`` can recompute the very same test split
    from the model file. A fraction of 0 gives an empty split.
    """
    rest = np.arange(len(y))
    parts = {}
    for name, fraction in (("--test-fraction", test_fraction), ("--val-fraction", val_fraction)):
        if fraction <= 0:
            parts[name] = np.empty(0, dtype=np.int64)
            continue
        if math.ceil(fraction * len(rest)) >= len(rest):
            raise ValueError(f"{name} {fraction} leaves no training rows out of {len(rest)}")
        kept, held = stratified_split(np.asarray(y)[rest], fraction, seed, classes)
        rest, parts[name] = np.sort(rest[kept]), np.sort(rest[held])
    return rest, parts["--val-fraction"], parts["--test-fraction"]


# -- labels ----------------------------------------------------------------------------


def _canonical(names) -> dict[str, str]:
    """Each distinct label text -> its class name: a whole number written one way (``1.0`` is ``1``)."""
    out = {}
    for name in names:
        try:
            value = float(name)
        except ValueError:
            value = math.nan
        whole = math.isfinite(value) and value.is_integer() and abs(value) < 2**53
        out[name] = str(int(value)) if whole else name
    return out


def _label_key(text: str):
    try:
        return (0, float(text), text)  # numeric labels in numeric order: 2 before 10
    except ValueError:
        return (1, 0.0, text)


def encode_labels(labels) -> tuple[np.ndarray, list[str]]:
    """Labels as ``0..C-1`` and the C label names, sorted (numerically if all are numbers).

    Labels that are the same whole number are one class: ``1`` and ``1.0`` are
    both class ``1``.
    """
    canonical = _canonical({str(v) for v in labels})
    names = sorted(set(canonical.values()), key=_label_key)
    if len(names) < 2:
        raise ValueError(f"the labels must hold at least two classes, got only {names}")
    return encode_with(labels, names), names


def encode_with(labels, names: list[str]) -> np.ndarray:
    """Labels as indices into ``names`` (a model's label names); unknown labels raise."""
    index = {name: i for i, name in enumerate(names)}
    canonical = _canonical({str(v) for v in labels})
    code = {text: index.get(name) for text, name in canonical.items()}
    out = np.empty(len(labels), dtype=np.int64)
    for i, v in enumerate(labels):
        c = code[str(v)]
        if c is None:
            raise ValueError(f"label {str(v)!r} (data row {i + 1}) is not one of the model's classes {names}")
        out[i] = c
    return out
