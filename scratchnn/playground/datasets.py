"""The playground's 2-D data sets and input features, importable without the web server.

Everything the page trains on is made here, from a seed, with NumPy only, so
the Python script the page downloads can rebuild exactly the same data:

* ``make_points(name, n, noise, seed)``: ``n`` points of the plane
  ``[-6, 6]^2`` with labels 0/1 (circle, xor, gauss, spiral, moons), after
  TensorFlow Playground's generators;
* ``split(points, labels, train_share)``: the first share of the (already
  shuffled) points trains, the rest tests;
* ``features(points, names)``: the input columns the network sees
  (``x1``, ``x2``, ``x1^2``, ``x2^2``, ``x1*x2``, ``sin x1``, ``sin x2``);
* ``read_points_csv(text, x1, x2, label)``: points from a CSV upload, each
  feature column scaled to the plane, errors naming the line and the column.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from ..data import encode_labels
from ..data.csv_reader import read_table
from ..validation import check_random_state

__all__ = [
    "DATASETS",
    "EXTENT",
    "FEATURES",
    "N_POINTS",
    "features",
    "grid",
    "make_points",
    "read_points_csv",
    "split",
]

#: The plane the points live in: ``[-EXTENT, EXTENT]`` on both axes.
EXTENT = 6.0
#: Points per generated data set (TensorFlow Playground's number).
N_POINTS = 500


def _circle(rng: np.random.Generator, n: int, noise: float):
    # label 1 inside radius 2.5, label 0 on the ring from 3.5 to 5; noise shifts each point
    radius = 5.0
    labels = np.arange(n) % 2
    r = np.where(labels == 1, rng.uniform(0, 0.5 * radius, n), rng.uniform(0.7 * radius, radius, n))
    angle = rng.uniform(0, 2 * math.pi, n)
    xy = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return xy + rng.uniform(-1, 1, (n, 2)) * radius * noise, labels


def _xor(rng: np.random.Generator, n: int, noise: float):
    # uniform in [-5, 5]^2, kept 0.3 away from the axes; label: the signs of x1 and x2 agree
    xy = rng.uniform(-5, 5, (n, 2))
    xy += np.where(xy > 0, 0.3, -0.3)
    xy = np.clip(xy, -5, 5)
    labels = (xy[:, 0] * xy[:, 1] >= 0) * 1
    return xy + rng.uniform(-5, 5, (n, 2)) * noise, labels


def _gauss(rng: np.random.Generator, n: int, noise: float):
    # two round clusters at (2, 2) (label 1) and (-2, -2) (label 0); noise widens them
    labels = np.arange(n) % 2
    centres = np.where(labels[:, None] == 1, 2.0, -2.0)
    spread = 0.5 + 3.5 * noise  # standard deviation, from 0.5 to 2.25 at noise 0.5
    return centres + rng.normal(0, spread, (n, 2)), labels


def _spiral(rng: np.random.Generator, n: int, noise: float):
    # two interleaved arms of 1.75 turns, the radius growing to 5; point i of an arm at i / (n / 2) of it
    labels = np.arange(n) % 2
    along = (np.arange(n) // 2) / ((n + 1) // 2)
    angle = 1.75 * 2 * math.pi * along + labels * math.pi
    xy = 5.0 * along[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    return xy + rng.uniform(-1, 1, (n, 2)) * noise, labels


def _moons(rng: np.random.Generator, n: int, noise: float):
    # scikit-learn's two moons, scaled by 2.6 and centred on the plane
    labels = np.arange(n) % 2
    angle = rng.uniform(0, math.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    xy = np.where(labels[:, None] == 0, upper, lower) - [0.5, 0.25]
    return 2.6 * (xy + rng.normal(0, noise, (n, 2))), labels


#: Generator of each data set: ``(rng, n, noise) -> (points (n, 2), labels (n,))``.
DATASETS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "moons": _moons}


def make_points(name: str, n: int = N_POINTS, noise: float = 0.0, seed=None):
    """``(points, labels)``: ``n`` shuffled points ``(n, 2)`` of data set ``name`` and labels ``(n,)``.

    ``noise`` in ``[0, 1]`` blurs the classes (0 keeps them apart). The same
    ``seed`` gives the same points.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, got {name!r}")
    rng = check_random_state(seed)
    points, labels = DATASETS[name](rng, n, float(noise))
    order = rng.permutation(n)
    points = np.clip(points[order], -EXTENT, EXTENT).astype(np.float64)
    return points, labels[order].astype(np.int64)


def split(points: np.ndarray, labels: np.ndarray, train_share: float):
    """``(x_train, y_train, x_test, y_test)``: the first ``round(train_share * n)`` rows train.

    The points are shuffled when made, so taking the first rows is a random split.
    At least one row goes to each side.
    """
    n = points.shape[0]
    k = min(max(1, round(train_share * n)), n - 1)
    return points[:k], labels[:k], points[k:], labels[k:]


#: Input features by name: each a function of the columns ``x1``, ``x2`` of the points.
FEATURES = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin x1": lambda x1, x2: np.sin(x1),
    "sin x2": lambda x1, x2: np.sin(x2),
}


def features(points: np.ndarray, names) -> np.ndarray:
    """The network's input ``(n, len(names))``: feature ``names[j]`` of each point in column ``j``."""
    points = np.asarray(points, dtype=np.float64)
    unknown = [name for name in names if name not in FEATURES]
    if unknown or not names:
        raise ValueError(f"features must be a non-empty list of {list(FEATURES)}, got {list(names)!r}")
    x1, x2 = points[:, 0], points[:, 1]
    return np.stack([FEATURES[name](x1, x2) for name in names], axis=1)


def grid(size: int) -> np.ndarray:
    """Centres of a ``size x size`` grid of cells over the plane, ``(size * size, 2)``, rows from the top.

    Row ``i`` (``x2`` falling from the top), column ``j`` (``x1`` rising): the
    point of pixel ``(i, j)`` of a heatmap.
    """
    centres = -EXTENT + (np.arange(size) + 0.5) * (2 * EXTENT / size)
    x1, x2 = np.meshgrid(centres, centres[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _onto_extent(x: np.ndarray) -> np.ndarray:
    """Each column of ``x`` scaled linearly onto ``[-EXTENT, EXTENT]``; a constant column goes to 0."""
    low, high = x.min(axis=0), x.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    points = (x - (low + high) / 2) / span * (2 * EXTENT)
    points[:, high == low] = 0.0
    return points


def read_points_csv(text: str, x1: str, x2: str, label: str, name: str = "the file"):
    """``(points, labels, label_names)`` from CSV ``text`` with a header: columns ``x1``, ``x2``, ``label``.

    The text is read by the command line's reader (``scratchnn.data.csv_reader.read_table``),
    so both read a file to the same numbers and refuse the same files (a header naming a
    column twice, a cell such as ``8_243``, a row of the wrong length). The playground adds
    its own rules: every cell of ``x1`` and ``x2`` holds a number, the label column holds
    exactly two distinct values, sorted to labels 0 and 1 as the command line sorts them
    (``scratchnn.data.encode_labels``: numbers numerically). Each feature column is then
    scaled linearly onto ``[-EXTENT, EXTENT]`` (a constant column goes to 0). ``ValueError``
    names the file ``name``, the line and the column of the first bad cell.
    """

    def choose(header):
        for role, column in (("x1", x1), ("x2", x2), ("label", label)):
            if column not in header:
                raise ValueError(f"{name} has no column {column!r} (for {role}); its columns are {header}")
        return [header.index(x1), header.index(x2)], header.index(label)

    with tempfile.TemporaryDirectory() as folder:  # the reader reads a file, in one pass
        path = os.path.join(folder, "upload.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        _, values, _, texts, cells = read_table(path, choose, allow_missing=True, name=name)
    if cells.missing:  # the first empty cell (or NA, ...) in the file
        line, column = min((where[0][1], column) for column, where in cells.missing.items())
        raise ValueError(f"{name}: column {column!r} on line {line} has no value, where a number is needed")
    if len(values) < 2:
        raise ValueError(f"{name} needs at least two data rows, got {len(values)}")
    try:  # the command line's label order: numbers numerically ("2" before "10"), else as text
        labels, names = encode_labels(texts)
    except ValueError:  # one class: refused below with the others
        names = sorted(set(texts))
    if len(names) != 2:
        shown = ", ".join(map(repr, names[:5])) + (" ..." if len(names) > 5 else "")
        raise ValueError(f"{name}: column {label!r} must hold two distinct labels, got {len(names)}: {shown}")
    return _onto_extent(values), labels, names
