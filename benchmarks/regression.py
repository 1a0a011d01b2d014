"""Regression table: ScratchNNRegressor and its tuned recipe against four scikit-learn regressors.

    python benchmarks/regression.py                    # splits S = 0-4; writes benchmarks/RESULTS.md
    python benchmarks/regression.py --seeds 0 --methods scratchnn,ridge --output /tmp/r.md

Two data sets: scikit-learn's ``load_diabetes`` (442 rows, 10 features) and
``make_friedman1(n_samples=2000, noise=1.0, random_state=0)`` (10 features, 5 of them noise; the
noise caps R² near 0.96). For every split S each method gets the same shuffled 80/20 split,
``train_test_split(X, y, test_size=0.2, random_state=S)``, with the features standardised by a
``StandardScaler`` fitted on the training rows, and is scored by R² on the test rows:

* ``ScratchNNRegressor(random_state=S)`` with its defaults;
* ``examples/regression_best.py``: weight decay and dropout chosen on validation folds of the
  training rows (never the test rows), predicting with the average of the validated networks;
* ``MLPRegressor(max_iter=2000, random_state=S)`` and ``MLPRegressor(random_state=S)`` (its defaults
  stop before converging on the raw target, and warn so);
* ``RidgeCV()`` and ``HistGradientBoostingRegressor(random_state=S)``.

The time is the wall-clock time of ``fit`` (for the recipe: its whole search), with BLAS
and OpenMP limited to one thread for every method (the matrices are small; on a shared machine
threads only wait for each other). The table goes between the markers ``<!-- regression:start -->``
and ``<!-- regression:end -->`` of the output file; the rest of the file is left alone.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks import measuring, tables  # noqa: E402
from benchmarks.sections import replace_section  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- regression:start -->", "<!-- regression:end -->"


def load(name: str):
    """``(X, y)`` of one of the two data sets."""
    from sklearn.datasets import load_diabetes, make_friedman1

    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    if name == "friedman1":
        return make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    raise ValueError(f"unknown data set {name!r}; expected diabetes or friedman1")


def split(name: str, seed: int):
    """Split S of ``name``: ``(x_train, x_test, y_train, y_test)``, standardised on the training rows."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load(name)
    x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def _scratchnn(seed):
    from scratchnn.sklearn import ScratchNNRegressor

    return ScratchNNRegressor(random_state=seed)


def _best(seed):
    import regression_best

    return regression_best.RegressionBest(random_state=seed)


def _mlp_2000(seed):
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(max_iter=2000, random_state=seed)


def _mlp(seed):
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(random_state=seed)


def _ridge(seed):
    from sklearn.linear_model import RidgeCV

    return RidgeCV()


def _hgb(seed):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed)


#: name -> (label in the table, factory of the model for split S)
METHODS = {
    "scratchnn": ("scratchnn `ScratchNNRegressor()` (defaults)", _scratchnn),
    "best": ("scratchnn `examples/regression_best.py`", _best),
    "mlp2000": ("scikit-learn `MLPRegressor(max_iter=2000)`", _mlp_2000),
    "mlp": ("scikit-learn `MLPRegressor()` (defaults)", _mlp),
    "ridge": ("scikit-learn `RidgeCV()`", _ridge),
    "hgb": ("scikit-learn `HistGradientBoostingRegressor()`", _hgb),
}
DATASETS = ("diabetes", "friedman1")


def measure(methods: list[str], seeds: list[int], datasets=DATASETS, progress=None) -> dict:
    """``{dataset: {method: {"r2": [per split], "seconds": [per split]}}}``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from threadpoolctl import threadpool_limits

    results = {d: {m: {"r2": [], "seconds": []} for m in methods} for d in datasets}
    for d in datasets:
        for seed in seeds:
            x_train, x_test, y_train, y_test = split(d, seed)
            for m in methods:
                model = METHODS[m][1](seed)
                with threadpool_limits(limits=1), warnings.catch_warnings():
                    # MLPRegressor's defaults end with this warning; the defaults are what is measured
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(x_train, y_train)
                    seconds = time.perf_counter() - start
                    r2 = float(r2_score(y_test, model.predict(x_test)))
                results[d][m]["r2"].append(r2)
                results[d][m]["seconds"].append(seconds)
                if progress is not None:
                    progress(f"{d:9s} split {seed}  {m:9s} R² {r2:.4f}  {seconds:6.2f} s")
    return results


def report(results: dict, seeds: list[int], info: dict) -> str:
    """The markdown section: how it was measured, then one table per data set."""
    lines = [
        "## Regression: test R² on diabetes and friedman1",
        "",
        "Mean test R² over the shuffled 80/20 splits "
        f"`train_test_split(..., test_size=0.2, random_state=S)`, "
        f"S = {', '.join(map(str, seeds))}, features standardised on the training rows; `diabetes` is "
        "`load_diabetes()` (442 rows), `friedman1` is `make_friedman1(n_samples=2000, noise=1.0, "
        "random_state=0)`. Time: mean wall-clock seconds of one `fit` (the recipe: its whole search on "
        "validation folds of the training rows), BLAS and OpenMP on one thread for every method.",
        "",
        f"{tables.generated(info)} (shared machine, so times are comparable within one table, "
        "not across runs).",
    ]
    for d, by_method in results.items():
        split_cols = " | ".join(f"S={s}" for s in seeds)
        lines += [
            "",
            f"**{d}**",
            "",
            f"| method | mean R² | std | {split_cols} | fit time (s) |",
            tables.separator(len(seeds)),
        ]
        for m, r in by_method.items():
            lines.append(tables.score_row(METHODS[m][0], r["r2"], r["seconds"], digits=3))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = tables.arguments(__doc__, METHODS)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="diabetes, friedman1 or both")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write the table into")
    args = parser.parse_args(argv)
    methods = tables.chosen_methods(parser, args.methods, METHODS)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not datasets or any(d not in DATASETS for d in datasets):
        parser.error(f"--datasets must name data sets among {list(DATASETS)}, got {args.datasets!r}")

    info = tables.provenance("benchmarks/regression.py", argv)
    results = measure(methods, args.seeds, datasets, progress=print)
    info["load_after"] = measuring.loadavg()
    section = report(results, args.seeds, info)
    print(section)
    replace_section(args.output, START, END, section)
    print(f"Wrote the regression section of {args.output}")
    return results


if __name__ == "__main__":
    main()
