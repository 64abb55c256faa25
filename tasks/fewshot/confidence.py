"""Few-shot evaluation summary: mean accuracy over test episodes with its 95% confidence interval."""
from __future__ import annotations

import math

import torch

# The normal quantile; with the >= 600 episodes of the standard protocol the Student-t value differs by < 0.2%.
Z_95 = 1.959964


def mean_and_ci95(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-episode accuracies (E,) and the half-width 1.96 * std / sqrt(E) of its 95% interval
    (sample standard deviation), the convention of Snell et al. 2017 and later few-shot papers."""
    values = values.double().flatten()
    if values.numel() < 2:
        raise ValueError(f"a confidence interval needs at least 2 episodes, got {values.numel()}")
    return values.mean().item(), Z_95 * values.std(unbiased=True).item() / math.sqrt(values.numel())
