"""Layers: the pieces a network is stacked from, each with a forward and a backward pass.

The modules, in the order they are taught:

* ``base``: the Layer protocol (``params``/``grads``/``buffers``, ``forward``,
  ``backward``, ``output_shape``, ``input_shape``, ``get_config``,
  ``array_shapes``);
* ``dense``: the fully connected layer;
* ``activations``: ReLU, LeakyReLU, Sigmoid, Tanh, Identity, and ``ACTIVATIONS``;
* ``dropout``: Dropout.

``forward`` caches exactly what ``backward`` needs (Dense its input, ReLU its
mask, Sigmoid and Tanh their output, Dropout its mask) and nothing else.

The name table ``LAYERS`` (class name -> class) at the foot of this file is
what model files and ``layer_from_config`` use; adding a layer means writing
its class in one of the modules and listing it there.
"""

from __future__ import annotations

from .activations import ACTIVATIONS, Identity, LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer
from .dense import Dense
from .dropout import Dropout

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "Dense",
    "Dropout",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "layer_class",
    "layer_from_config",
    "sigmoid",
]


def layer_class(kind: str) -> type[Layer]:
    """The layer class called ``kind`` in ``LAYERS``, or ``ValueError`` naming the choices."""
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; expected one of {sorted(LAYERS)}")
    return LAYERS[kind]


def layer_from_config(kind: str, config: dict) -> Layer:
    """Build a layer from its class name and ``get_config()`` dict (used when loading)."""
    cls = layer_class(kind)
    if not isinstance(config, dict):
        raise TypeError(f"the config of a {kind} layer must be a dict, got {config!r}")
    return cls(**config)


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Identity, Dropout)
}
