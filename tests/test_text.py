"""Text as a data source: reading, the vocabulary and its hostile forms, the split, the batches."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.data.text import MAX_VOCAB_SIZE, TextData, Vocabulary, is_text_source, python_source, read_text

TEXT = "hello world, hello there.\n" * 20


def test_vocabulary_is_the_sorted_distinct_characters_and_round_trips():
    vocab = Vocabulary.from_text("banana!")
    assert vocab.chars == ("!", "a", "b", "n")
    ids = vocab.encode("banana!")
    assert ids.dtype == np.int64
    assert ids.tolist() == [2, 1, 3, 1, 3, 1, 0]
    assert vocab.decode(ids) == "banana!"
    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_encode_names_the_characters_the_vocabulary_lacks():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(ValueError, match=r"2 characters the model's vocabulary lacks: 'z', 'é'"):
        vocab.encode("azézz", "the prompt")


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("abc", TypeError, "must be a list of characters"),
        ({"a": 1}, TypeError, "must be a list of characters"),
        (["a"], ValueError, "between 2 and"),
        (["a", "b", "a"], ValueError, "the character 'a' twice"),
        (["a", "bc"], ValueError, "entry 1 must be a single character"),
        (["a", 7], ValueError, "entry 1 must be a single character"),
        (["a", ""], ValueError, "entry 1 must be a single character"),
        ([chr(0x100 + i) for i in range(MAX_VOCAB_SIZE + 1)], ValueError, "between 2 and"),
    ],
)
def test_hostile_vocabularies_are_refused(value, error, message):
    with pytest.raises(error, match=message):
        Vocabulary(value)
    with pytest.raises(ValueError, match=message):  # read from a file: always a ValueError
        Vocabulary.from_json(value)


def test_split_is_in_order_first_ninety_percent_for_training():
    data = TextData.from_text(TEXT)
    n = len(TEXT)
    assert len(data.train) == int(n * 0.9)
    assert data.vocab.decode(data.train) == TEXT[: int(n * 0.9)]
    assert data.vocab.decode(data.val) == TEXT[int(n * 0.9) :]


def test_batches_are_windows_and_their_next_characters_reproducible_from_the_seed():
    data = TextData.from_text(TEXT)
    x, y = data.batch("train", 5, 8, np.random.default_rng(3))
    assert x.shape == y.shape == (5, 8)
    text = data.vocab.decode(data.train)
    for row_x, row_y in zip(x, y):
        window = data.vocab.decode(row_x)
        start = text.find(window + data.vocab.decode(row_y[-1:]))
        assert start >= 0
        assert data.vocab.decode(row_y) == text[start + 1 : start + 9]
    x2, y2 = data.batch("train", 5, 8, np.random.default_rng(3))
    assert np.array_equal(x, x2)
    assert np.array_equal(y, y2)
    x3, _ = data.batch("train", 5, 8, np.random.default_rng(4))
    assert not np.array_equal(x, x3)


def test_consecutive_windows_cover_the_split_once():
    data = TextData.from_text("abcdefghij" * 3, val_fraction=0.5)  # val: 15 characters
    x, y = data.windows("val", 4)
    assert x.shape == (3, 4)
    assert np.array_equal(x.ravel(), data.val[:12])
    assert np.array_equal(y.ravel(), data.val[1:13])


def test_block_size_longer_than_a_split_is_refused_naming_it():
    data = TextData.from_text(TEXT)
    with pytest.raises(ValueError, match=r"block_size 100 is longer than the validation text .* \(52 char"):
        data.check_block_size(100)
    with pytest.raises(ValueError, match="longer than the training text"):
        data.check_block_size(1000)
    assert data.check_block_size(16) == 16


def test_one_distinct_character_is_refused():
    with pytest.raises(ValueError, match=r"1 distinct character \('a'\): there is nothing to predict"):
        TextData.from_text("aaaaaaa")


def test_empty_binary_and_non_utf8_files_are_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        read_text(empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 0xe9 at offset 3\)"):
        read_text(latin)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"ab\x00cd")
    with pytest.raises(ValueError, match=r"NUL bytes .* binary"):
        read_text(binary)


def test_a_utf8_file_is_read_once_without_its_byte_order_mark(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_bytes("\ufeffÉté, été\n".encode())
    assert read_text(path) == "Été, été\n"
    data = TextData.from_file(path)
    assert data.name == str(path)
    assert "É" in data.vocab.chars


def test_text_sources_are_named_by_their_suffix():
    assert is_text_source("corpus.txt")
    assert is_text_source("CORPUS.TXT")
    assert not is_text_source("digits")
    assert not is_text_source("rows.csv")


def test_the_default_corpus_is_the_interpreters_own_source_cut_at_the_limit():
    text, description = python_source(20_000)
    assert len(text) == 20_000
    assert "standard library of Python" in description
    assert text == python_source(20_000)[0]
    assert "def " in text
