"""evonorm_b0 / evonorm_s0 equal timm's EvoNorm2dB0 / EvoNorm2dS0 on 4-D inputs; other ranks follow the paper."""
import pytest
import torch
from timm.layers import EvoNorm2dB0, EvoNorm2dS0

import norms


def randomized_pair(ours, theirs):
    """The same random weight, bias, v (and running variance) in both layers."""
    with torch.no_grad():
        for name in ("weight", "bias", "v"):
            getattr(ours, name).uniform_(-1.5, 1.5)
            getattr(theirs, name).copy_(getattr(ours, name))
        if hasattr(ours, "running_var"):
            ours.running_var.uniform_(0.5, 2.0)
            theirs.running_var.copy_(ours.running_var)
    return ours, theirs


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_b0_equals_timm(training):
    ours, theirs = randomized_pair(norms.build("evonorm_b0", 16), EvoNorm2dB0(16))  # float32: timm computes its statistics in float32
    for step in range(2):  # the second step reads the running variance both updated in the first
        x = torch.randn(4, 16, 5, 6) * 2 + 0.5
        ours.train(training), theirs.train(training)
        torch.testing.assert_close(ours(x), theirs(x))
        torch.testing.assert_close(ours.running_var, theirs.running_var)


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_s0_equals_timm_and_backward_too(groups):
    ours, theirs = randomized_pair(norms.build("evonorm_s0", 16, num_groups=groups), EvoNorm2dS0(16, groups=groups))
    x = torch.randn(3, 16, 4, 5, requires_grad=True)
    x_timm = x.detach().clone().requires_grad_()
    grad = torch.randn(3, 16, 4, 5)
    y, y_timm = ours(x), theirs(x_timm)
    torch.testing.assert_close(y, y_timm)
    y.backward(grad), y_timm.backward(grad)
    torch.testing.assert_close(x.grad, x_timm.grad)
    torch.testing.assert_close(ours.v.grad, theirs.v.grad)


def test_s0_groups_that_do_not_divide_are_a_one_line_error():
    with pytest.raises(ValueError, match=r"num_groups=5 does not divide num_channels=16; pass one of \[1, 2, 4, 8, 16\]"):
        norms.build("evonorm_s0", 16, num_groups=5)


def test_without_activation_the_layers_only_normalize():
    x = torch.randn(4, 8, 3, 3, dtype=torch.float64)
    s0 = norms.build("evonorm_s0", 8, num_groups=2, apply_activation=False).double()
    grouped = x.reshape(4, 2, -1)
    torch.testing.assert_close(s0(x), (grouped / (grouped.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt())
                               .reshape(x.shape))
    b0 = norms.build("evonorm_b0", 8, apply_activation=False).double()
    assert b0.v is None and s0.v is None
    batch_std = (x.var((0, 2, 3), unbiased=False) + 1e-3).sqrt().view(1, 8, 1, 1)
    instance_std = (x.var((2, 3), unbiased=False, keepdim=True) + 1e-3).sqrt()
    torch.testing.assert_close(b0(x), x / torch.maximum(batch_std, instance_std))
