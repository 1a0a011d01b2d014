"""A table as it comes, for the commands: what the target is for, and what is done to each column.

``read_and_prepare`` reads ``--data`` with ``--categorical`` and ``--impute``,
chooses the task (``--task``, see ``scratchnn.data.targets.choose_task``), and
prepares the splits, the column plan (``scratchnn.data.columns``) and, for
regression, the target scaler, all learned from the training rows. The model
file records them (``metadata``), so that ``evaluate`` and ``predict`` read new
rows the same way (``scratchnn.predictor.Predictor``).
"""

from __future__ import annotations

import numpy as np

from .. import data
from ..data import sources
from ..data.columns import ColumnPlan
from ..data.targets import TASK_OPTIONS, choose_task
from ..losses import LOSSES, TASKS, make_loss
from ..recipe.config import REGRESSION_DEFAULTS, SETTINGS_BY_NAME
from . import common
from .errors import UserError, from_user

MAX_TARGET = 1e150
"""The largest magnitude of a numeric target: its squares (the mean squared error, R2, RMSE) must stay
finite in float64, whose largest number is about 1.8e308. A larger value is refused, naming the
column, the line and the value, with the advice to rescale the column."""


def read_and_prepare(args) -> tuple[sources.Dataset, data.Prepared, str]:
    """Read ``--data``, choose the task, and prepare it with the split options: ``(ds, prep, why)``."""
    categorical = list(getattr(args, "categorical", None) or [])
    impute = getattr(args, "impute", None)
    with from_user():
        ds = sources.load_source(args.data, args.target, text=categorical, allow_missing=impute is not None)
        task, why = choose_task(
            ds.labels, getattr(args, "task", "auto"), target=ds.target, source=ds.name, lines=ds.lines
        )
    if TASKS[task].numeric:
        check_target(ds)
    columns = None
    if not ds.is_plain or impute is not None:

        def columns(train):
            plan = ColumnPlan.fit(ds, train, impute)
            # the held-out rows may hold a category the training rows lack: it is encoded as none
            held = np.setdiff1d(np.arange(ds.n_rows), train)
            return plan.transform(ds, rows=held), plan

    with from_user():
        prep = data.prepare(
            ds.x,
            ds.labels,
            test_fraction=args.test_fraction,
            val_fraction=args.val_fraction,
            seed=args.seed,
            task=task,
            columns=columns,
        )
    # checked against the features the network sees: text columns widen the rows once encoded
    common.set_image_shape(ds, getattr(args, "image_shape", None), prep.x.shape[1])
    return ds, prep, why


def check_target(ds: sources.Dataset) -> None:
    """Refuse a numeric target that no network can be fitted to: too large to square, or constant."""
    y = np.asarray(ds.labels, dtype=np.float64)
    name = f"target column {ds.target!r}" if ds.target else "the target"
    big = np.flatnonzero(np.abs(y) > MAX_TARGET)
    if len(big):
        row = int(big[0])
        raise UserError(
            f"{ds.name}: {name} holds {y[row]:g} on {ds.where(row)}, beyond the {MAX_TARGET:g} a "
            f"squared error can hold; rescale the column (divide it by a power of ten)"
        )
    if np.all(y == y[0]):
        raise UserError(
            f"{ds.name}: {name} is {y[0]:g} in every row: there is nothing to predict "
            "(a regression needs a target that varies)"
        )


def summary(args, ds: sources.Dataset, prep: data.Prepared, why: str) -> list[str]:
    """What was read and decided: rows, features and splits, the task and why, what each column became."""
    held = f", {len(prep.test)} test rows held out for evaluate" if len(prep.test) else ""
    numeric = TASKS[prep.task].numeric
    target = "a numeric target" if numeric else f"{prep.n_classes} classes"
    lines = [
        f"{ds.name}: {ds.n_rows} rows, {len(ds.feature_names)} features, {target} -> "
        f"{len(prep.train)} training, {len(prep.val)} validation{held}"
    ]
    numbers = numeric or why.endswith("numbers")
    declared = ds.name in sources.BUILTIN and not numeric  # digits' classes are named
    if getattr(args, "task", "auto") == "auto" and numbers and not declared:
        # a target of numbers could be either: say which was chosen (text labels can only be classes)
        other = next(option for option in TASK_OPTIONS[1:] if option != prep.task)
        lines.append(f"Task: {prep.task}, since {why} (--task {other} to change)")
    if prep.columns is not None:
        lines += prep.columns.describe(ds, prep.train)
    return lines


def task_default(name: str, task: str):
    """A setting's default for the task: ``REGRESSION_DEFAULTS``' for a numeric target, else ``SETTINGS``'."""
    if TASKS[task].numeric and name in REGRESSION_DEFAULTS:
        return REGRESSION_DEFAULTS[name]
    return SETTINGS_BY_NAME[name].default


def config_for_task(config, prep: data.Prepared, given: set[str] = frozenset()):
    """The training settings for the task: a numeric target takes ``REGRESSION_DEFAULTS``
    (mean squared error, Adam at 0.003, ...) for every setting not in ``given``, the ones typed."""
    if not TASKS[prep.task].numeric:
        if not _fits(config.loss, prep.task):
            fits = [name for name in LOSSES if _fits(name, prep.task)]
            kind = LOSSES[config.loss].task
            raise UserError(f"--loss {config.loss} fits {kind} targets; {prep.task} takes {', '.join(fits)}")
        return config
    with from_user():
        config = config.replace(**{k: v for k, v in REGRESSION_DEFAULTS.items() if k not in given})
    # mse, mae, huber: not poisson, whose log link needs the raw target, which the command line standardises
    numeric = [name for name, cls in LOSSES.items() if TASKS[cls.task].numeric and cls.standardise_target]
    if config.loss not in numeric:
        why = "is for classes"
        if TASKS[LOSSES[config.loss].task].numeric:
            why = "needs the raw target, but the command line standardises it (ScratchNNRegressor takes it)"
        raise UserError(f"--loss {config.loss} {why}; a numeric target takes {', '.join(numeric)}")
    return config


def _fits(loss: str, task: str) -> bool:
    """Whether ``loss`` can train a network for ``task`` (mse can fit one-hot classes)."""
    try:
        make_loss(loss, task=task)
    except ValueError:
        return False
    return True


def metadata(args, ds: sources.Dataset, prep: data.Prepared) -> dict:
    """``common.metadata`` with the task, and (when used) the column plan and the target scaler."""
    meta = common.metadata(args, ds, prep)
    meta["task"] = prep.task
    if prep.columns is not None:
        meta["columns"] = prep.columns.to_dict()
    if prep.target_scaler is not None:
        meta["target_scaler"] = prep.target_scaler.to_dict()
    return meta
