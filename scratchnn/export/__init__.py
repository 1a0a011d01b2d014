"""Take a scratchnn model anywhere: to ONNX, and to PyTorch and back.

* ``to_onnx(model, path)``: a trained model with its preprocessing as one
  ONNX graph (``onnx_model``; each layer's operators in ``onnx_layers``);
* ``to_torch(network)`` and ``from_torch(module)``: the same weights as a
  ``torch.nn.Module`` and back (``pytorch``).

This package sits above the core and the model files: it imports them, and
nothing imports it but the command line. ``onnx`` and ``torch`` are optional
(``pip install 'scratchnn[export]'`` for ONNX) and imported only when a
function here is called: importing scratchnn never imports them.
"""

from __future__ import annotations

from .onnx_layers import ONNX_LAYERS, UnsupportedLayerError
from .onnx_model import OPSET, to_onnx
from .parts import ModelParts, model_parts
from .pytorch import TORCH_LAYERS, from_torch, to_torch

__all__ = [
    "ONNX_LAYERS",
    "OPSET",
    "TORCH_LAYERS",
    "ModelParts",
    "UnsupportedLayerError",
    "from_torch",
    "model_parts",
    "to_onnx",
    "to_torch",
]
