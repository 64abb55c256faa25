import pytest
import torch

from tasks.domain_adaptation.gradient_reversal import GradientReversal


@pytest.mark.parametrize("coefficient", [0.0, 0.37, 1.0, 2.5])
def test_forward_is_identity_and_backward_flips_and_scales_exactly(coefficient):
    torch.manual_seed(0)
    inputs = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    layer = GradientReversal(coefficient)
    outputs = layer(inputs)
    assert torch.equal(outputs, inputs)
    # d/dx of sum(upstream * y) is upstream for the identity; the GRL must give -coefficient * upstream.
    (outputs * upstream).sum().backward()
    assert torch.equal(inputs.grad, -coefficient * upstream)


def test_only_the_branch_behind_the_layer_is_reversed():
    inputs = torch.tensor([1.0, -2.0], requires_grad=True)
    layer = GradientReversal(0.5)
    # loss = 3 * sum(x) + 4 * sum(GRL(x)): dloss/dx = 3 - 0.5 * 4 = 1.
    (3 * inputs.sum() + 4 * layer(inputs).sum()).backward()
    assert torch.equal(inputs.grad, torch.tensor([1.0, 1.0]))


def test_coefficient_set_after_construction_is_used():
    inputs = torch.ones(3, requires_grad=True)
    layer = GradientReversal(0.0)
    layer.coefficient = 0.25
    layer(inputs).sum().backward()
    assert torch.equal(inputs.grad, torch.full((3,), -0.25))
