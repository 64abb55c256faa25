import math

import pytest
import torch

from tasks.domain_adaptation.schedules import (annealing_factor, dann_annealing, grl_coefficient,
                                               training_progress)


@pytest.mark.parametrize("progress", [0.0, 0.05, 0.1, 0.3, 0.5, 0.9, 1.0])
def test_grl_coefficient_is_the_papers_sigmoid_schedule(progress):
    # 2 / (1 + exp(-g p)) - 1 equals tanh(g p / 2): an independent closed form.
    assert grl_coefficient(progress) == pytest.approx(math.tanh(5.0 * progress), abs=1e-12)


def test_grl_coefficient_endpoints_and_monotone():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(1.0) == pytest.approx(0.9999092, abs=1e-7)
    values = [grl_coefficient(p / 100) for p in range(101)]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert grl_coefficient(0.5, gamma=2.0) == pytest.approx(2 / (1 + math.exp(-1.0)) - 1)


def test_training_progress_is_clipped():
    assert training_progress(0, 10) == 0.0
    assert training_progress(5, 10) == 0.5
    assert training_progress(15, 10) == 1.0


def test_annealing_factor_values():
    assert annealing_factor(0.0) == 1.0
    assert annealing_factor(1.0) == pytest.approx(11 ** -0.75)
    assert annealing_factor(0.5, alpha=2.0, beta=1.0) == pytest.approx(0.5)


def _learning_rates(total_steps, warmup_steps=0, lr=0.01, groups_lr=(1.0,)):
    parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in groups_lr]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr * m} for p, m in zip(parameters, groups_lr)], lr=lr)
    scheduler = dann_annealing(optimizer, total_steps, warmup_steps=warmup_steps)
    rates = []
    for _ in range(total_steps):
        rates.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return rates


def test_scheduler_follows_mu0_over_one_plus_alpha_p_to_the_beta_per_step():
    total = 20
    for step, (rate,) in enumerate(_learning_rates(total)):
        assert rate == pytest.approx(0.01 / (1 + 10 * step / total) ** 0.75, rel=1e-12)


def test_scheduler_keeps_each_groups_base_rate_and_warms_up_linearly():
    rates = _learning_rates(10, warmup_steps=4, groups_lr=(1.0, 0.1))
    for step, (head, backbone) in enumerate(rates):
        expected = 0.01 * min(1.0, (step + 1) / 4) / (1 + step) ** 0.75
        assert head == pytest.approx(expected, rel=1e-12)
        assert backbone == pytest.approx(0.1 * expected, rel=1e-12)
