"""Optimizers: turn gradients into parameter updates.

``optimizer.step(params, grads)`` updates every array in ``params`` in place,
using ``grads`` (aligned: ``grads[i]`` is the gradient of ``params[i]``). State
such as velocities is kept in lists aligned the same way, created on the first
step. Every optimizer follows ``torch.optim`` with the same settings, update for
update; the docstrings name the convention, because textbooks (and well-known
from-scratch projects) use several different ones without saying so.

``learning_rate`` is a plain attribute: a schedule changes it between steps.

Weight decay comes in two forms:

* coupled (``weight_decay`` of SGD, Momentum and Adam, as ``torch.optim``'s
  ``weight_decay``): the L2 penalty's gradient ``wd * p`` is added to the
  gradient before anything else;
* decoupled (``AdamW``): the weights shrink by ``lr * wd * p`` directly, apart
  from the gradient. For SGD the two are the same; for Adam they are not,
  because Adam divides the gradient by ``sqrt(v)``: coupled decay is then
  weakest on the weights with the largest gradients. Decoupling (Loshchilov &
  Hutter, 2019) makes every weight decay at the same rate.
"""

from __future__ import annotations

import math

import numpy as np

from ._configurable import Configurable
from .validation import check_float_in_range, check_positive_float

__all__ = ["OPTIMIZERS", "SGD", "Adam", "AdamW", "Momentum", "Optimizer", "clip_grad_norm", "make_optimizer"]


class Optimizer(Configurable):
    """Base class: holds the learning rate, the weight decay and per-parameter state."""

    def __init__(self, learning_rate: float, weight_decay: float = 0.0) -> None:
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.weight_decay = check_float_in_range(weight_decay, "weight_decay", 0.0, math.inf)
        self.t = 0  # number of steps taken
        self._buf: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place from ``grads``."""
        raise NotImplementedError

    def _state(self, params: list[np.ndarray]) -> list[np.ndarray]:
        return [np.zeros_like(p) for p in params]

    def _effective_grads(self, params, grads):
        """``g + weight_decay * p`` (coupled L2), written into a reused buffer; else ``g``."""
        if not self.weight_decay:
            return grads  # no buffer at all without decay
        if self._buf is None:
            self._buf = self._state(params)
        for p, g, buf in zip(params, grads, self._buf):
            np.multiply(p, self.weight_decay, out=buf)
            buf += g
        return self._buf

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p -= lr * g``.

    With ``weight_decay``, ``g`` is first replaced by ``g + weight_decay * p``
    (coupled L2), as ``torch.optim.SGD``.
    """

    def __init__(self, learning_rate: float = 0.01, weight_decay: float = 0.0) -> None:
        super().__init__(learning_rate, weight_decay)
        self._step_buf: list[np.ndarray] | None = None

    def step(self, params, grads) -> None:
        grads = self._effective_grads(params, grads)
        if self._step_buf is None:
            self._step_buf = self._state(params)
        self.t += 1
        lr = self.learning_rate
        for p, g, buf in zip(params, grads, self._step_buf):
            # p -= lr * g, without allocating the temporary lr * g
            np.multiply(g, lr, out=buf)
            p -= buf


class Momentum(Optimizer):
    """SGD with momentum, in ``torch.optim.SGD(momentum=m)``'s form (dampening 0, no Nesterov)::

        v = m * v + g        (v starts at 0, so the first v is g)
        p = p - lr * v

    Note the learning rate multiplies the velocity, not the gradient inside it.
    The other common form, ``v = m * v - lr * g; p += v``, gives the same steps
    only while ``lr`` is constant; under a schedule they differ.
    ``weight_decay`` is coupled, added to ``g`` first.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(learning_rate, weight_decay)
        self.momentum = check_float_in_range(momentum, "momentum", 0.0, 1.0)
        self.velocities: list[np.ndarray] | None = None
        self._step_buf: list[np.ndarray] | None = None

    def step(self, params, grads) -> None:
        grads = self._effective_grads(params, grads)
        if self.velocities is None:
            self.velocities = self._state(params)
            self._step_buf = self._state(params)
        self.t += 1
        lr, m = self.learning_rate, self.momentum
        for p, g, v, buf in zip(params, grads, self.velocities, self._step_buf):
            v *= m
            v += g
            np.multiply(v, lr, out=buf)
            p -= buf

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) exactly as ``torch.optim.Adam``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)           bias corrections, t = 1, 2, ...
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (sqrt(v_hat) + epsilon)

    ``epsilon`` is added **after** the square root (some texts add it inside),
    and both moments are bias-corrected. The code computes it in torch's
    algebraically equal order: ``p -= (lr / (1 - beta1**t)) * m / (sqrt(v) /
    sqrt(1 - beta2**t) + epsilon)``.

    ``weight_decay`` here is coupled L2 (added to ``g`` first), as
    ``torch.optim.Adam``'s; see ``AdamW`` for the decoupled form.
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate, weight_decay)
        self.beta1 = check_float_in_range(beta1, "beta1", 0.0, 1.0)
        self.beta2 = check_float_in_range(beta2, "beta2", 0.0, 1.0)
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None
        self._step_buf: list[np.ndarray] | None = None

    decoupled = False  # AdamW: the decay shrinks the weights instead of entering the gradient

    def step(self, params, grads) -> None:
        if not self.decoupled:
            grads = self._effective_grads(params, grads)
        if self.m is None:
            self.m, self.v, self._step_buf = (self._state(params) for _ in range(3))
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.learning_rate / (1.0 - b1**self.t)
        sqrt_bc2 = math.sqrt(1.0 - b2**self.t)
        if self.decoupled and self.weight_decay:
            shrink = 1.0 - self.learning_rate * self.weight_decay
            for p in params:
                p *= shrink
        for p, g, m, v, buf in zip(params, grads, self.m, self.v, self._step_buf):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            np.multiply(g, g, out=buf)
            buf *= 1.0 - b2
            v += buf
            # buf = sqrt(v) / sqrt(1 - b2**t) + eps;  p -= step_size * m / buf
            np.sqrt(v, out=buf)
            buf /= sqrt_bc2
            buf += self.epsilon
            np.divide(m, buf, out=buf)
            buf *= step_size
            p -= buf

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay, exactly as ``torch.optim.AdamW``.

    Before the Adam update of step ``t``, every weight shrinks directly::

        p = p * (1 - lr * weight_decay)

    and the gradient is left alone. Unlike Adam's coupled ``weight_decay``, the
    decay is not divided by ``sqrt(v_hat)``, so all weights decay at the same
    rate whatever their gradient history. Default ``weight_decay=0.01`` as torch.
    """

    decoupled = True

    def __init__(self, learning_rate: float = 0.001, *, weight_decay: float = 0.01, **adam) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **adam)  # only the default differs


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale ``grads`` in place so that their global norm is at most ``max_norm``; return the norm before.

    As ``torch.nn.utils.clip_grad_norm_`` (same epsilon, same rule)::

        total = sqrt(sum over every array and element of g**2)
        coef  = max_norm / (total + 1e-6)
        g     = g * coef        for every array, only if coef < 1

    One norm over all the parameters together, not one per array: the update
    keeps its direction and only its length is capped, so one exploding
    gradient (a recurrent network's, a loss spike) cannot throw the weights far.
    Called between ``backward`` and the optimizer's ``step``.
    """
    max_norm = check_positive_float(max_norm, "max_norm")
    # vdot of the flat array with itself: the sum of squares in one BLAS call, without a g * g temporary
    total = math.sqrt(sum(float(np.vdot(g.reshape(-1), g.reshape(-1))) for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


# The names the settings and the command line use.
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, learning_rate: float, weight_decay: float = 0.0, **kwargs) -> Optimizer:
    """Build an optimizer by its name in ``OPTIMIZERS``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
