"""Training settings as one plain dataclass, and the recipe that turns them into a trained network.

The grid search, the command-line tool and the scikit-learn estimator all go
through ``TrainingConfig`` and ``train``, so a setting means the same thing
everywhere and every tuning-grid key is a field name here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

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

__all__ = ["TrainingConfig", "train"]


@dataclass
class TrainingConfig:
    """Everything needed to build and train an MLP.

    ``hidden_units`` is an int (one hidden layer) or a tuple (one entry per
    layer). ``patience`` enables early stopping on the validation data.
    """

    hidden_units: int | tuple = 50
    activation: str = "relu"
    loss: str = "cross-entropy"
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    batch_size: int = 16
    epochs: int = 20
    weight_decay: float = 0.0
    dropout: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    patience: int | None = None
    dtype: str = field(default="float32")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad setting."""
        units = (
            (self.hidden_units,) if isinstance(self.hidden_units, (int, np.integer)) else self.hidden_units
        )
        try:
            if isinstance(units, (str, bytes)):  # iterable, but "64" is not (6, 4)
                raise TypeError
            units = tuple(units)
        except TypeError:
            raise TypeError(
                f"hidden_units must be an int or a sequence of ints, got {self.hidden_units!r}"
            ) from None
        for u in units:
            check_positive_int(u, "hidden_units")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        check_positive_float(self.learning_rate, "learning_rate")
        check_float_in_range(self.momentum, "momentum", 0.0, 1.0)
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.epochs, "epochs")
        check_float_in_range(self.weight_decay, "weight_decay", 0.0, math.inf)
        check_float_in_range(self.dropout, "dropout", 0.0, 1.0)
        check_float_in_range(self.label_smoothing, "label_smoothing", 0.0, 1.0)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

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
        d = dataclasses.asdict(self)
        if isinstance(d["hidden_units"], tuple):
            d["hidden_units"] = list(d["hidden_units"])
        return d


def build(config: TrainingConfig, n_features: int, n_classes: int, seed=None, n_train: int | None = None):
    """``(network, trainer)`` for ``config``, with weights and shuffling drawn from ``seed``.

    ``n_train`` (the number of training rows) sizes the learning-rate schedule.
    """
    rng = check_random_state(seed)
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
    trainer_out: list | None = None,
) -> tuple[NeuralNetwork, History]:
    """Build a network for ``config`` and train it; return ``(network, history)``.

    ``n_classes`` defaults to ``max(y_train) + 1``. ``trainer_out``, if a list,
    receives the trainer before training starts, so a caller interrupted
    mid-run (Ctrl-C) can still reach the best weights and the history so far.
    """
    # checked here, not only in fit: its width sizes the network built below
    x_train = check_features(x_train, "x_train", dtype=np.dtype(config.dtype))
    if n_classes is None:
        # checked first, so empty, NaN or string labels get a message naming y_train
        y = check_labels(y_train, "y_train", n_samples=x_train.shape[0], x_name="x_train")
        n_classes = y.shape[1] if y.ndim == 2 else int(np.max(y)) + 1
    else:
        n_classes = check_positive_int(n_classes, "n_classes")
    network, trainer = build(config, x_train.shape[1], n_classes, seed=seed, n_train=x_train.shape[0])
    if trainer_out is not None:
        trainer_out.append(trainer)
    history = trainer.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        x_val=x_val,
        y_val=y_val,
        patience=config.patience,
        verbose=verbose,
        callback=callback,
    )
    return network, history
