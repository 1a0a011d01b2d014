"""ScratchNNRegressor: the target standardised and restored, one or several outputs, the regression
losses (the Poisson loss on the raw target), and the conveniences it shares with the classifier
(partial_fit, warm_start, sample_weight, coefs_, early stopping scored by R² and ending a diverging
fit, sparse X)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchnn import TrainingDiverged
from scratchnn.sklearn import ScratchNNRegressor


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The matrices here are tiny: BLAS threads on a shared machine only wait for each other
    (measured 40x slower under load), so these tests run with one."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def friedman(n=400, seed=0):
    return make_friedman1(n_samples=n, noise=1.0, random_state=seed)


FAST = dict(epochs=30, random_state=0)


def test_defaults_learn_friedman1_well_on_held_out_rows():
    X, y = friedman(600)
    model = make_pipeline(StandardScaler(), ScratchNNRegressor(random_state=0)).fit(X[:500], y[:500])
    # measured: 0.85 (the 5-split benchmark with 1600 training rows is in benchmarks/regression.py)
    assert model.score(X[500:], y[500:]) > 0.8


def test_predictions_are_in_the_targets_units_whatever_its_scale_and_offset():
    X, y = friedman()
    small = ScratchNNRegressor(**FAST).fit(X, y)
    big = ScratchNNRegressor(**FAST).fit(X, 1000.0 * y + 5e6)
    # the network sees the same standardised target both times, so only the units differ
    np.testing.assert_allclose(big.predict(X), 1000.0 * small.predict(X) + 5e6, rtol=1e-9)
    assert abs(np.mean(small.predict(X)) - np.mean(y)) < 0.1 * np.std(y)
    scaler = small.target_scaler_
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(y[:, None])), y[:, None], rtol=1e-12)


def test_one_target_gives_1d_predictions_and_several_give_columns():
    X, y = make_regression(n_samples=120, n_features=5, n_targets=3, noise=0.1, random_state=0)
    reg = ScratchNNRegressor(**FAST).fit(X, y)
    assert reg.n_outputs_ == 3
    assert reg.predict(X).shape == (120, 3)
    assert reg.coefs_[-1].shape == (reg.coefs_[-1].shape[0], 3)
    assert reg.score(X, y) > 0.9
    one = ScratchNNRegressor(**FAST).fit(X, y[:, :1])
    assert one.predict(X).shape == (120,)


def test_the_output_is_linear_and_an_identity_network_is_linear_regression():
    X, y = make_regression(n_samples=200, n_features=4, noise=0.0, random_state=1)
    reg = ScratchNNRegressor(
        activation="identity", hidden_units=8, weight_decay=0.0, epochs=200, random_state=0
    )
    reg.fit(X, y)
    assert not any(type(layer).__name__ in ("Sigmoid", "Tanh") for layer in reg.network_.layers[-2:])
    assert reg.score(X, y) > 0.9999
    # a linear network: predictions are an affine function of X, whatever the point
    x0, x1 = X[:1], X[1:2]
    mid = reg.predict((x0 + x1) / 2)
    np.testing.assert_allclose(mid, (reg.predict(x0) + reg.predict(x1)) / 2, rtol=1e-9)


@pytest.mark.parametrize(("loss", "cls"), [("mse", "MeanSquaredError"), ("huber", "HuberLoss"),
                                           ("mae", "MeanAbsoluteError")])  # fmt: skip
def test_each_regression_loss_trains(loss, cls):
    X, y = friedman()
    reg = ScratchNNRegressor(loss=loss, **FAST).fit(X, y)
    assert type(reg.network_.loss).__name__ == cls
    assert reg.score(X, y) > 0.7


def test_a_classification_loss_is_refused_naming_the_loss():
    with pytest.raises(
        ValueError, match=r"loss must be one of \['mse', 'huber', 'mae', 'poisson'\] .* got 'cross-entropy'"
    ):
        ScratchNNRegressor(loss="cross-entropy").fit(*friedman(50))


def counts(n=400, seed=0):
    """Features and Poisson counts of mean exp(X @ w + 0.5), w of size about 1."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, rng.poisson(np.exp(X @ np.array([0.6, -0.4, 0.2]) + 0.5)).astype(float)


def test_poisson_loss_keeps_the_target_raw_and_predicts_exp_of_the_outputs():
    X, y = counts()
    reg = ScratchNNRegressor(loss="poisson", early_stopping=True, **FAST).fit(X, y)
    assert type(reg.network_.loss).__name__ == "PoissonLoss"
    assert reg.out_activation_ == "exp"
    # no standardisation: a centred count is negative, and the outputs are log-means
    np.testing.assert_array_equal(reg.target_scaler_.mean, [0.0])
    np.testing.assert_array_equal(reg.target_scaler_.scale, [1.0])
    np.testing.assert_allclose(reg.predict(X), np.exp(reg.network_.forward(X)).ravel(), rtol=1e-12)
    assert np.all(reg.predict(X) > 0)
    # the validation score is R² of the predicted means, not of their logs
    assert 0.3 < reg.best_validation_score_ < 1
    assert reg.score(X, y) > 0.3


def test_poisson_loss_refuses_a_negative_target_naming_y_and_the_value():
    X, y = counts(50)
    y[7] = -3.0
    with pytest.raises(
        ValueError, match=r"y must be >= 0 for the poisson loss \(counts or rates\), got -3.0"
    ):
        ScratchNNRegressor(loss="poisson").fit(X, y)


def diverging(**params):
    """A regressor whose momentum SGD at rate 1 diverges within a few epochs on unscaled features."""
    X, y = friedman(200)
    settings = dict(
        activation="identity", optimizer="momentum", learning_rate=1.0, schedule="constant", batch_size=200,
        epochs=30, random_state=0,
    )  # fmt: skip
    return ScratchNNRegressor(**{**settings, **params}), X * 10, y


def test_a_diverging_fit_with_early_stopping_keeps_the_best_epochs_finite_weights_and_warns():
    reg, X, y = diverging(early_stopping=True)
    with pytest.warns(ConvergenceWarning, match=r"diverged in epoch \d+ .* try a smaller learning rate"):
        reg.fit(X, y)
    scores = reg.validation_scores_
    assert len(scores) == len(reg.loss_curve_) == reg.n_iter_ < reg.epochs
    assert np.isnan(scores[-1])
    assert np.isfinite(scores[:-1]).all()
    best = reg.history_.best_epoch
    assert best is not None
    assert reg.best_validation_score_ == scores[best - 1]
    assert all(np.isfinite(w).all() for w in reg.coefs_ + reg.intercepts_)
    assert np.isfinite(reg.predict(X)).all()


def test_a_diverging_first_epoch_falls_back_to_the_weights_training_started_from():
    reg, X, y = diverging(early_stopping=True, warm_start=True, batch_size=10, epochs=3)
    reg.set_params(learning_rate=1e-5).fit(X, y)  # a stable fit first, then a warm fit that diverges
    before = [w.copy() for w in reg.coefs_ + reg.intercepts_]
    with pytest.warns(
        ConvergenceWarning, match="diverged in epoch 1 .* kept the best weights, those it started from"
    ):
        reg.set_params(learning_rate=1e6).fit(X, y)
    assert reg.n_iter_ == 1
    assert np.isnan(reg.validation_scores_[0])
    for w, w0 in zip(reg.coefs_ + reg.intercepts_, before):
        np.testing.assert_array_equal(w, w0)


def test_a_diverging_fit_without_early_stopping_is_still_an_error():
    reg, X, y = diverging(early_stopping=False)
    with pytest.raises(TrainingDiverged, match="try a smaller learning rate than 1"):
        reg.fit(X, y)


def test_partial_fit_continues_and_keeps_the_first_calls_standardisation():
    X, y = friedman()
    reg = ScratchNNRegressor(random_state=0)
    for start in range(0, 400, 100):
        reg.partial_fit(X[start : start + 100], y[start : start + 100])
    assert reg.n_iter_ == 1  # the last call's epochs, as scikit-learn's
    assert reg.t_ == 400
    assert len(reg.loss_curve_) == 4
    scaler = reg.target_scaler_
    reg.partial_fit(X[:10], y[:10] * 100)
    assert reg.target_scaler_ is scaler
    with pytest.raises(ValueError, match="y has 2 target columns, but the first fit had 1"):
        reg.partial_fit(X[:10], np.c_[y[:10], y[:10]])


def test_warm_start_fit_continues_from_the_previous_weights():
    X, y = friedman()
    params = dict(schedule="constant", random_state=0)
    warm = ScratchNNRegressor(epochs=5, warm_start=True, **params).fit(X, y)
    warm.fit(X, y)
    cold = ScratchNNRegressor(epochs=10, **params).fit(X, y)
    assert warm.n_iter_ == 5
    assert warm.t_ == 10 * len(X)
    np.testing.assert_allclose(warm.loss_curve_, cold.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(warm.predict(X), cold.predict(X), rtol=1e-9)


def test_a_warm_fit_runs_its_schedule_anew_and_partial_fit_the_constant_rate():
    X, y = friedman()
    reg = ScratchNNRegressor(epochs=5, warm_start=True, schedule="cosine", random_state=0).fit(X, y)
    assert reg._trainer.optimizer.learning_rate < 0.01 * reg.learning_rate  # near the cosine's end
    before = reg.loss_curve_[-1]
    reg.fit(X, y)  # a warm restart: the rate rises again, so the weights move
    assert reg.loss_curve_[-1] < before
    reg.partial_fit(X, y)
    assert reg._trainer.optimizer.learning_rate == reg.learning_rate


def test_sample_weights_are_a_normalised_weighted_mean_and_zero_weight_rows_are_ignored():
    X, y = friedman(200)
    params = dict(epochs=40, random_state=0)
    w = np.linspace(0.5, 2.0, 200)
    # scaling every weight changes nothing: the loss is sum(w * l) / sum(w)
    np.testing.assert_allclose(
        ScratchNNRegressor(**params).fit(X, y, sample_weight=w).predict(X),
        ScratchNNRegressor(**params).fit(X, y, sample_weight=5 * w).predict(X),
        rtol=1e-9,
    )
    # rows whose target is corrupted by +20 but weighted 0 do not pull the fit
    corrupted = y.copy()
    corrupted[::2] += 20.0
    keep = np.ones(200)
    keep[::2] = 0.0
    weighted = ScratchNNRegressor(**params).fit(X, corrupted, sample_weight=keep)
    unweighted = ScratchNNRegressor(**params).fit(X, corrupted)
    clean = slice(1, None, 2)
    assert weighted.score(X[clean], y[clean]) > 0.6
    assert unweighted.score(X[clean], y[clean]) < 0.0  # pulled about 10 units up


def test_early_stopping_scores_validation_rows_by_r2_and_keeps_the_best_epoch():
    X, y = friedman(500)
    # tol=0: every improvement counts (the default 1e-4 may let a better epoch not reset the count)
    reg = ScratchNNRegressor(epochs=300, patience=5, tol=0.0, random_state=0).fit(X, y)
    assert reg.history_.stopped_early
    assert reg.validation_scores_ == reg.history_.column("val_r2")
    best = reg.history_.best_epoch
    assert reg.best_validation_score_ == reg.validation_scores_[best - 1]
    assert min(reg.history_.column("val_loss")) == reg.history_.column("val_loss")[best - 1]
    assert reg.best_loss_ is None  # scikit-learn's: kept only without early stopping
    assert reg.n_iter_ == best + 5
    assert reg.t_ == reg.n_iter_ * 450


def test_sparse_x_predicts_as_its_dense_twin():
    import scipy.sparse

    X, y = friedman()
    X = np.where(X > 0.5, X, 0.0)
    reg = ScratchNNRegressor(**FAST).fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(reg.predict(scipy.sparse.csr_matrix(X)), reg.predict(X))
    assert reg.score(X, y) > 0.5


def test_predict_before_fit_is_not_fitted_error():
    with pytest.raises(NotFittedError):
        ScratchNNRegressor().predict(np.zeros((2, 3)))


def test_a_huge_target_is_standardised_in_float64_before_the_float32_network_sees_it():
    X, y = friedman(50)
    y = y * 1e45  # beyond float32's range, but about 1 once standardised (in float64)
    reg = ScratchNNRegressor(dtype="float32", **FAST).fit(X, y)
    assert reg.network_.dtype == np.float32
    assert np.all(np.isfinite(reg.predict(X)))
    assert reg.score(X, y) > 0.5


def test_features_beyond_float32_range_are_refused_in_fit_and_predict():
    X, y = friedman(50)
    huge = X.copy()
    huge[3, 4] = -1e39
    with pytest.raises(ValueError, match="feature 4 exceeds float32's range"):
        ScratchNNRegressor(dtype="float32", **FAST).fit(huge, y)
    reg = ScratchNNRegressor(dtype="float32", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="feature 4 exceeds float32's range"):
        reg.predict(huge)


ROOT = Path(__file__).resolve().parent.parent


def test_regression_benchmark_runs_end_to_end_and_writes_its_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nother sections stay\n")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "benchmarks" / "regression.py"), "--seeds", "0",
         "--methods", "ridge,hgb", "--datasets", "diabetes", "--output", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "other sections stay" in text
    assert text.count("<!-- regression:start -->") == text.count("<!-- regression:end -->") == 1
    assert "| scikit-learn `RidgeCV()` |" in text
    assert "**diabetes**" in text


def test_regression_recipe_quick_run_ends_with_its_test_r2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "regression_best.py"), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "validation folds of the training rows" in proc.stdout
    assert re.fullmatch(r"Test R2: -?\d\.\d{4}", lines[-1]), lines[-1]
