"""Accuracy table: scratchnn's two Digits recipes against three scikit-learn classics.

    python benchmarks/accuracy.py                      # seeds 0-4; writes benchmarks/RESULTS.md
    python benchmarks/accuracy.py --seeds 0 --methods digits_best,logistic --output /tmp/r.md

For every seed S, each method gets the same stratified 80/20 split,
``scratchnn.data.load_digits_split(seed=S)`` (1437 training and 360 test rows,
pixels scaled to [0, 1]), and is scored on its test rows:

* ``main.py``: the seed pipeline, ``main.main(["--seed", S])`` (a 27-trial grid
  search of 5 epochs each on a validation split, then SGD for 20 epochs);
* ``examples/digits_best.py``: the modern recipe (dropout chosen on a
  validation split, AdamW, label smoothing, warm-up + cosine, 60 epochs);
* scikit-learn's ``MLPClassifier()`` with its defaults (``random_state=S``);
* ``LogisticRegression(max_iter=5000)``;
* ``SVC()``, an RBF support-vector machine with its defaults.

The time is the wall-clock time of one run: for the two scratchnn recipes the
whole call, including their search on the validation split; for scikit-learn
the ``fit``. Every method runs with BLAS and OpenMP limited to one thread: the
matrices are small, and on a shared machine threads that wait for each other
made ``MLPClassifier`` over ten times slower. The table goes between the
markers ``<!-- accuracy:start -->`` and ``<!-- accuracy:end -->`` of the output
file (created, or the section appended, if absent); the rest of the file is
left alone.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks import measuring, tables  # noqa: E402
from benchmarks.sections import replace_section  # noqa: E402
from scratchnn.data import load_digits_split  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"


def run_main(seed: int, epochs: int | None) -> float:
    """The seed pipeline, exactly as ``python main.py --seed S`` runs it, with its output silenced."""
    import main

    with contextlib.redirect_stdout(io.StringIO()):
        return main.main(["--seed", str(seed)])


def run_digits_best(seed: int, epochs: int | None) -> float:
    """``examples/digits_best.py --seed S`` (``epochs`` shortens it, for a quick check)."""
    import digits_best

    kwargs = {} if epochs is None else {"epochs": epochs}
    return digits_best.digits_best(seed, log=lambda line: None, **kwargs)


def sklearn_runner(make):
    """A runner that fits ``make(seed)`` on the seed's training rows and scores its test rows."""

    def run(seed: int, epochs: int | None) -> tuple[float, float]:
        from sklearn.exceptions import ConvergenceWarning

        x_train, x_test, y_train, y_test = load_digits_split(seed=seed)
        model = make(seed)
        start = time.perf_counter()
        with warnings.catch_warnings():
            # MLPClassifier's default 200 iterations end with this warning on some splits;
            # the defaults are what is being measured.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        elapsed = time.perf_counter() - start
        return float(np.mean(model.predict(x_test) == y_test)), elapsed

    return run


def _mlp(seed):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed)


def _logistic(seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=5000)


def _svc(seed):
    from sklearn.svm import SVC

    return SVC()


#: name -> (label in the table, runner). A runner returns the accuracy, or (accuracy, seconds)
#: when only part of the call is to be timed.
METHODS = {
    "main": ("scratchnn, seed recipe (`main.py`)", run_main),
    "digits_best": ("scratchnn, `examples/digits_best.py`", run_digits_best),
    "mlp": ("scikit-learn `MLPClassifier()` (defaults)", sklearn_runner(_mlp)),
    "logistic": ("scikit-learn `LogisticRegression(max_iter=5000)`", sklearn_runner(_logistic)),
    "svc": ("scikit-learn `SVC()` (RBF kernel)", sklearn_runner(_svc)),
}


def measure(methods: list[str], seeds: list[int], epochs: int | None = None, progress=None) -> dict:
    """``{method: {"accuracy": [per seed], "seconds": [per seed]}}``."""
    from threadpoolctl import threadpool_limits

    results = {m: {"accuracy": [], "seconds": []} for m in methods}
    for seed in seeds:
        for m in methods:
            start = time.perf_counter()
            with threadpool_limits(limits=1):
                out = METHODS[m][1](seed, epochs)
            accuracy, seconds = out if isinstance(out, tuple) else (out, time.perf_counter() - start)
            results[m]["accuracy"].append(float(accuracy))
            results[m]["seconds"].append(seconds)
            if progress is not None:
                progress(f"seed {seed}  {m:12s} accuracy {accuracy:.4f}  {seconds:6.2f} s")
    return results


def report(results: dict, seeds: list[int], info: dict) -> str:
    """The markdown section: how it was measured, then one row per method."""
    seed_cols = " | ".join(f"seed {s}" for s in seeds)
    lines = [
        "## Accuracy on Digits",
        "",
        f"Test accuracy on `load_digits_split(seed=S)` (stratified 80/20: 1437 training, 360 test rows), "
        f"S = {', '.join(map(str, seeds))}. Mean and sample standard deviation over the seeds; time is the "
        "mean wall-clock time of one run (scratchnn: the whole recipe, including its search on a "
        "validation split carved from the training rows; scikit-learn: `fit`), with BLAS and OpenMP "
        "limited to one thread for every method.",
        "",
        f"{tables.generated(info)} (shared machine).",
        "",
        f"| method | mean | std | {seed_cols} | time per run (s) |",
        tables.separator(len(seeds)),
    ]
    for m, r in results.items():
        lines.append(tables.score_row(METHODS[m][0], r["accuracy"], r["seconds"], digits=4))
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the accuracy markers of ``path`` (or append it), leaving the rest alone."""
    replace_section(path, START, END, section)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = tables.arguments(__doc__, METHODS)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="shorten examples/digits_best.py to this many epochs (a quick check; default: its recipe)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write the table into")
    args = parser.parse_args(argv)
    methods = tables.chosen_methods(parser, args.methods, METHODS)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")

    info = tables.provenance("benchmarks/accuracy.py", argv)
    results = measure(methods, args.seeds, args.epochs, progress=print)
    info["load_after"] = measuring.loadavg()
    section = report(results, args.seeds, info)
    print(section)
    write_section(args.output, section)
    print(f"Wrote the accuracy section of {args.output}")
    return results


if __name__ == "__main__":
    main()
