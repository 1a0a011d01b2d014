"""Data sources for the command-line tool: built-in data sets, CSV files and ``.npz`` files.

A SOURCE is one of

* the name of a data set bundled with scikit-learn: ``digits``, ``iris``,
  ``wine`` or ``breast_cancer``;
* a ``.csv`` file with a header row: one column is the label (``target``, the
  last column by default; labels may be numbers or strings), every other
  column is a numeric feature;
* a ``.npz`` file holding an array ``X`` (n_samples, n_features) and an array
  ``y`` (n_samples,) of labels (integers or strings).

Everything here reads: it turns user files into plain arrays, raw features
(float64) and labels as text. Preparing them for training (label codes,
splits, scaling) is ``scratchnn.data``'s job. Errors name the file, the line
and the column.
"""

from __future__ import annotations

import csv
import math
import operator
import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BUILTIN",
    "IMAGE_SHAPES",
    "Dataset",
    "image_shape_for",
    "load_source",
    "read_feature_csv",
]

#: Data sets bundled with scikit-learn, by the name the command line takes.
BUILTIN = ("digits", "iris", "wine", "breast_cancer")

#: The image (C, H, W) each row of a built-in data set holds, for convolutional networks.
IMAGE_SHAPES = {"digits": (1, 8, 8)}

#: Cells read as a missing value (pandas' common defaults, in lower case).
_MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "?"}

#: Cells parsed per block while reading a CSV file (see ``_read_table``).
_BLOCK_CELLS = 1 << 16


@dataclass
class Dataset:
    """A table of raw features and text labels, as read from a SOURCE.

    ``x``: float64 ``(N, F)``; ``labels``: str ``(N,)``; ``feature_names``: F
    column names; ``target``: the name of the label column; ``image_shape``:
    ``(h, w)`` when the rows are images (see ``image_shape_for``), else None;
    ``input_shape``: ``(C, H, W)`` when the source says what image each row
    holds (``IMAGE_SHAPES`` for the built-in sets; the command line's
    ``--image-shape`` for files), else None.
    """

    name: str
    x: np.ndarray
    labels: np.ndarray
    feature_names: list[str]
    target: str
    image_shape: tuple[int, int] | None = None
    input_shape: tuple[int, int, int] | None = None

    @property
    def n_rows(self) -> int:
        return self.x.shape[0]


def image_shape_for(n_features: int) -> tuple[int, int] | None:
    """``(s, s)`` if the rows look like square images (``s * s == n_features``, ``s >= 4``)."""
    side = math.isqrt(n_features)
    return (side, side) if side >= 4 and side * side == n_features else None


# -- reading ---------------------------------------------------------------------


def load_source(source: str, target: str | None = None, default_target: str | None = None) -> Dataset:
    """Read SOURCE (a built-in name, a ``.csv`` or a ``.npz`` path) into a ``Dataset``.

    ``target`` names the label column of a CSV file; without it, the column
    named ``default_target`` (a model's own label column) if the file has one,
    else the last column. ``target`` must be None or ``"target"`` for the other
    kinds of source.
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"data must be a data set name or a file path, got {source!r}")
    if source in BUILTIN:
        _check_target_unused(source, target)
        return _load_builtin(source)
    lower = source.lower()
    if lower.endswith(".csv"):
        return _load_csv(source, target, default_target)
    if lower.endswith(".npz"):
        _check_target_unused(source, target)
        return _load_npz(source)
    raise ValueError(
        f"data must be one of {', '.join(BUILTIN)}, or a path ending in .csv or .npz, got {source!r}"
    )


def _check_target_unused(source: str, target: str | None) -> None:
    if target not in (None, "target"):
        raise ValueError(f"--target applies to CSV files only, got --target {target!r} for {source!r}")


def _load_builtin(name: str) -> Dataset:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    names = [str(n) for n in bunch.target_names]
    labels = np.array([names[int(i)] for i in bunch.target])
    features = [str(f) for f in getattr(bunch, "feature_names", [])] or _default_names(x.shape[1])
    return Dataset(name, x, labels, features, "target", image_shape_for(x.shape[1]), IMAGE_SHAPES.get(name))


def _default_names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def _load_npz(path: str) -> Dataset:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path}")
    files: set = set()
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(getattr(data, "files", ()))
            if {"X", "y"} <= files:
                x, y = data["X"], data["y"]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{path} holds pickled objects, which are refused for safety") from None
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from None
    if not {"X", "y"} <= files:
        raise ValueError(f"{path} must be an .npz file holding arrays 'X' and 'y', found {sorted(files)}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{path}: X must be a non-empty 2-D array (n_samples, n_features), got {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
        raise ValueError(f"{path}: X must be numeric, got dtype {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{path}: y must be 1-D with one label per row of X ({x.shape[0]}), got {y.shape}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        row, col = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"{path}: X holds {x[row, col]} (missing or infinite) at row {row}, column {col}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(
                f"{path}: y must hold class labels (integers or strings), got non-integer floats"
            )
        y = y.astype(np.int64)
    if y.dtype.kind not in "iubUS":
        raise ValueError(f"{path}: y must hold integers or strings, got dtype {y.dtype}")
    labels = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()])
    return Dataset(path, x, labels, _default_names(x.shape[1]), "target", image_shape_for(x.shape[1]))


def _count_lines(path: str) -> int:
    """Newlines in the file, plus one: an upper bound on its rows, found without parsing."""
    count = 1
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _rows(path: str):
    """Yield ``(line number, cells)`` for each non-blank row of a CSV file, the header first."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for cells in reader:
                # a row is blank if it has no cell, or only empty ones (",,,"); test the first
                # cell before scanning the whole row, so a wide file is read in linear time
                if not cells or (not cells[0].strip() and all(not c.strip() for c in cells)):
                    continue
                yield reader.line_num, cells
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV: {exc}") from None


def _read_table(path: str, choose) -> tuple[list[str], np.ndarray, int | None, np.ndarray | None]:
    """Read a CSV file in one pass: ``(header, features, label column, labels)``.

    ``choose(header)`` returns the indices of the feature columns, in the order
    wanted, and the index of the label column (or None). Features come out as
    float64 ``(N, len(columns))``, labels as stripped text ``(N,)``; blank lines
    are skipped.

    The time is linear in the number of cells and the memory about one float
    array: the array is allocated once for as many rows as the file has lines
    (pages never written cost nothing) and filled a block of rows at a time, so
    only one block's cells are ever held as Python strings.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path}")
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{path} is empty: expected a header row naming the columns")
    header = [c.strip() for c in first[1]]
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise ValueError(f"{path}: header column {i + 1} has no name")
        if name in seen:
            raise ValueError(f"{path}: the header names column {name!r} twice")
        seen.add(name)
    columns, label = choose(header)
    width = len(header)
    # operator.itemgetter picks the cells in C; with one column it returns a bare cell, not a tuple
    pick = operator.itemgetter(*columns) if len(columns) > 1 else (lambda cells: (cells[columns[0]],))
    x = np.empty((_count_lines(path), len(columns)))
    labels: list[str] = []
    block: list = []
    block_lines: list[int] = []
    block_rows = max(1, _BLOCK_CELLS // max(1, len(columns)))
    n = 0
    for line, cells in rows:
        if len(cells) != width:
            raise ValueError(
                f"{path}: line {line} has {len(cells)} cells, but the header has {width} columns"
            )
        block.append(pick(cells))
        block_lines.append(line)
        if label is not None:
            text = cells[label].strip()
            if not text:
                raise ValueError(f"{path}: missing label in column {header[label]!r} on line {line}")
            labels.append(text)
        if len(block) == block_rows:
            _fill(x[n : n + len(block)], path, header, columns, block, block_lines)
            n += len(block)
            block, block_lines = [], []
    if block:
        _fill(x[n : n + len(block)], path, header, columns, block, block_lines)
        n += len(block)
    if n == 0:
        raise ValueError(f"{path} has a header but no data rows")
    if n < x.shape[0]:
        x.resize((n, len(columns)), refcheck=False)  # in place: no second copy of the array
    return header, x, label, (np.array(labels) if label is not None else None)


def _fill(out: np.ndarray, path, header, columns, block, lines) -> None:
    """Parse a block of rows of text cells into ``out``; errors name the first bad cell's line and column."""
    try:
        out[...] = block  # NumPy parses the strings as float() does; fast path
        if np.isfinite(out).all():
            return
    except ValueError:
        pass
    for row, line in zip(block, lines):  # slow path: find the first bad cell
        for j, cell in zip(columns, row):
            text = cell.strip()
            if text.lower() in _MISSING:
                shown = "an empty cell" if not text else repr(text)
                raise ValueError(f"{path}: missing value ({shown}) in column {header[j]!r} on line {line}")
            try:
                value = float(text)
            except ValueError:
                raise ValueError(
                    f"{path}: column {header[j]!r} on line {line} holds {text!r}, which is not a number"
                    f" (if {header[j]!r} is the label column, pass --target {header[j]!r})"
                ) from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{path}: column {header[j]!r} on line {line} holds {text!r}, which is not finite"
                )
    raise ValueError(f"{path}: could not read the feature columns as numbers")  # pragma: no cover


def _load_csv(path: str, target: str | None, default_target: str | None = None) -> Dataset:
    def choose(header):
        if len(header) < 2:
            raise ValueError(f"{path} needs at least one feature column and a label column, got {header}")
        if target is None and default_target in header:
            t = header.index(default_target)
        elif target is None:
            t = len(header) - 1
        elif target in header:
            t = header.index(target)
        else:
            raise ValueError(f"--target {target!r} is not a column of {path}; its columns are {header}")
        return [j for j in range(len(header)) if j != t], t

    header, x, t, labels = _read_table(path, choose)
    features = header[:t] + header[t + 1 :]
    return Dataset(path, x, labels, features, header[t], image_shape_for(len(features)))


def read_feature_csv(path: str, feature_names: list[str], target: str | None = None) -> np.ndarray:
    """Raw feature rows of a CSV file, columns picked by name in the model's order.

    A column named like ``target`` (the label column the model was trained
    on) is ignored; any other column the model does not know is an error, so a
    misspelt header is not silently dropped.
    """

    def choose(header):
        position = {name: j for j, name in enumerate(header)}
        missing = [name for name in feature_names if name not in position]
        if missing:
            raise ValueError(
                f"{path} lacks the feature column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''} "
                f"that the model was trained on"
            )
        known = set(feature_names)
        extra = [name for name in header if name not in known and name != target]
        if extra:
            raise ValueError(
                f"{path} has column {extra[0]!r}, which is neither a feature of the model nor its "
                f"label column {target!r}"
            )
        return [position[name] for name in feature_names], None

    return _read_table(path, choose)[1]
