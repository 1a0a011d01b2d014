"""``scratchnn export``: a model file as an ONNX graph, to run where scratchnn is not installed."""

from __future__ import annotations

import os

from ..serialization import load_network
from . import common, options, outputs
from .errors import UserError, from_user

HELP = "write a model as an ONNX file (for ONNX Runtime and other engines)"
DESCRIPTION = (
    "Write a model file written by train or tune as an ONNX graph, with its preprocessing: the graph takes "
    "raw feature rows and gives the predicted label and the class probabilities (a regression model: the "
    "prediction in the target's units)."
)
EPILOG = """\
The graph's inputs: 'features' (N, F), the numeric feature columns in the
model's order (float32, or --dtype); and, for a table with text columns,
'text' (N, T), those columns as strings. Outputs: 'label' (the index into
the label names, stored in the file's metadata as scratchnn.label_names) and
'probabilities'; for a regression model, 'prediction'. Opset 17 by default,
run by ONNX Runtime 1.12 and later. --out never replaces the model, nor
(without --force) a file scratchnn did not write. Needs the onnx package
(pip install 'scratchnn[export]').

example:
  scratchnn export --model runs/digits/model.npz --format onnx --out runs/digits/model.onnx
"""

FORMATS = ("onnx",)


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="PATH", help="a model.npz written by train or tune")
    parser.add_argument(
        "--format", choices=FORMATS, default="onnx", help="the file format to write (default: onnx)"
    )
    parser.add_argument("--out", required=True, metavar="FILE.onnx", help="where to write the exported model")
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="float type of the graph's input and network (default: the model's own)",
    )
    parser.add_argument(
        "--opset", type=options.positive_int, metavar="N", help="the ONNX opset (default: 17)"
    )
    options.add_force(parser, "an existing --out file that scratchnn did not write")
    options.add_common(parser)


def run(args) -> int:
    outputs.check_output(args.out, "--out", {"the --model file": args.model}, force=args.force)
    try:
        import onnx  # noqa: F401  (the optional dependency, checked before any work)
    except ImportError:
        raise UserError("--format onnx needs the onnx package: pip install 'scratchnn[export]'") from None
    from ..export import OPSET, to_onnx

    with from_user():  # a damaged model file, a layer with no ONNX mapping: one line, exit 2
        network, meta = load_network(args.model)
        to_onnx((network, meta), args.out, dtype=args.dtype, opset=args.opset or OPSET)
    folder = os.path.dirname(os.path.abspath(args.out))
    if outputs.read_manifest(folder) is not None:  # a run folder: the exported file is scratchnn's now
        outputs.record(folder, [os.path.basename(args.out)], "export")
    common.say(args, f"Wrote {args.out} (ONNX opset {args.opset or OPSET}, {network.task})")
    return 0
