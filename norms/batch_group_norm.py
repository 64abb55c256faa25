"""``bgn``: Batch Group Normalization (Zhou et al., 2020, "Batch Group Normalization").

x of shape (N, C, *) is split into G groups of C/G channels. Each group g has one mean and biased variance
over the batch and the group's channels and positions (m = N·S·C/G values, S the number of positions):

    y = (x - mean_g) / sqrt(var_g + eps) * weight_c + bias_c

``group_layout`` says which channels form a group: ``contiguous`` (channels g·C/G to (g+1)·C/G - 1, the
paper's and GN's split) or ``interleaved`` (channel c in group c mod G, as some public BGN code does).
Running mean and unbiased running variance, one per group, follow BatchNorm's update (``momentum``, or a
cumulative average when it is None) and replace the batch statistics in eval mode. G = C is BatchNorm.

Mixed precision: statistics are always float32 (float64 for float64 input); the output keeps the input's
dtype, as torch's batch_norm does under autocast. CUDA tensors of float16/bfloat16/float32 run fused Triton
kernels (``norms.kernels.batch_group_norm``, imported on first use); everything else runs the eager path
below, which those kernels are tested against.
"""
import importlib.util

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .affine import add_affine
from .checks import check_input, check_statistic_size
from .groups import check_groups_divide
from .precision import statistics_dtype
from .registry import register

GROUP_LAYOUTS = ("contiguous", "interleaved")
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def channels_by_group(per_channel: torch.Tensor, num_groups: int, interleaved: bool) -> torch.Tensor:
    """(C,) -> (G, C/G) view whose row g holds the channels of group g."""
    if interleaved:
        return per_channel.view(-1, num_groups).t()
    return per_channel.view(num_groups, -1)


def groups_to_channels(per_group: torch.Tensor, channels_per_group: int, interleaved: bool) -> torch.Tensor:
    """(G,) -> (C,): each channel gets its group's value."""
    if interleaved:
        return per_group.repeat(channels_per_group)
    return per_group.repeat_interleave(channels_per_group)


def normalize(x, mean, var, weight, bias, eps: float, interleaved: bool) -> torch.Tensor:
    """y = (x - mean_g) / sqrt(var_g + eps) * weight_c + bias_c for given per-group (G,) mean and var.

    One pass of torch's eval-mode batch_norm kernel (eps > 0, which every torch accepts) fed the group
    statistics per channel; statistics and affine in ``statistics_dtype(x)``, y in x's dtype. Differentiable
    (eval mode uses it directly).
    """
    dtype, channels_per_group = statistics_dtype(x), x.shape[1] // mean.numel()
    mean_c, var_c = (groups_to_channels(v.to(dtype), channels_per_group, interleaved) for v in (mean, var))
    weight, bias = (None if p is None else p.to(dtype) for p in (weight, bias))
    return F.batch_norm(x, mean_c, var_c, weight, bias, False, 0.0, eps)


def group_moments(x: torch.Tensor, num_groups: int, interleaved: bool = False):
    """-> (mean (G,), biased var (G,)) of x (N, C, *) over the batch, each group's channels and positions, in
    ``statistics_dtype(x)``; x must hold at least one value per group."""
    channel_mean, channel_var = torch.batch_norm_update_stats(x.to(statistics_dtype(x)), None, None, 0.0)
    # Equal counts per channel: the group mean is the mean of channel means, and the group variance
    # the mean channel variance plus the variance of the channel means (law of total variance).
    channel_mean = channels_by_group(channel_mean, num_groups, interleaved)
    mean = channel_mean.mean(1)
    var = (channels_by_group(channel_var, num_groups, interleaved) + (channel_mean - mean[:, None]).square()).mean(1)
    return mean, var


def eager_forward(x, weight, bias, num_groups: int, eps: float, interleaved: bool):
    """Training-mode BGN with plain torch ops -> (y, mean (G,), var (G,), invstd (G,)), statistics in fp32+."""
    mean, var = group_moments(x, num_groups, interleaved)
    y = normalize(x, mean, var, weight, bias, eps, interleaved)
    return y, mean, var, torch.rsqrt(var + eps)


def eager_backward(grad_y, x, weight, mean, invstd, num_groups: int, interleaved: bool, group_means=None):
    """-> (grad_x, Σdy·x̂ per channel, Σdy per channel); with ĝ = dy·weight and means over a group,

        dx = invstd_g · (ĝ - mean_g(ĝ) - x̂ · mean_g(ĝ·x̂)) = A_c·dy + B_c·x + C_c.

    ``group_means`` maps the (2, G) per-group sums of ĝ and ĝ·x̂ to those means; default: divide by the
    values per group of this x (``norms.sync`` all-reduces the sums and divides by the global count).
    """
    dtype, channels = statistics_dtype(x), x.shape[1]
    channels_per_group = channels // num_groups
    mean_c, invstd_c = (groups_to_channels(v, channels_per_group, interleaved) for v in (mean, invstd))
    gamma = torch.ones(channels, dtype=dtype, device=x.device) if weight is None else weight.to(dtype)
    x_stats, grad_y_stats = x.to(dtype), grad_y.to(dtype)
    # Σdy·x̂ and Σdy per channel in one kernel; in training mode it reads the saved mean and invstd, not
    # eps (1.0 stands in: some torch versions refuse eps <= 0).
    _, sum_dy_xhat, sum_dy = torch.ops.aten.native_batch_norm_backward(
        grad_y_stats, x_stats, gamma, None, None, mean_c, invstd_c, True, 1.0, [False, True, True])
    sums = torch.stack([channels_by_group(sum_dy * gamma, num_groups, interleaved).sum(1),
                        channels_by_group(sum_dy_xhat * gamma, num_groups, interleaved).sum(1)])
    mean_g, mean_g_xhat = sums / (x.numel() // num_groups) if group_means is None else group_means(sums)
    scale_dy = gamma * invstd_c
    scale_x = -(invstd_c * invstd_c) * groups_to_channels(mean_g_xhat, channels_per_group, interleaved)
    shift = -invstd_c * groups_to_channels(mean_g, channels_per_group, interleaved) - scale_x * mean_c
    view = (1, channels, *([1] * (x.dim() - 2)))
    grad_x = torch.addcmul(shift.view(view), x_stats, scale_x.view(view))
    grad_x = grad_x.addcmul_(grad_y_stats, scale_dy.view(view)).to(x.dtype)
    return grad_x, sum_dy_xhat, sum_dy


def _triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def kernels_for(x: torch.Tensor):
    """The module of fused Triton kernels for a CUDA tensor of a kernel dtype (imports triton), else None."""
    if x.is_cuda and x.dtype in KERNEL_DTYPES and _triton_available():
        from .kernels import batch_group_norm as kernels
        return kernels
    return None


class BatchGroupNormFunction(torch.autograd.Function):
    """Training-mode BGN with the affine fused into the normalization pass, forward and backward.

    ``apply(x, weight, bias, num_groups, eps[, interleaved]) -> (y, mean, var)``: x (N, C, *); weight and
    bias (C,) or None; y like x (same dtype); mean and biased var of shape (G,) in float32 (float64 for
    float64 x), not differentiable. ``interleaved``: channel c in group c mod G (default False: contiguous
    groups). The Triton kernels (``kernels_for``) or the eager functions above; autocast is off inside, as
    dtypes are handled explicitly. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, num_groups: int, eps: float, interleaved: bool = False):
        with torch.autocast(x.device.type, enabled=False):
            kernels = kernels_for(x)
            forward = kernels.forward if kernels is not None else eager_forward
            y, mean, var, invstd = forward(x, weight, bias, num_groups, eps, interleaved)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.num_groups, ctx.interleaved = num_groups, interleaved
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            kernels = kernels_for(x)
            backward = kernels.backward if kernels is not None else eager_backward
            grad_x, sum_dy_xhat, sum_dy = backward(grad_y, x, weight, mean, invstd, ctx.num_groups, ctx.interleaved)
        grad_weight = sum_dy_xhat.to(weight.dtype) if ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.to(ctx.bias_dtype) if ctx.needs_input_grad[2] else None
        return grad_x if ctx.needs_input_grad[0] else None, grad_weight, grad_bias, None, None, None


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
        group_layout: ``"contiguous"`` (default; group g holds channels g·C/G .. (g+1)·C/G - 1) or
            ``"interleaved"`` (channel c in group c mod G).

    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same, in the input's dtype.
    """

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None, *,
                 group_layout: str = "contiguous"):
        super().__init__()
        check_groups_divide(num_channels, num_groups)
        if group_layout not in GROUP_LAYOUTS:
            raise ValueError(f"group_layout={group_layout!r} is not a BGN group layout; pass one of {GROUP_LAYOUTS}")
        factory = {"device": device, "dtype": dtype}
        self.num_channels = num_channels
        self.num_groups = num_groups
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.group_layout = group_layout
        add_affine(self, num_channels, affine, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_groups, **factory))
            self.register_buffer("running_var", torch.ones(num_groups, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @property
    def interleaved(self) -> bool:
        return self.group_layout == "interleaved"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        if not self.training and self.track_running_stats:
            return normalize(x, self.running_mean, self.running_var, self.weight, self.bias, self.eps,
                             self.interleaved)
        values_per_group = x.numel() // self.num_groups
        if self.training:
            check_statistic_size(values_per_group, x, type(self).__name__,
                                 "per group over the batch, the group's channels and positions")
        y, mean, var = BatchGroupNormFunction.apply(x, self.weight, self.bias, self.num_groups, self.eps,
                                                    self.interleaved)
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
                f"affine={self.affine}, track_running_stats={self.track_running_stats}, "
                f"group_layout={self.group_layout}")
