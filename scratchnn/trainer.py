"""The training loop: mini-batch gradient descent.

One epoch: shuffle the training set, cut it into mini-batches, and for each
batch run forward, loss, backward and one optimizer step. The row order is
permuted once per epoch, and the permuted rows are copied, a block of whole
batches at a time, into a small reused buffer: every batch is a contiguous
slice (cheap to take, friendly to the cache) rather than a fancy-indexed copy,
and the data set is never copied whole.
"""

from __future__ import annotations

import math

import numpy as np

from .network import NeuralNetwork
from .optimizers import Optimizer
from .validation import check_features, check_labels, check_positive_int, check_random_state

__all__ = ["History", "Trainer", "TrainingDiverged"]

#: Size of the buffer the shuffled rows are copied into: small enough to stay in the
#: CPU's cache while its batches are used, large enough to hold many small batches.
_SHUFFLE_BLOCK_BYTES = 1 << 20


def _shuffled_batches(x, y, perm, batch_size, x_block, y_block):
    """Yield ``(x[perm][i:i + batch_size], y[perm][i:i + batch_size])`` for i = 0, batch_size, ...

    The rows are copied into ``x_block``/``y_block`` (buffers of whole batches,
    reused) one block at a time, so each batch is a contiguous slice of the
    buffer and is overwritten once the loop has moved past it.
    """
    rows_per_block = x_block.shape[0]
    for block_start in range(0, perm.shape[0], rows_per_block):
        rows = perm[block_start : block_start + rows_per_block]
        m = rows.shape[0]
        # rows holds only valid indices: mode="clip" skips the bounds check and the
        # buffered copy that out= costs under the default mode="raise" (3x faster)
        np.take(x, rows, axis=0, out=x_block[:m], mode="clip")
        np.take(y, rows, axis=0, out=y_block[:m], mode="clip")
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)  # the last block may be only partly filled
            yield x_block[start:stop], y_block[start:stop]


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: the learning rate is usually too large."""

    def __init__(self, epoch: int, batch: int, loss: float, learning_rate: float) -> None:
        self.epoch, self.batch, self.loss, self.learning_rate = epoch, batch, loss, learning_rate
        super().__init__(
            f"training diverged in epoch {epoch} (batch {batch}): the loss became {loss}; "
            f"try a smaller learning rate than {learning_rate:g}"
        )


class History(list):
    """One dict per finished epoch, in order.

    Keys: ``epoch`` (1-based), ``loss`` (mean training loss), ``lr`` (learning
    rate at the epoch's last step) and, when the data was given,
    ``test_accuracy``, ``val_loss`` and ``val_accuracy``. ``best_epoch`` is the
    epoch whose weights the network holds after early stopping (else None) and
    ``stopped_early`` says whether patience ran out.
    """

    best_epoch: int | None = None
    stopped_early: bool = False

    def column(self, key: str) -> list:
        """The values of one key over all epochs, e.g. ``history.column("loss")``."""
        return [record.get(key) for record in self]


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
    """

    def __init__(
        self,
        network: NeuralNetwork,
        optimizer: Optimizer,
        batch_size: int = 16,
        seed=None,
        schedule=None,
    ) -> None:
        if not isinstance(network, NeuralNetwork):
            raise TypeError(f"network must be a NeuralNetwork, got {network!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be an Optimizer, got {optimizer!r}")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be a Schedule or None, got {schedule!r}")
        self.network = network
        self.optimizer = optimizer
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.rng = check_random_state(seed)
        self.schedule = schedule
        self.history = History()
        self.step = 0
        self.base_lr = optimizer.learning_rate
        # the weights of the epoch with the lowest validation loss so far, and that epoch
        self.best_params: list[np.ndarray] | None = None
        self.best_epoch: int | None = None

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) of the network on ``(x, y)``, without training behaviour."""
        net = self.network
        outputs = net.forward(x, training=False)
        loss = net.compute_loss(outputs, y)
        labels = np.argmax(y, axis=1) if y.ndim == 2 else y
        return loss, float(np.mean(np.argmax(outputs, axis=1) == labels))

    def _check_xy(self, x, y, x_name: str, y_name: str):
        net = self.network
        x = check_features(x, x_name, dtype=net.dtype, n_features=net.n_features)
        y = check_labels(y, y_name, n_samples=x.shape[0], n_classes=net.n_outputs, x_name=x_name)
        if y.ndim == 2 and y.dtype != net.dtype:
            y = y.astype(net.dtype)
        return x, y

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
        callback=None,
    ) -> History:
        """Train for ``epochs`` epochs; return the ``History`` (also kept as ``self.history``).

        ``x_test, y_test``: reported as "Test Acc" each epoch (the seed's line).
        ``x_val, y_val``: validation loss and accuracy each epoch; with
        ``patience=N``, training stops once the validation loss has not improved
        for N epochs, and the weights of the best epoch are restored.
        ``callback(record)`` is called after each epoch (progress bars use it).

        Raises ``TrainingDiverged`` if the loss or the weights become NaN or infinite.
        """
        epochs = check_positive_int(epochs, "epochs")
        x_train, y_train = self._check_xy(x_train, y_train, "x_train", "y_train")
        if (x_test is None) != (y_test is None):
            raise ValueError("x_test and y_test must be given together")
        if (x_val is None) != (y_val is None):
            raise ValueError("x_val and y_val must be given together")
        if x_test is not None:
            x_test, y_test = self._check_xy(x_test, y_test, "x_test", "y_test")
        if x_val is not None:
            x_val, y_val = self._check_xy(x_val, y_val, "x_val", "y_val")
        if patience is not None:
            patience = check_positive_int(patience, "patience")
            if x_val is None:
                raise ValueError("patience needs validation data: pass x_val and y_val")

        net, opt = self.network, self.optimizer
        params, grads = net.parameters(), net.gradients()
        n, bs = x_train.shape[0], self.batch_size
        # A schedule scales the rate the optimizer had when training first started.
        # A second fit continues the schedule (self.step) from that rate, not from
        # the decayed one the schedule left in the optimizer.
        if self.step == 0:
            self.base_lr = opt.learning_rate
        base_lr = self.base_lr
        # Reused every batch: the buffer shuffled rows are copied into, whole batches of them.
        block = min(n, bs * max(1, _SHUFFLE_BLOCK_BYTES // (bs * x_train[0].nbytes)))
        x_block = np.empty((block, *x_train.shape[1:]), x_train.dtype)
        y_block = np.empty((block, *y_train.shape[1:]), y_train.dtype)
        history = self.history = History()
        best_loss, waited = math.inf, 0
        self.best_params, self.best_epoch = None, None

        # Divergence is detected below (a non-finite loss or weights) and raised as
        # TrainingDiverged with a hint; NumPy's overflow warnings on the way there
        # would only repeat it (or, under warnings-as-errors, pre-empt it).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(1, epochs + 1):
                perm = self.rng.permutation(n)
                total = 0.0
                batches = _shuffled_batches(x_train, y_train, perm, bs, x_block, y_block)
                for batch, (xb, yb) in enumerate(batches):
                    loss = net.compute_loss(net.forward(xb, training=True), yb)
                    if not math.isfinite(loss):
                        raise TrainingDiverged(epoch, batch + 1, loss, opt.learning_rate)
                    net.backward()
                    if self.schedule is not None:
                        opt.learning_rate = self.schedule(self.step, base_lr)
                    opt.step(params, grads)
                    self.step += 1
                    total += loss * xb.shape[0]
                # The last update of an epoch can overflow the weights after its
                # loss was computed; never let non-finite weights pass as trained.
                if not all(np.isfinite(p).all() for p in params):
                    raise TrainingDiverged(epoch, batch + 1, math.nan, opt.learning_rate)

                record = {"epoch": epoch, "loss": total / n, "lr": opt.learning_rate}
                if x_test is not None:
                    record["test_accuracy"] = self._evaluate(x_test, y_test)[1]
                if x_val is not None:
                    record["val_loss"], record["val_accuracy"] = self._evaluate(x_val, y_val)
                    if not math.isfinite(record["val_loss"]):
                        raise TrainingDiverged(epoch, batch + 1, record["val_loss"], opt.learning_rate)
                history.append(record)
                if x_val is not None:
                    # Kept before the epoch is reported, so whoever sees its record (a
                    # callback, or a Ctrl-C handler reading best_params) finds them current.
                    if record["val_loss"] < best_loss:
                        best_loss, waited = record["val_loss"], 0
                        self.best_params, self.best_epoch = [p.copy() for p in params], epoch
                    else:
                        waited += 1
                if verbose:
                    print(format_epoch(record, epochs), flush=True)
                if callback is not None:
                    callback(record)
                if patience is not None and waited >= patience:
                    history.stopped_early = True
                    break

        if patience is not None and self.restore_best():
            history.best_epoch = self.best_epoch
        return history

    def restore_best(self) -> bool:
        """Copy the weights of the best epoch so far (lowest validation loss) back into the network.

        Returns False, changing nothing, when there is no such epoch (no
        validation data, or no epoch finished yet).
        """
        if self.best_params is None:
            return False
        for p, best in zip(self.network.parameters(), self.best_params):
            p[...] = best
        return True


def format_epoch(record: dict, epochs: int) -> str:
    """The seed's progress line: ``Epoch 10/20 | Loss: 0.1755 | Test Acc: 0.9361``.

    Validation figures, when present, follow in the same style.
    """
    line = f"Epoch {record['epoch']}/{epochs} | Loss: {record['loss']:.4f}"
    if "test_accuracy" in record:
        line += f" | Test Acc: {record['test_accuracy']:.4f}"
    if "val_loss" in record:
        line += f" | Val Loss: {record['val_loss']:.4f} | Val Acc: {record['val_accuracy']:.4f}"
    return line
