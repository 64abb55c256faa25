"""frn: TLU on and off, the learned ε of the paper, bad ε (the generic tests check FRN+TLU on every rank)."""
import pytest
import torch

import norms


def test_learned_eps_is_used_as_its_absolute_value_and_trains():
    layer = norms.build("frn", 4, learnable_eps=True, eps=1e-2).double()
    with torch.no_grad():
        layer.learned_eps.fill_(-0.5)
    x = torch.randn(3, 4, dtype=torch.float64)  # (N, C): one position, the paper's case for a learned ε
    expected = torch.maximum(x / torch.sqrt(x ** 2 + 0.5), torch.zeros(()))
    y = layer(x)
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    assert layer.learned_eps.grad is not None and layer.learned_eps.grad.abs().item() > 0


def test_without_tlu_no_threshold_and_negative_outputs_pass():
    layer = norms.build("frn", 4, apply_activation=False).double()
    assert layer.tau is None
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + 1e-6))
    assert (layer(x) < 0).any()


def test_non_positive_eps_is_refused():
    with pytest.raises(ValueError, match="eps must be positive, got 0"):
        norms.build("frn", 4, eps=0)
