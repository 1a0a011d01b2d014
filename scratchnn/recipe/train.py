"""The recipe: training settings (a ``TrainingConfig``) and data in, a trained network out.

``check_data`` checks a run's arrays once (``trainer.check_training_data``);
``build`` makes the network, the optimizer, the schedule and the trainer of a
config; ``train`` does both and trains, standardising a numeric target
(``data.TargetScaler``); ``fit`` trains a trainer that a caller built itself (to
reach it on Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..data.scalers import TargetScaler
from ..losses import LOSSES, TASKS
from ..network import NeuralNetwork
from ..optimizers import OPTIMIZERS, make_optimizer
from ..schedules import make_schedule
from ..trainer import History, Trainer, TrainingData, check_training_data
from ..validation import check_random_state
from .build import build_mlp, build_network
from .config import TrainingConfig, _Config

__all__ = ["LBFGS_EPOCH", "TrainingData", "build", "check_data", "fit", "infer_task", "run_schedule", "train"]

#: L-BFGS as the trainer runs it: an epoch is one step of one iteration (so ``epochs`` counts
#: iterations, as scikit-learn's ``max_iter`` does for lbfgs), whose line search may take 25
#: evaluations after the one at the start (torch's default); scipy's default history of 10 pairs.
LBFGS_EPOCH = {"max_iter": 1, "max_eval": 26, "history_size": 10, "tolerance_change": 0.0}


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
            batch_size=config.batch_size,
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
        network, optimizer, batch_size=config.batch_size, seed=rng, schedule=schedule, shuffle=config.shuffle,
        clip_norm=config.clip_norm,
    )  # fmt: skip
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
    """The network of ``config.layers``, for rows of ``n_features`` holding images of ``input_shape``
    ``(C, H, W)``, or for sequences ``input_shape`` ``(T, F)`` (``n_features``: F)."""
    if input_shape is not None and len(input_shape) == 3 and math.prod(input_shape) != n_features:
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
        batch_size=config.batch_size,
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
    if isinstance(x_train, np.ndarray) and x_train.ndim == 3:  # the rows of a table, a CSV, an image set
        raise ValueError(
            f"x_train must be a 2-D array of rows (n_samples, n_features) here, got shape {x_train.shape}; "
            "sequences (N, T, F) train through Trainer.fit with their lengths"
        )
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
        if not LOSSES[config.loss].standardise_target:  # a log link (poisson) needs the raw target
            raise ValueError(
                f"loss={config.loss!r} needs the raw target, but train and grid_search standardise a "
                f"numeric target; fit scratchnn.sklearn.ScratchNNRegressor(loss={config.loss!r}) instead"
            )
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
