"""A grid search written down: the grid spec, the results table, and the record that makes resume safe.

* ``parse_grid("learning_rate=0.01,0.1;hidden_units=64,128x64")`` reads a grid
  from text (the command line's ``--grid``); ``parse_value``/``format_value``
  read and write one value, so a value survives the trip through a file exactly.
* ``write_results``/``read_results``: the results table (``results.csv``), one
  row per trial: the grid's settings, then ``METRICS`` (``REGRESSION_METRICS``
  for a regression search: R^2 in place of accuracy).
* ``open_search`` starts (or resumes) a search recorded at ``results_path``:
  beside the table, a JSON record of what the search is (grid, seed, base
  settings, a fingerprint of the data) refuses to resume a different search.

``grid_search(..., results_path=..., resume=True)`` uses all of them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os

import numpy as np

from .config import SETTINGS_BY_NAME
from .files import atomic_write

__all__ = [
    "METRICS",
    "REGRESSION_METRICS",
    "ResumeError",
    "data_fingerprint",
    "format_value",
    "open_search",
    "parse_grid",
    "parse_value",
    "read_results",
    "record_path",
    "write_results",
]

#: The columns of the results table after the grid's own settings.
METRICS = ("val_accuracy", "val_loss", "train_loss", "status")
#: The same for a regression search, whose trials are scored by R^2.
REGRESSION_METRICS = ("val_r2", "val_loss", "train_loss", "status")


class ResumeError(ValueError):
    """A results table that cannot be resumed. ``detail`` says why; ``hint`` is True when
    the way out is another results file or not resuming."""

    def __init__(self, detail: str, hint: bool = False) -> None:
        self.detail, self.hint = detail, hint
        suffix = "; use another results_path or resume=False" if hint else ""
        super().__init__(f"resume: {detail}{suffix}")


# -- grid values as text --------------------------------------------------------------


def parse_value(key: str, text: str):
    """A grid value from text, read as its setting reads it (``Setting.parse``): a number for a
    numeric setting, ``128x64`` for two hidden layers, ``none`` for an optional setting's None.

    An empty cell (a None written to results.csv) is None. A key that names no setting is kept
    as text, for ``check_grid`` to refuse by name.
    """
    text = text.strip()
    setting = SETTINGS_BY_NAME.get(key)
    if setting is None:
        return text
    if not text and setting.optional:
        return None
    try:
        return setting.parse(text)
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"--grid {key} value {text!r} must be {setting.describe()}") from None


def format_value(value) -> str:
    """The text of a grid value or metric in results.csv; ``parse_value`` reads it back exactly."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # shortest text that round-trips the float exactly
    return str(value)


def parse_grid(spec: str) -> dict:
    """``"learning_rate=0.01,0.1;batch_size=16,32"`` -> ``{"learning_rate": [0.01, 0.1], ...}``."""
    grid: dict = {}
    for part in spec.split(";"):
        if not part.strip():
            continue
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--grid entries must look like name=v1,v2; got {part.strip()!r}")
        if key in grid:
            raise ValueError(f"--grid names {key!r} twice")
        texts = [v for v in values.split(",") if v.strip()]
        if not texts:
            raise ValueError(f"--grid {key!r} has no values; give at least one, e.g. {key}=v1,v2")
        grid[key] = [parse_value(key, v) for v in texts]
    if not grid:
        raise ValueError(f"--grid must name at least one setting, got {spec!r}")
    return grid


# -- the results table -------------------------------------------------------------------


def _columns(grid: dict, metrics=METRICS) -> list[str]:
    return [*grid, *metrics]


def write_results(path: str, grid: dict, rows: list[dict], metrics=METRICS) -> None:
    """Write ``rows`` (dicts of settings and ``metrics``) as a CSV table, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_columns(grid, metrics))
    for row in rows:
        writer.writerow([format_value(row.get(col)) for col in _columns(grid, metrics)])
    data = buffer.getvalue().encode()
    atomic_write(path, lambda f: f.write(data))


def read_results(path: str, grid: dict, metrics=METRICS) -> list[dict]:
    """Rows of an earlier run's table, with values typed as ``parse_value`` types them.

    Raises ``ResumeError`` naming the line of a row that is not a finished trial.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != _columns(grid, metrics):
            raise ResumeError(
                f"{path} has columns {header}, but this search writes {_columns(grid, metrics)}", hint=True
            )
        rows = []
        for cells in reader:
            if len(cells) != len(header):
                raise ResumeError(f"{path} line {reader.line_num} has {len(cells)} cells")
            row = {key: parse_value(key, cells[i]) for i, key in enumerate(grid)}
            for i, metric in enumerate(metrics, start=len(grid)):
                text = cells[i]
                try:
                    row[metric] = text if metric == "status" else (float(text) if text else None)
                except ValueError:
                    raise ResumeError(
                        f"{path} line {reader.line_num}: {metric} {text!r} is not a number"
                    ) from None
            score = metrics[0]
            if row["status"] not in ("ok", "diverged") or (
                row["status"] == "ok" and None in (row[score], row["val_loss"])
            ):
                raise ResumeError(
                    f"{path} line {reader.line_num} is not a finished trial "
                    f"(status {row['status']!r}, {score} {cells[len(grid)]!r})"
                )
            rows.append(row)
    return rows


# -- what a search is, so that resume continues the same one ------------------------------------


def data_fingerprint(*arrays) -> str:
    """A SHA-256 of arrays' shapes, types and bytes: the same data gives the same text."""
    h = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.shape}{arr.dtype.str}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def record_path(results_path: str) -> str:
    """Where the record of the search beside ``results_path`` lives: ``results.csv`` -> ``results.json``."""
    return os.path.splitext(results_path)[0] + ".json"


def open_search(results_path: str, grid: dict, record: dict, resume: bool, metrics=METRICS) -> list[dict]:
    """Start the search recorded at ``results_path``; return the rows of trials already finished.

    ``record`` (JSON-ready) says what the search is. With ``resume`` and an
    existing table, the finished rows are read back, unless the record beside
    the table describes another search (``ResumeError`` naming what changed).
    Then the record and the table so far are written.
    """
    completed: list[dict] = []
    if resume and os.path.exists(results_path):
        try:
            with open(record_path(results_path), encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None  # no record (or a damaged one): the table alone decides
        if previous is not None and previous != record:
            changed = sorted(k for k in record if previous.get(k) != record[k])
            raise ResumeError(
                f"{results_path} comes from a search with other settings (changed: {', '.join(changed)})",
                hint=True,
            )
        completed = read_results(results_path, grid, metrics)
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    atomic_write(record_path(results_path), lambda f: f.write(text.encode()))
    write_results(results_path, grid, completed, metrics)
    return completed
