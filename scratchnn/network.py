"""The network: a stack of layers and a loss, tied together.

Forward pass: each layer's output is the next layer's input, and the last
output goes to the loss. Backward pass: the loss's gradient goes through the
layers in reverse order, each turning ``dL/d(its output)`` into
``dL/d(its input)`` and filling its own parameter gradients on the way.
"""

from __future__ import annotations

import math

import numpy as np

from .layers import ACTIVATIONS, Dense, Dropout, Layer
from .losses import LOSSES, TASKS, Loss, SoftmaxCrossEntropy, softmax
from .metrics import accuracy
from .validation import check_features, check_labels, check_positive_int, check_random_state

__all__ = ["ACTIVATIONS", "EVAL_BYTES_LIMIT", "NeuralNetwork", "build_mlp"]

#: Largest activation (bytes, one layer's output for a chunk of rows) an evaluation builds at once.
EVAL_BYTES_LIMIT = 64 * 2**20


class NeuralNetwork:
    """A feed-forward network: ``layers`` applied in order, trained against ``loss``.

    Consecutive layers are checked to fit when the network is built: each
    layer's ``output_shape`` is given the per-sample shape coming out of the
    layer before (a Dense layer's ``in_features`` must equal that width, a
    Conv2D's ``in_channels`` its channels).

    ``parameters()`` and ``gradients()`` are aligned lists over all layers, in
    layer order, ``W`` before ``b``; the arrays are the layers' own, so an
    optimizer updating them in place trains the network.
    """

    def __init__(self, layers: list[Layer], loss: Loss) -> None:
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one layer, got []")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {layer!r}")
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a Loss, got {loss!r}")
        shape, widest = None, 1
        for i, layer in enumerate(layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
            if shape is not None:
                widest = max(widest, math.prod(shape))
        self._output_shape = shape
        self.layers = layers
        self.loss = loss
        self._params = [p for layer in layers for p in layer.params]
        self._grads = [g for layer in layers for g in layer.grads]
        #: rows evaluated at once: the largest activation of a chunk stays under EVAL_BYTES_LIMIT
        self.eval_rows = max(1, EVAL_BYTES_LIMIT // (widest * self.dtype.itemsize))
        self._chunked = False

    # -- shapes ------------------------------------------------------------
    @property
    def input_shape(self) -> tuple | None:
        """Per-sample input shape the network fixes (None if no layer fixes it).

        The first layer that fixes its input shape decides, provided only
        layers that keep any shape (activations, Dropout) come before it.
        """
        for layer in self.layers:
            if layer.input_shape is not None:
                return tuple(layer.input_shape)
            if layer.output_shape(None) is not None:
                return None  # this layer changes the shape without fixing its input
        return None

    @property
    def n_features(self) -> int | None:
        """Width of an input row: the product of ``input_shape`` (None if unknown)."""
        shape = self.input_shape
        return None if shape is None else int(np.prod(shape))

    @property
    def n_outputs(self) -> int | None:
        """Width of the network's output (None if no layer fixes it, or if it is not rows)."""
        shape = self._output_shape
        return shape[0] if shape is not None and len(shape) == 1 else None

    @property
    def dtype(self) -> np.dtype:
        """Floating-point type of the parameters (float32 unless asked otherwise)."""
        return self._params[0].dtype if self._params else np.dtype(np.float32)

    # -- the passes ----------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Outputs ``(N, n_outputs)`` for inputs ``x (N, n_features)``.

        ``training=True`` switches on training-only behaviour (Dropout, BatchNorm's
        batch statistics) and is what the trainer uses; the default is evaluation.
        Evaluating more rows than ``eval_rows`` runs them in chunks, so that no
        layer's activations pass ``EVAL_BYTES_LIMIT`` (a convolution's feature maps
        for a whole test set would); the outputs are the same.
        """
        n = x.shape[0]
        if training or n <= self.eval_rows:
            self._chunked = False
            return self._forward(x, training)
        self._chunked = True  # the layers hold only the last chunk: no backward from this
        step = self.eval_rows
        return np.concatenate([self._forward(x[i : i + step], False) for i in range(0, n, step)])

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    @property
    def task(self) -> str:
        """What the network predicts, as its loss says (``loss.task``).

        "classification" (``SoftmaxCrossEntropy``, or a value loss declared with
        ``task="classification"``): a class per row; "multilabel"
        (``BCEWithLogitsLoss``): k yes/no columns; "regression" (``MeanSquaredError``,
        ``HuberLoss``, ``MeanAbsoluteError``): k numbers per row.
        """
        return self.loss.task

    def compute_loss(self, outputs: np.ndarray, targets: np.ndarray, sample_weight=None) -> float:
        """The loss (a float) of ``outputs`` against ``targets``: the mean over the batch,
        or with ``sample_weight (N,)`` the weighted mean ``sum_i w_i l_i / sum_i w_i``."""
        if sample_weight is None:  # a custom loss may not take sample_weight
            return self.loss.forward(outputs, targets)
        return self.loss.forward(outputs, targets, sample_weight)

    def backward(self) -> None:
        """Backpropagate from the last computed loss, filling every layer's ``grads``."""
        if self._chunked:
            raise RuntimeError(
                f"backward needs a forward pass of at most eval_rows={self.eval_rows} rows "
                "(or training=True); the last one was evaluated in chunks"
            )
        grad = self.loss.backward()
        # Below the first layer with parameters (a Reshape in front of a CNN, say) input
        # gradients lead only to dL/dx of the data, which nothing uses: stop there.
        first = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i in range(len(self.layers) - 1, first - 1, -1):
            grad = self.layers[i].backward(grad, input_grad=i > first)

    def parameters(self) -> list[np.ndarray]:
        """All parameter arrays, layer by layer (``W`` before ``b``)."""
        return self._params

    def gradients(self) -> list[np.ndarray]:
        """Gradient arrays aligned with ``parameters()``, filled by ``backward``."""
        return self._grads

    def buffers(self) -> list[np.ndarray]:
        """Arrays that belong to the model but are not trained (BatchNorm's running statistics).

        Layer by layer, in each layer's ``buffers`` order; saved with the model.
        """
        return [b for layer in self.layers for b in layer.buffers]

    # -- using a trained network ---------------------------------------------
    def _check_x(self, x) -> np.ndarray:
        return check_features(x, "x", dtype=self.dtype, n_features=self.n_features)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, n_outputs)``: the softmax of the outputs.

        For a network trained with ``SoftmaxCrossEntropy`` these are the
        probabilities the loss was fitted to; for other losses they are a
        normalised score.
        """
        return softmax(self.forward(self._check_x(x), training=False))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """What the network predicts for ``x``, by its ``task``.

        classification: class labels ``(N,)``, the index of the largest output;
        multilabel: ``(N, k)`` of 0/1, 1 where the logit is positive (probability > 0.5);
        regression: the outputs ``(N, k)`` themselves (in the units the network was trained on).
        """
        return self.loss.predict(self.forward(self._check_x(x), training=False))

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of rows of ``x`` whose predicted label equals ``y``."""
        x = self._check_x(x)
        y = check_labels(y, "y", n_samples=x.shape[0], n_classes=self.n_outputs)
        if y.ndim == 2:
            y = np.argmax(y, axis=1)
        return accuracy(y, np.argmax(self.forward(x, training=False), axis=1))

    # -- architecture ------------------------------------------------------------
    def get_config(self) -> dict:
        """Architecture as JSON-ready data: layer types and constructor arguments, and the loss."""
        return {
            "layers": [{"type": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
            "loss": {"type": type(self.loss).__name__, "config": self.loss.get_config()},
        }

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([\n    {inner},\n], loss={self.loss!r})"


def build_mlp(
    n_features: int,
    hidden_units=(50,),
    n_outputs: int = 10,
    *,
    activation: str = "relu",
    loss: str = "cross-entropy",
    output_activation: str | None = None,
    task: str | None = None,
    dropout: float = 0.0,
    label_smoothing: float = 0.0,
    seed=None,
    dtype=np.float32,
) -> NeuralNetwork:
    """A multi-layer perceptron: ``[Dense, activation, (Dropout)] * len(hidden_units) + [Dense]``.

    ``hidden_units`` is an int or a sequence of ints (one per hidden layer).
    Each Dense layer is initialised as the activation after it asks
    (``ACTIVATIONS[activation].weight_init``: he for ReLU-like, xavier for sigmoid,
    tanh and the identity).

    ``loss`` names an entry of ``scratchnn.losses.LOSSES``. The output layer is
    linear (``output_activation`` None or "identity"): it emits raw scores, which
    the classification losses turn into probabilities themselves (softmax for
    "cross-entropy", a sigmoid per column for "bce"), and which are the predicted
    numbers for the regression losses ("mse", "huber", "mae"). Another
    ``output_activation`` (an ``ACTIVATIONS`` name) is applied after the last
    Dense layer, e.g. "sigmoid" for targets in (0, 1).
    ``task`` overrides the loss's own task where it has a choice: ``loss="mse",
    task="classification"`` fits one-hot codes of class labels (the seed's option).
    """
    rng = check_random_state(seed)
    n_features = check_positive_int(n_features, "n_features")
    n_outputs = check_positive_int(n_outputs, "n_outputs")
    if isinstance(hidden_units, (int, np.integer)):
        hidden_units = (int(hidden_units),)
    if isinstance(hidden_units, (str, bytes)) or not hasattr(hidden_units, "__iter__"):
        raise TypeError(f"hidden_units must be an int or a sequence of ints, got {hidden_units!r}")
    hidden_units = tuple(check_positive_int(u, "hidden_units") for u in hidden_units)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if output_activation is not None and output_activation not in ACTIVATIONS:
        raise ValueError(
            f"output_activation must be None or one of {sorted(ACTIVATIONS)}, got {output_activation!r}"
        )
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be None or one of {list(TASKS)}, got {task!r}")
    loss_obj = _make_loss(loss, task, label_smoothing)
    init = ACTIVATIONS[activation].weight_init
    layers: list[Layer] = []
    width = n_features
    for units in hidden_units:
        layers.append(Dense(width, units, init=init, seed=rng, dtype=dtype))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(Dropout(dropout, seed=rng))
        width = units
    if output_activation in (None, "identity"):
        layers.append(Dense(width, n_outputs, init=init, seed=rng, dtype=dtype))
    else:
        out_act = ACTIVATIONS[output_activation]
        layers.append(Dense(width, n_outputs, init=out_act.weight_init, seed=rng, dtype=dtype))
        layers.append(out_act())
    return NeuralNetwork(layers, loss_obj)


def _make_loss(name: str, task: str | None, label_smoothing: float) -> Loss:
    """The loss ``LOSSES[name]``, with ``label_smoothing`` (cross-entropy only) and ``task`` if it differs."""
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
