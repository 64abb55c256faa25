"""``evonorm_b0`` and ``evonorm_s0``: normalization-activation layers found by search (Liu et al., 2020,
"Evolving Normalization-Activation Layers").

For x of shape (N, C, *), with per-channel ``weight``, ``bias`` and ``v`` of shape (C,):

    B0:  y = x / max(sqrt(var_B,c + eps), v_c · x + sqrt(var_inst + eps)) · weight_c + bias_c
    S0:  y = x · sigmoid(v_c · x) / sqrt(var_group + eps) · weight_c + bias_c

var_B is the biased variance per channel over the batch and positions (a running average, unbiased, in
eval mode, as BatchNorm's); var_inst per sample and channel over positions; var_group per sample over a
group of C/G channels and its positions (GroupNorm's groups). The max and the sigmoid gate are the
layers' activation. On 4-D inputs both equal timm's EvoNorm2dB0 / EvoNorm2dS0 (a test compares them);
here they take every rank. ``apply_activation=False`` (for places where the model applies no activation,
``norms.activated``) drops the v terms: B0 divides by max(batch std, instance std), S0 by the group std.
(timm's ``apply_act=False`` layers skip the normalization altogether.)
"""
import torch
from torch import nn

from .activated import IncludesActivation
from .affine import channel_view, spatial_dims
from .checks import check_input, check_statistic_size
from .groups import check_groups_divide
from .registry import register


def _std(x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    """sqrt(biased variance over ``dims`` + eps), keeping dimensions; over no dimension the variance is 0."""
    if not dims:
        return torch.full_like(x, eps).sqrt()
    return (x.var(dims, unbiased=False, keepdim=True) + eps).sqrt()


class _EvoNorm(IncludesActivation, nn.Module):
    """Per-channel ``weight`` (ones), ``bias`` (zeros) and, with the activation, ``v`` (ones)."""

    def __init__(self, num_channels: int, eps: float, apply_activation: bool, device, dtype):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_channels = num_channels
        self.eps = eps
        self.apply_activation = apply_activation
        self.weight = nn.Parameter(torch.ones(num_channels, **factory))
        self.bias = nn.Parameter(torch.zeros(num_channels, **factory))
        self.v = nn.Parameter(torch.ones(num_channels, **factory)) if apply_activation else None

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(channel_view(self.bias, x.dim()), x, channel_view(self.weight, x.dim()))


@register("evonorm_b0")
class EvoNormB0(_EvoNorm):
    """EvoNorm-B0 (batch statistics) for (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args: num_channels (C), eps (default 1e-3, timm's), momentum (running variance update factor,
    default 0.1), apply_activation (default True). Buffer ``running_var`` of shape (C,), ones.
    Shape: input (N, C, *); output the same.
    """

    uses_batch_statistics = True  # training statistics over the batch: norms.ghost_batches chunks it

    def __init__(self, num_channels: int, eps: float = 1e-3, momentum: float = 0.1, apply_activation: bool = True,
                 device=None, dtype=None):
        super().__init__(num_channels, eps, apply_activation, device, dtype)
        self.momentum = momentum
        self.register_buffer("running_var", torch.ones(num_channels, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        if self.training:
            var, count = self.batch_variance(x)
            check_statistic_size(count, x, type(self).__name__, "per channel over the batch and positions")
            with torch.no_grad():
                self.running_var.lerp_((var * (count / (count - 1))).to(self.running_var.dtype), self.momentum)
        else:
            var = self.running_var
        batch_std = channel_view((var + self.eps).sqrt().to(x.dtype), x.dim())
        instance_std = _std(x, spatial_dims(x), self.eps)
        if self.v is not None:
            instance_std = torch.addcmul(instance_std, x, channel_view(self.v, x.dim()))
        return self._affine(x / torch.maximum(batch_std, instance_std))

    def batch_variance(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """var_B (C,), the biased variance per channel over the batch and positions (differentiable), and
        the number of values it covers per channel."""
        return x.var((0, *spatial_dims(x)), unbiased=False), x.numel() // self.num_channels

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, eps={self.eps}, momentum={self.momentum}, "
                f"apply_activation={self.apply_activation}")


@register("evonorm_s0")
class EvoNormS0(_EvoNorm):
    """EvoNorm-S0 (per-sample group statistics) for (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args: num_channels (C), num_groups (G, must divide C; default 32, timm's and GN's), eps (default
    1e-5, timm's), apply_activation (default True). No running statistics.
    Shape: input (N, C, *); output the same.
    """

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, apply_activation: bool = True,
                 device=None, dtype=None):
        check_groups_divide(num_channels, num_groups)
        super().__init__(num_channels, eps, apply_activation, device, dtype)
        self.num_groups = num_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        grouped = x.reshape(x.shape[0], self.num_groups, -1)
        group_std = _std(grouped, (2,), self.eps).expand_as(grouped).reshape(x.shape)
        if self.v is not None:
            x = x * torch.sigmoid(x * channel_view(self.v, x.dim()))
        return self._affine(x / group_std)

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, num_groups={self.num_groups}, eps={self.eps}, "
                f"apply_activation={self.apply_activation}")
