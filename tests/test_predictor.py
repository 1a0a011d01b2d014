"""A ``Predictor`` is a trained model with its preprocessing: raw rows in, answers out.

It loads the model files written before it existed and answers bit for bit as
the network and scaler did by hand; and metadata that ``save`` would never
write (a NaN or zero scaler, a wrong-length mean, a flipped or unknown task,
an extra category, a non-numeric fill value, a malformed input shape) is a
``ModelFileError`` naming what is wrong, which the command line reports as one
line with exit status 2 (a real subprocess each).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
FIXTURES, GOLDEN = HERE / "fixtures", HERE / "golden"


def corrupt(source: str, path: Path, change) -> Path:
    """A copy of the model file ``source`` whose metadata ``change(meta)`` edited, as a hand would."""
    with np.load(FIXTURES / source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["__meta__"]))
    change(meta["metadata"])
    arrays["__meta__"] = np.array(json.dumps(meta))  # json writes NaN as NaN, which json reads back
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


def _scaler(field, index, value):
    return lambda meta: meta["scaler"][field].__setitem__(index, value)


def _column(name, key, value):
    def change(meta):
        column = next(c for c in meta["columns"]["columns"] if c["name"] == name)
        column[key] = value(column[key]) if callable(value) else value

    return change


# name: (model file, rows to predict, change, words the one-line message must hold)
CORRUPTIONS = {
    "nan scaler": ("table_grade.npz", "table.csv", _scaler("mean", 0, math.nan), ["scaler", "finite"]),
    "zero scaler": ("table_grade.npz", "table.csv", _scaler("scale", 1, 0.0), ["scaler", "scale > 0"]),
    "short mean": ("table_grade.npz", "table.csv",
                   lambda meta: meta["scaler"].update(mean=meta["scaler"]["mean"][:-1],
                                                      scale=meta["scaler"]["scale"][:-1]),
                   ["scaler has 4 features", "network of 5"]),
    "task flipped": ("regressor_prices.npz", "prices.csv", _set("task", "classification"),
                     ["task is 'classification'", "fits regression"]),
    "unknown task": ("table_grade.npz", "table.csv", _set("task", "clustering"), ["task 'clustering'"]),
    "extra category": ("table_grade.npz", "table.csv", _column("city", "categories", lambda c: [*c, "Rome"]),
                       ["column plan makes 6 features", "network of 5"]),
    "text fill": ("table_grade.npz", "table.csv", _column("size", "fill", "abc"),
                  ["numeric column 'size'", "'abc'"]),
    "input shape text": ("mlp_digits.npz", "digits_rows.csv", _set("input_shape", "abc"),
                         ["input_shape", "'abc'"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_metadata_is_one_line_naming_it_and_exit_2(case, tmp_path):
    source, rows, change, words = CORRUPTIONS[case]
    model = corrupt(source, tmp_path / "model.npz", change)
    proc = subprocess.run(
        [sys.executable, "-m", "scratchnn", "predict", "--model", str(model), "--input", str(GOLDEN / rows)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "unexpected" not in lines[0]
    assert "metadata" in lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} missing from {lines[0]!r}"


def test_corrupted_metadata_raises_model_file_error_in_python(tmp_path):
    from scratchnn.predictor import Predictor
    from scratchnn.serialization import ModelFileError

    model = corrupt("table_grade.npz", tmp_path / "model.npz", _set("task", "clustering"))
    with pytest.raises(ModelFileError, match="task 'clustering'"):
        Predictor.load(model)


@pytest.mark.parametrize(("source", "rows"), [
    ("mlp_digits.npz", "digits_rows.csv"),
    ("table_grade.npz", "table.csv"),
    ("regressor_prices.npz", "prices.csv"),
])  # fmt: skip
def test_a_predictor_answers_raw_rows_as_the_network_and_scaler_do_by_hand(source, rows, tmp_path):
    from scratchnn.predictor import Predictor

    model = Predictor.load(FIXTURES / source)
    ds = model.read_rows(str(GOLDEN / rows))
    by_hand = model.network.predict(model.scaler.transform(model.features(ds)))
    if model.target_scaler is not None:
        by_hand = model.target_scaler.inverse_transform(by_hand)
    np.testing.assert_array_equal(model.predict(ds), by_hand)
    model.save(tmp_path / "again.npz")
    again = Predictor.load(tmp_path / "again.npz")
    assert again.metadata == model.metadata
    assert again.predict(ds).tobytes() == model.predict(ds).tobytes()
    if model.target_scaler is None:
        proba = model.predict_proba(ds)
        np.testing.assert_array_equal(np.argmax(proba, axis=1), model.predict(ds))
    else:
        with pytest.raises(ValueError, match="predicts a number"):
            model.predict_proba(ds)
