"""How the speed benchmarks measure, written once for ``run.py``, ``cnn.py`` and ``rnn.py``.

The machine's load average around a run; NumPy's and PyTorch's threads held to
the same count; PyTorch's side of a training run (the loop every scratchnn
``Trainer`` run is compared with); peak resident memory, measured in a
fresh child process that prints it as one JSON line; and the targets table.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as ``/proc/loadavg`` gives them ("n/a" without it)."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def measure_and_report(run, report) -> str:
    """``report(run(), load)``, printed and returned; ``load`` is the load average at the start and end."""
    load_start = loadavg()
    results = run()
    section = report(results, f"{load_start} at the start, {loadavg()} at the end")
    print()
    print(section)
    return section


@contextlib.contextmanager
def limit_threads(n: int):
    """A context in which NumPy's BLAS (and every other pool) and PyTorch use ``n`` threads."""
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(old)


def torch_epochs(model, loss_fn, optimizer, xt, yt, batch_size: int, epochs: int, seed: int) -> float:
    """Seconds PyTorch takes for ``epochs`` epochs of ``model`` on tensors ``(xt, yt)``.

    The work scratchnn's ``Trainer`` does: a fresh permutation of the rows each
    epoch, batches of ``batch_size``, and every batch's loss read back as a
    Python number (``loss.item()``).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        x_shuf, y_shuf = xt[perm], yt[perm]
        total = 0.0
        for start in range(0, n, batch_size):
            xb, yb = x_shuf[start : start + batch_size], y_shuf[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
    return time.perf_counter() - t0


def status_mb(key: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MB.

    Read from /proc rather than ``getrusage``: Linux carries ``ru_maxrss`` over an
    ``exec``, so a child would report the peak of the parent it was forked from.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{key} not found in /proc/self/status")


def print_peak(baseline_mb: float, *data) -> None:
    """In the child, after the run: the peak, the ``baseline_mb`` before it and the data's size, as JSON."""
    peak = status_mb("VmHWM")
    dataset_mb = sum(a.nbytes for a in data) / 2**20
    print(json.dumps({"baseline_mb": baseline_mb, "peak_mb": peak, "dataset_mb": dataset_mb}))


def child_peak(args: list[str]) -> dict:
    """Run ``python *args`` (a benchmark's own memory child) and return the JSON its last line prints."""
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def targets_table(checks: list[tuple[str, str, bool]]) -> list[str]:
    """The markdown lines of the targets table a speed section ends with: target, measured, met."""
    return [
        "| target | measured | met |",
        "| --- | --- | --- |",
        *(f"| {target} | {measured} | {'yes' if ok else 'NO'} |" for target, measured, ok in checks),
    ]
