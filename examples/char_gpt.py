"""nanoGPT's "baby GPT" on a character text, every backward pass written by hand in NumPy.

    python examples/char_gpt.py [--corpus PATH] [--seed S] [--iters N]

The run of nanoGPT's README for a laptop CPU (``train_shakespeare_char`` with
``--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
--max_iters=2000 --lr_decay_iters=2000 --dropout=0.0``), rebuilt from
scratchnn's layers:

* the model (``scratchnn.layers.GPT``): token and position embeddings of 128,
  4 pre-LayerNorm blocks of causal 4-head attention and a 512-wide GELU MLP
  (the exact, erf GELU, as ``torch.nn.GELU()``), a final LayerNorm, and an
  output head tied to the token embedding; no biases and no dropout, nanoGPT's
  defaults for this run;
* the data: the first 90% of the text trains, the last 10% validates
  (``scratchnn.data.text``); each step draws 12 windows of 64 characters at random;
* the optimizer: AdamW, betas (0.9, 0.99), weight decay 0.1 on the matrices
  only, the gradient clipped to a global norm of 1.0, the learning rate
  warming up over 100 steps to 1e-3 then following a cosine to 1e-4 at step
  2000 (``scratchnn.language_model.LMTraining``'s defaults).

The validation loss is printed every 250 steps on 20 fixed batches of windows
(nanoGPT's ``eval_iters=20`` estimate, which moves by about 0.02 from one draw
to the next); the last line is the loss over the whole validation text in
consecutive windows of 64 characters, each character predicted once from the
ones before it in its window, a protocol without sampling noise.

The corpus: ``--corpus PATH`` (any UTF-8 text; nanoGPT's figure of 1.88 is on
Tiny Shakespeare). By default, a text every Python user has without
downloading anything: the source of the standard library of the running
interpreter, its top-level modules (``abc.py``, ``aifc.py``, ...) in the order
of their names, cut at 1,000,000 characters, about the size of Tiny
Shakespeare. It depends on the Python version (3.11.7: 166 distinct
characters), so its figures are comparable between runs of one interpreter
only.

``--seed`` fixes the weights and every batch: the same seed prints the same
output. ``--iters`` shortens the run (the schedule is sized for it); ``--sample`` sets
the length of the text sampled at the end.
"""

from __future__ import annotations

import argparse
import time

from scratchnn import language_model as lm
from scratchnn.data.text import TextData, python_source, read_text


def arguments(doc: str) -> argparse.ArgumentParser:
    """The command line of a character-model example, described by ``doc``'s first paragraph."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--corpus", metavar="PATH", help="a UTF-8 text file (default: Python's own source)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=2000, help="optimizer steps (default: %(default)s)")
    parser.add_argument(
        "--sample", type=int, default=300, help="characters sampled at the end (default: %(default)s)"
    )
    return parser


def run(args: argparse.Namespace, layers: str, label: str, **overrides) -> None:
    """Train the ``layers`` model on the corpus, printing its progress, a sample and the validation loss.

    ``overrides`` replace ``LMTraining``'s defaults (nanoGPT's run); ``label`` names the model.
    """
    text, name = (read_text(args.corpus), args.corpus) if args.corpus else python_source()
    data = TextData.from_text(text, name=name)
    network, block_size = lm.build_network(layers, len(data.vocab), seed=args.seed)
    settings = lm.LMTraining(iters=args.iters, warmup_iters=min(100, args.iters // 10), **overrides)
    n_params = sum(p.size for p in network.parameters())
    print(f"Corpus: {name}: {len(text)} characters, {len(data.vocab)} distinct")
    print(
        f"{label}: {n_params} parameters; {settings.iters} steps of {settings.batch_size} windows of "
        f"{block_size}"
    )
    tic = time.perf_counter()

    def report(rec: dict) -> None:
        if "tokens_per_s" in rec:
            return
        train = "" if rec["loss"] is None else f"train loss {rec['loss']:.4f}, "
        elapsed = time.perf_counter() - tic
        print(f"step {rec['step']:5d}: {train}val loss {rec['val_loss']:.4f} ({elapsed:.0f} s)")

    lm.train(network, data, block_size, settings, seed=args.seed, callback=report)
    print(f"Trained in {time.perf_counter() - tic:.0f} s. A sample:")
    model = lm.LanguageModel(network, data.vocab, block_size, layers)
    print(
        model.generate("\n" if "\n" in data.vocab.chars else data.vocab.chars[0], args.sample, seed=args.seed)
    )
    print(f"Validation loss: {model.score(data)['loss']:.4f}")


def main(argv=None) -> None:
    run(arguments(__doc__).parse_args(argv), "gpt", "GPT")


if __name__ == "__main__":
    main()
