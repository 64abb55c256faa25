"""The per-channel affine parameters every normsuite norm shares."""
import torch
from torch import nn


def add_affine(module: nn.Module, num_channels: int, affine: bool, device=None, dtype=None) -> None:
    """Give `module` ``weight`` (ones) and ``bias`` (zeros) of shape (C,), or register both as None,
    so the state_dict keys and ``module.weight is None`` checks match torch's norms."""
    if affine:
        module.weight = nn.Parameter(torch.ones(num_channels, device=device, dtype=dtype))
        module.bias = nn.Parameter(torch.zeros(num_channels, device=device, dtype=dtype))
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def channel_view(vector: torch.Tensor, rank: int) -> torch.Tensor:
    """(C,) -> (1, C, 1, ...) to broadcast against an input of rank ``rank``."""
    return vector.view(1, -1, *([1] * (rank - 2)))


def spatial_dims(x: torch.Tensor) -> tuple[int, ...]:
    """The positions of x (N, C, *): dimensions 2 onwards; () for (N, C)."""
    return tuple(range(2, x.dim()))
