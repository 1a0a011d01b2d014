"""The seed's pipeline: tune on a validation split, train, report test accuracy.

1. Load scikit-learn's Digits, scale pixels to [0, 1], split into train and test.
2. Carve a stratified validation split out of the training set.
3. Grid-search learning rate, batch size and hidden units on that split
   (never on the test set).
4. Train the final network with the best settings on the whole training set
   for 20 epochs, printing the loss and test accuracy each epoch.

    python main.py [--seed N]

The same seed prints the same output, digit for digit.
"""

from __future__ import annotations

import argparse

from scratchnn.data import load_digits_split, train_val_split
from scratchnn.hyperparameter_tuning import grid_search
from scratchnn.recipe.config import TrainingConfig
from scratchnn.recipe.train import build

EPOCHS = 20
TUNING_EPOCHS = 5


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed", type=int, default=42, help="seed for the split, the search and training (default 42)"
    )
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")

    x_train, x_test, y_train, y_test = load_digits_split(test_size=0.2, seed=args.seed)
    x_fit, x_val, y_fit, y_val = train_val_split(x_train, y_train, val_size=0.2, seed=args.seed)
    print(
        f"Digits: {len(x_train)} training rows ({len(x_val)} held out for validation), "
        f"{len(x_test)} test rows"
    )

    result = grid_search(x_fit, y_fit, x_val, y_val, epochs=TUNING_EPOCHS, seed=args.seed)
    print(f"Tried {len(result.results)} combinations for {TUNING_EPOCHS} epochs each.")
    print("Best hyperparameters:")
    print(result.best_params)
    print(f"Best validation accuracy: {result.best_score:.4f}")

    config = TrainingConfig(**result.best_params, epochs=EPOCHS)
    network, trainer = build(config, x_train.shape[1], 10, seed=args.seed)
    trainer.fit(x_train, y_train, epochs=EPOCHS, x_test=x_test, y_test=y_test, verbose=True)
    accuracy = network.accuracy(x_test, y_test)
    print(f"Final test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
