"""Speaker recognition from Japanese vowels with an LSTM: sequences of different lengths, padded.

    python examples/vowels.py [--seed S] [--epochs E]

JapaneseVowels (UCR/UEA archive, as bundled with sktime, read offline): nine
male speakers each uttering the Japanese vowels /ae/; each utterance is a
sequence of 7 to 29 frames of 12 LPC cepstrum coefficients, and the task is to
tell the speaker. 270 training sequences, 370 test sequences. A 1-nearest-
neighbour baseline on simple features reaches about 0.94.

The network reads each utterance frame by frame::

    x (N, T, 12) --LSTM(12, H)--> state at each utterance's last real frame (N, H) --Dense--> (N, 9)

with softmax cross-entropy. A batch is padded to its longest utterance and the
lengths are passed to the LSTM (``lstm.set_lengths(lengths)``), so a short
utterance's state stops at its last frame and the padding is never read.
The channels are standardised with the training set's mean and standard
deviation over real frames. Training: 64 hidden units, AdamW (weight decay
0.01) with linear warm-up and cosine decay over 30 epochs, gradients clipped
to a global norm of 1 (an LSTM's gradients can spike), batch 16.

How the settings are chosen: a stratified validation split (20%) is carved
out of the training set, the network is trained on the rest once per peak
learning rate in ``GRID`` and scored on the validation split; the test set is
not looked at until the end. The final network is trained with the chosen
rate on the whole training set. The fixed settings were compared on the same
validation splits (mean validation accuracy over seeds 0-4): the last state
(0.974) did better than the mean of the states over real frames
(``MeanOverTime``: 0.937 to 0.941); 64 hidden units better than 32 or 128
(0.959 each); 30 epochs at rate 0.01 better than 40 or 60 at 0.005 (0.956).

``--seed`` fixes the validation split, the weights and the batch order, so the
same seed prints the same output. ``--epochs`` shortens the run (for a quick
check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from anywhere: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from threadpoolctl import threadpool_limits

from scratchnn.data import train_val_split
from scratchnn.layers import LSTM, Dense
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.optimizers import AdamW
from scratchnn.schedules import make_schedule
from scratchnn.validation import check_random_state

EPOCHS = 30
BATCH = 16
HIDDEN = 64
WEIGHT_DECAY = 0.01
MAX_NORM = 1.0
#: The setting chosen on the validation split.
GRID = {"learning_rate": [0.01, 0.02]}


def load_vowels():
    """``(x_train, len_train, y_train, x_test, len_test, y_test)``, sequences padded to ``(N, 29, 12)``."""
    from sktime.datasets import load_japanese_vowels  # the data ship inside sktime: no download

    out = []
    for split in ("train", "test"):
        frame, labels = load_japanese_vowels(split=split, return_type="nested_univ")
        seqs = [
            np.stack([frame.iloc[i, c].to_numpy() for c in range(frame.shape[1])], axis=1)
            for i in range(len(frame))
        ]
        lengths = np.array([len(s) for s in seqs])
        x = np.zeros((len(seqs), 29, frame.shape[1]), dtype=np.float32)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = s
        out += [x, lengths, labels.astype(np.int64) - 1]
    return tuple(out)


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale ``grads`` in place to a global norm of at most ``max_norm``, as ``clip_grad_norm_`` in torch."""
    norm = float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / (norm + 1e-6)
    return norm


class Classifier:
    """LSTM -> last real step -> Dense, trained with softmax cross-entropy."""

    def __init__(self, hidden: int, rng: np.random.Generator) -> None:
        self.lstm = LSTM(12, hidden, return_sequences=False, seed=rng)
        self.head = Dense(hidden, 9, init="xavier", seed=rng)
        self.loss = SoftmaxCrossEntropy()
        self.params = self.lstm.params + self.head.params
        self.grads = self.lstm.grads + self.head.grads

    def forward(self, x: np.ndarray, lengths: np.ndarray, training: bool = False) -> np.ndarray:
        t = int(lengths.max())  # pad only to this batch's longest sequence
        self.lstm.set_lengths(lengths)
        return self.head.forward(self.lstm.forward(x[:, :t], training), training)

    def train_step(self, x, lengths, y, optimizer) -> float:
        loss = self.loss.forward(self.forward(x, lengths, training=True), y)
        self.lstm.backward(self.head.backward(self.loss.backward()), input_grad=False)
        clip_grad_norm(self.grads, MAX_NORM)
        optimizer.step(self.params, self.grads)
        return loss

    def accuracy(self, x, lengths, y) -> float:
        return float(np.mean(self.forward(x, lengths).argmax(axis=1) == y))


def fit(x, lengths, y, lr: float, epochs: int, seed: int) -> Classifier:
    """The classifier trained on ``(x, lengths, y)`` at peak learning rate ``lr``."""
    rng = check_random_state(seed)
    model = Classifier(HIDDEN, rng)
    optimizer = AdamW(lr, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = -(-len(x) // BATCH)
    schedule = make_schedule("warmup-cosine", epochs * steps_per_epoch)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start : start + BATCH]
            optimizer.learning_rate = schedule(step, lr)
            model.train_step(x[idx], lengths[idx], y[idx], optimizer)
            step += 1
    return model


def vowels(seed: int = 0, *, epochs: int = EPOCHS, log=print) -> float:
    """Choose the learning rate on validation, train on the whole training set; return test accuracy."""
    x_train, len_train, y_train, x_test, len_test, y_test = load_vowels()
    real = np.arange(x_train.shape[1])[None, :] < len_train[:, None]  # (N, T): real frames
    mean, std = x_train[real].mean(axis=0), x_train[real].std(axis=0)
    x_train = np.where(real[..., None], (x_train - mean) / std, 0).astype(np.float32)
    x_test = np.where(
        (np.arange(x_test.shape[1])[None, :] < len_test[:, None])[..., None], (x_test - mean) / std, 0
    ).astype(np.float32)
    fit_idx, val_idx, _, _ = train_val_split(np.arange(len(y_train)), y_train, val_size=0.2, seed=seed)
    log(
        f"JapaneseVowels: {len(y_train)} training sequences ({len(val_idx)} held out for validation "
        f"while choosing), {len(y_test)} test sequences, {len_train.min()}-{len_train.max()} frames"
    )
    # Small matrices gain nothing from BLAS threads; on a shared machine waiting threads cost more.
    with threadpool_limits(limits=1, user_api="blas"):
        scores = {}
        for lr in GRID["learning_rate"]:
            model = fit(x_train[fit_idx], len_train[fit_idx], y_train[fit_idx], lr, epochs, seed)
            scores[lr] = model.accuracy(x_train[val_idx], len_train[val_idx], y_train[val_idx])
            log(f"  learning_rate={lr}: validation accuracy {scores[lr]:.4f}")
        best = max(GRID["learning_rate"], key=lambda lr: (scores[lr], -lr))  # ties: the gentler rate
        log(f"Chosen on validation: {{'learning_rate': {best}}}")
        model = fit(x_train, len_train, y_train, best, epochs, seed)
        accuracy = model.accuracy(x_test, len_test, y_test)
    log(f"Final network: trained for {epochs} epochs on all {len(y_train)} training sequences")
    log(f"Test accuracy: {accuracy:.4f}")
    return accuracy


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed for the split and all training (default 0)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per run (default {EPOCHS})")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    return vowels(args.seed, epochs=args.epochs)


if __name__ == "__main__":
    main()
