"""What the commands share: progress display, output files, reading and preparing data, loading models."""

from __future__ import annotations

import itertools
import json
import os
import sys

import numpy as np

from .. import data, sources
from ..files import atomic_write
from ..predictor import Predictor
from . import options
from .errors import UserError, from_user


class Progress:
    """A tqdm bar on a terminal, plain lines otherwise, nothing with ``--quiet``."""

    def __init__(self, quiet: bool, total: int, desc: str, unit: str, initial: int = 0) -> None:
        self.mode = "quiet" if quiet else ("bar" if sys.stderr.isatty() else "lines")
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr)

    def update(self, line: str, **postfix) -> None:
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
        elif self.mode == "lines":
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def say(args, *lines: str) -> None:
    """Print unless ``--quiet``."""
    if not args.quiet:
        for line in lines:
            print(line, flush=True)


def write_json(path: str, value) -> None:
    text = json.dumps(value, indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


# -- data for train and tune --------------------------------------------------------------


def set_image_shape(ds: sources.Dataset, shape: tuple | None) -> None:
    """Record ``--image-shape`` (C, H, W) on ``ds``, after checking that its rows hold that many values."""
    if shape is None:
        return
    size = shape[0] * shape[1] * shape[2]
    if size != ds.x.shape[1]:
        text = "x".join(map(str, shape))
        raise UserError(
            f"--image-shape {text} needs {size} features per row, but {ds.name} has {ds.x.shape[1]}"
        )
    ds.input_shape = tuple(shape)
    if shape[0] == 1:
        ds.image_shape = tuple(shape[1:])  # one channel: drawn as a grey image


def config_from_args(args):
    """The ``TrainingConfig`` of the parsed options (a rule across settings may still refuse it)."""
    with from_user():
        return options.config_from_args(args)


def check_network_fits(config, n_features: int, n_classes: int, option: str = "--hidden") -> None:
    """Refuse, before allocating anything, a network whose parameters cannot fit in this machine's memory.

    Training holds each parameter array about four times (the weights, their
    gradients and up to two optimizer buffers, Adam's ``m`` and ``v``), each
    ``(in + 1) * out`` numbers of ``config.dtype`` per dense layer.
    """
    if getattr(config, "layers", None) is not None:
        return  # a layer spec is built once for the data by check_layers, which sizes it
    hidden = config.hidden_units
    hidden = [int(hidden)] if isinstance(hidden, (int, np.integer)) else [int(u) for u in hidden]
    widths = [n_features, *hidden, n_classes]
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    need = 4 * n_params * np.dtype(config.dtype).itemsize
    have = physical_memory()
    if have is not None and need > have:
        units = ",".join(str(u) for u in hidden)
        raise UserError(
            f"{option} {units}: the network would need {need / 1e9:,.1f} GB for its {n_params:,} "
            "parameters (weights, gradients and optimizer state), more than this machine's "
            f"{have / 1e9:,.1f} GB of memory"
        )


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_layers(specs, ds: sources.Dataset, prep: data.Prepared) -> None:
    """Build each ``--layers`` spec once for this data (cheap), so that one which does not fit it
    (a convolution on rows without an image shape, a pooling that outgrows the image) is a one-line
    error before any training starts."""
    from ..layers.spec import build_network

    shape = ds.input_shape or prep.x.shape[1]
    for spec in dict.fromkeys(s for s in specs if s is not None):
        try:
            build_network(spec, shape, prep.n_outputs)
        except ValueError as exc:
            raise UserError("--" + str(exc) if str(exc).startswith("layers: ") else str(exc)) from None


def metadata(args, ds: sources.Dataset, prep: data.Prepared) -> dict:
    """What a model file records about its data: enough for evaluate and predict to use it alone."""
    return {
        "tool": "scratchnn-cli",
        "feature_names": ds.feature_names,
        "label_names": prep.label_names,
        "target": ds.target,
        "scaler": prep.scaler.to_dict(),
        "image_shape": list(ds.image_shape) if ds.image_shape else None,
        "input_shape": list(ds.input_shape) if ds.input_shape else None,
        "source": {
            "data": ds.name,
            "n_rows": ds.n_rows,
            "fingerprint": data.fingerprint(ds.x, ds.labels),
            "rows_fingerprint": rows_fingerprint(ds.x, ds.labels),
        },
        "split": {
            "seed": args.seed,
            "test_fraction": args.test_fraction,
            "val_fraction": args.val_fraction,
            "n_train": len(prep.train),
            "n_val": len(prep.val),
            "n_test": len(prep.test),
        },
    }


def rows_fingerprint(x: np.ndarray, labels) -> str:
    """A SHA-256 of the set of rows (features and label), whatever their order.

    ``data.fingerprint`` changes when the rows are shuffled; this one does not,
    so ``evaluate`` can tell "the training data in another order" from "other data".
    """
    import hashlib

    rows = np.ascontiguousarray(x, dtype=np.float64)
    digests = sorted(
        hashlib.sha256(row.tobytes() + b"\0" + str(label).encode()).digest()
        for row, label in zip(rows, labels)
    )
    h = hashlib.sha256(repr(x.shape).encode())
    for digest in digests:
        h.update(digest)
    return h.hexdigest()


# -- models for evaluate and predict ----------------------------------------------------------


def plots_dir(args) -> str:
    """Where ``evaluate`` writes its plots: ``--out``, else the model's folder, as the user wrote its path."""
    return args.out or os.path.dirname(args.model) or os.curdir


def load_predictor(path: str) -> Predictor:
    """The ``Predictor`` of a model file written by train or tune (a damaged file or metadata: exit 2)."""
    with from_user():
        return Predictor.load(path)
