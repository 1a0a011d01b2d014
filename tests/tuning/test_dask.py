"""grid_search on a dask.distributed cluster: same rows as locally, data scattered once.

The cluster is a LocalCluster of two worker processes listening on loopback
only; its scheduler runs in this process, which lets a scheduler plugin watch
the tasks the search submits.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import dask
from dask.distributed import LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from scratchnn.data import load_digits_split
from scratchnn.hyperparameter_tuning import grid_search

GRID = {"learning_rate": [0.05, 0.2], "hidden_units": [16, 32], "batch_size": [16, 32]}


@pytest.fixture(scope="module")
def data():
    x_train, x_val, y_train, y_val = load_digits_split(test_size=0.25, seed=0)
    return x_train[:600], y_train[:600], x_val, y_val


@pytest.fixture(scope="module")
def cluster():
    # The scheduler's active memory manager (ReduceReplicas, every 2 s) drops the broadcast's extra
    # copy when no trial is waiting for it yet, so on a slow machine a trial could find the data on
    # one worker only; with it off, what the tests see is what grid_search scattered.
    amm_off = dask.config.set({"distributed.scheduler.active-memory-manager.start": False})
    with (
        amm_off,
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
    ):
        yield cluster


def search(data, **kwargs):
    return grid_search(*data, grid=GRID, epochs=2, seed=7, **kwargs)


def test_rows_on_a_dask_cluster_equal_rows_run_locally_with_one_and_two_jobs(data, cluster):
    on_cluster = search(data, scheduler=cluster.scheduler_address)
    one_job = search(data, n_jobs=1)
    two_jobs = search(data, n_jobs=2)
    assert len(on_cluster.results) == 8
    assert all(row["status"] == "ok" for row in on_cluster.results)
    # exact equality, float for float, in grid order
    assert on_cluster.results == one_job.results
    assert two_jobs.results == one_job.results
    assert on_cluster.best_params == one_job.best_params == two_jobs.best_params
    assert on_cluster.best_score == one_job.best_score


class TaskRecorder(SchedulerPlugin):
    """Notes, for each task the scheduler hands to a worker, its dependencies and its own size."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.tasks = []

    def transition(self, key, start, finish, *args, **kwargs):
        if finish != "processing":
            return
        ts = self.scheduler.tasks[key]
        self.tasks.append(
            {
                "key": key,
                "dependencies": {dep.key: dep.nbytes for dep in ts.dependencies},
                "holders": {dep.key: len(dep.who_has or ()) for dep in ts.dependencies},
                "spec_bytes": len(pickle.dumps(ts.run_spec)),
            }
        )


def test_data_is_scattered_to_the_workers_once_and_trials_carry_only_its_key(data, cluster):
    recorder = TaskRecorder(cluster.scheduler)
    cluster.scheduler.add_plugin(recorder, name="scratchnn-task-recorder")
    try:
        search(data, scheduler=cluster.scheduler_address)
    finally:
        cluster.scheduler.remove_plugin(name="scratchnn-task-recorder")

    trials = [t for t in recorder.tasks if "_run_trial_on_worker" in str(t["key"])]
    assert trials, recorder.tasks
    data_keys = {key for t in trials for key in t["dependencies"]}
    # every trial depends on the same single key: one scatter for the whole search
    assert len(data_keys) == 1
    assert all(len(t["dependencies"]) == 1 for t in trials)
    [data_key] = data_keys
    data_bytes = sum(np.asarray(a).nbytes for a in data)
    # that key holds the data, already on both workers (broadcast) when the trials start
    assert trials[0]["dependencies"][data_key] >= data_bytes
    assert all(t["holders"][data_key] == 2 for t in trials)
    # and a trial's own message is small: settings and a reference, not the arrays
    assert max(t["spec_bytes"] for t in trials) < data_bytes / 50


def test_a_scheduler_that_is_not_an_address_is_a_type_error(data):
    with pytest.raises(TypeError, match=r"scheduler must be a Dask scheduler address .* got 8786"):
        search(data, scheduler=8786)


def test_an_unreachable_scheduler_is_named_in_the_error(data):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(
            OSError, match=re.escape("could not reach the Dask scheduler at scheduler='tcp://127.0.0.1:9'")
        ):
            search(data, scheduler="tcp://127.0.0.1:9")
