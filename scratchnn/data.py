"""Preparing data for training: the task, splits, label codes, the train-only scalers.

Data flows one way: ``scratchnn.sources`` reads a SOURCE into raw arrays, and
this module prepares them (``scratchnn.tasks.choose_task`` first says whether
a target is classes or a number to predict). ``prepare`` does what the command line needs,
from plain values: labels as codes ``0..C-1`` (``1`` and ``1.0`` one class) or
a numeric target standardised by ``TargetScaler``, a test split and a
validation split (``split_indices``, both through ``stratified_split``), a
table's text columns and empty cells turned into numbers (a
``scratchnn.columns.ColumnPlan``), and features standardised with the
statistics of the training rows only (``Scaler``). ``load_digits_split`` and
``train_val_split`` serve ``main.py``.

The one rule for small classes (in ``stratified_split``): a split is stratified
when every class can be on both sides, and plain random otherwise (always
random for a regression target).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from .losses import TASKS
from .scalers import Scaler, TargetScaler
from .validation import check_float_in_range

__all__ = [
    "Prepared",
    "Scaler",
    "TargetScaler",
    "encode_labels",
    "encode_with",
    "fingerprint",
    "load_digits_split",
    "prepare",
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


def fingerprint(x: np.ndarray, labels) -> str:
    """A SHA-256 of the features and labels: tells ``evaluate`` it sees the training data again."""
    h = hashlib.sha256()
    h.update(repr(x.shape).encode())
    h.update(np.ascontiguousarray(x, dtype=np.float64).data)  # the buffer itself: no copy, as tobytes makes
    h.update("\0".join(str(v) for v in labels).encode())
    return h.hexdigest()


# -- scaling -------------------------------------------------------------------------


# -- everything the command line does before training ---------------------------------


@dataclass
class Prepared:
    """Features standardised on the training rows, the targets, and the three splits.

    ``x``: float64 ``(N, F)``, scaled by ``scaler``; ``train``, ``val``,
    ``test``: sorted row indices (``val`` and ``test`` may be empty). For
    classification, ``y``: int64 codes ``(N,)`` into ``label_names``. For
    regression (``task``), ``y``: float64 ``(N,)`` standardised by
    ``target_scaler`` (fitted on the training rows), and ``targets``: the
    same in the target's own units. ``columns``: the ``ColumnPlan`` that made
    ``x`` from a table with text columns or empty cells, else None.
    """

    x: np.ndarray
    y: np.ndarray
    label_names: list[str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    scaler: Scaler
    task: str = "classification"
    targets: np.ndarray | None = None
    target_scaler: object = None
    columns: object = None

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def n_outputs(self) -> int:
        """The width of the network's output: one per class, or one for a numeric target."""
        return 1 if TASKS[self.task].numeric else self.n_classes

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of the rows of one split: ``"train"``, ``"val"`` or ``"test"``."""
        rows = getattr(self, name)
        return self.x[rows], self.y[rows]


def prepare(
    x: np.ndarray,
    labels,
    *,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    task: str = "classification",
    columns=None,
) -> Prepared:
    """Encode the targets, split the rows, and scale ``x`` with the statistics of the training rows.

    ``task`` is ``"classification"`` (``labels`` become class codes, splits
    stratified) or ``"regression"`` (``labels`` are numbers, standardised with
    a ``TargetScaler`` fitted on the training rows; splits random).
    ``columns``, if given, is called with the training rows' indices and
    returns ``(features of every row, plan)``: it turns a table with text
    columns or empty cells into numbers (``scratchnn.columns``) learning only
    from the training rows.
    """
    numeric = TASKS[task].numeric
    if numeric:
        targets = np.asarray(labels, dtype=np.float64)
        y, names = targets, []
    else:
        targets = None
        y, names = encode_labels(labels)
    train, val, test = split_indices(y, test_fraction, val_fraction, seed, classes=not numeric)
    plan = None
    if columns is not None:
        x, plan = columns(train)
    target_scaler = None
    if numeric:
        target_scaler = TargetScaler.fit(targets[train])
        y = target_scaler.transform(targets)
    scaler = Scaler.fit(x[train])
    return Prepared(
        scaler.transform(x), y, names, train, val, test, scaler, task, targets, target_scaler, plan
    )
