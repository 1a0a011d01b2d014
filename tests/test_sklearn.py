"""The scikit-learn estimators: the contract (check_estimator for both), the classifier in pipelines,
searches and on Digits, the conveniences scikit-learn's MLP users expect, and the input bugs fixed.

The regressor's own behaviour is in tests/test_sklearn_regressor.py; scikit-learn's MLP tests,
ported, in tests/test_mlp_port.py."""

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
from scratchnn.recipe.config import SETTINGS
from scratchnn.sklearn import ScratchNNClassifier, ScratchNNRegressor
from scratchnn.sklearn._base import SKLEARN_PARAMS


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The matrices here are tiny: BLAS threads on a shared machine only wait for each other
    (measured 40x slower under load), so these tests run with one."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


# Every check of scikit-learn's suite passes but one, twice (dense and sparse X): with mini-batches,
# a row repeated k times is k rows to batch, so an epoch has more updates than with the row weighted
# k; the loss of one batch with weights is exactly the loss with repeated rows (tested here and in
# tests/test_regression_training.py). scikit-learn expects the same of its own stochastic solvers
# only under conditions (MLPRegressor: tol=1e-2), and lists the check as failing for others.
_REPEATED_ROWS = "mini-batch SGD: k repeated rows make more updates per epoch than one row weighted k"
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": _REPEATED_ROWS,
    "check_sample_weight_equivalence_on_sparse_data": _REPEATED_ROWS,
}
# Two checks fit one estimator twice and compare the results: with warm_start=True the second fit
# continues the first, which is what warm_start means.
_REFIT = "fits the same estimator twice and compares: with warm_start=True the second fit continues"
WARM_START_FAILED_CHECKS = {
    "check_classifiers_multilabel_representation_invariance": _REFIT,
    "check_supervised_y_2d": _REFIT,
}
ESTIMATORS = [ScratchNNClassifier, ScratchNNRegressor]


#: The rows of the sample-weight checks' repeated data: 15 rows, each repeated up to 4 times.
_CHECKS_REPEATED_ROWS = 60
_FLOAT32 = "float32: the weighted and the repeated fits agree to float32 rounding, not to the check's 1e-7"


def expected_failed_checks(estimator) -> dict[str, str]:
    """The checks expected to fail for ``estimator``, and why; any other check must pass."""
    if estimator.batch_size < _CHECKS_REPEATED_ROWS:
        expected = dict(EXPECTED_FAILED_CHECKS)
    elif estimator.dtype == "float32":
        expected = dict.fromkeys(EXPECTED_FAILED_CHECKS, _FLOAT32)
    else:  # one batch holds every repeated row, so both fits make the same updates
        expected = {}
    if estimator.warm_start:
        return {**expected, **WARM_START_FAILED_CHECKS}
    return expected


@parametrize_with_checks(
    [
        ScratchNNClassifier(),
        ScratchNNClassifier(dtype="float64"),
        ScratchNNRegressor(epochs=30),  # the defaults in full: test_check_estimator_passes_as_a_whole...
        ScratchNNRegressor(dtype="float32", epochs=20, warm_start=True),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_each_scikit_learn_estimator_check(estimator, check):
    check(estimator)


@pytest.mark.parametrize("warm_start", [False, True], ids=["cold", "warm_start"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_check_estimator_passes_as_a_whole_partial_fit_checked(cls, warm_start):
    # on_skip=None: checks needing optional packages (pandas) are skipped without a warning
    estimator = cls(warm_start=warm_start)
    expected = expected_failed_checks(estimator)
    results = check_estimator(estimator, expected_failed_checks=expected, on_skip=None)
    assert not [r for r in results if r["status"] == "failed"]
    # scikit-learn checks partial_fit once the estimator has it
    assert "check_estimators_partial_fit_n_features" in {r["check_name"] for r in results}


#: L-BFGS run to a tight minimum (no gradient entry above tol) on a well-conditioned problem: the
#: sample-weight checks compare two fits at 1e-7, and two L-BFGS runs that differ only by rounding
#: agree that closely only where both have converged (float64, and weight decay, without which
#: saturated tanh directions are nearly flat and separable classes push the logits to hundreds).
LBFGS_SETTINGS = {"optimizer": "lbfgs", "dtype": "float64", "hidden_units": 4, "weight_decay": 0.1,
                  "tol": 1e-10, "epochs": 500}  # fmt: skip


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a few epochs on tiny data
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_check_estimator_passes_with_lbfgs_sample_weight_equivalence_included(cls):
    # Full batch and deterministic: a weight of 2 is the row given twice, so nothing is expected to fail
    estimator = cls(**LBFGS_SETTINGS)
    results = check_estimator(estimator, on_skip=None)
    assert not [r for r in results if r["status"] == "failed"]
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert "check_sample_weight_equivalence_on_dense_data" in passed
    assert "check_sample_weight_equivalence_on_sparse_data" in passed
    assert not hasattr(estimator, "partial_fit")  # as scikit-learn's MLPClassifier(solver="lbfgs")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_parameters_are_exactly_the_settings_plus_scikit_learn_ones(cls):
    params = cls().get_params()
    assert set(params) == {s.name for s in SETTINGS} | set(SKLEARN_PARAMS)
    for s in SETTINGS:  # documented in the numpydoc Parameters section generated from SETTINGS
        assert f"{s.name} : {s.doc_type()}, default=" in cls.__doc__
    assert "**params" not in cls.__doc__
    assert "    verbose : bool, default=False\n" in cls.__doc__
    assert "\n    Attributes\n    ----------\n" in cls.__doc__


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_an_unknown_parameter_is_a_type_error_naming_it(cls):
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden_layer_sizes'"):
        cls(hidden_layer_sizes=(5,))


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
    # tol=0: every improvement counts (the default 1e-4 may let a better epoch not reset the count)
    clf = ScratchNNClassifier(epochs=40, patience=2, tol=0.0, validation_fraction=0.2, random_state=0).fit(
        X, y
    )
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


# -- scikit-learn's MLP conveniences, on the classifier ------------------------------------------


def test_partial_fit_needs_classes_first_then_continues_one_epoch_per_call():
    X, y = blobs()
    clf = ScratchNNClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    first = [w.copy() for w in clf.coefs_]
    clf.partial_fit(X[60:], y[60:])
    assert clf.n_iter_ == 1  # epochs of the last call, as scikit-learn's
    assert clf.t_ == len(X)
    assert len(clf.loss_curve_) == 2
    assert not np.array_equal(first[0], clf.coefs_[0])  # the second call trained the same network
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"y holds label 7, not among classes_ \[0, 1, 2\]"):
        clf.partial_fit(X[:5], np.full(5, 7))
    with pytest.raises(ValueError, match="is not the same as on the first call to partial_fit"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        clf.set_params(early_stopping=True).partial_fit(X, y)


def test_partial_fit_classes_may_include_labels_the_first_batch_lacks():
    X, y = blobs()
    labels = np.array(["a", "b", "c"])[y]
    clf = ScratchNNClassifier(random_state=0).partial_fit(X[y < 2], labels[y < 2], classes=["a", "b", "c"])
    assert clf.predict_proba(X).shape == (len(X), 3)
    for _ in range(30):
        clf.partial_fit(X, labels)
    assert clf.score(X, labels) > 0.9


def test_warm_start_continues_the_weights_and_the_counters():
    X, y = blobs()
    cold = ScratchNNClassifier(epochs=4, random_state=0).fit(X, y)
    warm = ScratchNNClassifier(epochs=2, warm_start=True, random_state=0).fit(X, y)
    after_first = warm.coefs_[0].copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 2  # epochs of the last fit, as scikit-learn's
    assert len(warm.loss_curve_) == 4
    assert warm.t_ == 4 * len(X)
    assert not np.array_equal(after_first, warm.coefs_[0])
    # two warm fits of 2 epochs are one run of 4 epochs (same weights, optimizer state and batch order)
    np.testing.assert_allclose(warm.loss_curve_, cold.loss_curve_, rtol=1e-6)
    refit = ScratchNNClassifier(epochs=2, random_state=0).fit(X, y).fit(X, y)  # no warm start: anew
    assert refit.n_iter_ == 2


def test_a_sample_weight_of_two_is_the_row_given_twice_in_one_full_batch():
    X, y = blobs(n=30)
    w = np.ones(len(X))
    w[:5] = 2.0
    params = dict(batch_size=100, epochs=3, dtype="float64", random_state=0)
    weighted = ScratchNNClassifier(**params).fit(X, y, sample_weight=w)
    repeated = ScratchNNClassifier(**params).fit(np.vstack([X, X[:5]]), np.concatenate([y, y[:5]]))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-10, atol=1e-12)
    unweighted = ScratchNNClassifier(**params).fit(X, y)
    assert not np.allclose(weighted.predict_proba(X), unweighted.predict_proba(X), rtol=1e-6)


def test_predict_log_proba_is_the_log_of_predict_proba_and_stays_finite_where_it_underflows():
    X, y = blobs()
    clf = ScratchNNClassifier(epochs=3, dtype="float64", random_state=0).fit(X, y)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), rtol=1e-12)
    clf.coefs_[-1][...] *= 1e4  # logits about 1e4 apart: softmax gives exact zeros
    log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba))
    assert np.any(clf.predict_proba(X) == 0.0)
    z = clf.network_.forward(X)
    np.testing.assert_allclose(log_proba, z - z.max(axis=1, keepdims=True), atol=1e-6)  # gaps ~1e4


def test_coefs_and_intercepts_are_the_dense_layers_own_arrays_in_scikit_learns_shapes():
    X, y = blobs()
    clf = ScratchNNClassifier(hidden_units=(8, 6), epochs=1, random_state=0).fit(X, y)
    assert [w.shape for w in clf.coefs_] == [(4, 8), (8, 6), (6, 3)]  # (n_in, n_out), as sklearn's
    assert [b.shape for b in clf.intercepts_] == [(8,), (6,), (3,)]
    dense = [layer for layer in clf.network_.layers if layer.params]
    assert all(w is layer.W for w, layer in zip(clf.coefs_, dense))
    assert all(b is layer.b for b, layer in zip(clf.intercepts_, dense))
    before = clf.predict_proba(X)
    clf.intercepts_[-1][0] += 100.0  # a write into the view is a write into the network
    assert not np.allclose(before, clf.predict_proba(X))
    assert np.all(clf.predict(X) == clf.classes_[0])


def test_without_early_stopping_best_loss_is_the_lowest_training_loss_and_no_validation_scores():
    clf = ScratchNNClassifier(epochs=5, random_state=0).fit(*blobs())
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None
    assert clf.best_validation_score_ is None
    assert "val_loss" not in clf.history_[0]


def test_early_stopping_records_validation_scores_and_keeps_the_best_epoch():
    X, y = blobs(n=300)
    clf = ScratchNNClassifier(epochs=60, patience=3, validation_fraction=0.2, random_state=0).fit(X, y)
    val_losses = clf.history_.column("val_loss")
    assert len(clf.validation_scores_) == len(val_losses) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.validation_scores_ == clf.history_.column("val_accuracy")
    best = clf.history_.best_epoch
    assert min(val_losses) == val_losses[best - 1]
    assert (
        clf.best_loss_ is None
    )  # scikit-learn's: the training loss's best, kept only without early stopping
    assert clf.best_validation_score_ == clf.validation_scores_[best - 1]
    assert clf.t_ == clf.n_iter_ * 240  # 80% of the rows train


def test_early_stopping_true_without_patience_waits_ten_epochs_as_scikit_learn():
    X, y = blobs(n=200)
    clf = ScratchNNClassifier(epochs=300, early_stopping=True, tol=0.0, random_state=0).fit(X, y)
    assert clf.history_.stopped_early
    assert clf.n_iter_ == clf.history_.best_epoch + 10


def test_patience_without_early_stopping_watches_the_training_loss():
    X, y = blobs(n=200)
    clf = ScratchNNClassifier(epochs=300, patience=2, early_stopping=False, learning_rate=1.0, random_state=0)
    clf.fit(X, y)
    assert "val_loss" not in clf.history_[0]
    assert clf.t_ == clf.n_iter_ * 200  # nothing held out
    curve = clf.loss_curve_
    if clf.history_.stopped_early:
        assert min(curve[-2:]) >= min(curve[:-2])


def test_multilabel_targets_train_sigmoid_outputs_with_binary_cross_entropy():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=3, random_state=0)
    clf = ScratchNNClassifier(epochs=40, random_state=0).fit(X, Y)
    assert type(clf.network_.loss).__name__ == "BCEWithLogitsLoss"
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 3)
    assert np.all((proba > 0) & (proba < 1))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # each column its own yes/no
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    assert clf.score(X, Y) > 0.6  # exact-match accuracy, as scikit-learn's


def test_sparse_csr_rows_are_densified_a_block_of_batches_at_a_time(monkeypatch):
    import scipy.sparse

    from scratchnn.sklearn import _base

    X, y = blobs(n=200)
    X_sparse = scipy.sparse.csr_matrix(np.where(np.abs(X) > 3, X, 0.0))
    monkeypatch.setattr(_base, "SPARSE_BLOCK_BYTES", 2 * 16 * 4 * 8)  # two batches of 16 float64 rows
    seen = []
    toarray = scipy.sparse.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        seen.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", recording_toarray)
    clf = ScratchNNClassifier(epochs=20, dtype="float64", random_state=0).fit(X_sparse, y)
    assert seen
    assert max(seen) == 32
    assert sum(seen) == 20 * 200
    monkeypatch.setattr(scipy.sparse.csr_matrix, "toarray", toarray)
    dense = X_sparse.toarray()
    np.testing.assert_array_equal(clf.predict_proba(X_sparse), clf.predict_proba(dense))
    # the same batches in the same order as its dense twin: the same network
    twin = ScratchNNClassifier(epochs=20, dtype="float64", random_state=0).fit(dense, y)
    np.testing.assert_allclose(clf.predict_proba(dense), twin.predict_proba(dense), rtol=1e-12)
    assert clf.score(X_sparse, y) > 0.9


# -- bugs found by running scikit-learn's MLP tests against the estimator ------------------------


@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict", "predict_proba", "predict_log_proba"])
def test_a_feature_beyond_float32s_range_is_refused_naming_the_feature_without_a_warning(method):
    X, y = blobs()
    huge = X.copy()
    huge[7, 2] = 1e39  # finite in float64, infinite in the float32 the network computes in
    clf = ScratchNNClassifier(epochs=1, random_state=0)
    if method in ("fit", "partial_fit"):
        call = (
            (lambda: clf.fit(huge, y))
            if method == "fit"
            else (lambda: clf.partial_fit(huge, y, classes=[0, 1, 2]))
        )
    else:
        clf.fit(X, y)
        call = lambda: getattr(clf, method)(huge)  # noqa: E731
    # pytest turns warnings into errors: a RuntimeWarning from the cast would fail here first
    with pytest.raises(
        ValueError, match=r"row 7, column 2: 1e\+39\): feature 2 exceeds float32's range"
    ) as err:
        call()
    assert "dtype='float64'" in str(err.value)
    assert "scale" in str(err.value)
    ScratchNNClassifier(epochs=1, dtype="float64", random_state=0).fit(huge, y)  # float64 holds it


def test_float64_inputs_too_large_to_compute_with_blame_the_scale_not_the_learning_rate():
    X, y = blobs()
    with pytest.raises(ValueError, match=r"because of the input's scale, not the learning rate") as err:
        ScratchNNClassifier(epochs=1, dtype="float64", random_state=0).fit(X * 1e300, y)
    assert "smaller learning rate" not in str(err.value)
    assert "StandardScaler" in str(err.value)


def test_a_class_too_small_for_the_validation_split_is_named_by_its_label():
    X, _ = blobs(n=40)
    y = np.array(["spam"] * 39 + ["ham"])
    with pytest.raises(ValueError, match=r"class 'ham' has 1 of the 40 rows") as err:
        ScratchNNClassifier(patience=2).fit(X, y)
    assert "[0]" not in str(err.value)


def test_the_command_line_refuses_a_row_beyond_float32s_range_as_a_one_line_user_error(tmp_path):
    import csv
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from sklearn.datasets import load_iris

    script = shutil.which("scratchnn", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "scratchnn"]
    train = subprocess.run(
        [*command, "train", "--data", "iris", "--out", "runs/i", "--epochs", "1", "--seed", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    rows = load_iris().data[:3].tolist()
    rows[1][2] = 1e39  # finite in the CSV, beyond float32 once scaled
    with open(tmp_path / "rows.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
        writer.writerows(rows)
    proc = subprocess.run(
        [*command, "predict", "--model", "runs/i/model.npz", "--input", "rows.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "row 1, column 2" in lines[0]
    assert "feature 2 exceeds float32's range" in lines[0]
    assert "Traceback" not in proc.stderr


def test_fit_checks_the_data_once_at_its_door_not_again_every_epoch(monkeypatch):
    from scratchnn import trainer

    calls = []
    check_data = trainer.check_training_data
    monkeypatch.setattr(
        trainer, "check_training_data", lambda *a, **k: calls.append(a) or check_data(*a, **k)
    )
    clf = ScratchNNClassifier(epochs=5, random_state=0).fit(*blobs())
    assert clf.n_iter_ == 5
    assert calls == []  # validate_data in fit was the check; the trainer's loop trusts it


def test_a_warm_started_lbfgs_fit_gets_its_own_max_fun_budget_and_keeps_its_unit_rate():
    from sklearn.exceptions import ConvergenceWarning

    X, y = blobs()
    clf = ScratchNNClassifier(optimizer="lbfgs", max_fun=8, epochs=50, warm_start=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_fun=8"):
        clf.fit(X, y)
    with pytest.warns(ConvergenceWarning, match="max_fun=8"):
        clf.fit(X, y)
    assert clf.n_iter_ > 1  # not stopped at once by the evaluations of the first fit
    assert clf._trainer.optimizer.func_evals <= 8
    assert clf._trainer.optimizer.learning_rate == 1.0  # the line search chooses the step
