"""Each scratchnn layer as standard ONNX operators: the table ``ONNX_LAYERS`` (layer type -> function).

A function ``f(layer, graph, x, path) -> y`` adds the nodes that compute the
layer to ``graph`` (a ``Graph``) and returns the name of its output; ``x`` is
the name of its input and ``path`` the layer's place in the network ("3",
"3.block.1"), used to name the nodes. Adding a layer to the export is one
function and one entry in ``ONNX_LAYERS`` at the foot of this file.

Image layers are channels-first ``(N, C, H, W)`` to their callers (the memory
behind is channels-last, but that is invisible from outside, see
``scratchnn.layers.conv``), which is ONNX's ``Conv`` layout, and Conv2D's
weight ``(C_out, C_in, kH, kW)`` is ONNX's too: no transpose is needed.

Float64 graphs. ONNX Runtime's CPU kernels for ``Conv``, ``AveragePool`` and
``GlobalAveragePool`` exist in float32 only, so in a float64 graph Conv2D is
written as im2col (the same product scratchnn computes: ``Pad``, one strided
``Slice`` per kernel offset, ``Concat`` and one ``MatMul``) and AvgPool2D as the
mean of its kH·kW strided slices, with standard operators that do run in
float64. GlobalAvgPool2D is ``ReduceMean`` in both. ONNX's float attributes
are float32 (``LeakyRelu``'s alpha, ``BatchNormalization``'s epsilon), so in
a float64 graph those two layers are written out with float64 constants.

Sequence layers take batch-first ``(N, T, F)`` with ``T`` dynamic and every
sequence full length. The recurrent layers are ONNX's ``RNN``, ``LSTM`` and
``GRU`` with the weight blocks reordered from PyTorch's gate order (LSTM i, f,
g, o -> i, o, f, c; GRU r, z, n -> z, r, h with ``linear_before_reset=1``);
ONNX Runtime runs those (and ``Erf``) in float32 only, so a float64 graph writes
the loop as a ``Scan`` of the layer's step and the exact GELU's ``erf`` as Cody's
rational approximation, both in the arithmetic scratchnn uses.

GPT is its children's entries in order, then its head tied to the token
embedding: ``MatMul`` by the ``Transpose`` of the very initializer the
embedding's ``Gather`` reads (``Graph.weight``), so the weight is stored once.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ONNX_LAYERS", "Graph", "UnsupportedLayerError", "add_layer"]


class UnsupportedLayerError(ValueError):
    """A layer with no entry in ``ONNX_LAYERS`` (or a setting of it that ONNX cannot express)."""


class Graph:
    """The nodes and constants of an ONNX graph being built; every name in it is unique.

    ``dtype`` is the float type the network's part of the graph computes in
    (its weights are stored in it); ``opset`` the ``ai.onnx`` opset it is for.
    """

    def __init__(self, dtype, opset: int = 17) -> None:
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.domains: set[str] = set()
        #: per-sample shape of each tensor that a layer produced or took (``None``: unknown)
        self.shape_of: dict[str, tuple | None] = {}
        self._used: set[str] = set()
        self._weights: dict[int, tuple[np.ndarray, str]] = {}  # id(array) -> (array, initializer)

    def fresh(self, hint: str) -> str:
        """``hint``, or ``hint_2``, ``hint_3``...: a name not used yet in the graph."""
        name, k = hint, 1
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def const(self, hint: str, value, dtype=None) -> str:
        """A constant tensor (an initializer) holding ``value``; floats in ``self.dtype`` unless told."""
        from onnx import numpy_helper

        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        return name

    def weight(self, hint: str, array: np.ndarray) -> str:
        """The initializer holding a layer's own ``array``, written once however many nodes read it:
        a tied weight (GPT's token embedding, also its head) is one initializer in the graph."""
        known = self._weights.get(id(array))
        if known is not None and known[0] is array:
            return known[1]
        name = self.const(hint, array)
        self._weights[id(array)] = (array, name)  # the array kept alive: its id is not reused
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, *, domain: str = "", **attrs) -> str:
        """Add one node with one output, named after ``hint``; return that output's name."""
        from onnx import helper

        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain or None, **attrs))
        if domain:
            self.domains.add(domain)
        return out

    def op_outputs(self, op_type: str, inputs: list[str], hints: list[str | None], **attrs) -> list[str]:
        """Add one node with several outputs (``None``: an optional output left out); their names."""
        from onnx import helper

        outs = [self.fresh(h) if h is not None else "" for h in hints]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh(f"{op_type}"), **attrs))
        return outs


def add_layer(layer, graph: Graph, x: str, path: str) -> str:
    """The nodes of ``layer`` (its entry in ``ONNX_LAYERS``) applied to ``x``; the output's name.

    A layer type without an entry is ``UnsupportedLayerError`` naming the layer
    by its place in the network.
    """
    kind = type(layer).__name__
    export = ONNX_LAYERS.get(kind)
    if export is None:
        raise UnsupportedLayerError(
            f"cannot export layer {path} ({kind}) to ONNX: scratchnn.export has no mapping for {kind} "
            f"(it maps {', '.join(sorted(ONNX_LAYERS))})"
        )
    y = export(layer, graph, x, path)
    graph.shape_of[y] = layer.output_shape(graph.shape_of.get(x))
    return y


# -- the mappings, one per layer type ------------------------------------------------------


def _dense(layer, g: Graph, x: str, path: str) -> str:
    # y = x @ W + b; MatMul (not Gemm) so that any rank (N, ..., F) works, as Dense does
    y = g.op("MatMul", [x, g.const(f"{path}.W", layer.W)], f"{path}.matmul")
    return g.op("Add", [y, g.const(f"{path}.b", layer.b)], f"{path}.out")


def _unary(op_type: str):
    def export(layer, g: Graph, x: str, path: str) -> str:
        return g.op(op_type, [x], f"{path}.{op_type.lower()}")

    return export


def _leaky_relu(layer, g: Graph, x: str, path: str) -> str:
    if g.dtype != np.float64:
        return g.op("LeakyRelu", [x], f"{path}.leakyrelu", alpha=float(layer.negative_slope))
    # y = x where x > 0, else slope * x, with the slope as a float64 tensor (alpha is a float32 attribute)
    positive = g.op("Greater", [x, g.const(f"{path}.zero", 0.0)], f"{path}.positive")
    sloped = g.op("Mul", [x, g.const(f"{path}.slope", layer.negative_slope)], f"{path}.sloped")
    return g.op("Where", [positive, x, sloped], f"{path}.out")


def _identity(layer, g: Graph, x: str, path: str) -> str:
    return x  # Identity, and Dropout at inference: no node at all


def _conv_pads(layer) -> list[int]:
    (top, bottom), (left, right) = layer._pads
    return [top, left, bottom, right]  # ONNX: all begins, then all ends


def _conv2d(layer, g: Graph, x: str, path: str) -> str:
    if g.dtype == np.float64:
        return _conv2d_im2col(layer, g, x, path)
    return g.op(
        "Conv",
        [x, g.const(f"{path}.W", layer.W), g.const(f"{path}.b", layer.b)],
        f"{path}.conv",
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.stride),
        pads=_conv_pads(layer),
    )


def _pad(g: Graph, x: str, pads: list[int], path: str) -> str:
    if not any(pads):
        return x
    top, left, bottom, right = pads
    amounts = g.const(f"{path}.pads", [0, 0, top, left, 0, 0, bottom, right], dtype=np.int64)
    return g.op("Pad", [x, amounts], f"{path}.pad", mode="constant")


def _window_slices(g: Graph, x: str, layer, path: str) -> list[str]:
    """For each kernel offset ``(i, j)``, the strided slice ``x[:, :, i::sH, j::sW]`` of
    ``H_out x W_out`` values: kH·kW slices stand for every window (``layers.conv.window_slices``).
    Needs the input's height and width, known from the layers before (``Graph.shape_of``)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    shape = g.shape_of.get(x)
    if shape is None:
        raise UnsupportedLayerError(
            f"cannot export layer {path} ({type(layer).__name__}) to a float64 ONNX graph without the "
            "image size: start the network with a Reshape to (C, H, W)"
        )
    _, h, w = shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    steps = g.const(f"{path}.steps", [sh, sw], dtype=np.int64)
    axes = g.const(f"{path}.axes", [2, 3], dtype=np.int64)
    out = []
    for i in range(kh):
        for j in range(kw):
            starts = g.const(f"{path}.start{i}{j}", [i, j], dtype=np.int64)
            last = [i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1]
            ends = g.const(f"{path}.end{i}{j}", last, dtype=np.int64)
            out.append(g.op("Slice", [x, starts, ends, axes, steps], f"{path}.window{i}{j}"))
    return out


def _conv2d_im2col(layer, g: Graph, x: str, path: str) -> str:
    # X_col (N, H_out, W_out, kH*kW*C_in) @ W_col (kH*kW*C_in, C_out) + b, as Conv2D's forward
    xp = _pad(g, x, _conv_pads(layer), path)
    shape = g.shape_of.get(x)
    if shape is not None:
        (pt, pb), (pl, pr) = layer._pads
        g.shape_of[xp] = (shape[0], shape[1] + pt + pb, shape[2] + pl + pr)
    slices = [
        g.op("Transpose", [s], f"{path}.window_last", perm=[0, 2, 3, 1])
        for s in _window_slices(g, xp, layer, path)
    ]
    cols = g.op("Concat", slices, f"{path}.im2col", axis=3) if len(slices) > 1 else slices[0]
    kh, kw = layer.kernel_size
    w_col = layer.W.transpose(2, 3, 1, 0).reshape(kh * kw * layer.in_channels, layer.out_channels)
    y = g.op("MatMul", [cols, g.const(f"{path}.W_col", w_col)], f"{path}.matmul")
    y = g.op("Add", [y, g.const(f"{path}.b", layer.b)], f"{path}.add")
    return g.op("Transpose", [y], f"{path}.out", perm=[0, 3, 1, 2])


def _max_pool(layer, g: Graph, x: str, path: str) -> str:
    return g.op(
        "MaxPool", [x], f"{path}.maxpool", kernel_shape=list(layer.kernel_size), strides=list(layer.stride)
    )


def _avg_pool(layer, g: Graph, x: str, path: str) -> str:
    if g.dtype != np.float64:
        return g.op(
            "AveragePool",
            [x],
            f"{path}.avgpool",
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.stride),
        )
    # the sum of the kH*kW strided slices times 1 / (kH*kW), as AvgPool2D computes it
    slices = _window_slices(g, x, layer, path)
    total = g.op("Sum", slices, f"{path}.sum") if len(slices) > 1 else slices[0]
    kh, kw = layer.kernel_size
    return g.op("Mul", [total, g.const(f"{path}.inv_area", 1.0 / (kh * kw))], f"{path}.out")


def _global_avg_pool(layer, g: Graph, x: str, path: str) -> str:
    if g.opset >= 18:  # the axes became an input in opset 18
        axes = g.const(f"{path}.axes", [2, 3], dtype=np.int64)
        return g.op("ReduceMean", [x, axes], f"{path}.mean", keepdims=0)
    return g.op("ReduceMean", [x], f"{path}.mean", axes=[2, 3], keepdims=0)  # (N, C, H, W) -> (N, C)


def _batch_norm(layer, g: Graph, x: str, path: str) -> str:
    # inference form: gamma * (x - running_mean) / sqrt(running_var + eps) + beta, per channel (axis 1)
    if g.dtype == np.float64:
        return _batch_norm_float64(layer, g, x, path)
    names = ("gamma", "beta", "running_mean", "running_var")
    arrays = (layer.gamma, layer.beta, layer.running_mean, layer.running_var)
    inputs = [x] + [g.const(f"{path}.{n}", a) for n, a in zip(names, arrays)]
    return g.op("BatchNormalization", inputs, f"{path}.batchnorm", epsilon=float(layer.eps))


def _batch_norm_float64(layer, g: Graph, x: str, path: str) -> str:
    """BatchNormalization's epsilon is a float32 attribute: in float64, the same steps as
    ``_BatchNorm._forward_rows`` with ``1 / sqrt(running_var + eps)`` computed here in float64."""
    inv_std = 1.0 / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
    per_channel = (-1, 1, 1) if type(layer).__name__ == "BatchNorm2d" else (-1,)  # axis 1 of (N, C, H, W)
    steps = (("Sub", "running_mean", layer.running_mean), ("Mul", "inv_std", inv_std))
    steps += (("Mul", "gamma", layer.gamma), ("Add", "beta", layer.beta))
    for op_type, name, value in steps:
        x = g.op(op_type, [x, g.const(f"{path}.{name}", np.reshape(value, per_channel))], f"{path}.{name}_")
    return x


def _flatten(layer, g: Graph, x: str, path: str) -> str:
    return g.op("Flatten", [x], f"{path}.flatten", axis=1)  # (N, d1, ..., dk) -> (N, d1*...*dk), C-order


def _reshape(layer, g: Graph, x: str, path: str) -> str:
    shape = g.const(f"{path}.shape", [0, *layer.shape], dtype=np.int64)  # 0: keep the batch size
    return g.op("Reshape", [x, shape], f"{path}.reshape")


def _sequential(layer, g: Graph, x: str, path: str) -> str:
    for i, child in enumerate(layer.layers):
        x = add_layer(child, g, x, f"{path}.{i}" if path else str(i))
    return x


def _residual(layer, g: Graph, x: str, path: str) -> str:
    # y = x + block(x)
    return g.op("Add", [x, add_layer(layer.block, g, x, f"{path}.block")], f"{path}.add")


# -- sequence layers -------------------------------------------------------------------------
# Sequences are batch-first (N, T, F) with dynamic N and T. The graph has no lengths input: it
# computes every step of every sequence, as scratchnn does with ``lengths=None``.


def _mean_over(g: Graph, x: str, axis: int, hint: str, keepdims: int) -> str:
    """``ReduceMean`` over one axis at any opset (its axes became an input in opset 18)."""
    if g.opset >= 18:
        axes = g.const(f"{hint}.axes", [axis], dtype=np.int64)
        return g.op("ReduceMean", [x, axes], hint, keepdims=keepdims)
    return g.op("ReduceMean", [x], hint, axes=[axis], keepdims=keepdims)


def _embedding(layer, g: Graph, x: str, path: str) -> str:
    # y[n, t] = W[ids[n, t]]: the rows of W gathered by the int64 ids (N, T) -> (N, T, D)
    return g.op("Gather", [g.weight(f"{path}.weight", layer.weight), x], f"{path}.gather", axis=0)


def _positional_embedding(layer, g: Graph, x: str, path: str) -> str:
    # y[n, t] = x[n, t] + P[t] for t < T, T read from x's shape when the graph runs
    t = g.op("Shape", [x], f"{path}.length", start=1, end=2)
    zero = g.const(f"{path}.zero", [0], dtype=np.int64)
    p = g.op("Slice", [g.const(f"{path}.weight", layer.weight), zero, t, zero], f"{path}.positions")
    return g.op("Add", [x, p], f"{path}.out")


def _layer_norm(layer, g: Graph, x: str, path: str) -> str:
    if g.dtype != np.float64:
        bias = layer.bias if layer.bias is not None else np.zeros_like(layer.weight)
        inputs = [x, g.const(f"{path}.weight", layer.weight), g.const(f"{path}.bias", bias)]
        return g.op("LayerNormalization", inputs, f"{path}.layernorm", axis=-1, epsilon=float(layer.eps))
    # epsilon is a float32 attribute: in float64, LayerNorm.forward's steps with eps a float64 constant
    centred = g.op("Sub", [x, _mean_over(g, x, -1, f"{path}.mean", 1)], f"{path}.centred")  # x - mu
    var = _mean_over(g, g.op("Mul", [centred, centred], f"{path}.square"), -1, f"{path}.var", 1)
    var_eps = g.op("Add", [var, g.const(f"{path}.eps", layer.eps)], f"{path}.var_eps")
    rstd = g.op("Reciprocal", [g.op("Sqrt", [var_eps], f"{path}.std")], f"{path}.rstd")
    xhat = g.op("Mul", [centred, rstd], f"{path}.xhat")  # xhat = (x - mu) * rstd
    y = g.op("Mul", [xhat, g.const(f"{path}.weight", layer.weight)], f"{path}.scaled")  # w * xhat + b
    if layer.bias is None:
        return y
    return g.op("Add", [y, g.const(f"{path}.bias", layer.bias)], f"{path}.out")


def _gelu(layer, g: Graph, x: str, path: str) -> str:
    one = g.const(f"{path}.one", 1.0)
    if layer.approximate == "tanh":
        # y = x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2
        x2 = g.op("Mul", [x, x], f"{path}.x2")
        u = g.op("Mul", [x2, g.const(f"{path}.c", 0.044715)], f"{path}.cx2")
        u = g.op("Mul", [g.op("Add", [u, one], f"{path}.1_cx2"), x], f"{path}.x_cx3")
        u = g.op("Mul", [u, g.const(f"{path}.k", math.sqrt(2.0 / math.pi))], f"{path}.u")
        twice_phi = g.op("Add", [g.op("Tanh", [u], f"{path}.tanh"), one], f"{path}.1_t")
    else:
        # y = x * (1 + erf(x / sqrt(2))) / 2; ONNX Runtime's Erf is float32 only: Cody's erf in float64
        z = g.op("Mul", [x, g.const(f"{path}.inv_sqrt2", 1.0 / math.sqrt(2.0))], f"{path}.z")
        e = g.op("Erf", [z], f"{path}.erf") if g.dtype != np.float64 else _erf(g, z, f"{path}.erf")
        twice_phi = g.op("Add", [e, one], f"{path}.1_erf")
    y = g.op("Mul", [twice_phi, x], f"{path}.x_2phi")
    return g.op("Mul", [y, g.const(f"{path}.half", 0.5)], f"{path}.out")


def _ratio(g: Graph, z: str, num: tuple, den: tuple, hint: str) -> str:
    """``activations._ratio`` (Horner's rule in Cody's coefficient layout) as ONNX nodes."""
    xnum = g.op("Mul", [z, g.const(f"{hint}.c", num[-1])], f"{hint}.num")
    xden = z
    for a, b in zip(num[:-2], den[:-1]):
        xnum = g.op("Mul", [g.op("Add", [xnum, g.const(f"{hint}.a", a)], f"{hint}.num"), z], f"{hint}.num")
        xden = g.op("Mul", [g.op("Add", [xden, g.const(f"{hint}.b", b)], f"{hint}.den"), z], f"{hint}.den")
    xnum = g.op("Add", [xnum, g.const(f"{hint}.a", num[-2])], f"{hint}.num")
    xden = g.op("Add", [xden, g.const(f"{hint}.b", den[-1])], f"{hint}.den")
    return g.op("Div", [xnum, xden], f"{hint}.ratio")


def _erf(g: Graph, x: str, hint: str) -> str:
    """``activations.erf`` (W. J. Cody's rational approximations, three ranges of ``|x|``) as ONNX
    nodes in float64: each range computed on ``|x|`` clipped into it, the right one picked by ``Where``."""
    from ..layers import activations as act

    def c(name, value):
        return g.const(f"{hint}.{name}", value)

    y = g.op("Abs", [x], f"{hint}.abs")
    ys = g.op("Min", [y, c("lo", 0.46875)], f"{hint}.ys")  # y <= 0.46875: erf = y * R1(y^2)
    small = g.op(
        "Mul", [ys, _ratio(g, g.op("Mul", [ys, ys], f"{hint}.ys2"), act._ERF_A, act._ERF_B, hint)], hint
    )
    ym = g.op("Min", [y, c("mid", 4.0)], f"{hint}.ym")  # 0.46875 < y <= 4: erfc = exp(-y^2) R2(y)
    erfc_m = _ratio(g, ym, act._ERFC_C, act._ERFC_D, hint)
    yl = g.op("Min", [g.op("Max", [y, c("four", 4.0)], f"{hint}.yl4"), c("six", 6.0)], f"{hint}.yl")
    z = g.op("Reciprocal", [g.op("Mul", [yl, yl], f"{hint}.yl2")], f"{hint}.z")  # y > 4, capped at 6
    erfc_l = g.op("Mul", [z, _ratio(g, z, act._ERFC_P, act._ERFC_Q, hint)], f"{hint}.zr")
    erfc_l = g.op("Sub", [c("rsqrtpi", 1.0 / math.sqrt(math.pi)), erfc_l], f"{hint}.erfc_l")
    erfc_l = g.op("Div", [erfc_l, yl], f"{hint}.erfc_l")
    ranges = []
    for yy, erfc in ((ym, erfc_m), (yl, erfc_l)):
        # exp(-y^2) = exp(-s^2) exp(-(y - s)(y + s)), s = y rounded down to a multiple of 1/16
        s = g.op(
            "Mul", [g.op("Floor", [g.op("Mul", [yy, c("16", 16.0)], hint)], hint), c("1_16", 1 / 16)], hint
        )
        e1 = g.op("Exp", [g.op("Neg", [g.op("Mul", [s, s], hint)], hint)], hint)
        d = g.op("Mul", [g.op("Sub", [yy, s], hint), g.op("Add", [yy, s], hint)], hint)
        e2 = g.op("Exp", [g.op("Neg", [d], hint)], hint)
        erfc = g.op("Mul", [erfc, g.op("Mul", [e1, e2], hint)], hint)
        ranges.append(g.op("Add", [g.op("Sub", [c("half", 0.5), erfc], hint), c("half", 0.5)], hint))
    is_small = g.op("LessOrEqual", [y, c("lo", 0.46875)], f"{hint}.is_small")
    is_middle = g.op("LessOrEqual", [y, c("mid", 4.0)], f"{hint}.is_middle")
    out = g.op("Where", [is_middle, ranges[0], ranges[1]], hint)
    out = g.op("Where", [is_small, small, out], hint)
    return g.op("Mul", [out, g.op("Sign", [x], f"{hint}.sign")], f"{hint}.out")  # sign(x) * erf(|x|)


def _range_of_length(g: Graph, x: str, path: str) -> str:
    """``0, 1, ..., T - 1`` (int64) for the T of ``x (N, T, F)``, read when the graph runs."""
    t = g.op("Squeeze", [g.op("Shape", [x], f"{path}.length", start=1, end=2)], f"{path}.t")
    zero, one = g.const(f"{path}.zero", 0, dtype=np.int64), g.const(f"{path}.one", 1, dtype=np.int64)
    return g.op("Range", [zero, t, one], f"{path}.steps")


def _attention(layer, g: Graph, x: str, path: str) -> str:
    e, h = layer.embed_dim, layer.num_heads
    dh = e // h
    # q, k, v = split(x @ W_in.T + b_in), each (N, T, E) viewed as (N, H, T, Dh), with the scores'
    # 1 / sqrt(Dh) folded into q's rows of W_in and b_in: ONNX Runtime fuses a MatMul followed by a Mul
    # by a constant into one FusedMatMul whose alpha is a float32 attribute, 1e-8 off in float64
    rows = np.ones((3 * e, 1))
    rows[:e] = 1.0 / math.sqrt(dh)
    w_in = layer.in_proj_weight.astype(g.dtype) * rows.astype(g.dtype)
    qkv = g.op("MatMul", [x, g.const(f"{path}.in_proj_weight_t", w_in.T)], f"{path}.qkv")
    if layer.bias:
        b_in = layer.in_proj_bias.astype(g.dtype) * rows[:, 0].astype(g.dtype)
        qkv = g.op("Add", [qkv, g.const(f"{path}.in_proj_bias", b_in)], f"{path}.qkv_b")
    qkv = g.op("Reshape", [qkv, g.const(f"{path}.heads", [0, 0, 3, h, dh], dtype=np.int64)], f"{path}.split")
    qkv = g.op("Transpose", [qkv], f"{path}.qkv_heads", perm=[2, 0, 3, 1, 4])  # (3, N, H, T, Dh)
    q, k, v = (
        g.op("Gather", [qkv, g.const(f"{path}.{n}_index", i, dtype=np.int64)], f"{path}.{n}", axis=0)
        for i, n in enumerate("qkv")
    )
    kt = g.op("Transpose", [k], f"{path}.k_t", perm=[0, 1, 3, 2])
    s = g.op("MatMul", [q, kt], f"{path}.scores")  # s = q @ k.T / sqrt(Dh) (in q already)
    if layer.causal:  # query i sees the keys j <= i
        steps = _range_of_length(g, x, path)
        rows = g.op("Unsqueeze", [steps, g.const(f"{path}.axis1", [1], dtype=np.int64)], f"{path}.rows")
        cols = g.op("Unsqueeze", [steps, g.const(f"{path}.axis0", [0], dtype=np.int64)], f"{path}.cols")
        allowed = g.op("LessOrEqual", [cols, rows], f"{path}.causal")  # (T, T), [i, j] = j <= i
        s = g.op("Where", [allowed, s, g.const(f"{path}.minus_inf", -np.inf)], f"{path}.masked")
    p = g.op("Softmax", [s], f"{path}.weights", axis=-1)
    o = g.op("MatMul", [p, v], f"{path}.o")  # o = p @ v, heads joined back: (N, T, E)
    o = g.op("Transpose", [o], f"{path}.o_t", perm=[0, 2, 1, 3])
    o = g.op("Reshape", [o, g.const(f"{path}.joined", [0, 0, e], dtype=np.int64)], f"{path}.joined")
    y = g.op("MatMul", [o, g.const(f"{path}.out_proj_weight_t", layer.out_proj_weight.T)], f"{path}.y")
    if not layer.bias:
        return y
    return g.op("Add", [y, g.const(f"{path}.out_proj_bias", layer.out_proj_bias)], f"{path}.out")


def _gpt(layer, g: Graph, x: str, path: str) -> str:
    # h = ln_f(blocks(wte(ids) + wpe)), each child by its own entry (Dropout: nothing at inference)
    h = add_layer(layer.wte, g, x, f"{path}.wte")
    h = add_layer(layer.wpe, g, h, f"{path}.wpe")
    h = add_layer(layer.blocks, g, h, f"{path}.blocks")
    h = add_layer(layer.ln_f, g, h, f"{path}.ln_f")
    # logits = h @ W.T, the head tied to the token embedding: the same initializer as wte's Gather
    w = g.weight(f"{path}.wte.weight", layer.wte.weight)
    wt = g.op("Transpose", [w], f"{path}.head_weight", perm=[1, 0])
    return g.op("MatMul", [h, wt], f"{path}.logits")


#: torch's gate blocks (RNN: one; LSTM: i, f, g, o; GRU: r, z, n) in the order the ONNX operator
#: takes them (LSTM: i, o, f, c; GRU: z, r, h)
_GATE_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


def _recurrent(layer, g: Graph, x: str, path: str) -> str:
    kind = type(layer).__name__
    order = _GATE_ORDER[kind]

    def onnx_order(a):
        blocks = np.split(a, len(order))
        return np.concatenate([blocks[i] for i in order])

    xt = g.op("Transpose", [x], f"{path}.time_major", perm=[1, 0, 2])  # (T, N, F): ONNX's layout 0
    if g.dtype == np.float64:
        ys, last = _recurrent_scan(layer, g, xt, path)  # ONNX Runtime's RNN, LSTM and GRU are float32 only
    else:
        w = g.const(f"{path}.W", onnx_order(layer.weight_ih)[None])
        r = g.const(f"{path}.R", onnx_order(layer.weight_hh)[None])
        b = g.const(f"{path}.B", np.concatenate([onnx_order(layer.bias_ih), onnx_order(layer.bias_hh)])[None])
        attrs = {"hidden_size": layer.hidden_size}
        if kind == "RNN":
            attrs["activations"] = ["Tanh" if layer.nonlinearity == "tanh" else "Relu"]
        if kind == "GRU":
            attrs["linear_before_reset"] = 1  # torch's GRU: n = tanh(x W_n + b_in + r * (h W_hn + b_hn))
        ys, last = g.op_outputs(kind, [xt, w, r, b], [f"{path}.Y", f"{path}.Y_h"], **attrs)
        if layer.return_sequences:  # Y (T, 1, N, H) -> (T, N, H)
            ys = g.op("Squeeze", [ys, g.const(f"{path}.dir_axis", [1], dtype=np.int64)], f"{path}.ys")
        else:  # Y_h (1, N, H) -> (N, H)
            last = g.op("Squeeze", [last, g.const(f"{path}.dir_axis", [0], dtype=np.int64)], f"{path}.out")
    if not layer.return_sequences:
        return last
    return g.op("Transpose", [ys], f"{path}.out", perm=[1, 0, 2])


def _recurrent_scan(layer, g: Graph, xt: str, path: str) -> tuple[str, str]:
    """The layer's loop as a ``Scan`` over time (``xt (T, N, F)``), in the arithmetic of its ``_loop``,
    for float64, where ONNX Runtime has no RNN, LSTM or GRU kernel. Returns the outputs ``(T, N, H)`` and the
    last state ``(N, H)``.

    The input projections of every step first, ``xp = x @ W_ih.T + b`` (``b = b_ih + b_hh`` for RNN
    and LSTM, ``b_ih`` for GRU, whose ``b_hh`` sits inside the reset gate's product); then per step:

    * RNN: ``h = act(h_prev @ W_hh.T + xp_t)``;
    * LSTM: ``i, f, g, o = split(h_prev @ W_hh.T + xp_t)``, ``c = sigmoid(f) c_prev + sigmoid(i) tanh(g)``,
      ``h = sigmoid(o) tanh(c)``;
    * GRU: ``hp = h_prev @ W_hh.T + b_hh``, ``r, z = sigmoid(xp_rz + hp_rz)``,
      ``n = tanh(xp_n + r hp_n)``, ``h = n + z (h_prev - n)``.
    """
    from onnx import helper

    kind, hs = type(layer).__name__, layer.hidden_size
    bias = layer.bias_ih if kind == "GRU" else layer.bias_ih + layer.bias_hh
    xp = g.op("MatMul", [xt, g.const(f"{path}.weight_ih_t", layer.weight_ih.T)], f"{path}.xp")
    xp = g.op("Add", [xp, g.const(f"{path}.bias", bias)], f"{path}.xp_b")
    n = g.op("Shape", [xt], f"{path}.batch", start=1, end=2)
    hidden = g.const(f"{path}.hidden", [hs], dtype=np.int64)
    shape = g.op("Concat", [n, hidden], f"{path}.state_shape", axis=0)
    ft = _tensor_type(g.dtype)
    zero = helper.make_tensor("value", ft, [1], [0.0])
    whh = g.const(f"{path}.weight_hh_t", layer.weight_hh.T)  # the body reads these from the outer graph
    states = ["h"] if kind != "LSTM" else ["h", "c"]
    initial = []
    for name in states:
        s0 = g.fresh(f"{path}.{name}0")
        g.nodes.append(helper.make_node("ConstantOfShape", [shape], [s0], name=s0, value=zero))
        initial.append(s0)
    body = Graph(g.dtype, g.opset)
    body._used = g._used  # one namespace: no body name shadows an outer one
    prev = {name: g.fresh(f"{path}.{name}_prev") for name in states}
    x_t = g.fresh(f"{path}.xp_t")
    a = body.op("MatMul", [prev["h"], whh], f"{path}.hw")  # h_prev @ W_hh.T
    new = _STEPS[kind](layer, g, body, a, x_t, prev, path)
    h = new[0]
    y = body.op("Identity", [h], f"{path}.y")
    dims = ["N", hs]
    body_graph = helper.make_graph(
        body.nodes,
        f"{path}.step",
        [helper.make_tensor_value_info(v, ft, dims) for v in prev.values()]
        + [helper.make_tensor_value_info(x_t, ft, ["N", layer.gates * hs])],
        [helper.make_tensor_value_info(v, ft, dims) for v in [*new, y]],
    )
    hints = [f"{path}.last_{name}" for name in states] + [f"{path}.ys"]
    outs = g.op_outputs("Scan", [*initial, xp], hints, num_scan_inputs=1, body=body_graph)
    return outs[-1], outs[0]


def _rnn_step(layer, g: Graph, body: Graph, a: str, x_t: str, prev: dict, path: str) -> list[str]:
    """``h = act(h_prev @ W_hh.T + xp_t)``, given ``a = h_prev @ W_hh.T``; returns ``[h]``."""
    a = body.op("Add", [a, x_t], f"{path}.a")
    return [body.op("Tanh" if layer.nonlinearity == "tanh" else "Relu", [a], f"{path}.h")]


def _lstm_step(layer, g: Graph, body: Graph, a: str, x_t: str, prev: dict, path: str) -> list[str]:
    """``i, f, g, o`` from ``a + xp_t`` (PyTorch's gate order), then ``c`` and ``h``; returns ``[h, c]``."""
    hs = layer.hidden_size
    a = body.op("Add", [a, x_t], f"{path}.a")
    sizes = g.const(f"{path}.gate_sizes", [hs] * 4, dtype=np.int64)
    i, f, gg, o = body.op_outputs("Split", [a, sizes], [f"{path}.a_{k}" for k in "ifgo"], axis=1)
    i, f, o = (body.op("Sigmoid", [v], f"{path}.{k}") for v, k in ((i, "i"), (f, "f"), (o, "o")))
    gg = body.op("Tanh", [gg], f"{path}.g")
    c = body.op("Mul", [f, prev["c"]], f"{path}.fc")  # c = f * c_prev + i * g
    c = body.op("Add", [c, body.op("Mul", [i, gg], f"{path}.ig")], f"{path}.c")
    h = body.op("Mul", [o, body.op("Tanh", [c], f"{path}.tanh_c")], f"{path}.h")  # h = o * tanh(c)
    return [h, c]


def _gru_step(layer, g: Graph, body: Graph, a: str, x_t: str, prev: dict, path: str) -> list[str]:
    """``r, z`` from ``xp_rz + hp_rz``, ``n = tanh(xp_n + r hp_n)`` with ``hp = a + b_hh`` (the reset
    gate after the hidden product, as PyTorch's), ``h = n + z (h_prev - n)``; returns ``[h]``."""
    hs = layer.hidden_size
    hp = body.op("Add", [a, g.const(f"{path}.bias_hh", layer.bias_hh)], f"{path}.hp")
    split = g.const(f"{path}.rz_n", [2 * hs, hs], dtype=np.int64)
    x_rz, x_n = body.op_outputs("Split", [x_t, split], [f"{path}.x_rz", f"{path}.x_n"], axis=1)
    h_rz, h_n = body.op_outputs("Split", [hp, split], [f"{path}.h_rz", f"{path}.h_n"], axis=1)
    rz = body.op("Sigmoid", [body.op("Add", [x_rz, h_rz], f"{path}.a_rz")], f"{path}.rz")
    halves = g.const(f"{path}.r_z", [hs, hs], dtype=np.int64)
    r, z = body.op_outputs("Split", [rz, halves], [f"{path}.r", f"{path}.z"], axis=1)
    nn_ = body.op(
        "Tanh",
        [body.op("Add", [x_n, body.op("Mul", [r, h_n], f"{path}.rh")], f"{path}.a_n")],
        f"{path}.n",
    )
    h = body.op("Mul", [body.op("Sub", [prev["h"], nn_], f"{path}.h_n_diff"), z], f"{path}.zd")
    return [body.op("Add", [h, nn_], f"{path}.h")]  # h = n + z * (h_prev - n)


#: One step of each recurrent layer inside the Scan's body: the new states, ``h`` first.
_STEPS = {"RNN": _rnn_step, "LSTM": _lstm_step, "GRU": _gru_step}


def _last_step(layer, g: Graph, x: str, path: str) -> str:
    # y[n] = x[n, T - 1]: every sequence full length
    return g.op("Gather", [x, g.const(f"{path}.last", -1, dtype=np.int64)], f"{path}.out", axis=1)


def _mean_over_time(layer, g: Graph, x: str, path: str) -> str:
    return _mean_over(g, x, 1, f"{path}.mean", 0)  # y[n] = sum_t x[n, t] / T


def _tensor_type(dtype) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


#: Layer type (class name, as in ``scratchnn.layers.LAYERS``) -> the function that writes it in ONNX.
ONNX_LAYERS = {
    "Dense": _dense,
    "ReLU": _unary("Relu"),
    "LeakyReLU": _leaky_relu,
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "Identity": _identity,
    "Dropout": _identity,
    "Conv2D": _conv2d,
    "MaxPool2D": _max_pool,
    "AvgPool2D": _avg_pool,
    "GlobalAvgPool2D": _global_avg_pool,
    "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Sequential": _sequential,
    "Residual": _residual,
    "Embedding": _embedding,
    "PositionalEmbedding": _positional_embedding,
    "LayerNorm": _layer_norm,
    "GELU": _gelu,
    "MultiHeadAttention": _attention,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "LastStep": _last_step,
    "MeanOverTime": _mean_over_time,
    "GPT": _gpt,
}
