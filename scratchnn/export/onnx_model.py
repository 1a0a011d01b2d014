"""``to_onnx``: a trained model, with its preprocessing, as one ONNX graph.

The graph, in order:

1. **inputs**: ``features (N, F)``, the raw numeric columns (the model's
   feature columns, or for a table with text columns its numeric ones, in the
   table's order), in the graph's float type; and, when the table had text
   columns, ``text (N, T)``, those columns as strings. ``N`` is dynamic.
   A sequence model takes ``features (N, T, F)`` floats, or ``(N, T)`` int64
   token ids when it starts with an ``Embedding`` (or is a ``GPT``), ``N`` and ``T`` dynamic,
   every sequence full length (no lengths input; see ``to_onnx``'s ``lengths``).
2. **preprocessing**, in float64 as scratchnn computes it: empty cells (NaN)
   filled with the training fill values (``IsNaN``, ``Where``); each text
   column one-hot (``LabelEncoder`` from the ``ai.onnx.ml`` domain maps a
   category to its index, ``Equal`` against ``0..K-1`` makes the K columns);
   ``(x - mean) / scale`` (``Sub``, ``Div``); a ``Cast`` to the network's type.
3. **the network**: one mapping per layer (``onnx_layers.ONNX_LAYERS``).
4. **outputs**, by the task: a classifier gives ``label (N,)`` int64 (the
   index of the largest output, ``ArgMax``) and ``probabilities (N, C)``
   (``Softmax``), per step (``(N, T)``, ``(N, T, C)``) for a sequence model
   with an output per step; a multilabel network ``label (N, k)`` (1 where the logit is
   positive) and ``probabilities`` (``Sigmoid``); a regressor ``prediction``,
   ``(N,)`` for one target, in the target's units (``* scale + mean`` in
   float64, as ``TargetScaler.inverse_transform``).

Label names are in the model's ``metadata_props`` (``scratchnn.label_names``,
a JSON list that ``label`` indexes), with the input columns' names
(``scratchnn.features``, ``scratchnn.text``) and the task.

What ONNX cannot express is not exported silently wrong, but documented: a
graph cannot raise, so an empty cell of a column that had no fill value stays
NaN (scratchnn refuses the row), and a category the training rows never had
(or an empty text cell without a fill) is encoded as no category, all zeros,
as ``--unknown-categories ignore`` does.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np

from ..files import atomic_write
from ..layers.base import check_dtype
from ..losses import TASKS
from .onnx_layers import Graph, UnsupportedLayerError, add_layer
from .parts import ModelParts, model_parts

__all__ = ["ML_OPSET", "OPSET", "to_onnx"]

#: The default ``ai.onnx`` opset: 17 (ONNX 1.12, 2022), run by ONNX Runtime 1.12 and later, including
#: onnxruntime-web and the mobile builds. Every operator used has had its present meaning since opset 13.
OPSET = 17
#: The ``ai.onnx.ml`` opset, for ``LabelEncoder`` (string -> index), used only by tables with text columns.
ML_OPSET = 2


def to_onnx(model, path=None, *, dtype=None, opset: int = OPSET, lengths: bool = False):
    """Write ``model`` as an ONNX graph to ``path`` (if given) and return the ``onnx.ModelProto``.

    Parameters
    ----------
    model
        A model file's path, a ``NeuralNetwork``, a ``(network, metadata)``
        pair, or a ``Predictor``: the preprocessing the model carries goes
        into the graph (see the module docstring for its inputs and outputs).
    path
        Where to write the ``.onnx`` file (atomically); ``None`` writes nothing.
    dtype
        The float type of the ``features`` input and of the network's part of
        the graph: the network's own (default) or the other of float32 and
        float64 (weights are cast).
    opset
        The ``ai.onnx`` opset, ``OPSET`` (17) or later.
    lengths
        Whether the graph should take each sequence's real length (a padded
        batch plus ``lengths (N,)``, as ``NeuralNetwork.forward(x, lengths=...)``).
        Not supported: the graph of a sequence model assumes full-length
        sequences, so ``True`` raises, naming the first layer that reads lengths.

    Raises
    ------
    ValueError
        With ``lengths=True``, naming the first layer that would need them
        (``cannot export layer 0 (LSTM) to ONNX with variable lengths: ...``).
        Naming the first layer that has no ONNX mapping
        (``cannot export layer 3 (Shift) to ONNX: ...``).
    ImportError
        When the ``onnx`` package is missing (``pip install 'scratchnn[export]'``).
    """
    onnx, helper = _import_onnx()
    parts = model_parts(model)
    dt = check_dtype(parts.network.dtype if dtype is None else dtype)
    _check_opset(opset)
    if lengths:
        _refuse_lengths(parts.network)
    g = Graph(dt, opset)
    inputs, x = _inputs(parts, g, helper)
    for i, layer in enumerate(parts.network.layers):
        x = add_layer(layer, g, x, str(i))
    outputs = _outputs(parts, g, x, helper)
    graph = helper.make_graph(
        g.nodes, "scratchnn", inputs, outputs, g.initializers, doc_string=_describe(parts, dt)
    )
    proto = _model_proto(helper, graph, g, opset, parts)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        atomic_write(os.fspath(path), lambda f: f.write(data))
    return proto


def _check_opset(opset) -> None:
    """``opset`` must be an int from ``OPSET`` to the newest the installed ``onnx`` knows."""
    if isinstance(opset, bool) or not isinstance(opset, int) or not OPSET <= opset <= _newest_opset():
        raise ValueError(f"opset must be an int from {OPSET} to {_newest_opset()}, got {opset!r}")


def _model_proto(helper, graph, g: Graph, opset: int, parts):
    """The ``ModelProto`` around ``graph``: the opsets it imports (``ai.onnx.ml`` when the graph uses
    it), scratchnn as producer, the lowest IR version those opsets allow, and the model's metadata."""
    imports = [helper.make_opsetid("", opset)]
    if "ai.onnx.ml" in g.domains:
        imports.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    from .. import __version__

    proto = helper.make_model(
        graph,
        opset_imports=imports,
        producer_name="scratchnn",
        producer_version=__version__,
        ir_version=helper.find_min_ir_version_for(imports),
    )
    helper.set_model_props(proto, _props(parts))
    return proto


#: The layer types whose outputs depend on the sequences' real lengths (``set_lengths``).
_READ_LENGTHS = {"RNN", "LSTM", "GRU", "MultiHeadAttention", "LastStep", "MeanOverTime"}


def _refuse_lengths(network) -> None:
    """``UnsupportedLayerError`` naming the first layer that reads lengths (or the network, if none does)."""
    pending = [(str(i), layer) for i, layer in enumerate(network.layers)]
    while pending:
        path, layer = pending.pop(0)
        kind = type(layer).__name__
        if kind in _READ_LENGTHS:
            raise UnsupportedLayerError(
                f"cannot export layer {path} ({kind}) to ONNX with variable lengths: the exported graph "
                "assumes full-length sequences (it has no lengths input); export without lengths and "
                "feed sequences of one length at a time"
            )
        if kind == "Sequential":
            pending[:0] = [(f"{path}.{i}", child) for i, child in enumerate(layer.layers)]
        elif kind == "Residual":
            pending.insert(0, (f"{path}.block", layer.block))
        elif kind == "GPT":
            pending.insert(0, (f"{path}.blocks", layer.blocks))
    raise UnsupportedLayerError("lengths=True: no layer of this network reads sequence lengths")


def _import_onnx():
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError(
            "exporting to ONNX needs the onnx package: pip install 'scratchnn[export]'"
        ) from None
    return onnx, helper


def _newest_opset() -> int:
    import onnx.defs

    return onnx.defs.onnx_opset_version()


def _tensor_type(dtype) -> int:
    from onnx import TensorProto, helper

    if np.dtype(dtype).kind == "U":
        return TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# -- inputs and preprocessing ---------------------------------------------------------------


def _inputs(parts: ModelParts, g: Graph, helper) -> tuple[list, str]:
    """The graph's inputs, and the name of the network's input computed from them."""
    net, plan, scaler = parts.network, parts.plan, parts.scaler
    sequence = sequence_input(net)
    if sequence is not None:  # (N, T) int64 ids or (N, T, F) floats, N and T dynamic
        if plan is not None or scaler is not None:
            raise ValueError(
                "cannot export a sequence model with a feature scaler or column plan to ONNX: "
                "only row models carry preprocessing"
            )
        ids, width = sequence
        kind = _tensor_type(np.int64) if ids else _tensor_type(g.dtype)
        dims = ["N", "T"] if ids else ["N", "T", width]
        g.shape_of["features"] = None  # T is known only when the graph runs
        return [helper.make_tensor_value_info("features", kind, dims)], "features"
    if plan is None and scaler is None:  # a bare network: its input as it takes it
        shape = net.input_shape
        dims = ["N", *(shape if shape is not None else ["F"])]
        g.shape_of["features"] = shape
        return [helper.make_tensor_value_info("features", _tensor_type(g.dtype), dims)], "features"
    numbers, inputs, x = _numeric_names(parts), [], None
    if numbers:  # (a table of text columns only has no numbers)
        inputs.append(helper.make_tensor_value_info("features", _tensor_type(g.dtype), ["N", len(numbers)]))
        x = "features" if g.dtype == np.float64 else g.op("Cast", ["features"], "features.float64", to=_f64())
    if plan is not None:
        texts = plan.text_columns
        if texts:
            inputs.append(helper.make_tensor_value_info("text", _tensor_type(np.str_), ["N", len(texts)]))
        x = _apply_plan(plan, g, x)
    if scaler is not None:  # (x - mean) / scale, in float64 as data.Scaler.transform
        x = g.op("Sub", [x, g.const("scaler.mean", scaler.mean, dtype=np.float64)], "scaler.centred")
        x = g.op("Div", [x, g.const("scaler.scale", scaler.scale, dtype=np.float64)], "scaler.scaled")
    if g.dtype != np.float64:
        x = g.op("Cast", [x], "network_input", to=_tensor_type(g.dtype))
    g.shape_of[x] = net.input_shape
    return inputs, x


#: Layers that keep their input's shape (any rank), skipped to find what a network's input is.
_KEEP_SHAPE = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity", "Dropout", "GELU", "LayerNorm"}
_SEQUENCE_WIDTH = {
    "RNN": "input_size",
    "LSTM": "input_size",
    "GRU": "input_size",
    "MultiHeadAttention": "embed_dim",
    "PositionalEmbedding": "dim",
}


def sequence_input(network) -> tuple[bool, int | str] | None:
    """What a sequence model takes: ``(True, "T")`` for int64 ids ``(N, T)`` (an ``Embedding`` first),
    ``(False, F)`` for ``(N, T, F)`` floats (``F`` a name when unknown); ``None`` for a row model.

    Decided by the first layer that fixes the input's rank, looking into ``Sequential`` and
    ``Residual`` blocks and past the layers that keep any shape (activations, Dropout, LayerNorm).
    """
    width: int | str = "F"
    pending = list(network.layers)
    while pending:
        layer = pending.pop(0)
        kind = type(layer).__name__
        if kind == "Sequential":
            pending[:0] = list(layer.layers)
        elif kind == "Residual":
            pending.insert(0, layer.block)
        elif kind in _KEEP_SHAPE:
            if kind == "LayerNorm":
                width = layer.normalized_shape
        elif kind in ("Embedding", "GPT"):
            return True, "T"
        elif kind in _SEQUENCE_WIDTH:
            return False, getattr(layer, _SEQUENCE_WIDTH[kind])
        elif kind in ("LastStep", "MeanOverTime"):
            return False, width
        else:
            return None
    return None


def _f64() -> int:
    return _tensor_type(np.float64)


def _numeric_names(parts: ModelParts) -> list[str]:
    if parts.plan is not None:
        return [c["name"] for c in parts.plan.columns if c["kind"] == "number"]
    if parts.feature_names:
        return list(parts.feature_names)
    return [f"x{i}" for i in range(parts.network.n_features)]


def _apply_plan(plan, g: Graph, x: str | None) -> str:
    """The column plan's output ``(N, F_out)`` float64 from the numbers ``x`` and the strings ``text``."""
    numbers = [c for c in plan.columns if c["kind"] == "number"]
    fills = [np.nan if c["fill"] is None else c["fill"] for c in numbers]
    if numbers and not np.all(np.isnan(fills)):  # empty cells (NaN) take the training fill value
        empty = g.op("IsNaN", [x], "plan.empty")
        x = g.op("Where", [empty, g.const("plan.fill", fills, dtype=np.float64), x], "plan.filled")
    if not plan.text_columns:
        return x
    axes = g.const("plan.axes", [1], dtype=np.int64)
    pieces, start, n_text = [], 0, 0
    for kind, run in itertools.groupby(plan.columns, key=lambda c: c["kind"]):
        run = list(run)
        if kind == "number":  # consecutive numeric columns: one slice of the filled numbers
            lo = g.const("plan.start", [start], dtype=np.int64)
            hi = g.const("plan.end", [start + len(run)], dtype=np.int64)
            pieces.append(g.op("Slice", [x, lo, hi, axes], "plan.numbers"))
            start += len(run)
            continue
        for c in run:
            pieces.append(_one_hot(c, g, n_text, axes))
            n_text += 1
    return g.op("Concat", pieces, "plan.columns", axis=1)


def _one_hot(c: dict, g: Graph, k: int, axes: str) -> str:
    """Text column ``k`` of ``text`` as ``len(categories)`` columns of 0/1 (float64)."""
    name, cats = c["name"], c["categories"]
    lo = g.const(f"plan.{name}.start", [k], dtype=np.int64)
    hi = g.const(f"plan.{name}.end", [k + 1], dtype=np.int64)
    cells = g.op("Slice", ["text", lo, hi, axes], f"plan.{name}.cells")  # (N, 1) strings
    keys, values = list(cats), list(range(len(cats)))
    if c["fill"] is not None:  # an empty cell is the most frequent category
        keys.append("")
        values.append(cats.index(c["fill"]))
    codes = g.op(
        "LabelEncoder",
        [cells],
        f"plan.{name}.code",
        domain="ai.onnx.ml",
        keys_strings=keys,
        values_int64s=values,
        default_int64=-1,  # unseen: no category
    )
    arange = g.const(f"plan.{name}.categories", np.arange(len(cats)), dtype=np.int64)
    hot = g.op("Equal", [codes, arange], f"plan.{name}.equal")  # (N, 1) == (K,) -> (N, K)
    return g.op("Cast", [hot], f"plan.{name}.one_hot", to=_f64())


# -- outputs -------------------------------------------------------------------------------


def _outputs(parts: ModelParts, g: Graph, y: str, helper) -> list:
    task, net = parts.task, parts.network
    n_out = net.n_outputs if net.n_outputs is not None else "C"
    float_type, int64 = _tensor_type(g.dtype), _tensor_type(np.int64)
    per_step = _outputs_per_step(net)
    if per_step is not None:  # a sequence model's outputs (N, T, C), one per step
        n_out = per_step
    rows = ["N", "T"] if per_step is not None else ["N"]
    if TASKS[task].exclusive:
        # the first of equal maxima, as np.argmax, over the last axis: (N, C) -> (N,), (N, T, C) -> (N, T)
        label = g.op("ArgMax", [y], "label", axis=-1, keepdims=0)
        proba = g.op("Softmax", [y], "probabilities", axis=-1)
        return [
            helper.make_tensor_value_info(label, int64, rows),
            helper.make_tensor_value_info(proba, float_type, [*rows, n_out]),
        ]
    if not TASKS[task].numeric:  # multilabel: k yes/no columns
        positive = g.op("Greater", [y, g.const("zero", 0.0)], "positive")
        label = g.op("Cast", [positive], "label", to=int64)
        proba = g.op("Sigmoid", [y], "probabilities")
        return [
            helper.make_tensor_value_info(label, int64, [*rows, n_out]),
            helper.make_tensor_value_info(proba, float_type, [*rows, n_out]),
        ]
    if net.loss.link == "log":  # a log-mean (PoissonLoss): the prediction is exp(outputs)
        y = g.op("Exp", [y], "output.mean")
    ts = parts.target_scaler
    if ts is None:
        out = g.op("Identity", [y], "prediction")
        return [helper.make_tensor_value_info(out, float_type, [*rows, n_out])]
    # z * scale + mean, in float64 as TargetScaler.inverse_transform
    z = y if g.dtype == np.float64 else g.op("Cast", [y], "output.float64", to=_f64())
    z = g.op("Mul", [z, g.const("target.scale", ts.scale, dtype=np.float64)], "target.scaled")
    if ts.ndim == 1:
        z = g.op("Add", [z, g.const("target.mean", ts.mean, dtype=np.float64)], "target.units")
        shape = g.const("target.shape", [-1], dtype=np.int64)
        out = g.op("Reshape", [z, shape], "prediction")
        return [helper.make_tensor_value_info(out, _f64(), ["N"])]
    out = g.op("Add", [z, g.const("target.mean", ts.mean, dtype=np.float64)], "prediction")
    return [helper.make_tensor_value_info(out, _f64(), ["N", n_out])]


def _outputs_per_step(network) -> int | None:
    """For a sequence model whose outputs are ``(N, T, C)``, ``C``; ``None`` otherwise.

    Found by running the network on one sequence of one step (of id 0 for an ``Embedding``)."""
    sequence = sequence_input(network)
    if sequence is None:
        return None
    ids, width = sequence
    if not ids and not isinstance(width, int):
        return None
    x = np.zeros((1, 1), dtype=np.int64) if ids else np.zeros((1, 1, width), dtype=network.dtype)
    out = network.forward(x)
    return out.shape[2] if out.ndim == 3 else None


def _props(parts: ModelParts) -> dict[str, str]:
    props = {"scratchnn.task": parts.task}
    if parts.label_names is not None:
        props["scratchnn.label_names"] = json.dumps(parts.label_names)
    if parts.plan is not None or parts.scaler is not None:
        props["scratchnn.features"] = json.dumps(_numeric_names(parts))
    if parts.plan is not None and parts.plan.text_columns:
        props["scratchnn.text"] = json.dumps(parts.plan.text_columns)
    return props


def _describe(parts: ModelParts, dtype) -> str:
    names = {"classification": "a classifier", "multilabel": "a multilabel network"}
    what = names.get(parts.task, "a regressor")
    return f"scratchnn: {what} of {len(parts.network.layers)} layers, computing in {np.dtype(dtype).name}"
