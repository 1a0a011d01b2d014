"""Losses: a number that says how wrong the outputs are, and its gradient.

``loss.forward(outputs, targets, sample_weight=None)`` returns the loss as a
Python float, always a **mean** over the batch (a sum would make the right
learning rate depend on the batch size). ``loss.backward()`` returns
``dL/d(outputs)``, with the shape of ``outputs``, for the last forward call:
the gradient of exactly the number forward returned. This is where
backpropagation starts.

Every loss is a mean of per-sample losses ``l_i``. With ``sample_weight``
``w (N,)`` it is the weighted mean, normalised as scikit-learn's
``sample_weight``::

    L = sum_i w_i * l_i / sum_i w_i

so weights of 1 give the plain mean, an integer weight counts a row that many
times, and scaling all weights changes nothing. A batch whose weights sum to
0 has loss 0 and gradient 0 (it holds nothing to learn from).

Targets of the element-wise losses (squared, absolute, Huber, Poisson, binary
cross-entropy) have the outputs' shape ``(N, C)``, and ``l_i`` is the mean over
the ``C`` columns, so the unweighted loss is the mean over all ``N * C``
elements, as torch's ``reduction="mean"``. A 1-D target ``(N,)`` against a
single output column is that column's values; against several columns it is
integer class labels, one-hot encoded first.
"""

from __future__ import annotations

import numpy as np

from ._configurable import Configurable
from .metrics import accuracy, r2_score
from .validation import check_float_in_range, check_labels, check_positive_float, check_targets

__all__ = [
    "LOSSES",
    "TASKS",
    "BCEWithLogitsLoss",
    "HuberLoss",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "PoissonLoss",
    "SoftmaxCrossEntropy",
    "Task",
    "log_softmax",
    "loss_from_config",
    "make_loss",
    "one_hot",
    "softmax",
]


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """Integer labels ``(N,)`` to a one-hot matrix ``(N, n_classes)``."""
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``log(softmax(z))`` row-wise, through log-sum-exp: ``z - max - log(sum(exp(z - max)))``.

    Subtracting the row maximum makes every exponent ``<= 0``, so nothing
    overflows, and the log is never taken of a probability that underflowed to 0.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax ``exp(z) / sum(exp(z))``, with the row maximum subtracted first."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _row_weights(sample_weight, n: int, dtype) -> np.ndarray:
    """``w / sum(w)`` as a column ``(N, 1)`` in the outputs' dtype (zeros if the weights sum to 0)."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per row, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"sample_weight must be finite and >= 0, got {w[~(np.isfinite(w) & (w >= 0))][:3]}")
    total = w.sum()
    return (w / total if total > 0 else w * 0.0).astype(dtype, copy=False)[:, None]


class Task:
    """What a loss fits, and so how its targets are checked, its outputs read and scored.

    One object per task in ``TASKS``, the one table that knows the tasks:
    "classification" (one class per row: integer labels or one-hot rows; scored by
    accuracy), "multilabel" (k independent yes/no columns; subset accuracy) and
    "regression" (numbers; R^2). ``numeric`` says the targets are numbers (they are
    standardised for training and split without stratifying); ``metric`` names the score.
    """

    name = "classification"
    metric = "accuracy"
    numeric = False
    exclusive = True  # one class per row: the largest output wins (softmax, argmax)

    def check_targets(self, y, name: str, *, n_samples: int, n_outputs, x_name: str, dtype) -> np.ndarray:
        """Targets ``y`` checked for this task: integer labels ``(N,)`` or one-hot rows
        ``(N, n_outputs)``; 2-D targets come back in ``dtype``."""
        y = check_labels(y, name, n_samples=n_samples, n_classes=n_outputs, x_name=x_name)
        return y.astype(dtype) if y.ndim == 2 and y.dtype != dtype else y

    def n_outputs(self, y: np.ndarray) -> int:
        """The output width checked targets ``y`` ask for: the number of classes or columns."""
        return y.shape[1] if y.ndim == 2 else int(np.max(y)) + 1

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """The class of each row, the index of its largest output: ``(N,)``."""
        return np.argmax(outputs, axis=1)

    def score(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of ``outputs`` against labels or one-hot rows ``y``."""
        return accuracy(np.argmax(y, axis=1) if y.ndim == 2 else y, self.predict(outputs))

    def task_for(self, y) -> str:
        """The task that training on targets ``y`` asks for: this one."""
        return self.name


class _Multilabel(Task):
    name = "multilabel"
    exclusive = False

    def check_targets(self, y, name, *, n_samples, n_outputs, x_name, dtype):
        """0/1 columns ``(N, n_outputs)``, in ``dtype``."""
        y = super().check_targets(
            y, name, n_samples=n_samples, n_outputs=n_outputs, x_name=x_name, dtype=dtype
        )
        if y.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D array of 0/1 columns for a multilabel network, got shape {y.shape}"
            )
        return y

    def predict(self, outputs):
        """``(N, k)`` of 0/1: 1 where the logit is positive (probability > 0.5)."""
        return (outputs > 0).astype(np.int64)

    def score(self, outputs, y):
        """Subset accuracy: a row counts only if every column is right."""
        return accuracy(y > 0.5, outputs > 0)


class _Regression(Task):
    name = "regression"
    metric = "r2"
    numeric = True
    exclusive = False

    def check_targets(self, y, name, *, n_samples, n_outputs, x_name, dtype):
        """Numbers ``(N,)`` (one output) or ``(N, n_outputs)``, in ``dtype``."""
        return check_targets(y, name, n_samples=n_samples, n_outputs=n_outputs, x_name=x_name, dtype=dtype)

    def n_outputs(self, y):
        return y.shape[1] if y.ndim == 2 else 1

    def predict(self, outputs):
        """The outputs themselves (in the units the network was trained on)."""
        return outputs

    def score(self, outputs, y):
        return r2_score(y, outputs)

    def task_for(self, y) -> str:
        """Regression, except for the seed's option of a regression loss on integer class
        labels ``(N,)``: classification on one-hot codes. Numbers meant as numbers are floats."""
        if np.ndim(y) == 1 and np.asarray(y).dtype.kind in "iub":
            return Task.name
        return self.name


#: What a network trained with a loss predicts, by the loss's ``task``: the one table of tasks.
TASKS: dict[str, Task] = {task.name: task for task in (Task(), _Multilabel(), _Regression())}


class Loss(Configurable):
    """Base class. ``forward`` returns a float; ``backward`` returns ``dL/d(outputs)``.

    ``task`` says what the loss fits, and so what a network trained with it
    predicts and how the trainer scores it: "classification" (one class per
    row: accuracy), "multilabel" (k independent yes/no columns: subset
    accuracy) or "regression" (numbers: R^2).
    """

    task: str = "classification"
    #: The link between the outputs and what they model, as ``inverse_link`` undoes it: "identity",
    #: or "log" (the outputs are log-means), which an exported graph follows with an ``Exp``.
    link: str = "identity"
    #: Whether a numeric target may be standardised for training (``data.TargetScaler``), derived
    #: from ``link`` for each subclass: True for an identity link (the outputs are the predictions,
    #: so standardising the target only asks the last layer for standardised outputs), False else.
    standardise_target: bool = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.standardise_target = cls.link == "identity"

    def forward(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    # What the loss's task says about targets and outputs (``TASKS``), asked of the loss.
    @property
    def metric(self) -> str:
        """The score of this loss's task: "accuracy" or "r2"."""
        return TASKS[self.task].metric

    def check_targets(self, y, name: str, *, n_samples: int, n_outputs, x_name: str, dtype) -> np.ndarray:
        """Targets ``y`` checked for this loss's task (``Task.check_targets``)."""
        return TASKS[self.task].check_targets(
            y, name, n_samples=n_samples, n_outputs=n_outputs, x_name=x_name, dtype=dtype
        )

    def inverse_link(self, outputs: np.ndarray) -> np.ndarray:
        """The outputs as the quantity they model: here the outputs themselves (an identity link);
        ``exp(outputs)`` for a log link (``PoissonLoss``)."""
        return outputs

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """What a network trained with this loss predicts from its ``outputs``: ``Task.predict``
        of ``inverse_link(outputs)``."""
        return TASKS[self.task].predict(self.inverse_link(outputs))

    def score(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """Accuracy, or R^2 for numbers, of ``outputs`` against checked targets ``y`` (``Task.score``
        of ``inverse_link(outputs)``)."""
        return TASKS[self.task].score(self.inverse_link(outputs), y)


class _ElementwiseLoss(Loss):
    """A mean of element-wise losses ``e(d)`` of the residuals ``d = o - t`` (or of ``(o, t)``).

    Subclasses give ``_pointwise(o, t) -> (e, de/do)``, both ``(N, C)`` (the
    slope without its constant ``_factor``, folded into the scale). Then
    ``L = sum_ic s_ic * e_ic`` and ``dL/do_ic = s_ic * de_ic/do_ic``, where the
    scale ``s_ic`` is ``1 / (N * C)``, or ``w_i / (C * sum(w))`` with weights.
    """

    _factor = 1.0  # a constant factor of de/do, applied with the scale (2 for the squared error)

    def __init__(self) -> None:
        self._slope: np.ndarray | None = None

    def _pointwise(self, outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(e, de/do / _factor)`` for outputs and targets of the same shape."""
        raise NotImplementedError

    def forward(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> float:
        if targets.ndim == 1 and outputs.ndim == 2:
            if outputs.shape[1] == 1:
                targets = targets.reshape(-1, 1)
            else:
                targets = one_hot(targets, outputs.shape[1], dtype=outputs.dtype)
        if targets.dtype != outputs.dtype:  # float32 outputs keep float32 gradients
            targets = targets.astype(outputs.dtype)
        values, slope = self._pointwise(outputs, targets)
        if sample_weight is None:
            slope *= self._factor / values.size
            self._slope = slope
            return float(np.mean(values))
        scale = _row_weights(sample_weight, outputs.shape[0], outputs.dtype)
        scale /= values.shape[1]
        slope *= scale * self._factor
        self._slope = slope
        return float(np.sum(values * scale))

    def backward(self) -> np.ndarray:
        return self._slope


class _ValueLoss(_ElementwiseLoss):
    """An element-wise loss of outputs against numbers: a regression loss by default.

    ``task="classification"`` declares the other use the seed made of squared
    error: integer class labels, one-hot encoded, against one output per class
    (the network then predicts the class of the largest output).
    """

    task = "regression"

    def __init__(self, task: str = "regression") -> None:
        super().__init__()
        if task not in ("regression", "classification"):
            raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
        self.task = task

    def get_config(self) -> dict:
        return {} if self.task == "regression" else {"task": self.task}


class MeanSquaredError(_ValueLoss):
    """Mean squared error, as ``torch.nn.MSELoss()``.

    For outputs ``o (N, C)`` and targets ``t (N, C)``, with ``d = o - t``::

        e = d**2                  de/do = 2 * d
        L = mean(d**2)            dL/do = 2 * d / (N * C)

    Integer labels ``(N,)`` against outputs ``(N, C)`` are one-hot encoded first,
    so a classifier is pulled towards 1 for the true class and 0 elsewhere.
    """

    _factor = 2.0

    def _pointwise(self, outputs, targets):
        d = outputs - targets
        return d * d, d


class MeanAbsoluteError(_ValueLoss):
    """Mean absolute error, as ``torch.nn.L1Loss()``::

        e = |d|                   de/do = sign(d)        (0 at d = 0, as torch)
        L = mean(|o - t|)

    Less pulled by outliers than the squared error: every residual pulls with
    the same strength, whatever its size.
    """

    def _pointwise(self, outputs, targets):
        d = outputs - targets
        return np.abs(d), np.sign(d)


class HuberLoss(_ValueLoss):
    """Huber loss, as ``torch.nn.HuberLoss(delta=delta)``: squared near 0, absolute far away::

        e = 0.5 * d**2                     if |d| < delta
            delta * (|d| - 0.5 * delta)    otherwise
        de/do = clip(d, -delta, delta)

    The two pieces meet at ``|d| = delta`` with the same value and slope, so the
    loss is smooth; residuals beyond ``delta`` pull with a constant strength
    ``delta``, as in the absolute error. ``delta > 0``.
    """

    def __init__(self, delta: float = 1.0, task: str = "regression") -> None:
        super().__init__(task)
        self.delta = check_positive_float(delta, "delta")

    def _pointwise(self, outputs, targets):
        d = outputs - targets
        a = np.abs(d)
        delta = self.delta
        values = np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
        return values, np.clip(d, -delta, delta)

    def get_config(self) -> dict:
        return {"delta": self.delta, **super().get_config()}


class PoissonLoss(_ElementwiseLoss):
    """Poisson loss with a log link, as ``torch.nn.PoissonNLLLoss(log_input=True, full=False)``
    and scikit-learn's ``MLPRegressor(loss="poisson")`` (its half Poisson deviance).

    For counts (or rates) ``y >= 0``, the network outputs the *log* of the predicted mean,
    ``z = log(mu)``, so that ``mu = exp(z)`` is positive whatever the weights. The loss is the
    negative log-likelihood of ``y ~ Poisson(mu)`` without its terms free of ``z`` (``log(y!)``;
    scikit-learn's half deviance adds ``y log y - y`` instead, so that a perfect fit scores 0;
    neither changes the gradient). For outputs ``z (N, C)`` and targets ``y (N, C)``::

        e = exp(z) - y * z                de/dz = exp(z) - y
        L = mean(exp(z) - y * z)          dL/dz = (exp(z) - y) / (N * C)

    The gradient is prediction minus target once more, as for softmax with cross-entropy: the
    log is the Poisson's canonical link. A network trained with it predicts ``exp(z)``
    (``inverse_link``), and its targets are never standardised (``standardise_target``):
    centring counts would make some negative, and outputs that are log-means are not
    standardised by standardising the target. Targets must be ``>= 0`` (``check_targets``).

    Overflow: ``exp(z)`` is infinite above ``z = log(max)`` (709.8 in float64, 88.7 in float32).
    ``forward`` then returns ``inf`` (without NumPy's warning): the loss is not representable and
    the trainer stops with ``TrainingDiverged``. ``inverse_link`` clips ``z`` there first, so a
    prediction is at most the dtype's largest number, never ``inf``.
    """

    task = "regression"
    link = "log"

    def check_targets(self, y, name, *, n_samples, n_outputs, x_name, dtype):
        """Numbers ``(N,)`` or ``(N, n_outputs)`` (``Task.check_targets``), none of them negative."""
        y = super().check_targets(
            y, name, n_samples=n_samples, n_outputs=n_outputs, x_name=x_name, dtype=dtype
        )
        negative = y[y < 0]
        if negative.size:
            raise ValueError(
                f"{name} must be >= 0 for the poisson loss (counts or rates), got {float(negative[0])!r} "
                f"({negative.size} negative values)"
            )
        return y

    def inverse_link(self, outputs):
        """``exp(outputs)``, the predicted means, with the outputs clipped where ``exp`` would overflow."""
        dtype = outputs.dtype
        largest = np.nextafter(dtype.type(np.log(np.finfo(dtype).max)), dtype.type(0))
        return np.exp(np.minimum(outputs, largest))

    def _pointwise(self, outputs, targets):
        with np.errstate(over="ignore"):  # exp(z) = inf: the loss is inf, which the trainer reports
            mean = np.exp(outputs)
        return mean - targets * outputs, mean - targets


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Binary cross-entropy on logits, as ``torch.nn.BCEWithLogitsLoss()``.

    For multilabel targets: each of the ``k`` outputs is an independent yes/no,
    with logits ``z (N, k)`` and targets ``y (N, k)`` of 0/1 (or probabilities).
    With ``p = sigmoid(z)``, the loss of one element is ``-y log p - (1 - y)
    log(1 - p)``; in terms of ``z``, since ``log p = -log(1 + e^-z)`` and
    ``log(1 - p) = -z - log(1 + e^-z)``::

        e = max(z, 0) - z * y + log(1 + exp(-|z|))
        de/dz = sigmoid(z) - y

    The form on the right is log-sum-exp made stable: ``exp`` only ever sees
    ``-|z| <= 0``, so nothing overflows and ``log`` never sees 0, whatever the
    logits. The gradient is the same simplification as softmax with
    cross-entropy: prediction minus target.
    """

    task = "multilabel"

    def _pointwise(self, outputs, targets):
        e = np.exp(-np.abs(outputs))
        values = np.maximum(outputs, 0) - outputs * targets + np.log1p(e)
        # sigmoid(z) from the same e: 1 / (1 + e) for z >= 0, e / (1 + e) below
        probs = np.where(outputs >= 0, 1.0, e) / (1.0 + e)
        return values, probs - targets


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused: takes raw outputs (logits).

    For logits ``z (N, C)`` and a target distribution ``q (N, C)`` per row::

        p = softmax(z)
        l_i = -sum_c q_ic * log p_ic = sum_c q_ic * (logsumexp(z_i) - z_ic)
        L = mean_i l_i                 (or sum_i w_i l_i / sum_i w_i with sample_weight)

    Targets are integer labels ``(N,)`` (``q`` is then one-hot) or one-hot /
    probability rows ``(N, C)``. With ``label_smoothing = eps`` in [0, 1], the
    target is mixed with the uniform distribution: ``q = (1 - eps) * q + eps / C``,
    exactly as ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``.

    The gradient is the famous simplification. With ``s_i = sum_c q_ic`` (1 for
    proper targets), ``dl_i/dz_ic = s_i * p_ic - q_ic`` since
    ``d logsumexp(z_i) / dz_ic = p_ic``; averaging over the batch divides by N::

        dL/dz = (p - q) / N        (for rows of q that sum to 1)

    (row ``i`` scaled by ``w_i / sum(w)`` instead of ``1 / N`` with weights).
    No division by ``p`` ever happens, which is why the fused form is both
    cheaper and stable where ``log(softmax(z))`` computed separately is not.

    Sequences: logits ``(N, T, C)`` with integer targets ``(N, T)`` (or target
    rows ``(N, T, C)``) are ``N * T`` rows of tokens, and ``L`` is the mean over
    every token, as ``torch.nn.functional.cross_entropy``. ``sample_weight (N,)``
    then weights every token of a sequence. ``ignore_index`` (integer targets
    only): tokens whose target is that value count for nothing, neither in the
    sum nor in the count, so ``L`` is the mean over the tokens that count and
    their gradient is 0, as torch's ``ignore_index`` (a padded position's target
    is marked so). It is the weighted mean with weight 1 for a token that counts
    and 0 for one that does not; a batch with no token that counts has loss 0.
    """

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int | None = None) -> None:
        self.label_smoothing = check_float_in_range(
            label_smoothing, "label_smoothing", 0.0, 1.0, high_inclusive=True
        )
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise TypeError(f"ignore_index must be an integer or None, got {ignore_index!r}")
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self._shape: tuple | None = None  # the (N, T, C) shape of sequence logits, for backward
        self._probs: np.ndarray | None = None
        self._targets: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._arange = np.arange(0)

    def _rows(self, n: int) -> np.ndarray:
        """``np.arange(n)``, the row index of every label, kept from batch to batch."""
        rows = self._arange
        if rows.shape[0] != n:
            if rows.shape[0] < n:
                self._arange = rows = np.arange(n)
            rows = rows[:n]
        return rows

    def _as_rows(self, outputs: np.ndarray, targets: np.ndarray, sample_weight):
        """Sequences as rows of tokens, ``ignore_index`` as weights of 0/1: ``(outputs, targets, weights)``.

        ``(N, T, C)`` logits become ``(N*T, C)``, targets ``(N, T)`` become
        ``(N*T,)`` (``(N, T, C)`` rows become ``(N*T, C)``) and a sequence's
        weight is repeated for each of its tokens. With ``ignore_index``, the
        ignored targets are replaced by class 0 with weight 0.
        """
        if outputs.ndim == 3:
            n, t, c = self._shape = outputs.shape
            outputs = outputs.reshape(n * t, c)
            targets = targets.reshape(n * t, *targets.shape[2:])
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight, dtype=np.float64)
                if sample_weight.shape != (n,):
                    raise ValueError(
                        f"sample_weight must have shape ({n},), one weight per sequence, got shape "
                        f"{sample_weight.shape}"
                    )
                sample_weight = np.repeat(sample_weight, t)
        if self.ignore_index is not None:
            if targets.ndim != 1:
                raise ValueError(
                    "ignore_index applies to integer class targets, not to rows of probabilities"
                )
            keep = targets != self.ignore_index
            targets = np.where(keep, targets, 0)
            sample_weight = keep * (1.0 if sample_weight is None else np.asarray(sample_weight, np.float64))
        return outputs, targets, sample_weight

    def forward(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> float:
        self._shape = None
        if outputs.ndim == 3 or self.ignore_index is not None:
            outputs, targets, sample_weight = self._as_rows(outputs, targets, sample_weight)
        n, c = outputs.shape
        # np.maximum.reduce and np.add.reduce are .max() and .sum() without their Python
        # wrappers, which cost as much as the work itself on a small batch
        shifted = outputs - np.maximum.reduce(outputs, axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = np.add.reduce(exp, axis=1, keepdims=True)
        log_sums = np.log(sums)  # log-sum-exp of the shifted row
        eps = self.label_smoothing
        w = None if sample_weight is None else _row_weights(sample_weight, n, outputs.dtype)
        if w is not None:  # the per-row losses l_i, weighted
            if targets.ndim == 1:
                per_row = log_sums[:, 0] - shifted[self._rows(n), targets]
                if eps:
                    per_row = (1.0 - eps) * per_row + eps * (log_sums[:, 0] - shifted.mean(axis=1))
            else:
                q = targets if not eps else targets * (1.0 - eps) + eps / c
                per_row = np.sum(q * (log_sums - shifted), axis=1)
            loss = float(per_row @ w[:, 0])
        elif targets.ndim == 1:
            # -log p_iy = log_sums_i - shifted_iy; sums as Python floats (cheaper than NumPy scalars)
            total_log_sums = float(np.add.reduce(log_sums, axis=None))
            nll = total_log_sums - float(np.add.reduce(shifted[self._rows(n), targets]))
            if eps:
                # uniform part: mean over classes of -log p_ic
                smooth = c * total_log_sums - float(shifted.sum())
                loss = ((1.0 - eps) * nll + eps * smooth / c) / n
            else:
                loss = nll / n
        else:
            q = targets if not eps else targets * (1.0 - eps) + eps / c
            loss = float(np.sum(q * (log_sums - shifted))) / n
        exp /= sums  # exp now holds p = softmax(outputs); reused by backward
        self._probs, self._targets, self._weights = exp, targets, w
        return float(loss)

    def backward(self) -> np.ndarray:
        p, targets, w = self._probs, self._targets, self._weights
        n, c = p.shape
        eps = self.label_smoothing
        if w is not None:  # row i scaled by w_i / sum(w) instead of 1 / N
            if targets.ndim == 1:
                grad = p - eps / c if eps else p.copy()
                grad[self._rows(n), targets] -= 1.0 - eps
            else:
                q = targets if not eps else targets * (1.0 - eps) + eps / c
                grad = p * q.sum(axis=1, keepdims=True) - q
            grad *= w
        elif targets.ndim == 1:
            grad = p * (1.0 / n) if not eps else p * (1.0 / n) - eps / (c * n)
            grad[self._rows(n), targets] -= (1.0 - eps) / n
        else:
            q = targets if not eps else targets * (1.0 - eps) + eps / c
            grad = (p * q.sum(axis=1, keepdims=True) - q) / n
        # sequences: the rows of tokens back to (N, T, C)
        return grad if self._shape is None else grad.reshape(self._shape)

    def get_config(self) -> dict:
        config = {"label_smoothing": self.label_smoothing}
        if self.ignore_index is not None:
            config["ignore_index"] = self.ignore_index
        return config


# The names the settings, the command line and the estimators use.
LOSSES = {
    "cross-entropy": SoftmaxCrossEntropy,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "huber": HuberLoss,
    "poisson": PoissonLoss,
    "bce": BCEWithLogitsLoss,
}


def loss_from_config(kind: str, config: dict) -> Loss:
    """Build a loss from its class name and ``get_config()`` dict (used when loading)."""
    by_class = {cls.__name__: cls for cls in LOSSES.values()}
    if kind not in by_class:
        raise ValueError(f"unknown loss type {kind!r}; expected one of {sorted(by_class)}")
    return by_class[kind](**config)


def make_loss(name: str, task: str | None = None, label_smoothing: float = 0.0) -> Loss:
    """The loss ``LOSSES[name]``, with ``label_smoothing`` (cross-entropy only) and ``task`` if it differs."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    cls = LOSSES[name]
    kwargs = {}
    if label_smoothing:
        if cls is not SoftmaxCrossEntropy:
            raise ValueError(f"label_smoothing needs loss='cross-entropy', got loss={name!r}")
        kwargs["label_smoothing"] = label_smoothing
    if task is not None and task != cls.task:
        try:
            return cls(**kwargs, task=task)
        except (TypeError, ValueError):
            raise ValueError(
                f"loss={name!r} fits {cls.task} targets, it cannot be used for task={task!r}"
            ) from None
    return cls(**kwargs)
