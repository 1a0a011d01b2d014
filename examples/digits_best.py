"""A modern recipe for Digits: 99% test accuracy with one hidden layer, in seconds.

    python examples/digits_best.py [--seed S] [--epochs E]

The seed's pipeline (``main.py``: SGD, a constant learning rate, 20 epochs)
averages 97.9% test accuracy over seeds 0-4. This recipe averages 99.1%, ahead
of scikit-learn's RBF SVC (98.8%), with the pieces modern MLP training uses,
all of them part of scratchnn. In brackets: the mean test accuracy over seeds
0-4 of this whole script with that one piece changed (one test image is 0.28
points, so differences of 0.2 points are noise):

* **Label smoothing** (``label_smoothing=0.1``) [without: 98.3%]. The target
  is 90% the true class and 10% spread evenly over all ten. With one-hot
  targets, cross-entropy keeps pushing the logits apart long after every
  training image is right, which it can only do by growing the weights;
  smoothed targets are met at a finite margin, so the network stays less
  over-confident and the last epochs refine the boundary instead.
* **Linear warm-up then cosine decay** (``schedule="warmup-cosine"``)
  [constant rate: 98.4%; cosine without warm-up: 98.9%]. The learning rate
  rises from a tenth of its peak over the first 10% of the updates, while
  Adam's moment estimates are still noisy, then falls along a half cosine to
  zero. The high rate in the middle moves fast; the low tail lets the weights
  settle instead of bouncing around the minimum, as they do at a constant rate.
* **Decoupled weight decay** (``optimizer="adamw"``, ``weight_decay=0.05``)
  [without: 98.9%]. Every step shrinks the weights by ``lr * weight_decay * w``,
  which favours small weights and smooth decision boundaries. With Adam, an L2
  term added to the gradient would be divided by ``sqrt(v)`` like the rest of
  it, so weights with large gradients would hardly be regularised; AdamW
  applies the decay to the weights directly, at the same rate for all.
* **Dropout**, chosen on validation between 0 and 0.3 [always 0.3: 98.9%].
  While training, each step zeroes a random 30% of the hidden units (and
  scales the rest by ``1 / 0.7``, so test time needs no rescaling), so no unit
  can rely on another: the network learns redundant features. On Digits,
  with label smoothing and weight decay already in place, the validation
  split chooses no dropout on all five seeds, and forcing it does not help
  on the test set either. It earns its place on larger networks and data.
* **Width** (``hidden_units=512``) [128 units: 98.9%]. A wide layer has more
  features to start from and, with the regularisers above, does not overfit.
  128 units do about as well on average but vary more from seed to seed
  (standard deviation 0.6 points against 0.1); width is what to cut first
  when time matters.

With none of label smoothing, weight decay, dropout and the schedule (plain
Adam at a constant rate, the rest unchanged) the script averages 98.4%.

How the settings are chosen: a validation split (20%, stratified) is carved
out of the training set; the recipe is trained on the remaining 80% once per
dropout rate in ``GRID`` and scored on the validation split. The test set is
not looked at until the end. The final network is then trained with the
chosen rate on the **whole** training set (25% more images than the search
saw): its number of epochs is fixed by the recipe (the schedule is sized for
it), so it needs no validation data. Early stopping is not used: with a
cosine schedule, stopping early would cut off the low-rate tail.

Not used: standardising each pixel with the training mean and standard
deviation. The pixels are already on [0, 1]; standardising divides the edge
pixels, which are almost always 0, by a tiny standard deviation, so a stray
stroke there becomes a huge input. On validation splits it cost 0.6-0.7
points of accuracy.

``--seed`` fixes everything: the split, the validation split, the weights,
dropout's masks and the batch order, so the same seed prints the same output.
``--epochs`` shortens the run (for a quick check); the recipe is 60.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from anywhere: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _cli import arguments, parse  # examples/_cli.py, beside this script
from threadpoolctl import threadpool_limits

from scratchnn.data import load_digits_split, train_val_split
from scratchnn.hyperparameter_tuning import grid_search
from scratchnn.recipe.config import TrainingConfig
from scratchnn.recipe.train import train

#: The recipe; ``dropout`` is chosen from ``GRID`` on the validation split.
RECIPE = TrainingConfig(
    hidden_units=512,
    optimizer="adamw",
    learning_rate=0.01,
    weight_decay=0.05,
    dropout=0.0,
    label_smoothing=0.1,
    schedule="warmup-cosine",
    batch_size=32,
    epochs=60,
)

#: The settings chosen on the validation split.
GRID = {"dropout": [0.0, 0.3]}


def splits(seed: int, log=print) -> tuple[tuple, tuple]:
    """``(x_train, x_test, y_train, y_test)`` of ``load_digits_split(seed=seed)`` and
    ``(x_fit, x_val, y_fit, y_val)``, the training rows with 20% held out (stratified) for validation.
    """
    x_train, x_test, y_train, y_test = load_digits_split(seed=seed)
    x_fit, x_val, y_fit, y_val = train_val_split(x_train, y_train, val_size=0.2, seed=seed)
    log(
        f"Digits: {len(x_train)} training rows ({len(x_val)} held out for validation "
        f"while choosing), {len(x_test)} test rows"
    )
    return (x_train, x_test, y_train, y_test), (x_fit, x_val, y_fit, y_val)


def digits_best(seed: int = 0, *, epochs: int = RECIPE.epochs, log=print) -> float:
    """Choose settings on a validation split, train on the whole training set; return test accuracy.

    ``seed`` fixes the test split (``load_digits_split(seed=seed)``), the
    validation split, the search and the final training. ``log`` receives
    each line of the report (``print`` by default; pass ``lambda line: None``
    to silence it).
    """
    (x_train, x_test, y_train, y_test), (x_fit, x_val, y_fit, y_val) = splits(seed, log)
    base = RECIPE.replace(epochs=epochs)
    # Tiny matrices gain nothing from BLAS threads, and on a shared machine
    # threads waiting for each other cost more than they save.
    with threadpool_limits(limits=1, user_api="blas"):
        result = grid_search(
            x_fit, y_fit, x_val, y_val, grid=GRID, epochs=epochs, seed=seed, base=base, n_classes=10
        )
        for row in result.results:
            settings = ", ".join(f"{k}={row[k]}" for k in GRID)
            log(f"  {settings}: validation accuracy {row['val_accuracy']:.4f}")
        log(f"Chosen on validation: {result.best_params}")
        config = base.replace(**result.best_params)
        network, _ = train(config, x_train, y_train, n_outputs=10, seed=seed)
    accuracy = network.accuracy(x_test, y_test)
    log(f"Final network: trained for {config.epochs} epochs on all {len(x_train)} training rows")
    log(f"Test accuracy: {accuracy:.4f}")
    return accuracy


def main(argv: list[str] | None = None) -> float:
    parser = arguments(__doc__, epochs=RECIPE.epochs, seed_help="seed for the split and all training")
    args = parse(parser, argv)
    return digits_best(args.seed, epochs=args.epochs)


if __name__ == "__main__":
    main()
