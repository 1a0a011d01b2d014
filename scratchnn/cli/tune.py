"""``scratchnn tune``: grid-search settings on a validation split, then train and save the best."""

from __future__ import annotations

import os
import sys

from ..data.text import is_text_source
from ..hyperparameter_tuning import (
    DEFAULT_GRID,
    SchedulerError,
    available_cores,
    check_grid,
    check_scheduler,
    grid_search,
)
from ..losses import TASKS
from ..recipe.config import SETTINGS_BY_NAME
from ..tuning.files import METRICS, ResumeError, format_value, parse_grid, record_path
from . import common, options, outputs, sequences, tables, text
from .errors import Interrupted, UserError, from_user
from .train import data_inputs, fit_and_save

HELP = "grid-search settings on a validation split, then train the best"
DESCRIPTION = "Grid-search training settings on a validation split of SOURCE, then train and save the best."
EPILOG = f"""\
{options.grid_help()}
  "learning_rate=0.05,0.1,0.2;batch_size=8,16,32;hidden_units=64,128,256"

Writes DIR/results.csv (one row per trial, written as each trial finishes;
status ok or diverged), DIR/tuning_heatmap.png (learning rate x hidden units,
best batch size in each cell), and the best settings trained and saved as
'train' does (model.npz, history.json, plots). After Ctrl-C, run the same
command with --resume to run only the trials not yet in results.csv. DIR must
be new or empty, or hold an earlier run: --resume continues its search,
--force replaces it. --jobs above the number of cores runs one trial per core.

examples:
  scratchnn tune --data iris --grid "learning_rate=0.01,0.1;hidden_units=16,32" --out runs/iris-tune
  scratchnn tune --data digits --optimizer adam --out runs/cnn-tune \
      --grid "layers=conv16k3p1-relu-gap-dense,conv32k3p1-bn-relu-maxpool2-dense;learning_rate=0.003,0.01"
"""


def add_arguments(parser) -> None:
    options.add_data(parser)
    options.add_image_shape(parser)
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="directory for results.csv, the heatmap and the model"
    )
    parser.add_argument(
        "--grid",
        metavar="SPEC",
        action="append",
        help="the settings to search (see below); may be given more than once",
    )
    options.add_table(parser)
    parser.add_argument(
        "--jobs",
        type=options.nonzero_int,
        default=1,
        metavar="N",
        help="trials run in parallel on this machine, at most one per core; -1 uses every core "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the trials on a Dask cluster at this scheduler address (needs dask[distributed])",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the trials already in DIR/results.csv (from an interrupted run of the same search) "
        "and run only the rest",
    )
    options.add_split(parser, val_use=" and the score that picks the grid's best settings")
    group = parser.add_argument_group(
        "network and training (the base settings; --grid overrides the ones it names)"
    )
    trial_epochs = {"default": 5, "help": "epochs of each trial (default: %(default)s)"}
    options.add_training(group, overrides={"epochs": trial_epochs})
    group.add_argument(
        "--final-epochs",
        type=options.positive_int,
        default=None,
        metavar="N",
        help="epochs of the final training of the best settings "
        f"(default: train's, {options.default_help('epochs', SETTINGS_BY_NAME['epochs'].default)})",
    )
    text.add_arguments(
        parser.add_argument_group(
            "a language model on a text file (SOURCE ending in .txt): each trial runs --iters steps, "
            "else --epochs passes"
        )
    )
    options.add_force(parser, "the earlier run in DIR, its results.csv included")
    options.add_common(parser)


def _trial_line(done: int, total: int, row: dict) -> str:
    settings = ", ".join(f"{k}={format_value(row[k])}" for k in row if k not in (*METRICS, "val_r2"))
    if row["status"] != "ok":
        return f"Trial {done}/{total} | {settings} | {row['status']}"
    if row.get("val_r2") is not None:  # a regression trial
        scores = f"Val Loss: {row['val_loss']:.4f} | Val R2: {row['val_r2']:.4f}"
        return f"Trial {done}/{total} | {settings} | {scores}"
    return (
        f"Trial {done}/{total} | {settings} | "
        f"Val Loss: {row['val_loss']:.4f} | Val Acc: {row['val_accuracy']:.4f}"
    )


def run(args) -> int:
    if sequences.is_sequence_source(args.data):
        return sequences.tune(args)
    if is_text_source(args.data):
        return text.tune(args)
    try:
        grid = parse_grid(";".join(args.grid)) if args.grid else DEFAULT_GRID
    except ValueError as exc:
        raise UserError(str(exc)) from None
    base = common.config_from_args(args)
    with from_user():
        combos = check_grid(grid, base)  # every value checked before any data is read
    n_trials = len(combos)
    if args.val_fraction == 0:
        raise UserError("tune chooses settings on a validation split: set --val-fraction above 0")
    if args.scheduler is None and args.jobs > available_cores():
        print(
            f"note: --jobs {args.jobs} is more than the {available_cores()} cores of this machine; "
            f"running {available_cores()} trials at a time",
            file=sys.stderr,
        )
    if args.scheduler is not None:
        check_scheduler_option(args.scheduler)  # before any data is read: the address may be wrong
    ds, prep, why = tables.read_and_prepare(args)
    base = tables.config_for_task(base, prep, options.given_settings(args))
    largest_batch = max([base.batch_size, *grid.get("batch_size", [])])
    common.check_layers([base.layers, *grid.get("layers", [])], ds, prep, largest_batch)
    for params in combos:
        config = base.replace(**params)
        common.check_network_fits(config, prep.x.shape[1], prep.n_outputs, option="hidden_units")
    inputs = data_inputs(args)
    with outputs.RunFolder(args.out, "tune", inputs=inputs, force=args.force, resume=args.resume) as folder:
        common.say(args, *tables.summary(args, ds, prep, why))
        return _search(args, ds, prep, base, grid, n_trials, folder)


def check_scheduler_option(address: str) -> None:
    """Refuse a ``--scheduler`` at which no Dask scheduler answers, in one line and bounded time."""
    try:
        check_scheduler(address)
    except ImportError as exc:
        raise UserError(
            f"--scheduler needs dask.distributed: pip install '.[dask]' in the scratchnn checkout ({exc})"
        ) from None
    except SchedulerError as exc:
        raise UserError(f"--scheduler: {exc}") from None


def _search(args, ds, prep, base, grid, n_trials, folder: outputs.RunFolder) -> int:
    results_path = folder.path(outputs.RESULTS_FILE)
    folder.path(os.path.basename(record_path(results_path)))
    state = {"done": 0, "progress": None}

    def on_resume(n_done, total):
        state["done"] = n_done
        common.say(args, f"Resuming: {n_done} of {total} trials already in {results_path}")

    def on_trial(row):
        if state["progress"] is None:
            state["progress"] = common.Progress(args.quiet, n_trials, "tune", "trial", initial=state["done"])
        state["done"] += 1
        key = "val_" + TASKS[prep.task].metric
        score = row.get(key)
        state["progress"].update(
            _trial_line(state["done"], n_trials, row),
            **{key.replace("accuracy", "acc"): "diverged" if score is None else f"{score:.4f}"},
        )

    def close_progress():
        if state["progress"] is not None:
            state["progress"].close()

    try:
        result = grid_search(
            *prep.part("train"),
            *prep.part("val"),
            grid,
            epochs=args.epochs,
            seed=args.seed,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            base=base,
            n_classes=prep.n_outputs,
            input_shape=ds.input_shape,
            callback=on_trial,
            results_path=results_path,
            resume=args.resume,
            on_resume=on_resume,
        )
    except KeyboardInterrupt:
        close_progress()
        folder.finish(complete=False)
        print(
            f"interrupted: {state['done']} of {n_trials} trials are saved in {results_path}; "
            "run the same command with --resume to finish the search",
            file=sys.stderr,
        )
        raise Interrupted from None
    except ResumeError as exc:
        close_progress()
        hint = "; use another --out or drop --resume" if exc.hint else ""
        raise UserError(f"--resume: {exc.detail}{hint}") from None
    except (ImportError, SchedulerError) as exc:
        close_progress()
        raise UserError(f"--scheduler: {exc}") from None
    close_progress()
    return _report_and_train_best(args, ds, prep, base, grid, result, results_path, folder)


def _report_and_train_best(args, ds, prep, base, grid, result, results_path, folder) -> int:
    from .. import plots

    n_diverged = sum(r["status"] != "ok" for r in result.results)
    written = f"Wrote {results_path} ({len(result.results)} trials, {n_diverged} diverged)"
    if not TASKS[prep.task].numeric:  # the heatmap shows validation accuracy, which a numeric target lacks
        heatmap = folder.path(outputs.TUNING_HEATMAP)
        plots.tuning_heatmap(result.results, heatmap, defaults=base.to_dict())
        written += f" and {heatmap}"
    common.say(args, written)
    if not result.best_params:
        raise UserError(f"every trial diverged; try smaller learning rates (see {results_path})")
    best = ", ".join(f"{k}={format_value(v)}" for k, v in result.best_params.items())
    if getattr(result, "metric", "val_accuracy") == "val_loss":
        row = next(r for r in result.results if all(r[k] == v for k, v in result.best_params.items()))
        score = f"the lowest validation loss, {result.best_score:.4f}; validation R2 {row['val_r2']:.4f}"
        print(f"Best settings: {best} ({score})")
    else:
        print(f"Best settings: {best} (validation accuracy {result.best_score:.4f})")
    epochs = args.final_epochs or tables.task_default("epochs", prep.task)  # else train's default
    config = base.replace(**result.best_params, epochs=epochs)
    common.say(args, f"Training the best settings for {epochs} epochs")
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in result.best_params.items()}
    grid_text = {k: [format_value(v) for v in vs] for k, vs in grid.items()}
    fit_and_save(args, ds, prep, config, folder, {"tuning": {"grid": grid_text, "best_params": plain}})
    return 0
