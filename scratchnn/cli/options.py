"""The command line's options. The training options are generated from ``scratchnn.recipe.config.SETTINGS``:
one flag and one help text per setting, never written out again here.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap

from ..data.columns import IMPUTE, UNKNOWN
from ..data.targets import TASK_OPTIONS
from ..recipe.config import REGRESSION_DEFAULTS, SETTINGS, TrainingConfig
from ..tuning.files import format_value
from .errors import EXIT_USER_ERROR


class Parser(argparse.ArgumentParser):
    """argparse, with argument errors as one line: ``error: ... (see 'scratchnn train --help')``."""

    def error(self, message: str):
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USER_ERROR)


FORMATTER = argparse.RawDescriptionHelpFormatter

SOURCE_HELP = (
    "SOURCE: digits, iris, wine, breast_cancer or diabetes (bundled with scikit-learn); a CSV file with a "
    "header row (the target in the --target column, the last column by default: labels, which may be "
    "strings, or numbers to predict; feature columns of numbers or text); or an .npz file with arrays X "
    "(rows x features) and y (labels or numbers)"
)


# -- argument types: each error names the option's value in one line ----------------


def _int_type(ok, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


positive_int = _int_type(lambda v: v >= 1, "a positive integer")
non_negative_int = _int_type(lambda v: v >= 0, "a non-negative integer")
nonzero_int = _int_type(lambda v: v != 0, "a non-zero integer (-1 for all cores)")
#: The largest seed: NumPy's and scikit-learn's seeds are 32-bit unsigned integers.
MAX_SEED = 2**32 - 1
seed_int = _int_type(lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")


def positive_float(text: str) -> float:
    """A finite number above 0 (seconds, say)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A fraction in [0, 1), for the sizes of the held-out splits."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}")
    return value


def _setting_type(setting):
    def parse(text: str):
        try:
            return setting.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = setting.name  # argparse names the type in some messages
    return parse


# -- groups of options -----------------------------------------------------------------


def add_common(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something goes wrong"
    )


def add_force(parser, what: str) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"replace {what}; never the files this command reads",
    )


def add_data(parser, required: bool = True, target_help: str | None = None) -> None:
    parser.add_argument("--data", required=required, metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument(
        "--target",
        metavar="COLUMN",
        help=target_help or "name of the label column of a CSV file (default: the last column)",
    )


def image_shape(text: str) -> tuple[int, int, int]:
    """``CxHxW`` (or ``HxW``, one channel) as ``(C, H, W)``, each a positive integer."""
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"must look like CxHxW (e.g. 1x28x28) or HxW, got {text!r}")
    return dims if len(dims) == 3 else (1, *dims)


def add_image_shape(parser) -> None:
    parser.add_argument(
        "--image-shape",
        type=image_shape,
        metavar="CxHxW",
        help="the image each row holds, channel by channel and row by row (e.g. 1x28x28 for MNIST pixels "
        "or 3x32x32), for a --layers spec that starts with a convolution; stored in the model. Built-in "
        "image sets know theirs (digits: 1x8x8)",
    )


def add_table(parser) -> None:
    """What the target is for, and what to do with text columns and empty cells (train and tune)."""
    group = parser.add_argument_group("the target and the columns")
    group.add_argument(
        "--task",
        choices=TASK_OPTIONS,
        default="auto",
        help="what to learn from the target: classes or a number; auto chooses regression when every "
        "target value is a number and they are not a handful of whole numbers, and says why "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--categorical",
        action="append",
        default=[],
        metavar="COLUMN",
        help="read COLUMN's cells as categories (one-hot encoded) even if they look like numbers; repeat "
        "for several columns (a column in which no cell is a number is categorical anyway)",
    )
    group.add_argument(
        "--impute",
        choices=list(IMPUTE),
        help="fill empty cells with the training rows' mean, median or most frequent value of their "
        "column (text columns: the most frequent category); stored with the model, which then fills "
        "empty cells when it predicts (default: empty cells are an error)",
    )


def add_unknown_categories(parser) -> None:
    """What evaluate and predict do with a category the training rows never had."""
    parser.add_argument(
        "--unknown-categories",
        choices=UNKNOWN,
        default="error",
        help="a value of a text column that the training rows never had: an error naming the row, or "
        "ignore, which encodes it as no category (default: %(default)s)",
    )


def add_split(parser, val_use: str = "") -> None:
    group = parser.add_argument_group("data split")
    group.add_argument(
        "--test-fraction",
        type=fraction,
        default=0.2,
        metavar="F",
        help="fraction of the rows held out as a test split, never trained on; 'evaluate' on the same "
        "SOURCE scores exactly these rows (default: %(default)s; 0 holds out nothing)",
    )
    group.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.2,
        metavar="F",
        help="fraction of the remaining rows kept for validation, never trained on: they give the "
        f"validation curves, the signal for --patience{val_use} (default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help="seed of the splits, the initial weights and the batch order: the same seed gives the "
        "same model (default: %(default)s)",
    )


def add_training(group, settings=SETTINGS, overrides: dict | None = None) -> None:
    """One option per setting: its flag, type, choices, default and help, all from the declaration.

    ``overrides`` maps a setting's name to argparse keywords that differ for one
    command (``tune``'s ``--epochs`` is the epochs of each trial).

    Options left out of the command line stay out of the namespace (``argparse.SUPPRESS``):
    ``config_from_args`` fills in the defaults and ``given_settings`` tells which were typed,
    so that a numeric target can take ``REGRESSION_DEFAULTS`` for the rest.
    """
    overrides = overrides or {}
    for s in settings:
        shown = default_help(s.name, s.default)
        options = {
            "dest": s.name,
            "default": argparse.SUPPRESS,
            "metavar": s.metavar,
            "help": f"{s.help} (default: {shown})",
        }
        if s.choices:
            options["choices"] = list(s.choices)
        else:
            options["type"] = _setting_type(s)
        options.update(overrides.get(s.name, {}))
        group.add_argument(s.option, **options)


def default_help(name: str, default) -> str:
    """A setting's default as help shows it, and a numeric target's where ``REGRESSION_DEFAULTS`` differs."""
    shown = _default_text(default)
    if name in REGRESSION_DEFAULTS and REGRESSION_DEFAULTS[name] != default:
        shown += f"; {_default_text(REGRESSION_DEFAULTS[name])} for a numeric target"
    return shown


def _default_text(value) -> str:
    """A default as the help shows it: ``off`` for None, else as a grid writes it (``128x64``)."""
    return "off" if value is None else format_value(value).replace("%", "%%")


def config_from_args(args, settings=SETTINGS) -> TrainingConfig:
    """The ``TrainingConfig`` of the parsed training options (each stored under its setting's name)."""
    return TrainingConfig(**{s.name: getattr(args, s.name, s.default) for s in settings})


def given_settings(args, settings=SETTINGS) -> set[str]:
    """The names of the training settings given on the command line (or by a command's own default)."""
    return {s.name for s in settings if hasattr(args, s.name)}


def grid_help(settings=SETTINGS, width: int = 78) -> str:
    """The paragraph of ``tune --help`` on ``--grid``, listing every key a grid may name."""
    keys = ", ".join(s.name for s in settings)
    text = (
        f"--grid SPEC: settings separated by ';', values by ','. Keys are TrainingConfig names: {keys}. "
        "Values are read as int, then float, then text; hidden_units takes 64 for one layer or 128x64 "
        "for two; layers takes specs such as conv16k3-relu-gap-dense (none: the MLP). The default "
        "searches the seed's three dimensions:"
    )
    return textwrap.fill(text, width, break_on_hyphens=False)
