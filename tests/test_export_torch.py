"""PyTorch round trip: ``to_torch`` gives a module with the same weights, whose outputs equal
scratchnn's within 1e-12 in float64, and ``from_torch`` takes it back bit for bit (row models and a
small model per sequence layer type). Importing
scratchnn (and its export package and command line) never imports torch or onnx.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from test_export_onnx import (
    ACTIVATIONS,
    SEQUENCE_MODELS,
    Shift,
    cnn,
    mlp,
    residual_cnn,
    residual_mlp,
    sequence_input,
    sequence_model,
)

from scratchnn.export import from_torch, to_torch
from scratchnn.export._torch_modules import Residual as TorchResidual
from scratchnn.layers import Dense, ReLU
from scratchnn.losses import SoftmaxCrossEntropy
from scratchnn.network import NeuralNetwork


def _mlp(activation: str):
    return lambda dtype, rng: mlp(activation, dtype, rng)


BUILDERS = {
    **{f"mlp-{name}": _mlp(name) for name in ACTIVATIONS},
    "cnn": cnn,
    "residual-mlp": residual_mlp,
    "residual-cnn": residual_cnn,
}


def torch_forward(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


# the CNN's 'same' convolution with an even kernel: torch warns that it pads a copy of the input
SAME_EVEN = "ignore:Using padding='same' with even kernel lengths:UserWarning"


@pytest.mark.filterwarnings(SAME_EVEN)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_to_torch_outputs_equal_scratchnn_in_float64(name):
    rng = np.random.default_rng(0)
    network = BUILDERS[name](np.float64, rng)
    module = to_torch(network)
    assert not module.training
    assert all(p.dtype == torch.float64 for p in module.parameters())
    x = rng.standard_normal((1000, network.n_features))
    diff = float(np.max(np.abs(torch_forward(module, x) - network.forward(x))))
    assert diff <= 1e-12, diff


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_to_torch_then_from_torch_gives_the_same_arrays_bit_for_bit(name, dtype):
    rng = np.random.default_rng(1)
    network = BUILDERS[name](dtype, rng)
    back = from_torch(to_torch(network))
    assert [type(layer).__name__ for layer in back.layers] == [
        type(layer).__name__ for layer in network.layers
    ]
    assert len(back.parameters()) == len(network.parameters())
    for a, b in zip(back.parameters() + back.buffers(), network.parameters() + network.buffers()):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        assert np.array_equal(a, b)
    x = rng.standard_normal((100, network.n_features)).astype(dtype)
    assert np.array_equal(back.forward(x), network.forward(x))


def test_residual_nests_as_a_small_module():
    module = to_torch(residual_mlp(np.float64, np.random.default_rng(2)))
    assert isinstance(module, torch.nn.Sequential)
    assert isinstance(module[1], TorchResidual)
    assert isinstance(module[1].block, torch.nn.Sequential)


def test_from_torch_builds_a_network_from_a_module_written_in_torch():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 6, 6)),
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.LeakyReLU(0.1),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(27, 4),
    ).double()
    module.train()
    module(torch.randn(64, 36, dtype=torch.float64))  # running statistics away from 0 and 1
    module.eval()
    network = from_torch(module)
    x = np.random.default_rng(3).standard_normal((500, 36))
    diff = float(np.max(np.abs(network.forward(x) - torch_forward(module, x))))
    assert diff <= 1e-12, diff


def test_modules_and_layers_with_no_mapping_are_one_error_naming_them():
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LSTM(4, 4))
    with pytest.raises(ValueError, match=r"^cannot import module 1 \(LSTM\) from PyTorch: "):
        from_torch(module)
    with pytest.raises(ValueError, match=r"^cannot import module 0 \(Conv2d\) from PyTorch: only groups=1"):
        from_torch(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, groups=2)))
    rng = np.random.default_rng(4)
    network = NeuralNetwork(
        [Dense(4, 4, seed=rng), ReLU(), Shift(), Dense(4, 2, seed=rng)], SoftmaxCrossEntropy()
    )
    with pytest.raises(ValueError, match=r"^cannot export layer 2 \(Shift\) to PyTorch: "):
        to_torch(network)
    with pytest.raises(TypeError, match=r"needs an nn\.Sequential"):
        from_torch(torch.nn.Linear(2, 2))


def test_importing_scratchnn_and_its_export_and_cli_never_imports_torch_or_onnx():
    code = (
        "import sys, scratchnn, scratchnn.export, scratchnn.cli\n"
        "scratchnn.cli.build_parser()\n"
        "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_sequence_models_to_torch_give_scratchnn_outputs_in_float64(kind):
    rng = np.random.default_rng(5)
    network = sequence_model(kind, np.float64, rng)
    module = to_torch(network)
    assert not module.training
    assert all(p.dtype == torch.float64 for p in module.parameters())
    x = sequence_input(kind, np.float64, rng)
    diff = float(np.max(np.abs(torch_forward(module, x) - network.forward(x))))
    assert diff <= 1e-12, diff


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_sequence_models_survive_to_torch_then_from_torch_bit_for_bit(kind, dtype):
    rng = np.random.default_rng(6)
    network = sequence_model(kind, dtype, rng)
    back = from_torch(to_torch(network))
    assert [layer.get_config() for layer in back.layers] == [layer.get_config() for layer in network.layers]
    assert len(back.parameters()) == len(network.parameters())
    for a, b in zip(back.parameters(), network.parameters()):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        assert np.array_equal(a, b)
    x = sequence_input(kind, dtype, rng, n=100)
    assert np.array_equal(back.forward(x), network.forward(x))


def test_sequence_modules_are_torch_s_own_inside():
    """Attention and recurrent layers are torch's nn.MultiheadAttention and nn.LSTM... with batch_first."""
    rng = np.random.default_rng(7)
    module = to_torch(sequence_model("transformer", np.float64, rng))
    kinds = [type(m).__name__ for m in module.modules()]
    for name in ("Embedding", "PositionalEmbedding", "LayerNorm", "MultiheadAttention", "GELU", "LSTM"):
        assert name in kinds
    attn = next(m for m in module.modules() if isinstance(m, torch.nn.MultiheadAttention))
    lstm = next(m for m in module.modules() if isinstance(m, torch.nn.LSTM))
    assert attn.batch_first
    assert lstm.batch_first
    with pytest.raises(
        ValueError, match=r"^cannot import module 0 \(RecurrentLSTM\) from PyTorch: only one layer"
    ):
        from_torch(
            torch.nn.Sequential(type(module[5])(torch.nn.LSTM(3, 3, num_layers=2, batch_first=True), True))
        )


@pytest.mark.parametrize("kind", ["GPT", "GPT-dropout-nobias"])
def test_gpt_to_torch_ties_its_head_to_its_embedding_as_nanogpt(kind):
    """One Parameter for both, listed once and first: ``named_parameters()`` is ``GPT.params``."""
    rng = np.random.default_rng(8)
    network = sequence_model(kind, np.float64, rng)
    gpt = to_torch(network)[0]
    assert gpt.lm_head.weight is gpt.wte.weight
    params = list(gpt.parameters())
    assert len(params) == len(network.parameters())
    assert params[0] is gpt.wte.weight
    # (the same arrays in the same order; Dense's weight is nn.Linear's transposed)
    assert [p.numel() for p in params] == [p.size for p in network.parameters()]
    with torch.no_grad():  # writing the embedding writes the head: they are one tensor
        gpt.wte.weight[0, 0] = 123.0
    assert gpt.lm_head.weight[0, 0].item() == 123.0


def test_from_torch_refuses_a_gpt_whose_head_is_not_tied_or_whose_blocks_are_not_gpt_s():
    rng = np.random.default_rng(9)
    gpt = to_torch(sequence_model("GPT", np.float64, rng))
    del gpt[0].blocks[3]  # the last block's MLP
    with pytest.raises(ValueError, match=r"^cannot import module 0 \(GPT\) from PyTorch: its child 'blocks'"):
        from_torch(gpt)
    gpt = to_torch(sequence_model("GPT", np.float64, rng))
    gpt[0].lm_head.weight = torch.nn.Parameter(gpt[0].wte.weight.detach().clone())
    with pytest.raises(
        ValueError, match=r"^cannot import module 0 \(GPT\) from PyTorch: the head must be tied"
    ):
        from_torch(gpt)
