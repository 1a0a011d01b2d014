"""ScratchNNClassifier as a scikit-learn estimator: the contract, pipelines, searches, Digits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from scratchnn import NeuralNetwork
from scratchnn.sklearn import ScratchNNClassifier

# Every check of scikit-learn's suite passes, so no check is listed as expected to fail.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [ScratchNNClassifier(), ScratchNNClassifier(dtype="float64")],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_each_scikit_learn_estimator_check(estimator, check):
    check(estimator)


def test_check_estimator_passes_as_a_whole():
    # on_skip=None: checks needing optional packages (pandas) are skipped without a warning
    results = check_estimator(
        ScratchNNClassifier(), expected_failed_checks=EXPECTED_FAILED_CHECKS, on_skip=None
    )
    assert not [r for r in results if r["status"] == "failed"]


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def scaled_net(**params) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("net", ScratchNNClassifier(**params))])


def test_default_pipeline_scores_at_least_095_on_shuffled_stratified_5_fold_digits(digits):
    X, y = digits
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(scaled_net(random_state=0), X, y, cv=cv)
    # measured: 0.9733 (folds 0.975, 0.961, 0.972, 0.983, 0.975)
    assert scores.mean() >= 0.95, scores


def test_grid_search_cv_with_two_jobs_picks_from_the_grid_and_refits(digits):
    X, y = digits
    search = GridSearchCV(
        scaled_net(epochs=5, random_state=0),
        {"net__hidden_units": [(16,), (64,)], "net__learning_rate": [0.05, 0.1]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=2,
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["net__hidden_units"] in [(16,), (64,)]
    assert search.best_score_ > 0.9
    fitted = search.best_estimator_.named_steps["net"]
    assert fitted.hidden_units == search.best_params_["net__hidden_units"]
    assert fitted.network_.layers[0].W.shape == (64, fitted.hidden_units[0])


def test_grid_search_cv_gives_the_same_scores_with_one_and_two_jobs(digits):
    X, y = digits[0][:600], digits[1][:600]
    grid = {"net__hidden_units": [(16,), (32,)]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = [
        GridSearchCV(scaled_net(epochs=3, random_state=0), grid, cv=cv, n_jobs=n)
        .fit(X, y)
        .cv_results_["mean_test_score"]
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(scores[0], scores[1])


def blobs(n=120, centers=3, seed=0):
    X, y = make_blobs(n_samples=n, centers=centers, n_features=4, random_state=seed)
    return X, y


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "emu"]),
        np.array([-5, 7, 100]),
        np.array([1.0, 2.0, 3.0]),
        np.array([True, False, True])[:2],
    ],
    ids=["strings", "negative-and-sparse-ints", "integral-floats", "bools"],
)
def test_any_label_type_comes_back_as_given(labels):
    X, codes = blobs(centers=len(labels))
    y = labels[codes]
    clf = ScratchNNClassifier(random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype
    assert set(pred) <= set(labels)
    assert clf.score(X, y) > 0.9


def test_fit_sets_the_fitted_attributes_and_returns_self():
    X, y = blobs()
    clf = ScratchNNClassifier(hidden_units=(8, 6), epochs=3, random_state=0)
    assert clf.fit(X, y) is clf
    assert clf.n_features_in_ == 4
    assert isinstance(clf.network_, NeuralNetwork)
    assert [layer.W.shape for layer in clf.network_.layers if hasattr(layer, "W")] == [(4, 8), (8, 6), (6, 3)]
    assert len(clf.history_) == clf.n_iter_ == 3
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert clf.predict_proba(X).dtype == np.float64


def test_parameters_are_stored_unchanged_and_checked_only_in_fit():
    clf = ScratchNNClassifier(hidden_units=[32, 16], batch_size=0, activation="bogus")
    assert clf.get_params()["hidden_units"] == [32, 16]
    assert clone(clf).get_params() == clf.get_params()
    with pytest.raises(ValueError, match="activation must be one of"):
        clf.fit(*blobs())


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("batch_size", 0, "batch_size must be a positive integer, got 0"),
        ("learning_rate", -1.0, "learning_rate must be a positive finite number, got -1.0"),
        ("activation", "bogus", "activation must be one of .* got 'bogus'"),
        ("dtype", "float16", "dtype must be 'float32' or 'float64', got 'float16'"),
    ],
)
def test_a_bad_parameter_is_named_with_its_value_in_fit(param, value, message):
    clf = ScratchNNClassifier(**{param: value})
    with pytest.raises(ValueError, match=message):
        clf.fit(*blobs())


def test_a_single_class_is_a_clear_error():
    X, _ = blobs()
    # scikit-learn's convention (check_classifiers_one_label): a ValueError that says "class"
    with pytest.raises(ValueError, match=r"at least two classes.*one class: 'only'"):
        ScratchNNClassifier().fit(X, np.full(len(X), "only"))


def test_same_random_state_gives_identical_models_and_different_ones_differ():
    X, y = blobs()

    def proba(random_state):
        return ScratchNNClassifier(epochs=3, random_state=random_state).fit(X, y).predict_proba(X)

    np.testing.assert_array_equal(proba(3), proba(3))
    np.testing.assert_array_equal(proba(np.random.RandomState(3)), proba(np.random.RandomState(3)))
    assert not np.array_equal(proba(3), proba(4))


def test_predict_is_the_argmax_of_predict_proba_and_rows_sum_to_one():
    X, y = blobs()
    clf = ScratchNNClassifier(epochs=2, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_early_stopping_holds_out_validation_data_and_keeps_the_best_epoch():
    X, y = blobs(n=300)
    clf = ScratchNNClassifier(epochs=40, patience=2, validation_fraction=0.2, random_state=0).fit(X, y)
    assert "val_loss" in clf.history_[0]
    assert clf.history_.best_epoch is not None
    assert clf.n_iter_ <= 40
    if clf.history_.stopped_early:
        assert clf.n_iter_ == clf.history_.best_epoch + 2


def test_early_stopping_rejects_a_bad_validation_fraction():
    with pytest.raises(ValueError, match=r"validation_fraction must be .* got 1\.5"):
        ScratchNNClassifier(patience=2, validation_fraction=1.5).fit(*blobs())


def test_predict_checks_the_number_of_features():
    X, y = blobs()
    clf = ScratchNNClassifier(epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but ScratchNNClassifier is expecting 4"):
        clf.predict(X[:, :3])
