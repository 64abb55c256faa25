"""``brn``: Batch Renormalization (Ioffe, 2017, "Batch Renormalization: Towards Reducing Minibatch
Dependence in Batch-Normalized Models").

Training normalizes x of shape (N, C, *) per channel with the batch mean μ_B and σ_B = sqrt(var_B + eps)
(biased variance over (N, *)), corrected towards the running statistics μ, σ = sqrt(running_var + eps):

    r = clip(σ_B / σ, 1 / r_max, r_max),   d = clip((μ_B - μ) / σ, -d_max, d_max)
    y = ((x - μ_B) / σ_B · r + d) · weight_c + bias_c

with r and d constants in backward (the paper's stop_gradient). Eval mode uses the running statistics,
exactly as BatchNorm does. r = 1, d = 0 is BatchNorm.

The paper keeps r_max = 1, d_max = 0 for its first 5k steps, then relaxes them linearly to r_max = 3 at
40k and d_max = 5 at 25k steps of an ImageNet run of about 130k steps. Step counts do not transfer to a
digits run of a few hundred steps, so the schedule here is in fractions of the run's optimizer steps,
read from ``training_progress`` (``norms.set_training_progress``; suite's trainer sets it every step):
relaxing starts at ``relax_start`` = 0.04 and ends at ``r_max_at`` = 0.3 and ``d_max_at`` = 0.2 (the
paper's 5k, 40k, 25k over 130k). A layer whose progress nobody sets uses the final r_max and d_max.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .affine import add_affine
from .checks import check_input, check_statistic_size
from .progress import FollowsTrainingProgress
from .registry import register


def _ramp(progress: float, start: float, end: float) -> float:
    """0 before ``start``, 1 from ``end`` on, linear between."""
    if progress >= end:
        return 1.0
    return max(0.0, (progress - start) / (end - start))


def check_renorm_settings(r_max: float, d_max: float, relax_start: float, r_max_at: float, d_max_at: float) -> None:
    """One-line ValueErrors for clipping bounds and schedule fractions that cannot work."""
    if r_max < 1:
        raise ValueError(f"r_max must be at least 1 (r is clipped to [1/r_max, r_max]), got {r_max}; "
                         f"pass r_max >= 1 (the paper's final value is 3)")
    if d_max < 0:
        raise ValueError(f"d_max must be at least 0 (d is clipped to [-d_max, d_max]), got {d_max}; "
                         f"pass d_max >= 0 (the paper's final value is 5)")
    for key, value in (("r_max_at", r_max_at), ("d_max_at", d_max_at)):
        if not 0 <= relax_start < value <= 1:
            raise ValueError(f"{key} must be a fraction of the run in (relax_start, 1], got {key}={value} with "
                             f"relax_start={relax_start}; pass 0 <= relax_start < {key} <= 1")


@register("brn")
class BatchRenorm(FollowsTrainingProgress, nn.Module):
    """Batch Renormalization, one class for (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args:
        num_channels: C.
        r_max: final bound of r, default 3 (paper); at least 1.
        d_max: final bound of d, default 5 (paper); at least 0.
        relax_start, r_max_at, d_max_at: the warm-up as fractions of the run's steps (see the module
            docstring), defaults 0.04, 0.3, 0.2.
        eps: added to the variances, default 1e-5.
        momentum: running-statistics update factor, default 0.1 (the paper asks for a relatively large
            one: the running statistics are used in training); None for a cumulative average.
        affine: learn per-channel ``weight`` and ``bias`` of shape (C,), default True.

    Buffers ``running_mean``, ``running_var`` (unbiased) and ``num_batches_tracked`` are BatchNorm's, so
    ``norms.convert`` carries them between bn and brn. Shape: input (N, C, *), output the same.
    """

    uses_batch_statistics = True  # training statistics over the batch: norms.ghost_batches chunks it

    def __init__(self, num_channels: int, r_max: float = 3.0, d_max: float = 5.0, relax_start: float = 0.04,
                 r_max_at: float = 0.3, d_max_at: float = 0.2, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, device=None, dtype=None):
        super().__init__()
        check_renorm_settings(r_max, d_max, relax_start, r_max_at, d_max_at)
        self.num_channels = num_channels
        self.r_max, self.d_max = r_max, d_max
        self.relax_start, self.r_max_at, self.d_max_at = relax_start, r_max_at, d_max_at
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        add_affine(self, num_channels, affine, device, dtype)
        self.register_buffer("running_mean", torch.zeros(num_channels, device=device, dtype=dtype))
        self.register_buffer("running_var", torch.ones(num_channels, device=device, dtype=dtype))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))

    def current_bounds(self) -> tuple[float, float]:
        """(r_max, d_max) at the current ``training_progress``; the final values when it is unknown."""
        if self.training_progress is None:
            return self.r_max, self.d_max
        r_max = 1.0 + (self.r_max - 1.0) * _ramp(self.training_progress, self.relax_start, self.r_max_at)
        d_max = self.d_max * _ramp(self.training_progress, self.relax_start, self.d_max_at)
        return r_max, d_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        check_statistic_size(x.numel() // self.num_channels, x, type(self).__name__,
                             "per channel over the batch and positions")
        with torch.no_grad():
            batch_mean, batch_var = torch.batch_norm_update_stats(x, None, None, 0.0)
        weight, bias = self.renormalizing_affine(batch_mean, batch_var, x.numel() // self.num_channels)
        # (x - μ_B)/σ_B · r + d, then the affine: batch norm's kernel with weight·r and bias + weight·d.
        return F.batch_norm(x, None, None, weight.to(x.dtype), bias.to(x.dtype), True, 0.0, self.eps)

    def renormalizing_affine(self, batch_mean: torch.Tensor, batch_var: torch.Tensor,
                             count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight·r, bias + weight·d), each (C,), for a batch of `count` values per channel with mean and
        biased variance `batch_mean`, `batch_var` (C,); updates the running statistics with them. r and d
        are constants in backward; weight and bias keep their gradients."""
        with torch.no_grad():
            running_std = (self.running_var + self.eps).sqrt()
            r_max, d_max = self.current_bounds()
            r = ((batch_var + self.eps).sqrt() / running_std).clamp(1.0 / r_max, r_max)
            d = ((batch_mean - self.running_mean) / running_std).clamp(-d_max, d_max)
            self._update_running_stats(batch_mean, batch_var, count)
        weight = r if self.weight is None else self.weight * r
        bias = d if self.bias is None else self.bias + self.weight * d
        return weight, bias

    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        self.num_batches_tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_((var * (count / (count - 1))).to(self.running_var.dtype), factor)

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, r_max={self.r_max}, d_max={self.d_max}, relax_start={self.relax_start}, "
                f"r_max_at={self.r_max_at}, d_max_at={self.d_max_at}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")
