"""Text in the command line: ``train`` and ``evaluate`` on a ``.txt`` file, and the ``generate`` command.

``train --data corpus.txt`` trains a character-level language model
(``scratchnn.language_model``): ``--layers gpt`` (nanoGPT's baby GPT, the
default) or ``--layers charlstm`` (char-rnn's 2 x 128 LSTM).
The run is counted in steps, ``--iters N``, or in passes over the training text,
``--epochs N`` (a pass is as many steps as the training text holds characters
divided by block size x batch size). The training options keep their meaning;
those not given take nanoGPT's values, not the tables' defaults.
"""

from __future__ import annotations

import sys

import numpy as np

from .. import language_model as lm
from ..data.text import TextData, read_text
from ..language_model import LanguageModel, LMTraining
from ..serialization import ModelFileError
from ..trainer import TrainingDiverged
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


def _settings(args, n_train: int, block_size: int) -> LMTraining:
    """nanoGPT's run, with the options the user gave."""
    given = options.given_settings(args)
    if "optimizer" in given and args.optimizer != "adamw":
        raise UserError(f"a language model trains with --optimizer adamw, got {args.optimizer}")
    if "schedule" in given and args.schedule != "warmup-cosine":
        raise UserError(f"a language model trains with --schedule warmup-cosine, got {args.schedule}")
    kwargs = {ours: getattr(args, name) for name, ours in _TRAINING_OPTIONS.items() if name in given}
    if "learning_rate" in given:  # the cosine ends at a tenth of the peak, as nanoGPT's 1e-3 to 1e-4
        kwargs["min_lr"] = args.learning_rate / 10
    if "clip_norm" in given:  # "none" turns nanoGPT's clipping off
        kwargs["clip"] = args.clip_norm or 0.0
    batch = kwargs.get("batch_size", LMTraining.batch_size)
    if args.iters is not None and "epochs" in given:
        raise UserError("give --iters (steps) or --epochs (passes over the training text), not both")
    if "epochs" in given:
        kwargs["iters"] = args.epochs * lm.steps_per_pass(n_train, block_size, batch)
    elif args.iters is not None:
        kwargs["iters"] = args.iters
    iters = kwargs.get("iters", LMTraining.iters)
    kwargs["warmup_iters"] = min(LMTraining.warmup_iters, iters // 10)
    with from_user():
        return LMTraining(**kwargs, eval_interval=args.eval_interval, eval_batches=args.eval_batches)


def read(path: str, vocab=None) -> TextData:
    """The text of ``path`` split 90/10; with ``vocab``, encoded with it (a model's)."""
    with from_user():
        return TextData.from_text(read_text(path), name=path, vocab=vocab)


def train(args) -> int:
    data = read(args.data)
    layers = getattr(args, "layers", None) or "gpt"
    dtype = getattr(args, "dtype", "float32")
    with from_user():
        network, block_size = lm.build_network(
            layers, len(data.vocab), block_size=args.block_size, seed=args.seed, dtype=np.dtype(dtype)
        )
        data.check_block_size(block_size)
    settings = _settings(args, len(data.train), block_size)
    model = LanguageModel(network, data.vocab, block_size, layers)
    n_params = sum(p.size for p in network.parameters())
    with outputs.RunFolder(
        args.out, "train", inputs={"the --data file": args.data}, force=args.force
    ) as folder:
        common.say(
            args,
            f"{args.data} is text: {len(data.train) + len(data.val)} characters, {len(data.vocab)} distinct; "
            f"the first {len(data.train)} train and the last {len(data.val)} validate "
            "(nanoGPT's 90/10 split)",
            f"Training a character-level language model ({layers}, {n_params} parameters) for"
            f"  {settings.iters} steps of {settings.batch_size} windows of {block_size} characters",
        )
        _fit_and_save(args, data, model, settings, folder)
    return 0


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
    score = model.score(data)
    meta["result"] = {"steps": settings.iters, **{f"val_{k}": v for k, v in score.items()}}
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
