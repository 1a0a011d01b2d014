"""What the commands share: progress display, output files, reading and preparing data, loading models."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from .. import data, sources
from ..files import atomic_write
from ..serialization import ModelFileError, load_network
from .errors import UserError

MODEL_FILE = "model.npz"
HISTORY_FILE = "history.json"
RESULTS_FILE = "results.csv"


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


def check_out_dir(out: str) -> None:
    """Create ``--out`` now, so an unwritable place fails before training rather than after."""
    try:
        os.makedirs(out, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"--out {out!r} must be a directory, but a file is in the way") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"--out {out!r} is not a writable directory")


# -- data for train and tune --------------------------------------------------------------


def read_and_prepare(args) -> tuple[sources.Dataset, data.Prepared]:
    """Read ``--data`` and prepare it with the split options of ``args``."""
    ds = sources.load_source(args.data, args.target)
    set_image_shape(ds, getattr(args, "image_shape", None))
    prep = data.prepare(
        ds.x, ds.labels, test_fraction=args.test_fraction, val_fraction=args.val_fraction, seed=args.seed
    )
    return ds, prep


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


def check_layers(specs, ds: sources.Dataset, prep: data.Prepared) -> None:
    """Build each ``--layers`` spec once for this data (cheap), so that one which does not fit it
    (a convolution on rows without an image shape, a pooling that outgrows the image) is a one-line
    error before any training starts."""
    from ..layers.spec import build_network

    shape = ds.input_shape or ds.x.shape[1]
    for spec in dict.fromkeys(s for s in specs if s is not None):
        try:
            build_network(spec, shape, prep.n_classes)
        except ValueError as exc:
            raise UserError("--" + str(exc) if str(exc).startswith("layers: ") else str(exc)) from None


def summary(ds: sources.Dataset, prep: data.Prepared) -> str:
    held = f", {len(prep.test)} test rows held out for evaluate" if len(prep.test) else ""
    return (
        f"{ds.name}: {ds.n_rows} rows, {ds.x.shape[1]} features, {prep.n_classes} classes -> "
        f"{len(prep.train)} training, {len(prep.val)} validation{held}"
    )


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
        "source": {"data": ds.name, "n_rows": ds.n_rows, "fingerprint": data.fingerprint(ds.x, ds.labels)},
        "split": {
            "seed": args.seed,
            "test_fraction": args.test_fraction,
            "val_fraction": args.val_fraction,
            "n_train": len(prep.train),
            "n_val": len(prep.val),
            "n_test": len(prep.test),
        },
    }


# -- models for evaluate and predict ----------------------------------------------------------


def load_model(path: str):
    """``(network, metadata, label names, scaler)`` of a model file written by train or tune."""
    network, meta = load_network(path)
    n_out = network.n_outputs
    names = meta.get("label_names") or [str(i) for i in range(n_out)]
    if len(names) != n_out:
        raise ModelFileError(f"{path}: {len(names)} label names for a network with {n_out} outputs")
    if meta.get("scaler"):
        scaler = data.Scaler.from_dict(meta["scaler"])
    else:
        scaler = data.Scaler.identity(network.n_features)
    return network, meta, names, scaler


def select_features(ds: sources.Dataset, feature_names: list[str] | None) -> np.ndarray:
    """The dataset's columns in the model's feature order (by name)."""
    if not feature_names or ds.feature_names == feature_names:
        return ds.x
    missing = [n for n in feature_names if n not in ds.feature_names]
    if missing:
        raise UserError(
            f"{ds.name} lacks the feature column(s) {', '.join(map(repr, missing[:5]))} the model was "
            "trained on"
        )
    extra = [n for n in ds.feature_names if n not in feature_names]
    if extra:
        raise UserError(f"{ds.name} has column {extra[0]!r}, which is not a feature of the model")
    return ds.x[:, [ds.feature_names.index(n) for n in feature_names]]
