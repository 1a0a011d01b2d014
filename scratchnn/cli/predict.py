"""``scratchnn predict``: labels (or class probabilities) for the rows of a CSV file."""

from __future__ import annotations

import csv
import io
import os
import sys

from ..files import atomic_write
from . import common, options, outputs, regression, sequences
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
scratchnn did not write. A model trained on sequences predicts for an .npz
whose X is (N, T, F), with its lengths (N,) if the sequences are padded.

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
    if sequences.is_sequence_source(args.input):
        return sequences.predict(args)
    model = common.load_predictor(args.model)
    if args.proba and model.numeric:
        raise UserError("--proba gives class probabilities, but this model predicts a number")
    with from_user():  # the rows, their columns and their scaled values are the user's to fix
        x = model.inputs(model.read_rows(args.input), args.unknown_categories, "the --input rows")
    predicted = model.predict_inputs(x)
    names = model.label_names
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if model.numeric:  # numbers in the target's units, each written to read back exactly
        writer.writerow(["prediction"])
        writer.writerows([v] for v in regression.format_predictions(predicted))
    elif args.proba:
        proba = model.network.predict_proba(x)
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
