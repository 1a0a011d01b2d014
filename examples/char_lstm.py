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

from char_gpt import arguments, run  # examples/char_gpt.py: the same run, with another model and settings

SETTINGS = {"batch_size": 32, "learning_rate": 2e-3, "min_lr": 2e-4, "weight_decay": 0.0, "clip": 5.0}


def main(argv=None) -> None:
    run(arguments(__doc__).parse_args(argv), "charlstm", "LSTM", **SETTINGS)


if __name__ == "__main__":
    main()
