"""Reading a CSV file of features in one pass, in time linear in its cells and about the float array's memory.

``read_table`` is the reader behind ``scratchnn.data.sources``: numbers are
parsed by NumPy a block of rows at a time; only the columns that hold
something else (text, empty cells) are read cell by cell, by ``Cells``,
which also decides which columns are text and words the errors (file, line,
column, cell).
"""

from __future__ import annotations

import csv
import itertools
import math
import operator
import os
import shlex

import numpy as np

__all__ = ["MISSING", "Cells", "check_header", "read_table"]

#: Cells read as a missing value (pandas' common defaults, in lower case).
MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "?"}


#: Bytes that make a line blank (with the line end): a line of only these holds no data row.
_BLANK = np.frombuffer(b"\r\n\t ,", dtype=np.uint8)


def _count_lines(path: str, block: int = 1 << 18) -> int:
    """Lines of the file that hold something other than blanks and commas, plus one: an upper bound on
    its rows (a row has a cell that is not empty on at least one of its lines), found without parsing.

    Counting every newline instead would let a file of blank lines (20 MB of them) ask for an array
    of 20 million rows.
    """
    count, open_line = 1, False  # open_line: the previous chunk ended inside a line already counted
    with open(path, "rb") as f:
        while chunk := f.read(block):
            b = np.frombuffer(chunk, dtype=np.uint8)
            # each byte's line within the chunk (a newline ends its line); int32 keeps the chunk's
            # arrays small next to the float array the reader is about to fill
            line = np.cumsum(b == 10, dtype=np.int32)
            line -= b == 10
            full = line[~np.isin(b, _BLANK)]  # the lines of the bytes that are data
            if len(full):
                count += 1 + int(np.count_nonzero(full[1:] != full[:-1]))
                if open_line and full[0] == 0:
                    count -= 1  # the same line as the one counted at the end of the previous chunk
            ends_in_line = b[-1] != 10
            last = line[-1]
            open_line = bool(ends_in_line and ((len(full) and full[-1] == last) or (open_line and last == 0)))
    return count


def _rows(path: str, name: str):
    """Yield ``(line number, cells)`` for each non-blank row of a CSV file, the header first.

    The line number is the row's first line: a quoted cell may hold newlines, and the reader's
    ``line_num`` is the line where the row ends. Errors call the file ``name``.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            first = 1
            for cells in reader:
                start, first = first, reader.line_num + 1
                # a row is blank if it has no cell, or only empty ones (",,,"); test the first
                # cell before scanning the whole row, so a wide file is read in linear time
                if not cells or (not cells[0].strip() and all(not c.strip() for c in cells)):
                    continue
                yield start, cells
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{name}: malformed CSV: {exc}") from None


def check_header(name: str, cells) -> list[str]:
    """The column names of a header row ``cells`` of file ``name``, stripped: each named, none twice."""
    if cells is None:
        raise ValueError(f"{name} is empty: expected a header row naming the columns")
    header = [c.strip() for c in cells]
    seen: set[str] = set()
    for i, column in enumerate(header):
        if not column:
            raise ValueError(f"{name}: header column {i + 1} has no name")
        if column in seen:
            raise ValueError(f"{name}: the header names column {column[:40]!r} twice")
        seen.add(column)
    return header


def read_table(
    path: str,
    choose,
    *,
    block_cells: int = 1 << 16,
    text: frozenset = frozenset(),
    find_text: bool = False,
    allow_missing: bool = False,
    name: str = "",
) -> tuple[list[str], np.ndarray, int | None, np.ndarray | None, Cells]:
    """Read a CSV file in one pass: ``(header, features, label column, labels, cells)``.

    ``choose(header)`` returns the indices of the feature columns, in the order wanted, and the index
    of the label column (or None). Features come out as float64 ``(N, len(columns))``, labels as
    stripped text ``(N,)``; blank lines are skipped. ``text`` names feature columns read as text
    (``--categorical``); with ``find_text``, a column none of whose cells is a number is read as text
    too; ``allow_missing`` lets empty cells through (``--impute``). A text column is NaN in the float
    array, its cells are in ``cells.text``. Errors call the file ``name or path``.

    The time is linear in the number of cells and the memory about one float array: the array is
    allocated once for as many rows as the file has lines (pages never written cost nothing) and
    filled a block of rows at a time, so only one block's cells are ever held as Python strings. An
    all-numeric block is parsed by NumPy in one call; only columns that hold something else are read
    cell by cell.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path}")
    rows = _rows(path, shown := name or path)
    header = check_header(shown, next(rows, (0, None))[1])
    columns, label = choose(header)
    n_lines = _count_lines(path)
    x = np.empty((n_lines, len(columns)))
    # without find_text the columns are a model's (predict, evaluate): no advice to pass train's options
    cells = Cells(shown, [header[j] for j in columns], columns, text, n_lines, for_model=not find_text)
    block_rows = max(1, block_cells // max(1, len(columns)))
    labels, n = _fill_blocks(shown, rows, header, label, x, cells, block_rows)
    if n == 0:
        raise ValueError(f"{shown} has a header but no data rows")
    x.resize((n, len(columns)), refcheck=False)  # the rows read, in place: no second copy of the array
    cells.finish(x, find_text=find_text, allow_missing=allow_missing)
    return header, x, label, (np.array(labels) if label is not None else None), cells


def _fill_blocks(
    shown: str, rows, header: list[str], label: int | None, x: np.ndarray, cells: Cells, block_rows: int
) -> tuple[list[str], int]:
    """Fill ``x`` from ``rows`` a block of ``block_rows`` rows at a time, checking each row's width and
    label; returns the labels (stripped text, empty without a label column) and the rows filled."""
    width = len(header)
    labels, block, block_lines = [], [], []  # the labels; the rows and line numbers of the current block
    n = 0
    for line, row in rows:
        if len(row) != width:
            raise ValueError(f"{shown}: line {line} has {len(row)} cells, but the header has {width} columns")
        block.append(row)
        block_lines.append(line)
        if label is not None:
            value = row[label].strip()
            if not value:
                raise ValueError(f"{shown}: missing label in column {header[label]!r} on line {line}")
            labels.append(value)
        if len(block) == block_rows:
            cells.fill(x[n : n + len(block)], n, block, block_lines)
            n += len(block)
            block, block_lines = [], []
    if block:
        cells.fill(x[n : n + len(block)], n, block, block_lines)
        n += len(block)
    return labels, n


def _has_underscore(cells) -> bool:
    """Whether any of the strings ``cells`` holds ``_`` (one join, in C, instead of a loop)."""
    return "_" in "".join(cells)


def _number(cell: str) -> float:
    """``float(cell)``, except that an underscore (Python's digit separator, ``8_243``) is no number."""
    if "_" in cell:
        raise ValueError(cell)
    return float(cell)


class Cells:
    """What a CSV file holds besides numbers, found while its blocks are parsed.

    After ``finish``: ``text``, column name -> its cells as an object array
    ``(N,)`` ("" where empty) for the columns read as text; ``missing``,
    column name -> the ``(row, line)`` of each empty cell; ``lines``, each
    row's line in the file (for messages that name a row).
    """

    def __init__(
        self, path: str, names: list[str], columns: list[int], text, n_lines: int, for_model: bool = False
    ) -> None:
        self.path, self.names, self.columns = path, names, columns
        self.for_model = for_model  # the columns are a model's: its messages advise no training options
        unknown = sorted(set(text) - set(names))
        if unknown and for_model:
            raise ValueError(f"{path} lacks the column {unknown[0]!r}, which the model reads as categories")
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
                        cells = [row[j] for row in block]
                        if not _has_underscore(cells):
                            column[...] = cells
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
        picked = [self.pick(row) for row in block]
        if _has_underscore(itertools.chain.from_iterable(picked)):
            return False  # float() reads 8_243 as 8243; a CSV number has no underscore
        try:
            out[...] = picked  # NumPy parses the strings as float() does
            return bool(np.isfinite(out).all())
        except ValueError:
            return False

    def _read_text(self, out: np.ndarray, k: int, start: int, block: list, lines: list[int]) -> None:
        j, raw = self.columns[k], self.raw[k]
        for i, (row, line) in enumerate(zip(block, lines)):
            cell = row[j].strip()
            if cell.lower() in MISSING:
                self.empty.setdefault(k, []).append((start + i, line, cell))
                cell = ""
            raw.append(cell)
        out[:] = np.nan

    def _parse_column(self, out: np.ndarray, k: int, start: int, block: list, lines: list[int]) -> None:
        j = self.columns[k]
        for i, (row, line) in enumerate(zip(block, lines)):
            cell = row[j].strip()
            if cell.lower() in MISSING:
                self.empty.setdefault(k, []).append((start + i, line, cell))
                self.slow.add(k)
                out[i] = np.nan
                continue
            try:
                value = _number(cell)
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
            if self.for_model:
                raise ValueError(
                    f"{self.path}: missing value ({shown}) in column {self.names[k]!r} on line {line}; the "
                    "model was trained without --impute, so every cell needs a value"
                )
            raise ValueError(
                f"{self.path}: missing value ({shown}) in column {self.names[k]!r} on line {line}; pass "
                "--impute mean, median or most-frequent to fill empty cells from the training rows"
            )

    def _stray(self, x: np.ndarray, k: int, words: list, n_numbers: int) -> None:
        """A column of numbers and words: name the odd ones out, and how to read the column as categories."""
        name = self.names[k]
        if self.for_model:
            _, line, cell = words[0]
            raise ValueError(
                f"{self.path}: column {name!r} on line {line} holds {cell!r}, which is not a number (the "
                "model reads this column as numbers)"
            )
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
