"""A scikit-learn classifier built on scratchnn's own network and trainer.

``ScratchNNClassifier`` follows scikit-learn's estimator contract, so it drops
into pipelines, cross-validation and grid searches::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from scratchnn.sklearn import ScratchNNClassifier

    model = make_pipeline(StandardScaler(), ScratchNNClassifier(random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)

This module wraps the library; the core never imports it (nor scikit-learn).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .config import TrainingConfig, train
from .losses import softmax

__all__ = ["ScratchNNClassifier"]


class ScratchNNClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained by scratchnn's mini-batch loop.

    A thin scikit-learn face on :class:`scratchnn.config.TrainingConfig` and
    :func:`scratchnn.config.train`: every setting below means exactly what the
    field of the same name means there (and in ``scratchnn train``).

    Parameters
    ----------
    hidden_units : int or tuple of int, default=(50,)
        Width of each hidden layer.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid"}, default="relu"
        Activation after every hidden layer.
    optimizer : {"sgd", "momentum", "adam", "adamw"}, default="sgd"
        Update rule (``torch.optim``'s conventions).
    learning_rate : float, default=0.1
        Step size (the schedule's peak when a schedule is set).
    momentum : float, default=0.9
        Momentum coefficient; used only with ``optimizer="momentum"``.
    batch_size : int, default=16
        Rows per mini-batch; the last, shorter batch of an epoch is kept.
    epochs : int, default=20
        Passes over the training data (fewer with early stopping).
    weight_decay : float, default=0.0
        L2 penalty (decoupled for ``"adamw"``).
    dropout : float, default=0.0
        Dropout probability after every hidden activation, in [0, 1).
    label_smoothing : float, default=0.0
        Label smoothing of the cross-entropy, in [0, 1).
    schedule : {"constant", "step", "cosine", "warmup-cosine"}, default="constant"
        Learning-rate schedule over all training steps.
    patience : int or None, default=None
        Early stopping: if set, ``validation_fraction`` of the training data
        (stratified) is held out, training stops once its loss has not
        improved for ``patience`` epochs, and the best epoch's weights are kept.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``patience`` is set.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point type of the weights; ``X`` is cast to it.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order, dropout and the early-stopping
        split. An int makes ``fit`` reproducible.
    verbose : bool, default=False
        Print one line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted; output ``k`` of the network scores ``classes_[k]``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, set only when ``X`` has string column names.
    network_ : scratchnn.NeuralNetwork
        The trained network.
    history_ : scratchnn.History
        One record per epoch: ``loss`` and, with early stopping, ``val_loss``
        and ``val_accuracy``.
    n_iter_ : int
        Number of epochs run.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from scratchnn.sklearn import ScratchNNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ScratchNNClassifier(random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    def __init__(
        self,
        hidden_units=(50,),
        activation="relu",
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.9,
        batch_size=16,
        epochs=20,
        weight_decay=0.0,
        dropout=0.0,
        label_smoothing=0.0,
        schedule="constant",
        patience=None,
        validation_fraction=0.1,
        dtype="float32",
        random_state=None,
        verbose=False,
    ):
        # scikit-learn's contract: store the parameters unchanged, check them in fit
        self.hidden_units = hidden_units
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.label_smoothing = label_smoothing
        self.schedule = schedule
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _config(self) -> TrainingConfig:
        """The parameters as a ``TrainingConfig`` (which checks them, naming the bad one)."""
        # every constructor parameter that is a training setting, under the same name
        params = self.get_params()
        settings = {name: params[name] for name in TrainingConfig.field_names() if name in params}
        return TrainingConfig(**settings)

    def fit(self, X, y):
        """Train a new network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; cast to ``dtype``.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts (ints, strings, ...).

        Returns
        -------
        self : ScratchNNClassifier
            The fitted estimator.
        """
        config = self._config()
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y must hold at least two classes to train a classifier, got one class: "
                f"{encoder.classes_.tolist()[0]!r}"
            )
        self.classes_ = encoder.classes_
        codes = encoder.transform(y)
        X = np.ascontiguousarray(X, dtype=np.dtype(config.dtype))

        # One seed, drawn once from random_state, drives everything below it.
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        seeds = np.random.SeedSequence(seed).spawn(2)
        x_val = y_val = None
        if config.patience is not None:
            X, x_val, codes, y_val = self._validation_split(X, codes, seeds[1])
        self.network_, self.history_ = train(
            config,
            X,
            codes,
            x_val,
            y_val,
            n_classes=len(self.classes_),
            seed=seeds[0],
            verbose=bool(self.verbose),
        )
        self.n_iter_ = len(self.history_)
        return self

    def _validation_split(self, X, codes, seed):
        from sklearn.model_selection import train_test_split

        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(
                f"validation_fraction must be a number strictly between 0 and 1, got {fraction!r}"
            )
        try:
            return train_test_split(
                X,
                codes,
                test_size=fraction,
                stratify=codes,
                random_state=int(np.random.default_rng(seed).integers(np.iinfo(np.int32).max)),
            )
        except ValueError as exc:
            raise ValueError(
                f"early stopping (patience={self.patience!r}) needs a stratified validation split "
                f"of validation_fraction={fraction!r} with every class on both sides: {exc}"
            ) from None

    def _logits(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        X = np.ascontiguousarray(X, dtype=self.network_.dtype)
        return self.network_.forward(X, training=False)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax of the network's outputs, computed in float64 so that
            every row sums to 1 to double precision.
        """
        return softmax(self._logits(X).astype(np.float64))

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The label of ``classes_`` with the largest probability.
        """
        # argmax of the same float64 probabilities predict_proba returns, so the two always agree
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
