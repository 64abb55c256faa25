"""Weight Standardization (Qiao et al., 2019, "Micro-Batch Training with Batch-Channel Normalization and
Weight Standardization"): every convolution uses its weight standardized per output channel.

For a weight W of shape (C_out, C_in / groups, *kernel), each output channel's fan-in is centred and
scaled, as in the authors' code: Ŵ_o = (W_o - mean(W_o)) / (std(W_o) + eps), std unbiased, eps 1e-5.
It belongs to the convolution, not the norm, so it combines with any norm (gn + WS, bgn + WS). Applied
with ``torch.nn.utils.parametrize``: the learned tensor stays ``weight`` in the optimizer's view
(``parametrizations.weight.original`` in the state_dict) and ``conv.weight`` is the standardized one.
"""
import torch
from torch import nn
from torch.nn.utils import parametrize

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class StandardizedWeight(nn.Module):
    """The parametrization W -> (W - mean) / (std + eps) over each output channel's (C_in / groups, *kernel)."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        flat = weight.reshape(weight.shape[0], -1)
        standardized = (flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + self.eps)
        return standardized.reshape(weight.shape)


def standardize_weights(model: nn.Module, eps: float = 1e-5) -> int:
    """Make every Conv1d/2d/3d of ``model`` (subclasses included) standardize its weight; return how many.

    Convolutions already standardized are left as they are, so calling it twice changes nothing.
    """
    count = 0
    for module in model.modules():
        if not isinstance(module, CONVOLUTIONS):
            continue
        already = parametrize.is_parametrized(module, "weight") and any(
            isinstance(p, StandardizedWeight) for p in module.parametrizations.weight)
        if not already:
            parametrize.register_parametrization(module, "weight", StandardizedWeight(eps))
        count += 1
    return count
