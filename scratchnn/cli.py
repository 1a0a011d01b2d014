"""The ``scratchnn`` command: train, tune, evaluate and predict on your own data.

    scratchnn train    --data SOURCE --out DIR [training options]
    scratchnn tune     --data SOURCE --out DIR [--grid SPEC] [--jobs N] [--resume]
    scratchnn evaluate --model DIR/model.npz --data SOURCE [--all-rows]
    scratchnn predict  --model DIR/model.npz --input FILE.csv [--output FILE.csv] [--proba]

SOURCE is ``digits``, ``iris``, ``wine`` or ``breast_cancer`` (bundled with
scikit-learn), a CSV file with a header row, or an ``.npz`` file with arrays
``X`` and ``y`` (see ``scratchnn.sources``). Everything is built from
``TrainingConfig``/``train`` and ``grid_search``; this module only reads
arguments, shows progress and writes files.

Exit status: 0 on success; 2 for a user error (bad argument, unreadable file,
diverged training), printed as one line ``error: ...`` on stderr; 130 after
Ctrl-C (``train`` first saves the best model so far); 1 for anything
unexpected (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import traceback

import numpy as np

from . import sources
from .config import TrainingConfig
from .config import train as train_network
from .files import atomic_write
from .hyperparameter_tuning import DEFAULT_GRID, METRICS, expand_grid
from .network import ACTIVATIONS, LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES
from .serialization import ModelFileError, load_network, save
from .trainer import TrainingDiverged, format_epoch

__all__ = ["main"]

MODEL_FILE = "model.npz"
HISTORY_FILE = "history.json"
RESULTS_FILE = "results.csv"
TUNE_FILE = "tune.json"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake in the command line or the data, reported as one line and exit status 2."""


class Interrupted(Exception):
    """Ctrl-C after the command has saved what it could; exit status 130."""


# -- argument types: each error names the option's value in one line ----------------


def _int(text: str, ok, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _int(text, lambda v: v >= 1, "a positive integer")


def _non_negative_int(text: str) -> int:
    return _int(text, lambda v: v >= 0, "a non-negative integer")


def _nonzero_int(text: str) -> int:
    return _int(text, lambda v: v != 0, "a non-zero integer (-1 for all cores)")


def _float(text: str, low: float, high: float, include_low: bool, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    ok = math.isfinite(value) and (value >= low if include_low else value > low) and value < high
    if not ok:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _float(text, 0.0, math.inf, False, "a positive number")


def _non_negative_float(text: str) -> float:
    return _float(text, 0.0, math.inf, True, "a number >= 0")


def _fraction(text: str) -> float:
    return _float(text, 0.0, 1.0, True, "a fraction in [0, 1)")


def _hidden(text: str):
    """``128`` or ``128,64`` (also ``128x64``): the width of each hidden layer."""
    parts = text.replace("x", ",").split(",")
    try:
        units = tuple(int(p) for p in parts)
    except ValueError:
        units = ()
    if not units or any(u < 1 for u in units):
        raise argparse.ArgumentTypeError(
            f"must be positive integers separated by commas, e.g. 128,64, got {text!r}"
        )
    return units[0] if len(units) == 1 else units


# -- grid values: parsed the same way from --grid and from results.csv ---------------


def parse_value(key: str, text: str):
    """A grid value from text: int, then float, then ``none``, else the string itself.

    ``hidden_units`` also takes ``128x64`` for two hidden layers of 128 and 64 units.
    """
    text = text.strip()
    if key == "hidden_units" and "x" in text:
        try:
            return tuple(int(p) for p in text.split("x"))
        except ValueError:
            raise UserError(f"--grid hidden_units value {text!r} must look like 64 or 128x64") from None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


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
            raise UserError(f"--grid entries must look like name=v1,v2; got {part.strip()!r}")
        if key in grid:
            raise UserError(f"--grid names {key!r} twice")
        texts = [v for v in values.split(",") if v.strip()]
        if not texts:
            raise UserError(f"--grid {key!r} has no values; give at least one, e.g. {key}=v1,v2")
        grid[key] = [parse_value(key, v) for v in texts]
    if not grid:
        raise UserError(f"--grid must name at least one setting, got {spec!r}")
    return grid


# -- progress ---------------------------------------------------------------------------


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


def _say(args, *lines: str) -> None:
    """Print unless ``--quiet``."""
    if not args.quiet:
        for line in lines:
            print(line, flush=True)


# -- data preparation --------------------------------------------------------------


class Prepared:
    """A source read, labels encoded, split, and the scaler fitted on the training rows."""

    def __init__(self, args) -> None:
        ds = sources.load_source(args.data, args.target)
        self.ds = ds
        self.y, self.label_names = sources.encode_labels(ds.labels)
        self.train, self.val, self.test = sources.split_indices(
            self.y, args.test_fraction, args.val_fraction, args.seed
        )
        self.scaler = sources.Scaler.fit(ds.x[self.train])
        self.x = self.scaler.transform(ds.x)
        self.fingerprint = sources.fingerprint(ds.x, ds.labels)
        self.split = {
            "seed": args.seed,
            "test_fraction": args.test_fraction,
            "val_fraction": args.val_fraction,
            "n_train": len(self.train),
            "n_val": len(self.val),
            "n_test": len(self.test),
        }

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    def summary(self) -> str:
        ds = self.ds
        held = f", {len(self.test)} test rows held out for evaluate" if len(self.test) else ""
        return (
            f"{ds.name}: {ds.n_rows} rows, {ds.x.shape[1]} features, {self.n_classes} classes -> "
            f"{len(self.train)} training, {len(self.val)} validation{held}"
        )

    def metadata(self) -> dict:
        ds = self.ds
        return {
            "tool": "scratchnn-cli",
            "feature_names": ds.feature_names,
            "label_names": self.label_names,
            "target": ds.target,
            "scaler": self.scaler.to_dict(),
            "image_shape": list(ds.image_shape) if ds.image_shape else None,
            "source": {"data": ds.name, "n_rows": ds.n_rows, "fingerprint": self.fingerprint},
            "split": self.split,
        }


def _config_from_args(args, **overrides) -> TrainingConfig:
    settings = {
        "hidden_units": args.hidden,
        "activation": args.activation,
        "loss": args.loss,
        "optimizer": args.optimizer,
        "learning_rate": args.lr,
        "momentum": args.momentum,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "weight_decay": args.weight_decay,
        "dropout": args.dropout,
        "label_smoothing": args.label_smoothing,
        "schedule": args.schedule,
        "patience": args.patience,
    }
    settings.update(overrides)
    return TrainingConfig(**settings)


# -- train (also the last step of tune) ------------------------------------------------


def _history_json(history, interrupted: bool = False) -> dict:
    return {
        "epochs": list(history),
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "interrupted": interrupted,
    }


def _write_json(path: str, data) -> None:
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def _fit_and_save(args, prep: Prepared, config: TrainingConfig, out: str, extra_meta: dict | None = None):
    """Train ``config`` on the training rows, then write the model, history and plots to ``out``."""
    x_tr, y_tr = prep.x[prep.train], prep.y[prep.train]
    x_val, y_val = (prep.x[prep.val], prep.y[prep.val]) if len(prep.val) else (None, None)
    if config.patience is not None and x_val is None:
        raise UserError("--patience needs a validation split: set --val-fraction above 0")
    progress = Progress(args.quiet, config.epochs, "train", "epoch")

    def on_epoch(record):
        postfix = {"loss": f"{record['loss']:.4f}"}
        if "val_accuracy" in record:
            postfix["val_acc"] = f"{record['val_accuracy']:.4f}"
        progress.update(format_epoch(record, config.epochs), **postfix)

    trainer_out: list = []
    meta = {**prep.metadata(), "training": {**config.to_dict(), "seed": args.seed}, **(extra_meta or {})}
    try:
        network, history = train_network(
            config,
            x_tr,
            y_tr,
            x_val,
            y_val,
            n_classes=prep.n_classes,
            seed=args.seed,
            callback=on_epoch,
            trainer_out=trainer_out,
        )
    except KeyboardInterrupt:
        progress.close()
        _save_interrupted(trainer_out, meta, out)
        raise Interrupted from None
    except TrainingDiverged as exc:
        progress.close()
        raise UserError(f"{exc}; no model was saved") from None
    progress.close()

    if history.best_epoch is None and history:
        history.best_epoch = history[-1]["epoch"]  # without early stopping the weights are the last epoch's
    result = {"epochs_run": len(history), "best_epoch": history.best_epoch}
    if len(prep.val):
        result["val_accuracy"] = network.accuracy(x_val, y_val)
    if len(prep.test):
        result["test_accuracy"] = network.accuracy(prep.x[prep.test], prep.y[prep.test])
    meta["result"] = result
    model_path = os.path.join(out, MODEL_FILE)
    save(network, model_path, meta)
    _write_json(os.path.join(out, HISTORY_FILE), _history_json(history))
    written = [model_path, os.path.join(out, HISTORY_FILE), *_training_plots(prep, network, history, out)]
    _say(args, "Wrote " + ", ".join(written))
    if "test_accuracy" in result:
        print(f"Test accuracy: {result['test_accuracy']:.4f} ({len(prep.test)} held-out rows)")
    elif "val_accuracy" in result:
        print(f"Validation accuracy: {result['val_accuracy']:.4f} ({len(prep.val)} validation rows)")
    else:
        acc = network.accuracy(x_tr, y_tr)
        print(f"Training accuracy: {acc:.4f} ({len(prep.train)} training rows; no rows were held out)")
    return network


def _training_plots(prep: Prepared, network, history, out: str) -> list[str]:
    from . import plots

    written = []
    if history:
        path = os.path.join(out, "learning_curves.png")
        plots.learning_curves(list(history), path)
        written.append(path)
    shape = prep.ds.image_shape
    if shape:
        path = os.path.join(out, "first_layer_weights.png")
        plots.first_layer_weights(network.layers[0].W, shape, path)
        written.append(path)
        rows = next(r for r in (prep.test, prep.val, prep.train) if len(r))
        pred = network.predict(prep.x[rows])
        path = os.path.join(out, "misclassified.png")
        plots.misclassified_grid(prep.ds.x[rows], prep.y[rows], pred, prep.label_names, shape, path)
        written.append(path)
    return written


def _save_interrupted(trainer_out: list, meta: dict, out: str) -> None:
    """After Ctrl-C: save the best weights so far (or the current ones) and the history."""
    if not trainer_out:
        print("interrupted before training started; nothing was saved", file=sys.stderr)
        return
    trainer = trainer_out[0]
    network, history = trainer.network, trainer.history
    params = network.parameters()
    if trainer.restore_best():
        history.best_epoch = trainer.best_epoch  # the epoch those weights come from
        which = f"the weights of epoch {history.best_epoch}, the lowest validation loss"
    else:
        which = "the current weights"
    if not all(np.all(np.isfinite(p)) for p in params):
        print("interrupted; the weights are not finite, so nothing was saved", file=sys.stderr)
        return
    meta = {**meta, "interrupted": True, "result": {"epochs_run": len(history)}}
    model_path = os.path.join(out, MODEL_FILE)
    save(network, model_path, meta)
    _write_json(os.path.join(out, HISTORY_FILE), _history_json(history, interrupted=True))
    print(
        f"interrupted after {len(history)} finished epochs: saved {which} to {model_path} "
        f"and the history to {os.path.join(out, HISTORY_FILE)}",
        file=sys.stderr,
    )


def cmd_train(args) -> int:
    config = _config_from_args(args)
    if config.patience is not None and args.val_fraction == 0:
        raise UserError("--patience needs a validation split: set --val-fraction above 0")
    prep = Prepared(args)
    _check_out_dir(args.out)
    _say(args, prep.summary())
    _fit_and_save(args, prep, config, args.out)
    return 0


def _check_out_dir(out: str) -> None:
    """Create ``--out`` now, so an unwritable place fails before training rather than after."""
    try:
        os.makedirs(out, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"--out {out!r} must be a directory, but a file is in the way") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"--out {out!r} is not a writable directory")


# -- tune --------------------------------------------------------------------------------


def _results_columns(grid: dict) -> list[str]:
    return [*grid, *METRICS]


def _write_results(path: str, grid: dict, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_results_columns(grid))
    for row in rows:
        writer.writerow([format_value(row.get(col)) for col in _results_columns(grid)])
    data = buffer.getvalue().encode()
    atomic_write(path, lambda f: f.write(data))


def _read_results(path: str, grid: dict) -> list[dict]:
    """Rows of an earlier run's results.csv, with values typed as ``parse_value`` types them."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != _results_columns(grid):
            raise UserError(
                f"--resume: {path} has columns {header}, but this search writes "
                f"{_results_columns(grid)}; use another --out or drop --resume"
            )
        rows = []
        for cells in reader:
            if len(cells) != len(header):
                raise UserError(f"--resume: {path} line {reader.line_num} has {len(cells)} cells")
            row = {key: parse_value(key, cells[i]) for i, key in enumerate(grid)}
            for i, metric in enumerate(METRICS, start=len(grid)):
                text = cells[i]
                try:
                    row[metric] = text if metric == "status" else (float(text) if text else None)
                except ValueError:
                    raise UserError(
                        f"--resume: {path} line {reader.line_num}: {metric} {text!r} is not a number"
                    ) from None
            if row["status"] not in ("ok", "diverged") or (
                row["status"] == "ok" and None in (row["val_accuracy"], row["val_loss"])
            ):
                raise UserError(
                    f"--resume: {path} line {reader.line_num} is not a finished trial "
                    f"(status {row['status']!r}, val_accuracy {cells[len(grid)]!r})"
                )
            rows.append(row)
    return rows


def _trial_line(done: int, total: int, row: dict) -> str:
    settings = ", ".join(f"{k}={format_value(row[k])}" for k in row if k not in METRICS)
    if row["status"] != "ok":
        return f"Trial {done}/{total} | {settings} | {row['status']}"
    return (
        f"Trial {done}/{total} | {settings} | "
        f"Val Loss: {row['val_loss']:.4f} | Val Acc: {row['val_accuracy']:.4f}"
    )


def cmd_tune(args) -> int:
    from .hyperparameter_tuning import grid_search

    grid = parse_grid(args.grid) if args.grid else DEFAULT_GRID
    base = _config_from_args(args)
    combos = expand_grid(grid)
    for params in combos:
        base.replace(**params)  # every value checked before any data is read
    if args.val_fraction == 0:
        raise UserError("tune chooses settings on a validation split: set --val-fraction above 0")
    prep = Prepared(args)
    _check_out_dir(args.out)
    _say(args, prep.summary())
    out = args.out
    results_path = os.path.join(out, RESULTS_FILE)
    settings = {
        "fingerprint": prep.fingerprint,
        "grid": {k: [format_value(v) for v in vs] for k, vs in grid.items()},
        "seed": args.seed,
        "base": base.to_dict(),
        "test_fraction": args.test_fraction,
        "val_fraction": args.val_fraction,
    }
    completed: list[dict] = []
    if args.resume and os.path.exists(results_path):
        previous = _read_tune_settings(os.path.join(out, TUNE_FILE))
        if previous is not None and previous != settings:
            changed = sorted(k for k in settings if previous.get(k) != settings[k])
            raise UserError(
                f"--resume: {results_path} comes from a search with other settings "
                f"(changed: {', '.join(changed)}); use another --out or drop --resume"
            )
        completed = _read_results(results_path, grid)
        _say(args, f"Resuming: {len(completed)} of {len(combos)} trials already in {results_path}")
    _write_json(os.path.join(out, TUNE_FILE), settings)
    rows = list(completed)
    _write_results(results_path, grid, rows)
    progress = Progress(args.quiet, len(combos), "tune", "trial", initial=len(rows))

    def on_trial(row):
        rows.append(row)
        _write_results(results_path, grid, rows)
        acc = row["val_accuracy"]
        progress.update(
            _trial_line(len(rows), len(combos), row), val_acc="diverged" if acc is None else f"{acc:.4f}"
        )

    try:
        result = grid_search(
            prep.x[prep.train],
            prep.y[prep.train],
            prep.x[prep.val],
            prep.y[prep.val],
            grid,
            epochs=args.epochs,
            seed=args.seed,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            base=base,
            n_classes=prep.n_classes,
            callback=on_trial,
            completed=completed,
        )
    except KeyboardInterrupt:
        progress.close()
        print(
            f"interrupted: {len(rows)} of {len(combos)} trials are saved in {results_path}; "
            "run the same command with --resume to finish the search",
            file=sys.stderr,
        )
        raise Interrupted from None
    except ImportError as exc:
        progress.close()
        raise UserError(f"--scheduler: {exc}") from None
    progress.close()
    _write_results(results_path, grid, result.results)  # grid order, as an uninterrupted run writes it
    from . import plots

    heatmap = os.path.join(out, "tuning_heatmap.png")
    plots.tuning_heatmap(result.results, heatmap, defaults=base.to_dict())
    n_diverged = sum(r["status"] != "ok" for r in result.results)
    _say(args, f"Wrote {results_path} ({len(combos)} trials, {n_diverged} diverged) and {heatmap}")
    if not result.best_params:
        raise UserError(f"every trial diverged; try smaller learning rates (see {results_path})")
    best = ", ".join(f"{k}={format_value(v)}" for k, v in result.best_params.items())
    print(f"Best settings: {best} (validation accuracy {result.best_score:.4f})")
    config = base.replace(**result.best_params, epochs=args.final_epochs)
    _say(args, f"Training the best settings for {args.final_epochs} epochs")
    extra = {"tuning": {"grid": settings["grid"], "best_params": settings_plain(result.best_params)}}
    _fit_and_save(args, prep, config, out, extra)
    return 0


def settings_plain(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _read_tune_settings(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# -- evaluate ------------------------------------------------------------------------------


def _load_model(path: str):
    network, meta = load_network(path)
    n_out = network.n_outputs
    names = meta.get("label_names") or [str(i) for i in range(n_out)]
    if len(names) != n_out:
        raise ModelFileError(f"{path}: {len(names)} label names for a network with {n_out} outputs")
    if meta.get("scaler"):
        scaler = sources.Scaler.from_dict(meta["scaler"])
    else:
        scaler = sources.Scaler.identity(network.n_features)
    return network, meta, names, scaler


def _select_features(ds: sources.Dataset, feature_names: list[str] | None) -> np.ndarray:
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


def cmd_evaluate(args) -> int:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from . import plots

    network, meta, names, scaler = _load_model(args.model)
    ds = sources.load_source(args.data, args.target, default_target=meta.get("target"))
    x = _select_features(ds, meta.get("feature_names"))
    y = sources.encode_with(ds.labels, names)
    split = meta.get("split") or {}
    same = meta.get("source", {}).get("fingerprint") == sources.fingerprint(x, ds.labels)
    if args.all_rows:
        rows = np.arange(len(y))
        which = f"all {len(y)} rows of {ds.name} (--all-rows)"
        if same:
            which += ", including the rows the model was trained on"
    elif same and split.get("test_fraction", 0) > 0:
        _, _, rows = sources.split_indices(y, split["test_fraction"], split["val_fraction"], split["seed"])
        which = (
            f"the held-out test split of {ds.name}: {len(rows)} of {len(y)} rows, never used in training "
            f"(split seed {split['seed']}, test fraction {split['test_fraction']}); "
            "--all-rows scores every row"
        )
    else:
        rows = np.arange(len(y))
        why = (
            "the model was trained on this data without a test split, so these include its training rows"
            if same
            else "this data is not the data the model was trained on"
        )
        which = f"all {len(y)} rows of {ds.name} ({why})"
    y_true = y[rows]
    y_pred = network.predict(scaler.transform(x[rows]))
    accuracy = float(np.mean(y_pred == y_true))
    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    out = args.out or os.path.dirname(os.path.abspath(args.model))
    png = os.path.join(out, "confusion_matrix.png")
    plots.confusion_matrix(matrix, names, png, title=f"Confusion matrix ({len(rows)} rows)")
    written = [png]
    shape = tuple(meta["image_shape"]) if meta.get("image_shape") else None
    if shape and int(np.prod(shape)) == x.shape[1]:
        path = os.path.join(out, "misclassified.png")
        plots.misclassified_grid(x[rows], y_true, y_pred, names, shape, path)
        written.append(path)
    if args.quiet:
        scope = "the held-out test split" if len(rows) < len(y) else "all rows"
        print(f"Accuracy: {accuracy:.4f} on {len(rows)} rows ({scope})")
        return 0
    print(f"Evaluated on {which}")
    print(f"Accuracy: {accuracy:.4f} ({int(np.sum(y_pred == y_true))} of {len(rows)} rows correct)")
    print()
    print(_metrics_table(names, precision, recall, f1, support))
    print()
    print("Confusion matrix (rows: true class, columns: predicted class):")
    print(_matrix_table(names, matrix))
    print()
    print("Wrote " + ", ".join(written))
    return 0


def _metrics_table(names, precision, recall, f1, support) -> str:
    width = max(12, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision     recall   f1-score    support"]
    for i, name in enumerate(names):
        lines.append(f"{name:<{width}}  {precision[i]:9.4f}  {recall[i]:9.4f}  {f1[i]:9.4f}  {support[i]:9d}")
    total = int(np.sum(support))
    weights = support / total if total else np.zeros_like(precision)
    for label, avg in (("macro avg", np.mean), ("weighted avg", None)):
        if avg is None:
            p, r, f = (float(np.sum(v * weights)) for v in (precision, recall, f1))
        else:
            p, r, f = (float(avg(v)) for v in (precision, recall, f1))
        lines.append(f"{label:<{width}}  {p:9.4f}  {r:9.4f}  {f:9.4f}  {total:9d}")
    return "\n".join(lines)


def _matrix_table(names, matrix) -> str:
    cell = max(4, *(len(str(v)) for v in matrix.ravel()), *(len(n) for n in names)) + 1
    first = max(4, *(len(n) for n in names))
    lines = [" " * first + "".join(f"{n:>{cell}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:<{first}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


# -- predict ---------------------------------------------------------------------------------


def cmd_predict(args) -> int:
    network, meta, names, scaler = _load_model(args.model)
    features = meta.get("feature_names") or [f"x{i}" for i in range(network.n_features)]
    x = sources.read_feature_csv(args.input, features, meta.get("target"))
    x = scaler.transform(x)
    predicted = network.predict(x)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if args.proba:
        proba = network.predict_proba(x)
        writer.writerow(["prediction", *(f"proba_{n}" for n in names)])
        for label, p in zip(predicted, proba):
            writer.writerow([names[label], *(f"{v:.6f}" for v in p)])
    else:
        writer.writerow(["prediction"])
        writer.writerows([names[label]] for label in predicted)
    text = buffer.getvalue()
    if args.output:
        atomic_write(args.output, lambda f: f.write(text.encode()))
        _say(args, f"Wrote {len(predicted)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


# -- the parser ----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with argument errors as one line: ``error: ... (see 'scratchnn train --help')``."""

    def error(self, message: str):
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USER_ERROR)


_FORMATTER = argparse.RawDescriptionHelpFormatter

SOURCE_HELP = (
    "SOURCE: digits, iris, wine or breast_cancer (bundled with scikit-learn); a CSV file with a header "
    "row (labels in the --target column, the last column by default; labels may be strings); or an "
    ".npz file with arrays X (rows x features) and y (labels)"
)


def _common(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something goes wrong"
    )


def _data_options(parser, required: bool = True, target_help: str | None = None) -> None:
    parser.add_argument("--data", required=required, metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument(
        "--target",
        metavar="COLUMN",
        help=target_help or "name of the label column of a CSV file (default: the last column)",
    )


def _training_options(parser, tune: bool) -> None:
    d = TrainingConfig()
    group = parser.add_argument_group("data split")
    group.add_argument(
        "--test-fraction",
        type=_fraction,
        default=0.2,
        metavar="F",
        help="fraction of the rows held out as a test split, never trained on; 'evaluate' on the same "
        "SOURCE scores exactly these rows (default: %(default)s; 0 holds out nothing)",
    )
    group.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.2,
        metavar="F",
        help="fraction of the remaining rows kept for validation, never trained on: they give the "
        "validation curves, the signal for --patience"
        + (" and the score that picks the grid's best settings" if tune else "")
        + " (default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the splits, the initial weights and the batch order: the same seed gives the "
        "same model (default: %(default)s)",
    )
    group = parser.add_argument_group(
        "network and training" + (" (the base settings; --grid overrides the ones it names)" if tune else "")
    )
    group.add_argument(
        "--hidden",
        type=_hidden,
        default=d.hidden_units,
        metavar="UNITS",
        help="hidden layer sizes: 128 is one layer, 128,64 (or 128x64) two (default: %(default)s)",
    )
    group.add_argument(
        "--activation",
        choices=list(ACTIVATIONS),
        default=d.activation,
        help="activation of the hidden layers (default: %(default)s)",
    )
    group.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=d.loss,
        help="loss: softmax cross-entropy, or mean squared error on one-hot targets (default: %(default)s)",
    )
    group.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default=d.optimizer,
        help="sgd, momentum (SGD with momentum), adam, or adamw (Adam with decoupled weight decay) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--lr",
        type=_positive_float,
        default=d.learning_rate,
        metavar="RATE",
        help="learning rate (default: %(default)s; try 0.001 for adam and adamw)",
    )
    group.add_argument(
        "--momentum",
        type=_fraction,
        default=d.momentum,
        metavar="BETA",
        help="momentum coefficient of --optimizer momentum (default: %(default)s)",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=d.batch_size,
        metavar="N",
        help="rows per mini-batch (default: %(default)s)",
    )
    if tune:
        group.add_argument(
            "--epochs",
            type=_positive_int,
            default=5,
            metavar="N",
            help="epochs of each trial (default: %(default)s)",
        )
        group.add_argument(
            "--final-epochs",
            type=_positive_int,
            default=d.epochs,
            metavar="N",
            help="epochs of the final training of the best settings (default: %(default)s)",
        )
    else:
        group.add_argument(
            "--epochs",
            type=_positive_int,
            default=d.epochs,
            metavar="N",
            help="passes over the training rows (default: %(default)s)",
        )
    group.add_argument(
        "--dropout",
        type=_fraction,
        default=d.dropout,
        metavar="RATE",
        help="dropout rate after each hidden layer while training (default: %(default)s, no dropout)",
    )
    group.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=d.weight_decay,
        metavar="L2",
        help="weight decay: added to the gradient for sgd, momentum and adam, decoupled for adamw "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--label-smoothing",
        type=_fraction,
        default=d.label_smoothing,
        metavar="EPS",
        help="label smoothing of the cross-entropy loss (default: %(default)s)",
    )
    group.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        default=d.schedule,
        help="learning-rate schedule over the run: constant, step decay, cosine annealing, or linear "
        "warm-up then cosine (default: %(default)s)",
    )
    group.add_argument(
        "--patience",
        type=_positive_int,
        default=d.patience,
        metavar="N",
        help="early stopping: stop once the validation loss has not improved for N epochs and keep the "
        "best epoch's weights (default: off)",
    )


TRAIN_EPILOG = """\
Writes DIR/model.npz (weights, scaler, label names, settings), DIR/history.json
(per epoch: loss, val_loss, val_accuracy, lr) and DIR/learning_curves.png; for
image data (a square number of features, e.g. digits' 8x8 pixels) also
DIR/misclassified.png and DIR/first_layer_weights.png.
Ctrl-C saves the best model so far (the epoch with the lowest validation loss,
or the current weights without a validation split) and exits with status 130.

examples:
  scratchnn train --data digits --out runs/digits
  scratchnn train --data flowers.csv --target species --hidden 64,32 --optimizer adam --lr 0.001 --out runs/f
"""

TUNE_EPILOG = """\
--grid SPEC: settings separated by ';', values by ','. Keys are TrainingConfig
names: hidden_units, activation, loss, optimizer, learning_rate, momentum,
batch_size, epochs, weight_decay, dropout, label_smoothing, schedule, patience.
Values are read as int, then float, then text; hidden_units takes 64 for one
layer or 128x64 for two. The default searches the seed's three dimensions:
  "learning_rate=0.05,0.1,0.2;batch_size=8,16,32;hidden_units=64,128,256"

Writes DIR/results.csv (one row per trial, written as each trial finishes;
status ok or diverged), DIR/tuning_heatmap.png (learning rate x hidden units,
best batch size in each cell), and the best settings trained and saved as
'train' does (model.npz, history.json, plots). After Ctrl-C, run the same
command with --resume to run only the trials not yet in results.csv.

example:
  scratchnn tune --data iris --grid "learning_rate=0.01,0.1;hidden_units=16,32" --out runs/iris-tune
"""

EVALUATE_EPILOG = """\
On the SOURCE the model was trained on, the rows held out by --test-fraction
are scored (the split is recomputed from the seed stored in the model); any
other data is scored whole. The output says which rows were used.

example:
  scratchnn evaluate --model runs/digits/model.npz --data digits
"""

PREDICT_EPILOG = """\
FILE.csv needs a header with the model's feature columns (any order); a label
column named like the one the model was trained on is ignored. Labels come out
in the names of the training data.

example:
  scratchnn predict --model runs/digits/model.npz --input rows.csv --output predictions.csv
"""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="scratchnn",
        description="Train, tune, evaluate and use small neural networks written from scratch in NumPy.",
        epilog="Run 'scratchnn COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "train",
        help="train a network on SOURCE and save it",
        description="Train a network on SOURCE and save it, its history and plots to DIR.",
        epilog=TRAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    _data_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="directory for the model, history and plots")
    _training_options(p, tune=False)
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "tune",
        help="grid-search settings on a validation split, then train the best",
        description="Grid-search training settings on a validation split of SOURCE, then train and save "
        "the best.",
        epilog=TUNE_EPILOG,
        formatter_class=_FORMATTER,
    )
    _data_options(p)
    p.add_argument(
        "--out", required=True, metavar="DIR", help="directory for results.csv, the heatmap and the model"
    )
    p.add_argument("--grid", metavar="SPEC", help="the settings to search (see below)")
    p.add_argument(
        "--jobs",
        type=_nonzero_int,
        default=1,
        metavar="N",
        help="trials run in parallel on this machine; -1 uses every core (default: %(default)s)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the trials on a Dask cluster at this scheduler address (needs dask[distributed])",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the trials already in DIR/results.csv (from an interrupted run of the same search) "
        "and run only the rest",
    )
    _training_options(p, tune=True)
    _common(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall/F1 and the confusion matrix of a saved model",
        description="Score a saved model on SOURCE: accuracy, per-class precision, recall and F1, and the "
        "confusion matrix, as text and as DIR/confusion_matrix.png.",
        epilog=EVALUATE_EPILOG,
        formatter_class=_FORMATTER,
    )
    p.add_argument("--model", required=True, metavar="PATH", help="a model.npz written by train or tune")
    _data_options(
        p,
        target_help="label column of a CSV file (default: the column the model was trained on, else the "
        "last column)",
    )
    p.add_argument(
        "--all-rows",
        action="store_true",
        help="score every row of SOURCE, not only the held-out test split of the training data",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for confusion_matrix.png (and misclassified.png for image data); default: the "
        "model's directory",
    )
    _common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="labels (or class probabilities) for the rows of a CSV file",
        description="Predict a label for each row of a CSV file of raw, unscaled features.",
        epilog=PREDICT_EPILOG,
        formatter_class=_FORMATTER,
    )
    p.add_argument("--model", required=True, metavar="PATH", help="a model.npz written by train or tune")
    p.add_argument("--input", required=True, metavar="FILE.csv", help="rows to predict, with a header")
    p.add_argument(
        "--output",
        metavar="FILE.csv",
        help="where to write the predictions as CSV (default: standard output)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability, in columns proba_<label>",
    )
    _common(p)
    p.set_defaults(func=cmd_predict)
    return parser


# -- entry point ----------------------------------------------------------------------------------

_USER_ERRORS = (UserError, ValueError, TypeError, ModelFileError, TrainingDiverged, OSError)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Interrupted:  # the command has already said what it saved
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`); nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except _USER_ERRORS as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(
            f"error: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(this is a bug; run again with --debug to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
