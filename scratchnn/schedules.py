"""Learning-rate schedules: the learning rate as a function of the step number.

A schedule is a small object called as ``schedule(step, base_lr) -> lr``. The
trainer calls it before every update, with ``step = 0`` for the first update,
and sets ``optimizer.learning_rate`` to the result; ``base_lr`` is the
optimizer's learning rate when training started. Each schedule gives the same
sequence as the ``torch.optim.lr_scheduler`` named in its docstring, stepped
once per update.
"""

from __future__ import annotations

import math

from ._configurable import Configurable
from .validation import check_float_in_range, check_positive_int

__all__ = [
    "SCHEDULES",
    "Adaptive",
    "CosineAnnealing",
    "InvScaling",
    "Schedule",
    "StepDecay",
    "WarmupCosine",
    "make_schedule",
]


class Schedule(Configurable):
    """Base class: ``schedule(step, base_lr)`` returns the learning rate for that step.

    ``for_run(total_steps, warmup_fraction)`` builds the schedule sized for a
    run of ``total_steps`` updates, as ``make_schedule`` names it.

    ``sized`` says whether the schedule spans one run (a warm-started run
    starts it anew) or goes on for ever (``InvScaling``, ``Adaptive``: a warm
    start continues it). ``reduce()`` is what a plateau of the loss does to the
    rate: None for a schedule that ignores plateaus (training then stops, if
    a stopping rule is on), else ``Adaptive`` lowers the rate.
    """

    sized = True

    def reduce(self) -> bool | None:
        """The loss stopped improving: lower the rate and return True, or False if it cannot."""
        return None

    def __call__(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float) -> Schedule:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class StepDecay(Schedule):
    """Step decay, as ``torch.optim.lr_scheduler.StepLR(step_size, gamma)``::

    lr_t = base_lr * gamma ** floor(t / step_size)
    """

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_float_in_range(gamma, "gamma", 0.0, 1.0, high_inclusive=True)

    def __call__(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float) -> StepDecay:
        """The rate divided by 10 after each third of the run."""
        return cls(max(1, math.ceil(total_steps / 3)), gamma=0.1)


def _cosine(t: int, total: int, base_lr: float, min_lr: float) -> float:
    t = min(t, total)  # stay at min_lr after the end instead of rising again
    return min_lr + (base_lr - min_lr) * (1.0 + math.cos(math.pi * t / total)) / 2.0


class CosineAnnealing(Schedule):
    """Cosine annealing over ``total_steps``, as ``CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)``::

        lr_t = min_lr + (base_lr - min_lr) * (1 + cos(pi * t / total_steps)) / 2

    for ``0 <= t <= total_steps``; after that it stays at ``min_lr`` (torch's
    would rise again, a cosine being periodic).
    """

    def __init__(self, total_steps: int, min_lr: float = 0.0) -> None:
        self.total_steps = check_positive_int(total_steps, "total_steps")
        self.min_lr = check_float_in_range(min_lr, "min_lr", 0.0, math.inf)

    def __call__(self, step: int, base_lr: float) -> float:
        return _cosine(step, self.total_steps, base_lr, self.min_lr)

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float) -> CosineAnnealing:
        """Annealing to 0 over the run."""
        return cls(total_steps)


class WarmupCosine(Schedule):
    """Linear warm-up then cosine annealing, as torch's
    ``SequentialLR([LinearLR(start_factor, 1.0, warmup_steps),
    CosineAnnealingLR(total_steps - warmup_steps, min_lr)], milestones=[warmup_steps])``::

        lr_t = base_lr * (start_factor + (1 - start_factor) * t / warmup_steps)   t < warmup_steps
        lr_t = cosine(t - warmup_steps) over total_steps - warmup_steps steps   otherwise

    After ``total_steps`` the rate stays at ``min_lr``, as ``CosineAnnealing``'s
    does (torch's cosine is periodic and would rise again).

    Warm-up keeps the first, noisy updates small while Adam's moment estimates
    settle; the cosine then lowers the rate smoothly to ``min_lr``.
    """

    def __init__(
        self, warmup_steps: int, total_steps: int, start_factor: float = 0.1, min_lr: float = 0.0
    ) -> None:
        self.warmup_steps = check_positive_int(warmup_steps, "warmup_steps")
        self.total_steps = check_positive_int(total_steps, "total_steps")
        if self.total_steps <= self.warmup_steps:
            raise ValueError(
                f"total_steps must be larger than warmup_steps={self.warmup_steps}, got {self.total_steps}"
            )
        self.start_factor = check_float_in_range(start_factor, "start_factor", 0.0, 1.0, high_inclusive=True)
        if self.start_factor == 0.0:
            raise ValueError("start_factor must be > 0, got 0.0")
        self.min_lr = check_float_in_range(min_lr, "min_lr", 0.0, math.inf)

    def __call__(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps)
        return _cosine(step - self.warmup_steps, self.total_steps - self.warmup_steps, base_lr, self.min_lr)

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float) -> WarmupCosine:
        """Warm-up over ``warmup_fraction`` of the run (at least one step), then the cosine."""
        warmup = max(1, round(total_steps * warmup_fraction))
        return cls(min(warmup, total_steps - 1) or 1, max(total_steps, 2))


class InvScaling(Schedule):
    """Inverse scaling, scikit-learn's ``learning_rate="invscaling"`` counted in updates::

        lr_t = base_lr / (t + 1) ** power_t

    (torch's ``LambdaLR(lambda t: (t + 1) ** -power_t)``). scikit-learn's MLP counts
    ``t`` in training samples seen and changes the rate once per epoch; here ``t``
    is the number of updates, as every schedule of this module counts it. The rate
    falls for ever, so a warm-started run continues it.
    """

    sized = False

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = check_float_in_range(power_t, "power_t", 0.0, math.inf)

    def __call__(self, step: int, base_lr: float) -> float:
        return base_lr / (step + 1) ** self.power_t

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float, power_t: float = 0.5) -> InvScaling:
        return cls(power_t)


class Adaptive(Schedule):
    """scikit-learn's ``learning_rate="adaptive"``: constant until the loss stops improving.

    ``base_lr * factor ** k`` after ``k`` plateaus. A plateau is what the
    stopping rule sees (the training loss, or the validation loss with early
    stopping, has not improved by ``tol`` for ``n_iter_no_change`` epochs):
    instead of stopping, ``reduce`` divides the rate by 5 (``factor = 0.2``)
    and training goes on, until the rate is at most ``min_lr = 1e-6``; the next
    plateau then stops it. (torch's ``ReduceLROnPlateau(factor=0.2,
    threshold_mode="abs")``, with the stop scikit-learn adds.)
    """

    sized = False

    def __init__(self, factor: float = 0.2, min_lr: float = 1e-6) -> None:
        self.factor = check_float_in_range(factor, "factor", 0.0, 1.0)
        self.min_lr = check_float_in_range(min_lr, "min_lr", 0.0, math.inf)
        self.scale = 1.0  # factor ** plateaus so far
        self.last_lr = math.inf

    def __call__(self, step: int, base_lr: float) -> float:
        self.last_lr = base_lr * self.scale
        return self.last_lr

    def reduce(self) -> bool:
        if self.last_lr <= self.min_lr:
            return False
        self.scale *= self.factor
        return True

    @classmethod
    def for_run(cls, total_steps: int, warmup_fraction: float, power_t: float = 0.5) -> Adaptive:
        return cls()


# The names the settings and the command line use; "constant" is no schedule at all.
SCHEDULES: dict[str, type[Schedule] | None] = {
    "constant": None,
    "step": StepDecay,
    "cosine": CosineAnnealing,
    "warmup-cosine": WarmupCosine,
    "invscaling": InvScaling,
    "adaptive": Adaptive,
}


def make_schedule(
    name: str | None, total_steps: int, warmup_fraction: float = 0.1, power_t: float = 0.5
) -> Schedule | None:
    """The schedule named ``name`` in ``SCHEDULES``, sized for a run of ``total_steps`` updates.

    "constant" (or None) gives None: the trainer then leaves the rate alone.
    ``power_t`` is the exponent of "invscaling".
    """
    if name is not None and name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {name!r}")
    cls = SCHEDULES[name] if name is not None else None
    if cls is None:
        return None
    total_steps = check_positive_int(total_steps, "total_steps")
    if cls in (InvScaling, Adaptive):
        return cls.for_run(total_steps, warmup_fraction, power_t)
    return cls.for_run(total_steps, warmup_fraction)
