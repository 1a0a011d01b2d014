"""Benchmark: scratchnn against PyTorch (CPU) and scikit-learn's MLPClassifier, in one run.

    make bench                              # the full run; writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick        # tiny sizes, prints the table only
    python benchmarks/run.py --only W1,W2   # some workloads, prints the table only

Workloads (the acceptance figures are float32; W1 and W2 are also run in float64):

* W1, the seed workload: Digits (1437 training rows), 64 -> 50 (ReLU) -> 10,
  softmax cross-entropy, SGD learning rate 0.1, batch 16, 20 epochs.
* W2, MNIST-sized: 60,000 x 784 synthetic rows, 784 -> 256 -> 128 -> 10 ReLU,
  SGD 0.01, batch 128, one epoch. The floor is the bare matrix products one
  epoch of this network needs (forward ``x @ W`` for the 3 layers, backward
  ``dW = x.T @ g`` for the 3 layers and ``dX = g @ W.T`` for the 2 upper ones),
  with the same shapes, into preallocated outputs, and no other work.
* W3, scaling: W2 at 15,000, 30,000 and 60,000 rows; time per row.
* W4, tuning: ``grid_search`` with ``DEFAULT_GRID`` on Digits for 5 epochs (as
  ``main.py``), and a larger grid whose trials take over a second each, with 1
  and with 2 workers; the results must be identical.
* MEM: peak resident memory of W1 and W2, each in a fresh process.
* CSV: reading a 200,000 x 50 CSV file (time and peak memory, against
  ``numpy.loadtxt``) and ``scratchnn train``/``predict`` on 100,000 columns
  (see ``benchmarks/csv_load.py``).
* W5, W6: convolutional networks (the Digits CNN, and an MNIST-sized CNN with
  its matrix-product floor and peak memory) at 1 and 2 threads, against
  PyTorch: see ``benchmarks/cnn.py``, which writes its own section.
* W7: a training step of a 1-layer LSTM against ``torch.nn.LSTM`` at 1 and 2
  threads: see ``benchmarks/rnn.py``, which writes its own section.
* W8: a training step of nanoGPT's baby GPT against the same model in plain
  PyTorch at 1 and 2 threads, with the step's bare matrix products as the
  floor: see ``benchmarks/gpt.py``, which writes its own section. (The whole
  2000-step run in both, from the same weights on the same batches, is
  ``benchmarks/gpt_curve.py``: minutes, so not part of this run.)

Every implementation does the same work: the same architecture, batch size and
number of updates, a fresh permutation of the training set each epoch, and the
mean loss of every batch read back as a Python number. Only training is timed
(building the model and the data is not). Each measurement is repeated after a
warm-up round, the implementations taking turns so that a change in the
machine's load hits all of them alike; the table gives the median, min and max
and the ratio of scratchnn's median to each peer's.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import cnn, csv_load, gpt, measuring, rnn  # noqa: E402
from benchmarks.sections import replace_section  # noqa: E402
from scratchnn import SGD, Trainer, build_mlp  # noqa: E402
from scratchnn.hyperparameter_tuning import DEFAULT_GRID, grid_search  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"
W2_HIDDEN = (256, 128)
W1_HIDDEN = (50,)


@dataclass
class Sizes:
    """How big each workload is; ``--quick`` shrinks everything so the script runs in seconds."""

    w1_epochs: int = 20
    w2_rows: int = 60_000
    w3_rows: tuple = (15_000, 30_000, 60_000)
    w4_large_rows: int = 12_000
    w4_large_epochs: int = 4
    repeats: int = 5
    w1_repeats: int = 7
    dtypes: tuple = ("float32", "float64")
    notes: list = field(default_factory=list)


QUICK = Sizes(
    w1_epochs=1,
    w2_rows=1024,
    w3_rows=(256, 512, 1024),
    w4_large_rows=512,
    w4_large_epochs=1,
    repeats=1,
    w1_repeats=1,
)


# -- data -----------------------------------------------------------------------------------------
def digits():
    """Digits as in ``main.py``'s final training: 1437 training rows, float32 in [0, 1]."""
    from scratchnn.data import load_digits_split

    x_train, _, y_train, _ = load_digits_split(test_size=0.2, seed=42)
    return x_train, y_train


def synthetic(n: int, dtype="float32", seed: int = 0):
    """MNIST-sized data: ``n`` rows of 784 uniform pixels, labels from a fixed random linear map.

    The labels are learnable (the arg-max of 10 random projections), so the
    loss goes down as in real training. Made in chunks, so the only large array
    ever held is ``x`` itself (this matters for the memory measurement).
    """
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32).astype(dtype, copy=False)
    proj = rng.standard_normal((784, 10)).astype(np.float32)
    y = np.empty(n, dtype=np.int64)
    for s in range(0, n, 4096):
        y[s : s + 4096] = np.argmax((x[s : s + 4096] - 0.5) @ proj, axis=1)
    return x, y


# -- the three implementations of one training run -----------------------------------------------
def run_scratchnn(x, y, hidden, lr, batch_size, epochs, seed=0) -> float:
    rng = np.random.default_rng(seed)
    net = build_mlp(x.shape[1], hidden, 10, seed=rng, dtype=x.dtype)
    trainer = Trainer(net, SGD(learning_rate=lr), batch_size=batch_size, seed=rng)
    t0 = time.perf_counter()
    trainer.fit(x, y, epochs=epochs, verbose=False)
    return time.perf_counter() - t0


def run_torch(x, y, hidden, lr, batch_size, epochs, seed=0) -> float:
    import torch

    torch.manual_seed(seed)
    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    layers, width = [], x.shape[1]
    for units in hidden:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10)).to(dtype)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return measuring.torch_epochs(model, loss_fn, optimizer, xt, yt, batch_size, epochs, seed)


def run_sklearn(x, y, hidden, lr, batch_size, epochs, seed=0) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=lr,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,  # no L2 penalty: scratchnn's SGD has none here
        batch_size=batch_size,
        max_iter=epochs,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=epochs + 1,  # never stop early: run every epoch
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(x, y)
        elapsed = time.perf_counter() - t0
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"MLPClassifier ran {clf.n_iter_} epochs instead of {epochs}")
    return elapsed


def run_floor(x, y, hidden, lr, batch_size, epochs, seed=0) -> float:
    """The bare matrix products of ``epochs`` epochs of the MLP, same shapes, nothing else."""
    rng = np.random.default_rng(seed)
    widths = (x.shape[1], *hidden, 10)
    dt = x.dtype
    weights = [
        (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(dt) for a, b in itertools.pairwise(widths)
    ]
    dweights = [np.empty_like(w) for w in weights]
    acts = [np.empty((batch_size, w), dt) for w in widths[1:]]  # layer outputs
    grads = [rng.standard_normal((batch_size, w)).astype(dt) * 0.01 for w in widths[1:]]  # dL/d(outputs)
    n, k = x.shape[0], len(weights)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size]
            m = xb.shape[0]
            ins = [xb] + [a[:m] for a in acts[:-1]]
            for i in range(k):
                np.matmul(ins[i], weights[i], out=acts[i][:m])
            for i in range(k - 1, -1, -1):
                np.matmul(ins[i].T, grads[i][:m], out=dweights[i])
                if i > 0:
                    np.matmul(grads[i][:m], weights[i].T, out=grads[i - 1][:m])
    return time.perf_counter() - t0


IMPLS = {"scratchnn": run_scratchnn, "torch": run_torch, "sklearn": run_sklearn, "matmul floor": run_floor}


# -- measuring --------------------------------------------------------------------------------------
@dataclass
class Timing:
    workload: str
    dtype: str
    impl: str
    times: list

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def measure(workload, dtype, impls, repeats, args_fn) -> dict[str, Timing]:
    """Time each implementation ``repeats`` times after one warm-up, taking turns."""
    timings = {name: Timing(workload, dtype, name, []) for name in impls}
    for round_ in range(repeats + 1):
        for name in impls:
            elapsed = IMPLS[name](*args_fn())
            if round_ > 0:  # round 0 is the warm-up
                timings[name].times.append(elapsed)
    for t in timings.values():
        print(f"  {t.workload:4s} {t.dtype:8s} {t.impl:13s} median {t.median:8.4f} s", flush=True)
    return timings


def bench_w1(sizes: Sizes, dtype: str):
    x, y = digits()
    x = x.astype(dtype)
    return measure(
        "W1",
        dtype,
        ["scratchnn", "torch", "sklearn"],
        sizes.w1_repeats,
        lambda: (x, y, W1_HIDDEN, 0.1, 16, sizes.w1_epochs),
    )


def bench_w2(sizes: Sizes, dtype: str):
    x, y = synthetic(sizes.w2_rows, dtype)
    return measure(
        "W2",
        dtype,
        ["scratchnn", "torch", "sklearn", "matmul floor"],
        sizes.repeats,
        lambda: (x, y, W2_HIDDEN, 0.01, 128, 1),
    )


def bench_w3(sizes: Sizes):
    x, y = synthetic(max(sizes.w3_rows), "float32")
    per_row = {}
    timings = {n: Timing(f"W3 {n}", "float32", "scratchnn", []) for n in sizes.w3_rows}
    for round_ in range(sizes.repeats + 1):
        for n in sizes.w3_rows:
            elapsed = run_scratchnn(x[:n], y[:n], W2_HIDDEN, 0.01, 128, 1)
            if round_ > 0:
                timings[n].times.append(elapsed)
    for n, t in timings.items():
        per_row[n] = t.median / n
        print(f"  W3   {n:>6} rows  median {t.median:8.4f} s  {per_row[n] * 1e6:7.3f} us/row", flush=True)
    return timings, per_row


def _default_grid_search(n_jobs: int, quick: bool):
    from scratchnn.data import load_digits_split, train_val_split

    x_train, _, y_train, _ = load_digits_split(test_size=0.2, seed=42)
    x_fit, x_val, y_fit, y_val = train_val_split(x_train, y_train, val_size=0.2, seed=42)
    grid = {k: v[:1] for k, v in DEFAULT_GRID.items()} if quick else DEFAULT_GRID
    t0 = time.perf_counter()
    result = grid_search(
        x_fit, y_fit, x_val, y_val, grid=grid, epochs=1 if quick else 5, seed=42, n_jobs=n_jobs
    )
    return time.perf_counter() - t0, result.results


# Trials of over a second each, most of it in BLAS (one thread per worker): what a real search
# on MNIST-sized data spends its time on.
LARGE_GRID = {"learning_rate": [0.05, 0.1], "batch_size": [128, 256], "hidden_units": [(512, 256)]}


def _large_grid_search(n_jobs: int, sizes: Sizes):
    x, y = synthetic(sizes.w4_large_rows + sizes.w4_large_rows // 5, "float32", seed=1)
    n = sizes.w4_large_rows
    t0 = time.perf_counter()
    result = grid_search(
        x[:n], y[:n], x[n:], y[n:], grid=LARGE_GRID, epochs=sizes.w4_large_epochs, seed=0, n_jobs=n_jobs
    )
    return time.perf_counter() - t0, result.results


def bench_w4(sizes: Sizes, quick: bool):
    rows = {}
    searches = {
        "default grid (main.py)": (lambda j: _default_grid_search(j, quick), 27 if not quick else 1),
        "larger grid": (lambda j: _large_grid_search(j, sizes), 4),
    }
    for label, (search, n_trials) in searches.items():
        timings = {j: Timing("W4", "float32", f"{j} worker(s)", []) for j in (1, 2)}
        reference, identical = None, True
        for round_ in range(sizes.repeats + 1):
            for j in (1, 2):
                elapsed, results = search(j)
                if reference is None:
                    reference = results
                identical &= results == reference
                if round_ > 0:
                    timings[j].times.append(elapsed)
        t1, t2 = timings[1].median, timings[2].median
        rows[label] = dict(
            trials=n_trials, one=timings[1], two=timings[2], ratio=t2 / t1, identical=identical
        )
        print(
            f"  W4   {label}: 1 worker {t1:.3f} s, 2 workers {t2:.3f} s, ratio {t2 / t1:.2f}, "
            f"per trial (1 worker) {t1 / n_trials:.2f} s, identical results: {identical}",
            flush=True,
        )
    return rows


# -- peak memory, each workload in a fresh process ----------------------------------------------------
def memory_child(spec: str) -> None:
    """Run one training in this process and print its peak RSS as JSON (``--memory-child``)."""
    workload, impl, dtype, size = spec.split(":")
    # what the run imports comes before the baseline: the peak minus the baseline is the training's own
    if impl == "torch":
        import torch  # noqa: F401
    if workload == "W1":
        import sklearn.datasets  # noqa: F401  (Digits comes from scikit-learn)
    baseline = measuring.status_mb("VmRSS")
    if workload == "W1":
        x, y = digits()
        x = x.astype(dtype)
        args = (x, y, W1_HIDDEN, 0.1, 16, int(size))
    else:
        x, y = synthetic(int(size), dtype)
        args = (x, y, W2_HIDDEN, 0.01, 128, 1)
    IMPLS[impl](*args)
    measuring.print_peak(baseline, x, y)


def bench_memory(sizes: Sizes):
    rows = []
    specs = [("W1", "scratchnn"), ("W1", "torch"), ("W2", "scratchnn"), ("W2", "torch")]
    for workload, impl in specs:
        size = sizes.w1_epochs if workload == "W1" else sizes.w2_rows  # epochs for W1, rows for W2
        spec = f"{workload}:{impl}:float32:{size}"
        record = measuring.child_peak([__file__, "--memory-child", spec])
        record.update(workload=workload, impl=impl)
        rows.append(record)
        print(
            f"  MEM  {workload} {impl:9s} peak {record['peak_mb']:7.1f} MB "
            f"(after imports {record['baseline_mb']:.1f} MB, dataset {record['dataset_mb']:.1f} MB)",
            flush=True,
        )
    return rows


# -- the machine ------------------------------------------------------------------------------------------
def machine() -> dict:
    import sklearn
    import threadpoolctl
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def describe(pool: dict) -> str:
        kernel = f", kernel {pool['architecture']}" if pool.get("architecture") else ""
        name = f"{pool.get('internal_api')} {pool.get('version') or ''}".strip()
        return f"{name}{kernel}, {pool.get('num_threads')} threads ({Path(pool.get('filepath', '')).name})"

    pools = threadpoolctl.threadpool_info()
    # NumPy's own BLAS (the one scratchnn runs on) lives in numpy's folder; the others
    # are the BLAS and OpenMP runtimes that SciPy/scikit-learn and PyTorch bring
    ours = [p for p in pools if p.get("user_api") == "blas" and "numpy" in p.get("filepath", "")]
    return {
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": [describe(p) for p in ours],
        "other_pools": [describe(p) for p in pools if p not in ours],
        "torch": f"{torch.__version__} ({torch.get_num_threads()} threads)",
        "sklearn": sklearn.__version__,
        "openblas_env": {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


# -- the report ---------------------------------------------------------------------------------------------
def fmt(seconds: float) -> str:
    return f"{seconds:.4f}" if seconds < 10 else f"{seconds:.2f}"


def spread(t: Timing) -> str:
    return f"{fmt(t.median)} ({fmt(min(t.times))}-{fmt(max(t.times))})"


def report(results: dict, info: dict, sizes: Sizes, quick: bool, argv: list[str], elapsed: float) -> str:
    lines = ["## Speed", ""]
    lines.append(
        f"Measured {info['date']} with `{' '.join(['python benchmarks/run.py', *argv])}`"
        + f" in {elapsed / 60:.1f} minutes{' (QUICK: tiny sizes, figures meaningless)' if quick else ''}."
    )
    lines += [
        "",
        f"- CPU: {info['cpu']}, {info['cores']}",
        f"- {info['os']}, Python {info['python']}, NumPy {info['numpy']}, "
        f"PyTorch {info['torch']}, scikit-learn {info['sklearn']}",
    ]
    lines += [f"- NumPy's BLAS (scratchnn's): {b}" for b in info["blas"]]
    lines += [f"- Also loaded, by the peers: {', '.join(info['other_pools'])}"] if info["other_pools"] else []
    env = ", ".join(f"{k}={v}" for k, v in info["openblas_env"].items())
    lines.append(f"- Environment: {env}")
    lines.append(
        f"- Load average (1, 5, 15 min): {info['load_start']} at the start, {info['load_end']} at the end"
    )
    lines.append("")

    timings = [t for key in ("W1", "W2") for block in results.get(key, {}).values() for t in block.values()]
    if timings:
        lines += [
            f"Training time in seconds, median of {sizes.repeats} runs ({sizes.w1_repeats} for W1) "
            "after a warm-up; the last column is scratchnn's median divided by the row's.",
            "",
            "| workload | dtype | implementation | median s | min s | max s | scratchnn / this |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for key in ("W1", "W2"):
            for dtype, block in results.get(key, {}).items():
                ours = block["scratchnn"].median
                for t in block.values():
                    lines.append(
                        f"| {key} | {dtype} | {t.impl} | {fmt(t.median)} | {fmt(min(t.times))} | "
                        f"{fmt(max(t.times))} | {ours / t.median:.3f} |"
                    )
        lines.append("")
    if "W3" in results:
        w3, per_row = results["W3"]
        first = min(per_row)
        lines += [
            "W3, scaling (float32, one epoch of W2's network on the first n rows):",
            "",
            "| rows | median s | min s | max s | us per row | per row / per row at the smallest |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for n, t in w3.items():
            lines.append(
                f"| {n} | {fmt(t.median)} | {fmt(min(t.times))} | {fmt(max(t.times))} | "
                f"{per_row[n] * 1e6:.3f} | {per_row[n] / per_row[first]:.3f} |"
            )
        lines.append("")
    if "W4" in results:
        lines += [
            "W4, grid search (float32; BLAS limited to one thread inside every trial):",
            "",
            "| grid | trials | 1 worker s (min-max) | s per trial, 1 worker | 2 workers s (min-max) | 2 / 1 "
            "| identical results |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for label, r in results["W4"].items():
            one, two = r["one"], r["two"]
            lines.append(
                f"| {label} | {r['trials']} | {spread(one)} | {one.median / r['trials']:.3f} | "
                f"{spread(two)} | {r['ratio']:.3f} | "
                f"{'yes' if r['identical'] else 'NO'} |"
            )
        lines += [
            "",
            f"The larger grid: {LARGE_GRID} on {sizes.w4_large_rows} synthetic MNIST-sized rows, "
            f"{sizes.w4_large_epochs} epochs per trial.",
            "",
        ]
    if "MEM" in results:
        lines += [
            "Peak resident memory (float32), each run alone in a fresh process:",
            "",
            "| workload | implementation | dataset MB | after imports MB | peak MB |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for r in results["MEM"]:
            lines.append(
                f"| {r['workload']} | {r['impl']} | {r['dataset_mb']:.1f} | {r['baseline_mb']:.1f} | "
                f"{r['peak_mb']:.1f} |"
            )
        lines.append("")
    checks = acceptance(results)
    if checks:
        lines += ["Targets (float32):", ""]
        if quick:
            lines += [
                "QUICK: at these tiny sizes the targets say nothing, so a NO here is no failure. The usual "
                "one is W4's: two workers cannot halve a grid of four trials of a few hundredths of a "
                "second each, less than it takes to start the workers. Only a full run checks the targets.",
                "",
            ]
        lines += measuring.targets_table(checks)
        lines.append("")
    return "\n".join(lines)


def acceptance(results: dict) -> list[tuple[str, str, bool]]:
    checks = []
    w1 = results.get("W1", {}).get("float32")
    if w1:
        ours = w1["scratchnn"].median
        r_t, r_s = ours / w1["torch"].median, ours / w1["sklearn"].median
        checks.append(("W1: <= 0.2 x PyTorch", f"{r_t:.3f} x", r_t <= 0.2))
        checks.append(("W1: <= 0.3 x scikit-learn", f"{r_s:.3f} x", r_s <= 0.3))
    w2 = results.get("W2", {}).get("float32")
    if w2:
        ours = w2["scratchnn"].median
        r_t, r_f = ours / w2["torch"].median, ours / w2["matmul floor"].median
        checks.append(("W2: <= 0.9 x PyTorch", f"{r_t:.3f} x", r_t <= 0.9))
        checks.append(("W2: <= 1.8 x the matmul floor", f"{r_f:.3f} x", r_f <= 1.8))
    if "W3" in results:
        per_row = results["W3"][1]
        r = per_row[max(per_row)] / per_row[min(per_row)]
        checks.append(
            (f"W3: per-row time at {max(per_row)} within 15% of {min(per_row)}", f"{r:.3f} x", r <= 1.15)
        )
    if "W4" in results:
        r = results["W4"]["larger grid"]
        checks.append(
            ("W4: larger grid, 2 workers <= 0.6 x 1 worker", f"{r['ratio']:.3f} x", r["ratio"] <= 0.6)
        )
        same = all(v["identical"] for v in results["W4"].values())
        checks.append(("W4: identical results with 1 and 2 workers", "yes" if same else "no", same))
    for r in results.get("MEM", []):
        if r["workload"] == "W2" and r["impl"] == "scratchnn":
            limit = 2 * r["dataset_mb"] + 150
            checks.append(
                (
                    f"W2 peak memory <= 2 x dataset + 150 MB = {limit:.0f} MB",
                    f"{r['peak_mb']:.0f} MB",
                    r["peak_mb"] <= limit,
                )
            )
    return checks


def write_section(path: Path, section: str) -> None:
    """Replace the text between the speed markers of ``path`` (or append it), leaving the rest alone."""
    replace_section(path, START, END, section)


# -- main --------------------------------------------------------------------------------------------------
WORKLOADS = ("W1", "W2", "W3", "W4", "MEM", "CSV", "W5", "W6", "W7", "W8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repetition: checks that it runs"
    )
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {WORKLOADS}")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions after the warm-up")
    parser.add_argument(
        "--dtypes", default=None, help="comma-separated dtypes for W1 and W2 (default float32,float64)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the results section (default benchmarks/RESULTS.md for a full run; "
        "--quick and --only print only, unless --output is given)",
    )
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0

    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        parser.error(f"--only must name workloads among {WORKLOADS}, got {bad}")
    sizes = QUICK if args.quick else Sizes()
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be a positive integer, got {args.repeats}")
        sizes.repeats = sizes.w1_repeats = args.repeats
    if args.dtypes:
        sizes.dtypes = tuple(d.strip() for d in args.dtypes.split(","))
        if not set(sizes.dtypes) <= {"float32", "float64"}:
            parser.error(f"--dtypes must be float32 and/or float64, got {args.dtypes!r}")
    output = args.output
    if output is None and not args.quick and set(only) == set(WORKLOADS):
        output = RESULTS

    info = machine()
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info["load_start"] = measuring.loadavg()
    print(f"CPU {info['cpu']} ({info['cores']}), NumPy {info['numpy']}, load {info['load_start']}")
    for b in info["blas"]:
        print(f"NumPy's BLAS: {b}")
    t_start = time.perf_counter()
    results: dict = {}
    if "W1" in only:
        results["W1"] = {dt: bench_w1(sizes, dt) for dt in sizes.dtypes}
    if "W2" in only:
        results["W2"] = {dt: bench_w2(sizes, dt) for dt in sizes.dtypes}
    if "W3" in only:
        results["W3"] = bench_w3(sizes)
    if "W4" in only:
        results["W4"] = bench_w4(sizes, args.quick)
    if "MEM" in only:
        results["MEM"] = bench_memory(sizes)
    if "CSV" in only:
        print("  CSV  loading a tall and a wide file", flush=True)
        results["CSV"] = csv_load.run(args.quick)
    cnn_workloads = [w for w in ("W5", "W6") if w in only]
    if cnn_workloads:
        results["CNN"] = cnn.run(args.quick, cnn_workloads)
    if "W7" in only:
        results["RNN"] = rnn.run(args.quick)
    gpt_repeats = 3 if args.quick else 30
    if "W8" in only:
        print("  W8   a training step of the baby GPT, at 1 and 2 threads", flush=True)
        results["GPT"] = gpt.run([1, 2], gpt_repeats)
    info["load_end"] = measuring.loadavg()
    section = report(results, info, sizes, args.quick, argv, time.perf_counter() - t_start)
    print()
    print(section)
    csv_section = cnn_section = rnn_section = gpt_section = None
    if "CSV" in results:
        csv_section = csv_load.report(results["CSV"], args.quick)
        print(csv_section)
    if "CNN" in results:
        load = f"{info['load_start']} at the start, {info['load_end']} at the end"
        cnn_section = cnn.report(results["CNN"], load)
        print(cnn_section)
    if "RNN" in results:
        load = f"{info['load_start']} at the start, {info['load_end']} at the end"
        rnn_section = rnn.report(results["RNN"], load)
        print(rnn_section)
    if "GPT" in results:
        load = f"{info['load_start']} at the start, {info['load_end']} at the end"
        gpt_section = gpt.report(results["GPT"], gpt_repeats, load)
        print(gpt_section)
    if output is not None:
        write_section(output, section)
        if csv_section is not None:
            csv_load.write_section(output, csv_section)
        if cnn_section is not None:
            cnn.write_section(output, cnn_section)
        if rnn_section is not None:
            rnn.write_section(output, rnn_section)
        if gpt_section is not None:
            gpt.write_section(output, gpt_section)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
