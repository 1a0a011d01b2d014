"""PyTorch as the oracle, in float64: layers, losses, optimizers, schedules and a whole training run.

Every comparison is at 1e-10 (1e-9 for losses accumulated over a training
run): well above float64 rounding (~1e-16 relative), far below the size of any
real bug (a wrong convention is off by 1e-3 or more). PyTorch is used here and
only here; the library never imports it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import RecordingCrossEntropy, teacher_data
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from scratchnn.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork
from scratchnn.optimizers import LBFGS, SGD, Adam, AdamW, Momentum
from scratchnn.schedules import CosineAnnealing, InvScaling, StepDecay, WarmupCosine
from scratchnn.trainer import Trainer

ATOL = 1e-10


def close(actual, expected, atol: float = ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def t64(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``a`` (copied, so torch never shares memory with scratchnn)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


# -- layers ------------------------------------------------------------------------


def test_dense_forward_and_backward_match_torch_linear():
    rng = np.random.default_rng(0)
    layer = Dense(7, 5, seed=rng, dtype=np.float64)
    layer.b[:] = rng.standard_normal(5)
    x = rng.standard_normal((6, 7))
    g = rng.standard_normal((6, 5))

    out = layer.forward(x)
    dx = layer.backward(g)

    xt, wt, bt = t64(x, True), t64(layer.W.T, True), t64(layer.b, True)  # nn.Linear stores W.T
    yt = F.linear(xt, wt, bt)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())
    close(layer.dW, wt.grad.numpy().T)
    close(layer.db, bt.grad.numpy())


ACTIVATIONS = [
    (ReLU, torch.relu),
    (Sigmoid, torch.sigmoid),
    (Tanh, torch.tanh),
    (lambda: LeakyReLU(0.01), lambda x: F.leaky_relu(x, 0.01)),
    (lambda: LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
]


@pytest.mark.parametrize(
    ("make", "torch_fn"), ACTIVATIONS, ids=["relu", "sigmoid", "tanh", "leaky", "leaky0.2"]
)
def test_activation_forward_and_backward_match_torch(make, torch_fn):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 9)) * 4
    x[0, :3] = 0.0  # the derivative at exactly 0 is a convention: it must be torch's
    g = rng.standard_normal(x.shape)
    layer = make()
    out = layer.forward(x)
    dx = layer.backward(g)

    xt = t64(x, True)
    yt = torch_fn(xt)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_forward_and_backward_match_torch_with_the_same_mask(rate):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 30))
    g = rng.standard_normal(x.shape)
    layer = Dropout(rate, seed=3)
    out = layer.forward(x, training=True)
    dx = layer.backward(g)
    # the mask, read through the public API: backward of ones is dL/dx = 1 * m
    mask = layer.backward(np.ones_like(x))
    assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - rate)}  # inverted dropout's scaled mask

    xt = t64(x, True)
    yt = xt * t64(mask)
    yt.backward(t64(g))
    close(out, yt.detach().numpy())
    close(dx, xt.grad.numpy())

    # evaluation mode: both are the identity, forward and backward
    torch_layer = torch.nn.Dropout(rate).eval()
    close(layer.forward(x, training=False), torch_layer(t64(x)).numpy())
    np.testing.assert_array_equal(layer.backward(g), g)


# -- losses ------------------------------------------------------------------------


def loss_case(targets: str, n: int = 7, c: int = 5, seed: int = 4):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, size=n)
    if targets == "labels":
        return z, labels, torch.tensor(labels)
    if targets == "onehot":
        onehot = np.eye(c)[labels]
        return z, onehot, t64(onehot)
    probs = rng.random((n, c))  # soft targets: rows of probabilities
    probs /= probs.sum(axis=1, keepdims=True)
    return z, probs, t64(probs)


@pytest.mark.parametrize("targets", ["labels", "onehot"])
def test_mean_squared_error_value_and_gradient_match_torch(targets):
    z, t, _ = loss_case(targets)
    loss = MeanSquaredError()
    value = loss.forward(z, t)
    grad = loss.backward()

    zt = t64(z, True)
    onehot = t64(np.eye(z.shape[1])[t] if t.ndim == 1 else t)  # integer labels are one-hot encoded
    lt = F.mse_loss(zt, onehot)
    lt.backward()
    close(value, lt.item())
    close(grad, zt.grad.numpy())


@pytest.mark.parametrize("targets", ["labels", "onehot", "probabilities"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_softmax_cross_entropy_value_and_gradient_match_torch(targets, smoothing):
    z, t, tt = loss_case(targets)
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing)
    value = loss.forward(z, t)
    grad = loss.backward()

    zt = t64(z, True)
    lt = F.cross_entropy(zt, tt, label_smoothing=smoothing)
    lt.backward()
    close(value, lt.item())
    close(grad, zt.grad.numpy())


@settings(max_examples=60, deadline=None, database=None)
@given(
    n=st.integers(1, 9),
    c=st.integers(2, 12),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e3]),
    smoothing=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
    onehot=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cross_entropy_matches_torch_for_any_batch_size_classes_scale_and_smoothing(
    n, c, scale, smoothing, onehot, seed
):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * scale
    labels = rng.integers(0, c, size=n)
    t, tt = (np.eye(c)[labels], t64(np.eye(c)[labels])) if onehot else (labels, torch.tensor(labels))
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing)
    value = loss.forward(z, t)
    grad = loss.backward()
    zt = t64(z, True)
    lt = F.cross_entropy(zt, tt, label_smoothing=smoothing)
    lt.backward()
    np.testing.assert_allclose(value, lt.item(), rtol=1e-12, atol=ATOL)  # the loss grows with the scale
    close(grad, zt.grad.numpy())


# -- optimizers --------------------------------------------------------------------

SHAPES = [(5, 3), (3,), (4, 2)]


def gradient_sequence(steps: int, seed: int):
    """``steps`` lists of random gradients, one array per parameter, of varying scale."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) * rng.uniform(0.1, 3.0) for s in SHAPES] for _ in range(steps)]


def run_both(make_ours, make_torch, steps: int = 100, seed: int = 5, lrs=None):
    """Feed the same gradients to a scratchnn and a torch optimizer; compare parameters after every step.

    ``lrs``, if given, sets the learning rate of both before each step, as a schedule would.
    """
    rng = np.random.default_rng(seed)
    ours = [rng.standard_normal(s) for s in SHAPES]
    theirs = [torch.nn.Parameter(t64(p)) for p in ours]
    opt, topt = make_ours(), make_torch(theirs)
    for k, grads in enumerate(gradient_sequence(steps, seed + 1)):
        if lrs is not None:
            opt.learning_rate = lrs[k]
            topt.param_groups[0]["lr"] = lrs[k]
        opt.step(ours, grads)
        for p, g in zip(theirs, grads):
            p.grad = t64(g)
        topt.step()
        for p, tp in zip(ours, theirs):
            close(p, tp.detach().numpy())
    return ours


OPTIMIZER_PAIRS = {
    "sgd": (lambda: SGD(0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "momentum": (lambda: Momentum(0.05, 0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "adam": (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-betas": (
        lambda: Adam(0.02, beta1=0.8, beta2=0.99, epsilon=1e-6),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    ),
    "sgd-wd": (lambda: SGD(0.05, weight_decay=0.1), lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.1)),
    "momentum-wd": (
        lambda: Momentum(0.05, 0.9, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
    ),
    "adam-wd": (
        lambda: Adam(0.01, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    "adamw": (lambda: AdamW(0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "adamw-wd": (
        lambda: AdamW(0.01, weight_decay=0.3),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.3),
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZER_PAIRS))
def test_optimizer_matches_torch_over_100_steps(name):
    make_ours, make_torch = OPTIMIZER_PAIRS[name]
    start = [np.random.default_rng(5).standard_normal(s) for s in SHAPES]
    final = run_both(make_ours, make_torch)
    # the comparison is only worth something if the parameters actually moved
    assert max(np.abs(p - s).max() for p, s in zip(final, start)) > 0.1


@pytest.mark.parametrize("name", ["momentum", "adam", "adamw-wd"])
def test_optimizer_matches_torch_when_the_learning_rate_changes_every_step(name):
    """The form of momentum (lr outside the velocity) only shows when the rate changes."""
    make_ours, make_torch = OPTIMIZER_PAIRS[name]
    lrs = [0.05 * (1 + math.cos(math.pi * k / 100)) / 2 + 1e-3 for k in range(100)]
    run_both(make_ours, make_torch, lrs=lrs)


def test_lbfgs_matches_torch_strong_wolfe_over_20_steps():
    # A tanh MLP fitting noisy targets (MSE), full batch. L-BFGS amplifies rounding differences
    # (y = g_new - g_old loses digits as steps shrink; the line search divides loss differences):
    # a well-conditioned problem keeps the two runs apart only by their arithmetic, not by chaos.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    y = np.tanh(x @ rng.standard_normal((5, 3))) + 0.1 * rng.standard_normal((200, 3))
    init = np.random.default_rng(1)
    net = NeuralNetwork(
        [Dense(5, 6, seed=init, dtype=np.float64), Tanh(), Dense(6, 3, seed=init, dtype=np.float64)],
        MeanSquaredError(),
    )
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 6, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 3, dtype=torch.float64),
    )
    with torch.no_grad():
        for ours, theirs in ((net.layers[0], model[0]), (net.layers[2], model[2])):
            theirs.weight.copy_(t64(ours.W.T))
            theirs.bias.copy_(t64(ours.b))
    settings = dict(max_iter=3, history_size=4, tolerance_grad=1e-7, tolerance_change=1e-9)
    ours = LBFGS(learning_rate=1.0, **settings)
    theirs = torch.optim.LBFGS(model.parameters(), lr=1.0, line_search_fn="strong_wolfe", **settings)
    params, grads = net.parameters(), net.gradients()
    xt, yt = t64(x), t64(y)

    def closure() -> float:
        loss = net.compute_loss(net.forward(x, training=True), y)
        net.backward()
        return loss

    def torch_closure():
        theirs.zero_grad()
        loss = F.mse_loss(model(xt), yt)
        loss.backward()
        return loss

    losses, expected = [], []
    for _ in range(20):
        losses.append(ours.step(params, grads, closure))
        expected.append(theirs.step(torch_closure).item())
        torch_params = [model[0].weight.T, model[0].bias, model[2].weight.T, model[2].bias]
        for p, q in zip(params, torch_params):
            close(p, q.detach().numpy())
    close(losses, expected)
    state = theirs.state[model[0].weight]
    assert (ours.n_iter, ours.func_evals) == (state["n_iter"], state["func_evals"])
    assert ours.n_iter > 20  # steps of more than one iteration, each with a line search
    assert losses[-1] < 0.05 * losses[0]  # it learned: the comparison is not of a flat line


def test_adam_and_adamw_differ_when_weight_decay_is_on():
    """Coupled and decoupled decay are different algorithms: parity tests that confused them would fail."""
    coupled = run_both(*OPTIMIZER_PAIRS["adam-wd"], steps=20)  # Adam(weight_decay=0.1), checked against torch
    decoupled = [np.random.default_rng(5).standard_normal(s) for s in SHAPES]
    opt = AdamW(0.01, weight_decay=0.1)
    for grads in gradient_sequence(20, 6):
        opt.step(decoupled, grads)
    assert max(np.abs(a - w).max() for a, w in zip(coupled, decoupled)) > 1e-4


# -- schedules ---------------------------------------------------------------------


def torch_lrs(make_scheduler, steps: int, base_lr: float) -> np.ndarray:
    """The learning rate torch uses at each of ``steps`` optimizer steps, the scheduler stepped after each."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.array(lrs)


def our_lrs(schedule, steps: int, base_lr: float) -> np.ndarray:
    return np.array([schedule(k, base_lr) for k in range(steps)])


@pytest.mark.parametrize(("step_size", "gamma"), [(30, 0.5), (1, 0.9), (7, 0.1)])
def test_step_decay_matches_torch_steplr_over_200_steps(step_size, gamma):
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 200, 0.1)
    close(our_lrs(StepDecay(step_size, gamma), 200, 0.1), expected)


@pytest.mark.parametrize("power_t", [0.25, 0.5, 1.0])
def test_invscaling_matches_torch_lambdalr_over_200_steps(power_t):
    expected = torch_lrs(
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: (t + 1) ** -power_t), 200, 0.1
    )
    close(our_lrs(InvScaling(power_t), 200, 0.1), expected)


@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_annealing_matches_torch_over_200_steps(min_lr):
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 200, min_lr), 200, 0.1)
    close(our_lrs(CosineAnnealing(200, min_lr), 200, 0.1), expected)


def test_cosine_annealing_agrees_with_torch_up_to_total_steps_then_stays_at_min_lr():
    """A documented difference: torch's cosine is periodic and rises again after T_max; ours stays down."""
    total, min_lr = 120, 0.01
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total, min_lr), 200, 0.1)
    ours = our_lrs(CosineAnnealing(total, min_lr), 200, 0.1)
    close(ours[: total + 1], expected[: total + 1])
    np.testing.assert_array_equal(ours[total:], min_lr)
    assert expected[-1] > min_lr + 0.01  # torch's has risen again: the clamp is a real difference


@pytest.mark.parametrize(
    ("warmup", "start_factor", "min_lr"), [(20, 0.1, 0.0), (50, 0.5, 0.01), (1, 0.2, 0.0)]
)
def test_warmup_cosine_matches_torch_sequential_linear_then_cosine_over_200_steps(
    warmup, start_factor, min_lr
):
    total = 200
    lr_scheduler = torch.optim.lr_scheduler

    def make(o):
        return lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor, 1.0, warmup),
                lr_scheduler.CosineAnnealingLR(o, total - warmup, min_lr),
            ],
            milestones=[warmup],
        )

    expected = torch_lrs(make, total, 0.1)
    ours = our_lrs(WarmupCosine(warmup, total, start_factor, min_lr), total, 0.1)
    close(ours, expected)
    assert ours[0] == pytest.approx(0.1 * start_factor)
    assert ours[warmup] == pytest.approx(0.1)


# -- a whole training run ----------------------------------------------------------


def torch_twin(net: NeuralNetwork) -> torch.nn.Sequential:
    """A torch copy of a Dense-ReLU-Dense network with the same weights (nn.Linear stores W.T)."""
    first, _, last = net.layers
    model = torch.nn.Sequential(
        torch.nn.Linear(first.in_features, first.out_features, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(last.in_features, last.out_features, dtype=torch.float64),
    )
    with torch.no_grad():
        for ours, theirs in ((first, model[0]), (last, model[2])):
            theirs.weight.copy_(t64(ours.W.T))
            theirs.bias.copy_(t64(ours.b))
    return model


def torch_warmup_cosine(opt, warmup: int, total: int):
    lr_scheduler = torch.optim.lr_scheduler
    return lr_scheduler.SequentialLR(
        opt,
        [lr_scheduler.LinearLR(opt, 0.1, 1.0, warmup), lr_scheduler.CosineAnnealingLR(opt, total - warmup)],
        milestones=[warmup],
    )


TRAINING_RUNS = {
    "sgd": (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1), None),
    "momentum": (lambda: Momentum(0.05, 0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), None),
    "adam": (lambda: Adam(0.003), lambda p: torch.optim.Adam(p, lr=0.003), None),
    # the trainer consults the schedule before every update, as torch's scheduler.step() after every update
    "adamw-warmup-cosine": (
        lambda: AdamW(0.01, weight_decay=0.05),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
        (5, 30),
    ),
}


@pytest.mark.parametrize("name", list(TRAINING_RUNS))
def test_three_epoch_training_run_gives_torch_per_batch_losses(name):
    make_ours, make_torch, warmup_total = TRAINING_RUNS[name]
    n, batch_size, epochs, seed = 150, 16, 3, 11  # 150 = 9 * 16 + 6: a short last batch
    x, y = teacher_data(np.random.default_rng(7), n, 64, 10)
    init = np.random.default_rng(8)
    loss = RecordingCrossEntropy()
    net = NeuralNetwork(
        [Dense(64, 32, seed=init, dtype=np.float64), ReLU(), Dense(32, 10, seed=init, dtype=np.float64)], loss
    )
    model = torch_twin(net)
    topt = make_torch(model.parameters())
    schedule = scheduler = None
    if warmup_total is not None:
        schedule = WarmupCosine(*warmup_total)
        scheduler = torch_warmup_cosine(topt, *warmup_total)

    trainer = Trainer(net, make_ours(), batch_size=batch_size, seed=seed, schedule=schedule)
    history = trainer.fit(x, y, epochs=epochs, verbose=False)

    # The trainer draws one permutation per epoch from its generator: replay it with a twin.
    order_rng = np.random.default_rng(seed)
    expected, lrs = [], []
    for _ in range(epochs):
        perm = order_rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            topt.zero_grad()
            lt = F.cross_entropy(model(t64(x[idx])), torch.tensor(y[idx]))
            lt.backward()
            lrs.append(topt.param_groups[0]["lr"])
            topt.step()
            if scheduler is not None:
                scheduler.step()
            expected.append(lt.item())

    assert len(loss.values) == epochs * math.ceil(n / batch_size)
    close(loss.values, expected, atol=1e-9)
    close(net.layers[0].W, model[0].weight.detach().numpy().T, atol=1e-9)
    close(net.layers[2].b, model[2].bias.detach().numpy(), atol=1e-9)
    close(
        history.column("lr"), [lrs[k * 10 - 1] for k in range(1, epochs + 1)]
    )  # lr of each epoch's last step
    assert np.mean(expected[-9:]) < np.mean(expected[:9])  # it learned: the comparison is not of a flat line


def test_warmup_cosine_agrees_with_torch_up_to_total_steps_then_stays_at_min_lr():
    warmup, total, min_lr = 10, 100, 0.005
    expected = torch_lrs(
        lambda o: torch.optim.lr_scheduler.SequentialLR(
            o,
            [
                torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, warmup),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, total - warmup, min_lr),
            ],
            milestones=[warmup],
        ),
        200,
        0.1,
    )
    ours = our_lrs(WarmupCosine(warmup, total, 0.1, min_lr), 200, 0.1)
    close(ours[: total + 1], expected[: total + 1])
    np.testing.assert_array_equal(ours[total:], min_lr)
    assert expected[-1] > min_lr + 0.01  # torch's cosine is periodic and has risen again
