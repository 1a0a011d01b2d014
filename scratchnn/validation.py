"""Checks for user input, shared by every entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the
argument and shows the bad value, e.g.
``ValueError: batch_size must be a positive integer, got 0``.
Checks run where data and settings enter the library (``fit``, ``predict``,
building a network), never inside a forward pass.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def check_random_state(seed) -> np.random.Generator:
    """Turn ``seed`` (None, an int or a Generator) into a ``np.random.Generator``.

    The one place a seed becomes a generator; everything below receives the
    generator. NumPy's global random state is never used.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int, None or a numpy Generator, got {seed!r}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and value >= 1:
            return int(value)
        raise TypeError(f"{name} must be a positive integer, got {_short(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {_short(value)}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_float_in_range(value, name: str, low: float, high: float, *, high_inclusive=False) -> float:
    """Return ``value`` as a float in ``[low, high)`` (or ``[low, high]``), or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_short(value)}")
    value = float(value)
    upper_ok = value <= high if high_inclusive else value < high
    if not (math.isfinite(value) and value >= low and upper_ok):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


def _all_finite(arr: np.ndarray) -> bool:
    """``np.all(np.isfinite(arr))``, for floats in one pass and without a boolean temporary.

    A NaN or an infinity makes any sum it enters non-finite, so a finite sum proves
    every element finite; only a sum that is not (a real NaN or inf, or finite
    values whose sum overflowed) needs the element-wise check.
    """
    if arr.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(arr, axis=None)):
                return True
    return bool(np.all(np.isfinite(arr)))


def check_float_range(x, dtype, name: str = "x", feature_names=None) -> None:
    """Raise ``ValueError`` if ``x`` holds a finite value that ``dtype`` cannot hold.

    A float64 value beyond float32's largest magnitude (about 3.4e38) is finite
    but becomes an infinity once cast; the message names the row, the feature
    (by ``feature_names[j]`` when given) and the value, and says what to do.
    ``x`` is a float array or a SciPy sparse matrix (whose stored values are
    checked). Costs two passes over ``x`` (its max and min), no temporary.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or x.dtype.kind != "f" or x.dtype.itemsize <= dtype.itemsize:
        return
    values = x.data if hasattr(x, "tocsr") else x  # a sparse matrix: its stored values
    if values.size == 0:
        return
    limit = float(np.finfo(dtype).max)
    with np.errstate(invalid="ignore"):
        if not (np.max(values) > limit or np.min(values) < -limit):
            return
    dense_rows = x.tocsr() if hasattr(x, "tocsr") else x
    for row in range(dense_rows.shape[0]):  # the first offending row: found once, on the error path
        line = dense_rows[row].toarray()[0] if hasattr(dense_rows, "tocsr") else dense_rows[row]
        big = np.flatnonzero(np.isfinite(line) & (np.abs(line) > limit))
        if big.size:
            col = int(big[0])
            break
    feature = f"feature {col}"
    if feature_names is not None:
        feature += f" ({str(feature_names[col])!r})"
    raise ValueError(
        f"{name} holds a value too large for {dtype.name} (first at row {row}, column {col}: "
        f"{line[col].item()!r}): {feature} exceeds {dtype.name}'s range (largest magnitude "
        f"{limit:.4g}); use dtype='float64' or scale the features (e.g. with StandardScaler)"
    )


def check_features(x, name: str = "x", dtype=None, n_features: int | None = None) -> np.ndarray:
    """Validate a feature matrix: 2-D, non-empty, numeric, finite.

    Returns a C-contiguous array of ``dtype`` (converted once, here, so the
    training loop never converts).
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]}: "
            f"{arr[bad[0], bad[1]].item()!r})"
        )
    # Finite float64 values beyond float32's range become inf in the cast: say so,
    # rather than let NumPy warn and the network train on infinities.
    if dtype is not None and arr.dtype.kind == "f":
        check_float_range(arr, dtype, name)
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(arr, dtype=dtype)
    arr = converted
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the network expects {n_features}")
    return arr


def check_labels(
    y,
    name: str = "y",
    n_samples: int | None = None,
    n_classes: int | None = None,
    *,
    x_name: str = "x",
) -> np.ndarray:
    """Validate class labels: integers ``0 <= y < n_classes`` of shape (N,),
    or a one-hot / probability matrix of shape (N, n_classes).

    ``n_samples`` is the number of rows of the features, named ``x_name`` in messages."""
    arr = np.asarray(y)
    if arr.ndim == 2:
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        if n_classes is not None and arr.shape[1] != n_classes:
            raise ValueError(f"{name} has {arr.shape[1]} columns, but the network has {n_classes} outputs")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinity")
    elif arr.ndim == 1:
        if arr.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
            if bad.size:
                raise TypeError(
                    f"{name} must hold integer class labels, got {arr[bad[0]].item()!r} at position {bad[0]}"
                )
            arr = arr.astype(np.int64)
        elif arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer class labels 0..n_classes-1, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or (n_classes is not None and arr.max() >= n_classes)):
            bad = arr.min() if arr.min() < 0 else arr.max()
            limit = f"0..{n_classes - 1}" if n_classes is not None else "non-negative"
            raise ValueError(f"{name} holds label {bad}, outside the network's classes {limit}")
    else:
        raise ValueError(f"{name} must be 1-D labels or a 2-D one-hot array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples, but {x_name} has {n_samples}")
    return np.ascontiguousarray(arr)


def check_targets(
    y,
    name: str = "y",
    n_samples: int | None = None,
    n_outputs: int | None = None,
    *,
    x_name: str = "x",
    dtype=None,
) -> np.ndarray:
    """Validate regression targets: finite numbers of shape (N,) or (N, k).

    ``n_outputs`` is the network's output width: k for (N, k), 1 for (N,).
    Returns a C-contiguous array of ``dtype`` (the network's), converted here once.
    """
    arr = np.asarray(y)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must hold numbers (regression targets), got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape (n_samples,) or (n_samples, n_outputs), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples, but {x_name} has {n_samples}")
    width = 1 if arr.ndim == 1 else arr.shape[1]
    if n_outputs is not None and width != n_outputs:
        raise ValueError(
            f"{name} has {width} target columns (shape {arr.shape}), but the network has {n_outputs} outputs"
        )
    if not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]})")
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(arr, dtype=dtype)
    if converted.dtype != arr.dtype and not _all_finite(converted):
        raise ValueError(f"{name} holds a value too large for {converted.dtype}")
    return converted


def check_sample_weight(sample_weight, n_samples: int, name: str = "sample_weight") -> np.ndarray | None:
    """``None``, or one finite weight ``>= 0`` per row as float64 ``(n_samples,)`` with a positive sum."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {_short(sample_weight)}") from None
    if w.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},), one weight per row, got shape {w.shape}")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite and >= 0, got {w[i]!r} at row {i}")
    if not w.sum() > 0:
        raise ValueError(f"{name} must not be all zero: no row would count")
    return np.ascontiguousarray(w)


def check_sequences(x, name: str = "x", dtype=None, lengths=None, n_features: int | None = None):
    """Validate a padded batch of sequences ``(N, T, F)`` and its ``lengths (N,)``.

    Returns ``(x, lengths)``: ``x`` C-contiguous in ``dtype`` (numeric, finite, non-empty),
    ``lengths`` an int64 array with ``1 <= lengths[i] <= T`` (or None: every sequence
    is full length). ``n_features``: the width F the network reads, if it fixes one.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a 3-D numeric array (N, T, F): {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D array of sequences (n_samples, n_steps, n_features), got shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at sample {bad[0]}, step {bad[1]})")
    if dtype is not None and arr.dtype.kind == "f":
        check_float_range(arr, dtype, name)
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if n_features is not None and arr.shape[2] != n_features:
        raise ValueError(
            f"{name} must be 2-D rows (n_samples, {n_features}) or sequences (n_samples, n_steps, "
            f"{n_features}) for this network, got shape {arr.shape}"
        )
    return arr, check_sequence_lengths(lengths, arr.shape[0], arr.shape[1], f"lengths of {name}")


def check_sequence_lengths(lengths, n: int, t: int, name: str = "lengths") -> np.ndarray | None:
    """``lengths`` as int64 ``(n,)`` with every value in ``[1, t]``, or None; else ValueError/TypeError."""
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array (n_samples,), got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one length per sequence, got {arr.shape}")
    if n and (arr.min() < 1 or arr.max() > t):
        bad = int(np.flatnonzero((arr < 1) | (arr > t))[0])
        raise ValueError(f"{name} must be between 1 and the {t} steps, got {arr[bad]} at sample {bad}")
    return arr.astype(np.int64)
