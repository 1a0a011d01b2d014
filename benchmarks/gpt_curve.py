"""Benchmark: the baby GPT's whole run, scratchnn and PyTorch from the same weights on the same batches.

    python benchmarks/gpt_curve.py                          # Tiny Shakespeare: writes its RESULTS.md section
    python benchmarks/gpt_curve.py --corpus FILE --iters 50 # another text or a shorter run: prints only

``examples/char_gpt.py``'s run (nanoGPT's baby GPT on a character text: 2000
steps of AdamW with clipping, warm-up and cosine) twice: once by
``scratchnn.language_model.train``, once by the same model in plain PyTorch
(``benchmarks/torch_gpt.py``, eager, float32), which starts from a copy of
scratchnn's initial weights and is fed the very batches scratchnn draws (the
same generator, drawn in the same order: the fixed evaluation windows first,
then one batch per step). Both use the same learning rate at every step and
the same threads. The table gives the validation loss of each at every
evaluation (every 250 steps, on the same 20 fixed batches) and their
difference; the two curves are the same run when the differences stay small
(float32 rounding grows over 2000 steps, so not to the last digit).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TINY_SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def scratchnn_curve(data, settings, seed: int) -> tuple[list[dict], object, float]:
    """``(history, the initial GPT's copy in PyTorch, seconds)`` of scratchnn's run."""
    from benchmarks.torch_gpt import TorchGPT
    from scratchnn import language_model as lm

    network, block_size = lm.build_network("gpt", len(data.vocab), seed=seed)
    start = TorchGPT.from_scratchnn(network.layers[0], dtype=_torch().float32)
    tic = time.perf_counter()
    history = lm.train(network, data, block_size, settings, seed=seed)
    return history, start, time.perf_counter() - tic


def torch_curve(model, data, settings, block_size: int, seed: int) -> tuple[list[dict], float]:
    """``(history, seconds)`` of the same run in PyTorch: its evaluations, at scratchnn's steps."""
    torch = _torch()
    from scratchnn import language_model as lm
    from scratchnn.validation import check_random_state

    B, T = settings.batch_size, block_size
    rng = check_random_state(seed)  # drawn as lm.train draws: evaluation windows, then the batches
    val_x, val_y = lm._val_windows(data, B, T, settings.eval_batches, rng)
    params = list(model.parameters())
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": settings.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
        betas=(settings.beta1, settings.beta2),
    )
    schedule, history = settings.schedule(), []

    def evaluate(step: int) -> None:
        with torch.no_grad():
            losses = [
                _loss(model, val_x[i : i + B], val_y[i : i + B]).item() for i in range(0, len(val_x), B)
            ]
        history.append({"step": step, "val_loss": float(np.mean(losses))})

    tic = time.perf_counter()
    evaluate(0)
    for step in range(settings.iters):
        x, y = data.batch("train", B, T, rng)
        for group in opt.param_groups:
            group["lr"] = schedule(step, settings.learning_rate)
        loss = _loss(model, x, y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.clip)
        opt.step()
        if (step + 1) % settings.eval_interval == 0 or step + 1 == settings.iters:
            evaluate(step + 1)
    return history, time.perf_counter() - tic


def _loss(model, x: np.ndarray, y: np.ndarray):
    torch = _torch()
    logits = model(torch.from_numpy(x))
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1)
    )


def _torch():
    import torch

    return torch


def table(ours: list[dict], theirs: list[dict]) -> str:
    lines = ["| step | scratchnn | PyTorch | difference |", "|---:|---:|---:|---:|"]
    for a, b in zip(ours, theirs, strict=True):
        assert a["step"] == b["step"], (a, b)
        diff = a["val_loss"] - b["val_loss"]
        lines.append(f"| {a['step']} | {a['val_loss']:.4f} | {b['val_loss']:.4f} | {diff:+.1e} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from scratchnn import language_model as lm
    from scratchnn.data.text import TextData, read_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(TINY_SHAKESPEARE), help="a UTF-8 text (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="threads of both libraries (default: 1)")
    args = parser.parse_args(argv)
    if not Path(args.corpus).is_file():
        parser.error(f"--corpus {args.corpus!r} is not a file")
    _torch().set_num_threads(args.threads)
    data = TextData.from_text(read_text(args.corpus), name=args.corpus)
    settings = lm.LMTraining(iters=args.iters, warmup_iters=min(100, args.iters // 10))
    ours, start, our_time = scratchnn_curve(data, settings, args.seed)
    theirs, their_time = torch_curve(start, data, settings, lm.PRESETS["gpt"]["block_size"], args.seed)
    largest = max(abs(a["val_loss"] - b["val_loss"]) for a, b in zip(ours, theirs))
    text = (
        table(ours, theirs) + f"\n\nLargest difference: {largest:.1e}. Time: scratchnn {our_time:.0f} s, "
        f"PyTorch {their_time:.0f} s ({args.threads} thread{'s' if args.threads > 1 else ''})."
    )
    print(text)
    if args.iters == 2000 and Path(args.corpus).resolve() == TINY_SHAKESPEARE.resolve():
        from benchmarks.sections import replace_section

        section = (
            "## The baby GPT's run in scratchnn and in PyTorch (benchmarks/gpt_curve.py)\n\n"
            f"Tiny Shakespeare, seed {args.seed}, 2000 steps, float32; PyTorch starts from scratchnn's "
            "initial weights and sees the same batches. Validation loss at each evaluation "
            "(20 fixed batches):\n\n" + text
        )
        replace_section(
            ROOT / "benchmarks" / "RESULTS.md", "<!-- gpt-curve:start -->", "<!-- gpt-curve:end -->", section
        )


if __name__ == "__main__":
    main()
