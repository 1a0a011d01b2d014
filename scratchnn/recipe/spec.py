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
space, by its numbers, or a residual block ``res(<spec>)`` around a spec of its own.
``N``, ``C``, ``K``, ``S``, ``P`` are positive integers
(``P`` may be 0); ``K``, ``S`` and ``P`` may be a pair ``HxW`` (e.g. ``k3x5``);
``R`` and ``A`` are decimal numbers such as ``0.25``. Brackets mark optional parts::

    spec      := layer ("-" layer)*
    res(<spec>)                       Residual(Sequential(spec)): y = x + spec(x); the block
                                      must keep its input's shape, e.g.
                                      res(dense64-relu-dense64), res(conv32k3p1-bn-relu)
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
    embed<V>x<D>                      Embedding of V token ids into D values: (T,) ids -> (T, D)
    pos<L>                            PositionalEmbedding of at most L steps, width from its input
    ln                                LayerNorm over the last axis of its input
    gelu | gelut                      GELU, exact | its tanh approximation
    mha<H>[c]                         MultiHeadAttention with H heads (c: causal), width from its input
    rnn<H> | lstm<H> | gru<H>         RNN, LSTM, GRU with hidden size H, every step out: (T, F) -> (T, H)
    last | mean                       LastStep, MeanOverTime: (T, F) -> (F,) over each sequence's real steps

Keywords are case-insensitive; spaces around ``-`` are ignored. ``-`` separates
layers because ``,`` and ``;`` already separate the values and the settings of
a tuning grid (``--grid "layers=conv16-relu-gap-dense,conv32-relu-gap-dense"``).
Every layer of ``scratchnn.layers.LAYERS`` has a keyword (``Sequential`` is the
body of a ``res(...)``), but ``GPT``: the language-model presets build it.
Each keyword is one ``Keyword`` entry of ``KEYWORDS``: its
pattern, how it reads its numbers, how it formats them back and how it builds
its layer for an input shape; adding a layer is its class in ``scratchnn.layers``
and one entry here.

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
``ValueError`` naming the token that is wrong and its position (tokens are
counted in the text's order, a ``res(`` counting as one). So does a network
past ``scratchnn.network.NETWORK_BYTES_LIMIT``: each layer's weights are sized
from its numbers before they are allocated.

``build_mlp`` (the ``hidden_units`` shorthand) writes its spec and builds it
here: one builder for every network.

Sequences: an input shape ``(T, F)`` is T steps of F values (``build_network`` keeps
it, rather than flattening it to rows), and a spec starting with ``embed`` reads
``(T,)`` token ids; the last layer may give one output per step
(``embed65x128-pos64-res(ln-mha4c)-res(ln-dense512-gelu-dense128)-ln-dense65``, a
character-level Transformer) or one per sequence (``lstm64-last-dense``).

Examples: ``dense128-relu-dense64-relu-dense`` is ``hidden_units=(128, 64)``;
the Digits CNN of ``examples/digits_cnn.py`` is
``conv32p1-bn-relu-conv64p1-bn-relu-maxpool2-conv128p1-bn-relu-gap-dense``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..layers import LAYERS, Layer, Residual
from ..layers.activations import GELU, LeakyReLU
from ..layers.attention import MultiHeadAttention
from ..layers.conv import Conv2D
from ..layers.dense import Dense
from ..layers.dropout import Dropout
from ..layers.embedding import Embedding, PositionalEmbedding
from ..layers.gated_recurrent import GRU, LSTM
from ..layers.layernorm import LayerNorm
from ..layers.normalization import BatchNorm1d, BatchNorm2d
from ..layers.pooling import AvgPool2D, MaxPool2D
from ..layers.recurrent import RNN
from ..layers.shape import Reshape
from ..network import check_network_size

__all__ = ["KEYWORDS", "BuildContext", "Keyword", "LayerSpec", "format_layers", "parse_layers"]

_INT = r"(\d+)"
_PAIR = r"(\d+(?:x\d+)?)"
_NUM = r"(\d*\.?\d+)"


# -- what building a layer needs ------------------------------------------------------------------


@dataclass
class BuildContext:
    """What every layer of one build shares: the sizes it fills in, the random stream, the size bound.

    ``block(specs, shape)`` builds a nested spec (a ``res(...)``'s body) with the same
    context: the builder (``scratchnn.recipe.build``) provides it.
    """

    n_outputs: int
    rng: np.random.Generator
    dtype: np.dtype
    batch_size: int = 1
    steps: list = field(default_factory=list)  # (label, n_values, activation sizes) so far
    label: str = ""  # the token being built, for the size bound's message
    init: str = "he"  # the initialisation the Dense or Conv2D being built wants
    block: Callable | None = None
    text: str = ""  # the whole spec, for messages

    def layer(self, cls: type[Layer], **kwargs) -> Layer:
        """``cls(**kwargs)``, after checking that its weights keep the network within the bound.

        The weights are sized from ``cls.array_shapes(kwargs)``, so a layer too large to
        allocate is refused before it is.
        """
        n_values = sum(int(np.prod(shape, dtype=object)) for shape in cls.array_shapes(kwargs))
        check_network_size([*self.steps, (self.label, n_values, [])], batch_size=self.batch_size,
                           itemsize=self.dtype.itemsize)  # fmt: skip
        return cls(**kwargs)


@dataclass(frozen=True)
class Keyword:
    """One keyword of the grammar: how its token reads, checks, formats and builds.

    ``pattern`` is the regular expression of the whole token; ``read`` turns its groups
    into the layer's arguments and ``format`` writes them back as the canonical token;
    ``build(args, shape, ctx)`` returns the layer for per-sample inputs of ``shape``,
    constructing it through ``ctx.layer`` (which sizes its weights first). A token is
    checked when it is read by building it once on a probe input of ``probe`` shape.
    """

    pattern: str
    form: str  # the grammar line, shown when a token does not match
    example: str
    layer: str  # the LAYERS name it builds ("BatchNorm" picks 1d or 2d from the input)
    build: Callable
    read: Callable = lambda groups: {}
    format: Callable | None = None  # args -> token; None: the keyword alone
    probe: tuple | Callable = (1,)  # or args -> shape, when the numbers decide what fits


def _pair(text: str | None, default):
    if text is None:
        return default
    h, _, w = text.partition("x")
    return (int(h), int(w or h))


def _pair_text(p) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def _shape_text(shape: tuple) -> str:
    if len(shape) == 2:
        return f"sequences of {shape[0]} steps of {shape[1]} values"
    return f"rows of {shape[0]} values" if len(shape) == 1 else "images " + "x".join(map(str, shape))


# dense -------------------------------------------------------------------------------------------
def _dense(a, shape, ctx: BuildContext) -> Layer:
    width = ctx.n_outputs if a["out_features"] is None else a["out_features"]
    return ctx.layer(Dense, in_features=shape[-1], out_features=width, init=ctx.init, seed=ctx.rng,
                     dtype=ctx.dtype)  # fmt: skip


# conv --------------------------------------------------------------------------------------------
def _conv_read(groups) -> dict:
    channels, kernel, stride, pad, word = groups
    return {
        "out_channels": int(channels),
        "kernel_size": _pair(kernel, (3, 3)),
        "stride": _pair(stride, (1, 1)),
        "padding": word if word else _pair(pad, (0, 0)),
    }


def _conv_format(a) -> str:
    text = f"conv{a['out_channels']}k{_pair_text(a['kernel_size'])}"
    text += "" if a["stride"] == (1, 1) else "s" + _pair_text(a["stride"])
    pad = a["padding"]
    return text + (pad if isinstance(pad, str) else "" if pad == (0, 0) else "p" + _pair_text(pad))


def _conv(a, shape, ctx: BuildContext) -> Layer:
    if len(shape) != 3:
        raise ValueError(f"needs images (C, H, W), but its input is {_shape_text(shape)}")
    sizes = {"kernel_size": a["kernel_size"], "stride": a["stride"], "padding": a["padding"]}
    return ctx.layer(Conv2D, in_channels=shape[0], out_channels=a["out_channels"], **sizes, init=ctx.init,
                     seed=ctx.rng, dtype=ctx.dtype)  # fmt: skip


# pooling -----------------------------------------------------------------------------------------
def _pool_read(groups) -> dict:
    kernel, stride = groups
    k = _pair(kernel, (2, 2))
    return {"kernel_size": k, "stride": _pair(stride, k)}


def _pool_format(name: str):
    def fmt(a) -> str:
        return name + _pair_text(a["kernel_size"]) + (
            "" if a["stride"] == a["kernel_size"] else "s" + _pair_text(a["stride"]))  # fmt: skip

    return fmt


def _pool(cls):
    return lambda a, shape, ctx: ctx.layer(cls, kernel_size=a["kernel_size"], stride=a["stride"])


# the rest ----------------------------------------------------------------------------------------
def _bn(a, shape, ctx: BuildContext) -> Layer:
    if len(shape) == 3:
        return ctx.layer(BatchNorm2d, num_channels=shape[0], dtype=ctx.dtype)
    return ctx.layer(BatchNorm1d, num_features=shape[-1], dtype=ctx.dtype)


def _plain(name: str):
    """A layer without arguments (an activation, gap, flatten)."""
    return lambda a, shape, ctx: ctx.layer(LAYERS[name])


# sequences ---------------------------------------------------------------------------------------
def _needs_sequences(shape: tuple) -> None:
    if len(shape) != 2:
        raise ValueError(f"needs sequences (T, F), but its input is {_shape_text(shape)}")


def _embed(a, shape, ctx: BuildContext) -> Layer:
    if len(shape) != 1:
        raise ValueError(f"needs token ids (T,), but its input is {_shape_text(shape)}")
    return ctx.layer(Embedding, **a, seed=ctx.rng, dtype=ctx.dtype)


def _pos(a, shape, ctx: BuildContext) -> Layer:
    _needs_sequences(shape)
    return ctx.layer(PositionalEmbedding, max_length=a["max_length"], dim=shape[1], seed=ctx.rng,
                     dtype=ctx.dtype)  # fmt: skip


def _mha(a, shape, ctx: BuildContext) -> Layer:
    _needs_sequences(shape)
    return ctx.layer(MultiHeadAttention, embed_dim=shape[1], **a, seed=ctx.rng, dtype=ctx.dtype)


def _recurrent(cls):
    def build(a, shape, ctx: BuildContext) -> Layer:
        _needs_sequences(shape)
        return ctx.layer(cls, input_size=shape[1], hidden_size=a["hidden_size"], return_sequences=True,
                         seed=ctx.rng, dtype=ctx.dtype)  # fmt: skip

    return build


def _pool_steps(name: str):
    def build(a, shape, ctx: BuildContext) -> Layer:
        _needs_sequences(shape)
        return ctx.layer(LAYERS[name])

    return build


def _recurrent_entry(word: str, cls) -> Keyword:
    return Keyword(word + _INT, word + "<H>", word + "64", cls.__name__, _recurrent(cls),
                   read=lambda g: {"hidden_size": int(g[0])}, format=lambda a: f"{word}{a['hidden_size']}",
                   probe=(1, 1))  # fmt: skip


def _res(a, shape, ctx: BuildContext) -> Layer:
    return Residual(ctx.block(a["block"], shape))


KEYWORDS: dict[str, Keyword] = {
    "dense": Keyword(r"dense" + _INT + "?", "dense[N]", "dense128", "Dense", _dense,
                     read=lambda g: {"out_features": None if g[0] is None else int(g[0])},
                     format=lambda a: "dense" if a["out_features"] is None else f"dense{a['out_features']}"),
    "conv": Keyword("conv" + _INT + "(?:k" + _PAIR + ")?(?:s" + _PAIR + ")?(?:p" + _PAIR + "|(same|valid))?",
                    "conv<C>[k<K>][s<S>][p<P>|same|valid]", "conv32k3p1", "Conv2D", _conv,
                    read=_conv_read, format=_conv_format, probe=(1, 1, 1)),
    "maxpool": Keyword("maxpool" + _PAIR + "?(?:s" + _PAIR + ")?", "maxpool[K][s<S>]", "maxpool2",
                       "MaxPool2D",
                       _pool(MaxPool2D), read=_pool_read, format=_pool_format("maxpool"), probe=(1, 1, 1)),
    "avgpool": Keyword("avgpool" + _PAIR + "?(?:s" + _PAIR + ")?", "avgpool[K][s<S>]", "avgpool2",
                       "AvgPool2D",
                       _pool(AvgPool2D), read=_pool_read, format=_pool_format("avgpool"), probe=(1, 1, 1)),
    "gap": Keyword("gap", "gap", "gap", "GlobalAvgPool2D", _plain("GlobalAvgPool2D"), probe=(1, 1, 1)),
    "bn": Keyword("bn", "bn", "bn", "BatchNorm", _bn),
    "relu": Keyword("relu", "relu", "relu", "ReLU", _plain("ReLU")),
    "sigmoid": Keyword("sigmoid", "sigmoid", "sigmoid", "Sigmoid", _plain("Sigmoid")),
    "tanh": Keyword("tanh", "tanh", "tanh", "Tanh", _plain("Tanh")),
    "identity": Keyword("identity", "identity", "identity", "Identity", _plain("Identity")),
    "lrelu": Keyword("lrelu" + _NUM + "?", "lrelu[A]", "lrelu0.1", "LeakyReLU",
                     lambda a, shape, ctx: ctx.layer(LeakyReLU, **a),
                     read=lambda g: {} if g[0] is None else {"negative_slope": float(g[0])},
                     format=lambda a: f"lrelu{a['negative_slope']:g}" if "negative_slope" in a else "lrelu"),
    "drop": Keyword("drop(?:out)?" + _NUM, "drop<R>", "drop0.25", "Dropout",
                    lambda a, shape, ctx: ctx.layer(Dropout, rate=a["rate"], seed=ctx.rng),
                    read=lambda g: {"rate": float(g[0])}, format=lambda a: f"drop{a['rate']:g}"),
    "flatten": Keyword("flatten", "flatten", "flatten", "Flatten", _plain("Flatten")),
    "reshape": Keyword("reshape" + _INT + r"((?:x\d+)*)", "reshape<C>x<H>x<W>", "reshape1x8x8", "Reshape",
                       lambda a, shape, ctx: ctx.layer(Reshape, shape=a["shape"]),
                       read=lambda g: {"shape": (int(g[0]), *(int(d) for d in g[1].split("x")[1:]))},
                       format=lambda a: "reshape" + "x".join(map(str, a["shape"]))),
    "embed": Keyword("embed" + _INT + "x" + _INT, "embed<V>x<D>", "embed65x128", "Embedding", _embed,
                     read=lambda g: {"num_embeddings": int(g[0]), "embedding_dim": int(g[1])},
                     format=lambda a: f"embed{a['num_embeddings']}x{a['embedding_dim']}"),
    "pos": Keyword("pos" + _INT, "pos<L>", "pos64", "PositionalEmbedding", _pos,
                   read=lambda g: {"max_length": int(g[0])}, format=lambda a: f"pos{a['max_length']}",
                   probe=(1, 1)),
    "ln": Keyword("ln", "ln", "ln", "LayerNorm",
                  lambda a, shape, ctx: ctx.layer(LayerNorm, normalized_shape=shape[-1], dtype=ctx.dtype)),
    "gelu": Keyword("gelu", "gelu", "gelu", "GELU", lambda a, shape, ctx: ctx.layer(GELU)),
    "gelut": Keyword("gelut", "gelut", "gelut", "GELU",
                     lambda a, shape, ctx: ctx.layer(GELU, approximate="tanh")),
    "mha": Keyword("mha" + _INT + "(c?)", "mha<H>[c]", "mha4c", "MultiHeadAttention", _mha,
                   read=lambda g: {"num_heads": int(g[0]), "causal": g[1] == "c"},
                   format=lambda a: f"mha{a['num_heads']}" + ("c" if a["causal"] else ""),
                   probe=lambda a: (1, max(a["num_heads"], 1))),
    "rnn": _recurrent_entry("rnn", RNN),
    "lstm": _recurrent_entry("lstm", LSTM),
    "gru": _recurrent_entry("gru", GRU),
    "last": Keyword("last", "last", "last", "LastStep", _pool_steps("LastStep"), probe=(1, 1)),
    "mean": Keyword("mean", "mean", "mean", "MeanOverTime", _pool_steps("MeanOverTime"), probe=(1, 1)),
    "res": Keyword(r"res\((.+)\)", "res(<spec>)", "res(dense64-relu-dense64)", "Residual", _res,
                   format=lambda a: "res(" + format_layers(a["block"]) + ")"),
}  # fmt: skip
# Longest keyword first, so that a token is matched by the keyword it starts with.
_BY_PREFIX = sorted(KEYWORDS, key=len, reverse=True)
_IMAGE_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a spec: its keyword, what the text says about it, and the text itself.

    ``args`` holds the constructor arguments the token gives (``out_channels``,
    ``kernel_size``...; a ``res`` its ``block``, a list of ``LayerSpec``); the sizes
    that depend on the input are left to ``build_network``. ``position`` is the
    token's place in the text (1-based). ``str(spec)`` is the canonical token.
    """

    keyword: str
    args: dict = field(default_factory=dict)
    token: str = ""
    position: int = 0

    @property
    def layer(self) -> str:
        """The name in ``LAYERS`` this spec builds ("BatchNorm" for ``bn``: 1d or 2d by its input)."""
        return KEYWORDS[self.keyword].layer

    def __str__(self) -> str:
        entry = KEYWORDS[self.keyword]
        return self.keyword if entry.format is None else entry.format(self.args)


# -- reading ---------------------------------------------------------------------------------------


def _token_error(text: str, position: int, token: str, why: str) -> ValueError:
    return ValueError(f"layers: token {position} {token!r} of {text!r} {why}")


def _split(text: str, spec_text: str, start: int) -> list[str]:
    """``text`` cut at the ``-`` outside brackets; a bracket left open or closed twice is an error."""
    parts, depth, begin = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            raise ValueError(
                f"layers: {spec_text!r} closes a bracket it did not open (character {start + i + 1})"
            )
        if ch == "-" and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
    if depth:
        raise ValueError(f"layers: {spec_text!r} leaves a bracket open: write res(<layers>)")
    return [*parts, text[begin:]]


def parse_layers(text: str) -> list[LayerSpec]:
    """Read a spec (see the module docstring) into a list of ``LayerSpec``, one per top-level token.

    Raises ``TypeError`` if ``text`` is not a string, ``ValueError`` naming the
    first token that is not a layer, or whose numbers are not allowed.
    """
    if not isinstance(text, str):
        raise TypeError(f"layers must be a spec string such as 'dense64-relu-dense', got {text!r}")
    if not text.strip():
        raise ValueError(f"layers must name at least one layer, got {text!r}")
    return _parse(text, text, [0], top=True)


def _parse(part: str, text: str, counter: list[int], top: bool) -> list[LayerSpec]:
    specs = []
    for raw in _split(part, text, 0):
        counter[0] += 1
        position, shown = counter[0], raw.strip()
        token = shown.lower()
        if not token:
            raise _token_error(text, position, raw, "is empty: layers are joined by single '-'")
        keyword = next((k for k in _BY_PREFIX if token.startswith(k)), None)
        if keyword is None:
            known = ", ".join(KEYWORDS)
            raise _token_error(text, position, shown, f"is not a layer; layers start with one of: {known}")
        entry = KEYWORDS[keyword]
        match = re.fullmatch(entry.pattern, token)
        if match is None:
            raise _token_error(text, position, shown, f"must look like {entry.form}, e.g. {entry.example}")
        if keyword == "res":  # the one keyword holding a spec of its own
            block_text = shown[shown.index("(") + 1 : shown.rindex(")")]
            spec = LayerSpec(
                keyword, {"block": _parse(block_text, text, counter, top=False)}, shown, position
            )
        else:
            spec = LayerSpec(keyword, entry.read(match.groups()), shown, position)
            try:
                _check(spec)
            except (ValueError, TypeError) as exc:
                raise _token_error(text, position, shown, f"is not allowed: {exc}") from None
        specs.append(spec)
    for spec in specs[:-1] if top else specs:
        if spec.keyword == "dense" and spec.args["out_features"] is None:
            where = "only the last dense may leave it out" if top else "a dense inside res(...) needs one"
            raise _token_error(text, spec.position, spec.token, f"needs its width (e.g. dense64): {where}")
    return specs


def _check(spec: LayerSpec) -> None:
    """Build the layer once on a probe input (one value, or a 1x1 image): its own checks refuse bad
    numbers (conv0, drop1.5), and its weights are sized before they are allocated (conv16k100000)."""
    entry = KEYWORDS[spec.keyword]
    ctx = BuildContext(
        n_outputs=1, rng=np.random.default_rng(0), dtype=np.dtype(np.float32), label="even on one input, it"
    )
    entry.build(spec.args, entry.probe(spec.args) if callable(entry.probe) else entry.probe, ctx)


def format_layers(specs) -> str:
    """The canonical text of a spec (a list of ``LayerSpec`` or a text): ``parse_layers`` reads it back."""
    if isinstance(specs, str):
        specs = parse_layers(specs)
    return "-".join(str(s) for s in specs)
