"""Benchmark: one training step of nanoGPT's baby GPT, scratchnn against plain PyTorch, at 1 and 2 threads.

    python benchmarks/gpt.py                  # writes its section of benchmarks/RESULTS.md
    python benchmarks/gpt.py --quick          # few repeats, prints the table only

The step is what ``examples/char_gpt.py`` does 2000 times: forward on 12
windows of 64 characters, the cross-entropy over every position, backward,
clipping the global gradient norm at 1.0 and an AdamW update (two groups,
weight decay 0.1 on the matrices). Both models start from the same float32
weights (``benchmarks/torch_gpt.py`` copies scratchnn's), see the same batch,
and run eager on the CPU with the same number of threads (OpenBLAS for NumPy,
``torch.set_num_threads`` for PyTorch), each thread count in a fresh process.
The floor is the bare matrix products of the step (every forward product and
the two backward products of each, the attention's batched ones included),
into preallocated arrays: what no implementation of this step can avoid.
Steps alternate between the implementations after a warm-up, so that a change
in the machine's load hits both alike; the table gives medians. Peak memory is
the process's maximum resident set after the steps (both libraries loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

B, T, C, H, L, V = 12, 64, 128, 4, 4, 65


def worker(threads: int, repeats: int) -> dict:
    import resource

    import numpy as np
    import torch

    from benchmarks.torch_gpt import TorchGPT
    from scratchnn import language_model as lm
    from scratchnn.layers import GPT
    from scratchnn.losses import SoftmaxCrossEntropy
    from scratchnn.network import NeuralNetwork
    from scratchnn.optimizers import clip_grad_norm

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    gpt = GPT(V, T, n_layer=L, n_head=H, n_embd=C, seed=0)
    net = NeuralNetwork([gpt], SoftmaxCrossEntropy())
    groups = lm.make_optimizers(net, lm.LMTraining())
    ref = TorchGPT.from_scratchnn(gpt, dtype=torch.float32)
    params = list(ref.parameters())
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=1e-3,
        betas=(0.9, 0.99),
    )
    x = rng.integers(V, size=(B, T))
    y = rng.integers(V, size=(B, T))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)

    def ours():
        loss = net.compute_loss(net.forward(x, training=True), y)
        net.backward()
        clip_grad_norm(net.gradients(), 1.0)
        for o, p, g in groups:
            o.step(p, g)
        return loss

    def theirs():
        loss = torch.nn.functional.cross_entropy(ref(tx).reshape(-1, V), ty)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    floor = _floor(np)
    runs = {"scratchnn": ours, "pytorch": theirs, "floor": floor}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(3):  # warm-up
        for f in runs.values():
            f()
    for _ in range(repeats):
        for name, f in runs.items():
            tic = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - tic)
    return {
        "threads": threads,
        **{k: statistics.median(v) * 1e3 for k, v in times.items()},
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _floor(np):
    """The step's matrix products on preallocated float32 arrays, nothing else."""
    M, dh = B * T, C // H
    f = np.float32

    def a(*shape):
        return np.random.default_rng(1).standard_normal(shape).astype(f)

    x, w_qkv, qkv = a(M, C), a(C, 3 * C), a(M, 3 * C)
    w_c, y_c = a(C, C), a(M, C)
    w_fc, h_fc, w_pr = a(C, 4 * C), a(M, 4 * C), a(4 * C, C)
    q, k, s, o = a(B * H, T, dh), a(B * H, T, dh), a(B * H, T, T), a(B * H, T, dh)
    w_v, logits, onehot = a(V, C), a(M, V), a(V, M)
    d_in, d_c, d_fc = a(M, C), a(C, C), a(4 * C, C)
    d_qkv_w, d_fc_w, d_v = a(C, 3 * C), a(C, 4 * C), a(V, C)

    def step():
        for _ in range(L):
            np.matmul(x, w_qkv, out=qkv)  # forward
            np.matmul(q, k.swapaxes(1, 2), out=s)
            np.matmul(s, k, out=o)
            np.matmul(x, w_c, out=y_c)
            np.matmul(x, w_fc, out=h_fc)
            np.matmul(h_fc, w_pr, out=y_c)
            np.matmul(h_fc.T, x, out=d_fc)  # backward: dW and dx of each product
            np.matmul(x, w_pr.T, out=h_fc)
            np.matmul(x.T, h_fc, out=d_fc_w)
            np.matmul(h_fc, w_fc.T, out=d_in)
            np.matmul(x.T, y_c, out=d_c)
            np.matmul(y_c, w_c.T, out=d_in)
            for _ in range(4):  # dv = a.T @ do, da = do @ v.T, dq = ds @ k, dk = ds.T @ q
                np.matmul(s, k, out=o)
            np.matmul(x.T, qkv, out=d_qkv_w)
            np.matmul(qkv, w_qkv.T, out=d_in)
        np.matmul(x, w_v.T, out=logits)  # the tied head and the embedding's one-hot backward
        np.matmul(logits.T, x, out=d_v)
        np.matmul(logits, w_v, out=d_in)
        np.matmul(onehot, x, out=d_v)

    return step


def run(threads: list[int], repeats: int) -> list[dict]:
    rows = []
    for n in threads:
        env = {
            **os.environ,
            "OPENBLAS_NUM_THREADS": str(n),
            "OMP_NUM_THREADS": str(n),
            "MKL_NUM_THREADS": str(n),
        }
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(n), "--repeats", str(repeats)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| threads | scratchnn (ms) | PyTorch (ms) | ratio | floor (ms) | scratchnn / floor | peak (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ours, theirs, floor = r["scratchnn"], r["pytorch"], r["floor"]
        lines.append(
            f"| {r['threads']} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | "
            f"{floor:.1f} | {ours / floor:.2f} | {r['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


def report(rows: list[dict], repeats: int, load: str) -> str:
    """The RESULTS.md section of a run of ``run``."""
    return (
        "## A training step of the baby GPT (W8, benchmarks/gpt.py)\n\n"
        f"Load average (1, 5, 15 min) during the run: {load}. Median of {repeats} steps, float32, batch {B} "
        f"x {T}, {L} layers, {H} heads, {C} channels, {V} characters; the same weights and batch in both; "
        "the step is forward, cross-entropy, backward, clipping at 1.0 and AdamW in two groups. Ratio: "
        "scratchnn's median over PyTorch's.\n\n" + table(rows) + "\n\n" + targets(rows)
    )


#: Most of PyTorch's time a scratchnn step may take, by thread count.
TARGETS = {1: 1.1, 2: 1.3}


def targets(rows: list[dict]) -> str:
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    for r in rows:
        if r["threads"] in TARGETS:
            ratio, bound = r["scratchnn"] / r["pytorch"], TARGETS[r["threads"]]
            met = "yes" if ratio <= bound else "NO"
            lines.append(f"| W8, {r['threads']} thread(s): <= {bound} x PyTorch | {ratio:.2f} x | {met} |")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    from benchmarks.sections import replace_section

    replace_section(path, "<!-- gpt:start -->", "<!-- gpt:end -->", section)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="at most 5 repeats; print the table only")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats)))
        return
    from benchmarks.measuring import loadavg

    load_start = loadavg()
    repeats = min(args.repeats, 5) if args.quick else args.repeats
    rows = run([int(t) for t in args.threads.split(",")], repeats)
    print(table(rows))
    if not args.quick:
        load = f"{load_start} at the start, {loadavg()} at the end"
        write_section(ROOT / "benchmarks" / "RESULTS.md", report(rows, repeats, load))


if __name__ == "__main__":
    main()
