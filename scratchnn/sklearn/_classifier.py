"""``ScratchNNClassifier``: single-label (softmax) and multilabel (sigmoid) classification."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ..layers import sigmoid
from ..losses import log_softmax, softmax
from ._base import BaseScratchNN, _has_partial_fit

__all__ = ["ScratchNNClassifier"]


class ScratchNNClassifier(ClassifierMixin, BaseScratchNN):
    """Multi-layer perceptron classifier trained by scratchnn's mini-batch loop.

    A scikit-learn face on :class:`scratchnn.recipe.config.TrainingConfig` and scratchnn's ``Trainer``:
    every training setting below means exactly what the setting of the same name means there (and
    in ``scratchnn train``); the list is generated from ``scratchnn.recipe.config.SETTINGS``.

    ``y`` of shape (n_samples,) holds labels of any type (ints, strings, ...), trained with a softmax
    output and ``loss`` (cross-entropy by default). ``y`` of shape (n_samples, k) of 0/1 is multilabel
    (each column an independent yes/no), trained with ``k`` sigmoid outputs and binary cross-entropy
    on the logits (``loss="bce"``, chosen automatically).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted (multilabel: ``0..k-1``, the columns of ``y``); output ``j`` of the
        network scores ``classes_[j]``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, set only when ``X`` has string column names.
    network_ : scratchnn.NeuralNetwork
        The trained network.
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (n_in, n_out): the weight matrix of the i-th Dense layer, the
        network's own array (a view: writing into it changes the network).
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape (n_out,): the i-th Dense layer's bias, the network's own array.
        Assigning a list to ``coefs_`` or ``intercepts_`` writes it into the network (same shapes).
    loss_curve_ : list of float
        Mean training loss of every epoch run (continued by ``partial_fit`` and ``warm_start``).
    best_loss_ : float or None
        The lowest training loss so far; None with early stopping (which watches the validation
        loss), as scikit-learn's.
    loss_ : float
        The training loss of the last epoch.
    n_layers_ : int
        Number of layers of units, the input and the output counted (``len(coefs_) + 1``).
    n_outputs_ : int
        Number of outputs: the number of classes (two for a binary problem, scikit-learn's one) or
        of label columns.
    out_activation_ : str
        The output's function: "softmax" (multilabel: "logistic").
    validation_scores_ : list of float or None
        Accuracy on the held-out rows after every epoch of the last ``fit`` with early stopping (NaN
        for an epoch whose loss diverged, which ends training, as scikit-learn's).
    best_validation_score_ : float or None
        The validation accuracy of the epoch whose weights were kept (early stopping only).
    n_iter_ : int
        Number of epochs run by the last ``fit`` (1 after ``partial_fit``), as scikit-learn's.
    t_ : int
        Number of training samples seen over all calls (each epoch adds its rows), as scikit-learn's.
    history_ : scratchnn.History
        One record per epoch of the last ``fit``: ``loss`` and, with early stopping, ``val_loss``
        and ``val_accuracy``; ``best_epoch`` and ``stopped_early`` as the trainer's.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from scratchnn.sklearn import ScratchNNClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ScratchNNClassifier(random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    _losses = ("cross-entropy", "mse", "bce")
    _y_check: ClassVar[dict] = {"multi_output": True}

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``(X, y)``, continuing the network (building it on the first call).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels; each must be among ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class that any call will see; required on the first call (as scikit-learn's),
            ignored after it.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the loss.

        Returns
        -------
        self : ScratchNNClassifier
        """
        if not hasattr(self, "network_") and classes is None and np.ndim(y) == 1:
            raise ValueError("classes must be passed on the first call to partial_fit, got classes=None")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _targets(self, y, config, *, reset: bool, incremental: bool, classes=None, sample_weight=None):
        """``(trainer targets, n_outputs, config)``: label codes (N,) or 0/1 columns (N, k)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if reset:
            self._multilabel = multilabel
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
            else:
                encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
                if len(encoder.classes_) < 2:
                    raise ValueError(
                        f"y must hold at least two classes to train a classifier, got one class: "
                        f"{encoder.classes_.tolist()[0]!r}"
                    )
                self.classes_ = encoder.classes_
        elif multilabel != self._multilabel:
            kind = "multilabel" if self._multilabel else "single-label"
            raise ValueError(f"y must be {kind} as in the first fit, got {type_of_target(y)!r} targets")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes)} is not the same as on the first call to partial_fit, "
                f"{self.classes_}"
            )
        elif self.warm_start and not incremental and not multilabel:
            if not np.array_equal(np.unique(y), self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the previous "
                    f"call to fit. Previously got {self.classes_}, `y` has {np.unique(y)}"
                )
        if self._multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} label columns, but the first fit had {len(self.classes_)}"
                )
            if config.loss not in ("cross-entropy", "bce"):
                raise ValueError(f"multilabel y needs loss='bce' (or the default), got loss={config.loss!r}")
            config = config.replace(loss="bce")
            return y.astype(config.dtype), len(self.classes_), config
        if config.loss == "bce":
            raise ValueError("loss='bce' is for multilabel y of shape (n_samples, n_labels), got 1-D labels")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds label {unseen.tolist()[0]!r}, not among classes_ {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, y), len(self.classes_), config

    def _out_activation(self) -> str:
        return "logistic" if self._multilabel else "softmax"

    def _split(self, X, codes, sw, y):
        """Stratified validation split (by label for single-label targets)."""
        fraction = self.validation_fraction
        stratify = None if self._multilabel else codes
        if stratify is not None:
            counts = np.bincount(codes, minlength=len(self.classes_))
            n_val = int(np.ceil(fraction * X.shape[0]))
            small = np.flatnonzero(counts < 2)
            if small.size or n_val < len(self.classes_) or X.shape[0] - n_val < len(self.classes_):
                which = small[0] if small.size else int(np.argmin(counts))
                label = self.classes_.tolist()[which]
                raise ValueError(
                    f"early stopping needs a stratified validation split of validation_fraction="
                    f"{fraction!r} with every class on both sides, but class {label!r} "
                    f"has {counts[which]} of the {X.shape[0]} rows; give more rows of it, a larger "
                    f"validation_fraction, or turn early stopping off"
                )
        seed = int(np.random.default_rng(self._split_seed).integers(np.iinfo(np.int32).max))
        arrays = [X, codes] + ([] if sw is None else [sw])
        parts = train_test_split(*arrays, test_size=fraction, stratify=stratify, random_state=seed)
        x_tr, x_val, t_tr, t_val = parts[:4]
        return x_tr, x_val, t_tr, t_val, (parts[4] if sw is not None else None)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax of the network's outputs, computed in float64 so that every row sums to 1
            to double precision (multilabel: the sigmoid of each output, one yes/no per column).
        """
        z = self._outputs(X)
        return sigmoid(z) if self._multilabel else softmax(z)

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``, computed stably from the logits.

        ``log softmax(z) = z - max(z) - log(sum(exp(z - max(z))))`` (log-sum-exp), never the log of a
        probability that underflowed to 0; multilabel: ``log sigmoid(z) = -logaddexp(0, -z)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        z = self._outputs(X)
        return -np.logaddexp(0.0, -z) if self._multilabel else log_softmax(z)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The label of ``classes_`` with the largest probability (multilabel: 1 where the
            probability exceeds 0.5, i.e. the logit exceeds 0).
        """
        z = self._outputs(X)
        if self._multilabel:
            return (z > 0).astype(np.int64)
        # argmax of the same float64 probabilities predict_proba returns, so the two always agree
        return self.classes_[np.argmax(softmax(z), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
