"""Training settings, each declared once, and the recipe that turns them into a trained network.

``SETTINGS`` holds one ``Setting`` per training setting: its name, default,
allowed values, help text and command-line flag. Everything else is derived
from that one declaration, as scikit-learn derives its checks from
``_parameter_constraints`` and nanoGPT its overrides from its config's fields:

* ``TrainingConfig``, a dataclass with one field per setting, checked on creation;
* the command line's training options and their help (``scratchnn.cli.options``);
* the keys a tuning grid may name, and the list of them in ``scratchnn tune --help``;
* the parameter documentation of the scikit-learn estimator (``settings_doc``).

Adding a setting is one ``Setting(...)`` line in ``SETTINGS`` (plus, if it is
new behaviour, the code in ``build`` that uses it).
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from dataclasses import dataclass

import numpy as np

from .layers.spec import build_network, parse_layers
from .network import ACTIVATIONS, LOSSES, NeuralNetwork, build_mlp
from .optimizers import OPTIMIZERS, make_optimizer
from .schedules import SCHEDULES, make_schedule
from .trainer import History, Trainer
from .validation import (
    check_features,
    check_float_in_range,
    check_labels,
    check_positive_float,
    check_positive_int,
    check_random_state,
)

__all__ = ["SETTINGS", "Setting", "TrainingConfig", "build", "fit", "settings_doc", "train"]


@dataclass(frozen=True)
class Setting:
    """One training setting, declared once.

    ``kind`` is ``int`` (a positive integer), ``float`` (a number in the
    interval ``low``..``high``; ``closed`` says which ends belong to it, as in
    scikit-learn's ``Interval``: "left", "right", "both" or "neither"), ``str``
    (one of ``choices``), ``"units"`` (hidden layer widths: an int or a
    tuple of ints) or ``"layers"`` (a layer spec, ``scratchnn.layers.spec``).
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
        if value is None and self.optional:
            return
        if self.kind == "units":
            _check_units(value, self.name)
        elif self.kind == "layers":
            parse_layers(value)  # ValueError naming the token that is wrong
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
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        if self.low == 0 and self.high == math.inf:
            return "a positive number" if self.closed == "neither" else "a number >= 0"
        right = "]" if self.closed == "both" else ")"
        return f"a number in [{self.low:g}, {self.high:g}{right}"

    def from_text(self, text: str):
        """The value of a command-line argument; ``ValueError`` saying what is allowed if it is not."""
        if self.optional and text.strip().lower() in ("none", "off"):
            return None
        if self.kind == "layers":
            self.check(text)  # its own message names the token that is wrong
            return text
        try:
            if self.kind == "units":
                parts = text.replace("x", ",").split(",")
                units = tuple(int(p) for p in parts)
                value = units[0] if len(units) == 1 else units
            elif self.kind is int:
                value = int(text)
            elif self.kind is float:
                value = float(text)
            else:
                value = text
            self.check(value)
        except (ValueError, TypeError):
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


SETTINGS: tuple[Setting, ...] = (
    Setting("hidden_units", 50, "hidden layer sizes: 128 is one layer, 128,64 (or 128x64) two",
            kind="units", flag="--hidden", metavar="UNITS"),
    Setting("layers", None, "the whole network as layers joined by '-' (see scratchnn.layers.spec), e.g. "
            "conv32k3p1-bn-relu-maxpool2-gap-dense; replaces hidden_units, activation and dropout",
            kind="layers", optional=True, metavar="SPEC"),
    Setting("activation", "relu", "activation of the hidden layers", kind=str, choices=tuple(ACTIVATIONS)),
    Setting("loss", "cross-entropy", "loss: softmax cross-entropy, or mean squared error on one-hot targets",
            kind=str, choices=tuple(LOSSES)),
    Setting("optimizer", "sgd", "sgd, momentum (SGD with momentum), adam, or adamw (Adam with decoupled "
            "weight decay), with torch.optim's conventions", kind=str, choices=tuple(OPTIMIZERS)),
    Setting("learning_rate", 0.1, "learning rate, the peak of the schedule if there is one; try 0.001 for "
            "adam and adamw", low=0, closed="neither", flag="--lr", metavar="RATE"),
    Setting("momentum", 0.9, "momentum coefficient of the momentum optimizer", low=0, high=1, metavar="BETA"),
    Setting("batch_size", 16, "rows per mini-batch; the last, shorter batch of an epoch is kept", kind=int,
            metavar="N"),
    Setting("epochs", 20, "passes over the training rows", kind=int, metavar="N"),
    Setting("weight_decay", 0.0, "weight decay (L2): added to the gradient for sgd, momentum and adam, "
            "decoupled for adamw", low=0, metavar="L2"),
    Setting("dropout", 0.0, "dropout rate after each hidden layer while training (0: no dropout)", low=0,
            high=1, metavar="RATE"),
    Setting("label_smoothing", 0.0, "label smoothing of the cross-entropy loss (as torch's)", low=0, high=1,
            closed="both", metavar="EPS"),
    Setting("schedule", "constant", "learning-rate schedule over the run: constant, step decay, cosine "
            "annealing, or linear warm-up then cosine", kind=str, choices=tuple(SCHEDULES)),
    Setting("patience", None, "early stopping: stop once the validation loss has not improved for N "
            "epochs and keep the best epoch's weights", kind=int, optional=True, metavar="N"),
    Setting("dtype", "float32", "floating-point type of the weights and the data they see", kind=str,
            choices=("float32", "float64")),
)  # end of SETTINGS  # fmt: skip

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


class _Config:
    """The methods of ``TrainingConfig``; its fields are made from ``SETTINGS`` below."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad setting."""
        for setting in SETTINGS:
            setting.check(getattr(self, setting.name))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> TrainingConfig:
        """A copy with some settings changed (unknown names raise ``ValueError``)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; known settings: {self.field_names()}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (a tuple of widths becomes a list)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def settings_doc(names=None, defaults: dict | None = None, indent: int = 4) -> str:
    """numpydoc ``Parameters`` entries for the settings ``names`` (all by default), in declaration order.

    ``defaults`` overrides the defaults shown (an estimator's own defaults).
    """
    defaults = defaults or {}
    wanted = [s for s in SETTINGS if names is None or s.name in names]
    lines = []
    for s in wanted:
        default = defaults.get(s.name, s.default)
        lines.append(f"{s.name} : {s.doc_type()}, default={default!r}")
        help_text = s.help
        if s.kind is float:
            help_text += f"; {s.describe()}"
        lines += textwrap.wrap(help_text + ".", 100, initial_indent="    ", subsequent_indent="    ")
    return textwrap.indent("\n".join(lines), " " * indent)


TrainingConfig = dataclasses.make_dataclass(
    "TrainingConfig",
    [(s.name, object, dataclasses.field(default=s.default)) for s in SETTINGS],
    bases=(_Config,),
    namespace={
        "__module__": __name__,
        "__doc__": "Everything needed to build and train an MLP, one field per entry of ``SETTINGS``.\n\n"
        "Checked on creation (``validate``): a bad value raises ``ValueError`` or ``TypeError``\n"
        "naming the setting.\n\nFields\n------\n" + settings_doc(indent=0),
    },
)


def build(
    config: TrainingConfig,
    n_features: int,
    n_classes: int,
    seed=None,
    n_train: int | None = None,
    *,
    input_shape: tuple | None = None,
):
    """``(network, trainer)`` for ``config``, with weights and shuffling drawn from ``seed``.

    ``n_train`` (the number of training rows) sizes the learning-rate schedule.
    ``input_shape`` ``(C, H, W)``: the image each row of ``n_features`` holds,
    for a ``layers`` spec that starts with a convolution.
    A caller trains with ``trainer.fit(...)`` inside its own ``try``, so that
    after Ctrl-C it still holds the trainer (its best weights, its history).
    """
    rng = check_random_state(seed)
    if config.layers is not None:
        network = _build_from_layers(config, n_features, n_classes, input_shape, rng)
    else:
        network = build_mlp(
            n_features,
            config.hidden_units,
            n_classes,
            activation=config.activation,
            loss=config.loss,
            dropout=config.dropout,
            label_smoothing=config.label_smoothing,
            seed=rng,
            dtype=np.dtype(config.dtype),
        )
    extra = {"momentum": config.momentum} if config.optimizer == "momentum" else {}
    optimizer = make_optimizer(config.optimizer, config.learning_rate, config.weight_decay, **extra)
    schedule = None
    if config.schedule != "constant":
        if n_train is None:
            raise ValueError("n_train is needed to size a learning-rate schedule")
        steps = config.epochs * math.ceil(n_train / config.batch_size)
        schedule = make_schedule(config.schedule, steps)
    trainer = Trainer(network, optimizer, batch_size=config.batch_size, seed=rng, schedule=schedule)
    return network, trainer


def _build_from_layers(config: TrainingConfig, n_features: int, n_outputs: int, input_shape, rng):
    """The network of ``config.layers``, for rows of ``n_features`` holding images of ``input_shape``."""
    if input_shape is not None and math.prod(input_shape) != n_features:
        raise ValueError(
            f"input_shape {tuple(input_shape)} holds {math.prod(input_shape)} values, "
            f"but the rows have {n_features} features"
        )
    return build_network(
        config.layers,
        n_features if input_shape is None else tuple(input_shape),
        n_outputs,
        loss=config.loss,
        label_smoothing=config.label_smoothing,
        seed=rng,
        dtype=np.dtype(config.dtype),
    )


def train(
    config: TrainingConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    n_classes: int | None = None,
    seed=None,
    verbose: bool = False,
    callback=None,
    input_shape: tuple | None = None,
) -> tuple[NeuralNetwork, History]:
    """Build a network for ``config`` and train it; return ``(network, history)``.

    ``n_classes`` defaults to ``max(y_train) + 1``. ``input_shape`` ``(C, H, W)``
    is the image each row holds, for a ``layers`` spec that starts with a convolution.
    To keep the trainer (for example to save the best weights after Ctrl-C), call ``build`` and
    ``trainer.fit`` yourself.
    """
    if not isinstance(config, _Config):
        raise TypeError(f"config must be a TrainingConfig, got {config!r}")
    # The width of x_train and the number of classes size the network built below;
    # the labels are read for them only when n_classes is not given.
    x_train = check_features(x_train, "x_train", dtype=np.dtype(config.dtype))
    if n_classes is None:
        y = check_labels(y_train, "y_train", n_samples=x_train.shape[0], x_name="x_train")
        n_classes = y.shape[1] if y.ndim == 2 else int(np.max(y)) + 1
    else:
        n_classes = check_positive_int(n_classes, "n_classes")
    network, trainer = build(
        config, x_train.shape[1], n_classes, seed=seed, n_train=x_train.shape[0], input_shape=input_shape
    )
    return network, fit(config, trainer, x_train, y_train, x_val, y_val, verbose=verbose, callback=callback)


def fit(
    config: TrainingConfig, trainer: Trainer, x_train, y_train, x_val=None, y_val=None, **kwargs
) -> History:
    """``trainer.fit`` with the epochs and patience of ``config``; ``kwargs`` go to ``Trainer.fit``.

    For callers that build the trainer themselves (to reach it on Ctrl-C) and then train as ``train`` does.
    """
    return trainer.fit(
        x_train, y_train, epochs=config.epochs, x_val=x_val, y_val=y_val, patience=config.patience, **kwargs
    )
