"""The Layer protocol every layer follows, and the small checks layers share.

Every layer maps a batch ``x`` (first axis: the ``N`` samples) to an output and,
in ``backward``, maps the gradient of the loss with respect to that output
(``grad_out``, same shape as the output) to the gradient with respect to its
input (``grad_in``, same shape as ``x``). This is the chain rule, one link at a
time: ``dL/dx = dL/dy * dy/dx``.

A layer with parameters lists them in ``params`` and, after ``backward``, their
gradients in ``grads``: ``grads[i]`` is ``dL/dparams[i]`` and has its shape.
The two lists are aligned, and the gradient arrays are allocated once and
**overwritten** in place by every backward pass (not accumulated: no
``zero_grad`` is needed between batches), so an optimizer can hold on to them.
A weight used twice (a tied embedding and output head) is wired by the
container that owns both, which adds one gradient into the other after the
backward passes, as llm.c does. ``backward`` never modifies the ``grad_out``
array it is given: the caller may still need it (a ``Residual`` passes the same
gradient to its block and to its skip path). ``buffers`` lists arrays that are
part of the model but not trained (BatchNorm's running statistics): saved with
the model, never updated by an optimizer.

Each array has a name, ``param_names`` then ``buffer_names`` (Dense: ``"W"``,
``"b"``); containers (``scratchnn.layers.containers``) prefix their children's
names with their position, so every array of a network has a dotted path
(``"3.block.1.running_mean"``), the name it has in a model file.

Shapes are per sample: ``output_shape(in_shape)`` maps the shape of one sample
(``(features,)`` for rows, ``(T, features)`` for sequences, ``(C, H, W)`` for
images) to the shape of one output sample, so a network can check when it is
built that consecutive layers fit.

Sequences of different lengths come as a padded batch and ``lengths (N,)``;
``set_lengths`` hands them to the layers that care (the others ignore them).
"""

from __future__ import annotations

import math

import numpy as np

from .._configurable import Configurable

__all__ = ["LAYERS", "Layer", "check_dtype", "layer_class"]


def check_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy dtype, or ``TypeError`` unless it is float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Layer(Configurable):
    """Base class: a differentiable function of a batch.

    Subclasses implement ``forward(x, training)`` and ``backward(grad_out)``;
    those with parameters, shapes or constructor arguments also override
    ``output_shape``, ``input_shape``, ``get_config`` and ``array_shapes``, and
    name their arrays in ``param_names`` and ``buffer_names``.
    ``params``, ``grads`` and ``buffers`` are empty for layers without them.

    ``backward`` overwrites ``grads`` (it does not add to them) and must not
    modify the ``grad_out`` array it is given.
    ``get_config`` (the constructor arguments, JSON-ready, used when saving) and
    the ``repr`` made from it come from ``Configurable``.

    ``weight_init`` is the weight initialisation an activation wants in the
    layer that feeds it ("he" for ReLU-like, "xavier" for sigmoid, tanh and
    the identity); ``None`` for layers that are not activations.
    """

    weight_init: str | None = None
    #: names of ``params`` then ``buffers``, in order (the layer's attribute names: Dense's "W", "b")
    param_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()
    #: True for a layer that reads sequences ``(N, T, ...)`` of any length T (recurrent layers,
    #: attention, embeddings, sequence pooling): it fixes no ``input_shape``, yet the layers
    #: after it do not decide the network's input either.
    takes_sequences: bool = False

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.buffers: list[np.ndarray] = []

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Compute the output for a batch ``x`` and cache what backward needs.

        ``training`` matters only to layers that behave differently while
        training (Dropout, BatchNorm); the others ignore it. The default is
        evaluation, as for the network.
        """
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Given ``dL/d(output)``, fill ``self.grads`` and return ``dL/d(input)``.

        ``input_grad=False`` lets the network skip the input gradient of its
        first layer, which nothing uses (for Dense it is a whole matmul); the
        method then returns ``None``.
        """
        raise NotImplementedError

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        """Per-sample output shape for a per-sample input shape (``None``: unknown).

        Raises ``ValueError`` naming the layer when the input does not fit.
        Element-wise layers keep the shape.
        """
        return in_shape

    @property
    def input_shape(self) -> tuple | None:
        """The per-sample input shape this layer fixes, or ``None`` if it takes any."""
        return None

    def set_lengths(self, lengths: np.ndarray | None) -> None:
        """Keep the valid lengths ``(N,)`` of the next batches' sequences (``None``: all full).

        A no-op here: only layers that read sequences of different lengths
        (recurrent layers, attention, sequence pooling) override it; containers
        pass it on to their children.
        """

    def activation_sizes(self, in_shape: tuple | None) -> list[int]:
        """Values per sample of the arrays one forward pass builds (default: the output).

        Used to bound the memory of one batch before a network is built.
        """
        shape = self.output_shape(in_shape)
        return [] if shape is None else [math.prod(shape)]

    def named_arrays(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` for ``params`` then ``buffers``; containers give dotted paths."""
        names = self.param_names + self.buffer_names
        arrays = self.params + self.buffers
        if len(names) != len(arrays):
            raise TypeError(
                f"{type(self).__name__} has {len(arrays)} params and buffers but names "
                f"{len(names)} (param_names, buffer_names)"
            )
        return list(zip(names, arrays))

    def check_state(self) -> None:
        """Raise ``ValueError`` if the arrays hold what training never makes (checked on load).

        Nothing to check here; BatchNorm refuses a negative running variance.
        """

    @classmethod
    def child_specs(cls, config: dict) -> list:
        """The ``{"type", "config"}`` of the layers a container's ``config`` holds ([] for a leaf)."""
        return []

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """The layer ``get_config()`` describes (containers build their children too)."""
        if not isinstance(config, dict):
            raise TypeError(f"the config of a {cls.__name__} layer must be a dict, got {config!r}")
        return cls(**config)

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        """Shapes of ``params`` then ``buffers`` of a layer built from ``config``.

        Computed from the numbers in ``config`` alone, without allocating
        anything, so a model file can be checked before it is built.
        """
        return []

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        """``(name, shape, is_buffer)`` of every array of a layer built from ``config``, unbuilt.

        The names are those of ``named_arrays``; the shapes come from
        ``array_shapes``, so nothing is allocated.
        """
        shapes = [tuple(s) for s in cls.array_shapes(config)]
        names = cls.param_names + cls.buffer_names
        if len(names) != len(shapes):
            raise TypeError(f"{cls.__name__} declares {len(shapes)} arrays but names {len(names)}")
        n_params = len(cls.param_names)
        return [(name, shape, i >= n_params) for i, (name, shape) in enumerate(zip(names, shapes))]


#: Class name -> layer class: the layers a model file may name. Filled at the foot of
#: ``scratchnn/layers/__init__.py``; declared here so that containers can read it.
LAYERS: dict[str, type[Layer]] = {}


def layer_class(kind: str) -> type[Layer]:
    """The layer class called ``kind`` in ``LAYERS``, or ``ValueError`` naming the choices."""
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; expected one of {sorted(LAYERS)}")
    return LAYERS[kind]
