"""What the norms with statistics of each sample alone, and no running statistics, share: ``gn``, ``ln`` and
``in`` (`norms.group_norm`) and ``pn`` (`norms.positional_norm`) take ``num_channels``, ``eps`` and a
per-channel affine, and check their input and the size of each statistic the same way."""
import torch
from torch import nn

from .affine import add_affine
from .checks import check_input, check_statistic_size


class PerSampleNorm(nn.Module):
    """Base class: C = ``num_channels``, ``eps``, ``weight``/``bias`` of shape (C,) when ``affine``.

    A subclass gives ``normalize(x)`` for x of shape (N, C, *), and ``statistic_size(x)``, how many values one
    statistic is taken over, described by ``statistic_over``: in training mode one value (a variance of 0)
    is a one-line error, before ``normalize`` runs. Statistics come from the input in train and eval alike.
    """

    statistic_over: str

    def __init__(self, num_channels: int, eps: float, affine: bool, device=None, dtype=None):
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        add_affine(self, num_channels, affine, device, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        if self.training:
            check_statistic_size(self.statistic_size(x), x, type(self).__name__, self.statistic_over)
        return self.normalize(x)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
