"""What the commands report for a numeric target: R2, MAE and RMSE, against predicting the training mean.

A number means little alone: an RMSE of 53 is good or bad depending on the
spread of the target. So every score comes with the same score of the
baseline that predicts the training rows' mean for every row (R2 about 0):
a network that does not beat it has learned nothing. Predictions are in the
target's own units: the network is trained on the standardised target
(``data.TargetScaler``, fitted on the training rows and stored with the
model), and its outputs are mapped back through ``inverse_transform``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .. import plots
from ..metrics import mean_absolute_error, r2_score, root_mean_squared_error
from . import outputs
from .errors import from_user, one_line


def metrics(y_true, y_pred) -> dict:
    """``{"r2", "mae", "rmse"}`` of predictions ``y_pred`` against ``y_true`` (both ``(N,)``).

    ``r2 = 1 - sum((y - p)^2) / sum((y - mean(y))^2)`` (``scratchnn.metrics.r2_score``;
    1 is perfect, 0 is as good as predicting the mean of ``y_true``),
    ``mae = mean(|y - p|)``, ``rmse = sqrt(mean((y - p)^2))``.
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    return {
        "r2": r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan"),
        "mae": mean_absolute_error(y_true, y_pred),
        "rmse": root_mean_squared_error(y_true, y_pred),
    }


def predict(network, x: np.ndarray, target_scaler) -> np.ndarray:
    """Predictions ``(N,)`` in the target's units for scaled features ``x``."""
    return np.asarray(target_scaler.inverse_transform(network.predict(x)), dtype=np.float64).reshape(len(x))


def scores(network, x, y_true, target_scaler) -> dict:
    """``metrics`` of the network and of the training-mean baseline on rows ``x``, ``y_true`` (units)."""
    baseline = np.full(len(y_true), float(np.ravel(target_scaler.mean)[0]))
    return {
        "model": metrics(y_true, predict(network, x, target_scaler)),
        "baseline": metrics(y_true, baseline),
        "n_rows": len(y_true),
    }


def _line(s: dict) -> str:
    return f"R2 {s['r2']:.4f}, MAE {s['mae']:#.4g}, RMSE {s['rmse']:#.4g}"  # '#': 60.00, not 60


def lines(s: dict, which: str) -> list[str]:
    """The report of ``scores(...)`` for the rows described by ``which``."""
    return [
        f"{which}: {_line(s['model'])} ({s['n_rows']} rows)",
        f"Predicting the training mean instead: {_line(s['baseline'])}",
    ]


def result(network, prep) -> dict:
    """What ``train`` records about a regression model: the scores on the validation and test rows."""
    out = {}
    for split in ("val", "test"):
        rows = getattr(prep, split)
        if len(rows):
            s = scores(network, prep.x[rows], prep.targets[rows], prep.target_scaler)
            out[f"{split}_r2"] = s["model"]["r2"]
            out[f"{split}_mae"] = s["model"]["mae"]
            out[f"{split}_rmse"] = s["model"]["rmse"]
            out[f"{split}_baseline"] = s["baseline"]
    return out


def report(network, prep) -> list[str]:
    """``train``'s closing lines: the scores on the test rows (else validation, else training rows)."""
    for split, which in (("test", "Test"), ("val", "Validation"), ("train", "Training")):
        rows = getattr(prep, split)
        if len(rows):
            s = scores(network, prep.x[rows], prep.targets[rows], prep.target_scaler)
            name = {"test": "held-out test rows", "val": "validation rows"}.get(split, "training rows")
            return lines(s, f"{which} ({name})")
    return []  # pragma: no cover (a prepared data set always has training rows)


def write_plots(y_true, y_pred, paths: list[str], which: str) -> list[str]:
    """Predicted against actual values, and the residuals, of the rows ``which``, at ``paths``."""
    m = metrics(y_true, y_pred)
    plots.predicted_vs_actual(
        y_true, y_pred, paths[0], title=f"Predicted against actual ({which})", metrics=_line(m)
    )
    plots.residuals(y_true, y_pred, paths[1], title=f"Residuals ({which})")
    return paths


def training_plots(network, prep, folder) -> list[str]:
    """The two plots for ``train``, on the test rows (else validation, else training rows)."""
    split = next(s for s in ("test", "val", "train") if len(getattr(prep, s)))
    rows = getattr(prep, split)
    y_pred = predict(network, prep.x[rows], prep.target_scaler)
    paths = [folder.path(name) for name in outputs.REGRESSION_PLOTS]
    return write_plots(prep.targets[rows], y_pred, paths, f"{len(rows)} {split} rows")


def format_predictions(values: np.ndarray) -> list[str]:
    """Each prediction as the shortest text that reads back as the same float64 (``repr``)."""
    return [repr(float(v)) for v in values]


def evaluate(args, model, rows_to_score) -> int:
    """``scratchnn evaluate`` of a regression model (a ``Predictor``): the scores, the baseline's, and
    the two plots."""
    from ..tasks import choose_task
    from . import common

    with from_user():  # the data and its columns are the user's to fix
        ds = model.read_source(args.data, args.target)
        x = ds.select(model.metadata.get("feature_names"))
        features = model.features(ds, args.unknown_categories)
        choose_task(ds.labels, "regression", target=ds.target, source=ds.name, lines=ds.lines)
    y = np.asarray(ds.labels, dtype=np.float64)
    rows, which = rows_to_score(args, model.metadata, ds, x, y)
    with from_user():
        scaled = model.inputs(features[rows])
    s = scores(model.network, scaled, y[rows], model.target_scaler)
    if args.quiet:
        scope = "the held-out test split" if len(rows) < len(y) else "all rows"
        print(f"R2: {s['model']['r2']:.4f} on {len(rows)} rows ({scope})")
    else:
        print(f"Evaluated on {which}")
        print("\n".join(lines(s, "Model")))
        print()
    out = common.plots_dir(args)
    names = outputs.REGRESSION_PLOTS_EVALUATE
    paths = [os.path.join(out, name) for name in names]
    inputs = {"the model": args.model, "the --data file": args.data if os.path.isfile(args.data) else None}
    y_pred = model.predict_inputs(scaled)
    try:
        for path in paths:
            outputs.check_output(path, "--out", inputs, force=args.force)
        written = write_plots(y[rows], y_pred, paths, f"{len(rows)} rows")
        outputs.record(out, names, "evaluate")
    except OSError as exc:  # the scores above stand; only the plots are missing
        print(f"warning: could not write the plots: {one_line(exc)}; use --out DIR", file=sys.stderr)
        return 0
    common.say(args, "Wrote " + ", ".join(written))
    return 0
