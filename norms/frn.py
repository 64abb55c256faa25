"""``frn``: Filter Response Normalization with its Thresholded Linear Unit (Singh & Krishnan, 2020,
"Filter Response Normalization Layer: Eliminating Batch Dependence in the Training of Deep Neural Networks").

For x of shape (N, C, *), ν² is the mean of x² over the positions of each sample and channel (no mean is
subtracted), then

    y = max(weight_c · x / sqrt(ν² + |ε|) + bias_c, tau_c)

the max with a learned per-channel threshold tau being the TLU, the layer's activation. For (N, C)
inputs ν² = x² (one position), the case where the paper learns ε. Statistics come from the input in
train and eval alike; there are no running statistics.
"""
import torch
from torch import nn

from .activated import IncludesActivation
from .affine import channel_view, spatial_dims
from .checks import check_input
from .registry import register


@register("frn")
class FilterResponseNorm(IncludesActivation, nn.Module):
    """FRN + TLU for (N, C), (N, C, L), (N, C, H, W) and (N, C, D, H, W).

    Args:
        num_channels: C.
        eps: ε, default 1e-6 (paper).
        learnable_eps: learn ε as the parameter ``learned_eps`` of shape (1,), initialized to ``eps``,
            used as |learned_eps| (paper), default False.
        apply_activation: apply the TLU (default True); False where the model applies no activation
            after the norm (``norms.activated``). ``tau`` of shape (C,) exists only with the TLU.

    ``weight`` (ones) and ``bias`` (zeros) of shape (C,); ``tau`` zeros. Shape: input (N, C, *); output the same.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, learnable_eps: bool = False,
                 apply_activation: bool = True, device=None, dtype=None):
        super().__init__()
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}; pass eps > 0 (the paper's is 1e-6)")
        factory = {"device": device, "dtype": dtype}
        self.num_channels = num_channels
        self.eps = eps
        self.learnable_eps = learnable_eps
        self.apply_activation = apply_activation
        self.weight = nn.Parameter(torch.ones(num_channels, **factory))
        self.bias = nn.Parameter(torch.zeros(num_channels, **factory))
        self.tau = nn.Parameter(torch.zeros(num_channels, **factory)) if apply_activation else None
        self.learned_eps = nn.Parameter(torch.full((1,), eps, **factory)) if learnable_eps else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        dims = spatial_dims(x)
        nu2 = x.square().mean(dims, keepdim=True) if dims else x.square()
        eps = self.learned_eps.abs() if self.learned_eps is not None else self.eps
        y = torch.addcmul(channel_view(self.bias, x.dim()), x * torch.rsqrt(nu2 + eps),
                          channel_view(self.weight, x.dim()))
        return torch.maximum(y, channel_view(self.tau, x.dim())) if self.tau is not None else y

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, eps={self.eps}, learnable_eps={self.learnable_eps}, "
                f"apply_activation={self.apply_activation}")
