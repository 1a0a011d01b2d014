"""Forecasting next month's sunspot number with an LSTM, against persistence and ARIMA.

    python examples/sunspots.py [--seed S] [--epochs E]

Data: the monthly mean sunspot numbers from January 1749 to June 2009 (3,126
months) that statsmodels ships inside its package, as the raw file
``statsmodels/datasets/sunspots/src/sunspots_monthly.dat`` (its loader,
``statsmodels.datasets.sunspots.load``, gives the *yearly* series, 1700-2008;
the monthly file sits beside it and is read here, offline).

The split is chronological: the last 20% of the months (625, from 1957 on
with the window) are the test set; the forecasts for them are one step ahead,
each from the true values before it. Three forecasters, scored by mean
absolute error on the same test months:

* persistence: next month equals this month;
* ARIMA(2, 1, 2) from statsmodels, fitted on the training months (the lowest
  AIC among (1,1,1), (2,1,2), (3,1,1) and (2,0,2)) and applied with those
  parameters to the whole series for one-step forecasts;
* an LSTM reading the last ``WINDOW`` months (scaled by 1/100)::

      window (N, W, 1) --LSTM(1, 32)--> last state (N, 32) --Dense--> next month (N, 1)

  trained with the mean absolute error (the score) by AdamW with warm-up and
  cosine decay, gradients clipped to a global norm of 1. The window length is
  chosen on a validation split, the last 15% of the training months; the
  final network is then trained on all training months.

``--seed`` fixes the weights and the batch order. ``--epochs`` shortens the
run (for a quick check).
"""

from __future__ import annotations

import importlib.resources
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script from anywhere: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _cli import arguments, parse  # examples/_cli.py, beside this script
from _lstm_head import LSTMHead, train  # examples/_lstm_head.py
from threadpoolctl import threadpool_limits

from scratchnn.losses import MeanAbsoluteError
from scratchnn.validation import check_random_state

EPOCHS = 20
BATCH = 32
HIDDEN = 32
LEARNING_RATE = 0.01
SCALE = 100.0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.15
ARIMA_ORDER = (2, 1, 2)
#: The setting chosen on the validation split.
GRID = {"window": [24, 48]}


def load_monthly_sunspots() -> np.ndarray:
    """The 3,126 monthly sunspot numbers (January 1749 - June 2009) bundled in statsmodels' package."""
    path = importlib.resources.files("statsmodels.datasets.sunspots") / "src" / "sunspots_monthly.dat"
    values = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 4 and fields[0].isdigit():  # "1749  58.0  62.6 ..." a year a row
            values += [float(v) for v in fields[1:]]
    return np.array(values)


def windows(series: np.ndarray, start: int, stop: int, window: int):
    """Inputs ``(M, window, 1)`` and targets ``(M, 1)`` for forecasting months ``start..stop-1``."""
    idx = np.arange(start, stop)
    x = series[idx[:, None] - window + np.arange(window)[None, :]]
    return x[:, :, None].astype(np.float32), series[idx, None].astype(np.float32)


def fit(x, y, epochs: int, seed: int) -> LSTMHead:
    """The forecaster (window -> LSTM(1, 32) -> Dense(1)) trained on ``(x, y)`` with the absolute error."""
    rng = check_random_state(seed)
    model = LSTMHead(1, HIDDEN, 1, MeanAbsoluteError(), rng)
    return train(
        model, x, y, learning_rate=LEARNING_RATE, weight_decay=0.01, epochs=epochs, batch_size=BATCH, rng=rng
    )


def arima_forecasts(series: np.ndarray, n_train: int) -> np.ndarray:
    """One-step ARIMA forecasts of months ``n_train..``, parameters fitted on the first ``n_train``."""
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        # the optimiser may warn that it stopped at its iteration limit; the fit is still used as is
        warnings.simplefilter("ignore")
        fitted = ARIMA(series[:n_train], order=ARIMA_ORDER).fit()
        return fitted.apply(series).predict(start=n_train, end=len(series) - 1)


def sunspots(seed: int = 0, *, epochs: int = EPOCHS, log=print) -> float:
    """Choose the window on validation, train on all training months; return the test MAE."""
    series = load_monthly_sunspots()
    scaled = series / SCALE
    n = len(series)
    n_train = n - round(n * TEST_FRACTION)
    n_fit = n_train - round(n_train * VAL_FRACTION)
    first = max(GRID["window"])  # every forecaster starts at the same month, whatever its window
    log(
        f"Monthly sunspots: {n} months; forecasting months {first}-{n_fit - 1} to fit, "
        f"{n_fit}-{n_train - 1} to validate, {n_train}-{n - 1} to test ({n - n_train} months)"
    )
    with threadpool_limits(limits=1, user_api="blas"):
        scores = {}
        for window in GRID["window"]:
            model = fit(*windows(scaled, first, n_fit, window), epochs, seed)
            x_val, y_val = windows(scaled, n_fit, n_train, window)
            scores[window] = float(np.mean(np.abs(model.forward(x_val) - y_val))) * SCALE
            log(f"  window={window}: validation MAE {scores[window]:.2f}")
        best = min(GRID["window"], key=lambda w: (scores[w], w))
        log(f"Chosen on validation: {{'window': {best}}}")
        model = fit(*windows(scaled, first, n_train, best), epochs, seed)
        x_test, y_test = windows(scaled, n_train, n, best)
        mae = float(np.mean(np.abs(model.forward(x_test) - y_test))) * SCALE
    test = series[n_train:]
    persistence = float(np.mean(np.abs(test - series[n_train - 1 : -1])))
    arima = float(np.mean(np.abs(test - arima_forecasts(series, n_train))))
    log(f"Final network: trained for {epochs} epochs on months {first}-{n_train - 1}")
    log(f"Test MAE: {mae:.2f} (persistence {persistence:.2f}, ARIMA {arima:.2f})")
    return mae


def main(argv: list[str] | None = None) -> float:
    parser = arguments(__doc__, epochs=EPOCHS, seed_help="seed for the weights and batches")
    args = parse(parser, argv)
    return sunspots(args.seed, epochs=args.epochs)


if __name__ == "__main__":
    main()
