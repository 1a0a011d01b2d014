"""The ``scratchnn`` command: train, tune, evaluate and predict on your own data.

    scratchnn train    --data SOURCE --out DIR [training options]
    scratchnn tune     --data SOURCE --out DIR [--grid SPEC] [--jobs N] [--resume]
    scratchnn evaluate --model DIR/model.npz --data SOURCE [--all-rows]
    scratchnn predict  --model DIR/model.npz --input FILE.csv [--output FILE.csv] [--proba]
    scratchnn generate --model DIR/model.npz --prompt TEXT [--tokens N] [--temperature T] [--top-k K]
    scratchnn playground [--port N] [--host ADDRESS] [--model FILE]
    scratchnn export   --model DIR/model.npz --format onnx --out FILE.onnx

SOURCE is ``digits``, ``iris``, ``wine`` or ``breast_cancer`` (bundled with
scikit-learn), a CSV file with a header row, or an ``.npz`` file with arrays
``X`` and ``y`` (see ``scratchnn.data.sources``). Everything is built from
``TrainingConfig``/``build`` and ``grid_search``; this package only reads
arguments, shows progress and writes files.

Each command is a module named in ``COMMANDS`` that defines ``HELP``,
``DESCRIPTION``, ``EPILOG``, ``add_arguments(parser)`` and ``run(args) -> int``;
adding a command is one line there.

Exit status: 0 on success; 2 for a user error (bad argument, unreadable file,
diverged training), printed as one line ``error: ...`` on stderr; 130 after
Ctrl-C (``train`` first saves the best model so far); 1 for anything
unexpected (``--debug`` shows the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from .errors import EXIT_INTERRUPTED, EXIT_USER_ERROR, USER_ERRORS, Interrupted, UserError, one_line
from .options import FORMATTER, Parser

__all__ = ["COMMANDS", "UserError", "build_parser", "command", "main"]

#: The commands, in the order ``--help`` lists them: name -> the module that implements it.
COMMANDS = {
    "train": "scratchnn.cli.train",
    "tune": "scratchnn.cli.tune",
    "evaluate": "scratchnn.cli.evaluate",
    "predict": "scratchnn.cli.predict",
    "generate": "scratchnn.cli.generate",
    "playground": "scratchnn.cli.playground",
    "export": "scratchnn.cli.export",
}


def command(name: str):
    """The module of command ``name``."""
    return importlib.import_module(COMMANDS[name])


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(
        prog="scratchnn",
        description="Train, tune, evaluate and use small neural networks written from scratch in NumPy.",
        epilog="Run 'scratchnn COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = command(name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=FORMATTER,
        )
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)  # a command without options.add_common has no --debug
    try:
        return command(args.command).run(args)
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
    except USER_ERRORS as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"error: unexpected {type(exc).__name__}: {one_line(exc)} "
            "(this is a bug; run again with --debug to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
