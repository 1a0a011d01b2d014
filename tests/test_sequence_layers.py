"""The layers a Transformer is built from, proven: Embedding, PositionalEmbedding, LayerNorm, GELU and erf.

PyTorch in float64 is the oracle, at 1e-10, for the forward pass and every
gradient (the input's and each parameter's), with every parameter randomised,
biases included; central differences in float64 check each backward pass on
its own; ``erf`` is checked against ``math.erf`` over a wide grid.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.layers import GELU, Embedding, LayerNorm, PositionalEmbedding, erf
from scratchnn.layers import embedding as embedding_module

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``a`` (copied, so torch never shares memory with scratchnn)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def layer_gradient_errors(layer, x: np.ndarray, seed: int = 0, with_input: bool = True) -> dict[str, float]:
    """Relative errors of ``layer``'s backward against central differences, for ``x`` and each parameter.

    The loss is ``sum(w * layer.forward(x))`` with a random ``w``, so every entry
    of the output's gradient is exercised, not only what one loss reaches.
    """
    w = np.random.default_rng(seed).standard_normal(layer.forward(x, training=True).shape)

    def loss() -> float:
        return float(np.sum(w * layer.forward(x, training=True)))

    loss()
    dx = layer.backward(w)
    errors = {}
    if with_input:
        errors["x"] = relative_error(dx, numerical_gradient(loss, x))
    analytic = [g.copy() for g in layer.grads]
    for i, (param, grad) in enumerate(zip(layer.params, analytic)):
        errors[f"params[{i}]"] = relative_error(grad, numerical_gradient(loss, param))
    return errors


# -- erf ------------------------------------------------------------------------------


def test_erf_matches_math_erf_to_float64_rounding_over_a_wide_grid():
    grid = np.concatenate(
        [
            np.linspace(-7.0, 7.0, 140_001),  # every range of Cody's approximation and their borders
            np.geomspace(1e-300, 30.0, 3000),
            -np.geomspace(1e-300, 30.0, 3000),
            [0.46875, 4.0, -0.46875, -4.0, 0.0, 1e308, -1e308],
        ]
    )
    expected = np.array([math.erf(v) for v in grid])
    got = erf(grid)
    assert np.max(np.abs(got - expected)) <= 2.3e-16  # one unit in the last place near 1
    tiny = expected != 0
    assert np.max(np.abs(got[tiny] - expected[tiny]) / np.abs(expected[tiny])) <= 5e-16


def test_erf_of_infinities_nan_and_float32():
    assert erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert np.isnan(erf(np.array([np.nan]))[0])
    assert math.copysign(1.0, float(erf(np.array([-0.0]))[0])) == -1.0
    x32 = np.linspace(-5, 5, 1001, dtype=np.float32)
    got = erf(x32)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - np.array([math.erf(v) for v in x32.astype(np.float64)]))) < 1e-6


# -- Embedding -------------------------------------------------------------------------


def _embedding_case(padding_idx):
    rng = np.random.default_rng(1)
    layer = Embedding(7, 5, padding_idx=padding_idx, seed=rng, dtype=np.float64)
    ids = np.array([[1, 3, 3, 0, 6], [3, 2, 1, 1, 3], [5, 3, 0, 0, 4]])  # 3 five times, 1 and 0 repeated
    g = rng.standard_normal((3, 5, 5))
    ref = torch.nn.Embedding(7, 5, padding_idx=padding_idx, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(t64(layer.weight))
    return layer, ids, g, ref


@pytest.mark.parametrize("padding_idx", [None, 0, -4])
@pytest.mark.parametrize("one_hot", [True, False])
def test_embedding_matches_torch_with_repeated_ids_and_padding(padding_idx, one_hot, monkeypatch):
    if not one_hot:  # the np.add.at path of large vocabularies
        monkeypatch.setattr(embedding_module, "ONE_HOT_LIMIT", 0)
    layer, ids, g, ref = _embedding_case(padding_idx)
    if padding_idx is not None:
        assert np.all(layer.weight[padding_idx] == 0)  # starts at zero, as torch
        layer.weight[padding_idx] = 0.7  # and gets no gradient even when it is not zero
        with torch.no_grad():
            ref.weight[padding_idx] = 0.7
    out = layer.forward(ids)
    assert layer.backward(g) is None  # integer ids have no gradient
    yt = ref(torch.tensor(ids))
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(layer.dweight, ref.weight.grad.numpy())
    # token 3 appears five times: its gradient is the sum of all five
    close(layer.dweight[3], g[ids == 3].sum(axis=0) if padding_idx != -4 else 0.0)


def test_embedding_accepts_whole_floats_and_refuses_bad_ids():
    layer = Embedding(4, 2, seed=0, dtype=np.float64)
    close(layer.forward(np.array([[1.0, 3.0]])), layer.weight[[[1, 3]]])
    with pytest.raises(ValueError, match=r"\[0, 4\), got 4"):
        layer.forward(np.array([[1, 4]]))
    with pytest.raises(ValueError, match=r"got -1"):
        layer.forward(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="integer"):
        layer.forward(np.array([[0.5]]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(4, 2, padding_idx=4)


def test_embedding_gradient_is_the_finite_difference_gradient():
    # without padding_idx: the padding row's gradient is 0 by convention, not by calculus
    layer = Embedding(6, 3, seed=0, dtype=np.float64)
    ids = np.array([[0, 1, 1, 2], [5, 0, 2, 1]])
    errors = layer_gradient_errors(layer, ids, with_input=False)
    assert max(errors.values()) < 1e-8, errors


# -- PositionalEmbedding -----------------------------------------------------------------


def test_positional_embedding_matches_torch_wpe():
    rng = np.random.default_rng(2)
    layer = PositionalEmbedding(8, 4, seed=rng, dtype=np.float64)
    x = rng.standard_normal((3, 6, 4))
    g = rng.standard_normal((3, 6, 4))
    out = layer.forward(x)
    dx = layer.backward(g)
    wpe = torch.nn.Embedding(8, 4, dtype=torch.float64)
    with torch.no_grad():
        wpe.weight.copy_(t64(layer.weight))
    xt = t64(x, True)
    yt = xt + wpe(torch.arange(6))
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    close(layer.dweight, wpe.weight.grad.numpy())  # positions 6 and 7, unused, get 0


def test_positional_embedding_refuses_a_sequence_longer_than_it_holds():
    layer = PositionalEmbedding(4, 2)
    with pytest.raises(ValueError, match=r"max_length=4.*5 steps"):
        layer.forward(np.zeros((1, 5, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"T <= 4"):
        layer.output_shape((5, 2))


def test_positional_embedding_gradient_is_the_finite_difference_gradient():
    layer = PositionalEmbedding(5, 3, seed=0, dtype=np.float64)
    errors = layer_gradient_errors(layer, np.random.default_rng(0).standard_normal((2, 4, 3)))
    assert max(errors.values()) < 1e-8, errors


# -- LayerNorm ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_matches_torch_on_sequences(bias):
    rng = np.random.default_rng(3)
    layer = LayerNorm(6, bias=bias, dtype=np.float64)
    for p in layer.params:
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((4, 5, 6)) * 3 + 1
    g = rng.standard_normal((4, 5, 6))
    out = layer.forward(x)
    dx = layer.backward(g)
    ref = torch.nn.LayerNorm(6, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p, q in zip(ref.parameters(), layer.params):
            p.copy_(t64(q))
    xt = t64(x, True)
    yt = ref(xt)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    assert [name for name, _ in ref.named_parameters()] == (["weight", "bias"] if bias else ["weight"])
    for grad, p in zip(layer.grads, ref.parameters()):
        close(grad, p.grad.numpy())


def test_layernorm_is_per_vector_and_the_same_in_training_and_evaluation():
    layer = LayerNorm(4, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    y = layer.forward(x, training=True)
    close(y.mean(axis=-1), 0.0)
    close(y.var(axis=-1), 1.0 / (1.0 + layer.eps / x.var(axis=-1)))  # biased variance, eps inside the root
    close(layer.forward(x[1:2]), y[1:2])  # a sequence's output does not depend on the rest of the batch


def test_layernorm_gradient_is_the_finite_difference_gradient():
    rng = np.random.default_rng(4)
    layer = LayerNorm(5, dtype=np.float64)
    for p in layer.params:
        p[...] = rng.standard_normal(p.shape)
    errors = layer_gradient_errors(layer, rng.standard_normal((2, 3, 5)))
    assert max(errors.values()) < 1e-7, errors


# -- GELU ------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_in_both_forms(approximate):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(200) * 3, np.linspace(-12, 12, 97), [0.0, -40.0, 40.0]])
    x = x.reshape(3, 10, 10)
    g = rng.standard_normal(x.shape)
    layer = GELU(approximate)
    out = layer.forward(x)
    dx = layer.backward(g)
    xt = t64(x, True)
    yt = F.gelu(xt, approximate=approximate)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())


def test_the_two_gelu_forms_differ_and_are_not_confused():
    x = np.linspace(-4, 4, 801)
    exact, tanh = GELU("none").forward(x), GELU("tanh").forward(x)
    assert 1e-4 < np.max(np.abs(exact - tanh)) < 1e-3
    with pytest.raises(ValueError, match="approximate"):
        GELU("sigmoid")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_is_the_finite_difference_gradient(approximate):
    x = np.random.default_rng(6).standard_normal((3, 4, 5)) * 2
    errors = layer_gradient_errors(GELU(approximate), x)
    assert errors["x"] < 1e-8, errors


def test_gelu_in_float32_stays_float32_and_finite_at_extremes():
    x = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype=np.float32)
    for form in ("none", "tanh"):
        layer = GELU(form)
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
        assert y.dtype == dx.dtype == np.float32
        assert np.all(np.isfinite(y))
        assert np.all(np.isfinite(dx))
        close(y[[0, -1]], [0.0, 1e4], atol=0)
