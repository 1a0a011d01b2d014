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

import csv
import math
import operator
import os
import shlex
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BUILTIN",
    "IMAGE_SHAPES",
    "Dataset",
    "image_shape_for",
    "load_source",
    "read_feature_csv",
    "read_features",
]

#: Data sets bundled with scikit-learn, by the name the command line takes.
BUILTIN = ("digits", "iris", "wine", "breast_cancer", "diabetes")

#: The image (C, H, W) each row of a built-in data set holds, for convolutional networks.
IMAGE_SHAPES = {"digits": (1, 8, 8)}

#: Cells read as a missing value (pandas' common defaults, in lower case).
_MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "?"}

#: Cells parsed per block while reading a CSV file (see ``_read_table``).
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
        """True if every feature is a number and no cell is empty: nothing for ``scratchnn.columns`` to do."""
        return not self.text and not self.missing

    def where(self, row: int) -> str:
        """Row ``row`` (0-based) in words: its line in the file, or its row number."""
        if self.lines is not None:
            return f"line {int(self.lines[row])}"
        return f"row {row + 1}"


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
        f"data must be one of {', '.join(BUILTIN)}, or a path ending in .csv or .npz, got {source!r}"
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
    shape = image_shape_for(x.shape[1])
    return Dataset(name, x, labels, features, "target", shape, input_shape=IMAGE_SHAPES.get(name))


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
    if y.dtype.kind not in "iufUS":
        raise ValueError(f"{path}: y must hold integers, numbers or strings, got dtype {y.dtype}")
    # as text, as a CSV file's cells are: floats by repr, which reads back exactly; whether they are
    # classes or a quantity is scratchnn.data.choose_task's to say
    labels = np.array(
        [
            v.decode() if isinstance(v, bytes) else repr(v) if isinstance(v, float) else str(v)
            for v in y.tolist()
        ]
    )
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


def _read_table(
    path: str, choose, *, text: frozenset = frozenset(), find_text: bool = False, allow_missing: bool = False
) -> tuple[list[str], np.ndarray, int | None, np.ndarray | None, _Cells]:
    """Read a CSV file in one pass: ``(header, features, label column, labels, cells)``.

    ``choose(header)`` returns the indices of the feature columns, in the order
    wanted, and the index of the label column (or None). Features come out as
    float64 ``(N, len(columns))``, labels as stripped text ``(N,)``; blank lines
    are skipped. ``text`` names feature columns read as text (``--categorical``);
    with ``find_text``, a column none of whose cells is a number is read as
    text too; ``allow_missing`` lets empty cells through (``--impute``). A text
    column is NaN in the float array, its cells are in ``cells.text``.

    The time is linear in the number of cells and the memory about one float
    array: the array is allocated once for as many rows as the file has lines
    (pages never written cost nothing) and filled a block of rows at a time, so
    only one block's cells are ever held as Python strings. An all-numeric
    block is parsed by NumPy in one call; only columns that hold something
    else are read cell by cell.
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
    n_lines = _count_lines(path)
    x = np.empty((n_lines, len(columns)))
    cells = _Cells(path, [header[j] for j in columns], columns, text, n_lines)
    labels: list[str] = []
    block: list = []
    block_lines: list[int] = []
    block_rows = max(1, _BLOCK_CELLS // max(1, len(columns)))
    n = 0
    for line, row in rows:
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} cells, but the header has {width} columns")
        block.append(row)
        block_lines.append(line)
        if label is not None:
            value = row[label].strip()
            if not value:
                raise ValueError(f"{path}: missing label in column {header[label]!r} on line {line}")
            labels.append(value)
        if len(block) == block_rows:
            cells.fill(x[n : n + len(block)], n, block, block_lines)
            n += len(block)
            block, block_lines = [], []
    if block:
        cells.fill(x[n : n + len(block)], n, block, block_lines)
        n += len(block)
    if n == 0:
        raise ValueError(f"{path} has a header but no data rows")
    if n < x.shape[0]:
        x.resize((n, len(columns)), refcheck=False)  # in place: no second copy of the array
    cells.finish(x, find_text=find_text, allow_missing=allow_missing)
    return header, x, label, (np.array(labels) if label is not None else None), cells


class _Cells:
    """What a CSV file holds besides numbers, found while its blocks are parsed.

    After ``finish``: ``text``, column name -> its cells as an object array
    ``(N,)`` ("" where empty) for the columns read as text; ``missing``,
    column name -> the ``(row, line)`` of each empty cell; ``lines``, each
    row's line in the file (for messages that name a row).
    """

    def __init__(self, path: str, names: list[str], columns: list[int], text, n_lines: int) -> None:
        self.path, self.names, self.columns = path, names, columns
        unknown = sorted(set(text) - set(names))
        if unknown:
            raise ValueError(
                f"--categorical {unknown[0]!r} is not a feature column of {path}; its feature columns are "
                f"{names[:10]}{' ...' if len(names) > 10 else ''}"
            )
        self.declared = {k for k, name in enumerate(names) if name in text}  # read as text: --categorical
        self.slow: set[int] = set()  # columns that held an empty cell or a word: parsed cell by cell
        self.words: dict[int, list] = {}  # column -> [(row, line, cell)] of cells that are not numbers
        self.empty: dict[int, list] = {}  # column -> [(row, line)] of empty cells
        self.raw: dict[int, list] = {k: [] for k in self.declared}  # declared column -> every cell
        self.lines = np.empty(n_lines, dtype=np.int64)
        self.text: dict[str, np.ndarray] = {}
        self.missing: dict[str, list] = {}
        self._plan()

    def _plan(self) -> None:
        """The columns NumPy parses in one call (all but the slow ones), and how to pick them from a row."""
        self.fast = [k for k in range(len(self.columns)) if k not in self.declared and k not in self.slow]
        picked = [self.columns[k] for k in self.fast]
        # operator.itemgetter picks the cells in C; with one column it returns a bare cell, not a tuple
        if len(picked) > 1:
            self.pick = operator.itemgetter(*picked)
        else:
            self.pick = (lambda row, j=picked[0]: (row[j],)) if picked else (lambda row: ())
        self.all_fast = len(self.fast) == len(self.columns)

    def fill(self, out: np.ndarray, start: int, block: list, lines: list[int]) -> None:
        """Parse a block of rows (rows ``start..``) into ``out``: numbers by NumPy, the rest cell by cell."""
        self.lines[start : start + len(block)] = lines
        n_slow = len(self.slow)
        if self.fast:
            if not self._numpy(out if self.all_fast else None, block):
                for k in self.fast:  # find the columns at fault, and parse only those cell by cell
                    column = out[:, k]
                    j = self.columns[k]
                    try:
                        column[...] = [row[j] for row in block]
                        if np.isfinite(column).all():
                            continue
                    except ValueError:
                        pass
                    self._parse_column(column, k, start, block, lines)
            elif not self.all_fast:
                out[:, self.fast] = self.parsed
        for k in self.declared:
            self._read_text(out[:, k], k, start, block, lines)
        for k in sorted(self.slow.difference(self.fast)):
            self._parse_column(out[:, k], k, start, block, lines)
        if len(self.slow) != n_slow:
            self._plan()  # from the next block on, the columns found to need it are read cell by cell

    def _numpy(self, out, block) -> bool:
        """Parse the fast columns of ``block`` in one NumPy call (into ``out``, or ``self.parsed``)."""
        if out is None:
            out = self.parsed = np.empty((len(block), len(self.fast)))
        try:
            out[...] = [self.pick(row) for row in block]  # NumPy parses the strings as float() does
            return bool(np.isfinite(out).all())
        except ValueError:
            return False

    def _read_text(self, out: np.ndarray, k: int, start: int, block: list, lines: list[int]) -> None:
        j, raw = self.columns[k], self.raw[k]
        for i, (row, line) in enumerate(zip(block, lines)):
            cell = row[j].strip()
            if cell.lower() in _MISSING:
                self.empty.setdefault(k, []).append((start + i, line, cell))
                cell = ""
            raw.append(cell)
        out[:] = np.nan

    def _parse_column(self, out: np.ndarray, k: int, start: int, block: list, lines: list[int]) -> None:
        j = self.columns[k]
        for i, (row, line) in enumerate(zip(block, lines)):
            cell = row[j].strip()
            if cell.lower() in _MISSING:
                self.empty.setdefault(k, []).append((start + i, line, cell))
                self.slow.add(k)
                out[i] = np.nan
                continue
            try:
                value = float(cell)
            except ValueError:
                self.words.setdefault(k, []).append((start + i, line, cell))
                self.slow.add(k)
                out[i] = np.nan
                continue
            if not math.isfinite(value):
                name = self.names[k]
                raise ValueError(
                    f"{self.path}: column {name!r} on line {line} holds {cell!r}, which is not finite"
                )
            out[i] = value

    def finish(self, x: np.ndarray, *, find_text: bool, allow_missing: bool) -> None:
        """Decide which columns of words are text; raise for stray words and (unless allowed) empty cells."""
        n = x.shape[0]
        self.lines = self.lines[:n]
        for k in sorted(self.words, key=lambda k: self.words[k][0][0]):
            words = self.words[k]
            n_numbers = n - len(words) - len(self.empty.get(k, ()))
            if find_text and n_numbers == 0:
                cells = np.full(n, "", dtype=object)
                for row, _, cell in words:
                    cells[row] = cell
                self.text[self.names[k]] = cells
            else:
                self._stray(x, k, words, n_numbers)
        for k in self.declared:
            self.text[self.names[k]] = np.array(self.raw.pop(k), dtype=object)
        self.missing = {
            self.names[k]: [(row, line) for row, line, _ in cells] for k, cells in self.empty.items()
        }
        if self.missing and not allow_missing:
            k, (_, line, cell) = min(((k, cells[0]) for k, cells in self.empty.items()), key=lambda e: e[1])
            shown = "an empty cell" if not cell else repr(cell)
            raise ValueError(
                f"{self.path}: missing value ({shown}) in column {self.names[k]!r} on line {line}; pass "
                "--impute mean, median or most-frequent to fill empty cells from the training rows"
            )

    def _stray(self, x: np.ndarray, k: int, words: list, n_numbers: int) -> None:
        """A column of numbers and words: name the odd ones out, and how to read the column as categories."""
        name = self.names[k]
        flag = shlex.quote(name)
        hint = f"if {name!r} is categorical, pass --categorical {flag}"
        if n_numbers >= len(words) or n_numbers == 0:
            _, line, cell = words[0]
            count = f"{len(words)} such cell{'s' if len(words) > 1 else ''} among {n_numbers} numbers; "
            raise ValueError(
                f"{self.path}: column {name!r} on line {line} holds {cell!r}, which is not a number "
                f"({count if n_numbers else ''}{hint}; if it is the label column, pass --target {flag})"
            )
        row = int(np.flatnonzero(~np.isnan(x[:, k]))[0])
        raise ValueError(
            f"{self.path}: column {name!r} holds text in {len(words)} rows but numbers in {n_numbers}, the "
            f"first on line {self.lines[row]} ({x[row, k]:g}); {hint} to read every cell as a category"
        )


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

    header, x, t, labels, cells = _read_table(path, choose, **table)
    features = header[:t] + header[t + 1 :]
    shape = image_shape_for(len(features)) if not cells.text else None
    return Dataset(path, x, labels, features, header[t], shape, cells.text, cells.missing, cells.lines)


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
    _, x, _, _, cells = _read_table(path, choose, **table)
    return Dataset(
        path, x, None, list(feature_names), target or "", None, cells.text, cells.missing, cells.lines
    )


def read_feature_csv(path: str, feature_names: list[str], target: str | None = None) -> np.ndarray:
    """Raw feature rows of a CSV file of numbers, by name in the model's order (see ``read_features``)."""
    return read_features(path, feature_names, target).x
