"""The command line the recipe examples share: ``--seed`` and ``--epochs``, checked before anything runs.

``examples/digits_best.py``, ``digits_cnn.py``, ``vowels.py`` and ``sunspots.py``
each run as ``python examples/NAME.py [--seed S] [--epochs E]``; a bad value is
a usage error (exit status 2) naming the option and the value.
"""

from __future__ import annotations

import argparse


def arguments(doc: str, *, epochs: int, seed_help: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--seed`` (default 0) and ``--epochs``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help=f"{seed_help} (default 0)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs per run (default {epochs})")
    return parser


def parse(
    parser: argparse.ArgumentParser, argv: list[str] | None, positive: tuple[str, ...] = ("epochs",)
) -> argparse.Namespace:
    """``argv`` parsed, ``--seed`` non-negative and each option in ``positive`` a positive integer."""
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    return args
