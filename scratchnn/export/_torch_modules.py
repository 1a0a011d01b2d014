"""The two PyTorch modules that ``torch.nn`` lacks for scratchnn's layers (imported only with torch)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GlobalAvgPool2d", "Residual"]


class Residual(nn.Module):
    """``y = x + block(x)``: scratchnn's ``Residual`` container."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class GlobalAvgPool2d(nn.Module):
    """``(N, C, H, W) -> (N, C)``, the mean of each feature map: scratchnn's ``GlobalAvgPool2D``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))
