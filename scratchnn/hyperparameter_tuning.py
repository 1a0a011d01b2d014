"""Grid search: train one network per combination of settings, keep the best on validation data.

Every trial is scored on a validation split, never on the test set, so the
final test accuracy stays an honest estimate. Each trial draws its weights and
its batch order from a seed derived from the search seed and the trial's own
settings, so a trial gives the same result whether it runs first or last, in
this process or in another one: results do not depend on the number of workers.

With ``results_path``, every finished trial is written to a results table at
once, and ``resume=True`` continues an interrupted search from it, running
only the trials it lacks (see ``scratchnn.tuning_files``).

Trials run in joblib's worker processes on this machine (``n_jobs``, at most
one per core; each worker exits as soon as the process that started it is
gone, even after ``kill -9``) or, given a Dask scheduler address, on that dask.distributed
cluster. Inside every trial BLAS is limited to one thread (threadpoolctl), so
parallel workers do not fight over the cores.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import zlib
from dataclasses import dataclass, field, fields

import numpy as np

from . import tuning_files
from .config import TrainingConfig, TrainingData, _train, check_data, infer_task
from .losses import TASKS
from .trainer import TrainingDiverged
from .tuning_files import METRICS, REGRESSION_METRICS

__all__ = [
    "DEFAULT_GRID",
    "GridSearchResult",
    "available_cores",
    "check_grid",
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


def _canonical(params: dict) -> str:
    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(u) for u in v]
        if isinstance(v, np.generic):
            return v.item()
        return v

    return json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True)


def trial_seed(seed: int, params: dict) -> np.random.SeedSequence:
    """The seed of one trial: the search seed mixed with a stable hash of its settings."""
    return np.random.SeedSequence([int(seed), zlib.crc32(_canonical(params).encode())])


def run_trial(params: dict, base: TrainingConfig, seed: int, data) -> dict:
    """Train one combination and score it on the validation data. Returns one result row."""
    from threadpoolctl import threadpool_limits

    config = base.replace(**params)
    row = dict(params)
    key = "val_" + TASKS[data.task].metric  # val_accuracy, or val_r2 for numbers
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            # data was checked once by grid_search: the trusted path checks nothing again
            _, history = _train(config, data, seed=trial_seed(seed, params))
        except TrainingDiverged:
            row.update({key: None}, val_loss=None, train_loss=None, status="diverged")
            return row
    best = history[history.best_epoch - 1] if history.best_epoch else history[-1]
    row.update({key: best[key]}, val_loss=best["val_loss"], train_loss=best["loss"], status="ok")
    return row


def _best(rows: list[dict], metric: str) -> dict | None:
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return None
    if metric == "val_loss":  # lowest validation loss; ties go to grid order
        return min(ok, key=lambda r: r["val_loss"])
    # highest accuracy; ties go to the lower validation loss, then to grid order
    return max(ok, key=lambda r: (r["val_accuracy"], -r["val_loss"]))


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
    # The one check of the data; every trial trusts it.
    data = check_data(
        base,
        x_train,
        y_train,
        x_val,
        y_val,
        n_outputs=n_classes,
        task=tasks.pop(),
        outputs_name="n_classes",
        input_shape=input_shape,
    )
    n_classes = data.n_outputs
    numeric = TASKS[data.task].numeric
    metric = "val_loss" if numeric else "val_accuracy"
    metrics = REGRESSION_METRICS if numeric else METRICS  # the results table's columns

    completed: list[dict] = []
    if results_path is not None:
        record = {
            "grid": {k: [tuning_files.format_value(v) for v in vs] for k, vs in grid.items()},
            "seed": int(seed),
            "base": base.to_dict(),
            "data": tuning_files.data_fingerprint(
                data.x_train, data.y_train, data.x_val, data.y_val, np.array(n_classes)
            ),
        }
        if input_shape is not None:
            record["input_shape"] = list(data.input_shape)
        completed = tuning_files.open_search(results_path, grid, record, resume, metrics)
        if resume and on_resume is not None:
            on_resume(len(completed), len(combos))
    done = {_canonical({k: r[k] for k in grid}): r for r in completed}
    todo = [p for p in combos if _canonical(p) not in done]
    finished: dict[str, dict] = {}
    so_far = list(completed)
    for params, row in zip(todo, _run_all(todo, base, seed, data, n_jobs, scheduler)):
        finished[_canonical(params)] = row
        if results_path is not None:
            so_far.append(row)
            tuning_files.write_results(results_path, grid, so_far, metrics)
        if callback is not None:
            callback(row)
    rows = []
    for params in combos:
        key = _canonical(params)
        row = finished.get(key) or {**params, **{m: done[key].get(m) for m in metrics}}
        rows.append(row)
    if results_path is not None:
        tuning_files.write_results(results_path, grid, rows, metrics)  # grid order, as an uninterrupted run
    best = _best(rows, metric)
    if best is None:
        return GridSearchResult(best_params={}, best_score=float("nan"), results=rows, metric=metric)
    return GridSearchResult(
        best_params={k: best[k] for k in grid}, best_score=best[metric], results=rows, metric=metric
    )


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def effective_jobs(n_jobs: int) -> int:
    """Worker processes for ``n_jobs``: at most one per core; -1 is every core, -2 all but one (as joblib)."""
    cores = available_cores()
    return max(1, cores + 1 + n_jobs) if n_jobs < 0 else min(n_jobs, cores)


def _run_all(todo, base, seed, data, n_jobs, scheduler):
    """Yield result rows in the order of ``todo``, as they finish.

    ``n_jobs=1`` and no scheduler: one trial after another, in this process.
    ``n_jobs != 1``: ``effective_jobs(n_jobs)`` joblib worker processes of this
    machine (see ``_local_workers``). A ``scheduler`` address: the workers of
    that dask.distributed cluster, through joblib's Dask backend; ``n_jobs`` is
    then ignored, every worker thread of the cluster takes trials. Either way
    the rows do not depend on where a trial ran (see ``trial_seed``), and
    ``run_trial`` limits BLAS to one thread.
    """
    n_workers = min(effective_jobs(n_jobs), len(todo))
    if scheduler is None and n_workers <= 1:
        for params in todo:
            yield run_trial(params, base, seed, data)
        return
    if scheduler is None:
        yield from _local_workers(todo, base, seed, data, n_workers)
        return
    from joblib import Parallel, delayed, parallel_config

    if not isinstance(scheduler, str) or not scheduler:
        raise TypeError(
            f"scheduler must be a Dask scheduler address such as 'tcp://HOST:8786', got {scheduler!r}"
        )
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ImportError(
            f"scheduler={scheduler!r} needs dask.distributed: pip install '.[dask]' in the scratchnn "
            f"checkout ({exc})"
        ) from None
    try:
        # not the default client: a caller's own Client stays in charge of their other dask work
        client = Client(scheduler, set_as_default=False)
    except OSError as exc:
        raise OSError(f"could not reach the Dask scheduler at scheduler={scheduler!r}: {exc}") from None
    with client:
        # The data travels to each worker once, and trials carry only its key.
        # client.scatter puts one copy of the whole checked data, as a plain tuple of
        # its fields (x_train, y_train, x_val, y_val, ...) whose size Dask can measure,
        # on every worker (broadcast) under a single key; a worker
        # that joins later copies it from a peer on its first trial. Each trial is
        # then submitted with that Future in place of the data: joblib's Dask
        # backend leaves it alone (it only scatters arguments larger than 1 kB
        # itself, and a Future is a few bytes), and dask.distributed turns a
        # Future found in a task's arguments into a dependency on its key, handing
        # the function the worker's local copy. tests/test_dask.py checks on the
        # scheduler that every trial task depends on that one key and that each
        # task's own message is a tiny fraction of the data's size.
        plain = tuple(getattr(data, f.name) for f in fields(data))
        [data_future] = client.scatter([plain], broadcast=True, hash=False)
        with parallel_config(backend="dask", client=client):
            parallel = Parallel(return_as="generator")
            yield from parallel(delayed(_run_trial_on_worker)(p, base, seed, data_future) for p in todo)


def _run_trial_on_worker(params, base, seed, data):
    """``run_trial`` on a Dask worker; ``data`` arrives as the worker's copy of the scattered fields."""
    return run_trial(params, base, seed, TrainingData(*data))


# -- worker processes on this machine ----------------------------------------------------------

_PARENT_POLL_SECONDS = 0.5
_watched_parent: int | None = None  # in a worker: the process whose death ends this one


def _local_workers(todo, base, seed, data, n_workers):
    """Run the trials on ``n_workers`` joblib (loky) worker processes; yield rows in the order of ``todo``.

    loky keeps its workers for the next search and hands large arrays to them
    as memory maps. Each trial first makes sure its worker watches this process
    (``_exit_with_parent``): when it is gone, even by ``kill -9``, the worker
    exits within ``_PARENT_POLL_SECONDS`` instead of finishing its trial.
    """
    from joblib import Parallel, delayed

    parent = os.getpid()
    parallel = Parallel(n_jobs=n_workers, return_as="generator")
    yield from parallel(delayed(_run_watched_trial)(parent, p, base, seed, data) for p in todo)


def _run_watched_trial(parent: int, params, base, seed, data) -> dict:
    global _watched_parent
    if os.getpid() != parent and _watched_parent != parent:  # never in the parent itself
        _watched_parent = parent
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    return run_trial(params, base, seed, data)


def _exit_with_parent(parent: int) -> None:
    # A worker whose parent died is re-parented (to init or a subreaper): getppid() changes.
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)
