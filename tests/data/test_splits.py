"""Preparing data for training (``scratchnn.data``): label codes, splits, the scaler, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn import data
from scratchnn.data import targets as tasks


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


# -- the task a target is for ---------------------------------------------------------------


def test_auto_reads_a_quantity_as_regression_and_says_why():
    from sklearn.datasets import load_diabetes

    labels = np.array([repr(float(v)) for v in load_diabetes().target])
    task, why = tasks.choose_task(labels, "auto", target="y")
    assert task == "regression"
    assert why == "'y' holds 214 distinct numbers in 442 rows"
    task, why = tasks.choose_task(np.array(["0.5", "1.25", "2.0"]), target="y")
    assert (task, why) == ("regression", "'y' holds numbers that are not whole (0.5 on row 1)")


def test_auto_reads_text_labels_and_a_handful_of_whole_numbers_as_classes():
    assert tasks.choose_task(np.array(["cat", "dog", "cat"])) == (
        "classification",
        "'target' holds text labels",
    )
    digits = np.array([str(i % 10) for i in range(1797)])
    assert tasks.choose_task(digits) == ("classification", "'target' holds 10 distinct whole numbers")
    # 100 whole numbers are classes when there are rows enough for them (5 per class)
    assert tasks.choose_task(np.array([str(i % 100) for i in range(500)]))[0] == "classification"
    assert tasks.choose_task(np.array([str(i % 100) for i in range(499)]))[0] == "regression"


def test_a_numeric_target_forced_to_classes_is_refused_with_the_count_and_the_way_out():
    values = np.array([str(v) for v in range(300)])
    with pytest.raises(ValueError, match="too many to be classes") as info:
        tasks.choose_task(values, "classification", target="y", source="d.csv", lines=np.arange(2, 302))
    message = str(info.value)
    assert message.startswith("d.csv: the target column 'y' holds 300 distinct numbers in 300 rows, too many")
    assert message.endswith("; for a numeric target use --task regression")
    with pytest.raises(ValueError, match=r"not whole \(2.5 on line 3\), which are not class labels"):
        tasks.choose_task(np.array(["1", "2.5"]), "classification", lines=np.array([2, 3]))


def test_regression_needs_finite_numbers_and_names_the_first_that_is_not():
    with pytest.raises(
        ValueError,
        match="--task regression needs numbers in the target column 'target', but it holds 'n/a' on row 2",
    ):
        tasks.choose_task(np.array(["1", "n/a", "3"]), "regression")
    with pytest.raises(ValueError, match="holds 'inf' on row 3, which is not a finite number"):
        tasks.choose_task(np.array(["1", "2", "inf"]), "auto")
    with pytest.raises(ValueError, match="--task must be one of auto, classification, regression"):
        tasks.choose_task(np.array(["1"]), "numbers")


def test_one_and_one_point_zero_are_one_class():
    y, names = data.encode_labels(np.array(["1", "1.0", "2", "2.00", "10"]))
    assert names == ["1", "2", "10"]
    assert y.tolist() == [0, 0, 1, 1, 2]
    assert data.encode_with(np.array(["2.0", "1", "10.0"]), names).tolist() == [1, 0, 2]
    y, names = data.encode_labels(np.array(["1.0", "cat", "1"]))  # a mixed column: the number still one class
    assert names == ["1", "cat"]
    assert y.tolist() == [0, 1, 0]


def test_regression_splits_are_random_and_fixed_by_the_seed():
    y = np.repeat([1.0, 2.0], 50)  # two values, 50 rows each: as classes they would be stratified
    train, val, test = data.split_indices(y, 0.3, 0.2, seed=3, classes=False)
    again = data.split_indices(y, 0.3, 0.2, seed=3, classes=False)
    for a, b in zip((train, val, test), again):
        np.testing.assert_array_equal(a, b)
    assert len(test) == 30
    assert len(np.intersect1d(train, test)) == 0
    from sklearn.model_selection import train_test_split

    _, held = train_test_split(np.arange(100), test_size=0.3, random_state=3)
    np.testing.assert_array_equal(test, np.sort(held))
