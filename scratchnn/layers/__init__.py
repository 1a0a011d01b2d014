"""Layers: the pieces a network is stacked from, each with a forward and a backward pass.

The modules, in the order they are taught:

* ``base``: the Layer protocol (``params``/``grads``/``buffers``, ``forward``,
  ``backward``, ``output_shape``, ``input_shape``, ``get_config``,
  ``array_shapes``);
* ``dense``: the fully connected layer;
* ``activations``: ReLU, LeakyReLU, Sigmoid, Tanh, Identity, GELU (and ``erf``), and ``ACTIVATIONS``;
* ``dropout``: Dropout;
* ``conv``: Conv2D (im2col), and the channels-last convention of image layers;
* ``pooling``: MaxPool2D, AvgPool2D, GlobalAvgPool2D;
* ``normalization``: BatchNorm1d, BatchNorm2d;
* ``shape``: Flatten, Reshape;
* ``containers``: Sequential and Residual, layers made of layers;
* ``embedding``: Embedding, PositionalEmbedding (integer ids and positions to vectors);
* ``layernorm``: LayerNorm;
* ``attention``: MultiHeadAttention (self-attention, causal or not, over padded batches);
* ``recurrent``: what recurrent layers share (backpropagation through time,
  variable lengths), and RNN;
* ``gated_recurrent``: LSTM, GRU;
* ``sequence``: LastStep, MeanOverTime (a sequence pooled to a vector).
* ``gpt``: GPT, a character-level Transformer wired from the layers above (its head tied to its embedding).

``forward`` caches exactly what ``backward`` needs (Dense its input, ReLU its
mask, Sigmoid and Tanh their output, Dropout its mask) and nothing else.

The name table ``LAYERS`` (class name -> class), filled at the foot of this
file (declared in ``base``, so that containers can read it), is what model
files and ``layer_from_config`` use; adding a layer means writing its class in
one of the modules and listing it there.
"""

from __future__ import annotations

from .activations import ACTIVATIONS, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh, erf, sigmoid
from .attention import MultiHeadAttention
from .base import LAYERS, Layer, layer_class
from .containers import Residual, Sequential
from .conv import PATCH_BYTES_LIMIT, Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding, PositionalEmbedding
from .gated_recurrent import GRU, LSTM
from .gpt import GPT
from .layernorm import LayerNorm
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .recurrent import RNN
from .sequence import LastStep, MeanOverTime
from .shape import Flatten, Reshape

__all__ = [
    "ACTIVATIONS",
    "GELU",
    "GPT",
    "GRU",
    "LAYERS",
    "LSTM",
    "PATCH_BYTES_LIMIT",
    "RNN",
    "AvgPool2D",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2D",
    "Identity",
    "LastStep",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool2D",
    "MeanOverTime",
    "MultiHeadAttention",
    "PositionalEmbedding",
    "ReLU",
    "Reshape",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "erf",
    "layer_class",
    "layer_from_config",
    "sigmoid",
]


def layer_from_config(kind: str, config: dict) -> Layer:
    """Build a layer from its class name and ``get_config()`` dict (used when loading)."""
    return layer_class(kind).from_config(config)


LAYERS.update(
    (cls.__name__, cls)
    for cls in (
        Dense,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Identity,
        Dropout,
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        GlobalAvgPool2D,
        BatchNorm1d,
        BatchNorm2d,
        Flatten,
        Reshape,
        Embedding,
        PositionalEmbedding,
        LayerNorm,
        GELU,
        MultiHeadAttention,
        Sequential,
        Residual,
        RNN,
        LSTM,
        GRU,
        LastStep,
        MeanOverTime,
        GPT,
    )
)
