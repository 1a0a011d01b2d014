"""train, evaluate, tune and predict on sequences: an ``.npz`` whose ``X`` is ``(N, T, F)``.

The file's layout (``X``, ``y``, optional ``lengths``) and the scaler are
``scratchnn.data.sequences``'s. The network is the ``--layers`` spec, built for
per-sample inputs ``(T, F)`` (e.g. ``lstm32-last-dense``, ``gru16-mean-dense``,
``dense32-res(ln-mha4)-mean-dense``); its output is one class per sequence. The
model file records the scaler (``sequence_scaler``), the label names and the
steps the network was built for; ``evaluate`` and ``predict`` read sequence
``.npz`` files (``predict`` needs no ``y``) and pass their lengths on.
"""

from __future__ import annotations

import csv
import io
import sys

import numpy as np

from .. import metrics
from ..data.sequences import SequenceScaler, is_sequence_model, is_sequence_npz, load_sequences
from ..data.splits import encode_labels, encode_with, stratified_split
from ..files import atomic_write
from ..hyperparameter_tuning import check_grid
from ..recipe.train import build
from ..serialization import load_network, save
from ..trainer import TrainingDiverged
from ..tuning.files import format_value, parse_grid
from . import common, outputs
from .errors import UserError, from_user

__all__ = ["evaluate", "is_sequence_source", "predict", "train", "tune"]

DEFAULT_LAYERS = "lstm32-last-dense"


def is_sequence_source(path) -> bool:
    """True for an ``.npz`` file whose ``X`` is 3-D: sequences."""
    return is_sequence_npz(path)


def _read(path: str, need_labels: bool = True):
    with from_user():
        return load_sequences(path, need_labels=need_labels)


def _split(args, y: np.ndarray):
    """Indices (train, val, test) of the sequences, stratified by class, fixed by --seed."""
    rest, test = (
        stratified_split(y, args.test_fraction, args.seed) if args.test_fraction else (np.arange(len(y)), [])
    )
    test = np.asarray(test, dtype=np.int64)
    if not args.val_fraction:
        return np.asarray(rest), np.array([], np.int64), test
    fraction = args.val_fraction / (1 - args.test_fraction)
    tr, val = stratified_split(y[rest], min(fraction, 0.9), args.seed)
    return np.asarray(rest)[tr], np.asarray(rest)[val], test


def _config(args, layers: str | None = None):
    config = common.config_from_args(args)
    if layers is not None:
        config = config.replace(layers=layers)
    elif config.layers is None:
        config = config.replace(layers=DEFAULT_LAYERS)
    return config


def _fit(config, args, x, y, lengths, parts, n_classes):
    """Build ``config``'s network for sequences of ``x``'s shape and train it on the training part."""
    tr, val, _ = parts

    def sub(a, i):
        return None if a is None else a[i]

    try:
        network, trainer = build(
            config, x.shape[2], n_classes, seed=args.seed, n_train=len(tr), task="classification",
            input_shape=x.shape[1:],
        )  # fmt: skip
    except ValueError as exc:
        raise UserError("--" + str(exc) if str(exc).startswith("layers: ") else str(exc)) from None
    extra = {}
    if len(val):
        extra = {"x_val": x[val], "y_val": y[val], "lengths_val": sub(lengths, val)}
    try:
        with from_user():
            history = trainer.fit(
                x[tr], y[tr], config.epochs, verbose=False, patience=config.patience, tol=config.tol,
                lengths_train=sub(lengths, tr), **extra,
            )  # fmt: skip
    except TrainingDiverged as exc:
        raise UserError(f"{exc}; no model was saved") from None
    return network, history


def _accuracy(network, x, y, lengths, rows) -> float | None:
    if not len(rows):
        return None
    return network.accuracy(x[rows], y[rows], None if lengths is None else lengths[rows])


def _scaled(args, data):
    scaler = SequenceScaler.fit(data.x, data.lengths)  # per feature, over the real steps
    return scaler, scaler.transform(data.x, data.lengths)


def _save(args, folder, network, config, scaler, names, data, result: dict, extra: dict | None = None):
    meta = {
        "tool": "scratchnn-cli",
        "kind": "sequences",
        "sequence_scaler": scaler.to_dict(),
        "label_names": names,
        "n_steps": int(data.x.shape[1]),
        "n_features": int(data.x.shape[2]),
        "training": {**config.to_dict(), "seed": args.seed},
        "source": {"data": data.name, "n_sequences": int(data.x.shape[0])},
        "result": result,
        **(extra or {}),
    }
    path = folder.path(outputs.MODEL_FILE)
    save(network, path, meta)
    folder.finish()
    return path


def train(args) -> int:
    """``scratchnn train`` on a sequence ``.npz``."""
    config = _config(args)
    data = _read(args.data)
    y, names = encode_labels(data.labels)
    scaler, x = _scaled(args, data)
    parts = _split(args, y)
    with outputs.RunFolder(
        args.out, "train", inputs={"the --data file": args.data}, force=args.force
    ) as folder:
        common.say(args, f"Read {x.shape[0]} sequences of up to {x.shape[1]} steps of {x.shape[2]} values, "
                         f"{len(names)} classes; layers {config.layers}")  # fmt: skip
        network, history = _fit(config, args, x, y, data.lengths, parts, len(names))
        result = {"epochs_run": len(history), "best_epoch": history.best_epoch}
        for key, rows in (("val_accuracy", parts[1]), ("test_accuracy", parts[2])):
            score = _accuracy(network, x, y, data.lengths, rows)
            if score is not None:
                result[key] = score
        path = _save(args, folder, network, config, scaler, names, data, result)
    common.say(args, f"Wrote {path}")
    for key in ("val_accuracy", "test_accuracy"):
        if key in result:
            print(f"{key.replace('_', ' ').capitalize()}: {result[key]:.4f}")
    return 0


def tune(args) -> int:
    """``scratchnn tune`` on a sequence ``.npz``: each grid point trained, the best by validation accuracy."""
    if args.val_fraction == 0:
        raise UserError("tune chooses settings on a validation split: set --val-fraction above 0")
    try:
        grid = parse_grid(";".join(args.grid)) if args.grid else {"layers": [DEFAULT_LAYERS]}
    except ValueError as exc:
        raise UserError(str(exc)) from None
    base = _config(args)
    with from_user():
        combos = check_grid(grid, base)
    data = _read(args.data)
    y, names = encode_labels(data.labels)
    scaler, x = _scaled(args, data)
    parts = _split(args, y)
    best = None
    with outputs.RunFolder(
        args.out, "tune", inputs={"the --data file": args.data}, force=args.force
    ) as folder:
        for i, params in enumerate(combos, start=1):
            config = base.replace(**params)
            network, history = _fit(config, args, x, y, data.lengths, parts, len(names))
            score = _accuracy(network, x, y, data.lengths, parts[1])
            shown = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
            if not args.quiet:
                print(f"trial {i}/{len(combos)}: {shown}: val_accuracy {score:.4f}")
            if best is None or score > best[0]:
                best = (score, params, config, network, history)
        score, params, config, network, history = best
        result = {"epochs_run": len(history), "best_epoch": history.best_epoch, "val_accuracy": score}
        test = _accuracy(network, x, y, data.lengths, parts[2])
        if test is not None:
            result["test_accuracy"] = test
        plain = {k: format_value(v) for k, v in params.items()}
        path = _save(
            args, folder, network, config, scaler, names, data, result, {"tuning": {"best_params": plain}}
        )
    common.say(args, f"Wrote {path}")
    print("Best: " + ", ".join(f"{k}={v}" for k, v in plain.items()) + f" (val_accuracy {score:.4f})")
    if test is not None:
        print(f"Test accuracy: {test:.4f}")
    return 0


def load_model(path: str):
    """``(network, meta, scaler)`` of a model file written by ``train``/``tune`` on sequences."""
    with from_user():
        network, meta = load_network(path)
        if not is_sequence_model(meta):
            raise ValueError(f"{path} is not a model trained on sequences; its --data must be rows")
        scaler = SequenceScaler.from_dict(meta["sequence_scaler"])
        names = meta.get("label_names")
        if not isinstance(names, list) or len(names) != network.n_outputs:
            raise ValueError(f"{path}: label_names must list the network's {network.n_outputs} classes")
    return network, meta, scaler


def _inputs(path: str, scaler, need_labels: bool):
    data = _read(path, need_labels)
    with from_user():
        x = scaler.transform(data.x, data.lengths)
    return data, x


def evaluate(args) -> int:
    """``scratchnn evaluate`` of a sequence model on a sequence ``.npz`` (all its sequences)."""
    network, meta, scaler = load_model(args.model)
    data, x = _inputs(args.data, scaler, True)
    names = meta["label_names"]
    with from_user():
        y = encode_with(data.labels, names)
        predicted = network.predict(x, data.lengths)
    accuracy = metrics.accuracy(y, predicted)
    print(f"Accuracy: {accuracy:.4f} ({int(np.sum(predicted == y))} of {len(y)} sequences correct)")
    return 0


def predict(args) -> int:
    """``scratchnn predict`` for the sequences of an ``.npz`` (``y`` not needed): CSV of labels."""
    network, meta, scaler = load_model(args.model)
    data, x = _inputs(args.input, scaler, False)
    names = meta["label_names"]
    with from_user():
        proba = network.predict_proba(x, data.lengths)
    predicted = np.argmax(proba, axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if args.proba:
        writer.writerow(["prediction", *(f"proba_{n}" for n in names)])
        writer.writerows([names[k], *(repr(float(v)) for v in p)] for k, p in zip(predicted, proba))
    else:
        writer.writerow(["prediction"])
        writer.writerows([names[k]] for k in predicted)
    text = buffer.getvalue()
    if args.output:
        atomic_write(args.output, lambda f: f.write(text.encode()))
        common.say(args, f"Wrote {len(predicted)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
