"""SmallConvNet with every registered norm: shapes, gradients, train and eval."""
import pytest
import torch

import norms
from tasks.adversarial.small_cnn import SmallConvNet


@pytest.mark.parametrize("name", norms.available())
def test_every_norm_forward_backward_train_and_eval(name):
    torch.manual_seed(0)
    kw = {"num_groups": 8} if name in ("gn", "bgn") else {}
    net = SmallConvNet(3, 7, norms.norm_layer(name, **kw), widths=(8, 16))
    images = torch.randn(4, 3, 20, 20)
    logits = net(images)
    assert logits.shape == (4, 7)
    logits.sum().backward()
    assert all(parameter.grad is not None and torch.isfinite(parameter.grad).all() for parameter in net.parameters())
    assert net.eval()(images).shape == (4, 7)
    assert sum(isinstance(module, norms.build(name, 8, **kw).__class__) for module in net.modules()) == 2
