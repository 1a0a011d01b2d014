"""Containers: layers made of layers, so that a network can nest (a residual block, a Transformer block).

``Sequential(layers)`` applies its layers in order and backpropagates through
them in reverse; ``Residual(block)`` adds its input to its block's output. Both
are ``Layer``s: their ``params``, ``grads`` and ``buffers`` are their children's,
concatenated in order, so an optimizer, the trainer and gradient checking see
the same flat aligned lists as for a single layer.

Every array has a dotted path, as in tinygrad's ``get_state_dict`` and PyTorch's
``state_dict``: a ``Sequential`` names its children by position (``"0"``,
``"1"``...), a ``Residual`` its block ``"block"``, and a leaf layer its arrays by
``param_names`` and ``buffer_names`` (``"W"``, ``"running_mean"``), so BatchNorm's
running mean inside the block of a residual at position 3 is
``"3.block.1.running_mean"``. Model files store arrays under these paths.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, layer_class

__all__ = ["Residual", "Sequential"]


def _check_layer(layer, name: str) -> Layer:
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a Layer, got {layer!r}")
    return layer


class Sequential(Layer):
    """Layers applied one after the other: ``y = layers[-1](... layers[1](layers[0](x)))``.

    Backward runs the chain rule through them in reverse order, each layer turning
    ``dL/d(its output)`` into ``dL/d(its input)``. With ``input_grad=False`` it stops
    at the first layer with parameters: below it, input gradients lead only to
    ``dL/dx`` of the data, which nothing uses (for a Dense layer, a whole matmul).

    ``output_shape`` checks that consecutive layers fit, naming the first that does
    not (``layers[2]: ...``). Shapes: those of the layers.
    """

    def __init__(self, layers) -> None:
        super().__init__()
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise TypeError(f"layers must be a list of Layers, got {layers!r}")
        self.layers = [_check_layer(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
        if not self.layers:
            raise ValueError("layers must hold at least one layer, got []")
        self.params = [p for layer in self.layers for p in layer.params]
        self.grads = [g for layer in self.layers for g in layer.grads]
        self.buffers = [b for layer in self.layers for b in layer.buffers]
        # Where backward may stop when the input gradient is not wanted.
        self._first_trained = next((i for i, layer in enumerate(self.layers) if layer.params), 0)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        first = 0 if input_grad else self._first_trained
        grad = grad_out
        for i in range(len(self.layers) - 1, first - 1, -1):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > first)
        return grad

    def set_lengths(self, lengths: np.ndarray | None) -> None:
        for layer in self.layers:
            layer.set_lengths(lengths)

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        shape = in_shape
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
        return shape

    def activation_sizes(self, in_shape: tuple | None) -> list[int]:
        sizes, shape = [], in_shape
        for layer in self.layers:
            sizes += layer.activation_sizes(shape)
            shape = layer.output_shape(shape)
        return sizes

    @property
    def input_shape(self) -> tuple | None:
        """The first layer that fixes its input shape decides, if only shape-keeping layers come before it."""
        for layer in self.layers:
            if layer.input_shape is not None:
                return tuple(layer.input_shape)
            if layer.output_shape(None) is not None or layer.takes_sequences:
                return None  # this layer changes the shape without fixing its input
        return None

    @property
    def takes_sequences(self) -> bool:
        return any(layer.takes_sequences for layer in self.layers)

    def check_state(self) -> None:
        for i, layer in enumerate(self.layers):
            try:
                layer.check_state()
            except ValueError as exc:
                raise ValueError(f"{i}.{exc}") from None

    @classmethod
    def child_specs(cls, config: dict) -> list:
        layers = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(layers, list):
            raise TypeError(f"a Sequential's config must be {{'layers': [...]}}, got {config!r:.200}")
        return layers

    def named_arrays(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{i}.{name}", a) for i, layer in enumerate(self.layers) for name, a in layer.named_arrays()]

    def get_config(self) -> dict:
        return {
            "layers": [{"type": type(layer).__name__, "config": layer.get_config()} for layer in self.layers]
        }

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        return cls([_child_from_config(child) for child in _children(config, "layers")])

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return _params_then_buffers(cls.array_layout(config))

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        return [
            (f"{i}.{name}", shape, is_buffer)
            for i, child in enumerate(_children(config, "layers"))
            for name, shape, is_buffer in _child_class(child).array_layout(child["config"])
        ]

    def __repr__(self) -> str:
        inner = "".join(f"\n    {line}" for layer in self.layers for line in f"{layer!r},".splitlines())
        return f"Sequential([{inner}\n])"


class Residual(Layer):
    """A skip connection around ``block``: ``y = x + block(x)`` (He et al., 2016).

    The block must keep the shape of its input. Backward, with ``g = dL/dy``::

        y = x + block(x)
        dL/dx = g + block.backward(g)     (the identity path passes g on unchanged)

    so the gradient reaches ``x`` undiminished however deep the block is.
    """

    def __init__(self, block: Layer) -> None:
        super().__init__()
        self.block = _check_layer(block, "block")
        self.params = list(block.params)
        self.grads = list(block.grads)
        self.buffers = list(block.buffers)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x + self.block.forward(x, training)

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        grad_block = self.block.backward(grad_out, input_grad=input_grad)
        return grad_out + grad_block if input_grad else None

    def set_lengths(self, lengths: np.ndarray | None) -> None:
        self.block.set_lengths(lengths)

    def output_shape(self, in_shape: tuple | None) -> tuple | None:
        try:
            shape = self.block.output_shape(in_shape)
        except ValueError as exc:
            raise ValueError(f"block: {exc}") from None
        if shape is not None and in_shape is not None and tuple(shape) != tuple(in_shape):
            raise ValueError(
                f"a Residual block must keep the shape of its input, but it maps {tuple(in_shape)} "
                f"to {tuple(shape)}"
            )
        return in_shape if in_shape is not None else shape

    def activation_sizes(self, in_shape: tuple | None) -> list[int]:
        return self.block.activation_sizes(in_shape) + super().activation_sizes(in_shape)

    @property
    def input_shape(self) -> tuple | None:
        return self.block.input_shape

    @property
    def takes_sequences(self) -> bool:
        return self.block.takes_sequences

    def check_state(self) -> None:
        try:
            self.block.check_state()
        except ValueError as exc:
            raise ValueError(f"block.{exc}") from None

    @classmethod
    def child_specs(cls, config: dict) -> list:
        if not isinstance(config, dict) or "block" not in config:
            raise TypeError(f"a Residual's config must be {{'block': {{...}}}}, got {config!r:.200}")
        return [config["block"]]

    def named_arrays(self) -> list[tuple[str, np.ndarray]]:
        return [(f"block.{name}", a) for name, a in self.block.named_arrays()]

    def get_config(self) -> dict:
        return {"block": {"type": type(self.block).__name__, "config": self.block.get_config()}}

    @classmethod
    def from_config(cls, config: dict) -> Residual:
        return cls(_child_from_config(_child(config, "block")))

    @classmethod
    def array_shapes(cls, config: dict) -> list[tuple]:
        return _params_then_buffers(cls.array_layout(config))

    @classmethod
    def array_layout(cls, config: dict) -> list[tuple[str, tuple, bool]]:
        child = _child(config, "block")
        return [
            (f"block.{name}", shape, is_buffer)
            for name, shape, is_buffer in _child_class(child).array_layout(child["config"])
        ]

    def __repr__(self) -> str:
        return f"Residual({self.block!r})"


# -- nested configurations ---------------------------------------------------------------------


def _params_then_buffers(layout: list[tuple[str, tuple, bool]]) -> list[tuple]:
    """The shapes of a layout in the order of ``params + buffers``."""
    return [shape for _, shape, is_buffer in layout if not is_buffer] + [
        shape for _, shape, is_buffer in layout if is_buffer
    ]


def _child(config: dict, key: str) -> dict:
    """``config[key]``, checked to be ``{"type": str, "config": dict}``."""
    if not isinstance(config, dict) or set(config) != {key}:
        raise ValueError(f"a container's config must be {{{key!r}: ...}}, got keys {sorted(config)}")
    child = config[key]
    if not isinstance(child, dict) or set(child) != {"type", "config"}:
        raise ValueError(f"{key} must be {{'type': ..., 'config': ...}}, got {child!r:.200}")
    if not isinstance(child["config"], dict):
        raise TypeError(
            f"the config of a {child['type']!r} layer must be an object, got {child['config']!r:.200}"
        )
    return child


def _children(config: dict, key: str) -> list[dict]:
    if not isinstance(config, dict) or set(config) != {key} or not isinstance(config[key], list):
        raise ValueError(f"a Sequential's config must be {{{key!r}: [...]}}, got {config!r:.200}")
    return [_child({key: child}, key) for child in config[key]]


def _child_class(child: dict) -> type[Layer]:
    return layer_class(child["type"])


def _child_from_config(child: dict) -> Layer:
    return _child_class(child).from_config(child["config"])
