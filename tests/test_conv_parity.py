"""PyTorch as the oracle for the image layers, in float64: forward, backward and a CNN training run.

Every comparison is at 1e-10 (1e-9 for losses accumulated over a training run),
as in ``test_torch_parity.py``: far above float64 rounding, far below any real
bug. Inputs are passed both as plain channels-first arrays and as the
channels-last views the image layers hand each other, since the layers take a
different path for each. Max-pool inputs are continuous random numbers, so no
window holds a tie (at a tie either choice is a valid gradient).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import RecordingCrossEntropy, teacher_data

import scratchnn.layers.conv as conv_module
from scratchnn.layers import (
    AvgPool2D,
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    MaxPool2D,
    ReLU,
    Reshape,
)
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import SGD, Adam
from scratchnn.trainer import Trainer

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``a`` (copied, so torch never shares memory with scratchnn)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def images(rng, shape, channels_last: bool) -> np.ndarray:
    """Random ``(N, C, H, W)`` images, in channels-first memory or as a view of channels-last memory."""
    n, c, h, w = shape
    if channels_last:
        return rng.standard_normal((n, h, w, c)).transpose(0, 3, 1, 2)
    return rng.standard_normal(shape)


def torch_padding(padding):
    return padding if isinstance(padding, str) else tuple(padding) if isinstance(padding, tuple) else padding


# -- Conv2D ------------------------------------------------------------------------

# (kernel, stride, padding): kernels 1, 3, 5; strides 1, 2; padding 0, 1, "same", "valid"
# ("same" needs stride 1, as in torch)
CONV_CASES = [
    (k, s, p)
    for k in (1, 3, 5)
    for s in (1, 2)
    for p in (0, 1, "same", "valid")
    if not (p == "same" and s == 2)
]


@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize(("kernel", "stride", "padding"), CONV_CASES)
def test_two_stacked_conv2d_match_torch_forward_and_backward(kernel, stride, padding, batch):
    """1 -> 3 -> 4 channels on non-square 17x14 images: outputs and the input, weight and bias grads."""
    rng = np.random.default_rng(kernel * 100 + stride * 10 + batch)
    first = Conv2D(1, 3, kernel, stride=stride, padding=padding, seed=rng, dtype=np.float64)
    second = Conv2D(3, 4, kernel, stride=stride, padding=padding, seed=rng, dtype=np.float64)
    for layer in (first, second):
        layer.b[:] = rng.standard_normal(layer.b.shape)  # torch's bias is not zero either
    x = rng.standard_normal((batch, 1, 17, 14))
    hidden = first.forward(x, training=True)
    out = second.forward(hidden, training=True)  # the channels-last view, as in a network
    g = rng.standard_normal(out.shape)
    dx = first.backward(second.backward(g))

    xt = t64(x, True)
    weights = [t64(layer.W, True) for layer in (first, second)]
    biases = [t64(layer.b, True) for layer in (first, second)]
    pad = torch_padding(padding)
    ht = F.conv2d(xt, weights[0], biases[0], stride=stride, padding=pad)
    yt = F.conv2d(ht, weights[1], biases[1], stride=stride, padding=pad)
    yt.backward(t64(g))

    assert out.shape == tuple(yt.shape)
    close(hidden, ht.detach().numpy())
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    for layer, wt, bt in zip((first, second), weights, biases):
        close(layer.dW, wt.grad.numpy())
        close(layer.db, bt.grad.numpy())


@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding"),
    [((3, 2), (2, 1), (1, 0)), ((2, 4), 1, "same"), ((5, 1), (1, 2), (2, 0)), (4, 3, 2)],
    ids=["pairs", "same-even", "tall", "k4s3p2"],
)
def test_conv2d_with_pairs_and_even_kernels_matches_torch(kernel, stride, padding, channels_last):
    """Rectangular kernels, strides and paddings; "same" with an even kernel pads more at the end (torch)."""
    rng = np.random.default_rng(3)
    layer = Conv2D(3, 5, kernel, stride=stride, padding=padding, seed=rng, dtype=np.float64)
    layer.b[:] = rng.standard_normal(5)
    x = images(rng, (4, 3, 11, 13), channels_last)
    out = layer.forward(x, training=True)
    g = rng.standard_normal(out.shape)
    dx = layer.backward(g)

    xt, wt, bt = t64(x, True), t64(layer.W, True), t64(layer.b, True)
    if padding == "same":
        # torch warns that an even kernel needs a padded copy of the input: pad by hand, as it does
        kh, kw = kernel
        pads = (((kw - 1) // 2, kw - 1 - (kw - 1) // 2), ((kh - 1) // 2, kh - 1 - (kh - 1) // 2))
        yt = F.conv2d(F.pad(xt, (*pads[0], *pads[1])), wt, bt, stride=stride)
    else:
        yt = F.conv2d(xt, wt, bt, stride=stride, padding=torch_padding(padding))
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    close(layer.dW, wt.grad.numpy())
    close(layer.db, bt.grad.numpy())


def test_conv2d_in_chunks_gives_the_same_outputs_and_gradients(monkeypatch):
    """A patch-matrix limit smaller than one sample's patches: evaluation runs sample by sample."""
    rng = np.random.default_rng(4)
    layer = Conv2D(3, 4, 3, padding=1, seed=rng, dtype=np.float64)
    x = images(rng, (6, 3, 9, 7), channels_last=True)
    whole = layer.forward(x)
    monkeypatch.setattr(conv_module, "PATCH_BYTES_LIMIT", 100)
    close(layer.forward(x), whole, atol=1e-13)
    xt = t64(x)
    close(layer.forward(x), F.conv2d(xt, t64(layer.W), t64(layer.b), padding=1).numpy())


# -- pooling, flatten, reshape ----------------------------------------------------


def assert_matches_torch(layer, torch_fn, x, rng, atol: float = ATOL, training: bool = True) -> np.ndarray:
    """``layer``'s output and input gradient on ``x`` against ``torch_fn``'s, under one random upstream
    gradient; returns the output. ``atol=0``: exactly equal (a layer that only rearranges numbers)."""
    out = layer.forward(x, training=training)
    g = rng.standard_normal(out.shape)
    dx = layer.backward(g)
    xt = t64(x, True)
    yt = torch_fn(xt)
    yt.backward(t64(g))
    assert out.shape == tuple(yt.shape)
    close(out, yt.detach().numpy(), atol)
    close(dx, xt.grad.numpy(), atol)
    return out


def torch_pool_pair(kind, kernel, stride):
    if kind == "max":
        return MaxPool2D(kernel, stride), lambda x: F.max_pool2d(x, kernel, stride)
    return AvgPool2D(kernel, stride), lambda x: F.avg_pool2d(x, kernel, stride)


@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
@pytest.mark.parametrize(
    ("kernel", "stride", "shape"),
    [
        (2, None, (5, 3, 8, 6)),  # windows tile the image exactly
        (2, None, (5, 3, 11, 9)),  # tile, with a row and a column left over (dropped, as torch)
        ((2, 3), None, (2, 4, 7, 10)),  # rectangular tiles
        (3, 2, (3, 2, 9, 8)),  # overlapping windows: a pixel in up to 4 windows
        (3, 1, (2, 3, 6, 7)),
        (1, None, (2, 2, 3, 4)),
    ],
    ids=["tile", "leftover", "rect", "overlap", "stride1", "k1"],
)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_forward_and_backward(kind, kernel, stride, shape, channels_last):
    rng = np.random.default_rng(5)
    layer, torch_fn = torch_pool_pair(kind, kernel, stride)
    x = images(rng, shape, channels_last)  # continuous values: no window holds a tie
    assert_matches_torch(layer, torch_fn, x, rng)


@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
def test_global_average_pooling_matches_torch_adaptive_pool_then_flatten(channels_last):
    rng = np.random.default_rng(6)
    x = images(rng, (4, 5, 7, 3), channels_last)

    def average_then_flatten(t):
        return torch.flatten(F.adaptive_avg_pool2d(t, 1), 1)

    assert assert_matches_torch(GlobalAvgPool2D(), average_then_flatten, x, rng).shape == (4, 5)


@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
def test_flatten_matches_torch_flatten_order(channels_last):
    """torch.flatten(x, 1) order (c, h, w) also when the images are channels-last in memory."""
    rng = np.random.default_rng(7)
    x = images(rng, (3, 4, 5, 2), channels_last)
    assert_matches_torch(Flatten(), lambda xt: torch.flatten(xt, 1), x, rng, atol=0)  # a rearrangement


def test_reshape_matches_torch_reshape_of_rows():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2 * 4 * 5))
    assert_matches_torch(Reshape((2, 4, 5)), lambda xt: xt.reshape(3, 2, 4, 5), x, rng, atol=0)


# -- BatchNorm ---------------------------------------------------------------------


def batchnorm_pair(dims: int, size: int, momentum: float, eps: float):
    ours = (BatchNorm1d if dims == 1 else BatchNorm2d)(size, momentum=momentum, eps=eps, dtype=np.float64)
    theirs = (torch.nn.BatchNorm1d if dims == 1 else torch.nn.BatchNorm2d)(
        size, momentum=momentum, eps=eps, dtype=torch.float64
    )
    return ours, theirs


def batchnorm_step(ours, theirs, x, rng, training: bool) -> None:
    """One forward and backward of both BatchNorms on ``x``: outputs and every gradient agree."""
    theirs.zero_grad()
    assert_matches_torch(ours, theirs, x, rng, training=training)
    close(ours.dgamma, theirs.weight.grad.numpy())
    close(ours.dbeta, theirs.bias.grad.numpy())


def bn_input(rng, dims: int, batch: int, size: int, channels_last: bool) -> np.ndarray:
    if dims == 1:
        return rng.standard_normal((batch, size)) * 3 + 1.5  # not already normalised
    return images(rng, (batch, size, 5, 4), channels_last) * 3 + 1.5


@pytest.mark.parametrize(
    ("dims", "momentum", "eps", "channels_last"),
    [
        (1, 0.1, 1e-5, False),
        (1, 0.3, 1e-3, False),
        (2, 0.1, 1e-5, False),
        (2, 0.1, 1e-5, True),
        (2, 0.5, 0.1, True),
    ],
    ids=["1d", "1d-momentum0.3", "2d", "2d-channels-last", "2d-momentum0.5"],
)
def test_batchnorm_matches_torch_over_10_training_steps_then_in_evaluation(
    dims, momentum, eps, channels_last
):
    """Training: batch statistics, the compact backward, running_mean/running_var after every step.

    Then evaluation: the running statistics, forward and backward (there mu and s are constants).
    gamma and beta are set away from 1 and 0 so that the gradients through them show.
    """
    rng = np.random.default_rng(9 + dims)
    size = 4
    ours, theirs = batchnorm_pair(dims, size, momentum, eps)
    ours.gamma[:] = rng.uniform(0.5, 2.0, size)
    ours.beta[:] = rng.standard_normal(size)
    with torch.no_grad():
        theirs.weight.copy_(t64(ours.gamma))
        theirs.bias.copy_(t64(ours.beta))
    theirs.train()
    for step in range(10):
        batch = 7 if step % 3 else 2  # a batch of 2 too: the smallest the unbiased variance allows
        batchnorm_step(ours, theirs, bn_input(rng, dims, batch, size, channels_last), rng, training=True)
        close(ours.running_mean, theirs.running_mean.numpy())
        close(ours.running_var, theirs.running_var.numpy())
    # the statistics moved well away from their start (0 and 1): the comparison is not of constants
    assert np.abs(ours.running_mean).max() > 0.5
    assert np.abs(ours.running_var - 1).max() > 2

    theirs.eval()
    batchnorm_step(ours, theirs, bn_input(rng, dims, 5, size, channels_last), rng, training=False)
    close(ours.running_var, theirs.running_var.numpy())  # evaluation leaves the statistics alone


# -- a whole CNN training run ------------------------------------------------------


def small_cnn(init) -> list:
    """conv-bn-relu-maxpool, conv-relu, flatten, dense-bn-relu, dense: every image layer in one network."""
    return [
        Reshape((1, 8, 8)),
        Conv2D(1, 4, 3, padding=1, seed=init, dtype=np.float64),
        BatchNorm2d(4, dtype=np.float64),
        ReLU(),
        MaxPool2D(2),
        Conv2D(4, 6, 3, padding="same", seed=init, dtype=np.float64),
        ReLU(),
        AvgPool2D(2),
        Flatten(),
        Dense(24, 16, seed=init, dtype=np.float64),
        BatchNorm1d(16, dtype=np.float64),
        ReLU(),
        Dense(16, 10, seed=init, dtype=np.float64),
    ]


def torch_twin_cnn(layers: list) -> torch.nn.Sequential:
    """The same network in torch, with the same initial weights copied in."""
    nn = torch.nn
    kw = {"dtype": torch.float64}
    model = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 4, 3, padding=1, **kw),
        nn.BatchNorm2d(4, **kw),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding="same", **kw),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 16, **kw),
        nn.BatchNorm1d(16, **kw),
        nn.ReLU(),
        nn.Linear(16, 10, **kw),
    )
    with torch.no_grad():
        for ours, theirs in zip(layers, model):
            if isinstance(ours, Conv2D):
                theirs.weight.copy_(t64(ours.W))
                theirs.bias.copy_(t64(ours.b))
            elif isinstance(ours, Dense):
                theirs.weight.copy_(t64(ours.W.T))  # nn.Linear stores W.T
                theirs.bias.copy_(t64(ours.b))
    return model


@pytest.mark.parametrize(
    ("make_ours", "make_torch"),
    [
        (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda: Adam(0.003), lambda p: torch.optim.Adam(p, lr=0.003)),
    ],
    ids=["sgd", "adam"],
)
def test_three_epoch_cnn_training_run_gives_torch_per_batch_losses(make_ours, make_torch):
    n, batch_size, epochs, seed = 150, 16, 3, 12  # 150 = 9 * 16 + 6: a short last batch
    x, y = teacher_data(np.random.default_rng(13), n, 64, 10)
    loss = RecordingCrossEntropy()
    net = NeuralNetwork(small_cnn(np.random.default_rng(14)), loss)
    model = torch_twin_cnn(net.layers)
    model.train()
    topt = make_torch(model.parameters())

    trainer = Trainer(net, make_ours(), batch_size=batch_size, seed=seed)
    trainer.fit(x, y, epochs=epochs, verbose=False)

    # the trainer draws one permutation per epoch from its generator: replay it with a twin
    order_rng = np.random.default_rng(seed)
    expected = []
    for _ in range(epochs):
        perm = order_rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            topt.zero_grad()
            lt = F.cross_entropy(model(t64(x[idx])), torch.tensor(y[idx]))
            lt.backward()
            topt.step()
            expected.append(lt.item())

    assert len(loss.values) == epochs * math.ceil(n / batch_size)
    close(loss.values, expected, atol=1e-9)
    close(net.layers[1].W, model[1].weight.detach().numpy(), atol=1e-9)
    close(net.layers[2].running_mean, model[2].running_mean.numpy(), atol=1e-9)
    close(net.layers[10].running_var, model[10].running_var.numpy(), atol=1e-9)
    model.eval()  # evaluation with the running statistics agrees too
    close(net.forward(x), model(t64(x)).detach().numpy(), atol=1e-9)
    assert np.mean(expected[-9:]) < np.mean(expected[:9])  # it learned: not a comparison of a flat line
