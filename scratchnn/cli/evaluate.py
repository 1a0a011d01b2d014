"""``scratchnn evaluate``: accuracy, per-class precision/recall/F1 and the confusion matrix of a model."""

from __future__ import annotations

import os
import sys

import numpy as np

from .. import data, metrics
from ..data.text import is_text_source
from ..losses import TASKS
from . import common, options, outputs, regression, sequences, text
from .errors import from_user, one_line

HELP = "accuracy, per-class precision/recall/F1 and the confusion matrix of a saved model"
DESCRIPTION = (
    "Score a saved model on SOURCE: accuracy, per-class precision, recall and F1, and the confusion "
    "matrix, as text and as DIR/confusion_matrix.png (and DIR/misclassified_evaluate.png for image data)."
)
EPILOG = """\
On the SOURCE the model was trained on, the rows held out by --test-fraction
are scored (the split is recomputed from the seed stored in the model); any
other data is scored whole. The output says which rows were used. A regression
model is scored by R2, MAE and RMSE, beside the same scores of predicting the
training mean, with DIR/predicted_vs_actual_evaluate.png and
DIR/residuals_evaluate.png. The metrics
are printed first; a plot that cannot be written (a read-only folder) is a
warning, not an error.

A language model (trained on a .txt file) is scored on the last 10% of the
text SOURCE: validation loss, perplexity and bits per character.

examples:
  scratchnn evaluate --model runs/digits/model.npz --data digits
  scratchnn evaluate --model runs/gpt/model.npz --data corpus.txt
"""


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="a model.npz written by train or tune")
    options.add_data(
        parser,
        target_help="label column of a CSV file (default: the column the model was trained on, else the "
        "last column)",
    )
    parser.add_argument(
        "--all-rows",
        action="store_true",
        help="score every row of SOURCE, not only the held-out test split of the training data",
    )
    options.add_unknown_categories(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="directory for confusion_matrix.png (and misclassified_evaluate.png for image data); "
        "default: the model's directory",
    )
    options.add_force(parser, "plots in DIR that scratchnn did not write")
    options.add_common(parser)


def _rows_to_score(args, meta: dict, ds, x, y) -> tuple[np.ndarray, str]:
    """The rows to score and the sentence that says which they are."""
    split = meta.get("split") or {}
    source = meta.get("source", {})
    same = source.get("fingerprint") == data.fingerprint(x, ds.labels)
    reordered = not same and source.get("rows_fingerprint") == common.rows_fingerprint(x, ds.labels)
    if args.all_rows:
        which = f"all {len(y)} rows of {ds.name} (--all-rows)"
        if same:
            which += ", including the rows the model was trained on"
        return np.arange(len(y)), which
    if same and split.get("test_fraction", 0) > 0:
        classes = not TASKS[meta.get("task", "classification")].numeric
        _, _, rows = data.split_indices(
            y, split["test_fraction"], split["val_fraction"], split["seed"], classes=classes
        )
        which = (
            f"the held-out test split of {ds.name}: {len(rows)} of {len(y)} rows, never used in training "
            f"(split seed {split['seed']}, test fraction {split['test_fraction']}); "
            "--all-rows scores every row"
        )
        return rows, which
    if same:
        why = "the model was trained on this data without a test split, so these include its training rows"
    elif reordered:
        why = (
            "these are the rows the model was trained on, in a different order, so its held-out split "
            "cannot be found again: these include its training rows"
        )
    else:
        why = "this data is not the data the model was trained on"
    return np.arange(len(y)), f"all {len(y)} rows of {ds.name} ({why})"


def run(args) -> int:
    from sklearn.metrics import confusion_matrix

    if is_text_source(args.data):  # a language model on the validation part of a text
        return text.evaluate(args)
    if sequences.is_sequence_source(args.data):
        return sequences.evaluate(args)
    model = common.load_predictor(args.model)
    if model.numeric:
        return regression.evaluate(args, model, _rows_to_score)
    names, meta = model.label_names, model.metadata
    with from_user():  # the data, its columns and a label the model never learned are the user's to fix
        ds = model.read_source(args.data, args.target)
        x = ds.select(meta.get("feature_names"))
        features = model.features(ds, args.unknown_categories)
        y = data.encode_with(ds.labels, names)
    rows, which = _rows_to_score(args, meta, ds, x, y)
    y_true = y[rows]
    with from_user():
        y_pred = model.predict(features[rows])
    accuracy = metrics.accuracy(y_true, y_pred)
    labels = list(range(len(names)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    if args.quiet:
        scope = "the held-out test split" if len(rows) < len(y) else "all rows"
        print(f"Accuracy: {accuracy:.4f} on {len(rows)} rows ({scope})")
    else:
        report = classification_report(y_true, y_pred, names)
        print(f"Evaluated on {which}")
        print(f"Accuracy: {accuracy:.4f} ({int(np.sum(y_pred == y_true))} of {len(rows)} rows correct)")
        print()
        print(report.rstrip())
        print()
        print("Confusion matrix (rows: true class, columns: predicted class):")
        print(_matrix_table(names, matrix))
        print()
    shape = tuple(meta["image_shape"]) if meta.get("image_shape") else None
    image = (x[rows], shape) if shape and int(np.prod(shape)) == x.shape[1] else None
    try:
        written = _write_plots(args, names, matrix, y_true, y_pred, image)
    except OSError as exc:  # the metrics above stand; only the plots are missing
        print(f"warning: could not write the plots: {one_line(exc)}; use --out DIR", file=sys.stderr)
        return 0
    common.say(args, "Wrote " + ", ".join(written))
    return 0


def _write_plots(args, names, matrix, y_true, y_pred, image) -> list[str]:
    """confusion_matrix.png (and misclassified_evaluate.png) in ``--out``, never over train's own plots."""
    from .. import plots

    out = common.plots_dir(args)
    inputs = {"the model": args.model, "the --data file": args.data if os.path.isfile(args.data) else None}
    paths = [os.path.join(out, outputs.CONFUSION_MATRIX)]
    if image is not None:
        paths.append(os.path.join(out, outputs.MISCLASSIFIED_EVALUATE))
    for path in paths:
        outputs.check_output(path, "--out", inputs, force=args.force)
    plots.confusion_matrix(matrix, names, paths[0], title=f"Confusion matrix ({len(y_true)} rows)")
    if image is not None:
        plots.misclassified_grid(image[0], y_true, y_pred, names, image[1], paths[1])
    outputs.record(out, [os.path.basename(p) for p in paths], "evaluate")
    return paths


def classification_report(y_true, y_pred, names: list[str], digits: int = 4) -> str:
    """scikit-learn's ``classification_report`` text, with every class listed and supports as counts.

    scikit-learn's own report turns the supports into floats (``63.0``) when no
    prediction is right; this one lays out the same table from
    ``precision_recall_fscore_support`` and prints each support as an integer.
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    support = [int(v) for v in s]
    total = sum(support)
    width = max(len("weighted avg"), digits, *(len(n) for n in names))
    headers = ["precision", "recall", "f1-score", "support"]
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    for name, *values in zip(names, p, r, f, support):
        text += row.format(name, *values, width=width, digits=digits)
    text += "\n"
    accuracy = metrics.accuracy(y_true, y_pred) if total else 0.0
    accuracy_row = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
    text += accuracy_row.format("accuracy", "", "", accuracy, total, width=width, digits=digits)
    weights = np.asarray(support, dtype=float)
    for average, w in (("macro avg", None), ("weighted avg", weights if total else None)):
        means = [float(np.average(v, weights=w)) for v in (p, r, f)]
        text += row.format(average, *means, total, width=width, digits=digits)
    return text


def _matrix_table(names, matrix) -> str:
    cell = max(4, *(len(str(v)) for v in matrix.ravel()), *(len(n) for n in names)) + 1
    first = max(4, *(len(n) for n in names))
    lines = [" " * first + "".join(f"{n:>{cell}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:<{first}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
