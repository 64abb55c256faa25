import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from suite.optim import build_optimizer, cosine_with_warmup, scaled_lr

OPTIM = dict(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
             warmup_fraction=0.0, scale_lr=True, base_batch_size=32)


@pytest.mark.parametrize(("batch_size", "expected"), [(32, 0.1), (4, 0.0125), (64, 0.2)])
def test_linear_scaling_rule(batch_size, expected):
    assert scaled_lr(OmegaConf.create(OPTIM), batch_size) == pytest.approx(expected)
    assert scaled_lr(OmegaConf.create({**OPTIM, "scale_lr": False}), batch_size) == pytest.approx(0.1)


def test_norm_parameters_and_biases_are_not_decayed():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.zeros(2, 3, 5, 5))
    decayed, plain = build_optimizer(model, OmegaConf.create(OPTIM), 32).param_groups
    assert {p.ndim for p in decayed["params"]} == {2, 4} and decayed["weight_decay"] == 1e-4
    assert {p.ndim for p in plain["params"]} == {1} and plain["weight_decay"] == 0.0
    assert len(plain["params"]) == 4  # conv bias, bn weight and bias, linear bias


def test_warmup_then_cosine_to_zero():
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = cosine_with_warmup(optimizer, total_steps=110, warmup_steps=10)
    rates = []
    for _ in range(110):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[60] == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 100)))
    assert rates[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))
