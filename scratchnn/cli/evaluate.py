"""``scratchnn evaluate``: accuracy, per-class precision/recall/F1 and the confusion matrix of a model."""

from __future__ import annotations

import os

import numpy as np

from .. import data
from . import common, options, regression, tables

HELP = "accuracy, per-class precision/recall/F1 and the confusion matrix of a saved model"
DESCRIPTION = (
    "Score a saved model on SOURCE: accuracy, per-class precision, recall and F1, and the confusion "
    "matrix, as text and as DIR/confusion_matrix.png."
)
EPILOG = """\
On the SOURCE the model was trained on, the rows held out by --test-fraction
are scored (the split is recomputed from the seed stored in the model); any
other data is scored whole. The output says which rows were used.

example:
  scratchnn evaluate --model runs/digits/model.npz --data digits
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
        help="directory for confusion_matrix.png (and misclassified.png for image data); default: the "
        "model's directory",
    )
    options.add_common(parser)


def _rows_to_score(args, meta: dict, ds, x, y) -> tuple[np.ndarray, str]:
    """The rows to score and the sentence that says which they are."""
    split = meta.get("split") or {}
    same = meta.get("source", {}).get("fingerprint") == data.fingerprint(x, ds.labels)
    if args.all_rows:
        which = f"all {len(y)} rows of {ds.name} (--all-rows)"
        if same:
            which += ", including the rows the model was trained on"
        return np.arange(len(y)), which
    if same and split.get("test_fraction", 0) > 0:
        classes = meta.get("task", "classification") != "regression"
        _, _, rows = data.split_indices(
            y, split["test_fraction"], split["val_fraction"], split["seed"], classes=classes
        )
        which = (
            f"the held-out test split of {ds.name}: {len(rows)} of {len(y)} rows, never used in training "
            f"(split seed {split['seed']}, test fraction {split['test_fraction']}); "
            "--all-rows scores every row"
        )
        return rows, which
    why = (
        "the model was trained on this data without a test split, so these include its training rows"
        if same
        else "this data is not the data the model was trained on"
    )
    return np.arange(len(y)), f"all {len(y)} rows of {ds.name} ({why})"


def run(args) -> int:
    from sklearn.metrics import classification_report, confusion_matrix

    from .. import plots

    network, meta, names, scaler = common.load_model(args.model)
    task, plan, target_scaler = tables.model_parts(meta)
    if task == "regression":
        return regression.evaluate(args, network, meta, scaler, plan, target_scaler, _rows_to_score)
    ds = tables.read_source(args, meta, plan)
    x = common.select_features(ds, meta.get("feature_names"))
    features = tables.features(ds, meta, plan, args.unknown_categories)
    y = data.encode_with(ds.labels, names)
    rows, which = _rows_to_score(args, meta, ds, x, y)
    y_true = y[rows]
    y_pred = network.predict(scaler.transform(features[rows]))
    accuracy = float(np.mean(y_pred == y_true))
    labels = list(range(len(names)))
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
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=names, digits=4, zero_division=0
    )
    print(f"Evaluated on {which}")
    print(f"Accuracy: {accuracy:.4f} ({int(np.sum(y_pred == y_true))} of {len(rows)} rows correct)")
    print()
    print(report.rstrip())
    print()
    print("Confusion matrix (rows: true class, columns: predicted class):")
    print(_matrix_table(names, matrix))
    print()
    print("Wrote " + ", ".join(written))
    return 0


def _matrix_table(names, matrix) -> str:
    cell = max(4, *(len(str(v)) for v in matrix.ravel()), *(len(n) for n in names)) + 1
    first = max(4, *(len(n) for n in names))
    lines = [" " * first + "".join(f"{n:>{cell}}" for n in names)]
    for name, row in zip(names, matrix):
        lines.append(f"{name:<{first}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
