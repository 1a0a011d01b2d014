"""One trial of a grid search and where it runs: in this process, in worker processes, or on Dask.

``run_trial`` trains one combination of settings on checked data and scores it on
the validation rows; ``trial_seed`` gives each trial its own seed from the search's;
``run_trials`` runs the trials that are left, one at a time, on ``n_jobs`` local
worker processes (which exit with their parent), or on a Dask scheduler.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from dataclasses import fields

import numpy as np

from ..losses import TASKS
from ..recipe.config import TrainingConfig
from ..recipe.train import TrainingData, _train
from ..trainer import TrainingDiverged

__all__ = [
    "SCHEDULER_TIMEOUT",
    "SchedulerError",
    "available_cores",
    "canonical",
    "check_scheduler",
    "effective_jobs",
    "run_trial",
    "run_trials",
    "trial_seed",
]


def canonical(params: dict) -> str:
    """One trial's settings as sorted JSON: the key a trial is known by (resume, seeds)."""

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(u) for u in v]
        if isinstance(v, np.generic):
            return v.item()
        return v

    return json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True)


def trial_seed(seed: int, params: dict) -> np.random.SeedSequence:
    """The seed of one trial: the search seed mixed with a stable hash of its settings."""
    return np.random.SeedSequence([int(seed), zlib.crc32(canonical(params).encode())])


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


#: Seconds a Dask scheduler has to accept a connection and answer who it is (``check_scheduler``).
SCHEDULER_TIMEOUT = 10.0


class SchedulerError(ConnectionError):
    """No Dask scheduler answers at the address given: malformed, unreachable, or something else."""


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Raise ``SchedulerError`` unless a Dask scheduler at ``address`` answers within ``timeout`` seconds.

    It connects and asks the peer who it is (dask's ``identity`` message), all
    bounded by ``timeout``: an address that is malformed, refuses, never answers
    or answers in another protocol (a web server) fails fast with one message,
    where ``Client(address)`` could wait for good or fail inside its decoder.
    """
    import asyncio

    from distributed.comm import connect

    async def identity():
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    try:
        answer = asyncio.run(asyncio.wait_for(identity(), timeout))
    except ValueError as exc:  # dask's parsing of the address
        raise SchedulerError(
            f"{address!r} is not a Dask scheduler address such as tcp://HOST:8786 ({exc})"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"could not reach the Dask scheduler at scheduler={address!r} within {timeout:g} s "
            f"({exc or 'no answer'})"
        ) from None
    except (MemoryError, TypeError):  # dask's decoder reading a frame length out of another protocol
        answer = None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise SchedulerError(f"what answers at {address!r} is not a Dask scheduler")


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


def run_trials(todo, base, seed, data, n_jobs, scheduler):
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
    check_scheduler(scheduler)
    try:
        # not the default client: a caller's own Client stays in charge of their other dask work
        client = Client(scheduler, set_as_default=False, timeout=SCHEDULER_TIMEOUT)
    except OSError as exc:
        raise SchedulerError(
            f"could not reach the Dask scheduler at scheduler={scheduler!r}: {exc}"
        ) from None
    with client:
        # The data travels to each worker once, and trials carry only its key.
        # client.scatter puts one copy of the whole checked data, as plain tuples of
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
        plain = _in_measurable_chunks(tuple(getattr(data, f.name) for f in fields(data)))
        [data_future] = client.scatter([plain], broadcast=True, hash=False)
        with parallel_config(backend="dask", client=client):
            parallel = Parallel(return_as="generator")
            yield from parallel(delayed(_run_trial_on_worker)(p, base, seed, data_future) for p in todo)


def _in_measurable_chunks(values: tuple) -> tuple:
    """``values`` as a tuple of tuples of at most 10 items each.

    Dask sizes a tuple of more than 10 items from a random sample of 10 of them,
    so a flat tuple of the data's fields could be priced at a fraction of its bytes.
    """
    return tuple(values[i : i + 10] for i in range(0, len(values), 10))


def _run_trial_on_worker(params, base, seed, data):
    """``run_trial`` on a Dask worker; ``data`` arrives as the worker's copy of the scattered fields."""
    return run_trial(params, base, seed, TrainingData(*(value for chunk in data for value in chunk)))


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
