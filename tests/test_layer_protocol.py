"""Every layer in the LAYERS table keeps the Layer protocol the rest of scratchnn builds on.

For each layer kind, an example constructor config: the layer rebuilt from its
``get_config()`` equals the original, ``array_shapes(config)`` gives exactly the
shapes of ``params`` then ``buffers`` (without building the layer), and
``output_shape`` agrees with the shape ``forward`` really returns.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn import build_mlp
from scratchnn.layers import (
    ACTIVATIONS,
    LAYERS,
    BatchNorm2d,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    MaxPool2D,
    ReLU,
    Reshape,
    Tanh,
    layer_from_config,
)
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

# kind -> (constructor config, per-sample input shape used to run it)
EXAMPLES = {
    "Dense": ({"in_features": 5, "out_features": 3, "init": "xavier", "dtype": "float64"}, (5,)),
    "ReLU": ({}, (4,)),
    "LeakyReLU": ({"negative_slope": 0.2}, (4,)),
    "Sigmoid": ({}, (4,)),
    "Tanh": ({}, (4,)),
    "Identity": ({}, (4,)),
    "Dropout": ({"rate": 0.25}, (4,)),
    "Conv2D": (
        {"in_channels": 2, "out_channels": 3, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0]},
        (2, 7, 6),
    ),
    "MaxPool2D": ({"kernel_size": 2}, (3, 7, 6)),
    "AvgPool2D": ({"kernel_size": [3, 2], "stride": 1}, (3, 7, 6)),
    "GlobalAvgPool2D": ({}, (3, 5, 4)),
    "BatchNorm1d": ({"num_features": 4, "momentum": 0.3, "eps": 1e-3, "dtype": "float64"}, (4,)),
    "BatchNorm2d": ({"num_channels": 3}, (3, 4, 5)),
    "Flatten": ({}, (3, 4, 5)),
    "Reshape": ({"shape": [2, 3, 2]}, (12,)),
    "Embedding": ({"num_embeddings": 7, "embedding_dim": 3, "padding_idx": 0}, (5,)),
    "PositionalEmbedding": ({"max_length": 6, "dim": 4, "dtype": "float64"}, (5, 4)),
    "LayerNorm": ({"normalized_shape": 4, "eps": 1e-6, "bias": False}, (5, 4)),
    "GELU": ({"approximate": "tanh"}, (5, 4)),
    "MultiHeadAttention": ({"embed_dim": 4, "num_heads": 2, "causal": True, "dropout": 0.1}, (5, 4)),
    "GPT": ({"vocab_size": 7, "block_size": 6, "n_layer": 2, "n_head": 2, "n_embd": 4, "bias": True}, (5,)),
    "Sequential": (
        {
            "layers": [
                {"type": "Dense", "config": {"in_features": 4, "out_features": 3}},
                {"type": "BatchNorm1d", "config": {"num_features": 3}},
                {"type": "ReLU", "config": {}},
            ]
        },
        (4,),
    ),
    "Residual": (
        {
            "block": {
                "type": "Sequential",
                "config": {
                    "layers": [
                        {"type": "Dense", "config": {"in_features": 4, "out_features": 4}},
                        {"type": "BatchNorm1d", "config": {"num_features": 4}},
                    ]
                },
            }
        },
        (4,),
    ),
    "RNN": ({"input_size": 3, "hidden_size": 4, "nonlinearity": "relu", "dtype": "float64"}, (5, 3)),
    "LSTM": ({"input_size": 3, "hidden_size": 4, "return_sequences": False}, (5, 3)),
    "GRU": ({"input_size": 3, "hidden_size": 2}, (1, 3)),
    "LastStep": ({}, (5, 3)),
    "MeanOverTime": ({}, (5, 3)),
}

# layers whose input is not real numbers: kind -> a batch of three samples of their per-sample shape
INPUTS = {
    "Embedding": lambda shape: np.random.default_rng(0).integers(0, 7, (3, *shape)),
    "GPT": lambda shape: np.random.default_rng(0).integers(0, 7, (3, *shape)),
}


def test_every_layer_kind_has_an_example():
    assert set(EXAMPLES) == set(LAYERS)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_layer_rebuilt_from_its_json_config_has_the_same_config(kind):
    config, _ = EXAMPLES[kind]
    layer = layer_from_config(kind, config)
    again = layer_from_config(kind, json.loads(json.dumps(layer.get_config())))
    assert type(again) is LAYERS[kind]
    assert again.get_config() == layer.get_config()


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_array_shapes_are_the_shapes_of_params_then_buffers(kind):
    config, _ = EXAMPLES[kind]
    layer = layer_from_config(kind, config)
    shapes = LAYERS[kind].array_shapes(layer.get_config())
    assert shapes == [a.shape for a in layer.params + layer.buffers]
    assert all(type(s) is tuple and all(type(d) is int for d in s) for s in shapes)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_output_shape_is_the_shape_forward_returns(kind):
    config, in_shape = EXAMPLES[kind]
    layer = layer_from_config(kind, config)
    x = INPUTS[kind](in_shape) if kind in INPUTS else np.random.default_rng(0).standard_normal((3, *in_shape))
    for training in (False, True):
        assert layer.forward(x, training=training).shape[1:] == layer.output_shape(in_shape)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_array_layout_names_and_shapes_every_array_as_named_arrays_does(kind):
    config, _ = EXAMPLES[kind]
    layer = layer_from_config(kind, config)
    layout = LAYERS[kind].array_layout(layer.get_config())
    named = layer.named_arrays()
    assert [name for name, _, _ in layout] == [name for name, _ in named]
    assert [shape for _, shape, _ in layout] == [a.shape for _, a in named]
    arrays = {name: array for name, array in named}
    params = [arrays[name] for name, _, is_buffer in layout if not is_buffer]
    buffers = [arrays[name] for name, _, is_buffer in layout if is_buffer]
    assert len(params) == len(layer.params)
    assert all(a is b for a, b in zip(params, layer.params))
    assert len(buffers) == len(layer.buffers)
    assert all(a is b for a, b in zip(buffers, layer.buffers))


def test_array_shapes_allocate_nothing_even_for_a_huge_claimed_layer():
    # 10^12 weights would be terabytes: only the shapes are computed
    assert Dense.array_shapes({"in_features": 10**6, "out_features": 10**6}) == [(10**6, 10**6), (10**6,)]
    big = {"in_channels": 10**4, "out_channels": 10**4, "kernel_size": 99}
    assert Conv2D.array_shapes(big) == [(10**4, 10**4, 99, 99), (10**4,)]
    assert BatchNorm2d.array_shapes({"num_channels": 10**12}) == [(10**12,)] * 4


@pytest.mark.parametrize(
    ("kind", "config", "exc_type", "words"),
    [
        ("Conv9D", {}, ValueError, ["Conv9D", "Dense"]),
        ("Dense", [5, 3], TypeError, ["Dense", "[5, 3]"]),
        ("Dense", {"in_features": 5, "out_features": 0}, ValueError, ["out_features", "0"]),
        ("Dense", {"in_features": 5, "out_features": 3, "dtype": "int8"}, TypeError, ["dtype", "int8"]),
        ("Conv2D", {"in_channels": 1, "out_channels": 2, "kernel_size": 0}, ValueError, ["kernel_size", "0"]),
        ("Conv2D", {"in_channels": 1, "out_channels": 2, "kernel_size": [3]}, TypeError, ["kernel_size"]),
        (
            "Conv2D",
            {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": "same"},
            ValueError,
            ["same", "stride"],
        ),
        (
            "Conv2D",
            {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": "full"},
            ValueError,
            ["full"],
        ),
        (
            "Conv2D",
            {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": -1},
            ValueError,
            ["-1"],
        ),
        ("MaxPool2D", {"kernel_size": 2, "stride": 0}, ValueError, ["stride", "0"]),
        ("BatchNorm2d", {"num_channels": 3, "momentum": 1.5}, ValueError, ["momentum", "1.5"]),
        ("BatchNorm1d", {"num_features": 3, "eps": 0}, ValueError, ["eps", "0"]),
        ("Reshape", {"shape": "1x8x8"}, TypeError, ["shape", "1x8x8"]),
        ("Reshape", {"shape": [1, 0, 8]}, ValueError, ["shape", "0"]),
    ],
)
def test_a_bad_layer_config_is_refused_with_a_message_naming_it(kind, config, exc_type, words):
    with pytest.raises(exc_type) as info:
        layer_from_config(kind, config)
    for word in words:
        assert word in str(info.value)


def test_the_network_takes_its_input_width_from_the_layer_that_fixes_it():
    net = NeuralNetwork([Dropout(0.1), Dense(7, 4), ReLU(), Dense(4, 2)], SoftmaxCrossEntropy())
    assert net.input_shape == (7,)
    assert net.n_features == 7
    assert net.n_outputs == 2
    free = NeuralNetwork([Tanh(), Identity()], SoftmaxCrossEntropy())
    assert free.n_features is None
    assert free.n_outputs is None


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_build_mlp_initialises_each_dense_layer_as_its_activation_asks(activation):
    net = build_mlp(6, (5, 4), 3, activation=activation, seed=0)
    wanted = ACTIVATIONS[activation].weight_init
    assert wanted in ("he", "xavier")
    assert [layer.init for layer in net.layers if isinstance(layer, Dense)] == [wanted] * 3


def test_relu_like_activations_want_he_and_the_others_xavier():
    assert {name: cls.weight_init for name, cls in ACTIVATIONS.items()} == {
        "relu": "he",
        "leaky_relu": "he",
        "sigmoid": "xavier",
        "tanh": "xavier",
        "identity": "xavier",
    }


def test_the_identity_activation_passes_values_and_gradients_through():
    x = np.random.default_rng(1).standard_normal((4, 3))
    layer = Identity()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)
    assert layer.backward(x, input_grad=False) is None
    net = build_mlp(3, 4, 2, activation="identity", seed=0, dtype=np.float64)
    # a network of Dense layers and identities is one affine map: f(a) + f(b) - f(0) = f(a + b)
    a, b, zero = x[:2], x[2:], np.zeros((2, 3))
    np.testing.assert_allclose(net.forward(a) + net.forward(b) - net.forward(zero), net.forward(a + b))


def test_a_cnn_checks_its_shapes_when_built_and_names_the_layer_that_does_not_fit():
    conv = [Reshape((1, 8, 8)), Conv2D(1, 4, 3, padding="same"), ReLU(), MaxPool2D(2)]
    net = NeuralNetwork([*conv, Flatten(), Dense(64, 10)], SoftmaxCrossEntropy())
    assert net.input_shape == (64,)
    assert net.n_features == 64
    assert net.n_outputs == 10
    with pytest.raises(ValueError, match=r"layers\[4\]: Dense .*in_features=60.*shape \(4, 4, 4\)"):
        NeuralNetwork([*conv, Dense(60, 10)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"layers\[1\]: Conv2D expects images \(3, H, W\).*\(1, 8, 8\)"):
        NeuralNetwork([Reshape((1, 8, 8)), Conv2D(3, 4, 3)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"layers\[1\]: Conv2D with kernel_size=\(9, 9\) does not fit.*8x8"):
        NeuralNetwork([Reshape((1, 8, 8)), Conv2D(1, 4, 9)], SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match=r"layers\[1\]: GlobalAvgPool2D expects images.*\(16,\)"):
        NeuralNetwork([Dense(4, 16), GlobalAvgPool2D()], SoftmaxCrossEntropy())


def test_evaluating_many_rows_in_chunks_gives_the_outputs_of_one_pass(monkeypatch):
    import scratchnn.network as network

    rng = np.random.default_rng(0)
    layers = [Reshape((1, 6, 6)), Conv2D(1, 3, 3, seed=rng, dtype=np.float64), ReLU()]
    layers += [GlobalAvgPool2D(), Dense(3, 2, seed=rng, dtype=np.float64)]
    x = rng.standard_normal((50, 36))
    whole = NeuralNetwork(layers, SoftmaxCrossEntropy()).forward(x)
    monkeypatch.setattr(network, "EVAL_BYTES_LIMIT", 16 * 8 * 3 * 4 * 4)  # 16 rows of the widest layer
    net = NeuralNetwork(layers, SoftmaxCrossEntropy())
    assert net.eval_rows == 16
    np.testing.assert_allclose(net.forward(x), whole, rtol=1e-13, atol=1e-15)
    net.compute_loss(net.forward(x), np.zeros(50, dtype=np.int64))
    with pytest.raises(RuntimeError, match="chunks"):
        net.backward()  # the layers saw only the last chunk
