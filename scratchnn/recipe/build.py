"""The one network builder: a spec (``scratchnn.recipe.spec``) and an input shape in, a ``NeuralNetwork`` out.

``build_network(spec, input_shape, n_outputs)`` builds the layers in order, each sized
by the per-sample shape coming out of the one before (see ``scratchnn.recipe.spec``
for what it fills in), sizing each layer's weights and activations against
``scratchnn.network.NETWORK_BYTES_LIMIT`` before allocating them. ``build_mlp`` is
the ``hidden_units`` shorthand: it writes the MLP's spec (``mlp_spec``) and builds
it here, so every network of scratchnn comes out of the same builder.
"""

from __future__ import annotations

import numpy as np

from ..layers import ACTIVATIONS, LAYERS, Layer, Sequential
from ..layers.shape import Flatten, Reshape
from ..losses import LOSSES, TASKS, Loss, make_loss
from ..network import NeuralNetwork, check_network_size
from ..validation import check_float_in_range, check_positive_int, check_random_state
from .spec import (
    _IMAGE_LAYERS,
    KEYWORDS,
    BuildContext,
    LayerSpec,
    _shape_text,
    _token_error,
    format_layers,
    parse_layers,
)

__all__ = ["build_mlp", "build_network", "mlp_spec"]


def _activation_init(spec: LayerSpec) -> str | None:
    cls = LAYERS.get(spec.layer)
    return getattr(cls, "weight_init", None) if cls is not None else None


def _init_for(specs: list[LayerSpec], i: int) -> str:
    """The initialisation the layer at ``i`` wants: the next activation's, else the previous one's."""
    for j in range(i + 1, len(specs)):
        if specs[j].keyword in ("dense", "conv", "res"):
            break
        init = _activation_init(specs[j])
        if init:
            return init
    for j in range(i - 1, -1, -1):
        init = _activation_init(specs[j])
        if init:
            return init
    return "he"


def _build_block(specs: list[LayerSpec], shape: tuple, ctx: BuildContext) -> tuple[Sequential, tuple]:
    """The layers of ``specs`` for per-sample inputs of ``shape``, and the shape they output."""
    layers: list[Layer] = []
    for i, s in enumerate(specs):
        if s.keyword == "dense" and len(shape) == 3:
            layers.append(Flatten())  # images into a dense layer: flattened first
            shape = layers[-1].output_shape(shape)
        label = f"token {s.position} {s.token!r} of {ctx.text!r}"
        ctx.label, ctx.init = label, _init_for(specs, i)
        layer = KEYWORDS[s.keyword].build(s.args, shape, ctx)
        ctx.label = label  # a res(...) built its children under their own labels
        sizes = layer.activation_sizes(shape)  # ValueError if it does not fit its input
        # a res(...)'s children are counted already
        n_values = 0 if s.keyword == "res" else sum(a.size for a in layer.params + layer.buffers)
        ctx.steps.append((label, n_values, sizes))
        check_network_size(ctx.steps, batch_size=ctx.batch_size, itemsize=ctx.dtype.itemsize)
        shape = layer.output_shape(shape)
        layers.append(layer)
    return Sequential(layers), shape


def _loss(loss, label_smoothing: float, task: str | None) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be a Loss or one of {sorted(LOSSES)}, got {loss!r}")
    return make_loss(loss, task, label_smoothing)


def _input_shape(input_shape) -> tuple:
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(
            f"input_shape must be n_features (an int) or a shape (T, F) or (C, H, W), got {input_shape!r}"
        )
    shape = tuple(input_shape)
    if len(shape) not in (1, 2, 3) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"input_shape must be n_features, (T, F) or (C, H, W) of positive ints, got {input_shape!r}"
        )
    return tuple(int(d) for d in shape)


def build_network(
    spec,
    input_shape,
    n_outputs: int,
    *,
    loss="cross-entropy",
    label_smoothing: float = 0.0,
    task: str | None = None,
    seed=None,
    dtype=np.float32,
    batch_size: int = 1,
) -> NeuralNetwork:
    """The ``NeuralNetwork`` a spec describes, for rows of ``input_shape`` and ``n_outputs`` outputs.

    Parameters
    ----------
    spec
        Text (see the module docstring) or the list ``parse_layers`` returns.
    input_shape
        ``n_features`` (an int: each sample is a row of that many values) or
        ``(C, H, W)``: each row holds an image of that shape, channel by
        channel, row by row. The network then takes rows ``(N, C*H*W)``; a
        ``Reshape`` is put in front when the first layer needs images.
        ``(T, F)``: each sample is a sequence of T steps of F values, and the
        network takes ``(N, T, F)``; a spec starting with ``embed`` reads
        ``(T,)`` (or ``T``): T token ids per sample, ``(N, T)``. T is the longest
        sequence, which the size bound counts; shorter ones are padded and
        their lengths passed to ``NeuralNetwork.forward(..., lengths=...)``.
    n_outputs
        Width of the output: the number of classes (or of regression targets).
        A bare last ``dense`` takes it; any other last layer must output it.
    loss
        A ``Loss``, or its name in ``scratchnn.losses.LOSSES``.
    label_smoothing, task
        As ``scratchnn.losses.make_loss``: label smoothing for ``loss="cross-entropy"``;
        ``task`` overrides the loss's own task where it has a choice (``"mse"`` on class labels).
    seed
        int, None or ``np.random.Generator``: the initial weights and dropout masks,
        drawn layer by layer in spec order.
    dtype
        float32 or float64, of every parameter.
    batch_size
        Rows per training batch: with the weights, the largest activation of one
        batch must fit ``scratchnn.network.NETWORK_BYTES_LIMIT``; each layer is
        sized before it is allocated, and the first that passes the limit is named.
    """
    text = spec if isinstance(spec, str) else format_layers(spec)
    specs = parse_layers(spec) if isinstance(spec, str) else list(spec)
    shape = _input_shape(input_shape)
    ctx = _context(text, n_outputs, seed, dtype, batch_size)
    front, shape, sequences = _front(specs, shape, text)
    body, shape = _build_body(specs, shape, ctx)
    if shape != (n_outputs,) and not (sequences and shape[-1:] == (n_outputs,)):  # or one output per step
        last = specs[-1]
        raise _token_error(
            text, last.position, last.token,
            f"is the last layer and outputs {_shape_text(shape)}, but the network needs {n_outputs} outputs "
            "(end with a bare 'dense' to get them)",
        )  # fmt: skip
    return NeuralNetwork(front + body.layers, _loss(loss, label_smoothing, task))


def _context(text: str, n_outputs, seed, dtype, batch_size) -> BuildContext:
    """What every keyword's builder shares: the output width, one Generator, the dtype, the batch size."""
    if not isinstance(n_outputs, (int, np.integer)) or isinstance(n_outputs, bool) or n_outputs < 1:
        raise ValueError(f"n_outputs must be a positive integer, got {n_outputs!r}")
    ctx = BuildContext(
        int(n_outputs),
        check_random_state(seed),
        np.dtype(dtype),
        check_positive_int(batch_size, "batch_size"),
    )
    ctx.text = text
    ctx.block = lambda block_specs, block_shape: _build_block(block_specs, block_shape, ctx)[0]
    return ctx


def _front(specs: list, shape: tuple, text: str) -> tuple[list[Layer], tuple, bool]:
    """``(layers put in front, the shape the spec's first layer sees, sequences?)``.

    Rows of images get a ``Reshape`` when the first layer needs images; a
    ``(T, F)`` input or a spec starting with ``embed`` reads sequences; any other
    input enters as rows of ``prod(shape)`` values.
    """
    front: list[Layer] = []
    if specs[0].layer in _IMAGE_LAYERS or (specs[0].keyword == "bn" and len(shape) == 3):
        if len(shape) != 3:
            why = (
                f"needs images, but the input is {_shape_text(shape)}: start the spec with "
                "reshape<C>x<H>x<W> (as an estimator's layers must), or give the image shape with "
                "--image-shape CxHxW on the command line"
            )
            raise _token_error(text, specs[0].position, specs[0].token, why)
        front.append(Reshape(shape))
    sequences = len(shape) == 2 or specs[0].keyword == "embed"  # (T, F) values or (T,) token ids
    if not sequences:
        shape = (int(np.prod(shape)),)  # rows enter the network
    if front:
        shape = front[0].output_shape(shape)
    return front, shape, sequences


def _build_body(specs: list, shape: tuple, ctx: BuildContext):
    """The spec's layers for an input of ``shape``; a layer that does not fit is named as ``layers: ...``."""
    try:
        return _build_block(specs, shape, ctx)
    except ValueError as exc:
        if str(exc).startswith("layers: "):
            raise
        if str(exc).startswith(ctx.label):  # the size bound names the token itself
            raise ValueError(f"layers: {exc}") from None
        raise ValueError(f"layers: {ctx.label} does not fit: {exc}") from None


_ACTIVATION_KEYWORDS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "leaky_relu": "lrelu",
                        "identity": "identity"}  # fmt: skip


def mlp_spec(hidden_units, *, activation: str = "relu", dropout: float = 0.0, output_activation=None):
    """The spec of a multi-layer perceptron, as ``LayerSpec`` objects (no text, so rates stay exact).

    ``dense<u>-<activation>[-drop<r>]`` per hidden layer, then a bare ``dense``
    (and ``output_activation`` if it is not None or "identity").
    """
    words = []
    for units in hidden_units:
        words += [("dense", {"out_features": units}), (_ACTIVATION_KEYWORDS[activation], {})]
        words += [("drop", {"rate": dropout})] if dropout else []
    words.append(("dense", {"out_features": None}))
    if output_activation not in (None, "identity"):
        words.append((_ACTIVATION_KEYWORDS[output_activation], {}))
    specs = []
    for position, (keyword, args) in enumerate(words, start=1):
        spec = LayerSpec(keyword, args, position=position)
        specs.append(LayerSpec(keyword, args, str(spec), position))
    return specs


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
    batch_size: int = 1,
) -> NeuralNetwork:
    """A multi-layer perceptron: ``[Dense, activation, (Dropout)] * len(hidden_units) + [Dense]``.

    The ``hidden_units`` shorthand of a spec: ``build_mlp(64, (128, 64), 10)`` is
    ``build_network("dense128-relu-dense64-relu-dense", 64, 10)`` (``mlp_spec``
    writes it), the same layers and, for the same seed, the same weights.
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
    ``batch_size``: as ``build_network``, the rows of one batch the size bound counts.
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
    if output_activation is not None and output_activation not in ACTIVATIONS:
        raise ValueError(
            f"output_activation must be None or one of {sorted(ACTIVATIONS)}, got {output_activation!r}"
        )
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be None or one of {list(TASKS)}, got {task!r}")
    if dropout:
        check_float_in_range(dropout, "rate", 0.0, 1.0)  # as Dropout itself checks it
    loss_obj = make_loss(loss, task, label_smoothing)
    spec = mlp_spec(hidden_units, activation=activation, dropout=dropout, output_activation=output_activation)
    return build_network(
        spec, n_features, n_outputs, loss=loss_obj, seed=rng, dtype=dtype, batch_size=batch_size
    )
