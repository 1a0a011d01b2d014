"""Optimizers: turn gradients into parameter updates.

``optimizer.step(params, grads)`` updates every array in ``params`` in place,
using ``grads`` (aligned: ``grads[i]`` is the gradient of ``params[i]``). State
such as velocities is kept in lists aligned the same way, created on the first
step. Every optimizer follows ``torch.optim`` with the same settings, update for
update; the docstrings name the convention, because textbooks (and well-known
from-scratch projects) use several different ones without saying so.

``learning_rate`` is a plain attribute: a schedule changes it between steps.

``LBFGS`` is the exception to the mini-batch interface: it is full batch
(``full_batch = True``), and its ``step(params, grads, closure)`` calls
``closure()`` (forward and backward over the whole training set, returning the
loss) as often as its line search needs. The trainer runs one such step per epoch.

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
from .line_search import strong_wolfe
from .validation import check_float_in_range, check_positive_float, check_positive_int

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Optimizer",
    "clip_grad_norm",
    "make_optimizer",
]


class Optimizer(Configurable):
    """Base class: holds the learning rate, the weight decay and per-parameter state."""

    #: True for an optimizer whose ``step(params, grads, closure)`` re-evaluates the loss over the
    #: whole training set itself (L-BFGS): the trainer then runs one step per epoch
    full_batch = False
    #: Whether the optimizer itself has ended training: found a minimum (``converged``) or spent
    #: its budget of loss evaluations (``exhausted``). Only L-BFGS ever sets them.
    converged = exhausted = False

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


class LBFGS(Optimizer):
    """L-BFGS with a strong-Wolfe line search, full batch, exactly as
    ``torch.optim.LBFGS(line_search_fn="strong_wolfe")``.

    Unlike the mini-batch optimizers, one ``step(params, grads, closure)`` may
    evaluate the loss many times: ``closure()`` runs forward and backward on
    the *whole* training set at the current ``params``, writes ``grads`` and
    returns the loss. The trainer calls it once per epoch (``full_batch``).

    All parameters are treated as one flat vector ``x`` with gradient ``g``.
    A step runs up to ``max_iter`` iterations, each:

    1. **Direction** ``d = -H g``, where ``H`` approximates the inverse Hessian
       from the last ``history_size`` pairs ``s_i = x_{i+1} - x_i`` and ``y_i =
       g_{i+1} - g_i`` (a pair is kept only if ``y . s > 1e-10``, which keeps
       ``H`` positive definite). The **two-loop recursion** applies ``H``
       without forming it::

           q = -g
           for i = newest .. oldest:  a_i = rho_i s_i . q;  q -= a_i y_i      rho_i = 1 / (y_i . s_i)
           r = gamma q                                     gamma = y . s / y . y (newest pair)
           for i = oldest .. newest:  b_i = rho_i y_i . r;  r += (a_i - b_i) s_i
           d = r

       The very first iteration has no pairs: ``d = -g``, and its trial step is
       ``min(1, 1 / sum|g|) * lr`` so that it cannot be huge; later ones try ``lr``.
    2. **Step length** ``t`` by the strong-Wolfe line search
       (``scratchnn.line_search``: bracketing, then zoom by cubic interpolation),
       with ``c1 = 1e-4`` and ``c2 = 0.9``; then ``x += t d``.

    It stops after ``max_iter`` iterations or ``max_eval`` evaluations (default
    ``max_iter * 5 // 4``), when ``max|g| <= tolerance_grad``, when ``g . d >
    -tolerance_change`` (no descent left), or when the step ``max|t d|`` or the
    change of the loss falls below ``tolerance_change``. The history carries
    over to the next ``step``, as torch's state does.

    ``max_fun`` (None: no limit) bounds the evaluations over all steps
    (scikit-learn's ``max_fun``): a step's budget is ``min(max_eval, max_fun -
    evaluations so far)``, and once it is spent ``step`` evaluates the loss once
    more and moves nothing (``exhausted`` is then True). ``converged`` says whether
    the last step ended on the gradient or no-progress tests (a trainer that runs
    one iteration per step stops there, as scipy's L-BFGS-B does). ``weight_decay`` adds
    ``wd/2 ||x||^2`` to the loss and ``wd x`` to the gradient, so the line
    search sees the objective whose gradient it follows (torch's has none;
    with the default 0 the steps are torch's).
    """

    full_batch = True  # step(params, grads, closure): the loss over the whole training set

    def __init__(
        self,
        learning_rate: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        weight_decay: float = 0.0,
        max_fun: int | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay)
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.max_eval = max_iter * 5 // 4 if max_eval is None else check_positive_int(max_eval, "max_eval")
        self.tolerance_grad = check_float_in_range(tolerance_grad, "tolerance_grad", 0.0, math.inf)
        self.tolerance_change = check_float_in_range(tolerance_change, "tolerance_change", 0.0, math.inf)
        self.history_size = check_positive_int(history_size, "history_size")
        self.max_fun = None if max_fun is None else check_positive_int(max_fun, "max_fun")
        self.func_evals = 0  # loss evaluations over all steps
        self.n_iter = 0  # iterations over all steps
        self.old_dirs: list[np.ndarray] = []  # y_i = g_{i+1} - g_i, oldest first
        self.old_stps: list[np.ndarray] = []  # s_i = x_{i+1} - x_i
        self.ro: list[float] = []  # rho_i = 1 / (y_i . s_i)
        self.h_diag = 1.0  # gamma, the scale of the initial inverse Hessian
        self.d: np.ndarray | None = None  # last direction
        self.t = 0.0  # last step length along d
        self.prev_flat_grad: np.ndarray | None = None

    @property
    def exhausted(self) -> bool:
        """True once ``max_fun`` evaluations have been spent."""
        return self.max_fun is not None and self.func_evals >= self.max_fun

    def new_run(self) -> None:
        """Give a new run (a warm-started fit) its own ``max_fun`` budget; the history carries on."""
        self.func_evals = 0

    def _loss_and_grad(self, params, grads, closure) -> tuple[float, np.ndarray]:
        """``closure()`` at the current ``params``, with the L2 term; the gradient flattened."""
        loss = float(closure())
        flat = np.concatenate([g.ravel() for g in grads])
        if self.weight_decay:
            flat_p = np.concatenate([p.ravel() for p in params])
            loss += 0.5 * self.weight_decay * float(flat_p @ flat_p)
            flat += self.weight_decay * flat_p
        return loss, flat

    @staticmethod
    def _add(params, t: float, d: np.ndarray) -> None:
        """``x += t d`` on the parameter arrays, ``d`` flat in their order."""
        offset = 0
        for p in params:
            p += t * d[offset : offset + p.size].reshape(p.shape)
            offset += p.size

    def _direction(self, flat_grad: np.ndarray, d: np.ndarray, t: float) -> np.ndarray:
        """``-H g`` by the two-loop recursion, after storing the newest pair ``(s = t d, y)``."""
        y = flat_grad - self.prev_flat_grad
        s = d * t
        ys = float(y @ s)
        if ys > 1e-10:  # curvature condition: keeps H positive definite
            if len(self.old_dirs) == self.history_size:
                del self.old_dirs[0], self.old_stps[0], self.ro[0]
            self.old_dirs.append(y)
            self.old_stps.append(s)
            self.ro.append(1.0 / ys)
            self.h_diag = ys / float(y @ y)
        al = [0.0] * len(self.old_dirs)
        q = -flat_grad
        for i in range(len(self.old_dirs) - 1, -1, -1):
            al[i] = float(self.old_stps[i] @ q) * self.ro[i]
            q -= al[i] * self.old_dirs[i]
        r = q * self.h_diag
        for i in range(len(self.old_dirs)):
            be_i = float(self.old_dirs[i] @ r) * self.ro[i]
            r += (al[i] - be_i) * self.old_stps[i]
        return r

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], closure=None) -> float:
        """Up to ``max_iter`` L-BFGS iterations on ``params``; returns the loss at the start.

        ``closure()`` must compute the loss over the whole training set at the
        current ``params``, write the gradients into ``grads`` and return the loss.
        """
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that computes the loss and fills the gradients")
        loss, flat_grad = self._loss_and_grad(params, grads, closure)
        orig_loss = loss
        current_evals = 1
        self.func_evals += 1
        self.converged = bool(np.max(np.abs(flat_grad)) <= self.tolerance_grad)
        if self.converged or self.exhausted:
            return orig_loss  # optimal already, or the evaluation budget is spent

        def evaluate(t: float) -> tuple[float, np.ndarray]:
            # the loss and gradient at x + t d, leaving x as it was
            self._add(params, t, d)
            result = self._loss_and_grad(params, grads, closure)
            for p, p0 in zip(params, x_init):
                p[...] = p0
            return result

        d, t = self.d, self.t  # the last step, which the first iteration's pair (s, y) describes
        for n_iter in range(1, self.max_iter + 1):
            self.n_iter += 1
            if self.n_iter == 1:
                d = -flat_grad
                self.old_dirs, self.old_stps, self.ro, self.h_diag = [], [], [], 1.0
            else:
                d = self._direction(flat_grad, d, t)
            self.prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # the first trial step is at most lr / sum|g| long; later ones try lr
            lr = self.learning_rate
            t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr if self.n_iter == 1 else lr
            gtd = float(flat_grad @ d)  # the slope along d
            if gtd > -self.tolerance_change or self.exhausted:
                self.converged = not self.exhausted  # no descent left along d
                break
            # the line search evaluates at most max_ls + 1 times
            max_ls = self.max_eval - current_evals
            if self.max_fun is not None:
                max_ls = min(max_ls, self.max_fun - self.func_evals - 1)
            x_init = [p.copy() for p in params]
            loss, flat_grad, t, ls_evals = strong_wolfe(evaluate, t, d, loss, flat_grad, gtd, max_ls=max_ls)
            self._add(params, t, d)
            current_evals += ls_evals
            self.func_evals += ls_evals
            self.converged = bool(
                np.max(np.abs(flat_grad)) <= self.tolerance_grad  # optimal
                or np.max(np.abs(d * t)) <= self.tolerance_change  # no progress
                or abs(loss - prev_loss) < self.tolerance_change
            )
            if self.converged or n_iter == self.max_iter or current_evals >= self.max_eval or self.exhausted:
                break
        self.d, self.t = d, t
        return orig_loss

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_iter": self.max_iter,
            "max_eval": self.max_eval,
            "tolerance_grad": self.tolerance_grad,
            "tolerance_change": self.tolerance_change,
            "history_size": self.history_size,
            "max_fun": self.max_fun,
        }


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
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "adamw": AdamW, "lbfgs": LBFGS}


def make_optimizer(name: str, learning_rate: float, weight_decay: float = 0.0, **kwargs) -> Optimizer:
    """Build an optimizer by its name in ``OPTIMIZERS``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
