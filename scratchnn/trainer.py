"""The training loop: mini-batch gradient descent.

One epoch: shuffle the training set, cut it into mini-batches, and for each
batch run forward, loss, backward and one optimizer step. The row order is
permuted once per epoch, and the permuted rows are copied, a block of whole
batches at a time, into a small reused buffer: every batch is a contiguous
slice (cheap to take, friendly to the cache) rather than a fancy-indexed copy,
and the data set is never copied whole.

``check_training_data`` is the one door for training data: ``Trainer.fit``
checks its arrays there once and hands them to ``Trainer.run``, which trusts
them (as scikit-learn's ``fit`` calls ``_fit``). Callers that have checked their
data already (``config.train``, ``grid_search``) call ``run``; the estimators,
which keep their own curves and stopping rule, call ``run_epoch`` once per epoch
and restart the learning-rate schedule with ``restart_schedule``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .losses import TASKS
from .network import NeuralNetwork
from .optimizers import Optimizer, clip_grad_norm
from .validation import (
    check_features,
    check_positive_float,
    check_positive_int,
    check_random_state,
    check_sample_weight,
    check_sequences,
)

__all__ = [
    "EarlyStopping",
    "History",
    "Trainer",
    "TrainingData",
    "TrainingDiverged",
    "check_early_stopping",
    "check_training_data",
]

#: Size of the buffer the shuffled rows are copied into: small enough to stay in the
#: CPU's cache while its batches are used, large enough to hold many small batches.
_SHUFFLE_BLOCK_BYTES = 1 << 20


def _shuffled_batches(arrays, perm, batch_size, rows_per_block, take_rows=None):
    """Yield the batches of ``arrays`` (x, y and maybe w) in the row order ``perm``:
    ``a[perm][i:i + batch_size]`` for i = 0, batch_size, ... and each array ``a``.

    The rows are copied into buffers of ``rows_per_block`` rows (whole batches,
    reused) one block at a time, so each batch is a contiguous slice of a buffer
    and is overwritten once the loop has moved past it. ``take_rows(x, rows)``,
    if given, makes the block of ``x`` instead (the estimators densify sparse rows so).
    """
    blocks = [np.empty((rows_per_block, *a.shape[1:]), a.dtype) for a in arrays[take_rows is not None :]]
    for block_start in range(0, perm.shape[0], rows_per_block):
        rows = perm[block_start : block_start + rows_per_block]
        m = rows.shape[0]
        parts = [] if take_rows is None else [take_rows(arrays[0], rows)]
        for a, block in zip(arrays[len(parts) :], blocks):
            # rows holds only valid indices: mode="clip" skips the bounds check and the
            # buffered copy that out= costs under the default mode="raise" (3x faster)
            np.take(a, rows, axis=0, out=block[:m], mode="clip")
            parts.append(block[:m])
        for start in range(0, m, batch_size):
            yield tuple(part[start : start + batch_size] for part in parts)


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
        if patience != math.inf:  # inf: never stop, keep the best epoch's weights
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

    def __init__(self, patience: int | None = None, tol: float = 0.0, *, keep_best: bool = True) -> None:
        self.patience, self.tol, self.keep_best = patience, tol, keep_best
        self.best_loss = math.inf
        self.waited = 0
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.best_buffers: list[np.ndarray] | None = None

    def update(self, epoch: int, val_loss: float, network: NeuralNetwork) -> None:
        """Record one epoch's validation loss, copying the weights if it improved."""
        if val_loss < self.best_loss - self.tol:
            self.best_loss, self.waited, self.best_epoch = val_loss, 0, epoch
            if not self.keep_best:  # a convergence test on the training loss keeps no weights
                return
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


@dataclass
class TrainingData:
    """The arrays of one training run, checked once by ``check_training_data``; the loops below trust them.

    ``x_train (N, F)``, ``x_val`` and ``x_test`` in the network's dtype; the targets as the
    task wants them (``Task.check_targets``); ``n_outputs`` the network's output width; ``task``
    classification, multilabel or regression; ``sample_weight`` float64 ``(N,)`` or None;
    ``input_shape`` the image ``(C, H, W)`` each row holds, or None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    n_outputs: int
    task: str
    sample_weight: np.ndarray | None = None
    input_shape: tuple | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    lengths_train: np.ndarray | None = None  # sequences (N, T, F): the real lengths, or None (all full)
    lengths_val: np.ndarray | None = None
    lengths_test: np.ndarray | None = None


def _ndim(x) -> int | None:
    """``np.ndim(x)``, or None for what is not an array at all (a ragged nested list): the checks name it."""
    try:
        return np.ndim(x)
    except ValueError:
        return None


def _check_x(x, name: str, dtype, n_features, lengths):
    """Rows ``(N, F)`` (no lengths) or padded sequences ``(N, T, F)`` with their lengths."""
    if _ndim(x) == 3:
        return check_sequences(x, name, dtype=dtype, lengths=lengths, n_features=n_features)
    if lengths is not None:
        raise ValueError(f"lengths go with sequences (N, T, F), but {name} is not 3-D")
    return check_features(x, name, dtype=dtype, n_features=n_features), None


def check_training_data(
    x_train, y_train, x_val=None, y_val=None, *, task: str, dtype, n_features: int | None = None,
    n_outputs: int | None = None, x_test=None, y_test=None, patience=None, tol=0.0, sample_weight=None,
    input_shape=None, outputs_name: str = "n_outputs", lengths_train=None, lengths_val=None,
    lengths_test=None,
) -> TrainingData:  # fmt: skip
    """The one door for training data: every array of a run checked once, for ``task`` in ``dtype``.

    Checks the features (finite, of ``n_features`` columns if given), the targets
    against the task (``losses.TASKS[task].check_targets``), that each optional pair is given together and
    the early-stopping rule (``check_early_stopping``: patience needs validation
    data). ``n_outputs`` None: the width of 2-D targets, else the number of classes
    (``max(y_train) + 1``), or 1 for a regression target ``(N,)``. ``outputs_name``
    is what the caller calls ``n_outputs``, for messages. Sequences: ``x (N, T, F)`` with
    ``lengths_*`` ``(N,)`` (or None: every sequence full length), each in ``[1, T]``. ``Trainer.fit``,
    ``config.train``, ``config.fit`` and ``grid_search`` call it; the loops below trust it.
    """
    for a, b, names in ((x_test, y_test, "x_test and y_test"), (x_val, y_val, "x_val and y_val")):
        if (a is None) != (b is None):
            raise ValueError(f"{names} must be given together")
    check_early_stopping(patience, tol, x_val is not None)
    dtype = np.dtype(dtype)
    if n_outputs is not None:
        n_outputs = check_positive_int(n_outputs, outputs_name)
    x_train, lengths_train = _check_x(x_train, "x_train", dtype, n_features, lengths_train)
    rules = TASKS[task]
    y_train = rules.check_targets(y_train, "y_train", n_samples=x_train.shape[0], n_outputs=n_outputs,
                                  x_name="x_train", dtype=dtype)  # fmt: skip
    if n_outputs is None:
        n_outputs = rules.n_outputs(y_train)
    pairs, lengths = {}, {"val": lengths_val, "test": lengths_test}
    for name, x, y in (("val", x_val, y_val), ("test", x_test, y_test)):
        if x is not None:
            if _ndim(x) != x_train.ndim:
                raise ValueError(
                    f"x_{name} must have the rank of x_train: both 2-D rows (n_samples, n_features) or both "
                    f"3-D sequences, got x_train of shape {x_train.shape}, x_{name} of {_ndim(x)} dimensions"
                )
            x, lengths[name] = _check_x(x, f"x_{name}", dtype, x_train.shape[-1], lengths[name])
            y = rules.check_targets(y, f"y_{name}", n_samples=x.shape[0], n_outputs=n_outputs,
                                    x_name=f"x_{name}", dtype=dtype)  # fmt: skip
        pairs[name] = (x, y)
    sample_weight = check_sample_weight(sample_weight, x_train.shape[0])
    shape = None if input_shape is None else tuple(input_shape)
    return TrainingData(
        x_train, y_train, *pairs["val"], n_outputs, task, sample_weight, shape, *pairs["test"],
        lengths_train, lengths["val"], lengths["test"],
    )  # fmt: skip


class Trainer:
    """Trains a ``NeuralNetwork`` with an ``Optimizer`` on mini-batches.

    A full-batch optimizer (``optimizer.full_batch``, L-BFGS) instead takes one
    step per epoch on all the rows, through a closure that evaluates the loss
    and the gradients over the whole training set.

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
        self.last_batches = 0  # batches of the last epoch, for a divergence message
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
        lengths_train=None,
        lengths_val=None,
        lengths_test=None,
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
        Sequences: ``x_* (N, T, F)`` padded, with ``lengths_* (N,)`` their real lengths
        (None: all full length), passed batch by batch to ``network.forward``.

        Raises ``TrainingDiverged`` if the loss or the weights become NaN or infinite.
        """
        epochs = check_positive_int(epochs, "epochs")
        net = self.network
        data = check_training_data(
            x_train, y_train, x_val, y_val, task=net.task, dtype=net.dtype, n_features=net.n_features,
            n_outputs=net.n_outputs, x_test=x_test, y_test=y_test, patience=patience, tol=tol,
            sample_weight=sample_weight, lengths_train=lengths_train, lengths_val=lengths_val,
            lengths_test=lengths_test,
        )  # fmt: skip
        return self.run(data, epochs, patience=patience, tol=tol, verbose=verbose, callback=callback)

    def run(
        self, data: TrainingData, epochs: int, *, patience=None, tol=0.0, n_iter_no_change=None,
        verbose=False, callback=None,
    ) -> History:  # fmt: skip
        """``fit`` on data checked at a door (``check_training_data``): ``epochs`` calls of
        ``run_epoch``, each followed by its record, the test and validation scores and early
        stopping. Without validation data, ``n_iter_no_change=N`` stops once the training loss
        has not improved by more than ``tol`` for N epochs (converged). An ``Adaptive`` schedule
        lowers the rate at such a plateau instead of stopping. Checks nothing: its caller did."""
        net, opt = self.network, self.optimizer
        history = self.history = History()
        stopper = self.early_stopping = EarlyStopping(patience, tol)
        if data.x_val is None and n_iter_no_change is not None:
            stopper = EarlyStopping(n_iter_no_change, tol, keep_best=False)
        metric = net.loss.metric
        test = None if data.x_test is None else (data.x_test, data.y_test, data.lengths_test)
        val = None if data.x_val is None else (data.x_val, data.y_val, data.lengths_val)
        for epoch in range(1, epochs + 1):
            loss = self.run_epoch(data.x_train, data.y_train, data.sample_weight, epoch=epoch,
                                  lengths=data.lengths_train)  # fmt: skip
            record = {"epoch": epoch, "loss": loss, "lr": opt.learning_rate}
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if test is not None:
                    record["test_" + metric] = self._evaluate(*test)[1]
                if val is not None:
                    record["val_loss"], record["val_" + metric] = self._evaluate(*val)
            if val is not None:
                if not math.isfinite(record["val_loss"]):
                    raise TrainingDiverged(epoch, self.last_batches, record["val_loss"], opt.learning_rate)
                # kept before the epoch is reported, so whoever sees its record (a
                # callback, or a Ctrl-C handler reading best_params) finds them current
                stopper.update(epoch, record["val_loss"], net)
            elif not stopper.keep_best:
                stopper.update(epoch, loss, net)
            history.append(record)
            if verbose:
                print(format_epoch(record, epochs), flush=True)
            if callback is not None:
                callback(record)
            if opt.converged or opt.exhausted:
                break  # a full-batch optimizer (lbfgs) found a minimum, or spent max_fun
            if stopper.should_stop:
                if getattr(self.schedule, "reduce", lambda: None)():
                    stopper.waited = 0  # a lower rate instead of a stop
                    continue
                history.stopped_early = True
                break
        if patience is not None and stopper.restore(net):
            history.best_epoch = stopper.best_epoch
        return history

    def restart_schedule(self, schedule=None, learning_rate: float | None = None) -> None:
        """Start the learning-rate schedule anew from the next update (step 0), at ``learning_rate``.

        ``schedule`` replaces the current one (None: a constant rate). The weights and
        the optimizer's state (momentum, Adam's moments) carry on: a warm restart, as SGDR's.
        """
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be a Schedule or None, got {schedule!r}")
        if learning_rate is not None:
            self.optimizer.learning_rate = learning_rate
        self.schedule = schedule
        self.step = 0  # run_epoch reads the base rate again at step 0

    def run_epoch(self, x, y, sample_weight=None, *, epoch: int | None = None, take_rows=None,
                  block_bytes: int = _SHUFFLE_BLOCK_BYTES, lengths=None) -> float:  # fmt: skip
        """One pass over the rows of checked arrays (``check_training_data``); the mean training loss.

        The rows are shuffled (``shuffle=True``) and cut into mini-batches; each gets a
        forward, backward and optimizer step (the schedule, if any, sets the rate first).
        ``epoch`` (default: ``epochs_done + 1``) only names the epoch in a
        ``TrainingDiverged``. ``take_rows(x, rows)`` makes a dense block of the rows
        ``rows`` of an ``x`` that NumPy cannot index (a sparse matrix), ``block_bytes``
        of them at a time. ``lengths (N,)``: the real lengths of padded sequences ``x (N, T, F)``,
        shuffled with them and handed to ``network.forward`` batch by batch.
        Checks nothing: the caller checked the arrays at its door.
        """
        opt = self.optimizer
        # A schedule scales the rate the optimizer had when training first started (or
        # restart_schedule restarted it); a later epoch continues from that rate.
        if self.step == 0:
            self.base_lr = opt.learning_rate
        epoch = self.epochs_done + 1 if epoch is None else epoch
        # Divergence is detected in _epoch (a non-finite loss or weights) and raised as
        # TrainingDiverged with a hint; NumPy's overflow warnings on the way there
        # would only repeat it (or, under warnings-as-errors, pre-empt it).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, self.last_batches = self._epoch(epoch, x, y, sample_weight, take_rows, block_bytes, lengths)
        self.epochs_done += 1
        return loss

    def _epoch(self, epoch: int, x, y, sample_weight, take_rows, block_bytes, lengths) -> tuple[float, int]:
        """One pass over the rows (``_minibatch_epoch``), or one full-batch step (``_full_batch_epoch``).

        Returns the mean training loss and the number of batches."""
        if self.optimizer.full_batch:
            return _full_batch_epoch(self, epoch, x, y, sample_weight, take_rows, lengths), 1
        return _minibatch_epoch(self, epoch, x, y, sample_weight, take_rows, block_bytes, lengths)

    def _evaluate(self, x: np.ndarray, y: np.ndarray, lengths=None) -> tuple[float, float]:
        """(mean loss, score) of the network on ``(x, y)``, without training behaviour."""
        net = self.network
        outputs = net.forward(x, training=False, lengths=lengths)
        return net.compute_loss(outputs, y), net.loss.score(outputs, y)

    def restore_best(self) -> bool:
        """Copy the weights and buffers of the best epoch so far (lowest validation loss) back.

        Returns False, changing nothing, when there is no such epoch (no
        validation data, or no epoch finished yet).
        """
        return self.early_stopping.restore(self.network)


def _minibatch_epoch(
    trainer: Trainer, epoch: int, x, y, sample_weight, take_rows, block_bytes, lengths
) -> tuple[float, int]:
    """One pass over the rows: a forward, backward and update per batch.

    Returns the mean training loss and the number of batches."""
    net, opt = trainer.network, trainer.optimizer
    params, grads = net.parameters(), net.gradients()
    n, bs = x.shape[0], trainer.batch_size
    arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
    arrays += () if lengths is None else (lengths,)
    if trainer.shuffle or take_rows is not None:
        # the buffers the shuffled rows are copied into, whole batches of them
        row_bytes = math.prod(x.shape[1:]) * x.dtype.itemsize
        block = min(n, bs * max(1, block_bytes // (bs * row_bytes)))
        perm = trainer.rng.permutation(n) if trainer.shuffle else np.arange(n)
        batches = _shuffled_batches(arrays, perm, bs, block, take_rows)
    else:
        batches = _ordered_batches(arrays, n, bs)
    total = 0.0
    for batch, (xb, yb, *rest) in enumerate(batches, start=1):
        w = None if sample_weight is None else rest[0]
        lb = None if lengths is None else rest[-1]
        loss = net.compute_loss(net.forward(xb, training=True, lengths=lb), yb, w)
        if not math.isfinite(loss):
            raise TrainingDiverged(epoch, batch, loss, opt.learning_rate, before_update=trainer.step == 0)
        net.backward()
        if trainer.clip_norm is not None:
            clip_grad_norm(grads, trainer.clip_norm)
        if trainer.schedule is not None:
            opt.learning_rate = trainer.schedule(trainer.step, trainer.base_lr)
        opt.step(params, grads)
        trainer.step += 1
        total += loss * (xb.shape[0] if w is None else float(w.sum()))
    trainer.samples_seen += n
    # The last update of an epoch can overflow the weights after its
    # loss was computed; never let non-finite weights pass as trained.
    if not all(np.isfinite(p).all() for p in params):
        raise TrainingDiverged(epoch, batch, math.nan, opt.learning_rate)
    return total / (n if sample_weight is None else float(sample_weight.sum())), batch


def _full_batch_epoch(trainer: Trainer, epoch: int, x, y, sample_weight, take_rows, lengths=None) -> float:
    """One step of a full-batch optimizer (L-BFGS), whose closure is the loss over all the rows.

    The rows are neither shuffled nor batched (``batch_size`` and ``shuffle`` do not apply);
    the optimizer evaluates the loss and gradient as often as its line search needs.
    Returns the loss before the step, as a mini-batch epoch reports its batches' losses
    before their updates. A sparse ``x`` is densified once for the epoch (``take_rows``).
    """
    net, opt = trainer.network, trainer.optimizer
    params, grads = net.parameters(), net.gradients()
    n = x.shape[0]
    if take_rows is not None:
        x = take_rows(x, np.arange(n))

    def closure() -> float:
        loss = net.compute_loss(net.forward(x, training=True, lengths=lengths), y, sample_weight)
        net.backward()
        return loss

    if trainer.schedule is not None:
        opt.learning_rate = trainer.schedule(trainer.step, trainer.base_lr)
    loss = opt.step(params, grads, closure)
    if not math.isfinite(loss):
        raise TrainingDiverged(epoch, 1, loss, opt.learning_rate, before_update=trainer.step == 0)
    trainer.step += 1
    trainer.samples_seen += n
    if not all(np.isfinite(p).all() for p in params):
        raise TrainingDiverged(epoch, 1, math.nan, opt.learning_rate)
    return loss


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
