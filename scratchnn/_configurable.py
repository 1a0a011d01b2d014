"""What the pieces of a network share: their constructor arguments as data.

Layers, losses, optimizers and schedules each describe themselves with
``get_config()``, the JSON-ready keyword arguments that rebuild them (model
files store it); ``repr`` shows the same arguments, so ``print(network)`` reads
like the code that built it.
"""

from __future__ import annotations

__all__ = ["Configurable"]


class Configurable:
    """``get_config()`` (constructor keyword arguments; none by default) and a ``repr`` made from it."""

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
