"""The fast forms in the hot path give what their plain forms give.

Each speed-up of the training loop (shuffled rows copied block by block into a
reused buffer, ReLU's reused mask, the loss's cached row index, Dense's bias
gradient as a product with a cached ones vector) is checked here against the
obvious implementation it replaces, in float32 and float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import SGD, Dense, ReLU, SoftmaxCrossEntropy, Trainer, build_mlp
from scratchnn import trainer as trainer_module


@pytest.mark.parametrize(("n", "batch_size", "block"), [(37, 5, 10), (37, 5, 37), (40, 8, 16), (3, 8, 3)])
def test_shuffled_batches_are_the_plain_slices_of_the_permuted_data(n, batch_size, block):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, 3)), rng.integers(0, 4, n)
    perm = rng.permutation(n)
    got = [
        (xb.copy(), yb.copy()) for xb, yb in trainer_module._shuffled_batches((x, y), perm, batch_size, block)
    ]
    want = [(x[perm][s : s + batch_size], y[perm][s : s + batch_size]) for s in range(0, n, batch_size)]
    assert len(got) == len(want)
    for (xg, yg), (xw, yw) in zip(got, want):
        np.testing.assert_array_equal(xg, xw)
        np.testing.assert_array_equal(yg, yw)
        assert xg.flags.c_contiguous


def _train(dtype, monkeypatch, block_bytes):
    monkeypatch.setattr(trainer_module, "_SHUFFLE_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(3)
    x = rng.random((203, 12)).astype(dtype)
    y = rng.integers(0, 5, 203)
    net = build_mlp(12, (16, 8), 5, seed=1, dtype=dtype)
    history = Trainer(net, SGD(0.1), batch_size=8, seed=2).fit(x, y, epochs=3, verbose=False)
    return [p.copy() for p in net.parameters()], history.column("loss")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_is_identical_whatever_the_shuffle_block_size(dtype, monkeypatch):
    # one block holds the whole epoch vs. one batch per block vs. three batches per block
    whole, whole_losses = _train(dtype, monkeypatch, 1 << 30)
    for block_bytes in (1, 3 * 8 * 12 * np.dtype(dtype).itemsize):
        params, losses = _train(dtype, monkeypatch, block_bytes)
        assert losses == whole_losses
        for p, q in zip(params, whole):
            np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_with_its_reused_mask_matches_the_plain_formulas_across_batch_shapes(dtype):
    rng = np.random.default_rng(0)
    relu = ReLU()
    for rows in (16, 13, 16, 1):
        x = rng.standard_normal((rows, 7)).astype(dtype)
        x[0, :3] = 0.0  # the derivative at exactly 0 is 0
        g = rng.standard_normal((rows, 7)).astype(dtype)
        y = relu.forward(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        np.testing.assert_array_equal(relu.backward(g), np.where(x > 0, g, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_with_its_cached_row_index_matches_the_plain_formulas(dtype):
    rng = np.random.default_rng(0)
    loss = SoftmaxCrossEntropy()
    for rows in (16, 13, 16, 40, 2):
        z = rng.standard_normal((rows, 10)).astype(dtype)
        y = rng.integers(0, 10, rows)
        value = loss.forward(z, y)
        z64 = z.astype(np.float64)
        log_p = z64 - z64.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert value == pytest.approx(-log_p[np.arange(rows), y].mean(), rel=tol)
        grad = np.exp(log_p)
        grad[np.arange(rows), y] -= 1.0
        np.testing.assert_allclose(loss.backward(), grad / rows, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_backward_matches_the_plain_formulas_across_batch_sizes(dtype):
    rng = np.random.default_rng(0)
    layer = Dense(6, 4, seed=0, dtype=dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for rows in (16, 13, 40, 1):  # the cached ones(N) grows and is sliced
        x = rng.standard_normal((rows, 6)).astype(dtype)
        g = rng.standard_normal((rows, 4)).astype(dtype)
        np.testing.assert_allclose(layer.forward(x), x @ layer.W + layer.b, rtol=tol, atol=tol)
        grad_in = layer.backward(g)
        np.testing.assert_allclose(layer.dW, x.T @ g, rtol=tol, atol=tol)
        np.testing.assert_allclose(layer.db, g.sum(axis=0), rtol=tol, atol=tol)
        np.testing.assert_allclose(grad_in, g @ layer.W.T, rtol=tol, atol=tol)


def test_dense_backward_accepts_float64_inputs_and_gradients_in_a_float32_layer():
    rng = np.random.default_rng(0)
    layer = Dense(6, 4, seed=0)  # float32
    x, g = rng.standard_normal((5, 6)), rng.standard_normal((5, 4))  # float64
    layer.forward(x)
    layer.backward(g)
    assert layer.dW.dtype == layer.db.dtype == np.float32
    np.testing.assert_allclose(layer.dW, x.T @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.db, g.sum(axis=0), rtol=1e-5, atol=1e-5)
