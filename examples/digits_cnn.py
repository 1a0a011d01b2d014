"""A convolutional network for Digits: 99.7% test accuracy from scratch in NumPy, in about 25 seconds.

    python examples/digits_cnn.py [--seed S] [--epochs E] [--jobs J]

Over seeds 0-4 this script averages 99.72% test accuracy (0.9972, 0.9972,
0.9972, 0.9944, 1.0000; none below 99.44%) on the build these figures were
measured on. The figures are per build: a seed fixes the run on one NumPy and
BLAS build, but another build sums in another order, and a test image or two
can go the other way (seed 0 gives 1.0000 on one such build), so expect the
mean within a few tenths of a point, not these exact numbers. That is against
99.1% for the best MLP (``examples/digits_best.py``) and 98.8% for
scikit-learn's RBF SVC. Each run
took 22.7-26.2 s on a 2-core machine (load average about 1; ``--jobs 2``), and
20.7-22.4 s on a faster one under load 4. The network, as a ``layers`` spec
(``scratchnn.recipe.spec``)::

    conv32k3p1-bn-relu-conv64k3p1-bn-relu-maxpool2-conv128k3p1-bn-relu-gap-dense

three 3x3 convolutions of 32, 64 and 128 channels (padding 1: 8x8, 8x8, then
4x4 after the max-pool), each followed by BatchNorm and ReLU, global average
pooling to 128 numbers, and a dense output over the ten classes. The settings
(``RECIPE``): AdamW at 0.003 with weight decay 0.01, label smoothing 0.1, a
linear warm-up then cosine schedule, 25 epochs of batches of 32.

What each piece is worth, in brackets: the mean (and lowest) test accuracy
over seeds 0-4 of the final training with that one piece changed, everything
else as in the recipe without shift augmentation (the choice validation makes
on four seeds of five); the recipe itself scores 99.78% (99.44%) there. One test
image is 0.28 points, so differences of 0.3 points are one image per seed.

* **Global average pooling** (``gap``) [flatten the 128x4x4 maps into the
  dense layer instead: 99.33% (99.17%)]. Averaging each map over the image
  keeps 128 numbers instead of 2048 and makes the output layer 16 times
  smaller; on 1437 training images the larger head overfits.
* **Label smoothing** 0.1 [without: 99.56% (99.17%)]. The targets are met at
  a finite margin, so the weights do not grow to push the logits apart once
  every training image is right.
* **Warm-up then cosine** (``schedule="warmup-cosine"``) [constant rate:
  99.56% (99.44%)]: the low tail lets the weights settle.
* **BatchNorm** after each convolution [without: 99.72% (99.17%)]: a little
  on average, more on the hardest split.
* **Weight decay** 0.01 (AdamW) [plain Adam, no decay: 99.78% (99.44%)]:
  nothing measurable on these splits; kept for its usual role on larger runs.
* **Epochs**: 25 [40 epochs: 99.78% (99.44%), the same accuracy on every
  seed at 1.6 times the time; 30 epochs: 99.83% (99.44%)].
* **Shift augmentation** (each training image moved by a random -1..1 pixel
  in each direction, a new draw every epoch, ``shifted``) [always on: 99.33%
  (98.61%)]. On 8x8 images one pixel is an eighth of the image, so shifted
  digits drift towards the border the classes differ by. Validation keeps it
  off on seeds 1-4 and turns it on for seed 0 (validation 99.31% against
  98.96%), where it costs one test image (99.72% against 100%).

How the settings are chosen: a validation split (20%, stratified) is carved
out of the training set; the recipe is trained on the remaining 80% once per
candidate in ``GRID`` (shift augmentation of at most 0 or 1 pixel) and scored
on the validation split, the candidates side by side in ``--jobs`` processes.
The test set is not looked at until the end. The final network is then trained
with the chosen candidate on the whole training set; its number of epochs is
fixed by the recipe (the schedule is sized for it), so it needs no validation
data and no early stopping.

``--seed`` fixes everything: the split, the validation split, the weights, the
shifts and the batch order, so the same seed prints the same output whatever
``--jobs`` is. ``--epochs`` shortens the run (for a quick check).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from anywhere: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _cli import arguments, parse  # examples/_cli.py, beside this script
from digits_best import splits  # the same splits as examples/digits_best.py, so the figures compare
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from scratchnn.recipe.config import TrainingConfig
from scratchnn.recipe.train import build
from scratchnn.validation import check_random_state

#: The image each Digits row holds.
SHAPE = (1, 8, 8)

#: The recipe; ``shift`` (augmentation) is chosen from ``GRID`` on the validation split.
RECIPE = TrainingConfig(
    layers="conv32k3p1-bn-relu-conv64k3p1-bn-relu-maxpool2-conv128k3p1-bn-relu-gap-dense",
    optimizer="adamw",
    learning_rate=0.003,
    weight_decay=0.01,
    label_smoothing=0.1,
    schedule="warmup-cosine",
    batch_size=32,
    epochs=25,
)

#: Shift augmentation: the largest random translation, in pixels, of each training image (0: none).
GRID = {"shift": [0, 1]}


def shifted(x: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each row of ``x (N, 64)`` as its 8x8 image moved by a random ``(dy, dx)`` in [-shift, shift]^2.

    Pixels moved in from outside the image are 0 (the background). One draw
    per image and epoch; ``shift=0`` returns ``x`` itself.
    """
    if shift == 0:
        return x
    n = x.shape[0]
    _, h, w = SHAPE
    padded = np.zeros((n, h + 2 * shift, w + 2 * shift), dtype=x.dtype)
    padded[:, shift : shift + h, shift : shift + w] = x.reshape(n, h, w)
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, n))
    out = np.empty((n, h, w), dtype=x.dtype)
    for oy in range(2 * shift + 1):  # one slice per offset, not per image
        for ox in range(2 * shift + 1):
            rows = np.flatnonzero((dy == oy) & (dx == ox))
            out[rows] = padded[rows, oy : oy + h, ox : ox + w]
    return out.reshape(n, h * w)


def fit(config: TrainingConfig, shift: int, x, y, seed) -> object:
    """Train ``config`` on ``(x, y)``, each epoch on freshly shifted images; return the network.

    The trainer runs one epoch per call on that epoch's images; its step
    counter carries the learning-rate schedule (sized for all the epochs) and
    the optimizer keeps its moments from call to call.
    """
    rng = check_random_state(seed)
    network, trainer = build(config, x.shape[1], 10, seed=rng, n_train=len(x), input_shape=SHAPE)
    for _ in range(config.epochs):
        trainer.fit(shifted(x, shift, rng), y, epochs=1, verbose=False)
    return network


def _validation_score(config, shift, x_fit, y_fit, x_val, y_val, seed) -> float:
    with threadpool_limits(limits=1, user_api="blas"):
        return fit(config, shift, x_fit, y_fit, seed).accuracy(x_val, y_val)


def digits_cnn(seed: int = 0, *, epochs: int = RECIPE.epochs, jobs: int = 2, log=print) -> float:
    """Choose the augmentation on a validation split, train on the whole training set; return test accuracy.

    ``seed`` fixes the test split (``load_digits_split(seed=seed)``), the
    validation split, the weights, the shifts and the batch order; ``jobs``
    (processes for the candidates) changes only the time it takes.
    """
    (x_train, x_test, y_train, y_test), (x_fit, x_val, y_fit, y_val) = splits(seed, log)
    config = RECIPE.replace(epochs=epochs)
    log(f"Network: {config.layers}")
    seeds = np.random.SeedSequence(seed).spawn(len(GRID["shift"]) + 1)
    # The candidates train side by side, one process per core, each on one BLAS
    # thread: small matrices gain little from more threads, and on a shared
    # machine threads waiting for each other cost more than they save.
    runs = Parallel(n_jobs=min(jobs, len(GRID["shift"])))(
        delayed(_validation_score)(config, shift, x_fit, y_fit, x_val, y_val, s)
        for shift, s in zip(GRID["shift"], seeds)
    )
    scores = dict(zip(GRID["shift"], runs))
    for shift, score in scores.items():
        log(f"  shift={shift}: validation accuracy {score:.4f}")
    best = max(GRID["shift"], key=lambda v: (scores[v], -v))  # ties: the simpler recipe
    log(f"Chosen on validation: {{'shift': {best}}}")
    with threadpool_limits(limits=1, user_api="blas"):
        network = fit(config, best, x_train, y_train, seeds[-1])
    accuracy = network.accuracy(x_test, y_test)
    log(f"Final network: trained for {config.epochs} epochs on all {len(x_train)} training rows")
    log(f"Test accuracy: {accuracy:.4f}")
    return accuracy


def main(argv: list[str] | None = None) -> float:
    parser = arguments(__doc__, epochs=RECIPE.epochs, seed_help="seed for the split and all training")
    parser.add_argument(
        "--jobs", type=int, default=2, help="processes training the candidates side by side (default 2)"
    )
    args = parse(parser, argv, positive=("epochs", "jobs"))
    return digits_cnn(args.seed, epochs=args.epochs, jobs=args.jobs)


if __name__ == "__main__":
    main()
