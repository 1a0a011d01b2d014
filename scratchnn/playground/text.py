"""The text page's run: a tiny character GPT trained step by step on a small text, by the library's own code.

A ``TextSession`` holds the text (``data.text.TextData``: first 90% for
training, last 10% for validation), a ``GPT`` small enough that a training
step takes milliseconds (``TINY_GPT``), and the pieces of
``language_model.train`` used one step at a time: random windows from one
generator made from ``seed``, the two AdamW groups of ``make_optimizers``,
gradient clipping. Every ``SAMPLE_EVERY`` steps (and at step 0) it measures
the validation loss on fixed windows, samples ``SAMPLE_CHARS`` characters
after a fixed prompt with ``LanguageModel.generate`` (a fixed seed, so the
samples differ only because the model has learnt), and keeps each head's
attention weights (``GPT.attention_probabilities``) on one validation window.

The texts: ``CORPORA`` (built in, offline) or one uploaded by the tab
(``read_upload``: UTF-8, no NUL bytes, at most ``MAX_TEXT_VOCAB`` distinct
characters; its size limit is ``server.MAX_TEXT_UPLOAD_BYTES``).
"""

from __future__ import annotations

import base64
import math
import time
from pathlib import Path

import numpy as np

from ..data.text import TextData, python_source
from ..language_model import LanguageModel, LMTraining, evaluate, make_optimizers
from ..layers import GPT
from ..losses import SoftmaxCrossEntropy
from ..network import NeuralNetwork
from ..optimizers import clip_grad_norm
from ..trainer import TrainingDiverged
from ..validation import check_random_state

__all__ = [
    "CORPORA",
    "MAX_TEXT_VOCAB",
    "SAMPLE_CHARS",
    "SAMPLE_EVERY",
    "TINY_GPT",
    "TextSession",
    "read_upload",
]

#: The page's GPT: 2 blocks of 4 heads over 32 channels, a context of 32 characters (about 30k numbers).
TINY_GPT = {"block_size": 32, "n_layer": 2, "n_head": 4, "n_embd": 32, "dropout": 0.0, "bias": False}
#: Windows per step, and the run's settings (AdamW, clipping at 1.0, a constant rate after no warm-up).
BATCH_SIZE = 16
TRAINING = LMTraining(iters=1, batch_size=BATCH_SIZE, learning_rate=3e-3, min_lr=3e-3, warmup_iters=0)
#: Steps between two samples (with the validation loss and the attention maps).
SAMPLE_EVERY = 25
#: Characters in a sample, and characters of the prompt it continues (the validation text's start).
SAMPLE_CHARS = 100
PROMPT_CHARS = 8
#: Fixed validation windows the loss is measured on.
VAL_WINDOWS = 32
#: The most distinct characters an uploaded text may hold (the output layer has one score per character).
MAX_TEXT_VOCAB = 512
#: Characters of the Python standard library's source used as the "python" corpus.
PYTHON_CHARS = 200_000

_HERE = Path(__file__).with_name("corpora")


def _rhymes() -> tuple[str, str]:
    return (_HERE / "rhymes.txt").read_text("utf-8"), "English nursery rhymes (public domain)"


def _python() -> tuple[str, str]:
    return python_source(PYTHON_CHARS)


#: The built-in texts, every one available offline: name -> () -> (text, description).
CORPORA = {"rhymes": _rhymes, "python": _python}


def read_upload(name: str, body: bytes) -> tuple[str, str]:
    """``(text, description)`` of an uploaded file; ``ValueError`` with the reason for binary data,
    a text that is not UTF-8, too short to split or with too many distinct characters."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{name} is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset {exc.start}): "
            "binary files cannot be learnt from here; save the text as UTF-8"
        ) from None
    if "\x00" in text:
        raise ValueError(f"{name} holds NUL bytes (offset {text.index(chr(0))}): it is binary, not text")
    distinct = len(set(text))
    if distinct > MAX_TEXT_VOCAB:
        raise ValueError(
            f"{name} holds {distinct} distinct characters; the page's model takes at most {MAX_TEXT_VOCAB}"
        )
    TextData.from_text(text, name=name).check_block_size(TINY_GPT["block_size"])
    return text, f"{name} ({len(text)} characters)"


class TextSession:
    """A tiny GPT learning ``text`` (``corpus`` names it), stepped by ``run``; ``update`` describes it."""

    def __init__(self, corpus: str, text: str, description: str, seed: int = 0) -> None:
        self.corpus, self.description = corpus, description
        self.data = TextData.from_text(text, name=corpus)
        self.data.check_block_size(TINY_GPT["block_size"])
        self.prompt = self.data.vocab.decode(self.data.val[:PROMPT_CHARS])
        self.reset(seed)

    def reset(self, seed: int) -> None:
        """Step 0: weights, batches and evaluation windows drawn afresh from ``seed``."""
        self.seed = seed
        rng = self.rng = check_random_state(seed)
        T = TINY_GPT["block_size"]
        self.gpt = GPT(len(self.data.vocab), **TINY_GPT, seed=rng)
        self.network = NeuralNetwork([self.gpt], SoftmaxCrossEntropy())
        self.model = LanguageModel(self.network, self.data.vocab, T, "gpt")
        batches = [self.data.batch("val", VAL_WINDOWS, T, rng)]
        self.val_x, self.val_y = batches[0]
        self.window = self.data.val[:T]  # the attention maps' window: the validation text's first characters
        self.groups = make_optimizers(self.network, TRAINING)
        self.grads = self.network.gradients()
        self.step = 0
        self.diverged: str | None = None
        self.history: list[list] = []  # [step, training loss]
        self.samples: list[dict] = []  # {"step", "val_loss", "text"}
        self.attention: list[np.ndarray] = []
        self._observe()

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.network.parameters())

    # -- training ---------------------------------------------------------------------
    def train_step(self) -> float:
        """One step of ``language_model.train``'s loop: a batch, forward, backward, clipping, AdamW."""
        x, y = self.data.batch("train", BATCH_SIZE, TINY_GPT["block_size"], self.rng)
        loss = self.network.compute_loss(self.network.forward(x, training=True), y)
        if not math.isfinite(loss):
            raise TrainingDiverged(self.step + 1, 1, loss, TRAINING.learning_rate)
        self.network.backward()
        clip_grad_norm(self.grads, TRAINING.clip)
        for opt, params, grads in self.groups:
            opt.step(params, grads)
        return loss

    def run(self, steps: int | None = 1, seconds: float | None = None) -> list[list]:
        """``steps`` training steps, or as many as fit in ``seconds`` (at least one); their records."""
        records: list[list] = []
        if self.diverged:
            return records
        deadline = None if seconds is None else time.perf_counter() + seconds
        while True:
            try:
                loss = self.train_step()
            except TrainingDiverged as exc:
                self.diverged = str(exc)
                break
            self.step += 1
            row = [self.step, round(float(loss), 5)]
            self.history.append(row)
            records.append(row)
            if self.step % SAMPLE_EVERY == 0:
                self._observe()
            if (deadline is None and len(records) >= steps) or (
                deadline is not None and time.perf_counter() >= deadline
            ):
                break
        return records

    def _observe(self) -> None:
        """The validation loss, a sample and the attention maps of the model as it is now."""
        val_loss = evaluate(self.network, self.val_x, self.val_y, VAL_WINDOWS)["loss"]
        text = self.model.generate(self.prompt, SAMPLE_CHARS, temperature=0.8, seed=self.seed)
        self.samples.append({"step": self.step, "val_loss": round(float(val_loss), 5), "text": text})
        self.network.forward(self.window[None, :], training=False)
        self.attention = [p[0].copy() for p in self.gpt.attention_probabilities()]  # (H, T, T) per block

    # -- describing ---------------------------------------------------------------------
    def data_message(self) -> dict:
        return {
            "type": "text_data",
            "corpus": self.corpus,
            "description": self.description,
            "characters": len(self.data.train) + len(self.data.val),
            "vocab_size": len(self.data.vocab),
            "params": self.n_params,
            "model": TINY_GPT,
            "batch_size": BATCH_SIZE,
            "sample_every": SAMPLE_EVERY,
            "prompt": self.prompt,
            "seed": self.seed,
        }

    def update(self, records: list[list]) -> dict:
        """The page's message: the losses of the steps in ``records``, the samples made during them (all
        of them when ``records`` is empty), and the attention maps of the last sample: per block and
        head, ``T x T`` weights as bytes (0..255, row by row), base64."""
        first = records[0][0] if records else 0
        new = [s for s in self.samples if s["step"] >= first]
        T = len(self.window)
        maps = [[_b64(np.round(head * 255).astype(np.uint8)) for head in block] for block in self.attention]
        return {
            "type": "text_update",
            "step": self.step,
            "records": records,
            "samples": new,
            "attention": {"window": self.data.vocab.decode(self.window), "size": T, "maps": maps},
            "diverged": self.diverged,
        }


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")
