"""Optimizers and the cosine schedule, shared by every task.

Learning-rate scaling (``optim.scale_lr``): the linear scaling rule of Goyal et al.
(2017), as used in the Group Normalization paper's batch-size study:
``lr = optim.lr * batch_size / optim.base_batch_size``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from suite.errors import UserError


def scaled_lr(optim_cfg, batch_size: int) -> float:
    """The learning rate after the linear scaling rule (if enabled)."""
    if optim_cfg.scale_lr:
        return optim_cfg.lr * batch_size / optim_cfg.base_batch_size
    return optim_cfg.lr


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weights of rank >= 2 only: norm affine parameters and biases are
    not decayed, so the norms under comparison are not regularised differently."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, optim_cfg, batch_size: int) -> torch.optim.Optimizer:
    """``optim.name``: ``sgd`` (Nesterov optional) or ``adamw``, from configs/optim/<name>.yaml (``optim=<name>``)."""
    lr = scaled_lr(optim_cfg, batch_size)
    groups = _param_groups(model, optim_cfg.weight_decay)
    if optim_cfg.name == "sgd":
        if "momentum" not in optim_cfg:
            raise UserError("task.optim.name=sgd on an optimizer file without momentum: choose the file with optim=sgd")
        return torch.optim.SGD(groups, lr=lr, momentum=optim_cfg.momentum, nesterov=optim_cfg.get("nesterov", False))
    if optim_cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise UserError(f"unknown optimizer '{optim_cfg.name}': set optim=sgd or optim=adamw")


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for `warmup_steps`, then cosine decay to 0 at `total_steps` (stepped per batch)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def scale_learning_rate(optimizer: torch.optim.Optimizer, parameters: list[nn.Parameter], factor: float) -> None:
    """Move `parameters` into copies of their groups (same weight decay, momentum, ...)
    whose learning rate is `factor` times the group's; drops groups left empty."""
    chosen = {id(parameter) for parameter in parameters}
    for group in list(optimizer.param_groups):
        moved = [p for p in group["params"] if id(p) in chosen]
        group["params"] = [p for p in group["params"] if id(p) not in chosen]
        optimizer.add_param_group({**group, "params": moved, "lr": group["lr"] * factor})
    optimizer.param_groups[:] = [group for group in optimizer.param_groups if group["params"]]
