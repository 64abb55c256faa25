"""Conv-4 and ResNet-12 shapes, their blocks, and every norm through them."""
import pytest
import torch
from torch import nn

import norms
from tasks.fewshot.backbones import Conv4, ResNet12, build_backbone


@pytest.mark.parametrize("size, dim", [(28, 64), (40, 256), (84, 1600)])
def test_conv4_embedding_size(size, dim):
    model = Conv4(1, norms.norm_layer("bn"))
    assert model(torch.rand(2, 1, size, size)).shape == (2, dim)


def test_conv4_is_four_conv_norm_relu_pool_blocks():
    model = Conv4(3, norms.norm_layer("gn", num_groups=8))
    blocks = list(model)[:4]
    assert len(blocks) == 4
    for block in blocks:
        conv, norm, relu, pool = block
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.out_channels == 64
        assert isinstance(norm, norms.GroupNorm) and isinstance(relu, nn.ReLU) and isinstance(pool, nn.MaxPool2d)


def test_resnet12_embedding_size_and_custom_widths():
    model = build_backbone("resnet12", 3, norms.norm_layer("bgn", num_groups=4), channels=[8, 16, 16, 24])
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 24)
    assert ResNet12(3, norms.norm_layer("bn"))(torch.rand(2, 3, 16, 16)).shape == (2, 640)


@pytest.mark.parametrize("name", norms.available())
def test_every_norm_trains_and_evaluates(name):
    model = build_backbone("conv4", 1, norms.norm_layer(name), channels=8)
    images = torch.rand(4, 1, 16, 16)
    model(images).sum().backward()
    model.eval()
    assert torch.isfinite(model(images)).all()


def test_unknown_backbone():
    with pytest.raises(ValueError, match="conv4, resnet12"):
        build_backbone("vgg", 1, norms.norm_layer("bn"))
