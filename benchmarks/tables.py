"""The command line and the provenance the table benchmarks share (``accuracy.py``, ``regression.py``).

Each scores a few methods over a few seeds and writes one markdown table:
``--seeds`` and ``--methods`` choose the rows and columns, and the section
says which command made it, when, on what machine and under what load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

import numpy as np

from benchmarks.measuring import loadavg


def seed_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: the argparse type of ``--seeds``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def arguments(doc: str, methods: dict) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--seeds`` and ``--methods`` (``methods``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seeds", type=seed_list, default=[0, 1, 2, 3, 4], help="default 0,1,2,3,4")
    parser.add_argument(
        "--methods", default=",".join(methods), help=f"comma-separated subset of {','.join(methods)}"
    )
    return parser


def chosen_methods(parser: argparse.ArgumentParser, text: str, methods: dict) -> list[str]:
    """The names in ``--methods`` ``text``, each a key of ``methods``, or a usage error."""
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    if not chosen or any(m not in methods for m in chosen):
        parser.error(f"--methods must name methods among {list(methods)}, got {text!r}")
    return chosen


def provenance(script: str, argv: list[str]) -> dict:
    """The command, the date, the machine and the load before the run (the caller adds ``load_after``)."""
    return {
        "command": " ".join([f"python {script}", *argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        "load_before": loadavg(),
    }
