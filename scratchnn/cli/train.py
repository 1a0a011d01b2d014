"""``scratchnn train``: train a network on SOURCE and save it, its history and plots."""

from __future__ import annotations

import os
import sys

import numpy as np

from ..data.text import is_text_source
from ..losses import TASKS
from ..predictor import Predictor
from ..recipe.config import TrainingConfig
from ..recipe.train import build, fit
from ..trainer import TrainingDiverged, check_early_stopping, format_epoch
from . import common, options, outputs, regression, sequences, tables, text
from .errors import Interrupted, UserError

HELP = "train a network on SOURCE and save it"
DESCRIPTION = "Train a network on SOURCE and save it, its history and plots to DIR."
EPILOG = """\
Writes DIR/model.npz (weights, scaler, label names, settings), DIR/history.json
(per epoch: loss, val_loss, val_accuracy, lr) and DIR/learning_curves.png; for
image data (a square number of features, e.g. digits' 8x8 pixels) also
DIR/misclassified.png and DIR/first_layer_weights.png; for a network with
convolutions DIR/conv_filters.png (the first convolution's filters) and
DIR/feature_maps.png (one test image's feature maps) instead of the latter.
A numeric target (--task, auto by default) is a regression: history.json has
val_r2 instead of val_accuracy, the model records the target's scaler (predict
writes numbers in the target's units), and DIR/predicted_vs_actual.png and
DIR/residuals.png replace the image plots. Text columns are one-hot encoded and
--impute fills empty cells; train says what it did to each column.
Ctrl-C saves the best model so far (the epoch with the lowest validation loss,
or the current weights without a validation split) and exits with status 130.
A SOURCE ending in .txt is text: train fits a character-level language model
(--layers gpt, nanoGPT's baby GPT, by default; charlstm, char-rnn's 2x128
LSTM) on its first 90% for --iters steps (or --epochs passes), with nanoGPT's
AdamW, clipping and warm-up-then-cosine schedule unless told otherwise, and
writes DIR/model.npz (with the vocabulary), DIR/history.json,
DIR/learning_curves.png and, for a GPT, DIR/attention.png; Ctrl-C keeps the
current weights, which generate text as they are.
A SOURCE .npz whose X is 3-D holds sequences: X (N, T, F) padded to the
longest, y (N,) a class per sequence and optionally lengths (N,), the real
steps of each (1 to T); each feature is standardised over the real steps, and
--layers (default lstm32-last-dense) reads (T, F), e.g. gru32-mean-dense or
dense32-res(ln-mha4)-mean-dense. evaluate, tune and predict read such files too.
DIR must be new or empty, or hold an earlier run that --force replaces (its
files go once the new run has finished, and after Ctrl-C only those the new run
saved are replaced; files scratchnn did not write stay).

examples:
  scratchnn train --data digits --out runs/digits
  scratchnn train --data flowers.csv --target species --hidden 64,32 --optimizer adam --lr 0.001 --out runs/f
  scratchnn train --data houses.csv --target price --impute median --out runs/houses
  scratchnn train --data digits --layers conv32k3p1-bn-relu-maxpool2-gap-dense --optimizer adamw --out runs/c
  scratchnn train --data pixels.csv --image-shape 1x28x28 --layers conv16k3-relu-maxpool2-dense --out runs/p
  scratchnn train --data corpus.txt --layers gpt --iters 2000 --out runs/gpt
  scratchnn train --data walks.npz --layers lstm32-last-dense --optimizer adam --lr 0.01 --out runs/walks
"""


def add_arguments(parser) -> None:
    options.add_data(parser)
    options.add_image_shape(parser)
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the model, history and plots"
    )
    options.add_table(parser)
    options.add_split(parser)
    options.add_training(parser.add_argument_group("network and training"))
    text.add_arguments(parser.add_argument_group("a language model on a text file (SOURCE ending in .txt)"))
    options.add_force(parser, "the earlier run in DIR")
    options.add_common(parser)


def check_patience(args, config: TrainingConfig) -> None:
    """Early stopping watches the validation split: say so before any data is read."""
    try:  # the rule is the trainer's (check_early_stopping); the message names the options
        check_early_stopping(config.patience, config.tol, has_validation=args.val_fraction > 0)
    except ValueError:
        raise UserError("--patience needs a validation split: set --val-fraction above 0") from None


def run(args) -> int:
    if is_text_source(args.data):
        return text.train(args)
    if sequences.is_sequence_source(args.data):
        return sequences.train(args)
    config = common.config_from_args(args)
    check_patience(args, config)
    ds, prep, why = tables.read_and_prepare(args)
    config = tables.config_for_task(config, prep, options.given_settings(args))
    common.check_layers([config.layers], ds, prep, config.batch_size)
    common.check_network_fits(config, prep.x.shape[1], prep.n_outputs)
    with outputs.RunFolder(args.out, "train", inputs=data_inputs(args), force=args.force) as folder:
        common.say(args, *tables.summary(args, ds, prep, why))
        fit_and_save(args, ds, prep, config, folder)
    return 0


def data_inputs(args) -> dict:
    """The files a training command reads (``--data``, unless it names a bundled dataset)."""
    return {"the --data file": args.data if os.path.isfile(args.data) else None}


def diverged_message(exc: TrainingDiverged, config: TrainingConfig) -> str:
    """What to change after ``exc``: the network when it diverged before any update (the command
    standardises the inputs and a numeric target, so their scale is not the cause), the weight decay
    when it makes each step overshoot, else the rate."""
    lr, wd = config.learning_rate, config.weight_decay
    if exc.before_update:
        what = f"the {config.layers.count('-') + 1} layers of --layers" if config.layers else "the network"
        return (
            f"training diverged in epoch {exc.epoch} (batch {exc.batch}) before any update: the untrained "
            f"network's loss is already {exc.loss}. The inputs (and a numeric target) are standardised, so "
            f"neither their scale nor the learning rate is the cause: {what} make its outputs overflow; "
            "use fewer layers, or batch normalisation (bn) after each convolution or dense layer"
        )
    if wd and lr * wd >= 1:
        return (
            f"training diverged in epoch {exc.epoch} (batch {exc.batch}): the loss became {exc.loss}; "
            f"the weight decay {wd:g} is too large for the learning rate {lr:g}: each step scales the "
            f"weights by 1 - {lr:g} x {wd:g}, so the decay alone overshoots zero; try a weight decay "
            f"below {1 / lr:g}"
        )
    return str(exc)


def fit_and_save(
    args, ds, prep, config: TrainingConfig, folder: outputs.RunFolder, extra_meta: dict | None = None
):
    """Train ``config`` on the training rows, then write the model, history and plots into ``folder``."""
    x_tr, y_tr = prep.part("train")
    x_val, y_val = prep.part("val") if len(prep.val) else (None, None)
    progress = common.Progress(args.quiet, config.epochs, "train", "epoch")

    def on_epoch(record):
        postfix = {"loss": f"{record['loss']:.4f}"}
        if "val_accuracy" in record:
            postfix["val_acc"] = f"{record['val_accuracy']:.4f}"
        progress.update(format_epoch(record, config.epochs), **postfix)

    meta = {
        **tables.metadata(args, ds, prep),
        "training": {**_recorded(config), "seed": args.seed},
        **(extra_meta or {}),
    }
    trainer = None
    try:
        shape, task = ds.input_shape, prep.task  # class labels stay a classifier, also with --loss mse
        network, trainer = build(
            config,
            x_tr.shape[1],
            prep.n_outputs,
            seed=args.seed,
            n_train=len(x_tr),
            task=task,
            input_shape=shape,
        )
        history = fit(config, trainer, x_tr, y_tr, x_val, y_val, verbose=False, callback=on_epoch)
    except KeyboardInterrupt:
        progress.close()
        _save_interrupted(trainer, meta, folder)
        raise Interrupted from None
    except TrainingDiverged as exc:
        progress.close()
        raise UserError(f"{diverged_message(exc, config)}; no model was saved") from None
    progress.close()

    meta["result"] = _result(network, prep, history)
    model_path = folder.path(outputs.MODEL_FILE)
    Predictor(network, meta).save(model_path)
    history_path = folder.path(outputs.HISTORY_FILE)
    common.write_json(history_path, _history_json(history))
    written = [model_path, history_path, *_training_plots(ds, prep, network, history, folder)]
    folder.finish()
    common.say(args, "Wrote " + ", ".join(written))
    print("\n".join(_report(network, prep, meta["result"])))
    return network


def _recorded(config: TrainingConfig) -> dict:
    """The settings a model file records: without those a ``layers`` spec replaced, which it never used."""
    from ..recipe.config import REPLACED_BY_LAYERS

    settings = config.to_dict()
    if config.layers is not None:
        for name in REPLACED_BY_LAYERS:
            settings.pop(name, None)
    return settings


def _result(network, prep, history) -> dict:
    """What the model file records about the run: epochs, the kept epoch, the held-out scores."""
    if history.best_epoch is None and history:
        history.best_epoch = history[-1]["epoch"]  # without early stopping the weights are the last epoch's
    result = {"epochs_run": len(history), "best_epoch": history.best_epoch}
    numeric = TASKS[prep.task].numeric
    if numeric:
        result.update(regression.result(network, prep))
    elif len(prep.val):
        result["val_accuracy"] = network.accuracy(*prep.part("val"))
    if len(prep.test) and not numeric:
        result["test_accuracy"] = network.accuracy(*prep.part("test"))
    return result


def _report(network, prep, result: dict) -> list[str]:
    """train's closing lines: the scores on the test rows, else the validation, else the training rows."""
    if TASKS[prep.task].numeric:
        return regression.report(network, prep)
    if "test_accuracy" in result:
        return [f"Test accuracy: {result['test_accuracy']:.4f} ({len(prep.test)} held-out rows)"]
    if "val_accuracy" in result:
        return [f"Validation accuracy: {result['val_accuracy']:.4f} ({len(prep.val)} validation rows)"]
    acc = network.accuracy(*prep.part("train"))
    return [f"Training accuracy: {acc:.4f} ({len(prep.train)} training rows; no rows were held out)"]


def _history_json(history, interrupted: bool = False) -> dict:
    return {
        "epochs": list(history),
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "interrupted": interrupted,
    }


def _training_plots(ds, prep, network, history, folder: outputs.RunFolder) -> list[str]:
    from .. import plots

    written = []
    if history:
        path = folder.path(outputs.LEARNING_CURVES)
        # the star marks the epoch whose weights were saved (early stopping keeps the lowest val loss)
        plots.learning_curves(list(history), path, kept_epoch=history.best_epoch)
        written.append(path)
    if TASKS[prep.task].numeric:
        return written + regression.training_plots(network, prep, folder)
    shape = ds.image_shape
    rows = next(r for r in (prep.test, prep.val, prep.train) if len(r))
    # the first layer with a weight matrix or filter bank: Dense W (n_features, units), Conv2D W 4-D
    weights = next((p for layer in network.layers for p in layer.params if p.ndim >= 2), None)
    if weights is not None and weights.ndim == 4:
        written += _conv_plots(ds, prep, network, weights, rows[0], folder)
    elif shape and plots.first_layer_weights(weights, shape, folder.path(outputs.FIRST_LAYER_WEIGHTS)):
        written.append(folder.path(outputs.FIRST_LAYER_WEIGHTS))
    if shape:
        pred = network.predict(prep.x[rows])
        path = folder.path(outputs.MISCLASSIFIED)
        plots.misclassified_grid(ds.x[rows], prep.y[rows], pred, prep.label_names, shape, path)
        written.append(path)
    return written


def _conv_plots(ds, prep, network, weights, row: int, folder: outputs.RunFolder) -> list[str]:
    """The first convolution's filters, and the feature maps of one held-out (else training) image."""
    from .. import plots

    filters = folder.path(outputs.CONV_FILTERS)
    plots.conv_filters(weights, filters)
    maps = folder.path(outputs.FEATURE_MAPS)
    raw = ds.x[row] if ds.x.shape[1] == prep.x.shape[1] else prep.x[row]  # one-hot columns: as seen
    image = raw.reshape(ds.input_shape).mean(axis=0) if ds.input_shape else raw.reshape(ds.image_shape)
    label = prep.label_names[prep.y[row]]
    plots.feature_maps(network, prep.x[row], image, maps, title=f"label {label}")
    return [filters, maps]


def _save_interrupted(trainer, meta: dict, folder: outputs.RunFolder) -> None:
    """After Ctrl-C: save the best weights so far (or the current ones) and the history."""
    if trainer is None:
        print("interrupted before training started; nothing was saved", file=sys.stderr)
        return
    network, history = trainer.network, trainer.history
    if trainer.restore_best():
        history.best_epoch = trainer.best_epoch  # the epoch those weights come from
        which = f"the weights of epoch {history.best_epoch}, the lowest validation loss"
    else:
        which = "the current weights"
    if not all(np.all(np.isfinite(p)) for p in network.parameters()):
        print("interrupted; the weights are not finite, so nothing was saved", file=sys.stderr)
        return
    meta = {**meta, "interrupted": True, "result": {"epochs_run": len(history)}}
    model_path = folder.path(outputs.MODEL_FILE)
    Predictor(network, meta).save(model_path)
    history_path = folder.path(outputs.HISTORY_FILE)
    common.write_json(history_path, _history_json(history, interrupted=True))
    folder.finish(complete=False)
    print(
        f"interrupted after {len(history)} finished epochs: saved {which} to {model_path} "
        f"and the history to {history_path}",
        file=sys.stderr,
    )
