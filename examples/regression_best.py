"""A tuned regression recipe: settings chosen on validation folds, then an average of networks.

    python examples/regression_best.py [--data diabetes|friedman1] [--seed S] [--quick]

``ScratchNNRegressor()`` with its defaults is one network with one amount of regularisation for
every data set. This recipe chooses the regularisation for the data at hand and averages away the
noise of a single network:

* **Weight decay and dropout, chosen on validation.** The training rows are cut into three folds,
  twice over (``N_REPEATS`` shuffles); for each setting of ``GRID`` a network is trained on two
  folds and scored by R² on the third. The choice follows the one-standard-error rule: the most
  regularised setting whose mean validation R² is within one standard error of the best mean
  (validation scores of a few hundred rows are noisy, and among settings they cannot tell apart
  the simplest generalises best). The test rows are never looked at. Diabetes (353 training rows,
  a noisy, almost linear target) ends with strong decay and dropout; friedman1 (1600 rows, a
  smooth non-linear target, scores that vary little) with weak decay.
* **tanh, one wide layer, Adam with a cosine schedule.** tanh suits the smooth targets of both
  (friedman1 is built from a sine and polynomials); the cosine schedule lets the last epochs settle
  instead of bouncing around the minimum as a constant rate does.
* **An average of five networks** (``N_MEMBERS``), refitted on all the training rows with the chosen
  setting and different seeds, for as many updates as the validated networks made (two thirds of
  the epochs: a fixed number of epochs over more rows would be more updates, which is not what was
  validated, and on diabetes overfits). Their errors are partly independent, so the average has
  less variance than any one of them.

The features are expected standardised (the benchmark does it on the training rows); the target is
standardised by each ``ScratchNNRegressor`` itself. ``benchmarks/regression.py`` runs this recipe on
the five splits of its table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scratchnn.sklearn import ScratchNNRegressor  # noqa: E402

#: What every network of the recipe shares.
BASE = dict(
    hidden_units=(256,), activation="tanh", optimizer="adam", learning_rate=0.003, batch_size=64,
    epochs=150, schedule="cosine",
)  # fmt: skip
#: The settings chosen between, from the least to the most regularised.
GRID = [
    {"weight_decay": 0.003, "dropout": 0.0},
    {"weight_decay": 0.006, "dropout": 0.0},
    {"weight_decay": 0.02, "dropout": 0.0},
    {"weight_decay": 0.05, "dropout": 0.1},
    {"weight_decay": 0.1, "dropout": 0.1},
    {"weight_decay": 0.1, "dropout": 0.2},
]
N_FOLDS = 3
N_REPEATS = 2
N_MEMBERS = 5


class RegressionBest:
    """``fit(X, y)`` chooses a setting of ``grid`` on validation folds of ``(X, y)`` and trains
    ``N_MEMBERS`` networks with it on all of ``(X, y)``; ``predict`` averages them."""

    def __init__(self, random_state: int = 0, grid=None, n_repeats: int = N_REPEATS, epochs=None, log=None):
        self.random_state = random_state
        self.grid = GRID if grid is None else grid
        self.n_repeats = n_repeats
        self.epochs = epochs
        self.log = log or (lambda line: None)

    def _network(self, setting: dict, seed: int) -> ScratchNNRegressor:
        params = {**BASE, **({} if self.epochs is None else {"epochs": self.epochs}), **setting}
        return ScratchNNRegressor(random_state=seed, **params)

    def fit(self, X, y) -> RegressionBest:
        from sklearn.model_selection import KFold

        scores = [[] for _ in self.grid]  # the validation R2 of each setting, fold after fold
        for repeat in range(self.n_repeats):
            folds = KFold(N_FOLDS, shuffle=True, random_state=self.random_state + repeat).split(X)
            for i, (fit, val) in enumerate(folds):
                seed = self.random_state + 1000 * repeat + 100 * i
                for j, setting in enumerate(self.grid):
                    net = self._network(setting, seed).fit(X[fit], y[fit])
                    scores[j].append(net.score(X[val], y[val]))
        self.log(
            f"{len(X)} training rows; {self.n_repeats} x {N_FOLDS} validation folds of the training rows"
        )
        for setting, s in zip(self.grid, scores):
            self.log(f"  {setting}: mean validation R2 {np.mean(s):.4f}")
        # The one-standard-error rule (Hastie, Tibshirani and Friedman, section 7.10): the most
        # regularised setting whose mean is within one standard error of the best mean. Validation
        # scores of a few hundred rows are noisy; among settings they cannot tell apart, the simplest
        # network generalises best.
        means = [float(np.mean(s)) for s in scores]
        top = int(np.argmax(means))
        standard_error = float(np.std(scores[top], ddof=1) / np.sqrt(len(scores[top])))
        chosen = max(j for j, m in enumerate(means) if m >= means[top] - standard_error)
        self.validation_r2_, self.setting_ = means[chosen], self.grid[chosen]
        # Refit on all the rows with as many updates as the validated networks made: a fixed
        # number of epochs over more rows would be more updates, which is not what was validated
        fold_rows = len(X) * (N_FOLDS - 1) / N_FOLDS
        epochs = max(1, round((self.epochs or BASE["epochs"]) * fold_rows / len(X)))
        self.log(f"chosen: {self.setting_}; {N_MEMBERS} networks of {epochs} epochs on all {len(X)} rows")
        seeds = np.random.SeedSequence(self.random_state).generate_state(N_MEMBERS)
        self.members_ = [
            self._network({**self.setting_, "epochs": epochs}, int(seed)).fit(X, y) for seed in seeds
        ]
        return self

    def predict(self, X) -> np.ndarray:
        return np.mean([m.predict(X) for m in self.members_], axis=0)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["diabetes", "friedman1"], default="diabetes")
    parser.add_argument("--seed", type=int, default=0, help="the split (as the benchmark's S) and the seeds")
    parser.add_argument(
        "--quick", action="store_true", help="10 epochs, two settings, two networks (a smoke run)"
    )
    args = parser.parse_args(argv)

    from benchmarks.regression import split

    x_train, x_test, y_train, y_test = split(args.data, args.seed)
    extra = dict(grid=GRID[:2], n_repeats=1, epochs=10) if args.quick else {}
    model = RegressionBest(random_state=args.seed, log=print, **extra).fit(x_train, y_train)
    pred = model.predict(x_test)
    r2 = 1.0 - float(np.sum((y_test - pred) ** 2) / np.sum((y_test - np.mean(y_test)) ** 2))
    print(f"Test R2: {r2:.4f}")
    return r2


if __name__ == "__main__":
    main()
