"""Losses: Huber, absolute error, Poisson, binary cross-entropy on logits, and sample weights on every loss.

PyTorch in float64 is the oracle (values and gradients within 1e-10): the
four new losses against ``HuberLoss``, ``L1Loss``, ``PoissonNLLLoss`` and
``BCEWithLogitsLoss``, including residuals just beside the kinks (never on
them, where the derivative is a convention), and every loss with
``sample_weight`` against torch's per-sample losses (``reduction="none"``)
weighted by hand. Then central differences for the new losses, weighted or
not, and for whole small regression networks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scratchnn.gradcheck import check_gradients, numerical_gradient, relative_error
from scratchnn.layers import Dense, Tanh
from scratchnn.losses import (
    LOSSES,
    BCEWithLogitsLoss,
    HuberLoss,
    MeanAbsoluteError,
    MeanSquaredError,
    PoissonLoss,
    SoftmaxCrossEntropy,
    log_softmax,
    loss_from_config,
)
from scratchnn.network import NeuralNetwork

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def ours_and_torch(loss, outputs, targets, torch_fn, sample_weight=None):
    """(our value, our gradient, torch's value, torch's gradient) for one batch.

    With ``sample_weight``, torch's per-element losses are averaged over each
    row and then weighted by hand: ``sum_i w_i l_i / sum_i w_i``.
    """
    value = loss.forward(outputs, targets, sample_weight)
    grad = loss.backward()
    zt = t64(outputs, True)
    if sample_weight is None:
        lt = torch_fn(zt, reduction="mean")
    else:
        per_element = torch_fn(zt, reduction="none")
        per_row = per_element.reshape(per_element.shape[0], -1).mean(dim=1)
        w = t64(sample_weight)
        lt = (w * per_row).sum() / w.sum()
    lt.backward()
    return value, grad, lt.item(), zt.grad.numpy()


def residual_case(kind: str, shape=(8, 3), seed: int = 0, delta: float = 1.0):
    """(outputs, targets): ordinary residuals, or residuals within 1e-6 of the loss's kinks."""
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(shape)
    if kind == "ordinary":
        d = rng.standard_normal(shape) * 2
    elif kind == "near-delta":  # Huber's seam at |d| = delta, from both sides
        d = delta * rng.choice([-1.0, 1.0], shape) + rng.choice([-1.0, 1.0], shape) * rng.uniform(
            1e-7, 1e-6, shape
        )
    else:  # "near-zero": the absolute error's kink
        d = rng.choice([-1.0, 1.0], shape) * rng.uniform(1e-8, 1e-6, shape)
    return t + d, t


WEIGHTS = [None, "random", "integers-with-zeros"]


def weights_for(kind, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    if kind == "random":
        return rng.uniform(0.1, 3.0, n)
    return rng.integers(0, 4, n).astype(float) + np.eye(1, n)[0]  # some zeros, never all


# -- torch parity -------------------------------------------------------------------------


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("case", ["ordinary", "near-delta", "near-zero"])
@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber_loss_value_and_gradient_match_torch(delta, case, weights):
    o, t = residual_case(case, delta=delta)
    w = weights_for(weights, o.shape[0])
    got = ours_and_torch(
        HuberLoss(delta),
        o,
        t,
        lambda z, reduction: F.huber_loss(z, t64(t), reduction=reduction, delta=delta),
        w,
    )
    close(got[0], got[2])
    close(got[1], got[3])


def test_huber_loss_near_delta_uses_both_pieces():
    # The parity test above means something only if its residuals fall on both sides of the seam.
    o, t = residual_case("near-delta", delta=0.3)
    a = np.abs(o - t)
    assert (a < 0.3).any()
    assert (a > 0.3).any()
    assert np.all(np.abs(a - 0.3) < 1e-6)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("case", ["ordinary", "near-zero"])
def test_mean_absolute_error_value_and_gradient_match_torch_l1_loss(case, weights):
    o, t = residual_case(case)
    w = weights_for(weights, o.shape[0])
    got = ours_and_torch(
        MeanAbsoluteError(), o, t, lambda z, reduction: F.l1_loss(z, t64(t), reduction=reduction), w
    )
    close(got[0], got[2])
    close(got[1], got[3])


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("targets", ["binary", "probabilities"])
def test_bce_with_logits_value_and_gradient_match_torch(targets, scale, weights):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((9, 4)) * scale  # at 1e4, exp(z) would overflow and sigmoid round to 0 or 1
    y = rng.integers(0, 2, (9, 4)).astype(float) if targets == "binary" else rng.random((9, 4))
    w = weights_for(weights, 9)
    got = ours_and_torch(
        BCEWithLogitsLoss(),
        z,
        y,
        lambda zt, reduction: F.binary_cross_entropy_with_logits(zt, t64(y), reduction=reduction),
        w,
    )
    np.testing.assert_allclose(got[0], got[2], rtol=1e-12, atol=ATOL)  # the loss grows with the scale
    close(got[1], got[3])


def counts_case(shape=(9, 4), scale: float = 1.0, seed: int = 8):
    """(log-mean outputs z, Poisson counts y drawn around exp(z), with some zeros)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) * scale
    return z, rng.poisson(np.exp(np.clip(z, -5, 5))).astype(float)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_poisson_loss_value_and_gradient_match_torch_poisson_nll_loss(scale, weights):
    z, y = counts_case(scale=scale)
    assert (y == 0).any()  # the y * z term vanishes there: the loss is exp(z) alone
    w = weights_for(weights, 9)

    def torch_fn(zt, reduction):
        return torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction=reduction)(zt, t64(y))

    got = ours_and_torch(PoissonLoss(), z, y, torch_fn, w)
    np.testing.assert_allclose(got[0], got[2], rtol=1e-12, atol=ATOL)  # exp(z) grows with the scale
    np.testing.assert_allclose(got[1], got[3], rtol=1e-12, atol=ATOL)


def test_poisson_loss_is_the_mean_of_exp_z_minus_y_z_and_predicts_exp_z():
    z = np.array([[0.0, 1.0], [np.log(3.0), -2.0]])
    y = np.array([[1.0, 0.0], [2.0, 5.0]])
    loss = PoissonLoss()
    value = loss.forward(z, y)
    close(value, np.mean([1.0 - 0.0, np.e, 3.0 - 2.0 * np.log(3.0), np.exp(-2.0) + 10.0]))
    close(loss.backward(), (np.exp(z) - y) / 4)  # prediction minus target, over N * C
    close(loss.predict(z), np.exp(z))
    assert loss.task == "regression"
    assert not loss.standardise_target


def test_poisson_loss_overflows_to_inf_without_a_warning_and_predicts_finite_values():
    z = np.array([[1e4], [-1e4], [0.0]])  # warnings are errors in this suite
    assert PoissonLoss().forward(z, np.array([1.0, 2.0, 0.0])) == np.inf  # the trainer's divergence
    for dtype in (np.float64, np.float32):
        mu = PoissonLoss().predict(z.astype(dtype))
        assert mu.dtype == dtype
        assert np.isfinite(mu).all()
        assert mu[0, 0] == pytest.approx(np.finfo(dtype).max, rel=1e-5)  # clipped, not inf
        assert mu[1, 0] == 0.0
        assert mu[2, 0] == 1.0


@pytest.mark.parametrize("y", [[1.0, -0.5, 2.0], [[0.0, 3.0], [-2.0, -1.0]]])
def test_poisson_loss_refuses_negative_targets_naming_them_and_the_value(y):
    n = len(y)
    first = -0.5 if n == 3 else -2.0
    count = 1 if n == 3 else 2
    with pytest.raises(
        ValueError, match=rf"y_train must be >= 0 for the poisson loss .* got {first} \({count} neg"
    ):
        PoissonLoss().check_targets(
            np.array(y), "y_train", n_samples=n, n_outputs=None, x_name="x_train", dtype=np.float64
        )
    ok = PoissonLoss().check_targets(
        np.abs(y), "y_train", n_samples=n, n_outputs=None, x_name="x_train", dtype=np.float32
    )
    assert ok.dtype == np.float32


def test_bce_with_logits_takes_a_single_column_of_binary_targets_as_1d():
    z = np.array([[2.0], [-1.0], [0.5]])
    loss = BCEWithLogitsLoss()
    value = loss.forward(z, np.array([1.0, 0.0, 0.0]))
    close(value, F.binary_cross_entropy_with_logits(t64(z), t64([[1.0], [0.0], [0.0]])).item())
    assert loss.backward().shape == (3, 1)


@pytest.mark.parametrize("weights", WEIGHTS[1:])
@pytest.mark.parametrize("targets", ["values", "labels"])
def test_weighted_mean_squared_error_matches_torch_per_sample_losses_weighted_by_hand(targets, weights):
    rng = np.random.default_rng(3)
    o = rng.standard_normal((7, 4))
    t = rng.standard_normal((7, 4)) if targets == "values" else rng.integers(0, 4, 7)
    dense = t if targets == "values" else np.eye(4)[t]  # integer labels are one-hot encoded
    got = ours_and_torch(
        MeanSquaredError(),
        o,
        t,
        lambda z, reduction: F.mse_loss(z, t64(dense), reduction=reduction),
        weights_for(weights, 7),
    )
    close(got[0], got[2])
    close(got[1], got[3])


@pytest.mark.parametrize("weights", WEIGHTS[1:])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("targets", ["labels", "onehot", "probabilities"])
def test_weighted_cross_entropy_matches_torch_per_sample_losses_weighted_by_hand(targets, smoothing, weights):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((7, 5)) * 3
    labels = rng.integers(0, 5, 7)
    if targets == "labels":
        t, tt = labels, torch.tensor(labels)
    elif targets == "onehot":
        t = np.eye(5)[labels]
        tt = t64(t)
    else:
        t = rng.random((7, 5))
        t /= t.sum(axis=1, keepdims=True)
        tt = t64(t)
    got = ours_and_torch(
        SoftmaxCrossEntropy(smoothing),
        z,
        t,
        lambda zt, reduction: F.cross_entropy(zt, tt, reduction=reduction, label_smoothing=smoothing),
        weights_for(weights, 7),
    )
    close(got[0], got[2])
    close(got[1], got[3])


def test_log_softmax_matches_torch_at_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0], [3.0, 3.0, 3.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    close(log_softmax(z), torch.log_softmax(t64(z), dim=1).numpy())


# -- what sample weights mean --------------------------------------------------------------

ALL_LOSSES = [
    SoftmaxCrossEntropy,
    lambda: SoftmaxCrossEntropy(0.2),
    MeanSquaredError,
    MeanAbsoluteError,
    HuberLoss,
    PoissonLoss,
    BCEWithLogitsLoss,
]
IDS = ["cross-entropy", "cross-entropy-smoothed", "mse", "mae", "huber", "poisson", "bce"]


def batch(make, n=6, c=3, seed=5):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 2
    loss = make()
    if isinstance(loss, SoftmaxCrossEntropy):
        return loss, z, rng.integers(0, c, n)
    if isinstance(loss, BCEWithLogitsLoss):
        return loss, z, rng.integers(0, 2, (n, c)).astype(float)
    if isinstance(loss, PoissonLoss):
        return loss, z, rng.poisson(2.0, (n, c)).astype(float)
    return loss, z, rng.standard_normal((n, c))


@pytest.mark.parametrize("make", ALL_LOSSES, ids=IDS)
def test_unit_weights_give_the_plain_mean_and_scaling_the_weights_changes_nothing(make):
    loss, z, t = batch(make)
    plain = loss.forward(z, t), loss.backward().copy()
    for w in (np.ones(6), np.full(6, 7.5)):
        close(loss.forward(z, t, w), plain[0], 1e-14)
        close(loss.backward(), plain[1], 1e-14)


@pytest.mark.parametrize("make", ALL_LOSSES, ids=IDS)
def test_a_weight_of_two_counts_a_row_twice_and_a_weight_of_zero_drops_it(make):
    loss, z, t = batch(make)
    w = np.array([2.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    weighted = loss.forward(z, t, w), loss.backward().copy()
    keep = [0, 0, 1, 3, 4, 5]
    value = loss.forward(z[keep], t[keep])
    grad = loss.backward()
    close(weighted[0], value, 1e-14)
    expected = np.zeros_like(z)
    np.add.at(expected, keep, grad)  # the duplicated row's two gradients land on the one row
    close(weighted[1], expected, 1e-14)


@pytest.mark.parametrize("make", ALL_LOSSES, ids=IDS)
def test_a_batch_whose_weights_sum_to_zero_has_zero_loss_and_gradient(make):
    loss, z, t = batch(make)
    assert loss.forward(z, t, np.zeros(6)) == 0.0
    np.testing.assert_array_equal(loss.backward(), 0.0)


@pytest.mark.parametrize("make", ALL_LOSSES, ids=IDS)
def test_float32_outputs_keep_float32_gradients_with_weights(make):
    loss, z, t = batch(make)
    loss.forward(z.astype(np.float32), t, np.linspace(0.5, 2.0, 6))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        (np.ones(5), r"sample_weight must have shape \(6,\), one weight per row, got shape \(5,\)"),
        (np.ones((6, 1)), r"got shape \(6, 1\)"),
        (np.array([1.0, -2.0, 1, 1, 1, 1]), r"sample_weight must be finite and >= 0, got \[-2.\]"),
        (np.array([1.0, np.nan, 1, 1, 1, 1]), r"finite and >= 0, got \[nan\]"),
    ],
)
def test_bad_sample_weights_are_refused_naming_the_argument(weights, words):
    for make in ALL_LOSSES:
        loss, z, t = batch(make)
        with pytest.raises(ValueError, match=words):
            loss.forward(z, t, weights)


# -- central differences -----------------------------------------------------------------

TOL = 1e-6


@pytest.mark.parametrize("weights", [None, "random"])
@pytest.mark.parametrize(
    "make", [MeanAbsoluteError, HuberLoss, lambda: HuberLoss(0.4), PoissonLoss, BCEWithLogitsLoss]
)
def test_new_loss_gradients_match_central_differences(make, weights):
    loss, z, t = batch(make, n=7, c=4, seed=6)
    if isinstance(loss, (MeanAbsoluteError, HuberLoss)):
        # keep residuals away from the kinks by more than the finite-difference step
        d = z - t
        d[np.abs(d) < 1e-3] = 0.5
        if isinstance(loss, HuberLoss):
            d[np.abs(np.abs(d) - loss.delta) < 1e-3] += 0.01
        z = t + d
    w = weights_for(weights, 7)
    loss.forward(z, t, w)
    analytic = loss.backward().copy()
    numeric = numerical_gradient(lambda: loss.forward(z, t, w), z)
    assert relative_error(analytic, numeric) < TOL


@pytest.mark.parametrize(
    "make", [MeanSquaredError, MeanAbsoluteError, HuberLoss, PoissonLoss, BCEWithLogitsLoss]
)
def test_a_small_network_with_each_regression_loss_passes_the_gradient_check(make):
    rng = np.random.default_rng(7)
    layers = [Dense(5, 6, seed=rng, dtype=np.float64), Tanh(), Dense(6, 2, seed=rng, dtype=np.float64)]
    for layer in layers:
        for p in layer.params:
            p[...] = rng.standard_normal(p.shape) * 0.5
    net = NeuralNetwork(layers, make())
    x = rng.standard_normal((8, 5))
    if make is BCEWithLogitsLoss:
        y = rng.integers(0, 2, (8, 2)).astype(float)
    elif make is PoissonLoss:
        y = rng.poisson(3.0, (8, 2)).astype(float)
    else:
        y = rng.standard_normal((8, 2)) * 3
    assert check_gradients(net, x, y) < TOL


# -- the name table and configs ---------------------------------------------------------------


def test_the_name_table_holds_the_names_the_settings_use_and_rebuilds_each_loss_from_its_config():
    assert LOSSES == {
        "cross-entropy": SoftmaxCrossEntropy,
        "mse": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "huber": HuberLoss,
        "poisson": PoissonLoss,
        "bce": BCEWithLogitsLoss,
    }
    for loss in (
        SoftmaxCrossEntropy(0.25),
        MeanSquaredError(),
        MeanAbsoluteError(),
        HuberLoss(0.7),
        PoissonLoss(),
        BCEWithLogitsLoss(),
    ):
        again = loss_from_config(type(loss).__name__, loss.get_config())
        assert repr(again) == repr(loss)
    assert repr(HuberLoss(0.7)) == "HuberLoss(delta=0.7)"


@pytest.mark.parametrize("delta", [0.0, -1.0, float("inf"), float("nan")])
def test_huber_delta_must_be_positive_and_finite(delta):
    with pytest.raises(ValueError, match="delta must be a positive finite number"):
        HuberLoss(delta)


@pytest.mark.parametrize("smoothing", [0.0, 0.5, 1.0])
def test_label_smoothing_takes_the_range_torch_takes(smoothing):
    assert SoftmaxCrossEntropy(smoothing).label_smoothing == smoothing


@pytest.mark.parametrize("smoothing", [-0.1, 1.01])
def test_label_smoothing_outside_zero_to_one_is_refused(smoothing):
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxCrossEntropy(smoothing)
