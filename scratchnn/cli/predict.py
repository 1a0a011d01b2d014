"""``scratchnn predict``: labels (or class probabilities) for the rows of a CSV file."""

from __future__ import annotations

import csv
import io
import os
import sys

from ..files import atomic_write
from ..losses import TASKS
from ..validation import check_features
from . import common, options, outputs, regression, tables
from .errors import UserError, from_user

HELP = "labels (or class probabilities), or numbers for a regression model, for the rows of a CSV file"
DESCRIPTION = (
    "Predict a label (or, for a regression model, a number in the target's units) for each row of a CSV "
    "file of raw, unscaled features."
)
EPILOG = """\
FILE.csv needs a header with the model's feature columns (any order); a label
column named like the one the model was trained on is ignored. Labels come out
in the names of the training data; numbers are written exactly (they read back
as the same float64). Text columns and empty cells are read as in training: a
category the training rows never had is an error unless --unknown-categories
ignore, an empty cell is an error unless the model was trained with --impute.
--output never replaces the model or FILE.csv, nor (without --force) a file
scratchnn did not write.

example:
  scratchnn predict --model runs/digits/model.npz --input rows.csv --output predictions.csv
"""


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="a model.npz written by train or tune")
    parser.add_argument("--input", required=True, metavar="FILE.csv", help="rows to predict, with a header")
    parser.add_argument(
        "--output",
        metavar="FILE.csv",
        help="where to write the predictions as CSV (default: standard output)",
    )
    parser.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability, in columns proba_<label>",
    )
    options.add_unknown_categories(parser)
    options.add_force(parser, "an existing --output file that scratchnn did not write")
    options.add_common(parser)


def run(args) -> int:
    if args.output:  # before any work: a refused --output should not cost the prediction first
        inputs = {"the --model file": args.model, "the --input file": args.input}
        outputs.check_output(args.output, "--output", inputs, force=args.force)
    network, meta, names, scaler = common.load_model(args.model)
    task, plan, target_scaler = tables.model_parts(meta)
    numeric = TASKS[task].numeric
    if args.proba and numeric:
        raise UserError("--proba gives class probabilities, but this model predicts a number")
    rows = tables.read_rows(args.input, meta, plan, network.n_features)
    x = scaler.transform(tables.features(rows, meta, plan, args.unknown_categories))
    with from_user():  # a scaled row the network's dtype cannot hold (1e39 in float32) is the user's to fix
        x = check_features(x, "the --input rows (scaled)", dtype=network.dtype, n_features=network.n_features)
    predicted = network.predict(x)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if numeric:  # numbers in the target's units, each written to read back exactly
        predicted = regression.predict(network, x, target_scaler)
        writer.writerow(["prediction"])
        writer.writerows([v] for v in regression.format_predictions(predicted))
    elif args.proba:
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
        folder = os.path.dirname(os.path.abspath(args.output))
        if outputs.read_manifest(folder) is not None:  # a run folder: the predictions are scratchnn's now
            outputs.record(folder, [os.path.basename(args.output)], "predict")
        common.say(args, f"Wrote {len(predicted)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
