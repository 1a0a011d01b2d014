"""ONNX export: the graph that ``to_onnx`` writes, read back from the file and run by ONNX Runtime,
gives scratchnn's answers on 1,000 rows: within 1e-5 in float32, 1e-12 in float64, labels identical.

Networks built in Python here (every layer type, each activation; a small sequence model for each
sequence layer type, on 1,000 sequences); models trained through the
command line (a regressor with its target scaler, a table with scaled, imputed and one-hot columns)
in ``test_export_cli.py``. ``onnx`` and ``onnxruntime`` are test dependencies: never skipped.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from scratchnn.export import ONNX_LAYERS, OPSET, TORCH_LAYERS, UnsupportedLayerError, to_onnx
from scratchnn.layers import (
    GELU,
    GPT,
    GRU,
    LAYERS,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    LastStep,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MeanOverTime,
    MultiHeadAttention,
    PositionalEmbedding,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
)
from scratchnn.losses import BCEWithLogitsLoss, MeanSquaredError, PoissonLoss, SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

N_ROWS = 1000
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.2),
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}


def session(path) -> ort.InferenceSession:
    """The exported file checked by onnx's checker, then loaded by ONNX Runtime."""
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def trained_batch_norm(layer, rng) -> None:
    """Running statistics and affine parameters away from their starting 0, 1, 1, 0."""
    layer.running_mean[...] = rng.standard_normal(layer.size)
    layer.running_var[...] = rng.uniform(0.5, 2.0, layer.size)
    layer.gamma[...] = rng.uniform(0.5, 1.5, layer.size)
    layer.beta[...] = rng.standard_normal(layer.size)


def mlp(activation: str, dtype, rng) -> NeuralNetwork:
    act = ACTIVATIONS[activation]
    layers = [
        Dense(12, 32, seed=rng, dtype=dtype),
        BatchNorm1d(32, dtype=dtype),
        act(),
        Dropout(0.3, seed=rng),
        Dense(32, 16, seed=rng, dtype=dtype),
        act(),
        Dense(16, 5, seed=rng, dtype=dtype),
    ]
    trained_batch_norm(layers[1], rng)
    return NeuralNetwork(layers, SoftmaxCrossEntropy())


def cnn(dtype, rng) -> NeuralNetwork:
    """Every image layer: convolutions ('same' with an even kernel, strided, padded), BatchNorm2d,
    max pooling, overlapping average pooling, then both ways back to rows."""
    layers = [
        Reshape((2, 10, 10)),
        Conv2D(2, 6, 4, padding="same", seed=rng, dtype=dtype),
        BatchNorm2d(6, dtype=dtype),
        ReLU(),
        MaxPool2D(2),
        Conv2D(6, 8, 3, stride=2, padding=1, seed=rng, dtype=dtype),
        BatchNorm2d(8, dtype=dtype),
        Tanh(),
        AvgPool2D(2, stride=1),
        Conv2D(8, 8, 1, seed=rng, dtype=dtype),
        GlobalAvgPool2D(),
        Dense(8, 4, seed=rng, dtype=dtype),
    ]
    trained_batch_norm(layers[2], rng)
    trained_batch_norm(layers[6], rng)
    return NeuralNetwork(layers, SoftmaxCrossEntropy())


def residual_mlp(dtype, rng) -> NeuralNetwork:
    block = Sequential([Dense(16, 16, seed=rng, dtype=dtype), BatchNorm1d(16, dtype=dtype), ReLU()])
    trained_batch_norm(block.layers[1], rng)
    inner = Residual(
        Sequential([Dense(16, 16, seed=rng, dtype=dtype), Tanh(), Dense(16, 16, seed=rng, dtype=dtype)])
    )
    layers = [
        Dense(12, 16, seed=rng, dtype=dtype),
        Residual(Sequential([block, inner])),
        Dense(16, 5, seed=rng, dtype=dtype),
    ]
    return NeuralNetwork(layers, SoftmaxCrossEntropy())


def residual_cnn(dtype, rng) -> NeuralNetwork:
    block = Sequential(
        [Conv2D(4, 4, 3, padding=1, seed=rng, dtype=dtype), BatchNorm2d(4, dtype=dtype), ReLU()]
    )
    trained_batch_norm(block.layers[1], rng)
    layers = [
        Reshape((1, 8, 8)),
        Conv2D(1, 4, 3, padding="same", seed=rng, dtype=dtype),
        Residual(block),
        MaxPool2D(2),
        Flatten(),
        Dense(64, 3, seed=rng, dtype=dtype),
    ]
    return NeuralNetwork(layers, SoftmaxCrossEntropy())


def assert_classifier_matches(network, path, dtype, x, feed=None) -> float:
    """ONNX Runtime's labels equal scratchnn's (on the network's input ``x``), its probabilities within
    the tolerance; the max difference. ``feed``: the graph's inputs, if not ``{"features": x}``."""
    labels, proba = session(path).run(["label", "probabilities"], feed or {"features": x})
    expected = network.predict_proba(x)
    assert labels.dtype == np.int64
    assert proba.dtype == dtype
    np.testing.assert_array_equal(labels, network.predict(x))
    diff = float(np.max(np.abs(proba - expected)))
    assert diff <= TOLERANCE[dtype], diff
    return diff


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_with_each_activation_runs_in_onnx_runtime_as_in_scratchnn(tmp_path, activation, dtype):
    rng = np.random.default_rng(0)
    network = mlp(activation, dtype, rng)
    to_onnx(network, tmp_path / "mlp.onnx")
    x = (rng.standard_normal((N_ROWS, 12)) * 2).astype(dtype)
    assert_classifier_matches(network, tmp_path / "mlp.onnx", dtype, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cnn_with_batch_norm_and_pooling_runs_in_onnx_runtime_as_in_scratchnn(tmp_path, dtype):
    rng = np.random.default_rng(1)
    network = cnn(dtype, rng)
    to_onnx(network, tmp_path / "cnn.onnx")
    x = rng.standard_normal((N_ROWS, 200)).astype(dtype)
    assert_classifier_matches(network, tmp_path / "cnn.onnx", dtype, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("build", [residual_mlp, residual_cnn], ids=["mlp", "cnn"])
def test_residual_networks_run_in_onnx_runtime_as_in_scratchnn(tmp_path, build, dtype):
    rng = np.random.default_rng(9)
    network = build(dtype, rng)
    proto = to_onnx(network, tmp_path / "res.onnx")
    assert "Add" in {node.op_type for node in proto.graph.node}  # x + block(x)
    x = rng.standard_normal((N_ROWS, network.n_features)).astype(dtype)
    assert_classifier_matches(network, tmp_path / "res.onnx", dtype, x)


def test_float32_graph_uses_the_standard_image_operators_and_float64_the_portable_ones(tmp_path):
    ops = {
        dtype: {node.op_type for node in to_onnx(cnn(dtype, np.random.default_rng(2))).graph.node}
        for dtype in DTYPES
    }
    assert {"Conv", "AveragePool", "MaxPool", "BatchNormalization", "ReduceMean"} <= ops[np.float32]
    # ONNX Runtime has no float64 Conv or AveragePool: im2col (Slice, Concat, MatMul) and a sum of slices
    assert not {"Conv", "AveragePool"} & ops[np.float64]
    assert {"Slice", "Concat", "MatMul", "Sum", "MaxPool"} <= ops[np.float64]


@pytest.mark.parametrize("opset", [OPSET, 18, 21])
def test_opsets_17_18_and_21_run(tmp_path, opset):
    rng = np.random.default_rng(3)
    network = cnn(np.float32, rng)
    proto = to_onnx(network, tmp_path / "cnn.onnx", opset=opset)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", opset)]
    x = rng.standard_normal((50, 200)).astype(np.float32)
    assert_classifier_matches(network, tmp_path / "cnn.onnx", np.float32, x)


def test_the_batch_size_is_dynamic_and_the_graph_is_described(tmp_path):
    network = mlp("relu", np.float32, np.random.default_rng(4))
    proto = to_onnx(network, tmp_path / "mlp.onnx")
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [proto.graph.input[0].name, dims[0].dim_param, dims[1].dim_value] == ["features", "N", 12]
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    assert {p.key: p.value for p in proto.metadata_props} == {"scratchnn.task": "classification"}
    s = session(tmp_path / "mlp.onnx")
    for n in (1, 7):
        labels, proba = s.run(None, {"features": np.zeros((n, 12), dtype=np.float32)})
        assert labels.shape == (n,)
        assert proba.shape == (n, 5)


def test_a_float32_network_exports_as_float64_with_its_weights_cast(tmp_path):
    rng = np.random.default_rng(5)
    network = mlp("tanh", np.float32, rng)
    to_onnx(network, tmp_path / "mlp64.onnx", dtype=np.float64)
    x = rng.standard_normal((N_ROWS, 12))
    _labels, proba = session(tmp_path / "mlp64.onnx").run(None, {"features": x})
    assert proba.dtype == np.float64
    # the float64 graph computes the float32 weights exactly, so it differs from float32 arithmetic only
    np.testing.assert_allclose(proba, network.predict_proba(x), atol=1e-5)


def test_multilabel_and_bare_regression_networks_give_their_outputs(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N_ROWS, 4))
    multi = NeuralNetwork([Dense(4, 3, seed=rng, dtype=np.float64)], BCEWithLogitsLoss())
    to_onnx(multi, tmp_path / "multi.onnx")
    labels, proba = session(tmp_path / "multi.onnx").run(["label", "probabilities"], {"features": x})
    np.testing.assert_array_equal(labels, multi.predict(x))
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-multi.forward(x))), rtol=0, atol=1e-12)
    reg = NeuralNetwork(
        [Dense(4, 8, seed=rng, dtype=np.float64), Tanh(), Dense(8, 2, seed=rng)], MeanSquaredError()
    )
    to_onnx(reg, tmp_path / "reg.onnx")
    (prediction,) = session(tmp_path / "reg.onnx").run(None, {"features": x})
    np.testing.assert_allclose(prediction, reg.predict(x), rtol=0, atol=1e-12)


def test_a_poisson_network_predicts_the_mean_its_outputs_are_the_log_of(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N_ROWS, 4))
    net = NeuralNetwork(
        [Dense(4, 8, seed=rng, dtype=np.float64), Tanh(), Dense(8, 1, seed=rng)], PoissonLoss()
    )
    to_onnx(net, tmp_path / "counts.onnx")
    (prediction,) = session(tmp_path / "counts.onnx").run(None, {"features": x})
    np.testing.assert_allclose(prediction, net.predict(x), rtol=1e-12, atol=0)
    np.testing.assert_allclose(prediction, np.exp(net.forward(x)), rtol=1e-12, atol=0)


def test_every_layer_type_of_the_library_has_an_onnx_and_a_pytorch_mapping():
    kinds = {*LAYERS, "Sequential", "Residual"}
    assert kinds - set(ONNX_LAYERS) == set()
    assert kinds - set(TORCH_LAYERS) == set()


class Shift(Layer):
    """A layer scratchnn.export has never heard of."""

    def forward(self, x, training=False):
        return x + 1.0


def test_a_layer_with_no_mapping_is_one_error_naming_it(tmp_path):
    rng = np.random.default_rng(7)
    network = NeuralNetwork(
        [Dense(4, 4, seed=rng), ReLU(), Flatten(), Shift(), Dense(4, 2, seed=rng)], SoftmaxCrossEntropy()
    )
    with pytest.raises(UnsupportedLayerError) as info:
        to_onnx(network, tmp_path / "never.onnx")
    message = str(info.value)
    assert message.startswith("cannot export layer 3 (Shift) to ONNX: ")
    assert "\n" not in message
    assert "Dense" in message
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "never.onnx").exists()


def test_bad_opset_and_dtype_are_refused_by_name():
    network = mlp("relu", np.float32, np.random.default_rng(8))
    with pytest.raises(ValueError, match="opset must be an int from 17"):
        to_onnx(network, opset=13)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        to_onnx(network, dtype=np.int32)
    with pytest.raises(TypeError, match="model to export must be"):
        to_onnx([Dense(2, 2)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("order", ["mixed", "text-only"])
def test_column_plan_in_any_order_runs_as_in_scratchnn(tmp_path, order, dtype):
    """Numbers and text columns interleaved (or text only), built in Python as (network, metadata)."""
    from scratchnn.data import Scaler
    from scratchnn.data.columns import ColumnPlan
    from scratchnn.data.sources import Dataset

    rng = np.random.default_rng(10)
    colour = {"name": "colour", "kind": "category", "categories": ["blue", "red"], "fill": "red"}
    size = {"name": "size", "kind": "category", "categories": ["L", "M", "S"], "fill": None}
    columns = [colour, size]
    if order == "mixed":
        columns = [
            {"name": "a", "kind": "number", "fill": 0.5},
            colour,
            {"name": "b", "kind": "number", "fill": None},
            {"name": "c", "kind": "number", "fill": -2.0},
            size,
        ]
    plan = ColumnPlan(columns, impute="mean")
    n_in = plan.n_outputs
    scaler = Scaler(rng.standard_normal(n_in), rng.uniform(0.5, 2, n_in))
    network = NeuralNetwork(
        [Dense(n_in, 8, seed=rng, dtype=dtype), Tanh(), Dense(8, 3, seed=rng, dtype=dtype)],
        SoftmaxCrossEntropy(),
    )
    meta = {"scaler": scaler.to_dict(), "columns": plan.to_dict(), "label_names": ["x", "y", "z"]}
    to_onnx((network, meta), tmp_path / "plan.onnx")
    numbers = [c["name"] for c in columns if c["kind"] == "number"]
    x_num = rng.standard_normal((N_ROWS, len(numbers)))
    x_num[rng.random(x_num.shape) < 0.1] = np.nan
    if numbers:  # b has no fill value: scratchnn refuses its empty cells, so it has none here
        x_num[:, numbers.index("b")] = rng.standard_normal(N_ROWS)
    text = {"colour": rng.choice(["blue", "red", ""], N_ROWS), "size": rng.choice(["L", "M", "S"], N_ROWS)}
    full = np.full((N_ROWS, len(columns)), np.nan)
    for j, c in enumerate(columns):
        if c["kind"] == "number":
            full[:, j] = x_num[:, numbers.index(c["name"])]
    ds = Dataset("rows", full, np.zeros(N_ROWS), [c["name"] for c in columns], "label", text=text)
    x = scaler.transform(plan.transform(ds)).astype(dtype)
    feed = {"text": np.stack([text["colour"], text["size"]], axis=1).astype(object)}
    if numbers:
        feed["features"] = x_num.astype(dtype)
    assert_classifier_matches(network, tmp_path / "plan.onnx", dtype, x, feed)


def test_a_predictor_exports_as_its_network_and_metadata(tmp_path):
    """Anything holding ``network`` and ``metadata`` (``scratchnn.predictor.Predictor`` does) exports
    the preprocessing its metadata records, as the ``(network, metadata)`` pair would."""
    from types import SimpleNamespace

    from scratchnn.data import Scaler

    rng = np.random.default_rng(11)
    network = mlp("relu", np.float64, rng)
    meta = {
        "scaler": Scaler(rng.standard_normal(12), rng.uniform(0.5, 2, 12)).to_dict(),
        "label_names": list("abcde"),
    }
    predictor = SimpleNamespace(network=network, metadata=meta)
    a, b = to_onnx(predictor), to_onnx((network, meta))
    assert a.SerializeToString() == b.SerializeToString()
    assert {"Sub", "Div"} <= {node.op_type for node in a.graph.node}


# -- sequence models ----------------------------------------------------------------------------

VOCAB, STEPS, WIDTH, CLASSES = 13, 7, 4, 3


def randomised(network: NeuralNetwork, rng) -> NeuralNetwork:
    """Every parameter drawn afresh (biases and LayerNorm's weight and bias included), so that no
    mapping can be right by a parameter's starting 0 or 1."""
    for p in network.parameters():
        p[...] = rng.normal(0.0, 0.6, p.shape)
    return network


def _sequence_layers(kind: str, dtype, rng) -> list:
    """A small model around one sequence layer type, ending in CLASSES logits per sequence."""
    kw = {"seed": rng, "dtype": dtype}
    head = [Dense(6, CLASSES, **kw)]
    if kind == "Embedding":
        return [Embedding(VOCAB, 6, padding_idx=0, **kw), MeanOverTime(), *head]
    if kind == "PositionalEmbedding":  # T up to 12: the graph slices the positions it needs
        return [PositionalEmbedding(12, WIDTH, **kw), LastStep(), Dense(WIDTH, CLASSES, **kw)]
    if kind in ("LayerNorm", "LayerNorm-nobias"):
        norm = LayerNorm(WIDTH, eps=1e-3, bias=kind == "LayerNorm", dtype=dtype)
        return [norm, MeanOverTime(), Dense(WIDTH, CLASSES, **kw)]
    if kind.startswith("GELU"):  # (inputs scaled by 3: every range of Cody's erf is reached)
        gelu = GELU(kind.split("-")[1])
        return [PositionalEmbedding(12, WIDTH, **kw), gelu, MeanOverTime(), Dense(WIDTH, CLASSES, **kw)]
    if kind.startswith("MultiHeadAttention"):
        _, heads, setting = kind.split("-")
        attn = MultiHeadAttention(
            WIDTH, int(heads), causal=setting == "causal", bias=setting != "nobias", **kw
        )
        return [attn, LastStep(), Dense(WIDTH, CLASSES, **kw)]
    if kind.startswith(("RNN", "LSTM", "GRU")):
        name, *options = kind.split("-")
        cls = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[name]
        extra = {"nonlinearity": options[0]} if name == "RNN" else {}
        if options[-1] == "last":
            return [cls(WIDTH, 6, return_sequences=False, **extra, **kw), *head]
        return [cls(WIDTH, 6, **extra, **kw), MeanOverTime() if name == "GRU" else LastStep(), *head]
    raise AssertionError(kind)


#: one small model per sequence layer type and setting; "transformer": all of them in one block
SEQUENCE_MODELS = [
    "Embedding",
    "PositionalEmbedding",
    "LayerNorm",
    "LayerNorm-nobias",
    "GELU-none",
    "GELU-tanh",
    "MultiHeadAttention-1-plain",
    "MultiHeadAttention-2-causal",
    "MultiHeadAttention-4-plain",
    "MultiHeadAttention-2-nobias",
    "RNN-tanh-seq",
    "RNN-relu-last",
    "LSTM-seq",
    "LSTM-last",
    "GRU-seq",
    "GRU-last",
    "transformer",
    "GPT",
    "GPT-dropout-nobias",
]


def transformer_layers(dtype, rng) -> list:
    """An Embedding-first pre-LayerNorm Transformer block (causal attention, GELU MLP), pooled."""
    kw = {"seed": rng, "dtype": dtype}
    e = 8
    return [
        Embedding(VOCAB, e, padding_idx=0, **kw),
        PositionalEmbedding(12, e, **kw),
        Residual(Sequential([LayerNorm(e, dtype=dtype), MultiHeadAttention(e, 2, causal=True, **kw)])),
        Residual(Sequential([LayerNorm(e, dtype=dtype), Dense(e, 16, **kw), GELU(), Dense(16, e, **kw)])),
        LayerNorm(e, dtype=dtype),
        LSTM(e, 6, return_sequences=False, **kw),
        Dense(6, CLASSES, **kw),
    ]


#: a tiny GPT: T up to block_size = 12, two blocks of two heads
GPT_BLOCK_SIZE = 12


def tiny_gpt(kind: str, dtype, rng) -> GPT:
    """``GPT`` (biases everywhere) or ``GPT-dropout-nobias`` (nanoGPT's training setting: dropout in
    every branch, no LayerNorm or attention biases), over VOCAB ids."""
    plain = kind == "GPT"
    return GPT(
        VOCAB,
        GPT_BLOCK_SIZE,
        n_layer=2,
        n_head=2,
        n_embd=8,
        dropout=0.0 if plain else 0.1,
        bias=plain,
        seed=rng,
        dtype=dtype,
    )


def sequence_model(kind: str, dtype, rng) -> NeuralNetwork:
    if kind == "transformer":
        layers = transformer_layers(dtype, rng)
    elif kind.startswith("GPT"):
        layers = [tiny_gpt(kind, dtype, rng)]
    else:
        layers = _sequence_layers(kind, dtype, rng)
    return randomised(NeuralNetwork(layers, SoftmaxCrossEntropy()), rng)


def sequence_input(kind: str, dtype, rng, n: int = N_ROWS, steps: int = STEPS) -> np.ndarray:
    """``(n, steps)`` int64 ids for an Embedding-first model, else ``(n, steps, WIDTH)`` floats."""
    if kind in ("Embedding", "transformer") or kind.startswith("GPT"):
        return rng.integers(0, VOCAB, (n, steps)).astype(np.int64)
    scale = 3.0 if kind.startswith("GELU") else 1.0
    return (scale * rng.standard_normal((n, steps, WIDTH))).astype(dtype)


def softmax_last(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, as the graph's ``probabilities`` (per step for (N, T, C) logits)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def assert_sequence_model_matches(network, path, dtype, x) -> float:
    """As ``assert_classifier_matches`` for a sequence model (whose ``predict_proba`` takes rows)."""
    labels, proba = session(path).run(["label", "probabilities"], {"features": x})
    logits = network.forward(x)
    assert labels.dtype == np.int64
    assert proba.dtype == dtype
    np.testing.assert_array_equal(labels, np.argmax(logits, axis=-1))
    diff = float(np.max(np.abs(proba - softmax_last(logits))))
    assert diff <= TOLERANCE[dtype], diff
    return diff


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_each_sequence_layer_runs_in_onnx_runtime_as_in_scratchnn(tmp_path, kind, dtype):
    rng = np.random.default_rng(12)
    network = sequence_model(kind, dtype, rng)
    proto = to_onnx(network, tmp_path / "seq.onnx")
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    ids = kind in ("Embedding", "transformer") or kind.startswith("GPT")
    assert dims == (["N", "T"] if ids else ["N", "T", WIDTH])
    x = sequence_input(kind, dtype, rng)
    assert_sequence_model_matches(network, tmp_path / "seq.onnx", dtype, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_the_sequence_length_is_dynamic_too(tmp_path, dtype):
    rng = np.random.default_rng(13)
    network = sequence_model("transformer", dtype, rng)
    to_onnx(network, tmp_path / "t.onnx")
    for steps in (1, 5, 12):  # up to PositionalEmbedding's max_length
        x = sequence_input("transformer", dtype, rng, n=64, steps=steps)
        assert_sequence_model_matches(network, tmp_path / "t.onnx", dtype, x)


def test_recurrent_layers_use_the_onnx_operators_in_float32_and_a_scan_in_float64():
    """ONNX Runtime runs RNN, LSTM and GRU in float32 only: float64 graphs loop with Scan."""
    rng = np.random.default_rng(14)
    for kind in ("RNN-tanh-seq", "LSTM-last", "GRU-seq"):
        ops = {
            dtype: {n.op_type for n in to_onnx(sequence_model(kind, dtype, rng)).graph.node}
            for dtype in DTYPES
        }
        assert kind.split("-")[0] in ops[np.float32]
        assert "Scan" in ops[np.float64]
        assert "Scan" not in ops[np.float32]
    gelu = {
        dtype: {n.op_type for n in to_onnx(sequence_model("GELU-none", dtype, rng)).graph.node}
        for dtype in DTYPES
    }
    assert "Erf" in gelu[np.float32]
    assert "Erf" not in gelu[np.float64]  # no float64 Erf kernel: Cody's rational approximation


@pytest.mark.parametrize("opset", [18, 21])
def test_per_step_outputs_are_labelled_on_the_last_axis_at_later_opsets(tmp_path, opset):
    """A language model's logits (N, T, C) give labels (N, T) and probabilities (N, T, C)."""
    rng = np.random.default_rng(15)
    layers = [*transformer_layers(np.float64, rng)[:5], Dense(8, VOCAB, seed=rng, dtype=np.float64)]
    network = randomised(NeuralNetwork(layers, SoftmaxCrossEntropy()), rng)
    proto = to_onnx(network, tmp_path / "lm.onnx", opset=opset)
    shapes = [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output]
    assert shapes == [["N", "T"], ["N", "T", VOCAB]]
    x = sequence_input("transformer", np.float64, rng, n=200)
    assert_sequence_model_matches(network, tmp_path / "lm.onnx", np.float64, x)


def test_variable_lengths_are_refused_at_export_naming_the_layer(tmp_path):
    """The graph has no lengths input: asking for one is one error naming the first layer needing it."""
    rng = np.random.default_rng(16)
    network = sequence_model("transformer", np.float32, rng)
    with pytest.raises(UnsupportedLayerError) as info:
        to_onnx(network, tmp_path / "never.onnx", lengths=True)
    message = str(info.value)
    assert message.startswith(
        "cannot export layer 2.block.1 (MultiHeadAttention) to ONNX with variable lengths: "
    )
    assert "assumes full-length sequences" in message
    assert "\n" not in message
    assert not (tmp_path / "never.onnx").exists()
    with pytest.raises(UnsupportedLayerError, match="no layer of this network reads sequence lengths"):
        to_onnx(mlp("relu", np.float32, rng), lengths=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_gpt_runs_in_onnx_runtime_as_in_scratchnn_for_any_n_and_t_up_to_block_size(tmp_path, dtype):
    rng = np.random.default_rng(17)
    network = sequence_model("GPT", dtype, rng)
    to_onnx(network, tmp_path / "gpt.onnx")
    diffs = []
    for n, steps in ((N_ROWS, GPT_BLOCK_SIZE), (1, 1), (64, 5), (3, GPT_BLOCK_SIZE)):
        x = sequence_input("GPT", dtype, rng, n=n, steps=steps)
        diffs.append(assert_sequence_model_matches(network, tmp_path / "gpt.onnx", dtype, x))
    (proba,) = session(tmp_path / "gpt.onnx").run(["probabilities"], {"features": x})
    assert proba.shape == (3, GPT_BLOCK_SIZE, VOCAB)
    assert max(diffs) <= TOLERANCE[dtype]


def test_gpt_graph_holds_the_tied_weight_once_for_the_embedding_and_the_head():
    """The head is ``MatMul`` by the transposed token embedding: one initializer read by both."""
    rng = np.random.default_rng(18)
    network = sequence_model("GPT", np.float64, rng)
    graph = to_onnx(network).graph
    wte = network.layers[0].wte.weight
    tied = [i.name for i in graph.initializer if i.dims == list(wte.shape)]
    assert tied == ["0.wte.weight"]
    readers = sorted(n.op_type for n in graph.node if tied[0] in n.input)
    assert readers == ["Gather", "Transpose"]
    transposed = next(n.output[0] for n in graph.node if n.op_type == "Transpose" and tied[0] in n.input)
    head = [n for n in graph.node if transposed in n.input]
    assert [n.op_type for n in head] == ["MatMul"]


def test_gpt_with_variable_lengths_is_refused_naming_its_first_attention(tmp_path):
    network = sequence_model("GPT", np.float32, np.random.default_rng(19))
    with pytest.raises(UnsupportedLayerError, match=r"^cannot export layer 0\.blocks\.0\.block\.1 "):
        to_onnx(network, tmp_path / "never.onnx", lengths=True)
    assert not (tmp_path / "never.onnx").exists()
