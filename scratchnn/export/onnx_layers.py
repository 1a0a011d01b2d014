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
"""

from __future__ import annotations

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
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, *, domain: str = "", **attrs) -> str:
        """Add one node with one output, named after ``hint``; return that output's name."""
        from onnx import helper

        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain or None, **attrs))
        if domain:
            self.domains.add(domain)
        return out


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
}
