"""``gn``, ``ln``, ``in``: per-sample statistics over groups of channels (Wu & He, 2018, "Group Normalization").

For x of shape (N, C, *) viewed as (N, G, C/G, *), each sample and group is normalized by its own mean
and biased variance: y = (x - mean) / sqrt(var + eps) * weight_c + bias_c. Layer Norm is G = 1 (one group
over all channels and positions), Instance Norm is G = C, as in Figure 2 of the GN paper. Statistics come
from the input in train and eval alike; there are no running statistics.
"""
import torch
import torch.nn.functional as F

from .groups import check_groups_divide
from .per_sample import PerSampleNorm
from .registry import register


class GroupStatisticsNorm(PerSampleNorm):
    """Shared implementation: ``num_groups`` groups, per-channel affine ``weight``/``bias`` of shape (C,)."""

    statistic_over = "per sample over a group's channels and positions"

    def __init__(self, num_channels: int, num_groups: int, eps: float, affine: bool, device=None, dtype=None):
        check_groups_divide(num_channels, num_groups)
        super().__init__(num_channels, eps, affine, device, dtype)
        self.num_groups = num_groups

    def statistic_size(self, x: torch.Tensor) -> int:
        return x[0].numel() // self.num_groups

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, num_groups={self.num_groups}, eps={self.eps}, affine={self.affine}"


@register("gn")
class GroupNorm(GroupStatisticsNorm):
    """Group Norm: ``num_groups`` groups (default 32, the paper's), which must divide ``num_channels``.

    Args: num_channels (C), num_groups (default 32), eps (default 1e-5), affine (default True).
    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__(num_channels, num_groups, eps, affine, device, dtype)


@register("ln")
class LayerNorm(GroupStatisticsNorm):
    """Layer Norm as in the GN paper: one group over all channels and positions, per-channel affine.

    Args: num_channels (C), eps (default 1e-5), affine (default True). ``num_groups`` is 1.
    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None, dtype=None):
        super().__init__(num_channels, 1, eps, affine, device, dtype)


@register("in")
class InstanceNorm(GroupStatisticsNorm):
    """Instance Norm (Ulyanov et al., 2016) as in the GN paper: each sample and channel on its own.

    Args: num_channels (C), eps (default 1e-5), affine (default True). ``num_groups`` is C.
    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None, dtype=None):
        super().__init__(num_channels, num_channels, eps, affine, device, dtype)
