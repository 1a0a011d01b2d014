"""Every optimizer's update rule, recomputed by hand for two steps on two numbers.

Each test starts from ``p = [1.0, -2.0]`` and feeds the gradients
``g1 = [0.5, -1.0]`` then ``g2 = [0.2, 0.4]``, with ``lr = 0.1``; the expected
values are worked out in the comments, so a reader sees the rule as numbers.
(The PyTorch comparisons over 100 steps are in test_torch_parity.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.optimizers import SGD, Adam, AdamW, Momentum

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
