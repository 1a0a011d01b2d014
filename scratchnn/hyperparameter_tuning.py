"""Grid search: train one network per combination of settings, keep the best on validation data.

Every trial is scored on a validation split, never on the test set, so the
final test accuracy stays an honest estimate. Each trial draws its weights and
its batch order from a seed derived from the search seed and the trial's own
settings, so a trial gives the same result whether it runs first or last, in
this process or in another one: results do not depend on the number of workers.

With ``results_path``, every finished trial is written to a results table at
once, and ``resume=True`` continues an interrupted search from it, running
only the trials it lacks (see ``scratchnn.tuning.files``).

Trials run in joblib's worker processes on this machine (``n_jobs``, at most
one per core; each worker exits as soon as the process that started it is
gone, even after ``kill -9``) or, given a Dask scheduler address, on that dask.distributed
cluster. Inside every trial BLAS is limited to one thread (threadpoolctl), so
parallel workers do not fight over the cores.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .losses import TASKS
from .recipe.config import TrainingConfig
from .recipe.train import check_data, infer_task
from .tuning import files as tuning_files
from .tuning.files import METRICS, REGRESSION_METRICS
from .tuning.trials import (
    SCHEDULER_TIMEOUT,
    SchedulerError,
    available_cores,
    canonical,
    check_scheduler,
    effective_jobs,
    run_trials,
    trial_seed,
)

__all__ = [
    "DEFAULT_GRID",
    "SCHEDULER_TIMEOUT",
    "GridSearchResult",
    "SchedulerError",
    "available_cores",
    "check_grid",
    "check_scheduler",
    "effective_jobs",
    "expand_grid",
    "grid_search",
    "trial_seed",
]

#: The seed's three dimensions. Chosen on validation splits of Digits.
DEFAULT_GRID = {
    "learning_rate": [0.05, 0.1, 0.2],
    "batch_size": [8, 16, 32],
    "hidden_units": [64, 128, 256],
}


@dataclass
class GridSearchResult:
    """``best_params`` (dict), ``best_score`` (the best trial's ``metric``) and ``results``
    (one dict per combination, in grid order: the settings, then ``val_accuracy``,
    ``val_loss``, ``train_loss`` and ``status``, "ok" or "diverged"; for regression
    ``val_r2`` in place of ``val_accuracy``, as in the results table).

    ``metric`` says how the best was chosen: "val_accuracy" (highest; ties to the
    lower validation loss) for classification and multilabel, "val_loss" (lowest,
    in the standardised target's units) for regression."""

    best_params: dict
    best_score: float
    results: list[dict] = field(default_factory=list)
    metric: str = "val_accuracy"


def expand_grid(grid: dict) -> list[dict]:
    """All combinations of a grid ``{name: [values]}``, in a fixed order (last key fastest)."""
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict of setting -> list of values, got {grid!r}")
    known = TrainingConfig.field_names()
    lists = {}
    for key, values in grid.items():
        if key not in known:
            raise ValueError(f"grid has unknown key {key!r}; known keys: {known}")
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid[{key!r}] must be a list of values, got {values!r}")
        lists[key] = list(values)  # once: a generator can be read only once
        if not lists[key]:
            raise ValueError(f"grid[{key!r}] must hold at least one value, got {values!r}")
    return [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]


def check_grid(grid: dict, base: TrainingConfig) -> list[dict]:
    """All combinations of ``grid`` (see ``expand_grid``), each checked as settings over ``base``.

    The one place where every grid value is checked before any trial runs.
    """
    combos = expand_grid(grid)
    for params in combos:
        base.replace(**params)  # TrainingConfig checks each value, naming the bad one
    return combos


def _best(rows: list[dict], metric: str) -> dict | None:
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return None
    if metric == "val_loss":  # lowest validation loss; ties go to grid order
        return min(ok, key=lambda r: r["val_loss"])
    # highest accuracy; ties go to the lower validation loss, then to grid order
    return max(ok, key=lambda r: (r["val_accuracy"], -r["val_loss"]))


def _check_search(combos, base, seed, n_jobs, x_train, y_train, x_val, y_val, n_classes, input_shape):
    """The search's arguments checked, and its data checked once (``check_data``): every trial trusts it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer (-1 for all cores), got {n_jobs!r}")
    if x_val is None or y_val is None:
        raise ValueError("grid_search scores every trial on validation data: pass x_val and y_val")
    tasks = {infer_task(p.get("loss", base.loss), y_train) for p in combos}
    if len(tasks) > 1:
        raise ValueError(
            f"the grid's losses fit different tasks ({', '.join(sorted(tasks))}); search one at a time"
        )
    return check_data(
        base, x_train, y_train, x_val, y_val, n_outputs=n_classes, task=tasks.pop(), outputs_name="n_classes",
        input_shape=input_shape,
    )  # fmt: skip


def _open_record(results_path, grid, seed, base, data, resume, metrics) -> list[dict]:
    """Start (or resume) the search's record at ``results_path``; the trials an earlier run finished."""
    record = {
        "grid": {k: [tuning_files.format_value(v) for v in vs] for k, vs in grid.items()},
        "seed": int(seed),
        "base": base.to_dict(),
        "data": tuning_files.data_fingerprint(
            data.x_train, data.y_train, data.x_val, data.y_val, np.array(data.n_outputs)
        ),
    }
    if data.input_shape is not None:
        record["input_shape"] = list(data.input_shape)
    return tuning_files.open_search(results_path, grid, record, resume, metrics)


def grid_search(
    x_train,
    y_train,
    x_val,
    y_val,
    grid: dict | None = None,
    epochs: int = 5,
    seed: int = 0,
    *,
    n_jobs: int = 1,
    scheduler: str | None = None,
    base: TrainingConfig | None = None,
    n_classes: int | None = None,
    input_shape: tuple | None = None,
    callback=None,
    results_path: str | None = None,
    resume: bool = False,
    on_resume=None,
) -> GridSearchResult:
    """Try every combination of ``grid`` (default ``DEFAULT_GRID``) for ``epochs`` epochs.

    Settings not in the grid come from ``base`` (a ``TrainingConfig``, the
    defaults if None). ``input_shape`` ``(C, H, W)`` is the image each row holds,
    for ``layers`` specs that start with a convolution. ``callback(row)`` is called as each trial finishes, in
    grid order. ``results_path`` (a ``.csv`` path) gets the results table,
    rewritten as each trial finishes, and beside it a record of the search
    (``tuning_files.record_path``). ``resume=True`` keeps the finished trials of
    an earlier, interrupted run of the same search in that table and runs only
    the others; ``on_resume(n_finished, n_trials)`` is then told how many there were.
    """
    grid = DEFAULT_GRID if grid is None else grid
    base = (base or TrainingConfig()).replace(epochs=epochs)
    combos = check_grid(grid, base)
    data = _check_search(combos, base, seed, n_jobs, x_train, y_train, x_val, y_val, n_classes, input_shape)
    numeric = TASKS[data.task].numeric
    metric = "val_loss" if numeric else "val_accuracy"
    metrics = REGRESSION_METRICS if numeric else METRICS  # the results table's columns
    completed: list[dict] = []
    if results_path is not None:
        completed = _open_record(results_path, grid, seed, base, data, resume, metrics)
        if resume and on_resume is not None:
            on_resume(len(completed), len(combos))
    done = {canonical({k: r[k] for k in grid}): r for r in completed}
    todo = [p for p in combos if canonical(p) not in done]
    finished, so_far = {}, list(completed)
    for params, row in zip(todo, run_trials(todo, base, seed, data, n_jobs, scheduler)):
        finished[canonical(params)] = row
        if results_path is not None:
            so_far.append(row)
            tuning_files.write_results(results_path, grid, so_far, metrics)
        if callback is not None:
            callback(row)
    keys = [canonical(params) for params in combos]
    rows = [finished.get(k) or {**p, **{m: done[k].get(m) for m in metrics}} for k, p in zip(keys, combos)]
    if results_path is not None:
        tuning_files.write_results(results_path, grid, rows, metrics)  # grid order, as an uninterrupted run
    best = _best(rows, metric)
    best_params = {} if best is None else {k: best[k] for k in grid}
    best_score = float("nan") if best is None else best[metric]
    return GridSearchResult(best_params=best_params, best_score=best_score, results=rows, metric=metric)
