"""Synchronized batch statistics across processes: ``convert_sync``, ``SyncBatchGroupNorm``,
``SyncBatchRenorm`` and ``SyncEvoNormB0``.

With data-parallel training each process sees only its shard of the batch; bn and bgn then normalize with
the statistics of that shard. ``convert_sync`` swaps them for ``SyncBatchGroupNorm``, whose per-group mean
and variance come from the global batch (every process's shard), as ``torch.nn.SyncBatchNorm`` does for
BatchNorm (Ioffe & Szegedy, 2015; Zhou et al., 2020 for BGN). BatchNorm is the G = C case.

Forward: one all-gather of each process's per-group (count, mean, M2) — M2 the sum of squared deviations —
merged with Chan et al.'s (1979) parallel formula, which stays accurate where sums of squares would cancel.
Backward: one all-reduce of the per-group sums of ĝ = dy·weight and ĝ·x̂ that the input gradient needs.
brn (Ioffe, 2017) and evonorm_b0 (Liu et al., 2020) use the same all-gather for their per-channel batch
moments (`GlobalMoments`, differentiable: its backward is one all-reduce of the moments' gradients).
Only torch.distributed is used, so it runs on CPU with gloo as on CUDA with NCCL.
"""
import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.batchnorm import _BatchNorm

from .batch_group_norm import BatchGroupNorm, eager_backward, group_moments, normalize
from .batch_renorm import BatchRenorm
from .evonorm import EvoNormB0
from .ghost import uses_batch_statistics
from .checks import check_input, check_statistic_size
from .norm_activation import NormActivation
from .precision import statistics_dtype


def _world_size(process_group) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(process_group)


def _local_group_moments(x: torch.Tensor, num_groups: int) -> torch.Tensor:
    """(1 + 2G,) vector: values per group, per-group mean and M2 of this process's x (zeros if x is empty),
    in ``statistics_dtype(x)``."""
    count = x.numel() // num_groups
    if count == 0:
        return torch.zeros(1 + 2 * num_groups, device=x.device, dtype=statistics_dtype(x))
    mean, var = group_moments(x, num_groups)
    return torch.cat([mean.new_tensor([count]), mean, var * count])


def _merge_moments(gathered: torch.Tensor, num_groups: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chan's merge of (W, 1 + 2G) per-process moments -> (global count, mean (G,), biased var (G,))."""
    counts, means, m2 = gathered[:, :1], gathered[:, 1:1 + num_groups], gathered[:, 1 + num_groups:]
    total = counts.sum()
    mean = (counts * means).sum(0) / total
    m2_total = (m2 + counts * (means - mean).square()).sum(0)
    return total, mean, m2_total / total


def _gather_moments(x: torch.Tensor, num_groups: int, process_group):
    """(global count, mean (G,), biased var (G,)) of x's groups over every process's shard: one all-gather."""
    local = _local_group_moments(x, num_groups)
    gathered = [torch.empty_like(local) for _ in range(_world_size(process_group))]
    dist.all_gather(gathered, local, group=process_group)
    return _merge_moments(torch.stack(gathered), num_groups)


class GlobalMoments(torch.autograd.Function):
    """Per-group mean and biased variance of x over the global batch of ``process_group``, differentiable,
    for layers that normalize with them in eager ops (brn, evonorm_b0: G = C).

    ``apply(x, num_groups, process_group) -> (count, mean, var)``: x (N, C, *) with contiguous groups of C/G
    channels, N the local batch; mean and var (G,) in ``statistics_dtype(x)``; count (values per group over
    all shards) not differentiable. Backward: the gradients with respect to mean and var are summed over the
    processes (the global batch's loss is the sum of the shards'; one all-reduce), then per group
    dx = (g_mean + 2·g_var·(x - mean)) / count.
    """

    @staticmethod
    def forward(ctx, x, num_groups: int, process_group):
        count, mean, var = _gather_moments(x, num_groups, process_group)
        ctx.save_for_backward(x, mean, count)
        ctx.num_groups, ctx.process_group = num_groups, process_group
        ctx.mark_non_differentiable(count)
        return count, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, _grad_count, grad_mean, grad_var):
        x, mean, count = ctx.saved_tensors
        grads = torch.stack([grad_mean, grad_var]).to(count.dtype)
        dist.all_reduce(grads, group=ctx.process_group)
        grad_mean, grad_var = (grads / count).unsqueeze(-1)  # (G, 1) each
        grouped = x.reshape(x.shape[0], ctx.num_groups, -1).to(count.dtype)
        grad_x = grad_mean + 2 * grad_var * (grouped - mean.unsqueeze(-1))
        return grad_x.reshape(x.shape).to(x.dtype), None, None


class SyncBatchGroupNormFunction(torch.autograd.Function):
    """Training-mode BGN over the global batch of ``process_group``.

    ``apply(x, weight, bias, num_groups, eps, process_group) -> (y, mean, var, count)``: x (N, C, *) with
    N the local batch (may differ between processes); weight and bias (C,) or None; y like x; mean and
    biased var (G,) and the global values per group, not differentiable. With ``dy`` the local output
    gradient and means over the global group,

        dx = invstd_g · (ĝ - mean_g(ĝ) - x̂ · mean_g(ĝ·x̂)),   ĝ = dy·weight;

    grad_weight and grad_bias are the local sums Σdy·x̂ and Σdy (data parallelism averages them).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # mixed precision: fp32 statistics
    def forward(ctx, x, weight, bias, num_groups: int, eps: float, process_group):
        count, mean, var = _gather_moments(x, num_groups, process_group)
        invstd = torch.rsqrt(var + eps)
        y = normalize(x, mean, var, weight, bias, eps, False)
        ctx.save_for_backward(x, weight, mean, invstd, count)
        ctx.num_groups, ctx.process_group = num_groups, process_group
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.mark_non_differentiable(mean, var, count)
        return y, mean, var, count

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var, _grad_count):
        x, weight, mean, invstd, count = ctx.saved_tensors

        def global_means(sums: torch.Tensor) -> torch.Tensor:
            dist.all_reduce(sums, group=ctx.process_group)
            return sums / count

        # bgn's backward with the group sums of ĝ and ĝ·x̂ taken over every process's shard
        grad_x, sum_dy_xhat, sum_dy = eager_backward(grad_y, x, weight, mean, invstd, ctx.num_groups, False,
                                                     group_means=global_means)
        grad_weight = sum_dy_xhat.to(weight.dtype) if ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.to(ctx.bias_dtype) if ctx.needs_input_grad[2] else None
        return grad_x if ctx.needs_input_grad[0] else None, grad_weight, grad_bias, None, None, None


class SyncBatchGroupNorm(BatchGroupNorm):
    """``BatchGroupNorm`` whose training statistics span the global batch of ``process_group``.

    Same arguments, parameters, buffers (running mean and unbiased variance of shape (G,)) and eval
    behaviour as ``BatchGroupNorm``, plus ``process_group`` (None: the default group). In training with
    more than one process, the batch mean and variance of each group cover every process's shard (their
    batch sizes may differ) and every process updates its running statistics identically; with one
    process, or when torch.distributed is not initialized, it is exactly ``BatchGroupNorm``.

    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, num_groups: int = 32, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None, device=None,
                 dtype=None):
        super().__init__(num_channels, num_groups, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _world_size(self.process_group) == 1:
            return super().forward(x)
        check_input(x, self.num_channels, type(self).__name__)
        y, mean, var, count = SyncBatchGroupNormFunction.apply(
            x, self.weight, self.bias, self.num_groups, self.eps, self.process_group)
        values_per_group = int(count)  # a host sync, as torch's SyncBatchNorm has for its counts
        check_statistic_size(values_per_group, x, type(self).__name__,
                             "per group over the global batch, the group's channels and positions")
        if self.track_running_stats:
            self._update_running_stats(mean, var, values_per_group)
        return y


class SyncBatchRenorm(BatchRenorm):
    """``BatchRenorm`` (brn) whose batch mean and variance, and so r, d and the running statistics, span the
    global batch of ``process_group`` (`GlobalMoments`); with one process, or in eval mode, ``BatchRenorm``.
    Made by ``convert_sync`` from a brn layer (its parameters, buffers and settings).

    Shape: input (N, C, *) with N the local batch; output the same.
    """

    process_group = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _world_size(self.process_group) == 1:
            return super().forward(x)
        check_input(x, self.num_channels, type(self).__name__)
        count, mean, var = GlobalMoments.apply(x, self.num_channels, self.process_group)
        values = int(count)  # a host sync, as in SyncBatchGroupNorm
        check_statistic_size(values, x, type(self).__name__, "per channel over the global batch and positions")
        weight, bias = self.renormalizing_affine(mean.detach(), var.detach(), values)
        shape = (1, self.num_channels, *([1] * (x.dim() - 2)))
        x_hat = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return (x_hat * weight.view(shape) + bias.view(shape)).to(x.dtype)


class SyncEvoNormB0(EvoNormB0):
    """``EvoNormB0`` whose batch variance (and running variance) spans the global batch of ``process_group``
    (`GlobalMoments`); its instance variance stays per sample. With one process, or in eval mode,
    ``EvoNormB0``. Made by ``convert_sync`` from an evonorm_b0 layer.

    Shape: input (N, C, *) with N the local batch; output the same.
    """

    process_group = None

    def batch_variance(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        if _world_size(self.process_group) == 1:
            return super().batch_variance(x)
        count, _, var = GlobalMoments.apply(x, self.num_channels, self.process_group)
        return var, int(count)


# Layers whose state is the plain layer's, under a class that takes its batch statistics globally.
SYNCHRONIZED_CLASSES = {BatchRenorm: SyncBatchRenorm, EvoNormB0: SyncEvoNormB0}


def _same_state_as(old: nn.Module, cls: type[nn.Module], process_group) -> nn.Module:
    """A `cls` module with `old`'s settings, parameters, buffers and mode (the same tensors, not copies)."""
    new = cls.__new__(cls)
    new.__dict__.update({key: dict(value) if isinstance(value, dict) else value
                         for key, value in old.__dict__.items()})
    new.process_group = process_group
    return new


def _synchronized(old: nn.Module, process_group) -> nn.Module:
    """The synchronized layer for a bn (G = C) or bgn layer (a SyncBatchGroupNorm), a brn or an evonorm_b0
    layer, sharing its parameters and buffers."""
    if type(old) in SYNCHRONIZED_CLASSES:
        return _same_state_as(old, SYNCHRONIZED_CLASSES[type(old)], process_group)
    if not isinstance(old, (_BatchNorm, BatchGroupNorm)):
        raise ValueError(f"convert_sync has no synchronized version of {type(old).__name__}, which takes "
                         f"statistics over the batch: train it with trainer.sync_norms=false or on one process")
    if getattr(old, "group_layout", "contiguous") != "contiguous":
        raise ValueError(f"convert_sync supports group_layout='contiguous' only, got {old.group_layout!r}; "
                         f"train with norm.group_layout=contiguous or on one process")
    num_groups = getattr(old, "num_groups", None) or old.num_features
    new = SyncBatchGroupNorm(getattr(old, "num_channels", None) or old.num_features, num_groups, old.eps,
                             old.momentum, old.affine, old.track_running_stats, process_group)
    # The same tensors, not copies: an optimizer built before the conversion keeps training them.
    for name in ("weight", "bias"):
        setattr(new, name, getattr(old, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        new.register_buffer(name, getattr(old, name))
    new.train(old.training)
    drop, act = getattr(old, "drop", None), getattr(old, "act", None)
    if isinstance(drop, nn.Module) and isinstance(act, nn.Module):  # timm's BatchNormAct2d keeps its act
        return NormActivation(new, drop, act).train(old.training)
    return new


def _is_batch_statistics_layer(module: nn.Module) -> bool:
    synchronized = (SyncBatchGroupNorm, *SYNCHRONIZED_CLASSES.values())
    return uses_batch_statistics(module) and not isinstance(module, synchronized)


def convert_sync(module: nn.Module, process_group=None) -> nn.Module:
    """Replace every bn (``_BatchNorm``: normsuite's, torch's, timm's) and bgn layer of ``module`` by a
    ``SyncBatchGroupNorm`` over ``process_group`` (None: the default group), every brn by a
    ``SyncBatchRenorm`` and every evonorm_b0 by a ``SyncEvoNormB0``, in place; return the module.

    Like ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``: the new layers share the old ones' parameters
    and buffers and keep eps, momentum, affine, track_running_stats, train/eval mode and (for bgn) G; bn
    becomes G = C. Per-sample norms (gn, ln, in, pn, frn, evonorm_s0, none) are left alone, and so are layers
    already synchronized. A module that is itself such a layer is returned replaced (not in place). Any
    other layer that takes batch statistics (``norms.uses_batch_statistics``) is refused with a ValueError
    naming it.
    """
    if _is_batch_statistics_layer(module):
        return _synchronized(module, process_group)
    replaced: dict[int, nn.Module] = {}  # a layer shared by two parents gets one replacement
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if _is_batch_statistics_layer(child):
                replaced.setdefault(id(child), _synchronized(child, process_group))
                setattr(parent, child_name, replaced[id(child)])
    return module
