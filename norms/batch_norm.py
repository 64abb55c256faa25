"""``bn``: Batch Normalization (Ioffe & Szegedy, 2015) as one class for every rank."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from .checks import check_input, check_statistic_size
from .registry import register


@register("bn")
class BatchNorm(_BatchNorm):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, statistics per channel over (N, *).

    Exactly torch's BatchNorm1d/2d/3d (same kernel, buffers and state_dict keys; ``momentum=None`` is a
    cumulative moving average), but one class accepts (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args:
        num_channels: C.
        eps: added to the variance, default 1e-5.
        momentum: running-statistics update factor, default 0.1; None for a cumulative average.
        affine: learn per-channel ``weight`` and ``bias`` of shape (C,), default True.
        track_running_stats: keep running mean/variance for eval mode, default True; if False, eval
            uses batch statistics.

    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None):
        super().__init__(num_channels, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)

    @property
    def num_channels(self) -> int:
        return self.num_features

    def _check_input_dim(self, input: torch.Tensor) -> None:  # torch's hook, called first in forward
        check_input(input, self.num_features, type(self).__name__)
        if self.training:
            check_statistic_size(input.numel() // self.num_features, input, type(self).__name__,
                                 "per channel over the batch and positions")
