r"""Architecture as data: a network written as one line of text, and the network built from it.

``parse_layers("conv32k3p1-bn-relu-maxpool2-gap-dense")`` reads the text into a
list of ``LayerSpec`` (what each layer is, without the sizes that depend on its
input); ``build_network(spec, input_shape, n_outputs)`` builds the layers in
order, each sized by the per-sample shape coming out of the one before, and
returns the ``NeuralNetwork``. The same text is the ``layers`` training setting,
``--layers`` on the command line, a value of a tuning grid and the estimators'
``layers`` parameter; a model file stores the built layers themselves.

Grammar
-------
A spec is layers joined by ``-``; each layer is a keyword followed, with no
space, by its numbers. ``N``, ``C``, ``K``, ``S``, ``P`` are positive integers
(``P`` may be 0); ``K``, ``S`` and ``P`` may be a pair ``HxW`` (e.g. ``k3x5``);
``R`` and ``A`` are decimal numbers such as ``0.25``. Brackets mark optional parts::

    spec      := layer ("-" layer)*
    dense[N]                          Dense with N outputs; N may be left out in the
                                      last layer only: the number of classes/outputs
    conv<C>[k<K>][s<S>][p<P>|same|valid]
                                      Conv2D, C output channels, kernel K (default 3),
                                      stride S (1), zero padding P (0), or "same"
                                      (stride 1: output as large as the input)
    maxpool[K][s<S>]                  MaxPool2D, window K (default 2), stride S (K)
    avgpool[K][s<S>]                  AvgPool2D, likewise
    gap                               GlobalAvgPool2D: (C, H, W) -> (C,)
    bn                                BatchNorm2d after images, BatchNorm1d after rows
    relu | sigmoid | tanh | identity  the activations
    lrelu[A]                          LeakyReLU with negative slope A (default 0.01)
    drop<R>                           Dropout with rate R, e.g. drop0.25
    flatten                           Flatten: (C, H, W) -> (C*H*W,)
    reshape<C>x<H>x<W>                Reshape rows to images, e.g. reshape1x8x8

Keywords are case-insensitive; spaces around ``-`` are ignored. ``-`` separates
layers because ``,`` and ``;`` already separate the values and the settings of
a tuning grid (``--grid "layers=conv16-relu-gap-dense,conv32-relu-gap-dense"``).
Every layer of ``scratchnn.layers.LAYERS`` has a keyword.

What ``build_network`` fills in, so that the text says only what a reader must decide:

* each layer's input size (``in_features``, ``in_channels``, ``num_features``)
  from the shape the layer before outputs;
* a ``Reshape`` in front when the first layer needs images (a convolution or a
  pooling) and the rows are flat: ``input_shape`` ``(C, H, W)`` says how (the
  command line's ``--image-shape``, or the data set's own shape, such as
  Digits' 1x8x8), unless the spec starts with ``reshape`` itself;
* a ``Flatten`` before a ``dense`` that follows images;
* the width of a final bare ``dense``: ``n_outputs``;
* each Dense and Conv2D layer's initialisation: the one the next activation
  asks for (``weight_init``: "he" for ReLU-like, "xavier" for sigmoid, tanh and
  the identity), else the previous activation's (as ``build_mlp`` does for its
  output layer), else "he".

A spec that cannot be read, or a layer that does not fit its input, raises
``ValueError`` naming the token that is wrong and its position.

Examples: ``dense128-relu-dense64-relu-dense`` is ``hidden_units=(128, 64)``;
the Digits CNN of ``examples/digits_cnn.py`` is
``conv32p1-bn-relu-conv64p1-bn-relu-maxpool2-conv128p1-bn-relu-gap-dense``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..losses import LOSSES, Loss, SoftmaxCrossEntropy
from ..network import NeuralNetwork
from ..validation import check_random_state
from . import LAYERS
from .activations import LeakyReLU
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2D, MaxPool2D
from .shape import Flatten, Reshape

__all__ = ["KEYWORDS", "LayerSpec", "build_network", "format_layers", "parse_layers"]

_INT = r"(\d+)"
_PAIR = r"(\d+(?:x\d+)?)"
_NUM = r"(\d*\.?\d+)"


@dataclass(frozen=True)
class _Keyword:
    """One keyword of the grammar: the regular expression of its token and how to read its groups."""

    pattern: str
    form: str  # the grammar line, shown when a token does not match
    example: str
    read: object  # groups -> args dict
    layer: str  # the LAYERS name it builds ("BatchNorm" picks 1d or 2d from the input)


def _pair(text: str | None, default):
    if text is None:
        return default
    h, _, w = text.partition("x")
    return (int(h), int(w or h))


def _conv_args(groups) -> dict:
    channels, kernel, stride, pad, word = groups
    return {
        "out_channels": int(channels),
        "kernel_size": _pair(kernel, (3, 3)),
        "stride": _pair(stride, (1, 1)),
        "padding": word if word else _pair(pad, (0, 0)),
    }


def _pool_args(groups) -> dict:
    kernel, stride = groups
    k = _pair(kernel, (2, 2))
    return {"kernel_size": k, "stride": _pair(stride, k)}


def _no_args(groups) -> dict:
    return {}


KEYWORDS: dict[str, _Keyword] = {
    "dense": _Keyword(r"dense" + _INT + "?", "dense[N]", "dense128",
                      lambda g: {"out_features": None if g[0] is None else int(g[0])}, "Dense"),
    "conv": _Keyword("conv" + _INT + "(?:k" + _PAIR + ")?(?:s" + _PAIR + ")?(?:p" + _PAIR + "|(same|valid))?",
                     "conv<C>[k<K>][s<S>][p<P>|same|valid]", "conv32k3p1", _conv_args, "Conv2D"),
    "maxpool": _Keyword(r"maxpool" + _PAIR + "?(?:s" + _PAIR + ")?", "maxpool[K][s<S>]", "maxpool2",
                        _pool_args, "MaxPool2D"),
    "avgpool": _Keyword(r"avgpool" + _PAIR + "?(?:s" + _PAIR + ")?", "avgpool[K][s<S>]", "avgpool2",
                        _pool_args, "AvgPool2D"),
    "gap": _Keyword("gap", "gap", "gap", _no_args, "GlobalAvgPool2D"),
    "bn": _Keyword("bn", "bn", "bn", _no_args, "BatchNorm"),
    "relu": _Keyword("relu", "relu", "relu", _no_args, "ReLU"),
    "sigmoid": _Keyword("sigmoid", "sigmoid", "sigmoid", _no_args, "Sigmoid"),
    "tanh": _Keyword("tanh", "tanh", "tanh", _no_args, "Tanh"),
    "identity": _Keyword("identity", "identity", "identity", _no_args, "Identity"),
    "lrelu": _Keyword("lrelu" + _NUM + "?", "lrelu[A]", "lrelu0.1",
                      lambda g: {} if g[0] is None else {"negative_slope": float(g[0])}, "LeakyReLU"),
    "drop": _Keyword("drop(?:out)?" + _NUM, "drop<R>", "drop0.25", lambda g: {"rate": float(g[0])},
                     "Dropout"),
    "flatten": _Keyword("flatten", "flatten", "flatten", _no_args, "Flatten"),
    "reshape": _Keyword("reshape" + _INT + r"((?:x\d+)*)", "reshape<C>x<H>x<W>", "reshape1x8x8",
                        lambda g: {"shape": (int(g[0]), *(int(d) for d in g[1].split("x")[1:]))}, "Reshape"),
}  # fmt: skip
# Longest keyword first, so that a token is matched by the keyword it starts with.
_BY_PREFIX = sorted(KEYWORDS, key=len, reverse=True)
_IMAGE_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a spec: its keyword, what the text says about it, and the text itself.

    ``args`` holds the constructor arguments the token gives (``out_channels``,
    ``kernel_size``...); the sizes that depend on the input are left to
    ``build_network``. ``str(spec)`` is the canonical token.
    """

    keyword: str
    args: dict = field(default_factory=dict)
    token: str = ""

    @property
    def layer(self) -> str:
        """The name in ``LAYERS`` this spec builds ("BatchNorm" for ``bn``: 1d or 2d by its input)."""
        return KEYWORDS[self.keyword].layer

    def __str__(self) -> str:
        return _format(self)


def _token_error(text: str, index: int, token: str, why: str) -> ValueError:
    return ValueError(f"layers: token {index + 1} {token!r} of {text!r} {why}")


def parse_layers(text: str) -> list[LayerSpec]:
    """Read a spec (see the module docstring) into a list of ``LayerSpec``, one per token.

    Raises ``TypeError`` if ``text`` is not a string, ``ValueError`` naming the
    first token that is not a layer, or whose numbers are not allowed.
    """
    if not isinstance(text, str):
        raise TypeError(f"layers must be a spec string such as 'dense64-relu-dense', got {text!r}")
    if not text.strip():
        raise ValueError(f"layers must name at least one layer, got {text!r}")
    specs = []
    for i, raw in enumerate(text.split("-")):
        token = raw.strip().lower()
        if not token:
            raise _token_error(text, i, raw, "is empty: layers are joined by single '-'")
        keyword = next((k for k in _BY_PREFIX if token.startswith(k)), None)
        if keyword is None:
            known = ", ".join(KEYWORDS)
            raise _token_error(text, i, raw.strip(), f"is not a layer; layers start with one of: {known}")
        kw = KEYWORDS[keyword]
        match = re.fullmatch(kw.pattern, token)
        if match is None:
            raise _token_error(text, i, raw.strip(), f"must look like {kw.form}, e.g. {kw.example}")
        spec = LayerSpec(keyword, kw.read(match.groups()), raw.strip())
        try:
            _check_args(spec)
        except (ValueError, TypeError) as exc:
            raise _token_error(text, i, raw.strip(), f"is not allowed: {exc}") from None
        specs.append(spec)
    for i, spec in enumerate(specs[:-1]):
        if spec.keyword == "dense" and spec.args["out_features"] is None:
            raise _token_error(
                text, i, spec.token, "needs its width (e.g. dense64): only the last dense may leave it out"
            )
    return specs


def _check_args(spec: LayerSpec) -> None:
    """Build the layer once on a dummy input size: its own checks refuse bad numbers (conv0, drop1.5)."""
    a = spec.args
    if spec.keyword == "conv":
        Conv2D(1, a["out_channels"], a["kernel_size"], stride=a["stride"], padding=a["padding"])
    elif spec.keyword in ("maxpool", "avgpool"):
        LAYERS[spec.layer](a["kernel_size"], a["stride"])
    elif spec.keyword == "dense" and a["out_features"] is not None:
        Dense(1, a["out_features"])
    elif spec.keyword in ("lrelu", "drop", "reshape"):
        LAYERS[spec.layer](**a)


def _format(spec: LayerSpec) -> str:
    """The canonical token of a spec: kernel sizes always, other defaults left out, ``HxW`` if not square."""
    a, k = spec.args, spec.keyword

    def pair(p) -> str:
        return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"

    if k == "dense":
        return "dense" + ("" if a["out_features"] is None else str(a["out_features"]))
    if k == "conv":
        text = f"conv{a['out_channels']}k{pair(a['kernel_size'])}"
        text += "" if a["stride"] == (1, 1) else "s" + pair(a["stride"])
        pad = a["padding"]
        return text + (pad if isinstance(pad, str) else "" if pad == (0, 0) else "p" + pair(pad))
    if k in ("maxpool", "avgpool"):
        text = k + pair(a["kernel_size"])
        return text + ("" if a["stride"] == a["kernel_size"] else "s" + pair(a["stride"]))
    if k == "lrelu":
        return "lrelu" + (f"{a['negative_slope']:g}" if "negative_slope" in a else "")
    if k == "drop":
        return f"drop{a['rate']:g}"
    if k == "reshape":
        return "reshape" + "x".join(map(str, a["shape"]))
    return k


def format_layers(specs) -> str:
    """The canonical text of a spec (a list of ``LayerSpec`` or a text): ``parse_layers`` reads it back."""
    if isinstance(specs, str):
        specs = parse_layers(specs)
    return "-".join(_format(s) for s in specs)


# -- building ---------------------------------------------------------------------------


def _init_for(specs: list[LayerSpec], i: int) -> str:
    """The initialisation the layer at ``i`` wants: the next activation's, else the previous one's."""
    for j in range(i + 1, len(specs)):
        if specs[j].keyword in ("dense", "conv"):
            break
        init = _activation_init(specs[j])
        if init:
            return init
    for j in range(i - 1, -1, -1):
        init = _activation_init(specs[j])
        if init:
            return init
    return "he"


def _activation_init(spec: LayerSpec) -> str | None:
    cls = LAYERS.get(spec.layer)
    return getattr(cls, "weight_init", None) if cls is not None else None


def _make(spec: LayerSpec, shape: tuple, init: str, n_outputs: int, rng, dtype) -> Layer:
    """The layer of ``spec`` for per-sample inputs of ``shape``."""
    a, k = spec.args, spec.keyword
    if k == "dense":
        width = n_outputs if a["out_features"] is None else a["out_features"]
        return Dense(shape[0], width, init=init, seed=rng, dtype=dtype)
    if k == "conv":
        if len(shape) != 3:
            raise ValueError(f"needs images (C, H, W), but its input is {_shape_text(shape)}")
        return Conv2D(shape[0], a["out_channels"], a["kernel_size"], stride=a["stride"],
                      padding=a["padding"], init=init, seed=rng, dtype=dtype)  # fmt: skip
    if k == "bn":
        return BatchNorm2d(shape[0], dtype=dtype) if len(shape) == 3 else BatchNorm1d(shape[0], dtype=dtype)
    if k == "maxpool":
        return MaxPool2D(a["kernel_size"], a["stride"])
    if k == "avgpool":
        return AvgPool2D(a["kernel_size"], a["stride"])
    if k == "drop":
        return Dropout(a["rate"], seed=rng)
    if k == "lrelu":
        return LeakyReLU(**a)
    if k == "reshape":
        return Reshape(a["shape"])
    return LAYERS[spec.layer]()  # the layers without arguments: activations, gap, flatten


def _shape_text(shape: tuple) -> str:
    return f"rows of {shape[0]} values" if len(shape) == 1 else "images " + "x".join(map(str, shape))


def _loss(loss, label_smoothing: float) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be a Loss or one of {sorted(LOSSES)}, got {loss!r}")
    if loss == "cross-entropy":
        return SoftmaxCrossEntropy(label_smoothing)
    if label_smoothing:
        raise ValueError(f"label_smoothing needs loss='cross-entropy', got loss={loss!r}")
    return LOSSES[loss]()


def _input_shape(input_shape) -> tuple:
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be n_features (an int) or a shape (C, H, W), got {input_shape!r}")
    shape = tuple(input_shape)
    if len(shape) not in (1, 3) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(f"input_shape must be n_features or (C, H, W) of positive ints, got {input_shape!r}")
    return tuple(int(d) for d in shape)


def build_network(
    spec,
    input_shape,
    n_outputs: int,
    *,
    loss="cross-entropy",
    label_smoothing: float = 0.0,
    seed=None,
    dtype=np.float32,
) -> NeuralNetwork:
    """The ``NeuralNetwork`` a spec describes, for rows of ``input_shape`` and ``n_outputs`` outputs.

    Parameters
    ----------
    spec
        Text (see the module docstring) or the list ``parse_layers`` returns.
    input_shape
        ``n_features`` (an int: each sample is a row of that many values) or
        ``(C, H, W)``: each row holds an image of that shape, channel by
        channel, row by row. The network always takes rows ``(N, C*H*W)``; a
        ``Reshape`` is put in front when the first layer needs images.
    n_outputs
        Width of the output: the number of classes (or of regression targets).
        A bare last ``dense`` takes it; any other last layer must output it.
    loss
        A ``Loss``, or its name in ``scratchnn.losses.LOSSES``.
    label_smoothing
        For ``loss="cross-entropy"``, as ``build_mlp``.
    seed
        int, None or ``np.random.Generator``: the initial weights and dropout masks,
        drawn layer by layer in spec order.
    dtype
        float32 or float64, of every parameter.
    """
    text = spec if isinstance(spec, str) else format_layers(spec)
    specs = parse_layers(spec) if isinstance(spec, str) else list(spec)
    shape = _input_shape(input_shape)
    if not isinstance(n_outputs, (int, np.integer)) or isinstance(n_outputs, bool) or n_outputs < 1:
        raise ValueError(f"n_outputs must be a positive integer, got {n_outputs!r}")
    rng = check_random_state(seed)
    dtype = np.dtype(dtype)
    layers: list[Layer] = []
    if specs[0].layer in _IMAGE_LAYERS or (specs[0].keyword == "bn" and len(shape) == 3):
        if len(shape) != 3:
            why = (
                f"needs images, but the input is {_shape_text(shape)}: give the image shape (C, H, W) "
                "(--image-shape CxHxW on the command line) or start with reshape<C>x<H>x<W>"
            )
            raise _token_error(text, 0, specs[0].token, why)
        layers.append(Reshape(shape))
    shape = (int(np.prod(shape)),)  # rows enter the network
    if layers:
        shape = layers[0].output_shape(shape)
    for i, s in enumerate(specs):
        try:
            if s.keyword == "dense" and len(shape) != 1:
                layers.append(Flatten())
                shape = layers[-1].output_shape(shape)
            layer = _make(s, shape, _init_for(specs, i), int(n_outputs), rng, dtype)
            shape = layer.output_shape(shape)
        except ValueError as exc:
            raise _token_error(text, i, s.token, f"does not fit: {exc}") from None
        layers.append(layer)
    if shape != (n_outputs,):
        raise _token_error(
            text, len(specs) - 1, specs[-1].token,
            f"is the last layer and outputs {_shape_text(shape)}, but the network needs {n_outputs} outputs "
            "(end with a bare 'dense' to get them)",
        )  # fmt: skip
    return NeuralNetwork(layers, _loss(loss, label_smoothing))
