"""suite.models.SmallConvNet (adv's small_cnn, uda's dann_cnn) with every registered norm: shapes, gradients, train and eval."""
import pytest
import torch

import norms
from suite.models import SmallConvNet


@pytest.mark.parametrize("name", norms.available())
def test_every_norm_forward_backward_train_and_eval(name):
    torch.manual_seed(0)
    kw = {"num_groups": 8} if name in ("gn", "bgn", "evonorm_s0") else {}
    net = SmallConvNet(3, 7, norms.norm_layer(name, **kw), widths=(8, 16))
    images = torch.randn(4, 3, 20, 20)
    logits = net(images)
    assert logits.shape == (4, 7)
    logits.sum().backward()
    assert all(parameter.grad is not None and torch.isfinite(parameter.grad).all() for parameter in net.parameters())
    assert net.eval()(images).shape == (4, 7)
    assert sum(isinstance(module, norms.build(name, 8, **kw).__class__) for module in net.modules()) == 2


def test_maxpool_blocks_without_a_head_give_flat_features_of_the_stated_width():
    net = SmallConvNet(3, None, norms.norm_layer("bn"), widths=(4, 6), kernel_sizes=(5, 3), downsample="maxpool",
                       conv_bias=False)
    assert net(torch.randn(2, 3, 17, 17)).shape == (2, 6 * 4 * 4)  # 17 -> 8 -> 4
    assert all(conv.bias is None and conv.kernel_size == (k, k) and conv.stride == (1, 1)
               for conv, k in zip([m for m in net.modules() if isinstance(m, torch.nn.Conv2d)], (5, 3)))
