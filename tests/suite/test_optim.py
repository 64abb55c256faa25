import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from suite.errors import UserError
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


@pytest.mark.parametrize("task", ["cls", "nas", "adv", "fsl", "uda"])
def test_optim_group_picks_the_file_and_task_optim_overrides_still_win(make_config, task):
    chosen = make_config(f"task={task}", "optim=adamw", "task.optim.lr=0.123", "task.optim.weight_decay=0.01")
    assert (chosen.task.optim.name, chosen.task.optim.lr, chosen.task.optim.weight_decay) == ("adamw", 0.123, 0.01)
    assert make_config(f"task={task}", "optim=sgd").task.optim.momentum == 0.9


def test_tasks_default_optimizers_and_nas_keeps_its_search_optimizer(make_config):
    assert {task: make_config(f"task={task}").task.optim.name for task in ("cls", "nas", "adv", "fsl", "uda")} \
        == {"cls": "sgd", "nas": "sgd", "adv": "sgd", "fsl": "adamw", "uda": "sgd"}
    nas = make_config("task=nas", "optim=adamw", "task.search_optim.lr=0.2")
    assert (nas.task.optim.name, nas.task.search_optim.name, nas.task.search_optim.lr) == ("adamw", "sgd", 0.2)
    assert make_config("task=uda").task.optim.lr == 0.01  # a task's own value on top of the file


def test_sgd_name_on_the_adamw_file_is_a_one_line_error():
    adamw = OmegaConf.create({**OPTIM, "name": "sgd"})
    del adamw["momentum"]
    with pytest.raises(UserError, match="optim=sgd"):
        build_optimizer(nn.Linear(2, 2), adamw, 32)
