"""standardize_weights: every convolution's weight standardized per output channel, as in Qiao et al.'s code."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import norms


def standardized(weight, eps=1e-5):
    """Independent: the authors' code, mean over each output channel's fan-in, unbiased std + eps."""
    out = weight.shape[0]
    centred = weight - weight.reshape(out, -1).mean(1).reshape(out, *([1] * (weight.dim() - 1)))
    std = centred.reshape(out, -1).std(1).reshape(out, *([1] * (weight.dim() - 1))) + eps
    return centred / std


@pytest.mark.parametrize("conv, x", [
    (nn.Conv1d(3, 4, 3), torch.randn(2, 3, 7)),
    (nn.Conv2d(4, 6, 3, groups=2, padding=1), torch.randn(2, 4, 5, 5)),
    (nn.Conv3d(2, 3, (1, 2, 3), bias=False), torch.randn(2, 2, 3, 4, 5)),
])
def test_convolutions_use_the_standardized_weight(conv, x):
    conv = conv.double()
    raw = conv.weight.detach().clone()
    model = nn.Sequential(conv)
    assert norms.standardize_weights(model) == 1
    expected_weight = standardized(raw)
    torch.testing.assert_close(conv.weight, expected_weight)
    convolve = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[raw.dim()]
    expected = convolve(x.double(), expected_weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    torch.testing.assert_close(model(x.double()), expected)
    model(x.double()).sum().backward()
    assert conv.parametrizations.weight.original.grad is not None


def test_twice_is_once_and_other_layers_are_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))
    norms.standardize_weights(model)
    assert norms.standardize_weights(model) == 1
    assert len(model[0].parametrizations.weight) == 1
    assert not hasattr(model[1], "parametrizations")
