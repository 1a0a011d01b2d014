"""The playground's controls: its own (data, features, layers, seeds) and the training settings it shows.

A control that shows a training setting is made from that setting's entry in
``scratchnn.recipe.config.SETTINGS`` (``Control.of``): its name, kind,
allowed values, default and help are the library's, so a change there shows
here. The playground adds only what is its own: which settings it shows,
the values its menu offers and, for safety, a narrower range. The server
checks every message against ``CONTROLS`` (``check_settings``), the page
builds its controls and reads and writes its URL from the same declaration
(served as JSON by ``/api/meta``), and the downloaded script is written from
the checked values. The limits keep one tab from taking the machine: at most
``MAX_LAYERS`` hidden layers of at most ``MAX_UNITS`` neurons.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

from ..recipe.config import SETTINGS_BY_NAME, Setting
from .datasets import DATASETS, FEATURES

__all__ = ["CONTROLS", "MAX_LAYERS", "MAX_UNITS", "Control", "check_settings", "defaults", "meta"]

MAX_LAYERS = 6
MAX_UNITS = 8
MAX_SEED = 2**31 - 1

#: The control kind of each kind of training setting the playground can show.
_KINDS = {int: "int", float: "float", str: "choice", bool: "bool"}


@dataclass(frozen=True)
class Control:
    """One control of the page.

    ``kind``: "choice" (one of ``choices``), "float" or "int" (in
    ``[low, high]``; ``options`` are the values the page's menu offers),
    "bool", "features" (a non-empty subset of ``choices``) or "layers" (0 to
    ``MAX_LAYERS`` widths, each 1 to ``MAX_UNITS``). ``setting``: the training
    setting the control shows (its own check applies too), or None.
    """

    name: str
    default: object
    kind: str
    label: str
    help: str = ""
    choices: tuple = ()
    low: float = 0.0
    high: float = math.inf
    options: tuple = ()
    setting: Setting | None = None

    @classmethod
    def of(cls, name: str, *, low: float | None = None, high: float | None = None, options=()) -> Control:
        """The control of training setting ``name``, all but its menu and range taken from ``SETTINGS``.

        ``low``/``high`` narrow the setting's range (the playground's limits); they may not widen it.
        """
        setting = SETTINGS_BY_NAME[name]
        kind = _KINDS[setting.kind]
        range_ = (0.0, math.inf)  # a choice or a bool has none
        if kind in ("int", "float"):
            own_low = 1 if setting.kind is int else setting.low
            range_ = (own_low if low is None else low, setting.high if high is None else high)
            if range_[0] < own_low or range_[1] > setting.high:
                raise ValueError(f"the playground's range for {name} must lie within the setting's")
        label = name.replace("_", " ").capitalize()
        control = cls(
            name,
            setting.default,
            kind,
            label,
            setting.help,
            setting.choices,
            *range_,
            tuple(options),
            setting,
        )
        control.check(setting.default)  # the default lies within the narrowed range
        return control

    def check(self, value):
        """The value, normalised (ints as int); ``ValueError`` naming the control and the value."""
        bad = ValueError(f"{self.name} must be {self.describe()}, got {_short(value)}")
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise bad
            if self.kind == "int" and not float(value).is_integer():
                raise bad
            if not (math.isfinite(value) and self.low <= value <= self.high):
                raise bad
            value = int(value) if self.kind == "int" else float(value)
            if self.setting is not None:
                try:
                    self.setting.check(value)  # the library's rule: an open end of the interval
                except (ValueError, TypeError):
                    raise bad from None
            return value
        return self._check_list(value, bad)

    def _check_list(self, value, bad: ValueError) -> list:
        if not isinstance(value, list):
            raise bad
        if self.kind == "features":
            if not value or any(not isinstance(v, str) or v not in self.choices for v in value):
                raise bad
            if len(set(value)) != len(value):
                twice = next(v for v in value if value.count(v) > 1)
                raise ValueError(f"{self.name} must name each feature once, but {twice!r} is listed twice")
            return [c for c in self.choices if c in value]  # the page's order, once each
        if len(value) > MAX_LAYERS:
            raise bad
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_UNITS:
                raise bad
        return [int(v) for v in value]

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "features":
            return "a non-empty list of " + ", ".join(self.choices) + ", each at most once"
        if self.kind == "layers":
            return f"a list of at most {MAX_LAYERS} widths, each from 1 to {MAX_UNITS}"
        what = "an integer" if self.kind == "int" else "a number"
        ends = []  # an end of the setting's interval that it leaves out, as torch's (0, inf) for a rate
        if (
            self.setting is not None
            and self.low == self.setting.low
            and self.setting.closed in ("right", "neither")
        ):
            ends.append(f"{self.low:g}")
        if (
            self.setting is not None
            and self.high == self.setting.high
            and self.setting.closed in ("left", "neither")
        ):
            ends.append(f"{self.high:g}")
        left_out = f" ({' and '.join(ends)} excluded)" if ends else ""
        return f"{what} from {self.low:g} to {self.high:g}{left_out}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


CONTROLS: tuple[Control, ...] = (
    Control("dataset", "circle", "choice", "Data", "the 2-D data set (csv: a file you upload)",
            choices=(*DATASETS, "csv")),
    Control("noise", 0.0, "float", "Noise", "how much the classes overlap", high=0.5,
            options=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)),
    Control("train_share", 0.5, "float", "Training share", "share of the points that train; the rest test",
            low=0.1, high=0.9, options=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    Control.of("batch_size", high=500, options=(1, 2, 5, 10, 16, 20, 30, 50, 100, 250, 500)),
    Control("features", ["x1", "x2"], "features", "Features", "the inputs the network sees",
            choices=tuple(FEATURES)),
    Control("hidden", [4, 2], "layers", "Hidden layers", "neurons of each hidden layer"),
    Control.of("activation"),
    Control.of("optimizer"),
    Control.of("learning_rate", low=1e-6, high=10,
               options=(0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)),
    Control.of("weight_decay", high=1, options=(0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)),
    Control.of("dropout", high=0.9, options=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    Control("seed", 1, "int", "Seed", "seed of the initial weights, the batch order and dropout",
            high=MAX_SEED),
    Control("data_seed", 1, "int", "Data seed", "seed of the points", high=MAX_SEED),
    Control("show_test", False, "bool", "Show test data", "draw the test points on the output too"),
)  # end of CONTROLS  # fmt: skip

CONTROLS_BY_NAME = {c.name: c for c in CONTROLS}


def defaults() -> dict:
    """Every control at its default value."""
    return {c.name: (list(c.default) if isinstance(c.default, list) else c.default) for c in CONTROLS}


def check_settings(values, base: dict | None = None) -> dict:
    """``base`` (default: the defaults) updated with ``values``, each checked; unknown names are an error."""
    if not isinstance(values, dict):
        raise ValueError(f"settings must be an object of control values, got {_short(values)}")
    unknown = [k for k in values if k not in CONTROLS_BY_NAME]
    if unknown:
        raise ValueError(f"unknown setting {_short(unknown[0])}; known settings: {list(CONTROLS_BY_NAME)}")
    settings = dict(base) if base is not None else defaults()
    for name, value in values.items():
        settings[name] = CONTROLS_BY_NAME[name].check(value)
    return settings


def meta() -> dict:
    """The declaration as JSON for the page: the controls and the limits."""
    controls = []
    for c in CONTROLS:
        d = {k: v for k, v in asdict(c).items() if k != "setting"}  # the page needs no Setting object
        d["high"] = None if math.isinf(c.high) else c.high
        controls.append(d)
    return {"controls": controls, "max_layers": MAX_LAYERS, "max_units": MAX_UNITS}
