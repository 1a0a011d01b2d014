"""Containers and layers on any rank, proved against PyTorch in float64 and by finite differences.

``Sequential`` and ``Residual``, nested, with Dense, Conv2D, BatchNorm and Dropout
inside, give torch's outputs, input gradients, parameter gradients and running
statistics within 1e-10, in training and in evaluation mode (Dropout with the
mask our layer drew, applied in torch as a multiplication: the two libraries'
random streams differ). Dense and the element-wise layers on sequences
``(N, T, F)`` equal ``torch.nn.Linear`` and torch's functions. Central
differences (``scratchnn.gradcheck``) check a residual MLP and a residual CNN.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchnn.gradcheck import check_gradients
from scratchnn.layers import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    LeakyReLU,
    ReLU,
    Reshape,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
    layer_from_config,
)
from scratchnn.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``a`` (copied, so torch never shares memory with scratchnn)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


# -- torch twins ------------------------------------------------------------------------------------


class TorchResidual(torch.nn.Module):
    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


class SharedMaskDropout(torch.nn.Module):
    """Our Dropout's mask, drawn by our forward pass, applied in torch (identity when there is none)."""

    def __init__(self, ours: Dropout) -> None:
        super().__init__()
        self.ours = ours

    def forward(self, x):
        mask = self.ours._mask
        return x if mask is None else x * t64(mask)


def twin(layer: Layer) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    """The torch module computing what ``layer`` does, and its tensors aligned with ``layer.params``."""
    nn, kw = torch.nn, {"dtype": torch.float64}
    if isinstance(layer, Sequential):
        parts = [twin(child) for child in layer.layers]
        return nn.Sequential(*(m for m, _ in parts)), [t for _, ts in parts for t in ts]
    if isinstance(layer, Residual):
        module, tensors = twin(layer.block)
        return TorchResidual(module), tensors
    if isinstance(layer, Dense):
        module = nn.Linear(layer.in_features, layer.out_features, **kw)
        with torch.no_grad():
            module.weight.copy_(t64(layer.W.T))  # nn.Linear stores W.T
            module.bias.copy_(t64(layer.b))
        return module, [module.weight, module.bias]
    if isinstance(layer, Conv2D):
        module = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, **kw)
        module.padding = layer.padding  # ints or a pair, as torch takes them
        with torch.no_grad():
            module.weight.copy_(t64(layer.W))
            module.bias.copy_(t64(layer.b))
        return module, [module.weight, module.bias]
    if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
        cls = nn.BatchNorm1d if isinstance(layer, BatchNorm1d) else nn.BatchNorm2d
        module = cls(layer.size, momentum=layer.momentum, eps=layer.eps, **kw)
        with torch.no_grad():
            module.weight.copy_(t64(layer.gamma))
            module.bias.copy_(t64(layer.beta))
            module.running_mean.copy_(t64(layer.running_mean))
            module.running_var.copy_(t64(layer.running_var))
        return module, [module.weight, module.bias]
    if isinstance(layer, Dropout):
        return SharedMaskDropout(layer), []
    simple = {ReLU: nn.ReLU, Tanh: nn.Tanh, Sigmoid: nn.Sigmoid, Flatten: nn.Flatten}
    if isinstance(layer, GlobalAvgPool2D):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), []
    if isinstance(layer, Reshape):
        return nn.Unflatten(1, layer.shape), []
    return simple[type(layer)](), []


def leaves(layer: Layer) -> list[Layer]:
    if isinstance(layer, Sequential):
        return [leaf for child in layer.layers for leaf in leaves(child)]
    if isinstance(layer, Residual):
        return leaves(layer.block)
    return [layer]


def torch_grad(ours: Layer, tensor: torch.Tensor, grad: np.ndarray) -> np.ndarray:
    """Our gradient laid out as torch's (Dense's W is the transpose of nn.Linear's weight)."""
    return grad.T if isinstance(ours, Dense) and grad.ndim == 2 else grad


def residual_mlp(seed: int = 0, act=ReLU) -> Sequential:
    rng = np.random.default_rng(seed)
    kw = {"seed": rng, "dtype": np.float64}
    return Sequential(
        [
            Dense(6, 8, **kw),
            act(),
            Residual(Sequential([Dense(8, 8, **kw), Tanh(), Dropout(0.25, seed=rng), Dense(8, 8, **kw)])),
            BatchNorm1d(8, dtype=np.float64),
            Residual(Sequential([Dense(8, 8, **kw), Residual(Sequential([Dense(8, 8, **kw), Sigmoid()]))])),
            Dense(8, 3, **kw),
        ]
    )


def residual_cnn(seed: int = 0, act=ReLU) -> Sequential:
    rng = np.random.default_rng(seed)
    kw = {"seed": rng, "dtype": np.float64}
    block = Sequential(
        [
            Conv2D(4, 4, 3, padding=1, **kw),
            BatchNorm2d(4, dtype=np.float64),
            act(),
            Dropout(0.2, seed=rng),
            Residual(Sequential([Conv2D(4, 4, 1, **kw), act()])),
        ]
    )
    return Sequential(
        [
            Reshape((2, 5, 5)),
            Conv2D(2, 4, 3, padding=1, **kw),
            Residual(block),
            GlobalAvgPool2D(),
            Dense(4, 3, **kw),
        ]
    )


def randomise_norms(model: Layer, rng) -> None:
    """BatchNorm with non-trivial gamma, beta and running statistics, so that each one matters."""
    for leaf in leaves(model):
        if isinstance(leaf, (BatchNorm1d, BatchNorm2d)):
            leaf.gamma[:] = rng.uniform(0.5, 1.5, leaf.size)
            leaf.beta[:] = rng.standard_normal(leaf.size)
            leaf.running_mean[:] = rng.standard_normal(leaf.size)
            leaf.running_var[:] = rng.uniform(0.5, 2.0, leaf.size)


def compare_with_torch(model: Sequential, x: np.ndarray, training: bool) -> None:
    rng = np.random.default_rng(7)
    randomise_norms(model, rng)
    module, tensors = twin(model)
    module.train(training)
    out = model.forward(x, training=training)
    g = rng.standard_normal(out.shape)
    g_before = g.copy()
    dx = model.backward(g)
    np.testing.assert_array_equal(g, g_before)  # backward never modifies grad_out

    xt = t64(x, True)
    yt = module(xt)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    owners = [leaf for leaf in leaves(model) for _ in leaf.params]
    assert len(model.grads) == len(tensors) == len(owners)
    for ours, grad, tensor in zip(owners, model.grads, tensors):
        close(torch_grad(ours, tensor, grad), tensor.grad.numpy())
    buffers = [b for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
               for b in (m.running_mean, m.running_var)]  # fmt: skip
    assert len(model.buffers) == len(buffers)
    for ours, theirs in zip(model.buffers, buffers):
        close(ours, theirs.numpy())


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_nested_residual_mlp_matches_torch_forward_and_backward(training):
    x = np.random.default_rng(1).standard_normal((9, 6))
    compare_with_torch(residual_mlp(), x, training)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_nested_residual_cnn_with_batchnorm_and_dropout_matches_torch(training):
    x = np.random.default_rng(2).standard_normal((5, 50))
    compare_with_torch(residual_cnn(), x, training)


def test_dropout_inside_a_residual_block_really_drops_in_training():
    model = residual_mlp()
    model.forward(np.random.default_rng(3).standard_normal((9, 6)), training=True)
    dropout = next(leaf for leaf in leaves(model) if isinstance(leaf, Dropout))
    assert dropout._mask is not None
    assert 0 < np.mean(dropout._mask == 0) < 1


# -- any rank: sequences (N, T, F) ----------------------------------------------------------------


def test_dense_on_sequences_matches_torch_linear():
    rng = np.random.default_rng(0)
    layer = Dense(7, 5, seed=rng, dtype=np.float64)
    layer.b[:] = rng.standard_normal(5)
    x = rng.standard_normal((4, 6, 7))
    g = rng.standard_normal((4, 6, 5))
    out = layer.forward(x)
    dx = layer.backward(g)

    xt, wt, bt = t64(x, True), t64(layer.W.T, True), t64(layer.b, True)
    yt = F.linear(xt, wt, bt)
    yt.backward(t64(g))
    assert out.shape == (4, 6, 5)
    assert layer.output_shape((6, 7)) == (6, 5)
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    close(layer.dW, wt.grad.numpy().T)
    close(layer.db, bt.grad.numpy())


def test_dense_on_a_four_dimensional_input_is_the_same_layer_at_every_position():
    rng = np.random.default_rng(1)
    layer = Dense(3, 2, seed=rng, dtype=np.float64)
    x = rng.standard_normal((2, 4, 5, 3))
    rows = layer.forward(x.reshape(-1, 3)).copy()
    np.testing.assert_array_equal(layer.forward(x), rows.reshape(2, 4, 5, 2))


@pytest.mark.parametrize(
    ("make", "torch_fn"),
    [
        (ReLU, torch.relu),
        (Tanh, torch.tanh),
        (Sigmoid, torch.sigmoid),
        (lambda: LeakyReLU(0.1), lambda t: F.leaky_relu(t, 0.1)),
    ],
    ids=["relu", "tanh", "sigmoid", "leaky_relu"],
)
def test_activations_on_sequences_match_torch(make, torch_fn):
    rng = np.random.default_rng(2)
    layer = make()
    x, g = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 4))
    out, dx = layer.forward(x), None
    dx = layer.backward(g)
    xt = t64(x, True)
    yt = torch_fn(xt)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())


def test_dropout_on_sequences_matches_torch_with_the_same_mask():
    rng = np.random.default_rng(3)
    layer = Dropout(0.3, seed=4)
    x, g = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 4))
    out = layer.forward(x, training=True)
    dx = layer.backward(g)
    assert layer._mask.shape == x.shape
    xt = t64(x, True)
    yt = xt * t64(layer._mask)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())


# -- finite differences ---------------------------------------------------------------------------


# Smooth activations: central differences across a ReLU kink measure the kink, not the code.


def test_residual_mlp_gradients_agree_with_finite_differences():
    rng = np.random.default_rng(5)
    model = residual_mlp(seed=6, act=Tanh)
    randomise_norms(model, rng)
    net = NeuralNetwork(model, SoftmaxCrossEntropy())
    x, y = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    assert check_gradients(net, x, y) < 1e-6


def test_residual_cnn_gradients_agree_with_finite_differences():
    rng = np.random.default_rng(7)
    model = residual_cnn(seed=8, act=Tanh)
    randomise_norms(model, rng)
    net = NeuralNetwork(model, MeanSquaredError())
    x, y = rng.standard_normal((4, 50)), rng.standard_normal((4, 3))
    assert check_gradients(net, x, y) < 1e-6


# -- the container protocol ------------------------------------------------------------------------


def test_containers_concatenate_their_childrens_arrays_in_order():
    model = residual_cnn()
    assert [id(p) for p in model.params] == [id(p) for leaf in leaves(model) for p in leaf.params]
    assert [id(g) for g in model.grads] == [id(g) for leaf in leaves(model) for g in leaf.grads]
    assert [id(b) for b in model.buffers] == [id(b) for leaf in leaves(model) for b in leaf.buffers]
    names = [name for name, _ in model.named_arrays()]
    assert names[:4] == ["1.W", "1.b", "2.block.0.W", "2.block.0.b"]
    assert "2.block.1.running_mean" in names
    assert "2.block.4.block.0.W" in names


def test_nested_config_rebuilds_the_same_network_through_json():
    model = residual_mlp()
    config = json.loads(json.dumps({"type": "Sequential", "config": model.get_config()}))
    again = layer_from_config(config["type"], config["config"])
    assert again.get_config() == model.get_config()
    assert [a.shape for a in again.params + again.buffers] == [a.shape for a in model.params + model.buffers]
    assert Sequential.array_shapes(model.get_config()) == [a.shape for a in model.params + model.buffers]


def test_a_residual_block_that_changes_the_shape_is_refused_naming_both_shapes():
    with pytest.raises(
        ValueError, match=r"layers\[1\]: a Residual block must keep the shape .*\(4,\).*\(3,\)"
    ):
        NeuralNetwork([Dense(2, 4), Residual(Dense(4, 3))], MeanSquaredError())


def test_the_network_wraps_a_list_or_a_single_layer_in_a_sequential():
    from_list = NeuralNetwork([Dense(2, 3), ReLU()], MeanSquaredError())
    assert isinstance(from_list.model, Sequential)
    assert [type(layer) for layer in from_list.layers] == [Dense, ReLU]
    block = Residual(Dense(3, 3))
    single = NeuralNetwork(block, MeanSquaredError())
    assert single.layers == [block]
    assert single.input_shape == (3,)
    seq = Sequential([Dense(2, 3)])
    assert NeuralNetwork(seq, MeanSquaredError()).model is seq


class RecordingLengths(Layer):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def set_lengths(self, lengths) -> None:
        self.seen.append(None if lengths is None else lengths.tolist())

    def forward(self, x, training=False):
        return x

    def backward(self, grad_out, *, input_grad=True):
        return grad_out


def test_lengths_reach_the_layers_inside_containers_chunk_by_chunk():
    inner = RecordingLengths()
    net = NeuralNetwork([Dense(2, 2), Residual(Sequential([inner]))], MeanSquaredError())
    x = np.ones((5, 2), dtype=np.float32)
    net.forward(x, lengths=np.array([1, 2, 3, 4, 5]))
    net.forward(x)
    assert inner.seen == [[1, 2, 3, 4, 5], None]
    net.eval_rows = 2
    net.forward(x, lengths=np.array([1, 2, 3, 4, 5]))
    assert inner.seen[2:] == [[1, 2], [3, 4], [5]]


def test_backward_of_the_network_skips_the_input_gradient_of_the_first_trained_layer(monkeypatch):
    net = NeuralNetwork([Reshape((1, 2, 2)), Flatten(), Dense(4, 3), ReLU(), Dense(3, 2)], MeanSquaredError())
    calls = []
    for i, layer in enumerate(net.layers):
        original = layer.backward
        monkeypatch.setattr(
            layer,
            "backward",
            lambda g, *, input_grad=True, _i=i, _f=original: (
                calls.append((_i, input_grad)) or _f(g, input_grad=input_grad)
            ),
        )
    x = np.ones((3, 4), dtype=np.float32)
    net.compute_loss(net.forward(x, training=True), np.zeros((3, 2), dtype=np.float32))
    net.backward()
    assert calls == [(4, True), (3, True), (2, False)]
