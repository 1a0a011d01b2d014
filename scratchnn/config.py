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

import numpy as np

from .data import TargetScaler
from .layers import ACTIVATIONS
from .layers.spec import build_network
from .losses import LOSSES, TASKS
from .network import NeuralNetwork, build_mlp
from .optimizers import OPTIMIZERS, make_optimizer
from .schedules import SCHEDULES, make_schedule
from .setting import Setting
from .trainer import History, Trainer, TrainingData, check_training_data
from .validation import check_random_state

__all__ = [
    "REGRESSION_DEFAULTS",
    "SETTINGS",
    "Setting",
    "TrainingConfig",
    "TrainingData",
    "build",
    "check_data",
    "fit",
    "infer_task",
    "settings_doc",
    "train",
]


SETTINGS: tuple[Setting, ...] = (
    Setting("hidden_units", 50, "hidden layer sizes: 128 is one layer, 128,64 (or 128x64) two",
            kind="units", flag="--hidden", metavar="UNITS"),
    Setting("layers", None, "the whole network as layers joined by '-' (see scratchnn.layers.spec), e.g. "
            "conv32k3p1-bn-relu-maxpool2-gap-dense; replaces hidden_units, activation and dropout",
            kind="layers", optional=True, metavar="SPEC"),
    Setting("activation", "relu", "activation of the hidden layers", kind=str, choices=tuple(ACTIVATIONS)),
    Setting("loss", "cross-entropy", "loss: softmax cross-entropy for classes, binary cross-entropy (bce) "
            "for multilabel 0/1 columns, or for numbers mean squared error (also on one-hot codes of class "
            "labels), huber or mean absolute error (mae)", kind=str, choices=tuple(LOSSES)),
    Setting("optimizer", "sgd", "sgd, momentum (SGD with momentum), adam, adamw (Adam with decoupled "
            "weight decay), or lbfgs (full batch: an epoch is one L-BFGS iteration with a strong-Wolfe line "
            "search over all the rows, which chooses the step, so learning_rate, schedule, batch_size and "
            "shuffle do not apply), with torch.optim's conventions", kind=str, choices=tuple(OPTIMIZERS)),
    Setting("max_fun", 15000, "lbfgs: most evaluations of the loss over all the rows in one run "
            "(scikit-learn's max_fun)", kind=int, metavar="N"),
    Setting("learning_rate", 0.1, "learning rate, the peak of the schedule if there is one; try 0.001 for "
            "adam and adamw", low=0, closed="neither", flag="--lr", metavar="RATE"),
    Setting("momentum", 0.9, "momentum coefficient of the momentum optimizer", low=0, high=1, metavar="BETA"),
    Setting("batch_size", 16, "rows per mini-batch; the last, shorter batch of an epoch is kept", kind=int,
            metavar="N"),
    Setting("epochs", 20, "passes over the training rows", kind=int, metavar="N"),
    Setting("shuffle", True, "shuffle the training rows every epoch (false: the rows in their order)",
            kind=bool, metavar="BOOL"),
    Setting("weight_decay", 0.0, "weight decay (L2): added to the gradient for sgd, momentum and adam, "
            "decoupled for adamw", low=0, metavar="L2"),
    Setting("dropout", 0.0, "dropout rate after each hidden layer while training (0: no dropout)", low=0,
            high=1, metavar="RATE"),
    Setting("label_smoothing", 0.0, "label smoothing of the cross-entropy loss (as torch's)", low=0, high=1,
            closed="both", metavar="EPS"),
    Setting("schedule", "constant", "learning-rate schedule over the run: constant, step decay, cosine "
            "annealing, linear warm-up then cosine, invscaling (lr / (t + 1) ** power_t over updates t), or "
            "adaptive (divided by 5 whenever the stopping rule sees a plateau, instead of stopping, until "
            "1e-6)", kind=str, choices=tuple(SCHEDULES)),
    Setting("power_t", 0.5, "exponent of the invscaling schedule", low=0, metavar="P"),
    Setting("patience", None, "early stopping: stop once the validation loss has not improved for N "
            "epochs and keep the best epoch's weights", kind=int, optional=True, metavar="N"),
    Setting("tol", 0.0, "early stopping and n_iter_no_change: an epoch counts as improved only if the "
            "monitored loss falls below the best by more than this (scikit-learn's tol, Keras's min_delta); "
            "lbfgs: converged once no gradient entry exceeds it (scikit-learn's)", low=0, metavar="DELTA"),
    Setting("n_iter_no_change", None, "convergence without validation data: stop once the training loss "
            "has not improved by more than tol for N epochs (scikit-learn's n_iter_no_change; inf or none: "
            "never; lbfgs stops on its own tests instead)", kind=int, optional=True, metavar="N"),
    Setting("dtype", "float32", "floating-point type of the weights and the data they see", kind=str,
            choices=("float32", "float64")),
)  # end of SETTINGS  # fmt: skip

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

#: L-BFGS as the trainer runs it: an epoch is one step of one iteration (so ``epochs`` counts
#: iterations, as scikit-learn's ``max_iter`` does for lbfgs), whose line search may take 25
#: evaluations after the one at the start (torch's default); scipy's default history of 10 pairs.
LBFGS_EPOCH = {"max_iter": 1, "max_eval": 26, "history_size": 10, "tolerance_change": 0.0}

#: The settings a numeric target trains with unless told otherwise, where they differ from
#: ``SETTINGS``' defaults (which suit classes): a linear output needs a smaller, adaptive step.
#: Chosen by ``benchmarks/regression.py``; used by ``ScratchNNRegressor`` and by the command line.
REGRESSION_DEFAULTS: dict = {
    "loss": "mse",
    "hidden_units": (256,),
    "activation": "tanh",
    "optimizer": "adam",
    "learning_rate": 0.003,
    "batch_size": 64,
    "epochs": 150,
    "weight_decay": 0.006,
    "schedule": "cosine",
    # float64: predictions that do not depend on which other rows share the batch to 1e-7
    # (scikit-learn's check_methods_subset_invariance), which float32 BLAS does not give
    "dtype": "float64",
}


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
    n_outputs: int,
    seed=None,
    n_train: int | None = None,
    task: str | None = None,
    *,
    input_shape: tuple | None = None,
):
    """``(network, trainer)`` for ``config``, with weights and shuffling drawn from ``seed``.

    ``n_outputs`` is the number of classes (classification), of 0/1 columns
    (multilabel) or of target columns (regression). ``task`` None builds for
    the loss's own task; ``task="classification"`` with a regression loss fits
    one-hot codes of class labels (``infer_task`` says which task data asks for).
    ``n_train`` (the number of training rows) sizes the learning-rate schedule.
    ``input_shape`` ``(C, H, W)``: the image each row of ``n_features`` holds,
    for a ``layers`` spec that starts with a convolution.
    A caller trains with ``fit(config, trainer, ...)`` inside its own ``try``, so
    that after Ctrl-C it still holds the trainer (its best weights, its history).
    """
    rng = check_random_state(seed)
    if config.layers is not None:
        network = _build_from_layers(config, n_features, n_outputs, input_shape, rng, task)
    else:
        network = build_mlp(
            n_features,
            config.hidden_units,
            n_outputs,
            activation=config.activation,
            loss=config.loss,
            task=task,
            dropout=config.dropout,
            label_smoothing=config.label_smoothing,
            seed=rng,
            dtype=np.dtype(config.dtype),
        )
    extra, learning_rate = {}, config.learning_rate
    if config.optimizer == "momentum":
        extra = {"momentum": config.momentum}
    elif config.optimizer == "lbfgs":
        # the line search chooses the step: the rate stays L-BFGS's natural 1, as scikit-learn's
        extra, learning_rate = {**LBFGS_EPOCH, "max_fun": config.max_fun, "tolerance_grad": config.tol}, 1.0
    optimizer = make_optimizer(config.optimizer, learning_rate, config.weight_decay, **extra)
    schedule = run_schedule(config, n_train)
    trainer = Trainer(
        network, optimizer, batch_size=config.batch_size, seed=rng, schedule=schedule, shuffle=config.shuffle
    )
    return network, trainer


def run_schedule(config: TrainingConfig, n_train: int | None):
    """The learning-rate schedule of ``config`` sized for one run on ``n_train`` rows (None: constant).

    A run has ``epochs`` times the batches of an epoch updates. A full-batch optimizer
    (lbfgs) has none: its line search chooses every step.
    """
    if config.schedule == "constant" or OPTIMIZERS[config.optimizer].full_batch:
        return None
    if n_train is None:
        raise ValueError("n_train is needed to size a learning-rate schedule")
    steps = config.epochs * math.ceil(n_train / config.batch_size)
    return make_schedule(config.schedule, steps, power_t=config.power_t)


def _build_from_layers(config: TrainingConfig, n_features: int, n_outputs: int, input_shape, rng, task=None):
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
        task=task,
        seed=rng,
        dtype=np.dtype(config.dtype),
    )


def infer_task(loss: str, y) -> str:
    """The task of training ``loss`` on targets ``y``: the loss's own, except for the seed's option
    of a regression loss on integer class labels ``(N,)``, which is classification on one-hot codes.

    Regression targets are floats: integer-valued targets meant as numbers are given as floats.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return TASKS[LOSSES[loss].task].task_for(y)


def check_data(
    config: TrainingConfig, x_train, y_train, x_val=None, y_val=None, *, n_outputs=None, task=None,
    sample_weight=None, input_shape=None, outputs_name: str = "n_outputs",
) -> TrainingData:  # fmt: skip
    """The arrays of one training run, checked once for ``config`` (``trainer.check_training_data``).

    ``task`` None: ``infer_task(config.loss, y_train)``. ``n_outputs`` None: the
    number of classes (``max(y_train) + 1``) or the width of 2-D targets.
    ``input_shape`` is kept for the build (``build`` checks it against the width).
    ``outputs_name`` is what the caller calls ``n_outputs`` (``n_classes``), for messages.
    The door of ``train`` and ``grid_search``.
    """
    if not isinstance(config, _Config):
        raise TypeError(f"config must be a TrainingConfig, got {config!r}")
    return check_training_data(
        x_train, y_train, x_val, y_val, task=infer_task(config.loss, y_train) if task is None else task,
        dtype=config.dtype, n_outputs=n_outputs, patience=config.patience, tol=config.tol,
        sample_weight=sample_weight, input_shape=input_shape, outputs_name=outputs_name,
    )  # fmt: skip


def train(
    config: TrainingConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    n_outputs: int | None = None,
    task: str | None = None,
    sample_weight=None,
    seed=None,
    verbose: bool = False,
    callback=None,
    input_shape: tuple | None = None,
) -> tuple[NeuralNetwork, History]:
    """Build a network for ``config`` and train it; return ``(network, history)``.

    ``n_outputs`` defaults to ``max(y_train) + 1``
    for class labels and to the targets' width otherwise; ``task`` to
    ``infer_task(config.loss, y_train)``. ``input_shape`` ``(C, H, W)`` is the
    image each row holds, for a ``layers`` spec that starts with a convolution.

    Regression: the target is standardised for training with a
    ``scratchnn.data.TargetScaler`` fitted on ``y_train`` (so one learning rate
    suits any units), kept as ``history.target_scaler``; the network predicts
    standardised values, and ``history.target_scaler.inverse_transform(network.predict(x))``
    is in the target's units (store ``target_scaler.to_dict()`` with the model).
    The validation loss in the history is in standardised units too; R^2 is the
    same in both. For other tasks ``history.target_scaler`` is None.

    To keep the trainer (for example to save the best weights after Ctrl-C),
    call ``build`` and ``fit`` yourself (standardising a regression target first,
    as ``data.prepare`` does for the command line).
    """
    data = check_data(
        config, x_train, y_train, x_val, y_val, n_outputs=n_outputs, task=task, sample_weight=sample_weight,
        input_shape=input_shape,
    )  # fmt: skip
    return _train(config, data, seed=seed, verbose=verbose, callback=callback)


def _train(
    config: TrainingConfig, data: TrainingData, *, seed=None, verbose=False, callback=None
) -> tuple[NeuralNetwork, History]:
    """``train`` on checked data (``check_data``): standardise a regression target, build, ``_fit``.

    Checks nothing: its callers did.
    """
    scaler = None
    if TASKS[data.task].numeric:
        dtype = np.dtype(config.dtype)
        scaler = TargetScaler.fit(data.y_train)
        y_val = None if data.y_val is None else scaler.transform(data.y_val).astype(dtype)
        data = dataclasses.replace(data, y_train=scaler.transform(data.y_train).astype(dtype), y_val=y_val)
    n, width = data.x_train.shape
    network, trainer = build(
        config, width, data.n_outputs, seed=seed, n_train=n, task=data.task, input_shape=data.input_shape
    )
    history = _fit(config, trainer, data, verbose=verbose, callback=callback)
    history.target_scaler = scaler
    return network, history


def fit(
    config: TrainingConfig, trainer: Trainer, x_train, y_train, x_val=None, y_val=None, *,
    sample_weight=None, verbose: bool = False, callback=None,
) -> History:  # fmt: skip
    """Train a built trainer (``build``) with the epochs, patience and tol of ``config``.

    For callers that build the trainer themselves (to reach it on Ctrl-C).
    The targets are trained as given: a regression target is best standardised
    first (``data.TargetScaler``, as ``train`` and ``data.prepare`` do). Checks
    the arrays against the trainer's network once.
    """
    net = trainer.network
    data = check_training_data(
        x_train, y_train, x_val, y_val, task=net.task, dtype=net.dtype, n_features=net.n_features,
        n_outputs=net.n_outputs, patience=config.patience, tol=config.tol, sample_weight=sample_weight,
    )  # fmt: skip
    return _fit(config, trainer, data, verbose=verbose, callback=callback)


def _fit(config: TrainingConfig, trainer: Trainer, data: TrainingData, *, verbose=False, callback=None):
    """``Trainer.run`` on checked data, with the epochs, patience and tol of ``config``."""
    return trainer.run(
        data,
        config.epochs,
        patience=config.patience,
        tol=config.tol,
        n_iter_no_change=config.n_iter_no_change,
        verbose=verbose,
        callback=callback,
    )
