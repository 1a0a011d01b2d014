"""Text in the command line: ``train``, ``tune`` and ``evaluate`` on a ``.txt`` file, and ``generate``.

``train --data corpus.txt`` trains a character-level language model
(``scratchnn.language_model``): ``--layers gpt`` (nanoGPT's baby GPT, the
default) or ``--layers charlstm`` (char-rnn's 2 x 128 LSTM).
The run is counted in steps, ``--iters N``, or in passes over the training text,
``--epochs N`` (a pass is as many steps as the training text holds characters
divided by block size x batch size). The training options keep their meaning;
those not given take nanoGPT's values, not the tables' defaults.
``tune --data corpus.txt --grid "layers=gpt,charlstm;learning_rate=0.001,0.003"``
trains each grid point for the same steps from the same seed and keeps the one
with the lowest validation loss.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

from .. import language_model as lm
from ..data.text import TextData, read_text
from ..language_model import LanguageModel, LMTraining
from ..serialization import ModelFileError
from ..trainer import TrainingDiverged
from ..tuning.files import format_value, parse_grid, write_results
from . import common, options, outputs
from .errors import Interrupted, UserError, from_user

#: The settings of the tables' options a language model reads, and what it calls them.
_TRAINING_OPTIONS = {
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "weight_decay": "weight_decay",
}


def add_arguments(group) -> None:
    """The options only a text uses (train's "language model" group)."""
    group.add_argument(
        "--iters",
        type=options.positive_int,
        metavar="N",
        help="optimizer steps of a language model on a .txt file (default: 2000, or the steps of --epochs "
        "passes)",
    )
    group.add_argument(
        "--block-size",
        type=options.positive_int,
        metavar="T",
        help="characters in each training window, the model's context (default: 64)",
    )
    group.add_argument(
        "--eval-interval",
        type=options.positive_int,
        default=250,
        metavar="N",
        help="measure the validation loss every N steps (default: %(default)s)",
    )
    group.add_argument(
        "--eval-batches",
        type=options.positive_int,
        default=20,
        metavar="N",
        help="batches of validation windows each measurement averages, the same ones every time "
        "(default: %(default)s)",
    )


def _settings(args, n_train: int, block_size: int, params: dict | None = None) -> LMTraining:
    """nanoGPT's run, with the options the user gave and a grid point's ``params`` over them."""
    values = {name: getattr(args, name) for name in options.given_settings(args)}
    values.update(params or {})
    if values.get("optimizer", "adamw") != "adamw":
        raise UserError(f"a language model trains with --optimizer adamw, got {values['optimizer']}")
    if values.get("schedule", "warmup-cosine") != "warmup-cosine":
        raise UserError(f"a language model trains with --schedule warmup-cosine, got {values['schedule']}")
    kwargs = {ours: values[name] for name, ours in _TRAINING_OPTIONS.items() if name in values}
    if "learning_rate" in values:  # the cosine ends at a tenth of the peak, as nanoGPT's 1e-3 to 1e-4
        kwargs["min_lr"] = values["learning_rate"] / 10
    if "clip_norm" in values:  # "none" turns nanoGPT's clipping off
        kwargs["clip"] = values["clip_norm"] or 0.0
    batch = kwargs.get("batch_size", LMTraining.batch_size)
    if args.iters is not None and "epochs" in values:
        raise UserError("give --iters (steps) or --epochs (passes over the training text), not both")
    if "epochs" in values:
        kwargs["iters"] = values["epochs"] * lm.steps_per_pass(n_train, block_size, batch)
    elif args.iters is not None:
        kwargs["iters"] = args.iters
    iters = kwargs.get("iters", LMTraining.iters)
    kwargs["warmup_iters"] = min(LMTraining.warmup_iters, iters // 10)
    with from_user():
        return LMTraining(**kwargs, eval_interval=args.eval_interval, eval_batches=args.eval_batches)


def _model(args, data: TextData, layers: str) -> LanguageModel:
    """A new model of ``layers`` for ``data``'s vocabulary, its windows checked against the text."""
    dtype = getattr(args, "dtype", "float32")
    with from_user():
        network, block_size = lm.build_network(
            layers, len(data.vocab), block_size=args.block_size, seed=args.seed, dtype=np.dtype(dtype)
        )
        data.check_block_size(block_size)
    return LanguageModel(network, data.vocab, block_size, layers)


def read(path: str, vocab=None) -> TextData:
    """The text of ``path`` split 90/10; with ``vocab``, encoded with it (a model's)."""
    with from_user():
        return TextData.from_text(read_text(path), name=path, vocab=vocab)


def train(args) -> int:
    data = read(args.data)
    layers = getattr(args, "layers", None) or "gpt"
    model = _model(args, data, layers)
    settings = _settings(args, len(data.train), model.block_size)
    n_params = sum(p.size for p in model.network.parameters())
    with outputs.RunFolder(
        args.out, "train", inputs={"the --data file": args.data}, force=args.force
    ) as folder:
        common.say(
            args,
            _described(args.data, data),
            f"Training a character-level language model ({layers}, {n_params} parameters) for"
            f"  {settings.iters} steps of {settings.batch_size} windows of {model.block_size} characters",
        )
        _fit_and_save(args, data, model, settings, folder)
    return 0


def _described(path: str, data: TextData) -> str:
    return (
        f"{path} is text: {len(data.train) + len(data.val)} characters, {len(data.vocab)} distinct; "
        f"the first {len(data.train)} train and the last {len(data.val)} validate (nanoGPT's 90/10 split)"
    )


def _fit_and_save(args, data: TextData, model: LanguageModel, settings: LMTraining, folder) -> None:
    progress = common.Progress(args.quiet, settings.iters, "train", "step")
    records: list[dict] = []  # the evaluations so far, kept if Ctrl-C stops the run
    steps_done = 0

    def on_step(rec: dict) -> None:
        nonlocal steps_done
        val = rec.get("val_loss")
        if "tokens_per_s" in rec:
            steps_done = rec["step"]
        else:
            records.append(rec)
        if progress.mode == "bar" and "tokens_per_s" in rec:
            postfix = {"loss": f"{rec['loss']:.4f}", "tok/s": f"{rec['tokens_per_s']:.0f}"}
            if val is not None:
                postfix["val_loss"] = f"{val:.4f}"
            progress.update("", **postfix)
        elif progress.mode == "lines" and "tokens_per_s" not in rec:
            loss = "" if rec["loss"] is None else f"loss {rec['loss']:.4f}, "
            print(f"step {rec['step']}/{settings.iters}: {loss}val_loss {val:.4f}", flush=True)

    meta = {"training": {**settings.to_dict(), "seed": args.seed}, "source": {"name": args.data}}
    try:
        history = lm.train(model.network, data, model.block_size, settings, seed=args.seed, callback=on_step)
    except KeyboardInterrupt:
        progress.close()
        _save_interrupted(model, {**meta, "interrupted": True}, records, steps_done, folder)
        raise Interrupted from None
    except TrainingDiverged as exc:
        progress.close()
        raise UserError(f"{exc}; no model was saved") from None
    progress.close()
    _save(args, model, data, history, meta, folder)


def _save(args, model: LanguageModel, data: TextData, history: list[dict], meta: dict, folder) -> None:
    """The trained model, its history and plots in ``folder``; the validation score printed."""
    score = model.score(data)
    steps = history[-1]["step"] if history else 0
    meta = {**meta, "result": {"steps": steps, **{f"val_{k}": v for k, v in score.items()}}}
    model_path = folder.path(outputs.MODEL_FILE)
    model.save(model_path, meta)
    history_path = folder.path(outputs.HISTORY_FILE)
    common.write_json(history_path, {"steps": history})
    written = [model_path, history_path, *_plots(model, data, history, folder)]
    folder.finish()
    common.say(args, "Wrote " + ", ".join(written))
    print(_score_line(score))


def _save_interrupted(model: LanguageModel, meta: dict, records: list, steps: int, folder) -> None:
    """After Ctrl-C: keep the current weights (they generate text as they are) and the evaluations so far."""
    if not all(np.all(np.isfinite(p)) for p in model.network.parameters()):
        print("interrupted; the weights are not finite, so nothing was saved", file=sys.stderr)
        return
    model_path = folder.path(outputs.MODEL_FILE)
    model.save(model_path, {**meta, "result": {"steps": steps}})
    history_path = folder.path(outputs.HISTORY_FILE)
    common.write_json(history_path, {"steps": records, "interrupted": True})
    folder.finish(complete=False)
    print(
        f"interrupted after {steps} steps: saved the current weights to {model_path} and the history "
        f"to {history_path}",
        file=sys.stderr,
    )


def _score_line(score: dict) -> str:
    return (
        f"Validation loss: {score['loss']:.4f} (perplexity {score['perplexity']:.2f}, "
        f"{score['bits_per_char']:.3f} bits per character)"
    )


def _plots(model: LanguageModel, data: TextData, history: list[dict], folder) -> list[str]:
    from ..plots import text as plot_text

    path = folder.path("learning_curves.png")
    plot_text.learning_curves(history, path)
    written = [path]
    maps = plot_text.attention_maps(
        model, data.windows("val", model.block_size)[0][0], folder.path("attention.png")
    )
    return written + ([folder.path("attention.png")] if maps else [])


def load(path: str) -> tuple[LanguageModel, dict]:
    with from_user():
        try:
            return LanguageModel.load(path)
        except ModelFileError:
            raise
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: {exc}") from None


def is_language_model(meta: dict) -> bool:
    return isinstance(meta, dict) and "language_model" in meta


def evaluate(args) -> int:
    """Validation loss, perplexity and bits per character of a language model on a text's last 10%."""
    model, _ = load(args.model)
    data = read(args.data, vocab=model.vocab)
    with from_user():
        data.check_block_size(model.block_size, ("val",))
    score = model.score(data)
    common.say(args, f"Evaluated on the last {len(data.val)} characters of {args.data} (its validation part)")
    print(_score_line(score))
    return 0


# -- tune: a grid of settings, each trained as train would, the lowest validation loss kept ------------

#: What ``tune --grid`` may search for a language model.
GRID_KEYS = ("layers", "learning_rate", "batch_size", "weight_decay", "clip_norm")
_TRIAL_METRICS = ("val_loss", "status")


def tune(args) -> int:
    """``scratchnn tune`` on a text: each grid point trained for the same steps, the best one saved.

    The trials run ``--iters`` steps (else ``--epochs`` passes, tune's default 5)
    from the same seed; the one with the lowest loss over the whole validation
    text is saved as ``train`` saves a model, with every trial in results.csv.
    """
    for given, option in (
        (args.resume, "--resume"),
        (args.scheduler, "--scheduler"),
        (args.jobs != 1, "--jobs"),
    ):
        if given:
            raise UserError(f"{option} is for tables; a language model's trials run one after another here")
    grid = _text_grid(args)
    if args.iters is not None and "epochs" in vars(args):
        args = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "epochs"})
    data = read(args.data)
    base = getattr(args, "layers", None) or "gpt"
    trials = [(params, _model(args, data, params.get("layers", base))) for params in _combos(grid)]
    trials = [
        (params, model, _settings(args, len(data.train), model.block_size, params))
        for params, model in trials
    ]
    inputs = {"the --data file": args.data}
    with outputs.RunFolder(args.out, "tune", inputs=inputs, force=args.force) as folder:
        results_path = folder.path(outputs.RESULTS_FILE)
        common.say(args, _described(args.data, data), f"Training {len(trials)} settings, one after another")
        rows, best = [], None
        for i, (params, model, settings) in enumerate(trials, start=1):
            row, history = _trial(model, data, settings, args.seed)
            rows.append({**params, **row})
            write_results(results_path, grid, rows, _TRIAL_METRICS)
            shown = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
            common.say(args, f"Trial {i}/{len(trials)} | {shown} | " + _trial_score(row))
            if row["status"] == "ok" and (best is None or row["val_loss"] < best[0]["val_loss"]):
                best = (row, params, model, settings, history)
        if best is None:
            raise UserError(f"every trial diverged; try smaller learning rates (see {results_path})")
        row, params, model, settings, history = best
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
        print(f"Best settings: {shown} (validation loss {row['val_loss']:.4f})")
        grid_text = {k: [format_value(v) for v in vs] for k, vs in grid.items()}
        tuning = {"grid": grid_text, "best_params": {k: format_value(v) for k, v in params.items()}}
        meta = {"training": {**settings.to_dict(), "seed": args.seed}, "source": {"name": args.data}}
        _save(args, model, data, history, {**meta, "tuning": tuning}, folder)
    return 0


def _text_grid(args) -> dict:
    try:
        grid = parse_grid(";".join(args.grid)) if args.grid else {"learning_rate": [3e-4, 1e-3, 3e-3]}
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for key in grid:
        if key not in GRID_KEYS:
            raise UserError(f"--grid {key!r} is not a setting of a language model; it may name {GRID_KEYS}")
    return grid


def _combos(grid: dict) -> list[dict]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def _trial(model: LanguageModel, data: TextData, settings: LMTraining, seed) -> tuple[dict, list]:
    try:
        history = lm.train(model.network, data, model.block_size, settings, seed=seed)
    except TrainingDiverged:
        return {"val_loss": None, "status": "diverged"}, []
    return {"val_loss": model.score(data)["loss"], "status": "ok"}, history


def _trial_score(row: dict) -> str:
    return "diverged" if row["status"] != "ok" else f"Val Loss: {row['val_loss']:.4f}"
