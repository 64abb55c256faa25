"""``bgn``: Batch Group Normalization (Zhou et al., 2020, "Batch Group Normalization").

x of shape (N, C, *) is viewed as (N, G, C·S/G), S the product of the spatial sizes. Each group g has
one mean and biased variance over the batch and the group's channels and positions (m = N·S·C/G values):

    y = (x - mean_g) / sqrt(var_g + eps) * weight_c + bias_c

Running mean and unbiased running variance, one per group, follow BatchNorm's update (``momentum``, or a
cumulative average when it is None) and replace the batch statistics in eval mode. G = C is BatchNorm.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .affine import add_affine
from .checks import check_input, check_statistic_size
from .groups import check_groups_divide
from .registry import register


class BatchGroupNormFunction(torch.autograd.Function):
    """Training-mode BGN with the affine fused into the normalization pass, forward and backward.

    ``apply(x, weight, bias, num_groups, eps) -> (y, mean, var)``: x (N, C, *); weight and bias (C,) or
    None; y like x; mean and biased var of shape (G,), not differentiable.

    Forward reads x twice: torch's per-channel statistics kernel, then one pass y = x·a_c + b_c (torch's
    eval-mode batch-norm kernel fed the group statistics expanded to channels). Backward needs per
    channel Σdy and Σdy·x̂ (one reduction kernel), from which, with ĝ = dy·weight and means over a group,

        dx = invstd_g · (ĝ - mean_g(ĝ) - x̂ · mean_g(ĝ·x̂)) = A_c·dy + B_g·x + C_g,

    evaluated as one affine pass over x plus one multiply-add of dy. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups: int, eps: float):
        channels = x.shape[1]
        channels_per_group = channels // num_groups
        channel_mean, channel_var = torch.batch_norm_update_stats(x, None, None, 0.0)
        # Equal counts per channel: the group mean is the mean of channel means, and the group variance
        # the mean channel variance plus the variance of the channel means (law of total variance).
        channel_mean = channel_mean.view(num_groups, channels_per_group)
        mean = channel_mean.mean(1)
        var = (channel_var.view(num_groups, channels_per_group) + (channel_mean - mean[:, None]).square()).mean(1)
        mean_per_channel = mean.repeat_interleave(channels_per_group)
        var_per_channel = var.repeat_interleave(channels_per_group)
        # Kernels run on x's own shape: a reshaped (view) output could not be modified in place (inplace ReLU).
        y = F.batch_norm(x, mean_per_channel, var_per_channel, weight, bias, False, 0.0, eps)
        ctx.save_for_backward(x, weight, mean_per_channel, torch.rsqrt(var_per_channel + eps))
        ctx.num_groups, ctx.eps = num_groups, eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x, weight, mean_per_channel, invstd_per_channel = ctx.saved_tensors
        channels, num_groups = x.shape[1], ctx.num_groups
        # grad_weight = Σ dy·x̂ and grad_bias = Σ dy per channel, in one kernel.
        _, sum_dy_xhat, sum_dy = torch.ops.aten.native_batch_norm_backward(
            grad_y, x, weight, None, None, mean_per_channel, invstd_per_channel, True, ctx.eps, [False, True, True])
        grad_x = None
        if ctx.needs_input_grad[0]:
            gamma = weight if weight is not None else torch.ones_like(sum_dy)
            values_per_group = x.numel() // num_groups
            mean_g = (sum_dy * gamma).view(num_groups, -1).sum(1) / values_per_group
            mean_g_xhat = (sum_dy_xhat * gamma).view(num_groups, -1).sum(1) / values_per_group
            channels_per_group = channels // num_groups
            invstd = invstd_per_channel
            scale_dy = gamma * invstd
            scale_x = -(invstd * invstd) * mean_g_xhat.repeat_interleave(channels_per_group)
            shift = -invstd * mean_g.repeat_interleave(channels_per_group) - scale_x * mean_per_channel
            # x·B + C, then + dy·A. Not torch's eval-mode batch_norm kernel with eps = 0: torch >= 2.11
            # refuses eps <= 0 in every mode.
            view = (1, channels, *([1] * (x.dim() - 2)))
            grad_x = torch.addcmul(shift.view(view), x, scale_x.view(view))
            grad_x = grad_x.addcmul_(grad_y, scale_dy.view(view))
        grad_weight = sum_dy_xhat if ctx.needs_input_grad[1] else None
        grad_bias = sum_dy if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None


@register("bgn")
class BatchGroupNorm(nn.Module):
    """Batch Group Normalization, one class for (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args:
        num_channels: C.
        num_groups: G, must divide C; default 32 (GN's default; the BGN paper sweeps G and names no
            single default). G = C is BatchNorm.
        eps: added to the variance, default 1e-5.
        momentum: running-statistics update factor, default 0.1; None for a cumulative moving average.
        affine: learn per-channel ``weight`` and ``bias`` of shape (C,), default True.
        track_running_stats: keep ``running_mean``/``running_var`` of shape (G,) and
            ``num_batches_tracked`` for eval mode, default True; if False, eval uses batch statistics.

    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        check_groups_divide(num_channels, num_groups)
        factory = {"device": device, "dtype": dtype}
        self.num_channels = num_channels
        self.num_groups = num_groups
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        add_affine(self, num_channels, affine, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_groups, **factory))
            self.register_buffer("running_var", torch.ones(num_groups, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        channels_per_group = self.num_channels // self.num_groups
        if not self.training and self.track_running_stats:
            return F.batch_norm(x, self.running_mean.repeat_interleave(channels_per_group),
                                self.running_var.repeat_interleave(channels_per_group),
                                self.weight, self.bias, False, 0.0, self.eps)
        values_per_group = x.numel() // self.num_groups
        if self.training:
            check_statistic_size(values_per_group, x, type(self).__name__,
                                 "per group over the batch, the group's channels and positions")
        y, mean, var = BatchGroupNormFunction.apply(x, self.weight, self.bias, self.num_groups, self.eps)
        if self.training and self.track_running_stats:
            self._update_running_stats(mean, var, values_per_group)
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, values_per_group: int) -> None:
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average; a tensor factor avoids a host sync
            factor = self.num_batches_tracked.reciprocal().to(self.running_mean.dtype)
        else:
            factor = self.momentum
        unbiased_var = var * (values_per_group / (values_per_group - 1))  # training ensures >= 2 values
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor)

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, num_groups={self.num_groups}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")
