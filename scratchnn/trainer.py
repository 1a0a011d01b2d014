"""The training loop: mini-batch gradient descent.

One epoch: shuffle the training set, cut it into mini-batches, and for each
batch run forward, loss, backward and one optimizer step. The row order is
permuted once per epoch, and the permuted rows are copied, a block of whole
batches at a time, into a small reused buffer: every batch is a contiguous
slice (cheap to take, friendly to the cache) rather than a fancy-indexed copy,
and the data set is never copied whole.

``Trainer.fit`` is the public door: it checks the arrays once and hands them
to ``Trainer._fit``, which trusts them (as scikit-learn's ``fit`` calls
``_fit``). Callers that have checked their data already (``config.train``,
``grid_search``, the estimators) call ``_fit`` themselves.
"""

from __future__ import annotations

import math

import numpy as np

from .network import NeuralNetwork
from .optimizers import Optimizer, clip_grad_norm
from .validation import (
    check_features,
    check_labels,
    check_positive_float,
    check_positive_int,
    check_random_state,
    check_sample_weight,
    check_targets,
)

__all__ = ["EarlyStopping", "History", "Trainer", "TrainingDiverged", "check_early_stopping", "check_pair"]

#: Size of the buffer the shuffled rows are copied into: small enough to stay in the
#: CPU's cache while its batches are used, large enough to hold many small batches.
_SHUFFLE_BLOCK_BYTES = 1 << 20


def _shuffled_batches(x, y, perm, batch_size, x_block, y_block, w=None, w_block=None):
    """Yield ``(x[perm][i:i + batch_size], y[perm][i:i + batch_size])`` for i = 0, batch_size, ...

    (with ``w[perm][i:i + batch_size]`` third when sample weights ``w`` are given).
    The rows are copied into ``x_block``/``y_block``/``w_block`` (buffers of whole
    batches, reused) one block at a time, so each batch is a contiguous slice of
    the buffer and is overwritten once the loop has moved past it.
    """
    arrays, blocks = ((x, y), (x_block, y_block)) if w is None else ((x, y, w), (x_block, y_block, w_block))
    rows_per_block = x_block.shape[0]
    for block_start in range(0, perm.shape[0], rows_per_block):
        rows = perm[block_start : block_start + rows_per_block]
        m = rows.shape[0]
        for a, block in zip(arrays, blocks):
            # rows holds only valid indices: mode="clip" skips the bounds check and the
            # buffered copy that out= costs under the default mode="raise" (3x faster)
            np.take(a, rows, axis=0, out=block[:m], mode="clip")
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)  # the last block may be only partly filled
            yield tuple(block[start:stop] for block in blocks)


def _ordered_batches(arrays, n, batch_size):
    """Yield the batches in row order (``shuffle=False``): slices of the arrays, no copy."""
    for start in range(0, n, batch_size):
        yield tuple(a[start : start + batch_size] for a in arrays)


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: the learning rate is usually too large.

    ``before_update=True`` when no update had happened yet: then the learning
    rate cannot be the cause, the scale of the data (or of the initial weights) is.
    """

    def __init__(
        self, epoch: int, batch: int, loss: float, learning_rate: float, before_update: bool = False
    ) -> None:
        self.epoch, self.batch, self.loss, self.learning_rate = epoch, batch, loss, learning_rate
        self.before_update = before_update
        if before_update:
            hint = (
                "before any update, so the learning rate is not the cause: the inputs or targets are "
                "too large for the network; scale them (e.g. standardise each column)"
            )
        else:
            hint = f"try a smaller learning rate than {learning_rate:g}"
        super().__init__(
            f"training diverged in epoch {epoch} (batch {batch}): the loss became {loss}; {hint}"
        )


class History(list):
    """One dict per finished epoch, in order.

    Keys: ``epoch`` (1-based, counted within one ``fit`` call), ``loss`` (mean
    training loss, weighted by ``sample_weight`` if given), ``lr`` (learning
    rate at the epoch's last step) and, when the data was given,
    ``test_accuracy``, ``val_loss`` and ``val_accuracy`` for classification and
    multilabel networks (multilabel: subset accuracy, every column right), or
    ``test_r2``, ``val_loss`` and ``val_r2`` for regression. ``best_epoch`` is
    the epoch whose weights the network holds after early stopping (else None)
    and ``stopped_early`` says whether patience ran out; ``target_scaler`` is set
    by ``config.train`` for regression (None otherwise).
    """

    best_epoch: int | None = None
    stopped_early: bool = False
    #: the ``data.TargetScaler`` the recipe (``config.train``) standardised a regression target with
    target_scaler = None

    def column(self, key: str) -> list:
        """The values of one key over all epochs, e.g. ``history.column("loss")``."""
        return [record.get(key) for record in self]


def check_early_stopping(patience, tol, has_validation: bool) -> tuple[int | None, float]:
    """``(patience, tol)`` checked: the one place that knows early stopping needs validation data."""
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if not has_validation:
            raise ValueError("patience needs validation data: pass x_val and y_val")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)):
        raise TypeError(f"tol must be a number >= 0, got {tol!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    return patience, float(tol)


class EarlyStopping:
    """Early-stopping bookkeeping: the best validation loss so far, its epoch and its weights.

    An epoch improves on the best when ``val_loss < best_loss - tol``
    (scikit-learn's ``tol`` with ``n_iter_no_change``, Keras's ``min_delta``);
    ``waited`` counts the epochs since the last improvement, and training stops
    once it reaches ``patience`` (never with ``patience=None``). The best
    epoch's parameters and buffers (BatchNorm's running statistics) are copied
    as it happens, so ``restore`` can put them back.
    """

    def __init__(self, patience: int | None = None, tol: float = 0.0) -> None:
        self.patience, self.tol = patience, tol
        self.best_loss = math.inf
        self.waited = 0
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.best_buffers: list[np.ndarray] | None = None

    def update(self, epoch: int, val_loss: float, network: NeuralNetwork) -> None:
        """Record one epoch's validation loss, copying the weights if it improved."""
        if val_loss < self.best_loss - self.tol:
            self.best_loss, self.waited, self.best_epoch = val_loss, 0, epoch
            self.best_params = [p.copy() for p in network.parameters()]
            self.best_buffers = [b.copy() for b in network.buffers()]
        else:
            self.waited += 1

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.waited >= self.patience

    def restore(self, network: NeuralNetwork) -> bool:
        """Copy the best epoch's parameters and buffers back; False (nothing changed) if there is none."""
        if self.best_params is None:
            return False
        for p, best in zip(network.parameters(), self.best_params):
            p[...] = best
        for b, best in zip(network.buffers(), self.best_buffers):
            b[...] = best
        return True


def check_pair(network: NeuralNetwork, x, y, x_name: str, y_name: str):
    """``(x, y)`` checked against ``network``: features of its width and dtype, targets for its task.

    Classification: integer labels ``(N,)`` or one-hot rows ``(N, n_outputs)``;
    multilabel: 0/1 columns ``(N, n_outputs)``; regression: numbers ``(N,)``
    (one output) or ``(N, n_outputs)``. 2-D targets come back in the network's dtype.
    """
    x = check_features(x, x_name, dtype=network.dtype, n_features=network.n_features)
    n = x.shape[0]
    if network.task == "regression":
        return x, check_targets(
            y, y_name, n_samples=n, n_outputs=network.n_outputs, x_name=x_name, dtype=network.dtype
        )
    y = check_labels(y, y_name, n_samples=n, n_classes=network.n_outputs, x_name=x_name)
    if network.task == "multilabel" and y.ndim != 2:
        raise ValueError(
            f"{y_name} must be a 2-D array of 0/1 columns for a multilabel network, got shape {y.shape}"
        )
    if y.ndim == 2 and y.dtype != network.dtype:
        y = y.astype(network.dtype)
    return x, y


def r2_score(y: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over the output columns.

    As ``sklearn.metrics.r2_score`` (``multioutput="uniform_average"``): a column
    whose target is constant scores 1 if predicted exactly, else 0.
    """
    y = y.reshape(y.shape[0], -1).astype(np.float64)
    predicted = predicted.reshape(y.shape).astype(np.float64)
    ss_res = np.sum((y - predicted) ** 2, axis=0)
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    safe = ss_tot > 0
    scores = np.where(ss_res == 0, 1.0, 0.0)
    scores[safe] = 1.0 - ss_res[safe] / ss_tot[safe]
    return float(np.mean(scores))


def score(task: str, outputs: np.ndarray, y: np.ndarray) -> float:
    """The trainer's score of ``outputs`` against targets ``y``: accuracy, or R^2 for regression."""
    if task == "regression":
        return r2_score(y, outputs)
    if task == "multilabel":  # subset accuracy: a row counts only if every column is right
        return float(np.mean(np.all((outputs > 0) == (y > 0.5), axis=1)))
    labels = np.argmax(y, axis=1) if y.ndim == 2 else y
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


class Trainer:
    """Trains a ``NeuralNetwork`` with an ``Optimizer`` on mini-batches.

    Parameters
    ----------
    network, optimizer
        What to train and how to update it.
    batch_size
        Rows per mini-batch; the last, shorter batch of an epoch is kept. A
        batch size larger than the data gives one batch per epoch.
    seed
        int, None or ``np.random.Generator``: the shuffling order.
    schedule
        Optional ``scratchnn.schedules.Schedule``; called before every update to
        set ``optimizer.learning_rate``.
    shuffle
        True: a new row order every epoch; False: the rows in their order, every epoch.
    clip_norm
        None (no clipping) or a positive number: after every backward pass the
        gradients' global norm is clipped to it (``optimizers.clip_grad_norm``),
        before the optimizer's step.

    Notes
    -----
    Calling ``fit`` again continues training: the weights, the optimizer's
    state, the schedule (``step``) and the counters ``step``, ``epochs_done``
    and ``samples_seen`` (scikit-learn's ``t_``) carry on, so ``fit(..., epochs=1)``
    in a loop is ``partial_fit``. Each call starts a new ``History`` and new
    early-stopping bookkeeping.
    """

    def __init__(
        self,
        network: NeuralNetwork,
        optimizer: Optimizer,
        batch_size: int = 16,
        seed=None,
        schedule=None,
        shuffle: bool = True,
        clip_norm: float | None = None,
    ) -> None:
        if not isinstance(network, NeuralNetwork):
            raise TypeError(f"network must be a NeuralNetwork, got {network!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an Optimizer, got {optimizer!r}")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be a Schedule or None, got {schedule!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        self.network = network
        self.optimizer = optimizer
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.rng = check_random_state(seed)
        self.schedule = schedule
        self.shuffle = bool(shuffle)
        self.clip_norm = None if clip_norm is None else check_positive_float(clip_norm, "clip_norm")
        self.history = History()
        self.step = 0  # optimizer updates so far, over all fit calls
        self.epochs_done = 0
        self.samples_seen = 0
        self.base_lr = optimizer.learning_rate
        self.early_stopping = EarlyStopping()

    @property
    def best_params(self) -> list[np.ndarray] | None:
        """The weights of the epoch with the lowest validation loss so far (None without validation)."""
        return self.early_stopping.best_params

    @property
    def best_epoch(self) -> int | None:
        """That epoch (1-based, within the last ``fit`` call)."""
        return self.early_stopping.best_epoch

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        epochs: int = 20,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        verbose: bool = True,
        *,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        patience: int | None = None,
        tol: float = 0.0,
        sample_weight=None,
        callback=None,
    ) -> History:
        """Train for ``epochs`` epochs; return the ``History`` (also kept as ``self.history``).

        Targets are integer labels or one-hot rows (classification), 0/1 columns
        (multilabel) or numbers ``(N,)``/``(N, k)`` (regression), as the network's
        ``task`` says. ``x_test, y_test``: reported each epoch ("Test Acc", the
        seed's line, or "Test R2"). ``x_val, y_val``: validation loss and score
        each epoch; with ``patience=N``, training stops once the validation loss
        has not improved by more than ``tol`` for N epochs, and the weights (and
        buffers) of the best epoch are restored. ``sample_weight (N,)`` weights
        the training rows in the loss (shuffled with them).
        ``callback(record)`` is called after each epoch (progress bars use it).

        Raises ``TrainingDiverged`` if the loss or the weights become NaN or infinite.
        """
        epochs = check_positive_int(epochs, "epochs")
        for a, b, names in ((x_test, y_test, "x_test and y_test"), (x_val, y_val, "x_val and y_val")):
            if (a is None) != (b is None):
                raise ValueError(f"{names} must be given together")
        patience, tol = check_early_stopping(patience, tol, x_val is not None)
        net = self.network
        x_train, y_train = check_pair(net, x_train, y_train, "x_train", "y_train")
        if x_test is not None:
            x_test, y_test = check_pair(net, x_test, y_test, "x_test", "y_test")
        if x_val is not None:
            x_val, y_val = check_pair(net, x_val, y_val, "x_val", "y_val")
        sample_weight = check_sample_weight(sample_weight, x_train.shape[0])
        test = None if x_test is None else (x_test, y_test)
        val = None if x_val is None else (x_val, y_val)
        return self._fit(x_train, y_train, epochs, test, val, verbose, patience, tol, sample_weight, callback)

    def _fit(self, x, y, epochs, test=None, val=None, verbose=False, patience=None, tol=0.0,
             sample_weight=None, callback=None) -> History:  # fmt: skip
        """``fit`` on arrays already checked (``check_pair``, ``check_early_stopping``); ``test``
        and ``val`` are ``(x, y)`` pairs or None. The loop trusts its caller and checks nothing."""
        net, opt = self.network, self.optimizer
        # A schedule scales the rate the optimizer had when training first started;
        # a second fit continues the schedule (self.step) from that rate.
        if self.step == 0:
            self.base_lr = opt.learning_rate
        history = self.history = History()
        stopper = self.early_stopping = EarlyStopping(patience, tol)
        metric = "r2" if net.task == "regression" else "accuracy"
        # Divergence is detected in _epoch (a non-finite loss or weights) and raised as
        # TrainingDiverged with a hint; NumPy's overflow warnings on the way there
        # would only repeat it (or, under warnings-as-errors, pre-empt it).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, epochs + 1):
                loss, batches = self._epoch(epoch, x, y, sample_weight)
                record = {"epoch": epoch, "loss": loss, "lr": opt.learning_rate}
                if test is not None:
                    record["test_" + metric] = self._evaluate(*test)[1]
                if val is not None:
                    record["val_loss"], record["val_" + metric] = self._evaluate(*val)
                    if not math.isfinite(record["val_loss"]):
                        raise TrainingDiverged(epoch, batches, record["val_loss"], opt.learning_rate)
                    # kept before the epoch is reported, so whoever sees its record (a
                    # callback, or a Ctrl-C handler reading best_params) finds them current
                    stopper.update(epoch, record["val_loss"], net)
                history.append(record)
                self.epochs_done += 1
                if verbose:
                    print(format_epoch(record, epochs), flush=True)
                if callback is not None:
                    callback(record)
                if stopper.should_stop:
                    history.stopped_early = True
                    break
        if patience is not None and stopper.restore(net):
            history.best_epoch = stopper.best_epoch
        return history

    def _epoch(self, epoch: int, x, y, sample_weight) -> tuple[float, int]:
        """One pass over the rows: a forward, backward and update per batch.

        Returns the mean training loss and the number of batches."""
        net, opt = self.network, self.optimizer
        params, grads = net.parameters(), net.gradients()
        n, bs = x.shape[0], self.batch_size
        arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
        if self.shuffle:
            # the buffers the shuffled rows are copied into, whole batches of them
            block = min(n, bs * max(1, _SHUFFLE_BLOCK_BYTES // (bs * x[0].nbytes)))
            blocks = [np.empty((block, *a.shape[1:]), a.dtype) for a in arrays]
            batches = _shuffled_batches(
                *arrays[:2], self.rng.permutation(n), bs, *blocks[:2], *arrays[2:], *blocks[2:]
            )
        else:
            batches = _ordered_batches(arrays, n, bs)
        total = 0.0
        for batch, (xb, yb, *wb) in enumerate(batches, start=1):
            w = wb[0] if wb else None
            loss = net.compute_loss(net.forward(xb, training=True), yb, w)
            if not math.isfinite(loss):
                raise TrainingDiverged(epoch, batch, loss, opt.learning_rate, before_update=self.step == 0)
            net.backward()
            if self.clip_norm is not None:
                clip_grad_norm(grads, self.clip_norm)
            if self.schedule is not None:
                opt.learning_rate = self.schedule(self.step, self.base_lr)
            opt.step(params, grads)
            self.step += 1
            total += loss * (xb.shape[0] if w is None else float(w.sum()))
        self.samples_seen += n
        # The last update of an epoch can overflow the weights after its
        # loss was computed; never let non-finite weights pass as trained.
        if not all(np.isfinite(p).all() for p in params):
            raise TrainingDiverged(epoch, batch, math.nan, opt.learning_rate)
        return total / (n if sample_weight is None else float(sample_weight.sum())), batch

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean loss, score) of the network on ``(x, y)``, without training behaviour."""
        net = self.network
        outputs = net.forward(x, training=False)
        return net.compute_loss(outputs, y), score(net.task, outputs, y)

    def restore_best(self) -> bool:
        """Copy the weights and buffers of the best epoch so far (lowest validation loss) back.

        Returns False, changing nothing, when there is no such epoch (no
        validation data, or no epoch finished yet).
        """
        return self.early_stopping.restore(self.network)


def format_epoch(record: dict, epochs: int) -> str:
    """The seed's progress line: ``Epoch 10/20 | Loss: 0.1755 | Test Acc: 0.9361``.

    Validation figures, and R^2 in place of accuracy for regression, follow in the same style.
    """
    line = f"Epoch {record['epoch']}/{epochs} | Loss: {record['loss']:.4f}"
    for key, label in (("test_accuracy", "Test Acc"), ("test_r2", "Test R2"), ("val_loss", "Val Loss"),
                       ("val_accuracy", "Val Acc"), ("val_r2", "Val R2")):  # fmt: skip
        if key in record:
            line += f" | {label}: {record[key]:.4f}"
    return line
