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

from scratchnn.layers import ACTIVATIONS, LAYERS, Dense, Dropout, Identity, ReLU, Tanh, layer_from_config
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork, build_mlp

# kind -> (constructor config, per-sample input shape used to run it)
EXAMPLES = {
    "Dense": ({"in_features": 5, "out_features": 3, "init": "xavier", "dtype": "float64"}, (5,)),
    "ReLU": ({}, (4,)),
    "LeakyReLU": ({"negative_slope": 0.2}, (4,)),
    "Sigmoid": ({}, (4,)),
    "Tanh": ({}, (4,)),
    "Identity": ({}, (4,)),
    "Dropout": ({"rate": 0.25}, (4,)),
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
    x = np.random.default_rng(0).standard_normal((3, *in_shape))
    for training in (False, True):
        assert layer.forward(x, training=training).shape[1:] == layer.output_shape(in_shape)


def test_array_shapes_allocate_nothing_even_for_a_huge_claimed_layer():
    # 10^12 weights would be terabytes: only the shapes are computed
    assert Dense.array_shapes({"in_features": 10**6, "out_features": 10**6}) == [(10**6, 10**6), (10**6,)]


@pytest.mark.parametrize(
    ("kind", "config", "exc_type", "words"),
    [
        ("Conv9D", {}, ValueError, ["Conv9D", "Dense"]),
        ("Dense", [5, 3], TypeError, ["Dense", "[5, 3]"]),
        ("Dense", {"in_features": 5, "out_features": 0}, ValueError, ["out_features", "0"]),
        ("Dense", {"in_features": 5, "out_features": 3, "dtype": "int8"}, TypeError, ["dtype", "int8"]),
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
