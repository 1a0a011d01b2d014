"""Every optimizer's update rule, recomputed by hand for two steps on two numbers.

Each test starts from ``p = [1.0, -2.0]`` and feeds the gradients
``g1 = [0.5, -1.0]`` then ``g2 = [0.2, 0.4]``, with ``lr = 0.1``; the expected
values are worked out in the comments, so a reader sees the rule as numbers.
(The PyTorch comparisons over 100 steps are in test_torch_parity.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.optimizers import LBFGS, SGD, Adam, AdamW, Momentum

G1 = np.array([0.5, -1.0])
G2 = np.array([0.2, 0.4])


def start() -> np.ndarray:
    return np.array([1.0, -2.0])


def close(actual, expected) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=0)


def test_sgd_two_steps_by_hand():
    p = start()
    opt = SGD(learning_rate=0.1)
    opt.step([p], [G1])
    close(p, [0.95, -1.9])  # p - lr * g1 = [1 - 0.05, -2 + 0.1]
    opt.step([p], [G2])
    close(p, [0.93, -1.94])  # [0.95 - 0.02, -1.9 - 0.04]


def test_sgd_weight_decay_adds_decay_times_p_to_the_gradient():
    p = start()
    opt = SGD(learning_rate=0.1, weight_decay=0.5)
    opt.step([p], [G1])
    close(p, [0.9, -1.8])  # g = g1 + 0.5 * p = [1.0, -2.0]; p - 0.1 * g
    opt.step([p], [G2])
    close(p, [0.835, -1.75])  # g = [0.2 + 0.45, 0.4 - 0.9] = [0.65, -0.5]


def test_momentum_two_steps_by_hand():
    p = start()
    opt = Momentum(learning_rate=0.1, momentum=0.9)
    opt.step([p], [G1])
    close(opt.velocities[0], [0.5, -1.0])  # v = 0.9 * 0 + g1
    close(p, [0.95, -1.9])  # p - lr * v
    opt.step([p], [G2])
    close(opt.velocities[0], [0.65, -0.5])  # v = 0.9 * [0.5, -1.0] + [0.2, 0.4]
    close(p, [0.885, -1.85])  # [0.95 - 0.065, -1.9 + 0.05]


def test_adam_two_steps_by_hand():
    p = start()
    opt = Adam(learning_rate=0.1, beta1=0.9, beta2=0.999, epsilon=1e-8)

    opt.step([p], [G1])
    close(opt.m[0], [0.05, -0.1])  # m = 0.9 * 0 + 0.1 * g1
    close(opt.v[0], [0.00025, 0.001])  # v = 0.999 * 0 + 0.001 * g1**2
    # m_hat = m / (1 - 0.9) = [0.5, -1.0]; v_hat = v / (1 - 0.999) = [0.25, 1.0]
    # p - lr * m_hat / (sqrt(v_hat) + eps): each weight moves by about lr, whatever the gradient's scale
    p1 = np.array([1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 1.0 / (1.0 + 1e-8)])
    close(p, p1)

    opt.step([p], [G2])
    close(opt.m[0], [0.065, -0.05])  # 0.9 * [0.05, -0.1] + 0.1 * [0.2, 0.4]
    close(opt.v[0], [0.00028975, 0.001159])  # 0.999 * [0.00025, 0.001] + 0.001 * [0.04, 0.16]
    # bias corrections at t = 2: 1 - 0.9**2 = 0.19 and 1 - 0.999**2 = 0.001999
    m_hat = np.array([0.065, -0.05]) / 0.19
    v_hat = np.array([0.00028975, 0.001159]) / 0.001999
    close(p, p1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8))


def test_adamw_two_steps_by_hand():
    p = start()
    opt = AdamW(learning_rate=0.1, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.5)

    opt.step([p], [G1])
    # decoupled decay first, p * (1 - lr * wd) = p * 0.95, then Adam's step on the *unchanged* gradient,
    # which is the same as in test_adam_two_steps_by_hand
    p1 = np.array([0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -1.9 + 0.1 * 1.0 / (1.0 + 1e-8)])
    close(p, p1)
    close(opt.m[0], [0.05, -0.1])  # the moments never see the decay
    close(opt.v[0], [0.00025, 0.001])

    opt.step([p], [G2])
    m_hat = np.array([0.065, -0.05]) / 0.19
    v_hat = np.array([0.00028975, 0.001159]) / 0.001999
    close(p, p1 * 0.95 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8))


def test_adam_coupled_weight_decay_goes_through_the_moments():
    p = start()
    opt = Adam(learning_rate=0.1, weight_decay=0.5)
    opt.step([p], [G1])
    # g = g1 + 0.5 * p = [1.0, -2.0] enters m and v, unlike AdamW's
    close(opt.m[0], [0.1, -0.2])
    close(opt.v[0], [0.001, 0.004])
    close(p, [1.0 - 0.1 * 1.0 / (1.0 + 1e-8), -2.0 + 0.1 * 2.0 / (2.0 + 1e-8)])


def test_no_weight_decay_buffer_is_allocated_when_the_decay_is_zero():
    from scratchnn.optimizers import OPTIMIZERS

    params, grads = [np.ones((3, 2))], [np.full((3, 2), 0.5)]
    for name, cls in OPTIMIZERS.items():
        if cls.full_batch:
            continue  # L-BFGS adds its decay inside the loss it evaluates, without a buffer
        opt = cls(learning_rate=0.1, weight_decay=0.0)
        opt.step([p.copy() for p in params], grads)
        assert opt._buf is None, name
    decayed = OPTIMIZERS["sgd"](learning_rate=0.1, weight_decay=0.5)
    decayed.step([p.copy() for p in params], grads)
    assert decayed._buf is not None


def test_make_optimizer_and_make_schedule_build_every_name_in_their_tables():
    from scratchnn.optimizers import OPTIMIZERS, make_optimizer
    from scratchnn.schedules import SCHEDULES, make_schedule

    for name, cls in OPTIMIZERS.items():
        assert type(make_optimizer(name, 0.1)) is cls
    for name, cls in SCHEDULES.items():
        schedule = make_schedule(name, 30)
        assert schedule is None if cls is None else type(schedule) is cls
    assert repr(make_schedule("step", 30)) == "StepDecay(step_size=10, gamma=0.1)"
    assert repr(AdamW(0.1)).startswith("AdamW(learning_rate=0.1, weight_decay=0.01, beta1=0.9")
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("linear", 30)


def quadratic(p: np.ndarray, g: np.ndarray):
    """A closure for ``f(x) = (x1**2 + 2 x2**2) / 2``: writes ``g = (x1, 2 x2)`` and returns ``f``."""

    def closure() -> float:
        g[...] = p * [1.0, 2.0]
        return 0.5 * float(p[0] ** 2 + 2 * p[1] ** 2)

    return closure


def test_lbfgs_two_steps_by_hand():
    p, g = np.array([1.0, 1.0]), np.zeros(2)
    opt = LBFGS(learning_rate=1.0, max_iter=1)
    # Step 1: f = 1.5, g0 = (1, 2), no history: d = -g0; the first trial step is
    # min(1, 1 / sum|g0|) = 1/3, landing on x1 = (2/3, 1/3) with f = 1/3 and g1 = (2/3, 2/3).
    # Armijo: 1/3 <= 1.5 - 1e-4 * (1/3) * 5; curvature: |g1 . d| = 2 <= 0.9 * |g0 . d| = 4.5.
    # Both hold at the first trial, so the line search takes it.
    assert opt.step([p], [g], quadratic(p, g)) == 1.5
    close(p, [2 / 3, 1 / 3])
    assert opt.func_evals == 2  # the loss at x0, then at the trial point
    # Step 2: s = x1 - x0 = (-1/3, -2/3), y = g1 - g0 = (-1/3, -4/3): y.s = 1, y.y = 17/9,
    # gamma = 9/17. Two-loop recursion on q = -g1 = (-2/3, -2/3):
    #   a = rho s.q = 2/3;  q - a y = (-4/9, 2/9);  r = gamma q = (-4/17, 2/17)
    #   b = rho y.r = -4/51;  d = r + (a - b) s = (-74/153, -58/153)
    # The trial step t = lr = 1 gives x2 = x1 + d = (28/153, -7/153), f = 441/23409: the
    # Armijo and curvature conditions hold again (g2 . d = -1260/23409, g1 . d = -88/153).
    close(opt.step([p], [g], quadratic(p, g)), 1 / 3)
    close(opt.old_stps[0], [-1 / 3, -2 / 3])
    close(opt.old_dirs[0], [-1 / 3, -4 / 3])
    close(opt.h_diag, 9 / 17)
    close(p, [28 / 153, -7 / 153])
    assert opt.func_evals == 4


def test_lbfgs_stops_at_max_fun_evaluations_over_all_steps():
    p, g = np.array([1.0, 1.0]), np.zeros(2)
    opt = LBFGS(learning_rate=1.0, max_iter=1, max_fun=3)
    opt.step([p], [g], quadratic(p, g))  # 2 evaluations
    assert not opt.exhausted
    opt.step([p], [g], quadratic(p, g))  # 1 left: the loss at the start, and no move
    assert opt.exhausted
    assert opt.func_evals == 3
    close(p, [2 / 3, 1 / 3])


def test_lbfgs_needs_a_closure():
    with pytest.raises(TypeError, match="closure"):
        LBFGS().step([np.ones(2)], [np.ones(2)])
