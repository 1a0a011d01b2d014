"""What the commands share: progress display, output files, reading and preparing data, loading models."""

from __future__ import annotations

import itertools
import json
import os
import sys

import numpy as np

from .. import data
from ..data import sources
from ..files import atomic_write
from ..network import check_network_size
from ..predictor import Predictor
from ..tuning.files import format_value
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


def set_image_shape(ds: sources.Dataset, shape: tuple | None, width: int | None = None) -> None:
    """Record ``--image-shape`` (C, H, W) on ``ds``, after checking that its rows hold that many values.

    ``width``: the features per row the network sees, when text columns made it
    differ from the table's (each category is a column); such rows are not
    drawn as images.
    """
    if shape is None:
        return
    size = shape[0] * shape[1] * shape[2]
    encoded = width is not None and width != ds.x.shape[1]
    width = ds.x.shape[1] if width is None else width
    if size != width:
        text = "x".join(map(str, shape))
        after = " once its text columns are one-hot encoded" if encoded else ""
        raise UserError(
            f"--image-shape {text} needs {size} features per row, but {ds.name} has {width}{after}"
        )
    ds.input_shape = tuple(shape)
    if shape[0] == 1 and not encoded:
        ds.image_shape = tuple(shape[1:])  # one channel: drawn as a grey image


def config_from_args(args):
    """The ``TrainingConfig`` of the parsed options (a rule across settings may still refuse it).

    An option that ``--layers`` replaces (``REPLACED_BY_LAYERS``) typed next to
    it is refused: it would be dropped without a word.
    """
    from ..recipe.config import REPLACED_BY_LAYERS, SETTINGS_BY_NAME

    with from_user():
        config = options.config_from_args(args)
    if config.layers is not None:
        typed = [name for name in REPLACED_BY_LAYERS if name in options.given_settings(args)]
        if typed:
            option = SETTINGS_BY_NAME[typed[0]].option
            raise UserError(
                f"{option} {format_value(getattr(args, typed[0]))} has no effect with --layers, whose spec "
                f"names every layer, its activation and its dropout: drop {option} or write it into the spec"
            )
    return config


def check_network_fits(config, n_features: int, n_classes: int, option: str = "--hidden") -> None:
    """Refuse, before allocating anything, a network that cannot fit in this machine's memory, or past
    ``scratchnn.network.NETWORK_BYTES_LIMIT`` (weights plus one batch's largest activation).

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
    # then the bound every network meets (weights plus one batch's largest activation), sized from the widths
    steps = [(f"the layer of {b} units", (a + 1) * b, [b]) for a, b in itertools.pairwise(widths)]
    try:
        check_network_size(steps, batch_size=config.batch_size, itemsize=np.dtype(config.dtype).itemsize)
    except ValueError as exc:
        raise UserError(f"{option} {','.join(str(u) for u in hidden)}: {exc}") from None


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_layers(specs, ds: sources.Dataset, prep: data.Prepared, batch_size: int = 1) -> None:
    """Build each ``--layers`` spec once for this data (cheap), so that one which does not fit it
    (a convolution on rows without an image shape, a pooling that outgrows the image) is a one-line
    error before any training starts."""
    from ..recipe import build_network

    shape = ds.input_shape or prep.x.shape[1]
    for spec in dict.fromkeys(s for s in specs if s is not None):
        try:
            build_network(spec, shape, prep.n_outputs, batch_size=batch_size)  # sized for one batch
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
    from ..data.sequences import is_sequence_model
    from ..serialization import load_network

    try:
        with from_user():
            return Predictor.load(path)
    except (UserError, ValueError):
        try:
            meta = load_network(path)[1]
        except (ValueError, OSError):
            meta = None
        if is_sequence_model(meta):
            raise UserError(
                f"{path} is a model trained on sequences: give it an .npz whose X is (N, T, F)"
            ) from None
        raise
