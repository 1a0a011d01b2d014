"""What both estimators share: their parameters (made from ``SETTINGS``), the training loop around
scratchnn's ``Trainer``, early stopping, ``partial_fit``/``warm_start``, and the checks at the door.

scikit-learn's ``BaseMultilayerPerceptron`` is the model: ``fit`` and ``partial_fit`` check their
input once and call one ``_fit(..., incremental)``; each epoch is one pass of scratchnn's trainer,
after which the loss curve, the validation score and the stopping rule are updated. The fitted
network's scikit-learn names (``coefs_``, ``intercepts_``) and its pickling live in ``_fitted.py``.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..optimizers import OPTIMIZERS
from ..recipe.config import SETTINGS, TrainingConfig, settings_doc
from ..recipe.train import build, run_schedule
from ..trainer import History, TrainingDiverged
from ..validation import check_float_range, check_sample_weight
from ._fitted import FittedNetworkMixin

#: Parameters of the estimators that are not training settings: scikit-learn's own meanings.
SKLEARN_PARAMS = {
    "early_stopping": None,
    "validation_fraction": 0.1,
    "warm_start": False,
    "random_state": None,
    "verbose": False,
}

#: Documentation of ``SKLEARN_PARAMS``, in numpydoc form (the settings' own comes from ``settings_doc``).
SKLEARN_PARAMS_DOC = """\
    early_stopping : bool or None, default=None
        Hold out ``validation_fraction`` of the training rows and stop once their loss has not
        improved by more than ``tol`` for ``patience`` epochs (else ``n_iter_no_change``, else 10),
        keeping the best epoch's weights. None: on exactly when ``patience`` is set. Off, training
        stops once the *training* loss has not improved by ``tol`` for ``patience`` (else
        ``n_iter_no_change``) epochs: converged, as scikit-learn's without early stopping.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping, strictly between 0 and 1.
    warm_start : bool, default=False
        ``fit`` continues from the weights and optimizer state of the previous ``fit`` instead of
        starting anew (``n_iter_``, ``t_`` and ``loss_curve_`` continue too).
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order, dropout and the early-stopping split, through one seed
        drawn from it. An int makes ``fit`` reproducible.
    verbose : bool, default=False
        Print one line per epoch (scikit-learn's ``Iteration 3, loss = 0.12345678``), from ``fit``
        and ``partial_fit``."""

#: The settings' defaults the estimators change, to scikit-learn's: stop once the training loss
#: has not improved by ``tol=1e-4`` for 10 epochs (``n_iter_no_change``) instead of always running
#: every epoch; lbfgs converged once no gradient entry exceeds ``tol``.
ESTIMATOR_DEFAULTS = {"n_iter_no_change": 10, "tol": 1e-4}

#: Sparse rows are densified this many bytes (whole mini-batches) at a time, as the trainer's block copy.
SPARSE_BLOCK_BYTES = 1 << 20

#: The settings a network is built from: a warm start that changes one cannot continue the old network.
ARCHITECTURE = ("hidden_units", "layers", "activation", "dropout", "loss", "dtype")

#: sklearn's ``n_iter_no_change`` default, used when early_stopping=True is given without patience.
DEFAULT_PATIENCE = 10


def _dense_rows(X, rows) -> np.ndarray:
    """The rows ``rows`` of a sparse matrix, as a dense block."""
    return X[rows].toarray()


def _verbose_line(record: dict) -> str:
    """scikit-learn's progress line, ``Iteration 3, loss = 0.12345678``, with the validation figures."""
    line = f"Iteration {record['epoch']}, loss = {record['loss']:.8f}"
    for key, value in record.items():
        if key not in ("epoch", "loss"):
            line += f", {key.replace('_', ' ')} = {value:.8f}"
    return line


def _has_partial_fit(estimator) -> bool:
    """``partial_fit`` exists for the mini-batch optimizers, not for a full-batch one (lbfgs), as
    scikit-learn's ``MLPClassifier(solver="lbfgs")`` has none."""
    full_batch = estimator.optimizer in OPTIMIZERS and OPTIMIZERS[estimator.optimizer].full_batch
    if full_batch:
        raise AttributeError(f"partial_fit is not available with optimizer={estimator.optimizer!r}")
    return True


def _check_same_network(estimator, built: dict, how: str) -> None:
    """Refuse to continue training the fitted network after a parameter it was built from changed."""
    for name, value in built.items():
        before = getattr(estimator, "_architecture", built).get(name, value)
        if value != before:
            raise ValueError(
                f"{how} continues the fitted network, but {name} changed from {before!r} to "
                f"{value!r} since it was built; fit with warm_start=False for a new network"
            )


def _stopping(estimator, config, incremental: bool) -> tuple[bool, int | None]:
    """``(hold out a validation split?, patience)``, from early_stopping and patience."""
    early = estimator.early_stopping
    if early is not None and not isinstance(early, (bool, np.bool_)):
        raise TypeError(f"early_stopping must be True, False or None, got {early!r}")
    if incremental:  # partial_fit is one pass over the rows it is given: nothing to stop
        if early:
            raise ValueError("partial_fit does not support early_stopping=True")
        return False, None
    if early is None:
        early = config.patience is not None
    patience = config.patience
    if patience is None and not OPTIMIZERS[config.optimizer].full_batch:
        patience = config.n_iter_no_change  # lbfgs stops on its own tests instead, as scikit-learn's
    if early and patience is None:
        patience = DEFAULT_PATIENCE
    if early:
        fraction = estimator.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(
                f"validation_fraction must be a number strictly between 0 and 1, got {fraction!r}"
            )
    return bool(early), patience


def _scale_error(X, exc: TrainingDiverged | None = None) -> ValueError | None:
    """The error to raise when the input's scale, not the learning rate, makes training fail:
    some feature is so large that its square overflows the dtype, so that the first layer's
    outputs and their gradients cannot be represented whatever the step size (checked before
    training: a saturating activation such as tanh would hide it behind finite, meaningless
    weights), or, instead of ``exc``, the loss of the very first mini-batch was already not
    finite (no update had happened)."""
    values = X.data if hasattr(X, "tocsr") else X
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    with np.errstate(over="ignore"):
        squared_overflows = not np.isfinite(np.square(values.dtype.type(largest)))
    first_batch = exc is not None and exc.before_update and exc.batch == 1
    if not (squared_overflows or first_batch):
        return None
    what = "cannot work"
    if exc is not None:
        what = f"diverged in epoch {exc.epoch} (batch {exc.batch}, the loss became {exc.loss})"
    return ValueError(
        f"training {what} because of the input's scale, not the learning rate: the largest "
        f"|X| is {largest:.3g}, too large for {values.dtype.name} arithmetic; scale the features "
        "first, e.g. with StandardScaler"
    )


def _epoch_or_divergence(estimator, X, y, sw, *, keep_best: bool) -> tuple[float, TrainingDiverged | None]:
    """One epoch of ``estimator`` (its ``_epoch``): ``(its training loss, None)``, or ``(the loss that
    was not finite, the TrainingDiverged)`` when early stopping keeps best weights to fall back to.

    A non-finite loss (or weights) is an error with a hint: the input's scale (``_scale_error``)
    or, by ``TrainingDiverged``, the learning rate. With early stopping (``keep_best``) it ends
    training instead, as in scikit-learn, whose diverged epoch scores NaN and whose best weights
    are restored: no NaN weights are kept either way.
    """
    try:
        return estimator._epoch(X, y, sw, epoch=estimator.n_iter_ + 1), None
    except TrainingDiverged as exc:
        scale_error = _scale_error(X, exc)
        if scale_error is not None:
            raise scale_error from None
        if not keep_best:
            raise
        return exc.loss, exc


def _validation(trainer, x_val, y_val, epoch: int, diverged: TrainingDiverged | None):
    """``(validation loss, score, divergence)`` of the trainer's network after ``epoch``. After a
    divergence both are NaN (scikit-learn's score of a diverged epoch); a validation loss that is
    not finite (finite weights can still overflow) is a divergence too."""
    if diverged is not None:
        return math.nan, math.nan, diverged
    net = trainer.network
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # judged by isfinite below
        outputs = net.forward(x_val, training=False)
        val_loss = float(net.compute_loss(outputs, y_val))
    if not math.isfinite(val_loss):
        lr = trainer.optimizer.learning_rate
        return val_loss, math.nan, TrainingDiverged(epoch, trainer.last_batches, val_loss, lr)
    return val_loss, net.loss.score(outputs, y_val), None


def _warn_diverged(exc: TrainingDiverged, best_epoch: int | None) -> None:
    """Say that early stopping ended a diverging fit (scikit-learn's ends it silently), and which
    weights it kept: ``best_epoch``'s, or with None those training started from."""
    kept = "those it started from" if best_epoch is None else f"epoch {best_epoch}'s"
    warnings.warn(
        f"{exc}; early stopping ended training there and kept the best weights, {kept}",
        ConvergenceWarning,
        stacklevel=5,  # fit's caller: through _run and _fit
    )


def _field(key: str, value) -> str:
    return f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}"


class BaseScratchNN(FittedNetworkMixin, BaseEstimator):
    """A scikit-learn face on scratchnn's network and trainer; subclasses say what the target is.

    The constructor is made per subclass from ``SETTINGS`` (one keyword per training setting, named
    as the setting, with the subclass's ``_defaults``) and ``SKLEARN_PARAMS``, so a setting added to
    ``SETTINGS`` becomes a parameter of both estimators with nothing written here.
    Subclasses define ``_defaults``, ``_losses`` (the losses they accept), ``_targets``,
    and ``_split``; the validation score is the loss's (``Loss.score``: accuracy, or R² for numbers,
    which standardising the target leaves unchanged).
    """

    _defaults: ClassVar[dict] = ESTIMATOR_DEFAULTS
    _losses: ClassVar[tuple] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        defaults = {s.name: cls._defaults.get(s.name, s.default) for s in SETTINGS}
        defaults.update(SKLEARN_PARAMS)

        def __init__(self, **params):
            # scikit-learn's contract: store the parameters unchanged, check them in fit
            unknown = sorted(set(params) - set(defaults))
            if unknown:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
            for name, default in defaults.items():
                setattr(self, name, params.get(name, default))

        # get_params, clone and repr read the parameters from the signature, as for any estimator
        kind = inspect.Parameter.KEYWORD_ONLY
        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [inspect.Parameter(name, kind, default=value) for name, value in defaults.items()]
        )
        __init__.__qualname__ = f"{cls.__name__}.__init__"
        cls.__init__ = __init__
        if cls.__doc__:
            settings = settings_doc(defaults={k: v for k, v in defaults.items() if k in cls._defaults})
            # The numpydoc Parameters section, put before Attributes. The source leaves it out, so
            # that the docs' static reading of the source finds no section it cannot fill.
            heading = "    Attributes\n    ----------\n"
            section = "    Parameters\n    ----------\n" + settings + "\n" + SKLEARN_PARAMS_DOC + "\n\n"
            cls.__doc__ = cls.__doc__.replace(heading, section + heading, 1)

    # -- settings --------------------------------------------------------------------------
    def _config(self, **overrides) -> TrainingConfig:
        """The parameters as a ``TrainingConfig`` (which checks them, naming the bad one)."""
        params = self.get_params()
        settings = {name: params[name] for name in TrainingConfig.field_names() if name in params}
        settings.update(overrides)
        config = TrainingConfig(**settings)
        if config.loss not in self._losses:
            raise ValueError(
                f"loss must be one of {list(self._losses)} for {type(self).__name__}, got {config.loss!r}"
            )
        return config

    # -- checks at the door ------------------------------------------------------------------
    def _check_X(self, X, y="no_validation", *, reset: bool, dtype: str, **kwargs):
        """``validate_data`` (sparse CSR allowed) plus the float32-range check naming the feature."""
        if isinstance(y, str) and y == "no_validation":
            X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse="csr", reset=reset)
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], accept_sparse="csr", reset=reset, **kwargs
            )
        check_float_range(X, dtype, "X", getattr(self, "feature_names_in_", None))
        if not hasattr(X, "tocsr"):
            X = np.ascontiguousarray(X, dtype=dtype)
        elif X.dtype != dtype:
            X = X.astype(dtype)
        return X if isinstance(y, str) and y == "no_validation" else (X, y)

    # -- training ----------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)``: a new network, or the previous one with ``warm_start=True``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; cast to ``dtype``. A SciPy CSR matrix is densified a block of
            mini-batches at a time, never whole.
        y : array-like
            Targets (see the class's description).
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the loss, a weighted mean (normalised as scikit-learn's).

        Returns
        -------
        self
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, *, incremental: bool, classes=None):
        config = self._config()
        reset = not hasattr(self, "network_") or not (incremental or self.warm_start)
        built = {name: getattr(config, name) for name in ARCHITECTURE}
        if not reset:
            _check_same_network(self, built, "partial_fit" if incremental else "warm_start=True")
        X, y = self._check_X(X, y, reset=reset, dtype=config.dtype, **self._y_check)
        sw = check_sample_weight(sample_weight, X.shape[0])
        targets, n_outputs, config = self._targets(
            y, config, reset=reset, incremental=incremental, classes=classes, sample_weight=sw
        )
        early, patience = _stopping(self, config, incremental)
        scale_error = _scale_error(X)
        if scale_error is not None:
            raise scale_error
        if reset:
            # One seed, drawn once from random_state, drives everything below it.
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            self._split_seed, self._build_seed = np.random.SeedSequence(seed).spawn(2)
        x_val = y_val = None
        if early:
            X, x_val, targets, y_val, sw = self._split(X, targets, sw, y)
        if reset:
            self.network_, self._trainer = build(
                config, X.shape[1], n_outputs, seed=self._build_seed, n_train=X.shape[0]
            )
            self.t_, self.loss_curve_ = 0, []
            self._architecture = built
            # scikit-learn's names for the network's shape: layers of units, the input and the
            # output counted; the output's width; the function the outputs go through
            self.n_layers_, self.n_outputs_ = len(self.coefs_) + 1, n_outputs
            self.out_activation_ = self._out_activation()
        else:
            self._continue(config, X.shape[0], incremental)
        self.n_iter_ = 0  # epochs of this call, as scikit-learn's; t_ and loss_curve_ carry on
        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = None
        self.best_loss_ = None if early else math.inf  # the training loss's best, as scikit-learn's
        self.history_ = History()
        self._run(config, X, targets, sw, x_val, y_val, 1 if incremental else config.epochs, patience)
        return self

    def _continue(self, config, n_train: int, incremental: bool) -> None:
        """Ready the trainer of a fitted network for more training; the weights and the
        optimizer's state (momentum, Adam's moments) carry on.

        A learning-rate schedule spans the epochs of one ``fit``: a warm-started ``fit`` runs it
        anew over its own epochs (a warm restart, as SGDR's), rather than continue past its end
        (where a cosine schedule's rate is 0). ``partial_fit`` has no number of epochs to size a
        schedule over, so it trains at the constant ``learning_rate``, as scikit-learn's does.
        """
        trainer = self._trainer
        if trainer.optimizer.full_batch:  # lbfgs: no schedule, its rate stays 1; max_fun counts anew
            trainer.optimizer.new_run()
            return
        if trainer.schedule is not None and not trainer.schedule.sized:
            return  # invscaling and adaptive go on for ever: a warm start continues them
        schedule = None if incremental else run_schedule(config, n_train)
        trainer.restart_schedule(schedule, config.learning_rate)

    def _run(self, config, X, y, sw, x_val, y_val, epochs: int, patience: int | None) -> None:
        """Train ``epochs`` epochs, updating the curves; stop on ``patience`` (validation loss
        with ``x_val``, else the training loss), as scikit-learn's ``_update_no_improvement_count``.

        With early stopping a diverging loss ends training instead of raising (``_epoch_or_divergence``)."""
        net, trainer = self.network_, self._trainer
        score_name = "val_" + net.loss.metric
        tol = float(getattr(config, "tol", 0.0))
        params = net.parameters() + net.buffers()
        # early stopping's best weights start as the weights training starts from, as scikit-learn's
        # _best_coefs: what a divergence in the first epoch falls back to
        best_params = None if x_val is None else [p.copy() for p in params]
        waited, best, diverged = 0, math.inf, None
        history = self.history_
        for _ in range(epochs):
            loss, diverged = _epoch_or_divergence(self, X, y, sw, keep_best=x_val is not None)
            self.n_iter_ += 1
            self.t_ += X.shape[0]
            self.loss_curve_.append(loss)
            self.loss_ = loss
            record = {"epoch": self.n_iter_, "loss": loss}
            monitored = loss
            if x_val is not None:
                monitored, score, diverged = _validation(trainer, x_val, y_val, self.n_iter_, diverged)
                record["val_loss"], record[score_name] = monitored, score
                self.validation_scores_.append(score)
            history.append(record)
            if self.verbose:
                print(_verbose_line(record), flush=True)
            if diverged is not None:
                _warn_diverged(diverged, history.best_epoch)
                break
            waited = waited + 1 if monitored > best - tol else 0
            if monitored < best:
                best = monitored
                if x_val is not None:
                    best_params = [p.copy() for p in params]
                    history.best_epoch, self.best_validation_score_ = self.n_iter_, record[score_name]
                else:
                    self.best_loss_ = best
            if trainer.optimizer.converged or trainer.optimizer.exhausted:
                break  # lbfgs found a minimum, or spent max_fun evaluations
            if patience is not None and waited >= patience:
                if trainer.schedule is not None and trainer.schedule.reduce():
                    waited = 0  # adaptive: a fifth of the rate instead of a stop
                    continue
                history.stopped_early = True
                break
        opt = trainer.optimizer
        if opt.full_batch and diverged is None and not (opt.converged or history.stopped_early):
            budget = f"max_fun={opt.max_fun} evaluations" if opt.exhausted else f"epochs={epochs}"
            warnings.warn(
                f"lbfgs stopped at {budget} before converging (largest gradient entry still above "
                f"tol={tol:g}); raise epochs or max_fun, or scale the data",
                ConvergenceWarning,
                stacklevel=4,
            )
        if best_params is not None:  # early stopping keeps the best epoch's weights, as scikit-learn's MLP
            for p, best in zip(params, best_params):
                p[...] = best

    def _epoch(self, X, y, sw, *, epoch: int) -> float:
        """One epoch of the trainer on ``(X, y)``, checked at this estimator's door (``fit``); returns
        the mean training loss (weighted by ``sw`` if given).

        Sparse ``X`` is densified by the trainer's block copy one block of whole mini-batches at a
        time (``SPARSE_BLOCK_BYTES``): the same batches, in the same order, as its dense twin, and
        the dense matrix never exists.
        """
        if not hasattr(X, "tocsr"):
            return self._trainer.run_epoch(X, y, sw, epoch=epoch)
        return self._trainer.run_epoch(
            X, y, sw, epoch=epoch, take_rows=_dense_rows, block_bytes=SPARSE_BLOCK_BYTES
        )

    def _outputs(self, X) -> np.ndarray:
        """The network's raw outputs for ``X``, in float64."""
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False, dtype=self.network_.dtype)
        if hasattr(X, "tocsr"):
            step = max(1, SPARSE_BLOCK_BYTES // (X.shape[1] * X.dtype.itemsize))
            parts = [self.network_.forward(X[i : i + step].toarray()) for i in range(0, X.shape[0], step)]
            return np.concatenate(parts).astype(np.float64)
        return self.network_.forward(X, training=False).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
