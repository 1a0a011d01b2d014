"""char-rnn's 2 x 128 LSTM on a character text, backpropagation through time written by hand in NumPy.

    python examples/char_lstm.py [--corpus PATH] [--seed S] [--iters N]

Karpathy's char-rnn trained a stack of LSTM layers on any text and sampled from
it; its small default is 2 layers of 128 units with the gradient clipped at 5.
This is that model from scratchnn's layers (``--layers charlstm``): an
embedding of each character (128 numbers, the learned form of char-rnn's
one-hot input), two ``LSTM`` layers of 128 units (PyTorch's gate order and
biases), and a Dense layer scoring the next character at every step.

The run: windows of 64 characters, 32 per step, 2000 steps of Adam (AdamW
without weight decay) at 2e-3 warming up over 100 steps then following a
cosine to 2e-4, the global gradient norm clipped at 5 (char-rnn's
``grad_clip``), the first 90% of the text for training and the last 10% for
validation, as ``examples/char_gpt.py``. The last line is the loss over the
whole validation text in consecutive windows of 64 characters.

The corpus: ``--corpus PATH``, by default the running interpreter's
standard-library source (``scratchnn.data.text.python_source``), a text every user
has offline.
"""

from __future__ import annotations

import argparse
import time

from scratchnn import language_model as lm
from scratchnn.data.text import TextData, python_source, read_text

SETTINGS = {"batch_size": 32, "learning_rate": 2e-3, "min_lr": 2e-4, "weight_decay": 0.0, "clip": 5.0}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", metavar="PATH", help="a UTF-8 text file (default: Python's own source)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=2000, help="optimizer steps (default: %(default)s)")
    parser.add_argument(
        "--sample", type=int, default=300, help="characters sampled at the end (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    text, name = (read_text(args.corpus), args.corpus) if args.corpus else python_source()
    data = TextData.from_text(text, name=name)
    network, block_size = lm.build_network("charlstm", len(data.vocab), seed=args.seed)
    settings = lm.LMTraining(iters=args.iters, warmup_iters=min(100, args.iters // 10), **SETTINGS)
    n_params = sum(p.size for p in network.parameters())
    print(f"Corpus: {name}: {len(text)} characters, {len(data.vocab)} distinct")
    shape = f"{settings.batch_size} x {block_size} characters"
    print(f"LSTM: {n_params} parameters; {settings.iters} steps of {shape}")
    tic = time.perf_counter()

    def report(rec: dict) -> None:
        if "tokens_per_s" in rec:
            return
        train = "" if rec["loss"] is None else f"train loss {rec['loss']:.4f}, "
        elapsed = time.perf_counter() - tic
        print(f"step {rec['step']:5d}: {train}val loss {rec['val_loss']:.4f} ({elapsed:.0f} s)")

    lm.train(network, data, block_size, settings, seed=args.seed, callback=report)
    print(f"Trained in {time.perf_counter() - tic:.0f} s. A sample:")
    model = lm.LanguageModel(network, data.vocab, block_size, "charlstm")
    print(
        model.generate("\n" if "\n" in data.vocab.chars else data.vocab.chars[0], args.sample, seed=args.seed)
    )
    print(f"Validation loss: {model.score(data)['loss']:.4f}")


if __name__ == "__main__":
    main()
