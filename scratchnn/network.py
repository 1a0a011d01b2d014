"""The network: a stack of layers and a loss, tied together.

Forward pass: each layer's output is the next layer's input, and the last
output goes to the loss. Backward pass: the loss's gradient goes through the
layers in reverse order, each turning ``dL/d(its output)`` into
``dL/d(its input)`` and filling its own parameter gradients on the way.
"""

from __future__ import annotations

import numpy as np

from .layers import ACTIVATIONS, Layer, Sequential
from .losses import Loss, softmax
from .metrics import accuracy
from .validation import check_features, check_labels, check_sequence_lengths, check_sequences

__all__ = [
    "ACTIVATIONS",
    "EVAL_BYTES_LIMIT",
    "NETWORK_BYTES_LIMIT",
    "NeuralNetwork",
    "check_network_size",
]

#: Largest activation (bytes, one layer's output for a chunk of rows) an evaluation builds at once.
EVAL_BYTES_LIMIT = 64 * 2**20

NETWORK_BYTES_LIMIT = 512 * 2**20
"""The largest network scratchnn builds or loads: 512 MiB for its weights and buffers plus the
largest activation (one layer's output) of one batch, at the network's dtype.

Computed from the architecture and the input shape before anything is allocated, and used
everywhere a network's size comes from outside: a ``--layers`` spec, ``--hidden``, a tuning
grid's values, the estimators' ``layers`` and ``hidden_units`` (batch: the training batch size)
and the layer configuration of a model file (batch: one row, the least an evaluation needs).
No single number in a layer's configuration (a width, a kernel, a stride, a padding) may
exceed the number of float32 values this allows either.
"""


def check_network_size(steps, *, batch_size: int = 1, itemsize: int = 4) -> None:
    """Refuse (``ValueError`` naming the layer) a network past ``NETWORK_BYTES_LIMIT``.

    ``steps``: ``(label, n_values, activation_sizes)`` per layer, in order: the label
    names the layer in the message (its token in a spec, its place and configuration
    in a model file), ``n_values`` counts its weights and buffers, ``activation_sizes``
    the values per sample of the arrays its forward pass makes. The first layer at which
    the weights so far plus the largest activation so far (times ``batch_size`` rows)
    pass the limit is named, with the sizes.
    """
    weights, largest = 0, 0
    for label, n_values, sizes in steps:
        weights += int(n_values)
        largest = max([largest, *(int(v) for v in sizes)])
        need = (weights + largest * batch_size) * itemsize
        if need > NETWORK_BYTES_LIMIT:
            activation = f" and a largest activation of {largest:,} values per row (x {batch_size} rows)"
            raise ValueError(
                f"{label} makes the network too large: {weights:,} weights{activation if largest else ''} "
                f"would take {need:,} bytes, more than the {NETWORK_BYTES_LIMIT:,} allowed "
                "(scratchnn.network.NETWORK_BYTES_LIMIT)"
            )


def check_size_value(value, label: str) -> None:
    """Refuse (``ValueError``) an integer anywhere in ``value`` (a config) too large to be a size."""
    limit = NETWORK_BYTES_LIMIT // 4
    if isinstance(value, dict):
        for key, item in value.items():
            check_size_value(item, f"{label} {key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_size_value(item, label)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > limit:
        raise ValueError(f"{label} {value!r} is too large: no size of a layer may exceed {limit:,}")


class NeuralNetwork:
    """A network: a model (a ``Layer``, usually a ``Sequential``) trained against ``loss``.

    ``NeuralNetwork(model, loss)`` takes a ``Layer`` or a list of layers; a list
    (or a single layer that is not a ``Sequential``) is wrapped in a
    ``Sequential``, so ``network.model`` is always one and ``network.layers`` is
    its top level. Consecutive layers are checked to fit when the network is
    built: each layer's ``output_shape`` is given the per-sample shape coming out
    of the layer before (a Dense layer's ``in_features`` must equal that width, a
    Conv2D's ``in_channels`` its channels).

    ``parameters()`` and ``gradients()`` are aligned lists over all layers, in
    layer order (containers in their children's order), ``W`` before ``b``; the
    arrays are the layers' own, so an optimizer updating them in place trains
    the network.
    """

    def __init__(self, model, loss: Loss) -> None:
        if isinstance(model, Sequential):
            self.model = model
        elif isinstance(model, Layer):
            self.model = Sequential([model])
        else:
            if isinstance(model, (str, bytes)) or not hasattr(model, "__iter__"):
                raise TypeError(f"model must be a Layer or a list of Layers, got {model!r}")
            self.model = Sequential(model)
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a Loss, got {loss!r}")
        probe = None
        try:
            self._output_shape = self.model.output_shape(None)  # ValueError naming the layer that doesn't fit
        except ValueError:
            probe = self.step_shape()  # a sequence network: check it on one step of the width it reads
            if probe is None:
                raise
            self._output_shape = self.model.output_shape(probe)
            if len(self._output_shape) == 2:  # one output per step
                self._output_shape = self._output_shape[1:]
        # per step for a sequence network whose steps a shape of None does not tell apart
        widest = max(self.model.activation_sizes(probe), default=1)
        self.layers = self.model.layers
        self.loss = loss
        self._params = self.model.params
        self._grads = self.model.grads
        #: rows evaluated at once: the largest activation of a chunk stays under EVAL_BYTES_LIMIT
        self.eval_rows = max(1, EVAL_BYTES_LIMIT // (widest * self.dtype.itemsize))
        self._chunked = False

    # -- shapes ------------------------------------------------------------
    def step_shape(self) -> tuple | None:
        """The per-sample shape of one step of the sequences this network reads (None: not one)."""
        if not self.model.takes_sequences:
            return None
        first = self.model.layers[0]
        if type(first).__name__ in ("Embedding", "GPT"):
            return (1,)
        for name in ("in_features", "input_size", "embed_dim", "dim", "normalized_shape"):
            if isinstance(getattr(first, name, None), int):
                return (1, getattr(first, name))
        return None

    @property
    def input_shape(self) -> tuple | None:
        """Per-sample input shape the network fixes (None if no layer fixes it).

        The first layer that fixes its input shape decides, provided only
        layers that keep any shape (activations, Dropout) come before it.
        """
        return self.model.input_shape

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
    def forward(
        self, x: np.ndarray, training: bool = False, *, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """Outputs ``(N, n_outputs)`` for inputs ``x (N, n_features)`` (or any per-sample shape).

        ``training=True`` switches on training-only behaviour (Dropout, BatchNorm's
        batch statistics) and is what the trainer uses; the default is evaluation.
        Evaluating more rows than ``eval_rows`` runs them in chunks, so that no
        layer's activations pass ``EVAL_BYTES_LIMIT`` (a convolution's feature maps
        for a whole test set would); the outputs are the same.

        ``lengths (N,)``: the valid length of each padded sequence of ``x`` (``None``:
        all full length), handed to the layers through ``model.set_lengths``.
        """
        n = x.shape[0]
        if training or n <= self.eval_rows:
            self._chunked = False
            return self._forward(x, training, lengths)
        self._chunked = True  # the layers hold only the last chunk: no backward from this
        step = self.eval_rows
        return np.concatenate(
            [
                self._forward(x[i : i + step], False, None if lengths is None else lengths[i : i + step])
                for i in range(0, n, step)
            ]
        )

    def _forward(self, x: np.ndarray, training: bool, lengths: np.ndarray | None) -> np.ndarray:
        self.model.set_lengths(lengths)
        return self.model.forward(x, training)

    @property
    def task(self) -> str:
        """What the network predicts, as its loss says (``loss.task``).

        "classification" (``SoftmaxCrossEntropy``, or a value loss declared with
        ``task="classification"``): a class per row; "multilabel"
        (``BCEWithLogitsLoss``): k yes/no columns; "regression" (``MeanSquaredError``,
        ``HuberLoss``, ``MeanAbsoluteError``, ``PoissonLoss``): k numbers per row.
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
        # Nothing uses dL/dx of the data: the model stops at its first layer with parameters.
        self.model.backward(self.loss.backward(), input_grad=False)

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
        return self.model.buffers

    # -- using a trained network ---------------------------------------------
    def _check_x(self, x, lengths=None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(x, lengths)`` checked: rows ``(N, F)``, or for a network that reads sequences a padded
        batch ``(N, T, F)`` (token ids ``(N, T)`` if it starts with an embedding) and its lengths."""
        if not self.model.takes_sequences:
            if lengths is not None:
                raise ValueError("lengths are for networks that read sequences; this one reads rows")
            return check_features(x, "x", dtype=self.dtype, n_features=self.n_features), None
        first = self.layers[0]
        if type(first).__name__ in ("Embedding", "GPT"):  # token ids: the embedding checks their range
            ids = np.asarray(x)
            if ids.ndim != 2:
                raise ValueError(f"x must be token ids (n_samples, n_steps), got shape {ids.shape}")
            return ids, check_sequence_lengths(lengths, *ids.shape)
        width = next(
            (
                getattr(first, k)
                for k in ("in_features", "input_size", "embed_dim", "dim")
                if hasattr(first, k)
            ),
            None,
        )
        return check_sequences(x, "x", dtype=self.dtype, lengths=lengths, n_features=width)

    def predict_proba(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities ``(N, n_outputs)``: the softmax of the outputs.

        For a network trained with ``SoftmaxCrossEntropy`` these are the
        probabilities the loss was fitted to; for other losses they are a
        normalised score. ``lengths (N,)``: the real lengths of padded sequences.
        """
        x, lengths = self._check_x(x, lengths)
        return softmax(self.forward(x, training=False, lengths=lengths))

    def predict(self, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """What the network predicts for ``x``, by its ``task``.

        classification: class labels ``(N,)``, the index of the largest output;
        multilabel: ``(N, k)`` of 0/1, 1 where the logit is positive (probability > 0.5);
        regression: the outputs ``(N, k)`` themselves (in the units the network was trained on),
        or ``exp`` of them for a log link (``PoissonLoss``: the outputs are log-means).
        ``lengths (N,)``: the real lengths of padded sequences ``x (N, T, F)``.
        """
        x, lengths = self._check_x(x, lengths)
        return self.loss.predict(self.forward(x, training=False, lengths=lengths))

    def accuracy(self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None = None) -> float:
        """Fraction of rows (or of sequences, given their ``lengths``) of ``x`` predicted as ``y``."""
        x, lengths = self._check_x(x, lengths)
        y = check_labels(y, "y", n_samples=x.shape[0], n_classes=self.n_outputs)
        if y.ndim == 2:
            y = np.argmax(y, axis=1)
        return accuracy(y, np.argmax(self.forward(x, training=False, lengths=lengths), axis=1))

    # -- architecture ------------------------------------------------------------
    def get_config(self) -> dict:
        """Architecture as JSON-ready data: layer types and constructor arguments, and the loss."""
        return {
            **self.model.get_config(),  # {"layers": [{"type", "config"}, ...]}, nested for containers
            "loss": {"type": type(self.loss).__name__, "config": self.loss.get_config()},
        }

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"NeuralNetwork([\n    {inner},\n], loss={self.loss!r})"
