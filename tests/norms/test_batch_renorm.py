"""brn: the warm-up schedule over the run's progress, BatchNorm's running statistics, bad settings."""
import pytest
import torch
from torch import nn

import norms


def test_progress_zero_is_batch_norm_and_running_statistics_follow_batch_norm():
    brn, bn = norms.build("brn", 8).double(), nn.BatchNorm2d(8).double()
    norms.set_training_progress(nn.Sequential(brn), 0.0)  # before the warm-up: r = 1, d = 0
    for _ in range(3):
        x = torch.randn(4, 8, 3, 3, dtype=torch.float64) * 2 + 1
        torch.testing.assert_close(brn(x), bn(x))
    torch.testing.assert_close(brn.running_mean, bn.running_mean)
    torch.testing.assert_close(brn.running_var, bn.running_var)
    assert int(brn.num_batches_tracked) == 3


@pytest.mark.parametrize("progress, expected", [(0.0, (1.0, 0.0)), (0.04, (1.0, 0.0)), (0.12, (1 + 2 * 0.08 / 0.26, 2.5)),
                                                (0.2, (1 + 2 * 0.16 / 0.26, 5.0)), (0.3, (3.0, 5.0)), (1.0, (3.0, 5.0))])
def test_bounds_ramp_linearly_between_the_paper_fractions(progress, expected):
    layer = norms.build("brn", 4)
    assert norms.set_training_progress(nn.Sequential(nn.Linear(2, 4), layer), progress) == 1
    assert layer.current_bounds() == pytest.approx(expected)


def test_unset_progress_uses_the_final_bounds_and_clipping_acts():
    layer = norms.build("brn", 3, r_max=2.0, d_max=1.0).double()
    assert layer.training_progress is None and layer.current_bounds() == (2.0, 1.0)
    x = torch.randn(16, 3, dtype=torch.float64) * 10 + 7  # σ_B/σ ≈ 10 and (μ_B - μ)/σ ≈ 7: both clip
    mean, std = x.mean(0), (x.var(0, unbiased=False) + layer.eps).sqrt()
    expected = (x - mean) / std * 2.0 + 1.0
    torch.testing.assert_close(layer(x), expected)


def test_r_and_d_are_constants_in_backward():
    layer = norms.build("brn", 2, affine=False).double()
    layer.running_mean.fill_(0.3)
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    layer(x).pow(2).sum().backward()
    plain = x.detach().clone().requires_grad_()
    r, d = layer.current_bounds()  # the clipped values with these statistics
    mean, std = plain.mean(0), (plain.var(0, unbiased=False) + layer.eps).sqrt()
    running_std = (torch.ones(2, dtype=torch.float64) + layer.eps).sqrt()
    r = (std / running_std).clamp(1 / r, r).detach()
    d = ((mean - 0.3) / running_std).clamp(-d, d).detach()
    ((plain - mean) / std * r + d).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, plain.grad)


@pytest.mark.parametrize("kw, message", [
    ({"r_max": 0.5}, "r_max must be at least 1"),
    ({"d_max": -1.0}, "d_max must be at least 0"),
    ({"r_max_at": 0.01}, "r_max_at must be a fraction of the run in \\(relax_start, 1\\]"),
    ({"d_max_at": 1.5}, "d_max_at must be a fraction"),
])
def test_bad_settings_are_one_line_errors(kw, message):
    with pytest.raises(ValueError, match=message) as error:
        norms.build("brn", 8, **kw)
    assert "\n" not in str(error.value)


def test_progress_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="fraction in \\[0, 1\\], got 1.5"):
        norms.set_training_progress(norms.build("brn", 2), 1.5)


def test_convert_carries_running_statistics_between_bn_and_brn():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).eval()
    with torch.no_grad():
        model[1].running_mean.normal_(), model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 4, 4)
    before = model(x)
    norms.convert(model, "brn")
    assert isinstance(model[1], norms.BatchRenorm)
    torch.testing.assert_close(model(x), before)
    norms.convert(model, "bn")
    torch.testing.assert_close(model(x), before)
