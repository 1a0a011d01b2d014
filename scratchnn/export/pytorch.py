"""A scratchnn network as a ``torch.nn.Module`` with the same weights, and back.

``to_torch(network)`` gives an ``nn.Sequential`` of the layers' PyTorch
counterparts (in evaluation mode, in the network's dtype); ``from_torch(module)``
builds a scratchnn network from such a module. Each layer type is one row of
``TORCH_LAYERS``: the PyTorch module type, the function from scratchnn to
PyTorch and the function back. Parameters already share PyTorch's layout
(``Layer.params`` follows ``named_parameters()``) except Dense's weight, which
is ``(in_features, out_features)`` where ``nn.Linear``'s is its transpose.
The round trip copies the arrays exactly (bit for bit).

torch is imported when a function here is called, never when scratchnn is.
"""

from __future__ import annotations

import numpy as np

from ..layers import (
    GELU,
    GPT,
    GRU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm1d,
    BatchNorm2d,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    LastStep,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MeanOverTime,
    MultiHeadAttention,
    PositionalEmbedding,
    ReLU,
    Reshape,
    Sigmoid,
    Tanh,
)
from ..losses import LOSSES, Loss
from ..network import NeuralNetwork

__all__ = ["TORCH_LAYERS", "from_torch", "to_torch"]


def _torch():
    try:
        import torch
        from torch import nn
    except ImportError:
        raise ImportError("to_torch and from_torch need PyTorch: pip install torch") from None
    return torch, nn


def _tensor(array: np.ndarray):
    torch, _ = _torch()
    return torch.tensor(np.ascontiguousarray(array))  # a copy, exactly the same numbers


def _array(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _torch_dtype(dtype):
    torch, _ = _torch()
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def _numpy_dtype(module, path: str) -> np.dtype:
    dtypes = {str(p.dtype).removeprefix("torch.") for p in module.parameters()}
    if len(dtypes) != 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(f"module {path} ({type(module).__name__}) must hold float32 or float64 parameters")
    return np.dtype(dtypes.pop())


def _fill(arrays: list[np.ndarray], tensors) -> None:
    """Copy ``tensors`` into the layer's own ``arrays`` in place (its params stay the same objects)."""
    for a, t in zip(arrays, tensors):
        a[...] = _array(t).reshape(a.shape) if t is not None else 0.0


def _refuse(module, path: str, what: str):
    return ValueError(f"cannot import module {path} ({type(module).__name__}) from PyTorch: {what}")


# -- scratchnn -> PyTorch, and back, one pair per layer type ---------------------------------


def _to_linear(layer, path):
    _, nn = _torch()
    m = nn.Linear(layer.in_features, layer.out_features, dtype=_torch_dtype(layer.dtype))
    _fill_torch(m, [layer.W.T, layer.b])
    return m


def _from_linear(m, path):
    layer = Dense(m.in_features, m.out_features, seed=0, dtype=_numpy_dtype(m, path))
    _fill([layer.W, layer.b], [m.weight.T, m.bias])
    return layer


def _to_conv(layer, path):
    _, nn = _torch()
    (top, bottom), (left, right) = layer._pads
    # torch takes symmetric padding as numbers; 'same' with an even kernel (one more at the bottom and
    # right) only as 'same', for which torch warns at each call that it copies the input to pad it
    padding = (top, left) if (top, left) == (bottom, right) else "same"
    m = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=padding,
        dtype=_torch_dtype(layer.dtype),
    )
    _fill_torch(m, [layer.W, layer.b])
    return m


def _from_conv(m, path):
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros":
        raise _refuse(m, path, "only groups=1, dilation=1 and zero padding are supported")
    padding = m.padding if isinstance(m.padding, str) else list(m.padding)
    layer = Conv2D(
        m.in_channels,
        m.out_channels,
        list(m.kernel_size),
        stride=list(m.stride),
        padding=padding,
        seed=0,
        dtype=_numpy_dtype(m, path),
    )
    _fill([layer.W, layer.b], [m.weight, m.bias])
    return layer


def _to_batch_norm(nn_class: str):
    def convert(layer, path):
        _, nn = _torch()
        m = getattr(nn, nn_class)(
            layer.size, eps=layer.eps, momentum=layer.momentum, dtype=_torch_dtype(layer.dtype)
        )
        _fill_torch(m, [layer.gamma, layer.beta], [layer.running_mean, layer.running_var])
        return m

    return convert


def _from_batch_norm(cls):
    def convert(m, path):
        if not (m.affine and m.track_running_stats) or m.momentum is None:
            raise _refuse(m, path, "only affine=True, track_running_stats=True and a float momentum")
        layer = cls(m.num_features, momentum=m.momentum, eps=m.eps, dtype=_numpy_dtype(m, path))
        _fill(layer.params + layer.buffers, [m.weight, m.bias, m.running_mean, m.running_var])
        return layer

    return convert


def _to_pool(nn_class: str):
    def convert(layer, path):
        _, nn = _torch()
        return getattr(nn, nn_class)(layer.kernel_size, stride=layer.stride)

    return convert


def _from_pool(cls):
    def convert(m, path):
        plain = m.padding in (0, (0, 0)) and not m.ceil_mode and getattr(m, "dilation", 1) in (1, (1, 1))
        if not plain or getattr(m, "divisor_override", None) is not None:
            raise _refuse(m, path, "only padding=0, dilation=1 and ceil_mode=False are supported")
        return cls(m.kernel_size, stride=m.stride)

    return convert


def _to_reshape(layer, path):
    _, nn = _torch()
    return nn.Unflatten(1, layer.shape)


def _from_unflatten(m, path):
    if m.dim != 1:
        raise _refuse(m, path, f"only dim=1 (rows to samples) is supported, got dim={m.dim}")
    return Reshape(tuple(m.unflattened_size))


def _from_flatten(m, path):
    if m.start_dim != 1 or m.end_dim != -1:
        raise _refuse(m, path, "only start_dim=1, end_dim=-1 is supported")
    return Flatten()


def _to_sequential(layer, path):
    _, nn = _torch()
    return nn.Sequential(*(_to_module(child, f"{path}.{i}") for i, child in enumerate(layer.layers)))


def _from_sequential(m, path):
    from ..layers import Sequential

    return Sequential([_from_module(child, f"{path}.{i}") for i, child in enumerate(m)])


def _to_residual(layer, path):
    from ._torch_modules import Residual

    return Residual(_to_module(layer.block, f"{path}.block"))


def _from_residual(m, path):
    from ..layers import Residual

    return Residual(_from_module(m.block, f"{path}.block"))


def _plain(nn_class: str, **read):
    """An ``nn`` module built from the layer's attributes ``read`` (torch keyword -> attribute)."""

    def convert(layer, path):
        _, nn = _torch()
        return getattr(nn, nn_class)(**{k: getattr(layer, a) for k, a in read.items()})

    return convert


def _to_global_pool(layer, path):
    from ._torch_modules import GlobalAvgPool2d

    return GlobalAvgPool2d()


def _to_embedding(layer, path):
    _, nn = _torch()
    m = nn.Embedding(
        layer.num_embeddings,
        layer.embedding_dim,
        padding_idx=layer.padding_idx,
        dtype=_torch_dtype(layer.dtype),
    )
    _fill_torch(m, layer.params)
    return m


def _from_embedding(m, path):
    if m.max_norm is not None:
        raise _refuse(m, path, "max_norm (renormalising rows as they are read) is not supported")
    padding_idx = None if m.padding_idx is None else int(m.padding_idx) % m.num_embeddings
    layer = Embedding(
        m.num_embeddings, m.embedding_dim, padding_idx=padding_idx, seed=0, dtype=_numpy_dtype(m, path)
    )
    _fill(layer.params, [m.weight])
    return layer


def _to_positional(layer, path):
    from ._torch_modules import PositionalEmbedding as TorchPositional

    m = TorchPositional(layer.max_length, layer.dim, dtype=_torch_dtype(layer.dtype))
    _fill_torch(m, layer.params)
    return m


def _from_positional(m, path):
    max_length, dim = m.weight.shape
    layer = PositionalEmbedding(max_length, dim, seed=0, dtype=_numpy_dtype(m, path))
    _fill(layer.params, [m.weight])
    return layer


def _to_layer_norm(layer, path):
    _, nn = _torch()
    m = nn.LayerNorm(
        layer.normalized_shape, eps=layer.eps, bias=layer.bias is not None, dtype=_torch_dtype(layer.dtype)
    )
    _fill_torch(m, layer.params)
    return m


def _from_layer_norm(m, path):
    if len(m.normalized_shape) != 1 or not m.elementwise_affine:
        raise _refuse(
            m, path, "only a normalized_shape of one axis with elementwise_affine=True is supported"
        )
    layer = LayerNorm(m.normalized_shape[0], eps=m.eps, bias=m.bias is not None, dtype=_numpy_dtype(m, path))
    _fill(layer.params, [m.weight] + ([m.bias] if m.bias is not None else []))
    return layer


def _to_attention(layer, path):
    from ._torch_modules import SelfAttention

    _, nn = _torch()
    attn = nn.MultiheadAttention(
        layer.embed_dim,
        layer.num_heads,
        dropout=layer.dropout,
        bias=layer.bias,
        batch_first=True,
        dtype=_torch_dtype(layer.dtype),
    )
    m = SelfAttention(attn, layer.causal)
    _fill_torch(m, layer.params)
    return m


def _from_attention(m, path):
    attn = m.attn
    plain = attn.batch_first and attn._qkv_same_embed_dim and attn.bias_k is None and not attn.add_zero_attn
    if not plain:
        raise _refuse(
            m, path, "only batch_first=True, kdim = vdim = embed_dim, no bias_k/bias_v, no zero attention"
        )
    layer = MultiHeadAttention(
        attn.embed_dim,
        attn.num_heads,
        causal=bool(m.causal),
        dropout=float(attn.dropout),
        bias=attn.in_proj_bias is not None,
        seed=0,
        dtype=_numpy_dtype(m, path),
    )
    _fill(layer.params, list(m.parameters()))
    return layer


def _to_recurrent(layer, path):
    from . import _torch_modules

    _, nn = _torch()
    kind = type(layer).__name__
    extra = {"nonlinearity": layer.nonlinearity} if kind == "RNN" else {}
    rnn = getattr(nn, kind)(
        layer.input_size, layer.hidden_size, batch_first=True, dtype=_torch_dtype(layer.dtype), **extra
    )
    m = getattr(_torch_modules, f"Recurrent{kind}")(rnn, layer.return_sequences)
    _fill_torch(m, layer.params)
    return m


def _from_recurrent(cls):
    def convert(m, path):
        rnn = m.rnn
        plain = rnn.num_layers == 1 and rnn.batch_first and not rnn.bidirectional and rnn.bias
        if not plain or getattr(rnn, "proj_size", 0):
            raise _refuse(
                m, path, "only one layer, batch_first=True, one direction, biases and no projection"
            )
        extra = {"nonlinearity": rnn.nonlinearity} if cls is RNN else {}
        layer = cls(
            rnn.input_size,
            rnn.hidden_size,
            return_sequences=bool(m.return_sequences),
            seed=0,
            dtype=_numpy_dtype(m, path),
            **extra,
        )
        _fill(layer.params, list(m.parameters()))
        return layer

    return convert


def _to_gpt(layer, path):
    from ._torch_modules import GPT as TorchGPT

    return TorchGPT(
        _to_embedding(layer.wte, f"{path}.wte"),
        _to_positional(layer.wpe, f"{path}.wpe"),
        _to_sequential(layer.blocks, f"{path}.blocks"),
        _to_layer_norm(layer.ln_f, f"{path}.ln_f"),
        layer.dropout,
    )


def _from_gpt(m, path):
    if m.lm_head.weight is not m.wte.weight or m.lm_head.bias is not None:
        raise _refuse(m, path, "the head must be tied to the token embedding (lm_head.weight is wte.weight)")
    names = ("wte", "wpe", "blocks", "ln_f")
    children = {name: _from_module(getattr(m, name), f"{path}.{name}") for name in names}
    vocab_size, n_embd = m.wte.weight.shape
    heads = (a.attn.num_heads for a in m.blocks.modules() if type(a).__name__ == "SelfAttention")
    layer = GPT(
        vocab_size,
        m.wpe.weight.shape[0],
        n_layer=max(1, len(m.blocks) // 2),
        n_head=next(heads, 1),
        n_embd=n_embd,
        dropout=float(m.drop.p),
        bias=m.ln_f.bias is not None,
        seed=0,
        dtype=_numpy_dtype(m, path),
    )
    # each child as the GPT of this shape builds it (blocks, eps, dropout, biases...), or refused;
    # then its arrays, read by its own mapping (Dense's transposed), copied into the GPT's in place
    for name, child in children.items():
        own = getattr(layer, name)
        if (type(child), child.get_config()) != (type(own), own.get_config()):
            raise _refuse(m, path, f"its child {name!r} is not as scratchnn's GPT of this shape builds it")
        for a, b in zip(own.params, child.params):
            a[...] = b
    return layer


def _module(name: str):
    """A module of ``_torch_modules`` that takes no arguments."""

    def convert(layer, path):
        from . import _torch_modules

        return getattr(_torch_modules, name)()

    return convert


def _fill_torch(m, params, buffers=()) -> None:
    torch, _ = _torch()
    with torch.no_grad():
        for p, a in zip(m.parameters(), params):
            p.copy_(_tensor(a))
        for b, a in zip((m.running_mean, m.running_var) if buffers else (), buffers):
            b.copy_(_tensor(a))


#: scratchnn layer type -> (PyTorch module type, scratchnn -> PyTorch, PyTorch -> scratchnn).
TORCH_LAYERS = {
    "Dense": ("Linear", _to_linear, _from_linear),
    "ReLU": ("ReLU", _plain("ReLU"), lambda m, path: ReLU()),
    "LeakyReLU": (
        "LeakyReLU",
        _plain("LeakyReLU", negative_slope="negative_slope"),
        lambda m, path: LeakyReLU(m.negative_slope),
    ),
    "Sigmoid": ("Sigmoid", _plain("Sigmoid"), lambda m, path: Sigmoid()),
    "Tanh": ("Tanh", _plain("Tanh"), lambda m, path: Tanh()),
    "Identity": ("Identity", _plain("Identity"), lambda m, path: Identity()),
    "Dropout": ("Dropout", _plain("Dropout", p="rate"), lambda m, path: Dropout(m.p)),
    "Conv2D": ("Conv2d", _to_conv, _from_conv),
    "MaxPool2D": ("MaxPool2d", _to_pool("MaxPool2d"), _from_pool(MaxPool2D)),
    "AvgPool2D": ("AvgPool2d", _to_pool("AvgPool2d"), _from_pool(AvgPool2D)),
    "GlobalAvgPool2D": ("GlobalAvgPool2d", _to_global_pool, lambda m, path: GlobalAvgPool2D()),
    "BatchNorm1d": ("BatchNorm1d", _to_batch_norm("BatchNorm1d"), _from_batch_norm(BatchNorm1d)),
    "BatchNorm2d": ("BatchNorm2d", _to_batch_norm("BatchNorm2d"), _from_batch_norm(BatchNorm2d)),
    "Flatten": ("Flatten", _plain("Flatten"), _from_flatten),
    "Reshape": ("Unflatten", _to_reshape, _from_unflatten),
    "Sequential": ("Sequential", _to_sequential, _from_sequential),
    "Residual": ("Residual", _to_residual, _from_residual),
    "Embedding": ("Embedding", _to_embedding, _from_embedding),
    "PositionalEmbedding": ("PositionalEmbedding", _to_positional, _from_positional),
    "LayerNorm": ("LayerNorm", _to_layer_norm, _from_layer_norm),
    "GELU": ("GELU", _plain("GELU", approximate="approximate"), lambda m, path: GELU(m.approximate)),
    "MultiHeadAttention": ("SelfAttention", _to_attention, _from_attention),
    "RNN": ("RecurrentRNN", _to_recurrent, _from_recurrent(RNN)),
    "LSTM": ("RecurrentLSTM", _to_recurrent, _from_recurrent(LSTM)),
    "GRU": ("RecurrentGRU", _to_recurrent, _from_recurrent(GRU)),
    "LastStep": ("LastStep", _module("LastStep"), lambda m, path: LastStep()),
    "MeanOverTime": ("MeanOverTime", _module("MeanOverTime"), lambda m, path: MeanOverTime()),
    "GPT": ("GPT", _to_gpt, _from_gpt),
}

#: PyTorch module type -> PyTorch -> scratchnn (``TORCH_LAYERS`` read backwards).
_FROM_TORCH = {torch_name: back for torch_name, _, back in TORCH_LAYERS.values()}


def _to_module(layer, path: str):
    row = TORCH_LAYERS.get(type(layer).__name__)
    if row is None:
        raise ValueError(
            f"cannot export layer {path} ({type(layer).__name__}) to PyTorch: scratchnn.export has no "
            f"mapping for it (it maps {', '.join(sorted(TORCH_LAYERS))})"
        )
    return row[1](layer, path)


def _from_module(module, path: str):
    back = _FROM_TORCH.get(type(module).__name__)
    if back is None:
        raise ValueError(
            f"cannot import module {path} ({type(module).__name__}) from PyTorch: scratchnn.export "
            f"has no mapping for it (it maps {', '.join(sorted(_FROM_TORCH))})"
        )
    return back(module, path)


def to_torch(network):
    """``network`` (a ``NeuralNetwork`` or a layer) as a ``torch.nn.Module`` with the same weights.

    A network becomes an ``nn.Sequential`` of its layers' PyTorch modules
    (``TORCH_LAYERS``), ``Residual`` a small module computing ``x + block(x)``,
    in evaluation mode and in the network's dtype; a ``GPT`` a module shaped as nanoGPT's, its
    ``lm_head.weight`` the very Parameter ``wte.weight``. The module's outputs are the
    network's outputs (logits for a classifier: apply ``softmax`` yourself).
    Raises ``ValueError`` naming the first layer with no PyTorch mapping.
    """
    _, nn = _torch()
    if isinstance(network, NeuralNetwork):
        module = nn.Sequential(*(_to_module(layer, str(i)) for i, layer in enumerate(network.layers)))
    else:
        module = _to_module(network, "0")
    return module.eval()


def from_torch(module, loss="cross-entropy") -> NeuralNetwork:
    """A scratchnn ``NeuralNetwork`` from an ``nn.Sequential``-shaped ``module``, with its weights copied.

    Every child must be a module ``TORCH_LAYERS`` maps (``nn.Linear``,
    ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU``, nested ``nn.Sequential``,
    the ``Residual`` of ``to_torch``...); ``ValueError`` names the first that
    is not. ``loss``: a name in ``scratchnn.losses.LOSSES`` or a ``Loss``.
    """
    _, nn = _torch()
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch needs an nn.Sequential, got {type(module).__name__}")
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss, got {loss!r}")
        loss = LOSSES[loss]()
    elif not isinstance(loss, Loss):
        raise TypeError(f"loss must be a name in LOSSES or a Loss, got {loss!r}")
    return NeuralNetwork([_from_module(child, str(i)) for i, child in enumerate(module)], loss)
