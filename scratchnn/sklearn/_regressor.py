"""``ScratchNNRegressor``: a linear output trained on the standardised target (on the raw one for
the Poisson loss, whose outputs are log-means)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.metaestimators import available_if

from ..data import TargetScaler
from ..losses import make_loss
from ..recipe.config import REGRESSION_DEFAULTS
from ..validation import check_float_range
from ._base import ESTIMATOR_DEFAULTS, BaseScratchNN, _has_partial_fit

__all__ = ["ScratchNNRegressor"]

#: scikit-learn's ``out_activation_`` by loss, where the predictions are not the outputs themselves.
OUT_ACTIVATIONS = {"poisson": "exp"}


class ScratchNNRegressor(RegressorMixin, BaseScratchNN):
    """Multi-layer perceptron regressor trained by scratchnn's mini-batch loop.

    The counterpart of :class:`ScratchNNClassifier`: the same settings (generated from
    ``scratchnn.recipe.config.SETTINGS``), a linear output layer (one unit per target column) and a
    regression loss (``"mse"`` by default, scikit-learn's ``"squared_error"``, or ``"huber"``,
    ``"mae"`` or ``"poisson"``). ``y`` of shape (n_samples,) or (n_samples, k). The target is
    standardised (each column to mean 0 and standard deviation 1, with the statistics of the first
    ``fit``) for training, so the default learning rate suits any units, and ``predict`` undoes it:
    predictions are in the target's own units.

    ``loss="poisson"`` (scikit-learn's) fits counts or rates ``y >= 0``: the outputs are log-means,
    the loss the Poisson deviance (``scratchnn.losses.PoissonLoss``) and ``predict`` returns their
    ``exp``. The target is then kept raw, not standardised: centring it would make counts negative.

    The defaults (one hidden layer of 256 tanh units, Adam at 0.003 with a cosine schedule over 150
    epochs of batches of 64, weight decay 0.006, float64) are what ``benchmarks/regression.py``
    chose: on diabetes and friedman1 they reach at least ``MLPRegressor(max_iter=2000)``'s test R²,
    in less time. tanh suits smooth targets; the cosine schedule lets the last epochs settle.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, set only when ``X`` has string column names.
    n_outputs_ : int
        Number of target columns.
    network_ : scratchnn.NeuralNetwork
        The trained network (its outputs are standardised targets; log-means for ``"poisson"``).
    target_scaler_ : scratchnn.data.TargetScaler
        The target's standardisation, undone by ``predict`` (the identity for ``"poisson"``).
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): the weight matrix of the i-th Dense layer, the
        network's own array (a view: writing into it changes the network).
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape (n_out,): the i-th Dense layer's bias, the network's own array.
        Assigning a list to ``coefs_`` or ``intercepts_`` writes it into the network (same shapes).
    loss_curve_ : list of float
        Mean training loss (on the standardised target; the raw one for ``"poisson"``) of every epoch.
    best_loss_ : float or None
        The lowest training loss so far; None with early stopping (which watches the validation
        loss), as scikit-learn's.
    loss_ : float
        The training loss of the last epoch.
    n_layers_ : int
        Number of layers of units, the input and the output counted (``len(coefs_) + 1``).
    out_activation_ : str
        The function from the outputs to the predictions: "identity" ("exp" for ``"poisson"``).
    validation_scores_ : list of float or None
        R² on the held-out rows after every epoch of the last ``fit`` with early stopping (NaN for
        an epoch whose loss diverged, which ends training, as scikit-learn's).
    best_validation_score_ : float or None
        The validation R² of the epoch whose weights were kept (early stopping only).
    n_iter_ : int
        Number of epochs run by the last ``fit`` (1 after ``partial_fit``), as scikit-learn's.
    t_ : int
        Number of training samples seen over all calls (each epoch adds its rows), as scikit-learn's.
    history_ : scratchnn.History
        One record per epoch of the last ``fit``: ``loss`` and, with early stopping, ``val_loss``
        and ``val_r2``.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from scratchnn.sklearn import ScratchNNRegressor
    >>> X, y = make_friedman1(n_samples=500, noise=1.0, random_state=0)
    >>> reg = ScratchNNRegressor(epochs=50, random_state=0).fit(X[:400], y[:400])
    >>> round(reg.score(X[400:], y[400:]), 1) > 0.7
    True
    """

    _defaults: ClassVar[dict] = {**ESTIMATOR_DEFAULTS, **REGRESSION_DEFAULTS}
    _losses = ("mse", "huber", "mae", "poisson")
    _y_check: ClassVar[dict] = {"multi_output": True, "y_numeric": True}

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``(X, y)``, continuing the network (building it on the first call).

        The target's standardisation is fitted on the first call's ``y`` and kept.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the loss.

        Returns
        -------
        self : ScratchNNRegressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _targets(self, y, config, *, reset: bool, incremental: bool, classes=None, sample_weight=None):
        """``(standardised targets (N, k) in the network's dtype, k, config)``; raw for a log link."""
        y2 = np.asarray(y, dtype=np.float64)
        y2 = y2.reshape(-1, 1) if y2.ndim == 1 else y2
        loss = make_loss(config.loss)
        y2 = loss.check_targets(y2, "y", n_samples=y2.shape[0], n_outputs=None, x_name="X", dtype=np.float64)
        if reset:
            self.n_outputs_ = y2.shape[1]
            if loss.standardise_target:  # weighted: a weight of 2 is a row twice
                self.target_scaler_ = TargetScaler.fit(y2, sample_weight)
            else:  # poisson's outputs are log-means: a standardised target would break the log link
                k = y2.shape[1]
                self.target_scaler_ = TargetScaler(np.zeros(k), np.ones(k), ndim=2)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y2.shape[1]} target columns, but the first fit had {self.n_outputs_}")
        scaled = self.target_scaler_.transform(y2)
        check_float_range(scaled, config.dtype, "y (standardised)" if loss.standardise_target else "y")
        return np.ascontiguousarray(scaled, dtype=config.dtype), self.n_outputs_, config

    def _out_activation(self) -> str:
        return OUT_ACTIVATIONS.get(self._architecture["loss"], "identity")

    def _split(self, X, targets, sw, y):
        n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
        if n_val < 2 or X.shape[0] - n_val < 1:
            raise ValueError(
                f"The validation set is too small: validation_fraction={self.validation_fraction!r} of "
                f"{X.shape[0]} rows gives {n_val} (R² needs at least 2); increase validation_fraction, "
                "give more rows, or turn early stopping off"
            )
        seed = int(np.random.default_rng(self._split_seed).integers(np.iinfo(np.int32).max))
        arrays = [X, targets] + ([] if sw is None else [sw])
        parts = train_test_split(*arrays, test_size=self.validation_fraction, random_state=seed)
        return parts[0], parts[1], parts[2], parts[3], (parts[4] if sw is not None else None)

    def predict(self, X):
        """Predicted targets, in the target's units.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The network's outputs with the target's standardisation undone (``exp`` of them for
            ``"poisson"``; float32 for float32 ``X`` and ``dtype``, else float64); 1-D when there is
            one target column, as scikit-learn's ``MLPRegressor``.
        """
        # float32 rows into float32 weights give float32 predictions, anything else float64: the
        # dtype NumPy's promotion gives the product of the two, as scikit-learn's
        outputs = self._outputs(X)
        predicted = self.network_.loss.predict(outputs)
        dtype = np.result_type(getattr(X, "dtype", np.float64), self.network_.dtype)
        y = self.target_scaler_.inverse_transform(predicted).astype(dtype, copy=False)
        return y.ravel() if y.shape[1] == 1 else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
