"""Data sources for the command-line tool: built-in data sets, CSV files and ``.npz`` files.

A SOURCE is one of

* the name of a data set bundled with scikit-learn: ``digits``, ``iris``,
  ``wine`` or ``breast_cancer`` (classes), or ``diabetes`` (a numeric target);
* a ``.csv`` file with a header row: one column is the target (``target``,
  the last column by default; labels may be numbers or strings, a numeric
  target may be a quantity), every other column is a feature: numbers, or
  text (a column in which no cell is a number, or one named ``--categorical``);
* a ``.npz`` file holding an array ``X`` (n_samples, n_features) and an array
  ``y`` (n_samples,) of labels (integers or strings) or numbers.

Everything here reads: it turns user files into plain arrays, raw features
(float64) and labels as text. Preparing them for training (label codes,
splits, scaling) is ``scratchnn.data``'s job. Errors name the file, the line
and the column.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .csv_reader import read_table

__all__ = [
    "BUILTIN",
    "IMAGE_SHAPES",
    "Dataset",
    "image_shape_for",
    "load_source",
    "read_features",
]

#: Data sets bundled with scikit-learn, by the name the command line takes.
BUILTIN = ("digits", "iris", "wine", "breast_cancer", "diabetes")

#: The image (C, H, W) each row of a built-in data set holds, for convolutional networks.
IMAGE_SHAPES = {"digits": (1, 8, 8)}

#: Cells parsed per block while reading a CSV file (see ``scratchnn.data.csv_reader.read_table``).
_BLOCK_CELLS = 1 << 16


@dataclass
class Dataset:
    """A table of raw features and text labels, as read from a SOURCE.

    ``x``: float64 ``(N, F)``, NaN in text columns and empty cells;
    ``labels``: str ``(N,)`` (None for rows to predict); ``feature_names``: F
    column names; ``target``: the name of the label column; ``image_shape``:
    ``(h, w)`` when the rows are images (see ``image_shape_for``), else None;
    ``input_shape``: ``(C, H, W)`` when the source says what image each row
    holds (``IMAGE_SHAPES`` for the built-in sets; the command line's
    ``--image-shape`` for files), else None.
    A CSV file may also have ``text`` columns (name -> the cells, an object
    array ``(N,)`` with "" where empty) and ``missing`` cells (name -> their
    ``(row, line)``); ``lines`` gives each row's line in the file.
    """

    name: str
    x: np.ndarray
    labels: np.ndarray | None
    feature_names: list[str]
    target: str
    image_shape: tuple[int, int] | None = None
    text: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    lines: np.ndarray | None = None
    input_shape: tuple[int, int, int] | None = None

    @property
    def n_rows(self) -> int:
        return self.x.shape[0]

    @property
    def is_plain(self) -> bool:
        """True if every feature is a number and no cell is empty: nothing for ``columns`` to do."""
        return not self.text and not self.missing

    def where(self, row: int) -> str:
        """Row ``row`` (0-based) in words: its line in the file, or its row number."""
        if self.lines is not None:
            return f"line {int(self.lines[row])}"
        return f"row {row + 1}"

    def select(self, feature_names: list[str] | None) -> np.ndarray:
        """The columns of ``x`` in the order of ``feature_names`` (a model's), by name; all if None."""
        if not feature_names or self.feature_names == feature_names:
            return self.x
        missing = [n for n in feature_names if n not in self.feature_names]
        if missing:
            raise ValueError(
                f"{self.name} lacks the feature column(s) {', '.join(map(repr, missing[:5]))} the model was "
                "trained on"
            )
        extra = [n for n in self.feature_names if n not in feature_names]
        if extra:
            raise ValueError(f"{self.name} has column {extra[0]!r}, which is not a feature of the model")
        return self.x[:, [self.feature_names.index(n) for n in feature_names]]


def image_shape_for(n_features: int) -> tuple[int, int] | None:
    """``(s, s)`` if the rows look like square images (``s * s == n_features``, ``s >= 4``)."""
    side = math.isqrt(n_features)
    return (side, side) if side >= 4 and side * side == n_features else None


# -- reading ---------------------------------------------------------------------


def load_source(
    source: str,
    target: str | None = None,
    default_target: str | None = None,
    *,
    text=(),
    find_text: bool = True,
    allow_missing: bool = False,
) -> Dataset:
    """Read SOURCE (a built-in name, a ``.csv`` or a ``.npz`` path) into a ``Dataset``.

    ``target`` names the label column of a CSV file; without it, the column
    named ``default_target`` (a model's own label column) if the file has one,
    else the last column. ``target`` must be None or ``"target"`` for the other
    kinds of source. For CSV files: ``text`` names columns read as text
    (``--categorical``); with ``find_text`` a column none of whose cells is a
    number is text too (a column of numbers with a few words is an error that
    names the first word); empty cells are an error unless ``allow_missing``.
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"data must be a data set name or a file path, got {source!r}")
    lower = source.lower()
    if text and not lower.endswith(".csv"):
        raise ValueError(f"--categorical applies to CSV files only, got {source!r}")
    if source in BUILTIN:
        _check_target_unused(source, target)
        return _load_builtin(source)
    if lower.endswith(".csv"):
        table = {"text": frozenset(text), "find_text": find_text, "allow_missing": allow_missing}
        return _load_csv(source, target, default_target, **table)
    if lower.endswith(".npz"):
        _check_target_unused(source, target)
        return _load_npz(source)
    raise ValueError(
        f"data must be one of {', '.join(BUILTIN)}, or a path ending in .csv or .npz "
        f"(a .txt file trains a language model), got {source!r}"
    )


def _check_target_unused(source: str, target: str | None) -> None:
    if target not in (None, "target"):
        raise ValueError(f"--target applies to CSV files only, got --target {target!r} for {source!r}")


def _load_builtin(name: str) -> Dataset:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    if "target_names" in bunch:  # classes, by name
        names = [str(n) for n in bunch.target_names]
        labels = np.array([names[int(i)] for i in bunch.target])
    else:  # a quantity (diabetes: disease progression a year after baseline), as exact text
        labels = np.array([repr(float(v)) for v in bunch.target])
    features = [str(f) for f in getattr(bunch, "feature_names", [])] or _default_names(x.shape[1])
    return Dataset(
        name, x, labels, features, "target", image_shape_for(x.shape[1]), input_shape=IMAGE_SHAPES.get(name)
    )


def _default_names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def read_npz(path: str, names) -> tuple[set[str], dict[str, np.ndarray]]:
    """The names of the arrays an ``.npz`` file holds, and those of them among ``names``, read.

    Pickled objects are refused (``allow_pickle=False``); a file that is not a
    readable ``.npz`` is a ValueError naming it, as is one holding pickles.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(getattr(data, "files", ()))
            return files, {name: data[name] for name in names if name in files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{path} holds pickled objects, which are refused for safety") from None
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from None


def _load_npz(path: str) -> Dataset:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path}")
    files, arrays = read_npz(path, ("X", "y"))
    if not {"X", "y"} <= files:
        raise ValueError(f"{path} must be an .npz file holding arrays 'X' and 'y', found {sorted(files)}")
    x, y = arrays["X"], arrays["y"]
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
    if y.dtype.kind not in "iufUS":
        raise ValueError(f"{path}: y must hold integers, numbers or strings, got dtype {y.dtype}")
    # as text, as a CSV file's cells are: floats by repr, which reads back exactly; whether they are
    # classes or a quantity is scratchnn.data.targets.choose_task's to say
    labels = np.array(
        [
            v.decode() if isinstance(v, bytes) else repr(v) if isinstance(v, float) else str(v)
            for v in y.tolist()
        ]
    )
    return Dataset(path, x, labels, _default_names(x.shape[1]), "target", image_shape_for(x.shape[1]))


def _load_csv(path: str, target: str | None, default_target: str | None = None, **table) -> Dataset:
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

    header, x, t, labels, cells = read_table(path, choose, block_cells=_BLOCK_CELLS, **table)
    features = header[:t] + header[t + 1 :]
    shape = image_shape_for(len(features)) if not cells.text else None
    return Dataset(
        path, x, labels, features, header[t], shape, text=cells.text, missing=cells.missing, lines=cells.lines
    )


def read_features(
    path: str, feature_names: list[str], target: str | None = None, *, text=(), allow_missing: bool = False
) -> Dataset:
    """The rows of a CSV file to predict (``labels`` None), columns picked by name in the model's order.

    A column named like ``target`` (the label column the model was trained
    on) is ignored; any other column the model does not know is an error, so a
    misspelt header is not silently dropped. ``text`` names the model's text
    columns; every other column must hold numbers. Empty cells are an error
    unless ``allow_missing`` (the model imputes them).
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

    table = {"text": frozenset(text), "find_text": False, "allow_missing": allow_missing}
    _, x, _, _, cells = read_table(path, choose, block_cells=_BLOCK_CELLS, **table)
    return Dataset(
        path,
        x,
        None,
        list(feature_names),
        target or "",
        text=cells.text,
        missing=cells.missing,
        lines=cells.lines,
    )
