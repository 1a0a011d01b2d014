"""Draw-a-digit: a drawing turned into the 8x8 image scikit-learn's Digits are made of, and its classifier.

The Digits images come from the UCI "optdigits" data, made like this (its
description): each handwritten digit was scanned into a size-normalised,
centred 32x32 binary bitmap, then divided into non-overlapping 4x4 blocks and
the on pixels of each block counted, giving an 8x8 image of values 0..16.
``preprocess`` does the same to a drawing:

1. crop the drawing to the bounding box of its on pixels;
2. scale it (keeping its aspect ratio) so its longer side spans 32 pixels, and
   centre it in a 32x32 square: each of the 32x32 pixels is on when the part
   of the drawing it covers is at least half on;
3. count the on pixels of each 4x4 block: ``image[i, j] = bitmap[4i:4i+4, 4j:4j+4].sum()``.

The classifier is a scratchnn network with 64 inputs: one trained on Digits
the first time it is needed (``default_model``), or a model file.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["DigitModel", "block_counts", "default_model", "normalise", "preprocess"]

BITMAP = 32
BLOCK = 4


def normalise(drawing: np.ndarray, size: int = BITMAP) -> np.ndarray:
    """The ``size x size`` binary bitmap of a drawing ``(H, W)`` (nonzero = on): cropped, scaled, centred.

    An empty drawing gives an all-off bitmap.
    """
    on = np.asarray(drawing) != 0
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if rows.size == 0:
        return np.zeros((size, size), dtype=np.uint8)
    box = on[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64)
    h, w = box.shape
    scale = size / max(h, w)  # output pixels per drawing pixel
    # Each output pixel (r, c) of the scaled box covers drawing rows [r / scale, (r + 1) / scale);
    # its value is the mean of the drawing over that area, by an exact area-weighted resample.
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = _resample(_resample(box, out_h, axis=0), out_w, axis=1)
    bitmap = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - out_h) // 2, (size - out_w) // 2
    bitmap[top : top + out_h, left : left + out_w] = scaled >= 0.5
    return bitmap


def _resample(a: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``a`` resampled to ``n`` cells along ``axis``, each the area-weighted mean of the cells it covers."""
    m = a.shape[axis]
    edges = np.linspace(0, m, n + 1)  # output cell k covers input [edges[k], edges[k + 1])
    # weight[k, i] = overlap of output cell k with input cell i, divided by the output cell's width
    lo = np.maximum(edges[:-1, None], np.arange(m)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(m)[None, :] + 1)
    weight = np.clip(hi - lo, 0, None) / (edges[1:] - edges[:-1])[:, None]
    # weight @ a (or a @ weight.T), by einsum: tiny products that a threaded BLAS makes slower, not faster
    return np.einsum("ki,ij->kj", weight, a) if axis == 0 else np.einsum("ij,kj->ik", a, weight)


def block_counts(bitmap: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """On pixels of each ``block x block`` block of a binary bitmap: ``(32, 32)`` -> ``(8, 8)`` in 0..16."""
    h, w = bitmap.shape
    return bitmap.reshape(h // block, block, w // block, block).sum(axis=(1, 3)).astype(np.int64)


def preprocess(drawing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(bitmap (32, 32), image (8, 8))``: the optdigits preprocessing of a drawing (see the module)."""
    bitmap = normalise(drawing)
    return bitmap, block_counts(bitmap)


class DigitModel:
    """A classifier of 8x8 images (values 0..16): a scratchnn network with 64 inputs and its input scaling.

    ``scale``/``shift``: the network sees ``(image.ravel() - shift) / scale``.
    """

    def __init__(self, network, shift, scale, label_names=None, source: str = "") -> None:
        if network.n_features != 64:
            raise ValueError(f"the digit model must take 64 inputs (8x8 pixels), got {network.n_features}")
        self.network = network
        self.shift, self.scale = np.asarray(shift, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        self.label_names = label_names or [str(i) for i in range(network.n_outputs)]
        self.source = source

    def proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` of images ``(N, 8, 8)`` or ``(N, 64)``."""
        x = (np.asarray(images, dtype=np.float64).reshape(-1, 64) - self.shift) / self.scale
        return self.network.predict_proba(x.astype(self.network.dtype))

    @classmethod
    def from_file(cls, path: str) -> DigitModel:
        """A model file written by ``scratchnn.save``, ``scratchnn train`` or ``tune`` (with its scaler)."""
        from ..predictor import Predictor

        model = Predictor.load(path)
        if model.network.n_features != 64:
            n = model.network.n_features
            raise ValueError(f"--model {path} takes {n} inputs; a digit model takes 64")
        return cls(model.network, model.scaler.mean, model.scaler.scale, model.label_names, source=path)


_lock = threading.Lock()
_cached: DigitModel | None = None


def default_model(seed: int = 0) -> DigitModel:
    """A network trained on Digits' training split (``data.load_digits_split``), once per process."""
    global _cached
    with _lock:
        if _cached is None:
            from ..config import TrainingConfig, train
            from ..data import load_digits_split

            x_train, _, y_train, _ = load_digits_split()  # pixels / 16; the test split is held out
            config = TrainingConfig(hidden_units=64, optimizer="adam", learning_rate=0.003, epochs=20)
            network, _ = train(config, x_train, y_train, n_outputs=10, seed=seed)
            _cached = DigitModel(network, 0.0, 16.0, source="trained on Digits' training split")
        return _cached
