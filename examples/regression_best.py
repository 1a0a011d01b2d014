"""A tuned regression recipe: settings chosen on a validation split, then an average of networks.

    python examples/regression_best.py [--data diabetes|friedman1] [--seed S] [--quick]

``ScratchNNRegressor()`` with its defaults is one network with one amount of regularisation for
every data set. This recipe chooses the regularisation for the data at hand and averages away the
noise of a single network:

* **Weight decay and dropout, chosen on validation.** The training rows are cut into three folds;
  for each setting of ``GRID`` a network is trained on two folds and scored by R² on the third,
  three times, and the setting with the best mean validation R² wins (one split of 70 diabetes rows
  is too noisy to choose by). The test rows are never looked at. Diabetes (353 training rows, a
  noisy and almost linear target) picks strong decay; friedman1 (1600 rows, a smooth non-linear
  target) picks weak.
* **tanh, one wide layer, Adam with a cosine schedule.** tanh suits the smooth targets of both
  (friedman1 is built from a sine and polynomials); the cosine schedule lets the last epochs settle
  instead of bouncing around the minimum as a constant rate does.
* **An average of five networks** (``N_MEMBERS``), refitted on all the training rows with the chosen
  setting and different seeds: their errors are partly independent, so the average has less
  variance than any of them (worth about 0.01 of R² on diabetes).

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
#: The settings chosen between on the validation split.
GRID = [
    {"weight_decay": wd, "dropout": dropout} for wd in (0.003, 0.006, 0.02, 0.05) for dropout in (0.0, 0.1)
]
N_MEMBERS = 5
N_FOLDS = 3


class RegressionBest:
    """``fit(X, y)`` chooses a setting of ``grid`` on a validation split of ``(X, y)`` and trains
    ``n_members`` networks with it on all of ``(X, y)``; ``predict`` averages them."""

    def __init__(self, random_state: int = 0, grid=None, n_members: int = N_MEMBERS, epochs=None, log=None):
        self.random_state = random_state
        self.grid = GRID if grid is None else grid
        self.n_members = n_members
        self.epochs = epochs
        self.log = log or (lambda line: None)

    def _network(self, setting: dict, seed: int) -> ScratchNNRegressor:
        params = {**BASE, **setting}
        if self.epochs is not None:
            params["epochs"] = self.epochs
        return ScratchNNRegressor(random_state=seed, **params)

    def fit(self, X, y) -> RegressionBest:
        from sklearn.model_selection import KFold

        folds = list(KFold(N_FOLDS, shuffle=True, random_state=self.random_state).split(X))
        self.log(f"{len(X)} training rows; {N_FOLDS} validation splits of {len(folds[0][1])} rows held out")
        scores = []
        for setting in self.grid:
            fold_scores = [
                self._network(setting, self.random_state).fit(X[fit], y[fit]).score(X[val], y[val])
                for fit, val in folds
            ]
            scores.append(float(np.mean(fold_scores)))
            self.log(f"  {setting}: mean validation R2 {scores[-1]:.4f}")
        self.setting_ = self.grid[int(np.argmax(scores))]
        self.validation_r2_ = max(scores)
        self.log(f"chosen: {self.setting_}; refitting {self.n_members} networks on all {len(X)} rows")
        seeds = np.random.SeedSequence(self.random_state).generate_state(self.n_members)
        self.members_ = [self._network(self.setting_, int(s)).fit(X, y) for s in seeds]
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
    extra = dict(grid=GRID[:2], n_members=2, epochs=10) if args.quick else {}
    model = RegressionBest(random_state=args.seed, log=print, **extra).fit(x_train, y_train)
    pred = model.predict(x_test)
    r2 = 1.0 - float(np.sum((y_test - pred) ** 2) / np.sum((y_test - np.mean(y_test)) ** 2))
    print(f"Test R2: {r2:.4f}")
    return r2


if __name__ == "__main__":
    main()
