"""Preparing data for training (``scratchnn.data``): label codes, splits, the scaler, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn import data


def test_encode_with_a_models_names_refuses_unknown_labels():
    assert data.encode_with(["b", "a"], ["a", "b"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="label 'c' \\(data row 2\\) is not one of the model's classes"):
        data.encode_with(["a", "c"], ["a", "b"])
    with pytest.raises(ValueError, match="at least two classes"):
        data.encode_labels(["a", "a"])


def test_splits_are_disjoint_stratified_and_fixed_by_the_seed():
    y = np.repeat(np.arange(3), 50)
    train, val, test = data.split_indices(y, 0.2, 0.25, seed=3)
    assert (len(train), len(val), len(test)) == (90, 30, 30)
    assert len(np.unique(np.concatenate([train, val, test]))) == 150
    assert np.bincount(y[test]).tolist() == [10, 10, 10]
    again = data.split_indices(y, 0.2, 0.25, seed=3)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(test, data.split_indices(y, 0.2, 0.25, seed=4)[2])


def test_zero_fractions_give_empty_splits_and_tiny_classes_fall_back_to_random():
    y = np.array([0, 0, 0, 0, 1])
    train, val, test = data.split_indices(y, 0.0, 0.0, seed=0)
    assert (len(train), len(val), len(test)) == (5, 0, 0)
    train, val, test = data.split_indices(y, 0.2, 0.0, seed=0)  # class 1 has one row
    assert (len(train), len(test)) == (4, 1)


def test_scaler_standardises_with_training_statistics_and_guards_constant_columns():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    scaler = data.Scaler.fit(x)
    np.testing.assert_array_equal(scaler.mean, [2.0, 5.0])
    np.testing.assert_array_equal(scaler.scale, [1.0, 1.0])  # constant column: scale 1, not 0
    np.testing.assert_array_equal(scaler.transform(x), [[-1.0, 0.0], [1.0, 0.0]])


def test_scaler_round_trips_through_json_exactly():
    rng = np.random.default_rng(0)
    scaler = data.Scaler.fit(rng.standard_normal((50, 7)) * 3 + 1)
    again = data.Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    x = rng.standard_normal((5, 7))
    np.testing.assert_array_equal(scaler.transform(x), again.transform(x))
    with pytest.raises(ValueError, match="expects 7 features"):
        scaler.transform(np.zeros((2, 3)))


def test_fingerprint_changes_with_the_data():
    x = np.arange(6.0).reshape(3, 2)
    labels = ["a", "b", "a"]
    assert data.fingerprint(x, labels) == data.fingerprint(x.copy(), list(labels))
    assert data.fingerprint(x, labels) != data.fingerprint(x, ["a", "b", "b"])
    assert data.fingerprint(x, labels) != data.fingerprint(x + 1, labels)
