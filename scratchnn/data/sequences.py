"""Sequences from an ``.npz`` file, and their scaler.

A sequence data set is an ``.npz`` file holding

* ``X``: float ``(N, T, F)``, N sequences padded to the longest, T steps of F values;
* ``y``: ``(N,)`` one label per sequence (integers or strings: classification);
* optionally ``lengths``: integer ``(N,)``, the real number of steps of each
  sequence, ``1 <= lengths[i] <= T`` (without it every sequence is T steps long).
  The steps after a sequence's length are padding: their values are never read.

``SequenceScaler`` standardises each of the F features with the mean and the
standard deviation over every real step of every training sequence (padding
excluded); a constant feature is only centred. Padded steps are set to 0 after
scaling, so the arrays hold no value of the padding the file had.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..validation import check_sequence_lengths
from .sources import read_npz

__all__ = [
    "SequenceData",
    "SequenceScaler",
    "is_sequence_model",
    "is_sequence_npz",
    "load_sequences",
    "real_steps",
]


@dataclass
class SequenceData:
    """``x (N, T, F)`` float64, ``lengths (N,)`` int64 or None, ``labels (N,)`` text, and the file's name."""

    name: str
    x: np.ndarray
    lengths: np.ndarray | None
    labels: np.ndarray | None


def is_sequence_model(meta: dict) -> bool:
    """Whether a model file's metadata is a sequence model's (it carries a ``SequenceScaler``)."""
    return isinstance(meta, dict) and "sequence_scaler" in meta


def is_sequence_npz(path) -> bool:
    """True for an existing ``.npz`` file whose ``X`` is 3-D (read from its header only)."""
    if not (isinstance(path, str) and path.lower().endswith(".npz") and os.path.isfile(path)):
        return False
    try:
        with np.load(path, allow_pickle=False, mmap_mode=None) as data:
            if "X" not in getattr(data, "files", ()):
                return False
            with data.zip.open("X.npy") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else (
                    np.lib.format.read_array_header_2_0)  # fmt: skip
                shape = read(f)[0]
            return len(shape) == 3
    except Exception:  # unreadable: the ordinary loader says why
        return False


def load_sequences(path: str, *, need_labels: bool = True) -> SequenceData:
    """Read and check a sequence ``.npz`` (module docstring); ValueError naming what is wrong."""
    files, arrays = read_npz(path, ("X", "y", "lengths"))
    if "X" not in arrays or (need_labels and "y" not in arrays):
        raise ValueError(f"{path} must hold arrays 'X' (N, T, F) and 'y' (N,), found {sorted(files)}")
    x = arrays["X"]
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"{path}: X must be a non-empty 3-D array (N, T, F), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
        raise ValueError(f"{path}: X must be numeric, got dtype {x.dtype}")
    try:
        lengths = check_sequence_lengths(arrays.get("lengths"), x.shape[0], x.shape[1], f"{path}: lengths")
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    x = x.astype(np.float64)
    real = real_steps(x.shape[:2], lengths)
    bad = ~np.isfinite(x) & real[:, :, None]
    if bad.any():
        n, t, f = np.argwhere(bad)[0]
        raise ValueError(f"{path}: X holds {x[n, t, f]} at sequence {n}, step {t}, feature {f}")
    x[~real] = 0.0  # padding: never read, and not a NaN to trip a check later
    labels = None
    if "y" in arrays:
        y = arrays["y"]
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"{path}: y must be 1-D with one label per sequence ({x.shape[0]}), got {y.shape}"
            )
        if y.dtype.kind not in "iuUSb":
            raise ValueError(f"{path}: y must hold class labels (integers or strings), got dtype {y.dtype}")
        labels = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()])
    return SequenceData(path, x, lengths, labels)


def real_steps(shape: tuple, lengths: np.ndarray | None) -> np.ndarray:
    """Boolean ``(N, T)``: True at the steps before each sequence's length."""
    n, t = shape
    if lengths is None:
        return np.ones((n, t), dtype=bool)
    return np.arange(t)[None, :] < lengths[:, None]


class SequenceScaler:
    """Per-feature standardisation over the real steps of sequences (module docstring)."""

    def __init__(self, mean, scale) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    @classmethod
    def fit(cls, x: np.ndarray, lengths: np.ndarray | None) -> SequenceScaler:
        values = x[real_steps(x.shape[:2], lengths)]  # (real steps, F)
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        if x.shape[2] != self.mean.shape[0]:
            raise ValueError(
                f"the sequences have {x.shape[2]} features per step, but the model was trained on "
                f"{self.mean.shape[0]}"
            )
        out = (x - self.mean) / self.scale
        out[~real_steps(x.shape[:2], lengths)] = 0.0
        return out

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d) -> SequenceScaler:
        if not isinstance(d, dict) or set(d) != {"mean", "scale"}:
            raise ValueError("the model's sequence scaler must be {'mean': [...], 'scale': [...]}")
        mean, scale = np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape or not (np.isfinite(mean).all() and (scale > 0).all()):
            raise ValueError("the model's sequence scaler must hold finite means and positive scales")
        return cls(mean, scale)
