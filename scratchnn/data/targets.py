"""What a target is for: classes, or a number to predict (``--task auto|classification|regression``).

A target arrives as text (a CSV file's cells, an ``.npz`` file's ``y``).
Text labels can only be classes; numbers may be either: ``choose_task``
reads a handful of whole numbers (the digits 0 to 9) as classes and any
other numbers (the 214 distinct values of diabetes' disease progression, or
prices with cents) as a quantity, and says why. Forcing numbers that cannot
be classes to be classes, or text to be a quantity, is an error that names
the value, the count and the way out.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_NUMERIC_CLASSES", "ROWS_PER_CLASS", "TASK_OPTIONS", "choose_task"]

#: What ``--task`` may say a target is for; ``auto`` lets ``choose_task`` decide.
TASK_OPTIONS = ("auto", "classification", "regression")

#: A numeric target with more distinct values than this, and more than one per
#: ``ROWS_PER_CLASS`` rows, is no set of classes: 214 values in 442 rows (diabetes)
#: is a quantity, the 10 digits in 1797 rows are classes.
MAX_NUMERIC_CLASSES = 20
ROWS_PER_CLASS = 5


def _numbers(labels) -> np.ndarray | None:
    """The labels as float64 if every one reads as a number, else None.

    A number is a CSV number: float() also reads ``8_243`` (Python's digit separator), which is not one.
    """
    if np.asarray(labels).dtype.kind in "UO" and "_" in "".join(map(str, labels)):
        return None
    try:
        return np.asarray(labels, dtype=np.float64)
    except (ValueError, TypeError):
        return None


def _where(row: int, lines) -> str:
    return f"line {int(lines[row])}" if lines is not None else f"row {row + 1}"


def _not_classes(values: np.ndarray, lines=None) -> tuple[str, str] | None:
    """Why numeric labels ``values`` are not class labels, as ``(what it holds, why that is no classes)``.

    None if they can be classes.
    """
    fractional = np.flatnonzero(values != np.round(values))
    if len(fractional):
        row = int(fractional[0])
        held = f"holds numbers that are not whole ({values[row]:g} on {_where(row, lines)})"
        return held, "which are not class labels (integers or strings)"
    n_distinct = len(np.unique(values))
    if n_distinct > MAX_NUMERIC_CLASSES and n_distinct * ROWS_PER_CLASS > len(values):
        held = f"holds {n_distinct} distinct numbers in {len(values)} rows"
        why = (
            f"too many to be classes (a classifier needs at most {MAX_NUMERIC_CLASSES} of them, or "
            f"{ROWS_PER_CLASS} rows per class)"
        )
        return held, why
    return None


def choose_task(labels, task: str = "auto", *, target: str = "target", source: str = "", lines=None):
    """``(task, reason)``: whether the target ``labels`` (text) is for classification or regression.

    ``task="auto"`` chooses regression when every value is a number and they
    are not a handful of whole numbers (``_not_classes``), classification
    otherwise; ``reason`` says why, in words. An explicit ``classification``
    of numbers that cannot be classes, or ``regression`` of a target that is
    not numbers, is a ``ValueError`` saying so and naming ``--task``.
    ``lines`` (a CSV file's line per row) lets messages name the line.
    """
    if task not in TASK_OPTIONS:
        raise ValueError(f"--task must be one of {', '.join(TASK_OPTIONS)}, got {task!r}")
    what = f"{source + ': ' if source else ''}the target column {target!r}"
    values = _numbers(labels)
    if values is not None and not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        if task != "classification":
            where = _where(row, lines)
            raise ValueError(f"{what} holds {str(labels[row])!r} on {where}, which is not a finite number")
        values = None
    if task == "regression":
        if values is None:
            row = next(i for i, v in enumerate(labels) if _numbers([v]) is None)
            raise ValueError(
                f"--task regression needs numbers in {what}, but it holds {str(labels[row])!r} on "
                f"{_where(row, lines)}"
            )
        return "regression", "--task regression"
    problem = None if values is None else _not_classes(values, lines)
    if task == "classification":
        if problem:
            raise ValueError(f"{what} {problem[0]}, {problem[1]}; for a numeric target use --task regression")
        return "classification", "--task classification"
    if values is None:
        return "classification", f"{target!r} holds text labels"
    if problem:
        return "regression", f"{target!r} {problem[0]}"
    return "classification", f"{target!r} holds {len(np.unique(values))} distinct whole numbers"
