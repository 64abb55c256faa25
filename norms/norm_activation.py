"""Keeps the dropout and activation of a fused norm+activation layer (timm's BatchNormAct2d family)."""
import torch
from torch import nn


class NormActivation(nn.Module):
    """y = act(drop(norm(x))), the order of timm's ``BatchNormAct2d``/``GroupNormAct`` forward.

    ``convert`` puts a normsuite norm in place of such a layer's normalization and moves the layer's own
    ``drop`` and ``act`` modules here unchanged. Shape: whatever ``norm`` takes; output the same.
    """

    def __init__(self, norm: nn.Module, drop: nn.Module, act: nn.Module):
        super().__init__()
        self.norm = norm
        self.drop = drop
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(self.norm(x)))
