"""Character-level language models: build one, train it on a text, score it, sample from it, keep it.

The recipe of nanoGPT's ``train.py`` for its "baby GPT" on a character text,
with this package's layers and optimizers:

* ``build_network(layers, vocab_size)``: ``"gpt"`` (nanoGPT's baby shape:
  block 64, 4 layers, 4 heads, 128 channels, no dropout, no biases in
  LayerNorm and attention, the head tied to the token embedding;
  ``scratchnn.layers.GPT``) or ``"charlstm"`` (char-rnn's 2 x 128 LSTM: an
  embedding, two LSTM layers and a Dense head);
* ``LMTraining``: the run's settings, nanoGPT's by default (AdamW with betas
  (0.9, 0.99) and weight decay 0.1 on the matrices only, clipping at 1.0,
  100 warm-up steps then a cosine from 1e-3 to 1e-4, batches of 12 windows);
* ``train(network, data, settings, seed)``: the loop, counted in steps;
* ``evaluate(network, x, y)``: the mean next-character cross-entropy, with its
  perplexity and bits per character;
* ``LanguageModel``: a trained network with its vocabulary and context length;
  ``generate(prompt, n, temperature=, top_k=, seed=)``, ``save``, ``load``.

The task is next-token prediction at every position: for a window
``x = c[i : i + T]`` the targets are ``y = c[i + 1 : i + T + 1]``, and the loss
is the softmax cross-entropy averaged over all ``B * T`` positions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .data.text import TextData, Vocabulary
from .layers import GPT, LSTM, Dense, Embedding
from .losses import SoftmaxCrossEntropy
from .network import NeuralNetwork
from .optimizers import AdamW, clip_grad_norm
from .recipe import build_network as build_spec
from .schedules import CosineAnnealing, WarmupCosine
from .serialization import ModelFileError, load_network, save
from .trainer import TrainingDiverged
from .validation import check_float_in_range, check_positive_float, check_positive_int, check_random_state

__all__ = [
    "MAX_NEW_TOKENS",
    "PRESETS",
    "LMTraining",
    "LanguageModel",
    "build_network",
    "evaluate",
    "make_optimizers",
    "steps_per_pass",
    "train",
]

#: The one-word architectures: nanoGPT's baby GPT and char-rnn's 2 x 128 LSTM.
PRESETS: dict[str, dict] = {
    "gpt": {"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0, "bias": False},
    "charlstm": {"block_size": 64, "hidden_size": 128, "n_layer": 2},
}

#: The context of a network written as a spec, unless ``block_size`` is given.
DEFAULT_BLOCK_SIZE = 64

#: The most characters ``generate`` writes in one call.
MAX_NEW_TOKENS = 100_000


def build_network(
    layers: str, vocab_size: int, *, block_size: int | None = None, seed=None, dtype=np.float32
):
    """The network named by ``layers`` and its context length.

    ``layers``: a ``PRESETS`` name, or a one-line spec (``scratchnn.recipe``)
    that reads token ids and scores every character at every step, such as
    ``embed65x64-lstm128-dense`` (its first layer embeds exactly ``vocab_size`` ids).
    Returns ``(network, block_size)``; ``block_size`` overrides the preset's (a spec's: 64).
    The loss is the softmax cross-entropy over ``(B, T, vocab_size)`` logits.
    """
    rng = check_random_state(seed)
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    loss = SoftmaxCrossEntropy()
    if layers == "gpt":
        preset = {**PRESETS["gpt"], **({"block_size": block_size} if block_size else {})}
        return NeuralNetwork([GPT(vocab_size, **preset, seed=rng, dtype=dtype)], loss), preset["block_size"]
    if layers == "charlstm":
        p = PRESETS["charlstm"]
        block_size = check_positive_int(block_size or p["block_size"], "block_size")
        H = p["hidden_size"]
        stack = [Embedding(vocab_size, H, seed=rng, dtype=dtype)]
        stack += [LSTM(H, H, seed=rng, dtype=dtype) for _ in range(p["n_layer"])]
        stack.append(Dense(H, vocab_size, init="xavier", seed=rng, dtype=dtype))
        return NeuralNetwork(stack, loss), block_size
    block_size = block_size or DEFAULT_BLOCK_SIZE
    return _from_spec(layers, vocab_size, block_size, rng, dtype), block_size


def _from_spec(layers: str, vocab_size: int, block_size: int, rng, dtype) -> NeuralNetwork:
    """A one-line spec (``scratchnn.recipe``) that reads token ids and scores every position, e.g.
    ``embed65x64-lstm128-dense`` or ``embed65x64-pos64-res(ln-mha4c)-ln-dense``."""
    expected = (
        f"layers must be one of {sorted(PRESETS)} or a spec starting with embed{vocab_size}x<D> (the text "
        f"has {vocab_size} distinct characters) and giving a score per character at every step"
    )
    if not isinstance(layers, str) or not layers.startswith("embed"):
        raise ValueError(f"{expected}, got {layers!r}")
    block_size = check_positive_int(block_size, "block_size")
    network = build_spec(layers, (block_size,), vocab_size, seed=rng, dtype=dtype)
    first = network.layers[0]
    if getattr(first, "num_embeddings", vocab_size) != vocab_size:
        raise ValueError(f"{expected}, got {layers!r} (embed{first.num_embeddings})")
    out = network.forward(np.zeros((1, block_size), dtype=np.int64))
    if out.shape != (1, block_size, vocab_size):
        raise ValueError(f"{expected}, got {layers!r}, whose output per window is {out.shape[1:]}")
    return network


@dataclass
class LMTraining:
    """Settings of a language-model run; the defaults are nanoGPT's baby Shakespeare run.

    ``iters`` optimizer steps on ``batch_size`` random windows each; the
    learning rate warms up linearly over ``warmup_iters`` steps (nanoGPT's
    ``lr * (t + 1) / (warmup + 1)``) then follows a cosine from
    ``learning_rate`` to ``min_lr`` at step ``iters``; AdamW with
    ``beta1``/``beta2`` decays the matrices (every parameter with 2 or more
    axes: embeddings and weights) by ``weight_decay`` and leaves vectors
    (biases, LayerNorm's scale) alone, as nanoGPT's ``configure_optimizers``;
    the gradients are clipped to a global norm of ``clip`` (0: no clipping).
    Every ``eval_interval`` steps (and at the start and the end) the validation
    loss is measured on ``eval_batches`` fixed batches of windows.
    """

    iters: int = 2000
    batch_size: int = 12
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    clip: float = 1.0
    eval_interval: int = 250
    eval_batches: int = 20

    def __post_init__(self) -> None:
        for name in ("iters", "batch_size", "eval_interval", "eval_batches"):
            setattr(self, name, check_positive_int(getattr(self, name), name))
        self.learning_rate = check_positive_float(self.learning_rate, "learning_rate")
        self.min_lr = check_float_in_range(
            self.min_lr, "min_lr", 0.0, self.learning_rate, high_inclusive=True
        )
        if (
            isinstance(self.warmup_iters, bool)
            or not isinstance(self.warmup_iters, int)
            or self.warmup_iters < 0
        ):
            raise ValueError(f"warmup_iters must be a non-negative integer, got {self.warmup_iters!r}")
        self.weight_decay = check_float_in_range(self.weight_decay, "weight_decay", 0.0, math.inf)
        self.beta1 = check_float_in_range(self.beta1, "beta1", 0.0, 1.0)
        self.beta2 = check_float_in_range(self.beta2, "beta2", 0.0, 1.0)
        self.clip = check_float_in_range(self.clip, "clip", 0.0, math.inf)

    def to_dict(self) -> dict:
        return asdict(self)

    def schedule(self):
        """The learning rate of step ``t`` as nanoGPT's ``get_lr``: ``WarmupCosine`` whose warm-up
        starts at ``1 / (warmup + 1)`` of the peak; a plain cosine without warm-up."""
        warmup = min(self.warmup_iters, self.iters - 1)
        if warmup == 0:
            return CosineAnnealing(self.iters, min_lr=self.min_lr)
        return WarmupCosine(warmup, self.iters, start_factor=1.0 / (warmup + 1), min_lr=self.min_lr)


def steps_per_pass(n_train: int, block_size: int, batch_size: int) -> int:
    """Steps in one pass over the training text: its characters over ``block_size * batch_size``."""
    return max(1, round(n_train / (block_size * batch_size)))


def evaluate(network: NeuralNetwork, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> dict:
    """Mean next-character cross-entropy of ``network`` on windows ``x``, ``y (W, T)``.

    Returns ``{"loss", "perplexity", "bits_per_char"}``: the loss in nats per
    character (every position of every window counts once), ``exp(loss)`` and
    ``loss / ln 2``.
    """
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        total += network.compute_loss(network.forward(xb, training=False), yb) * yb.size
        count += yb.size
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_char": loss / math.log(2)}


def make_optimizers(network: NeuralNetwork, settings: LMTraining):
    """Two AdamW groups, as nanoGPT's ``configure_optimizers``: matrices decay, vectors do not.

    Returns ``[(optimizer, params, grads), ...]``: step each with its own aligned lists.
    """
    groups = []
    for decay in (True, False):
        pairs = [(p, g) for p, g in zip(network.parameters(), network.gradients()) if (p.ndim >= 2) == decay]
        opt = AdamW(
            settings.learning_rate,
            weight_decay=settings.weight_decay if decay else 0.0,
            beta1=settings.beta1,
            beta2=settings.beta2,
        )
        groups.append((opt, [p for p, _ in pairs], [g for _, g in pairs]))
    return [g for g in groups if g[1]]


def _val_windows(data: TextData, B: int, T: int, n_batches: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The fixed evaluation set: ``n_batches`` batches of ``B`` windows of ``T`` tokens drawn from the
    validation text, concatenated into ``(x, y)``, each ``(n_batches * B, T)``."""
    batches = [data.batch("val", B, T, rng) for _ in range(n_batches)]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _train_step(network: NeuralNetwork, x, y, groups, grads, clip, lr: float, step: int) -> float:
    """One optimisation step on the batch ``(x, y)`` at rate ``lr``: forward, loss, backward, the
    gradient clipped to norm ``clip`` (if set), each optimizer group's update; returns the loss.
    A non-finite loss raises ``TrainingDiverged`` before any weight changes."""
    loss = network.compute_loss(network.forward(x, training=True), y)
    if not math.isfinite(loss):
        raise TrainingDiverged(step + 1, 1, loss, lr)
    network.backward()
    if clip:
        clip_grad_norm(grads, clip)
    for opt, p, g in groups:
        opt.learning_rate = lr
        opt.step(p, g)
    return loss


def train(
    network: NeuralNetwork,
    data: TextData,
    block_size: int,
    settings: LMTraining | None = None,
    *,
    seed=None,
    callback: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``network`` on ``data``'s training text for ``settings.iters`` steps; return the history.

    The one generator made from ``seed`` draws the fixed evaluation windows
    first, then every training batch. The history holds a record per
    evaluation: ``{"step", "loss" (the mean training loss since the last
    record), "val_loss", "lr", "tokens_per_s"}``; ``callback`` gets each
    record, and ``{"step", "loss", "lr", "tokens_per_s"}`` after every step
    (without ``val_loss``) for a progress bar. A non-finite loss raises
    ``TrainingDiverged``.
    """
    settings = settings or LMTraining()
    rng = check_random_state(seed)
    has_val = len(data.val) > 0
    data.check_block_size(block_size, ("train", "val") if has_val else ("train",))
    B, T = settings.batch_size, block_size
    val_x, val_y = _val_windows(data, B, T, settings.eval_batches, rng) if has_val else (None, None)
    groups = make_optimizers(network, settings)
    schedule = settings.schedule()
    history: list[dict] = []
    grads = network.gradients()
    running, counted, tic, last_val = 0.0, 0, time.perf_counter(), None

    def record(step: int, lr: float) -> None:
        nonlocal running, counted, last_val
        rec = {"step": step, "loss": running / counted if counted else None, "lr": lr}
        if has_val:
            last_val = rec["val_loss"] = evaluate(network, val_x, val_y, B)["loss"]
        history.append(rec)
        running, counted = 0.0, 0
        if callback:
            callback(rec)

    record(0, schedule(0, settings.learning_rate))
    for step in range(settings.iters):
        lr = schedule(step, settings.learning_rate)
        x, y = data.batch("train", B, T, rng)
        loss = _train_step(network, x, y, groups, grads, settings.clip, lr, step)
        running, counted = running + loss, counted + 1
        done = step + 1
        if callback:
            rate = done * B * T / (time.perf_counter() - tic)
            callback({"step": done, "loss": loss, "lr": lr, "tokens_per_s": rate, "val_loss": last_val})
        if done % settings.eval_interval == 0 or done == settings.iters:
            record(done, lr)
    return history


class LanguageModel:
    """A trained character model: ``network``, its ``vocab`` and its context length ``block_size``.

    ``generate`` samples a continuation; ``score(text)`` is the loss on a text;
    ``save``/``load`` keep it in one model file (the vocabulary in the metadata
    as a JSON list of characters).
    """

    def __init__(self, network: NeuralNetwork, vocab: Vocabulary, block_size: int, layers: str = "") -> None:
        self.network = network
        self.vocab = vocab
        self.block_size = check_positive_int(block_size, "block_size")
        self.layers = layers

    def generate(self, prompt: str, n: int, *, temperature: float = 1.0, top_k: int | None = None, seed=None):
        """``n`` characters sampled after ``prompt``, one at a time (the prompt is not repeated).

        Each step feeds the last ``block_size`` characters (the causal model's
        context window, as nanoGPT crops ``idx_cond``), divides the last
        position's logits by ``temperature`` (below 1: surer, above: wilder),
        keeps the ``top_k`` largest if given, and draws from their softmax with
        the generator made from ``seed``: the same seed gives the same text.
        """
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_NEW_TOKENS:
            raise ValueError(
                f"the number of characters to generate must be in [1, {MAX_NEW_TOKENS}], got {n!r}"
            )
        temperature = check_positive_float(temperature, "temperature")
        V = len(self.vocab)
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= V
        ):
            raise ValueError(
                f"top_k must be None or an integer in [1, {V}] (the vocabulary's size), got {top_k!r}"
            )
        rng = check_random_state(seed)
        ids = list(self.vocab.encode(prompt, "the prompt"))
        start = len(ids)
        for _ in range(n):
            context = np.asarray(ids[-self.block_size :], dtype=np.int64)[None, :]
            logits = self.network.forward(context, training=False)[0, -1].astype(np.float64) / temperature
            if top_k is not None and top_k < V:
                kth = np.partition(logits, V - top_k)[V - top_k]
                logits[logits < kth] = -np.inf
            p = np.exp(logits - logits.max())
            cdf = np.cumsum(p)
            # inverse-CDF draw: one uniform per character, so a seed fixes the text
            ids.append(int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), V - 1)))
        return self.vocab.decode(ids[start:])

    def score(self, data: TextData, split: str = "val", batch_size: int = 64) -> dict:
        """``evaluate`` over the whole of ``split`` in consecutive windows of ``block_size``."""
        x, y = data.windows(split, self.block_size)
        return evaluate(self.network, x, y, batch_size)

    def metadata(self) -> dict:
        return {"vocabulary": self.vocab.to_json(), "block_size": self.block_size, "layers": self.layers}

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the network and, in the metadata, the vocabulary and the context length."""
        save(self.network, path, {**(metadata or {}), "language_model": self.metadata()})

    @classmethod
    def load(cls, path) -> tuple[LanguageModel, dict]:
        """``(model, metadata)`` of a file written by ``save``; ``ModelFileError`` for a file that
        is not a language model or whose vocabulary is not a list of distinct characters."""
        network, meta = load_network(path)
        lm = meta.get("language_model")
        if not isinstance(lm, dict):
            raise ModelFileError(f"{path} is not a language model (no vocabulary in its metadata)")
        try:
            vocab = Vocabulary.from_json(lm.get("vocabulary"))
            block_size = check_positive_int(lm.get("block_size"), "block_size")
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        try:  # one full window through the network: it must take block_size ids and score every character
            out = network.forward(np.zeros((1, block_size), dtype=np.int64))
        except ValueError as exc:
            raise ModelFileError(
                f"{path}: the network does not take windows of {block_size} ids: {exc}"
            ) from None
        if out.shape != (1, block_size, len(vocab)):
            raise ModelFileError(
                f"{path}: the vocabulary holds {len(vocab)} characters but the network's output has shape "
                f"{out.shape[1:]} per window"
            )
        return cls(network, vocab, block_size, str(lm.get("layers", ""))), meta
