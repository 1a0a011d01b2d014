"""Preparing a table for training: the target encoded, the rows split, the columns and scalers learned.

Data flows one way: ``sources`` reads a SOURCE into raw arrays, ``targets.choose_task``
says whether a target is classes or a number to predict, and ``prepare`` does what the
command line needs, from plain values: labels as codes ``0..C-1`` or a numeric target
standardised by ``TargetScaler``, a test split and a validation split (``split_indices``),
a table's text columns and empty cells turned into numbers (a ``columns.ColumnPlan``),
and features standardised with the statistics of the training rows only (``Scaler``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..losses import TASKS
from .scalers import Scaler, TargetScaler
from .splits import encode_labels, split_indices

__all__ = ["Prepared", "fingerprint", "prepare"]


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
    columns or empty cells into numbers (``scratchnn.data.columns``) learning only
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
