"""``none``: no normalization, for ablations."""
import torch
from torch import nn

from .checks import check_input
from .registry import register


@register("none")
class NoNorm(nn.Module):
    """Returns its input unchanged; takes and ignores every keyword (eps, num_groups, ...) so any config fits.

    Shape: input (N, C, *) with 0 to 3 spatial dimensions (checked like every norm); output the same tensor.
    """

    def __init__(self, num_channels: int, **ignored):
        super().__init__()
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        return x

    def extra_repr(self) -> str:
        return f"{self.num_channels}"
