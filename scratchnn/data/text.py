"""Text as a data source: a UTF-8 file, its character vocabulary, and random windows as batches.

A character-level language model sees a text as a sequence of integer ids, one
per character, and learns to predict each next id. This module does what
nanoGPT's ``data/shakespeare_char/prepare.py`` and ``get_batch`` do:

* ``read_text(path)`` reads a file once, as UTF-8 (an empty, binary or
  non-UTF-8 file is refused with the reason);
* ``Vocabulary``: the sorted distinct characters; ``encode``/``decode`` map
  text to ids ``(n,)`` and back. It is stored in a model file's metadata as a
  plain JSON list of one-character strings and checked when read back
  (``Vocabulary.from_json``), because a model file is untrusted input;
* ``TextData``: the ids split in order, the first 90% for training and the
  last 10% for validation (nanoGPT's split: validation is a later part of the
  text, never windows interleaved with training ones);
* ``TextData.batch(split, batch_size, block_size, rng)``: ``batch_size``
  windows of ``block_size`` characters at random offsets, ``x (B, T)`` the
  ids and ``y (B, T)`` the ids one character later, drawn from the one
  ``np.random.Generator`` passed in, so a seed reproduces the batches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..validation import check_float_in_range, check_positive_int

__all__ = [
    "MAX_TEXT_BYTES",
    "MAX_VOCAB_SIZE",
    "TEXT_SUFFIXES",
    "TextData",
    "Vocabulary",
    "is_text_source",
    "python_source",
    "read_text",
]

#: File names ending in these are read as text by the command line.
TEXT_SUFFIXES = (".txt",)
#: The most distinct characters a vocabulary may hold (a model file claiming more is refused).
MAX_VOCAB_SIZE = 1 << 16
#: The largest text file read (ids are int64: 8 bytes a character in memory).
MAX_TEXT_BYTES = 1 << 30


def is_text_source(source: str) -> bool:
    """Whether the command line reads ``source`` as text (a file name ending in ``.txt``)."""
    return isinstance(source, str) and source.lower().endswith(TEXT_SUFFIXES)


def read_text(path) -> str:
    """The text of the UTF-8 file ``path``, read once.

    Raises ``ValueError`` naming the file for an empty file, a file that is not
    UTF-8 (with the offset of the first bad byte) or one that holds NUL bytes
    (binary data that happens to decode), and ``FileNotFoundError`` if there
    is no file.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{path} is {size} bytes; text files up to {MAX_TEXT_BYTES} bytes are read")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise ValueError(f"{path} is empty: a language model needs text to learn from")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 first"
        ) from None
    if "\x00" in text:
        raise ValueError(f"{path} holds NUL bytes (offset {text.index(chr(0))}): it is binary, not text")
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the text


def python_source(limit: int = 1_000_000) -> tuple[str, str]:
    """A text every Python user has offline: the running interpreter's standard-library source.

    Its top-level modules (``abc.py``, ``aifc.py``, ...) in the order of their
    names, joined and cut at ``limit`` characters (the default is about Tiny
    Shakespeare's size). Returns ``(text, description)``. The text depends on
    the Python version, so its figures compare between runs of one interpreter.
    """
    import sys

    limit = check_positive_int(limit, "limit")
    folder = os.path.dirname(os.__file__)
    parts, size = [], 0
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".py")):
        with open(os.path.join(folder, name), "rb") as f:
            try:
                text = f.read().decode("utf-8")
            except UnicodeDecodeError:  # every module is UTF-8 (PEP 3120); a patched one is skipped
                continue
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    return "".join(parts)[:limit], f"the standard library of Python {sys.version.split()[0]} ({folder})"


class Vocabulary:
    """The characters a model knows, sorted, each with its id (its position in the list).

    ``chars``: a tuple of distinct one-character strings. ``encode(text)`` gives
    int64 ids ``(len(text),)``; ``decode(ids)`` the text back.
    """

    def __init__(self, chars) -> None:
        if isinstance(chars, str) or not isinstance(chars, (list, tuple)):
            raise TypeError(f"the vocabulary must be a list of characters, got {_short(chars)}")
        if not 2 <= len(chars) <= MAX_VOCAB_SIZE:
            raise ValueError(
                f"the vocabulary must hold between 2 and {MAX_VOCAB_SIZE} characters, got {len(chars)}"
            )
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"vocabulary entry {i} must be a single character, got {_short(c)}")
        seen: set[str] = set()
        for c in chars:
            if c in seen:
                raise ValueError(f"the vocabulary holds the character {c!r} twice")
            seen.add(c)
        self.chars: tuple[str, ...] = tuple(chars)
        self._index = {c: i for i, c in enumerate(self.chars)}
        # decode through one array lookup instead of a join over a Python list per call
        self._array = np.array(self.chars)

    @classmethod
    def from_text(cls, text: str, name: str = "the text") -> Vocabulary:
        """The sorted distinct characters of ``text``; ``ValueError`` if it has fewer than two."""
        chars = sorted(set(text))
        if len(chars) < 2:
            only = f" ({chars[0]!r})" if chars else ""
            raise ValueError(
                f"{name} holds {len(chars)} distinct character{only}: there is nothing to predict"
            )
        return cls(chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    __hash__ = None  # mutable-looking value object: compare, do not hash

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` the vocabulary lacks, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str, name: str = "the text") -> np.ndarray:
        """Ids ``(len(text),)`` int64; ``ValueError`` naming the characters the vocabulary lacks."""
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise ValueError(
                f"{name} holds {len(missing)} character{'s' if len(missing) > 1 else ''} the model's "
                f"vocabulary lacks: {shown}"
            )
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """The text of ids ``(n,)``."""
        return "".join(self._array[np.asarray(ids, dtype=np.int64)].tolist())

    def to_json(self) -> list[str]:
        """The characters as a JSON-ready list (what a model file stores)."""
        return list(self.chars)

    @classmethod
    def from_json(cls, value) -> Vocabulary:
        """A vocabulary read back from a model file; ``ValueError`` for anything but a list of
        between 2 and ``MAX_VOCAB_SIZE`` distinct single characters."""
        try:
            return cls(value)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class TextData:
    """A text as ids, split in order: ``train`` (the first part) and ``val`` (the rest).

    ``name``: where the text came from (for messages); ``vocab``: its characters.
    """

    name: str
    vocab: Vocabulary
    train: np.ndarray
    val: np.ndarray

    @classmethod
    def from_text(
        cls, text: str, *, val_fraction: float = 0.1, name: str = "the text", vocab: Vocabulary | None = None
    ) -> TextData:
        """Encode ``text`` with its own vocabulary (or ``vocab``, a model's) and split it: the first
        ``1 - val_fraction`` for training, the last ``val_fraction`` for validation (0: none)."""
        val_fraction = check_float_in_range(val_fraction, "val_fraction", 0.0, 1.0)
        vocab = vocab if vocab is not None else Vocabulary.from_text(text, name)
        ids = vocab.encode(text, name)
        n_train = int(len(ids) * (1.0 - val_fraction))  # nanoGPT: int(n * 0.9)
        return cls(name, vocab, ids[:n_train], ids[n_train:])

    @classmethod
    def from_file(cls, path, *, val_fraction: float = 0.1) -> TextData:
        """``from_text`` of the UTF-8 file ``path`` (see ``read_text`` for what is refused)."""
        path = os.fspath(path)
        return cls.from_text(read_text(path), val_fraction=val_fraction, name=path)

    def part(self, split: str) -> np.ndarray:
        """The ids of ``split`` ("train" or "val")."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train if split == "train" else self.val

    def check_block_size(self, block_size: int, splits=("train", "val")) -> int:
        """``block_size`` if every split in ``splits`` holds a window of it plus the next character."""
        block_size = check_positive_int(block_size, "block_size")
        for split in splits:
            n = len(self.part(split))
            if n <= block_size:
                what = "training" if split == "train" else "validation"
                raise ValueError(
                    f"block_size {block_size} is longer than the {what} text of {self.name} "
                    f"({n} characters): use a block size below {n} or a longer text"
                )
        return block_size

    def batch(
        self, split: str, batch_size: int, block_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` random windows: ``x (B, T)`` ids and ``y (B, T)`` the ids that follow.

        Offsets are uniform over the split (``rng.integers(len - T, size=B)``, as
        nanoGPT's ``get_batch``); ``y[b, t] = x[b, t + 1]`` and ``y[b, T-1]`` is the
        character after the window.
        """
        ids = self.part(split)
        starts = rng.integers(len(ids) - block_size, size=batch_size)
        windows = ids[starts[:, None] + np.arange(block_size + 1)]  # (B, T + 1), one gather
        return windows[:, :-1], windows[:, 1:]

    def windows(self, split: str, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole split as consecutive windows: ``x (W, T)``, ``y (W, T)``.

        ``W = (len - 1) // T`` windows side by side cover every character that has
        a successor but the last ``(len - 1) % T``: each is predicted once, from the
        characters before it in its window. The evaluation protocol of a final score.
        """
        ids = self.part(split)
        n = (len(ids) - 1) // block_size
        if n == 0:
            self.check_block_size(block_size, (split,))
        x = ids[: n * block_size].reshape(n, block_size)
        y = ids[1 : n * block_size + 1].reshape(n, block_size)
        return x, y
