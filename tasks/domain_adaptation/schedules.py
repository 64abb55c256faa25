"""DANN's two schedules over training progress p = step / total_steps in [0, 1]
(Ganin et al. 2016, section 5.2.2).

- the GRL coefficient λ_p = 2 / (1 + exp(-γ p)) - 1, γ = 10: rises from 0 to ~1 so
  the noisy early domain signal does not disturb the label classifier;
- the learning rate μ_p = μ_0 / (1 + α p)^β, α = 10, β = 0.75.
"""
from __future__ import annotations

import math

import torch


def training_progress(step: int, total_steps: int) -> float:
    """p = step / total_steps, clipped to [0, 1]."""
    return min(1.0, max(0.0, step / max(1, total_steps)))


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(-γ p)) - 1; 0 at p=0, 0.9999 at p=1 for γ=10."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def annealing_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """μ_p / μ_0 = (1 + α p)^(-β); 1 at p=0, 11^-0.75 ≈ 0.166 at p=1 for the defaults."""
    return (1.0 + alpha * progress) ** (-beta)


def dann_annealing(optimizer: torch.optim.Optimizer, total_steps: int, alpha: float = 10.0, beta: float = 0.75,
                   warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step scheduler: optional linear warm-up over `warmup_steps` (0 in the paper),
    times the annealing factor at p = step / total_steps. Each parameter group keeps
    its own base learning rate (e.g. a 10x smaller one for a pretrained backbone)."""

    def factor(step: int) -> float:
        warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
        return warmup * annealing_factor(training_progress(step, total_steps), alpha, beta)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
