"""One training setting, declared once: its name, default, allowed values, help and flag.

``scratchnn.recipe.config.SETTINGS`` lists them; this module holds what a setting can
do with a value: check it (``check``), describe what is allowed (``describe``),
read it from command-line text (``from_text``) and name its type for the docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_float_in_range, check_positive_float, check_positive_int
from .spec import parse_layers

__all__ = ["Setting"]

#: Whole networks named by one word where a layer spec is taken: the language models of
#: ``scratchnn.language_model.PRESETS`` (nanoGPT's baby GPT, char-rnn's 2x128 LSTM).
NAMED_NETWORKS = ("gpt", "charlstm")


@dataclass(frozen=True)
class Setting:
    """One training setting, declared once.

    ``kind`` is ``int`` (a positive integer), ``float`` (a number in the
    interval ``low``..``high``; ``closed`` says which ends belong to it, as in
    scikit-learn's ``Interval``: "left", "right", "both" or "neither"), ``str``
    (one of ``choices``), ``bool`` (True or False; on the command line
    true/false, yes/no or 1/0), ``"units"`` (hidden layer widths: an int or a
    tuple of ints) or ``"layers"`` (a layer spec, ``scratchnn.recipe.spec``).
    ``optional`` lets the value be None (the feature is off).
    ``flag`` and ``metavar`` name the command-line option (default:
    ``--name-with-dashes``).
    """

    name: str
    default: object
    help: str
    kind: object = float
    choices: tuple = ()
    low: float = -math.inf
    high: float = math.inf
    closed: str = "left"
    optional: bool = False
    flag: str = ""
    metavar: str | None = None

    @property
    def option(self) -> str:
        """The command-line flag, e.g. ``--batch-size``."""
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value) -> None:
        """Raise ``ValueError``/``TypeError`` naming the setting if ``value`` is not allowed."""
        if self.optional and (value is None or (self.kind is int and value == math.inf)):
            return  # off (an optional count may also be inf: no limit)
        if self.kind == "units":
            _check_units(value, self.name)
        elif self.kind == "layers":
            if value not in NAMED_NETWORKS:
                parse_layers(value)  # ValueError naming the token that is wrong
        elif self.kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{self.name} must be True or False, got {value!r}")
        elif self.kind is int:
            check_positive_int(value, self.name)
        elif self.kind is str:
            if value not in self.choices:
                if len(self.choices) == 2:
                    allowed = " or ".join(map(repr, self.choices))
                else:
                    allowed = f"one of {list(self.choices)}"
                raise ValueError(f"{self.name} must be {allowed}, got {value!r}")
        elif self.low == 0 and self.high == math.inf and self.closed == "neither":
            check_positive_float(value, self.name)
        else:
            check_float_in_range(value, self.name, self.low, self.high, high_inclusive=self.closed == "both")

    def describe(self) -> str:
        """The allowed values in words: "a positive integer", "a number in [0, 1)", ..."""
        if self.kind == "units":
            return "positive integers separated by commas, e.g. 128,64"
        if self.kind == "layers":
            return "layers joined by '-', e.g. conv32k3p1-bn-relu-maxpool2-gap-dense"
        if self.kind is int:
            return "a positive integer"
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        if self.low == 0 and self.high == math.inf:
            return "a positive number" if self.closed == "neither" else "a number >= 0"
        right = "]" if self.closed == "both" else ")"
        return f"a number in [{self.low:g}, {self.high:g}{right}"

    def parse(self, text: str):
        """The value ``text`` spells, read by this setting's kind and not yet checked (``from_text``
        checks it too): ``128x64`` or ``128,64`` for units, ``none``/``off`` for an optional
        setting's None, yes/no words for a bool. ``ValueError`` or ``KeyError`` if it spells none."""
        if self.optional and text.strip().lower() in ("none", "off"):
            return None
        if self.optional and self.kind is int and text.strip().lower() == "inf":
            return math.inf  # an optional count without limit
        if self.kind == "units":
            units = tuple(int(p) for p in text.replace("x", ",").split(","))
            return units[0] if len(units) == 1 else units
        if self.kind is bool:
            return _BOOL_WORDS[text.strip().lower()]
        if self.kind in (int, float):
            return self.kind(text)
        return text

    def from_text(self, text: str):
        """The value of a command-line argument; ``ValueError`` saying what is allowed if it is not."""
        if self.kind == "layers" and not (self.optional and text.strip().lower() in ("none", "off")):
            self.check(text)  # its own message names the token that is wrong
            return text
        try:
            value = self.parse(text)
            if value is not None:
                self.check(value)
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"must be {self.describe()}, got {text!r}") from None
        return value

    def doc_type(self) -> str:
        """The numpydoc type of the setting, e.g. ``{"sgd", "adam"}`` or ``int or None``."""
        if self.kind == "units":
            kind = "int or tuple of int"
        elif self.kind == "layers":
            kind = "str"
        elif self.kind is str:
            kind = "{" + ", ".join(f'"{c}"' for c in self.choices) + "}"
        else:
            kind = self.kind.__name__
        return kind + (" or None" if self.optional else "")


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _check_units(value, name: str) -> None:
    units = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        if isinstance(units, (str, bytes)):  # iterable, but "64" is not (6, 4)
            raise TypeError
        units = tuple(units)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None
    for u in units:
        check_positive_int(u, name)
