"""Benchmark W5 and W6: convolutional networks, scratchnn against PyTorch (CPU) in the same run.

    python benchmarks/cnn.py                 # both workloads, 1 and 2 threads; writes RESULTS.md
    python benchmarks/cnn.py --quick         # tiny sizes (a W6 subset), prints the table only
    python benchmarks/run.py --only W5,W6    # the same, from the main benchmark

* W5, the Digits CNN (as ``examples/digits_cnn.py``): images 1x8x8, conv 3x3
  32 "same" -> BatchNorm -> ReLU -> conv 3x3 64 "same" -> BatchNorm -> ReLU ->
  max-pool 2 -> conv 3x3 128 "same" -> BatchNorm -> ReLU -> global average
  pool -> dense 10 (the recipe's ``conv32k3p1-bn-relu-conv64k3p1-bn-relu-
  maxpool2-conv128k3p1-bn-relu-gap-dense``); AdamW (lr 0.003, weight decay
  0.01), cross-entropy with label smoothing 0.1, batch 32, one epoch on the
  1149 training images that remain of Digits' 1437 after the recipe's
  validation split (the learning-rate schedule is left out: it costs nothing).
* W6, MNIST-sized: 60,000 synthetic 1x28x28 images, conv 3x3 32 -> ReLU ->
  max-pool 2 -> conv 3x3 64 -> ReLU -> max-pool 2 -> flatten -> dense 128 ->
  ReLU -> dense 10; SGD 0.01, batch 128, one epoch. Its *floor* is the bare
  matrix products of the im2col formulation: per batch, each convolution's
  ``X_col @ W_col`` and ``X_col.T @ G`` (and ``G @ W_col.T`` for the second,
  whose input gradient is needed), each dense layer's three products, with the
  same shapes, into preallocated outputs, and nothing else (no patch copies,
  no pooling, no activations).

Both implementations do the same work: the same architecture, batch size and
number of updates, a fresh permutation each epoch and every batch's loss read
back as a Python number. Each is limited to the same number of threads (NumPy's
BLAS through ``threadpoolctl``, PyTorch through ``torch.set_num_threads``) and
measured at 1 and at 2 threads, taking turns after a warm-up. Peak memory of
W6 is measured in a fresh process per implementation.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import measuring  # noqa: E402
from benchmarks.sections import replace_section  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- cnn:start -->", "<!-- cnn:end -->"
THREADS = (1, 2)


@dataclass
class CnnSizes:
    """How big each workload is; ``--quick`` shrinks both so the script runs in seconds."""

    w5_rows: int | None = None  # None: all 1149 training images
    w6_rows: int = 60_000
    repeats: int = 3
    w5_repeats: int = 5
    threads: tuple = THREADS
    memory: tuple = ("scratchnn", "torch")  # whose W6 peak memory to measure


QUICK = CnnSizes(w5_rows=256, w6_rows=1024, repeats=1, w5_repeats=1)


# -- data -------------------------------------------------------------------------------------------
@functools.cache
def digits_fit():
    """Digits' training images less the recipe's validation split: (1149, 64) float32 rows in [0, 1]."""
    from scratchnn.data import load_digits_split, train_val_split

    x_train, _, y_train, _ = load_digits_split(test_size=0.2, seed=42)
    x_fit, _, y_fit, _ = train_val_split(x_train, y_train, val_size=0.2, seed=0)
    return np.ascontiguousarray(x_fit, dtype=np.float32), y_fit


def synthetic_images(n: int, seed: int = 0):
    """``n`` synthetic MNIST-sized images as rows ``(n, 784)`` float32, learnable labels ``(n,)``.

    Smooth random blobs (a low-resolution noise image upsampled) so that
    convolutions see spatial structure; labels are the arg-max of 10 fixed
    random projections. Made in chunks: ``x`` is the only large array held.
    """
    rng = np.random.default_rng(seed)
    x = np.empty((n, 784), dtype=np.float32)
    proj = rng.standard_normal((784, 10)).astype(np.float32)
    y = np.empty(n, dtype=np.int64)
    for s in range(0, n, 4096):
        m = min(4096, n - s)
        low = rng.random((m, 7, 7), dtype=np.float32)
        x[s : s + m] = np.repeat(np.repeat(low, 4, axis=1), 4, axis=2).reshape(m, 784)
        y[s : s + m] = np.argmax((x[s : s + m] - 0.5) @ proj, axis=1)
    return x, y


# -- the networks ---------------------------------------------------------------------------------
def w5_layers(rng):
    from scratchnn.layers import BatchNorm2d, Conv2D, Dense, GlobalAvgPool2D, MaxPool2D, ReLU, Reshape

    layers = [Reshape((1, 8, 8))]
    c_in = 1
    for i, c in enumerate((32, 64, 128)):
        layers += [Conv2D(c_in, c, 3, padding="same", seed=rng), BatchNorm2d(c), ReLU()]
        if i == 1:
            layers.append(MaxPool2D(2))
        c_in = c
    return [*layers, GlobalAvgPool2D(), Dense(128, 10, seed=rng)]


def w5_torch():
    import torch.nn as nn

    mods = []
    c_in = 1
    for i, c in enumerate((32, 64, 128)):
        mods += [nn.Conv2d(c_in, c, 3, padding="same"), nn.BatchNorm2d(c), nn.ReLU()]
        if i == 1:
            mods.append(nn.MaxPool2d(2))
        c_in = c
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def w6_layers(rng):
    from scratchnn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Reshape

    return [
        Reshape((1, 28, 28)),
        Conv2D(1, 32, 3, seed=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(32, 64, 3, seed=rng),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(64 * 5 * 5, 128, seed=rng),
        ReLU(),
        Dense(128, 10, seed=rng),
    ]


def w6_torch():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


WORKLOADS = {
    # name: (scratchnn layers, torch model, image shape, optimizer, batch size, label smoothing)
    "W5": (w5_layers, w5_torch, (1, 8, 8), "adamw", 32, 0.1),
    "W6": (w6_layers, w6_torch, (1, 28, 28), "sgd", 128, 0.0),
}


# -- one epoch of training, each implementation ---------------------------------------------------
def run_scratchnn(workload: str, x, y, seed: int = 0) -> float:
    from scratchnn import SGD, AdamW, NeuralNetwork, SoftmaxCrossEntropy, Trainer

    make_layers, _, _, opt, batch_size, smoothing = WORKLOADS[workload]
    rng = np.random.default_rng(seed)
    net = NeuralNetwork(make_layers(rng), SoftmaxCrossEntropy(label_smoothing=smoothing))
    optimizer = SGD(0.01) if opt == "sgd" else AdamW(0.003, weight_decay=0.01)
    trainer = Trainer(net, optimizer, batch_size=batch_size, seed=rng)
    t0 = time.perf_counter()
    trainer.fit(x, y, epochs=1, verbose=False)
    return time.perf_counter() - t0


def run_torch(workload: str, x, y, seed: int = 0) -> float:
    import torch

    _, make_model, shape, opt, batch_size, smoothing = WORKLOADS[workload]
    torch.manual_seed(seed)
    model = make_model()
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
    if opt == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.003, weight_decay=0.01)
    xt, yt = torch.from_numpy(x).reshape(-1, *shape), torch.from_numpy(y)
    return measuring.torch_epochs(model, loss_fn, optimizer, xt, yt, batch_size, 1, seed)


def run_floor(workload: str, x, y, seed: int = 0) -> float:
    """W6's bare im2col matrix products for one epoch, same shapes, into preallocated outputs."""
    if workload != "W6":
        raise ValueError(f"the matmul floor is defined for W6 only, got {workload!r}")
    rng = np.random.default_rng(seed)
    bs, f32 = 128, np.float32

    def arr(*shape):
        return rng.standard_normal(shape).astype(f32)

    # (rows per sample, inner, outer) of each product X @ W: conv1, conv2, dense1, dense2
    shapes = [(26 * 26, 9, 32), (11 * 11, 288, 64), (1, 1600, 128), (1, 128, 10)]
    xs = [arr(bs * r, k) for r, k, _ in shapes]
    ws = [arr(k, o) for _, k, o in shapes]
    outs = [np.empty((bs * r, o), f32) for r, _, o in shapes]
    gs = [arr(bs * r, o) for r, _, o in shapes]
    dws = [np.empty_like(w) for w in ws]
    dxs = [np.empty_like(a) for a in xs]
    n = x.shape[0]
    t0 = time.perf_counter()
    for start in range(0, n, bs):
        m = min(bs, n - start)
        for i, (r, _, _) in enumerate(shapes):
            np.matmul(xs[i][: m * r], ws[i], out=outs[i][: m * r])
        for i in range(len(shapes) - 1, -1, -1):
            r = shapes[i][0]
            np.matmul(xs[i][: m * r].T, gs[i][: m * r], out=dws[i])
            if i > 0:  # the first layer's input gradient is never needed
                np.matmul(gs[i][: m * r], ws[i].T, out=dxs[i][: m * r])
    return time.perf_counter() - t0


IMPLS = {"scratchnn": run_scratchnn, "torch": run_torch, "matmul floor": run_floor}


# -- measuring -------------------------------------------------------------------------------------
def data_for(workload: str, sizes: CnnSizes):
    if workload == "W5":
        x, y = digits_fit()
        return (x, y) if sizes.w5_rows is None else (x[: sizes.w5_rows], y[: sizes.w5_rows])
    return synthetic_images(sizes.w6_rows)


def measure(workload: str, sizes: CnnSizes) -> dict:
    """``{threads: {impl: [seconds, ...]}}``: each implementation timed, taking turns, after a warm-up."""
    x, y = data_for(workload, sizes)
    impls = ["scratchnn", "torch"] + (["matmul floor"] if workload == "W6" else [])
    repeats = sizes.w5_repeats if workload == "W5" else sizes.repeats
    warm = (x[:2048], y[:2048])  # the warm-up: enough batches to allocate and load every kernel
    out = {}
    for threads in sizes.threads:
        times = {name: [] for name in impls}
        with measuring.limit_threads(threads):
            for name in impls:
                IMPLS[name](workload, *warm)
            for _ in range(repeats):
                for name in impls:
                    times[name].append(IMPLS[name](workload, x, y))
        out[threads] = times
        line = ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in times.items())
        print(f"  {workload} {threads} thread(s), {x.shape[0]} images: {line}", flush=True)
    return {"rows": x.shape[0], "times": out}


def memory_child(spec: str) -> None:
    """Train W6 once in this process (``--memory-child impl:rows``); print the peak RSS as JSON."""
    impl, rows = spec.split(":")
    if impl == "torch":
        import torch  # noqa: F401
    import scratchnn  # noqa: F401

    baseline = measuring.status_mb("VmRSS")
    x, y = synthetic_images(int(rows))
    IMPLS[impl]("W6", x, y)
    measuring.print_peak(baseline, x, y)


def measure_memory(sizes: CnnSizes) -> dict:
    rows = {}
    for impl in sizes.memory:
        rows[impl] = measuring.child_peak([__file__, "--memory-child", f"{impl}:{sizes.w6_rows}"])
        r = rows[impl]
        print(
            f"  W6 memory {impl:9s} peak {r['peak_mb']:.1f} MB (after imports {r['baseline_mb']:.1f} MB, "
            f"dataset {r['dataset_mb']:.1f} MB)",
            flush=True,
        )
    return rows


def run(quick: bool = False, only=("W5", "W6"), sizes: CnnSizes | None = None) -> dict:
    """Measure the workloads in ``only`` (and W6's memory with W6); the results for ``report``."""
    if sizes is None:
        sizes = QUICK if quick else CnnSizes()
    results = {"quick": quick, "sizes": sizes}
    for workload in only:
        results[workload] = measure(workload, sizes)
    if "W6" in only and sizes.memory:
        results["MEM"] = measure_memory(sizes)
    return results


# -- the report ---------------------------------------------------------------------------------------
TARGETS = {  # (workload, threads, peer): the largest allowed ratio of scratchnn's median to the peer's
    ("W5", 1, "torch"): 0.8,
    ("W5", 2, "torch"): 0.8,
    ("W6", 1, "torch"): 1.3,
    ("W6", 2, "torch"): 1.8,
    ("W6", 1, "matmul floor"): 2.0,
    ("W6", 2, "matmul floor"): 2.0,
}


def checks(results: dict) -> list[tuple[str, str, bool]]:
    rows = []
    for (workload, threads, peer), limit in TARGETS.items():
        if workload not in results or threads not in results[workload]["times"]:
            continue
        times = results[workload]["times"][threads]
        r = statistics.median(times["scratchnn"]) / statistics.median(times[peer])
        rows.append((f"{workload}, {threads} thread(s): <= {limit} x {peer}", f"{r:.3f} x", r <= limit))
    mem = results.get("MEM", {}).get("scratchnn")
    if mem:
        limit = mem["dataset_mb"] + 300
        rows.append(
            (
                f"W6 peak memory <= dataset + 300 MB = {limit:.0f} MB",
                f"{mem['peak_mb']:.0f} MB",
                mem["peak_mb"] <= limit,
            )
        )
    return rows


def report(results: dict, load: str) -> str:
    sizes, quick = results["sizes"], results["quick"]
    lines = ["## Convolutional networks (W5, W6)", ""]
    if quick:
        lines += [
            f"QUICK: W5 on {results.get('W5', {}).get('rows', '-')} images, W6 on a subset of "
            f"{sizes.w6_rows} images instead of 60,000, one repetition: the figures say nothing.",
            "",
        ]
    lines += [
        f"Load average (1, 5, 15 min) during the run: {load}. Float32; one epoch; median seconds of "
        f"{sizes.w5_repeats} (W5) and {sizes.repeats} (W6) runs after a warm-up, scratchnn and PyTorch "
        "taking turns, each limited to the thread count of the row. Last column: scratchnn's median "
        "divided by the row's.",
        "",
        "| workload | images | threads | implementation | median s | min s | max s | scratchnn / this |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for workload in ("W5", "W6"):
        if workload not in results:
            continue
        block = results[workload]
        for threads, times in block["times"].items():
            ours = statistics.median(times["scratchnn"])
            for impl, ts in times.items():
                med = statistics.median(ts)
                lines.append(
                    f"| {workload} | {block['rows']} | {threads} | {impl} | {med:.3f} | {min(ts):.3f} | "
                    f"{max(ts):.3f} | {ours / med:.3f} |"
                )
    lines.append("")
    if "MEM" in results:
        lines += [
            "W6 peak resident memory, each run alone in a fresh process:",
            "",
            "| implementation | dataset MB | after imports MB | peak MB |",
            "| --- | ---: | ---: | ---: |",
        ]
        for impl, r in results["MEM"].items():
            lines.append(f"| {impl} | {r['dataset_mb']:.1f} | {r['baseline_mb']:.1f} | {r['peak_mb']:.1f} |")
        lines.append("")
    rows = checks(results)
    if rows:
        lines += ["CNN targets:", "", *measuring.targets_table(rows)]
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    replace_section(path, START, END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--only", default="W5,W6", help="comma-separated subset of W5,W6")
    parser.add_argument("--output", type=Path, default=None, help="write the section here")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each (after a warm-up)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    if not only or not set(only) <= {"W5", "W6"}:
        parser.error(f"--only must name W5 and/or W6, got {args.only!r}")
    sizes = dataclasses.replace(QUICK if args.quick else CnnSizes())
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be a positive integer, got {args.repeats}")
        sizes.repeats = sizes.w5_repeats = args.repeats
    section = measuring.measure_and_report(lambda: run(args.quick, only, sizes), report)
    output = args.output
    if output is None and not args.quick and set(only) == {"W5", "W6"}:
        output = RESULTS
    if output is not None:
        write_section(output, section)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
