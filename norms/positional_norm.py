"""``pn``: Positional Normalization (Li et al., 2019): statistics across channels at each position."""
import torch
import torch.nn.functional as F

from .per_sample import PerSampleNorm
from .precision import layer_norm_output_dtype, statistics_dtype
from .registry import register


@register("pn")
class PositionalNorm(PerSampleNorm):
    """y[n, :, p] = (x[n, :, p] - mean_c) / sqrt(var_c + eps) * weight + bias at every sample n and position p.

    Mean and biased variance run over the C channels only; ``weight``/``bias`` are per channel, shape (C,).
    Statistics come from the input in train and eval alike, in float32 (float64 for float64 input); the
    output has the dtype torch's layer_norm gives (under autocast: float32 on CUDA, the input's on CPU).

    Args: num_channels (C), eps (default 1e-5), affine (default True).
    Shape: input (N, C, *) with 0 to 3 spatial dimensions; output the same (contiguous).
    """

    statistic_over = "across channels at one position"

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None, dtype=None):
        super().__init__(num_channels, eps, affine, device, dtype)

    def statistic_size(self, x: torch.Tensor) -> int:
        return self.num_channels

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        # layer_norm over a channels-last view is one fused kernel; its weight then acts per channel. It runs
        # in float32 (torch's CPU kernel accumulates the weight gradient of bfloat16 input in low precision),
        # and the output takes the dtype torch's layer_norm gives under the current autocast.
        dtype = statistics_dtype(x)
        weight, bias = (None if p is None else p.to(dtype) for p in (self.weight, self.bias))
        with torch.autocast(x.device.type, enabled=False):
            y = F.layer_norm(x.movedim(1, -1).to(dtype), (self.num_channels,), weight, bias, self.eps)
        return y.movedim(-1, 1).to(layer_norm_output_dtype(x)).contiguous()
