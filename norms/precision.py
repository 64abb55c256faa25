"""Dtypes under mixed precision: statistics in float32 or wider, and the output dtype torch's closest native
norm returns.

Autocast's operator lists differ by device type and torch version (CUDA runs layer_norm and group_norm in
float32, CPU keeps bfloat16), so the dtype is asked of torch once per (device type, autocast state, input
dtype) with a one-element call, not written down here.
"""
import functools

import torch
import torch.nn.functional as F


def statistics_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a norm computes statistics in: float32 for float16/bfloat16/float32 input, float64 for float64."""
    return torch.promote_types(x.dtype, torch.float32)


@functools.lru_cache(maxsize=None)
def _layer_norm_dtype(device: str, autocast: bool, autocast_dtype: torch.dtype, dtype: torch.dtype) -> torch.dtype:
    with torch.autocast(device, dtype=autocast_dtype, enabled=autocast):
        weight = torch.ones(1, device=device, dtype=torch.promote_types(dtype, torch.float32))
        return F.layer_norm(torch.zeros(1, 1, device=device, dtype=dtype), (1,), weight, weight).dtype


def layer_norm_output_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype ``F.layer_norm(x, ..., float32+ weight)`` returns under the current autocast state."""
    device = x.device.type
    return _layer_norm_dtype(device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device), x.dtype)
